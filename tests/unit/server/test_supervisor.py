"""`serve`'s supervisor (server/node/supervisor.py) with children of our own Child interface:
a dead child is restarted once per death and logged once, a failed restart is tried again
later, restarts are counted for /metrics, the delay doubles up to its cap."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from config.settings import SupervisorSettings
from server.node.restart_counts import RestartCollector, RestartCounts
from server.node.supervisor import Supervisor

NO_HANG_S = 20
QUICK = SupervisorSettings(restart_delay_seconds=0.01, restart_delay_max_seconds=0.04)


class FakeChild:
    """A child that is killed when told and whose restarts can be made to fail."""

    def __init__(self, kind: str, index: int, failing_restarts: int = 0) -> None:
        self.kind = kind
        self.index = index
        self.pid: int | None = 100 + index
        self.status: int | None = None
        self.failing_restarts = failing_restarts
        self.restarts = 0

    def exit_status(self) -> int | None:
        return self.status

    def restart(self) -> None:
        if self.failing_restarts:
            self.failing_restarts -= 1
            raise OSError("the port is taken")
        self.restarts += 1
        self.pid = (self.pid or 0) + 1000
        self.status = None


async def until(condition, what: str) -> None:
    try:
        async with asyncio.timeout(NO_HANG_S):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {NO_HANG_S}s: {what}") from None


def exported(counts: RestartCounts) -> dict[str, float | None]:
    registry = CollectorRegistry()
    registry.register(RestartCollector(counts.path))
    return {kind: registry.get_sample_value("ca_process_restarts_total", {"kind": kind})
            for kind in ("signer", "worker")}  # fmt: skip


@pytest.fixture
def counts(tmp_path: Path) -> RestartCounts:
    return RestartCounts(tmp_path / "restarts.json")


async def test_dead_children_are_restarted_counted_and_logged_once(
    counts: RestartCounts, caplog: pytest.LogCaptureFixture
) -> None:
    signer, worker = FakeChild("signer", 0), FakeChild("worker", 1)
    stop = asyncio.Event()
    running = asyncio.create_task(Supervisor([signer, worker], QUICK, counts).run(stop))
    assert exported(counts) == {"signer": 0, "worker": 0}
    with caplog.at_level(logging.INFO, "server.supervisor"):
        signer.status = -9
        await until(lambda: signer.restarts == 1, "the signer restarted")
        worker.status = 1
        await until(lambda: worker.restarts == 1, "the worker restarted")
        stop.set()
        await running
    assert exported(counts) == {"signer": 1, "worker": 1}
    deaths = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert deaths == [
        "signer 0 (pid 100) was killed by signal 9; restarting it in 0.0 s",
        "worker 1 (pid 101) exited with status 1; restarting it in 0.0 s",
    ]


async def test_a_failed_restart_is_tried_again_and_counted_once_it_works(
    counts: RestartCounts,
) -> None:
    worker = FakeChild("worker", 0, failing_restarts=2)
    stop = asyncio.Event()
    running = asyncio.create_task(Supervisor([worker], QUICK, counts).run(stop))
    worker.status = 1
    await until(lambda: worker.restarts == 1, "the worker restarted at the third try")
    stop.set()
    await running
    assert worker.failing_restarts == 0
    assert exported(counts)["worker"] == 1


async def test_a_stop_during_the_delay_restarts_nothing(
    counts: RestartCounts, caplog: pytest.LogCaptureFixture
) -> None:
    slow = SupervisorSettings(restart_delay_seconds=60, restart_delay_max_seconds=60)
    worker = FakeChild("worker", 0)
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, "server.supervisor"):
        running = asyncio.create_task(Supervisor([worker], slow, counts).run(stop))
        worker.status = -9
        await until(lambda: "restarting it in 60.0 s" in caplog.text, "the death seen")
        stop.set()
        async with asyncio.timeout(NO_HANG_S):  # it does not wait out the 60 s delay
            await running
    assert worker.restarts == 0
    assert exported(counts)["worker"] == 0


def test_the_delay_doubles_with_each_death_in_a_row_up_to_its_cap(
    counts: RestartCounts,
) -> None:
    settings = SupervisorSettings(restart_delay_seconds=0.5, restart_delay_max_seconds=30)
    supervisor = Supervisor([], settings, counts)
    assert [supervisor.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert supervisor.delay(1000) == 30
