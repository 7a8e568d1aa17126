"""The registry's concurrency contract (server/registry/engine.py, ARCHITECTURE.md "The
registry") on both engines, with several Registry objects on one database standing for
several processes or nodes: write transactions are serialised from begin to commit, so
feeds read as "everything after N" never skip a late commit, and read-then-write counters
(the audit chain, cRLNumber) stay unique and in order; a lease has one holder."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from server.node.process_identity import this_process
from server.registry import (
    AuditEvent,
    CertificateIntent,
    CertificateStatus,
    OCSPResponseRow,
    Registry,
)
from server.registry.engine import Connection, Engine

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OWNER = this_process()
DEADLINE = 60.0  # seconds; generous for a slow, shared machine
SQLITE_GRACE = 1.0  # SQLite shows no waiting writer: the fast one gets this long to pass


class CommitHeld:
    """An engine whose write transactions, their work done, wait for `release` before
    they commit: the slow writer of a late commit."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    def reading(self) -> AbstractAsyncContextManager[Connection]:
        return self._engine.reading()

    def snapshot(self) -> AbstractAsyncContextManager[Connection]:
        return self._engine.snapshot()

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        return self._held(self._engine.transaction())

    def short_transaction(self) -> AbstractAsyncContextManager[Connection]:
        return self._held(self._engine.short_transaction())

    @asynccontextmanager
    async def _held(
        self, transaction: AbstractAsyncContextManager[Connection]
    ) -> AsyncIterator[Connection]:
        async with transaction as db:
            yield db
            self.holding.set()
            await self.release.wait()

    async def close(self) -> None:
        await self._engine.close()


@pytest.fixture
async def nodes(registry_url: str) -> AsyncIterator[list[Registry]]:
    """Three registries on one database: three processes, or three nodes."""
    opened = [await Registry.open_url(registry_url) for _ in range(3)]
    yield opened
    for registry in opened:
        await registry.close()


async def a_generation(registry: Registry) -> int:
    ca = CertificateIntent("ca", None, "ca", "CN=CA", b"ca".ljust(32, b"\0"), NOW,
                           NOW + timedelta(days=3650), b"tbs-ca")  # fmt: skip
    return await registry.record_ca_generation(
        "test", "key:ca", "ecdsa-p256", b"kid", ca, b"der-ca", NOW,
        AuditEvent("init", "ca.generation", "ca"),
    )  # fmt: skip


async def an_intent(registry: Registry, generation: int, serial: str) -> None:
    intent = CertificateIntent(serial, generation, "tls-client", f"CN={serial}",
                               serial.encode().ljust(32, b"\0"), NOW, NOW + timedelta(days=30),
                               b"tbs-" + serial.encode())  # fmt: skip
    await registry.record_intent(intent, NOW, OWNER, "test")


def writer(feed: str, generation: int, serial: str) -> Callable[[Registry], Awaitable[object]]:
    """A write to `feed` about `serial`: its OCSP response alone; or its issue, which adds
    its status change and its outbox report (and an audit entry)."""
    ocsp = OCSPResponseRow(serial, generation, CertificateStatus.GOOD, None, None, NOW,
                           NOW + timedelta(days=1), b"ocsp-" + serial.encode())  # fmt: skip
    if feed == "ocsp_responses":
        return lambda registry: registry.status.put_ocsp_responses([ocsp])
    audit = AuditEvent("test", "certificate.issue", serial)
    return lambda registry: registry.complete_issue(
        serial, b"der-" + serial.encode(), "test", NOW, audit
    )


async def feed_after(registry: Registry, feed: str, after: int) -> list[tuple[int, str]]:
    """(number, serial) of every row of `feed` numbered after `after`, as a follower reads."""
    if feed == "ocsp_responses":
        return [(row.seq, row.serial) for row in await registry.status.ocsp_responses_since(after)]
    if feed == "outbox_events":
        events = await registry.outbox.undelivered(1000)
        return [(event.seq, str(event.payload["serial"])) for event in events if event.seq > after]
    async with (
        registry.reading() as db,
        db.execute(
            "SELECT id, serial FROM status_changes WHERE id > ? ORDER BY id", (after,)
        ) as cursor,
    ):
        return [(int(row[0]), str(row[1])) async for row in cursor]


async def until_waiting_or_done(observer: Registry, writer: asyncio.Task) -> None:
    """Until `writer` has finished or waits for a lock another transaction holds.
    PostgreSQL shows the wait (pg_stat_activity); SQLite does not, so there the writer gets
    SQLITE_GRACE to pass if it could."""
    if observer.engine.dialect == "sqlite":
        await asyncio.wait({writer}, timeout=SQLITE_GRACE)
        return
    deadline = time.monotonic() + DEADLINE
    while not writer.done():
        async with (
            observer.reading() as db,
            db.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is not None and row[0] > 0:
            return
        assert time.monotonic() < deadline, "the fast writer neither finished nor waited"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("feed", ["ocsp_responses", "status_changes", "outbox_events"])
async def test_a_feed_reader_never_skips_a_late_commit(nodes: list[Registry], feed: str) -> None:
    """A slow writer has begun (its rows written, not committed) when a fast writer starts
    and a follower reads; then the slow one commits. Read as "everything after the last
    number seen", the feed must still yield both rows."""
    setup, fast_node, reader = nodes
    generation = await a_generation(setup)
    for serial in ("slow", "fast"):
        await an_intent(setup, generation, serial)
    held = CommitHeld(setup.engine)
    slow_node = Registry(held)
    last = max((number for number, _ in await feed_after(reader, feed, 0)), default=0)
    seen: list[str] = []

    slow = asyncio.create_task(writer(feed, generation, "slow")(slow_node))
    fast: asyncio.Task | None = None
    try:
        await asyncio.wait_for(held.holding.wait(), DEADLINE)
        fast = asyncio.create_task(writer(feed, generation, "fast")(fast_node))
        await until_waiting_or_done(reader, fast)
        for number, serial in await feed_after(reader, feed, last):
            seen.append(serial)
            last = max(last, number)
    finally:
        held.release.set()
        await asyncio.wait_for(asyncio.gather(slow, *([fast] if fast else [])), DEADLINE)
    seen.extend(serial for _, serial in await feed_after(reader, feed, last))

    assert sorted(seen) == ["fast", "slow"]


async def test_concurrent_audit_appends_from_two_nodes_leave_a_chain_that_verifies(
    nodes: list[Registry],
) -> None:
    first, second, _ = nodes
    appends = [
        node.append_audit(AuditEvent("test", "append", f"{name}-{n}"), NOW)
        for n in range(25)
        for name, node in (("first", first), ("second", second))
    ]
    await asyncio.wait_for(asyncio.gather(*appends), DEADLINE)
    report = await first.verify_audit_chain()
    assert report.intact and report.entries == 50


async def test_concurrent_crl_number_allocations_are_unique_and_increasing(
    nodes: list[Registry],
) -> None:
    """Each allocation reserves two cRLNumbers (a full and a delta CRL); allocations from
    two nodes at once never overlap and leave no gap."""
    first, second, _ = nodes
    generation = await a_generation(first)
    handed_out: list[int] = []

    async def allocate(node: Registry) -> None:
        handed_out.append(await node.status.allocate_crl_numbers(generation, 2))

    allocations = [allocate(node) for _ in range(20) for node in (first, second)]
    await asyncio.wait_for(asyncio.gather(*allocations), DEADLINE)
    assert sorted(handed_out) == list(range(1, 81, 2))


async def test_of_two_nodes_acquiring_a_lease_at_once_one_holds_it_until_it_expires(
    nodes: list[Registry],
) -> None:
    first, second, _ = nodes
    lease = timedelta(seconds=15)
    for attempt in range(10):
        name = f"duty-{attempt}"
        got = await asyncio.gather(
            first.leases.acquire(name, "node-a", NOW, NOW + lease),
            second.leases.acquire(name, "node-b", NOW, NOW + lease),
        )
        assert got.count(True) == 1, got
        holder, other = ("node-a", second) if got[0] else ("node-b", first)
        taker = "node-b" if holder == "node-a" else "node-a"
        later = NOW + lease - timedelta(seconds=1)
        assert not await other.leases.acquire(name, taker, later, later + lease)
        expired = NOW + lease
        assert await other.leases.acquire(name, taker, expired, expired + lease)
        current = await first.leases.current(name, expired)
        assert current is not None and current.holder == taker
