"""The CMP sweeper forgets finished transactions after `cmp.transaction_retention_days`, so
that refused or finished requests cannot grow the table without bound; a recent one, and one
still awaiting an answer or certConf, stays (its transactionID is still transactionIdInUse)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from server.cmp.server import CMPServer
from server.registry import CMPOpening
from tests.cmp_client import make_server
from tests.local_ca import LocalCA


async def opened(local_ca: LocalCA, then: str | None) -> bytes:
    transaction_id = secrets.token_bytes(16)
    store = local_ca.registry.cmp
    assert await store.open(
        CMPOpening(transaction_id, "requester", local_ca.clock(), secrets.token_bytes(16))
    )
    if then == "done":
        await store.discard(transaction_id)
    elif then is not None:
        assert await store.finish(transaction_id, "open", then)
    return transaction_id


async def sweep_once(server: CMPServer, until: bytes, local_ca: LocalCA) -> None:
    """Runs the sweeper until `until` is forgotten (its first round prunes)."""
    sweeper = asyncio.create_task(server.run())
    try:
        async with asyncio.timeout(10):
            while await local_ca.registry.cmp.get(until) is not None:
                await asyncio.sleep(0.01)
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


async def test_the_sweeper_forgets_old_finished_transactions_only(local_ca: LocalCA) -> None:
    server = await make_server(local_ca)
    store = local_ca.registry.cmp
    old_done = await opened(local_ca, "done")
    old_expired = await opened(local_ca, "expired")
    old_awaiting = await opened(local_ca, "awaiting_confirm")
    old_waiting = await opened(local_ca, "waiting")
    old_open = await opened(local_ca, None)
    local_ca.clock.advance(days=3, seconds=1)  # cmp.transaction_retention_days = 3
    recent_done = await opened(local_ca, "done")
    await sweep_once(server, old_done, local_ca)
    assert await store.get(old_expired) is None
    for kept, state in (
        (old_awaiting, "awaiting_confirm"),
        (old_waiting, "waiting"),
        (old_open, "open"),
        (recent_done, "done"),
    ):
        transaction = await store.get(kept)
        assert transaction is not None and transaction.state == state
    # A recent transactionID is still used (RFC 4210 5.1.1 transactionIdInUse)
    assert not await store.open(CMPOpening(recent_done, "requester", local_ca.clock(), None))
