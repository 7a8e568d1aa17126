"""Followers of `ocsp_responses` are woken when a write commits (PostgreSQL LISTEN/NOTIFY,
migration 0016, server/registry/notifications.py), never before, and again after their
listening connection was lost (which the metrics show); SQLite offers no notifications and
its followers poll."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from server.registry import Registry
from server.registry.notifications import Listening
from tests.unit.registry.test_concurrency_contract import (
    DEADLINE,
    CommitHeld,
    a_generation,
    an_intent,
    writer,
)


@pytest.fixture
async def two_nodes(registry_url: str) -> AsyncIterator[tuple[Registry, Registry]]:
    """A follower's registry and a writer's, on one database."""
    follower, other = Registry.open_url(registry_url), Registry.open_url(registry_url)
    opened = (await follower, await other)
    yield opened
    for registry in opened:
        await registry.close()


async def test_a_listening_follower_wakes_when_an_ocsp_response_commits_not_before(
    two_nodes: tuple[Registry, Registry],
) -> None:
    follower, other = two_nodes
    woken = asyncio.Event()
    listener = follower.status.listen_for_ocsp_responses(woken.set)
    if follower.engine.dialect == "sqlite":
        assert listener is None  # followers poll ocsp_responses_since
        return
    assert isinstance(listener, Listening)
    await listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), DEADLINE)
        await asyncio.wait_for(woken.wait(), DEADLINE)  # woken once on connecting
        generation = await a_generation(other)
        await an_intent(other, generation, "0a")
        woken.clear()

        held = CommitHeld(other.engine)
        slow = asyncio.create_task(writer("ocsp_responses", generation, "0a")(Registry(held)))
        await asyncio.wait_for(held.holding.wait(), DEADLINE)
        await asyncio.sleep(0.5)  # a notification sent before the commit would arrive now
        assert not woken.is_set(), "woken by a write not yet committed"
        held.release.set()
        await slow
        await asyncio.wait_for(woken.wait(), DEADLINE)
    finally:
        await listener.close()


@pytest.mark.parametrize("registry_url", ["postgresql"], indirect=True)
async def test_a_follower_whose_listening_connection_is_lost_listens_again(
    registry_url: str,
) -> None:
    """... and says so: `ca_registry_listen_up` goes 1, 0, 1, and each time it listens
    again `ca_registry_listen_reconnects_total` counts one."""
    metrics = CollectorRegistry()
    follower = await Registry.open_url(registry_url, metrics=metrics)
    other = await Registry.open_url(registry_url)

    def sample(name: str) -> float | None:
        return metrics.get_sample_value(name, {"channel": "ocsp_responses"})

    woken = asyncio.Event()
    listener = follower.status.listen_for_ocsp_responses(woken.set)
    assert isinstance(listener, Listening)
    assert sample("ca_registry_listen_up") == 0
    await listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), DEADLINE)
        assert sample("ca_registry_listen_up") == 1
        assert sample("ca_registry_listen_reconnects_total") == 0
        for reconnects in (1, 2):
            async with other.reading() as db:
                await db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                )
            deadline = asyncio.get_running_loop().time() + DEADLINE
            while listener.connected.is_set():  # noticed the loss
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            assert sample("ca_registry_listen_up") == 0
            assert sample("ca_registry_listen_reconnects_total") == reconnects - 1
            await asyncio.wait_for(listener.connected.wait(), DEADLINE)
            assert sample("ca_registry_listen_up") == 1
            assert sample("ca_registry_listen_reconnects_total") == reconnects
        generation = await a_generation(other)
        await an_intent(other, generation, "0b")
        woken.clear()
        await writer("ocsp_responses", generation, "0b")(other)
        await asyncio.wait_for(woken.wait(), DEADLINE)
    finally:
        await listener.close()
        await follower.close()
        await other.close()
