"""Waiting for every live server process to apply a status change (server/status/feed.py):
a process known to be gone is not waited for, one still alive is."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.clock import utc_now
from server.errors import CAError, ErrorKind
from server.node.process_identity import this_process
from server.registry import Registry
from server.status.feed import ALIVE_WITHIN, StatusFeed, wait_until_applied
from tests.local_ca import Clock
from tests.unit.server.test_duties import gone_process


async def test_a_change_made_right_after_a_worker_died_does_not_wait_for_it(
    tmp_path: Path,
) -> None:
    """A worker killed a moment ago still has a fresh heartbeat; a revocation made then
    returns at once instead of failing after the propagation timeout, and the dead
    worker's watermark is dropped. A live process that is behind is still waited for."""
    clock = Clock(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    try:
        dead = gone_process()
        await registry.status.set_watermark(dead, 0, clock())
        await wait_until_applied(registry, 5, timeout_s=0.5, clock=clock)
        assert await registry.status.nodes_behind(5, datetime(2026, 1, 1, tzinfo=UTC)) == []

        await registry.status.set_watermark(this_process(), 0, clock())
        with pytest.raises(CAError) as refused:
            await wait_until_applied(registry, 5, timeout_s=0.2, clock=clock)
        assert refused.value.kind is ErrorKind.UNAVAILABLE
        assert this_process() in refused.value.message
    finally:
        await registry.close()


class FollowsNothing:
    """The part of an OCSP responder a feed drives, with nothing to apply."""

    seq = 0

    def apply(self, rows: object) -> None:
        raise AssertionError("nothing was written to apply")


async def test_a_process_polling_seldom_still_heartbeats_every_second(tmp_path: Path) -> None:
    """With `ocsp.poll_interval_ms` at its maximum (10 s), longer than a waiter takes a
    silent process to be alive (ALIVE_WITHIN, 5 s), the heartbeat still comes every
    second: a live process is never left out of a status change's wait."""
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    feed = StatusFeed(registry, FollowsNothing(), 10.0, utc_now)  # type: ignore[arg-type]
    running = asyncio.create_task(feed.run())
    try:
        started = utc_now()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ALIVE_WITHIN.total_seconds() - 0.5
        while not await registry.status.nodes_behind(1, started + timedelta(seconds=1.5)):
            assert loop.time() < deadline, "no heartbeat while a waiter would wait for it"
            await asyncio.sleep(0.05)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await registry.close()


async def test_a_process_of_another_machine_with_our_host_name_is_waited_for(
    tmp_path: Path,
) -> None:
    """Nodes of several machines share one PostgreSQL registry: a live process of another
    machine that has not applied a change is waited for and named, its watermark kept,
    even when that machine has our host name and its pid is free here."""
    clock = Clock(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    try:
        host, _, pid, start, ns, _ = gone_process().split("/")
        elsewhere = f"{host}/its-boot-id/{pid}/{start}/{ns}/its-machine-id"
        await registry.status.set_watermark(elsewhere, 0, clock())
        with pytest.raises(CAError) as refused:
            await wait_until_applied(registry, 5, timeout_s=0.2, clock=clock)
        assert refused.value.kind is ErrorKind.UNAVAILABLE
        assert elsewhere in refused.value.message
        assert await registry.status.nodes_behind(5, clock() - ALIVE_WITHIN) == [elsewhere]
    finally:
        await registry.close()


async def test_a_registry_that_stops_answering_is_logged_once_not_every_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    await registry.close()  # every read fails from now on
    feed = StatusFeed(registry, FollowsNothing(), 0.005, utc_now)  # type: ignore[arg-type]
    running = asyncio.create_task(feed.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not caplog.records:
            assert loop.time() < deadline, "the failure was not logged"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # some 60 polls more
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    failures = [r for r in caplog.records if "status feed poll failed" in r.getMessage()]
    assert len(failures) == 1
