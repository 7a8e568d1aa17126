"""Waiting for every live server process to apply a status change (server/status_feed.py):
a process known to be gone is not waited for, one still alive is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.errors import CAError, ErrorKind
from server.process_identity import this_process
from server.registry import Registry
from server.status_feed import wait_until_applied
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
