"""The duty lease (migration 0011) on both engines, one database shared by two registries
as two worker processes or two nodes share it: acquire, renew, expire, take over, never two
holders."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from server.registry import Registry

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=15)


@pytest.fixture
async def two(registry_url: str):
    first = await Registry.open_url(registry_url)
    second = await Registry.open_url(registry_url)
    yield first.leases, second.leases
    await first.close()
    await second.close()


async def test_a_free_lease_is_acquired_and_shown_until_it_expires(two) -> None:
    a, _ = two
    assert await a.acquire("duties", "host:1", NOW, NOW + LEASE)
    lease = await a.current("duties", NOW + LEASE - timedelta(seconds=1))
    assert lease is not None and (lease.holder, lease.expires_at) == ("host:1", NOW + LEASE)
    assert await a.current("duties", NOW + LEASE) is None  # expired: nobody holds it


async def test_the_holder_renews_and_keeps_its_acquisition_time(two) -> None:
    a, _ = two
    assert await a.acquire("duties", "host:1", NOW, NOW + LEASE)
    later = NOW + timedelta(seconds=5)
    assert await a.acquire("duties", "host:1", later, later + LEASE)
    lease = await a.current("duties", NOW + LEASE + timedelta(seconds=1))
    assert lease is not None
    assert (lease.holder, lease.expires_at, lease.acquired_at) == ("host:1", later + LEASE, NOW)


async def test_another_holder_is_refused_while_the_lease_lives_and_nothing_changes(two) -> None:
    a, b = two
    assert await a.acquire("duties", "host:1", NOW, NOW + LEASE)
    almost = NOW + LEASE - timedelta(seconds=1)
    assert not await b.acquire("duties", "host:2", almost, almost + LEASE)
    lease = await b.current("duties", almost)
    assert lease is not None and (lease.holder, lease.expires_at) == ("host:1", NOW + LEASE)


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(two) -> None:
    a, b = two
    assert await a.acquire("duties", "host:1", NOW, NOW + LEASE)
    after = NOW + LEASE
    assert await b.acquire("duties", "host:2", after, after + LEASE)
    assert not await a.acquire("duties", "host:1", after, after + LEASE)
    lease = await a.current("duties", after)
    assert lease is not None and (lease.holder, lease.acquired_at) == ("host:2", after)


async def test_a_released_lease_is_free_at_once(two) -> None:
    a, b = two
    assert await a.acquire("duties", "host:1", NOW, NOW + LEASE)
    await b.release("duties", "host:2")  # not the holder: nothing happens
    assert (await a.current("duties", NOW)) is not None
    await a.release("duties", "host:1")
    assert await a.current("duties", NOW) is None
    assert await b.acquire("duties", "host:2", NOW, NOW + LEASE)


async def test_two_holders_competing_at_every_moment_never_both_hold_it(two) -> None:
    a, b = two
    holders: list[str] = []
    for second in range(0, 120, 3):  # each tries every 3 s; a lease lives 15 s
        now = NOW + timedelta(seconds=second)
        got = await asyncio.gather(
            a.acquire("duties", "host:1", now, now + LEASE),
            b.acquire("duties", "host:2", now, now + LEASE),
        )
        assert got.count(True) == 1, (second, got)
        holders.append("host:1" if got[0] else "host:2")
    assert len(set(holders)) == 1  # the holder renews in time and so keeps it
