"""The duty holder (server/node/duties.py) on a real registry file shared by two connections, as
two workers share it: one holds the duties, a holder refused stops them, a holder that
cannot reach the registry stops them before its lease can lapse, a clean stop hands over."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from config import load_settings
from server.context import open_ca
from server.node.duties import DUTIES, DutyHolder
from server.node.process_identity import OwnerState, identity_of, owner_state, this_process
from server.registry import Registry
from tests.csr_factory import make_csr
from tests.local_ca import Clock

LEASE_S, RENEW_S = 15.0, 5.0


class Worker:
    """One worker's registry connection, duty holder and what its duties did."""

    def __init__(self, registry: Registry, name: str, clock: Clock, lease_s: float,
                 renew_s: float) -> None:  # fmt: skip
        self.registry = registry
        self.metrics = CollectorRegistry()
        self.events: list[str] = []
        self.holder = DutyHolder(
            registry.leases, name, lease_s=lease_s, renew_s=renew_s, clock=clock,
            start=lambda: self.events.append("start"), stop=self.stopped, metrics=self.metrics,
        )  # fmt: skip

    async def stopped(self) -> None:
        self.events.append("stop")

    def gauge(self) -> float | None:
        return self.metrics.get_sample_value("ca_duty_holder")


@pytest.fixture
async def registries(tmp_path: Path) -> AsyncIterator[tuple[Registry, Registry]]:
    first = await Registry.open(tmp_path / "registry.sqlite3")
    second = await Registry.open(tmp_path / "registry.sqlite3")
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))


async def test_one_of_two_workers_holds_the_duties_and_keeps_them_by_renewing(
    registries, clock: Clock
) -> None:
    a = Worker(registries[0], "host:1", clock, LEASE_S, RENEW_S)
    b = Worker(registries[1], "host:2", clock, LEASE_S, RENEW_S)
    for _ in range(6):  # 30 s of renewals every 5 s
        await a.holder.renew()
        await b.holder.renew()
        clock.advance(seconds=RENEW_S)
    assert (a.events, a.gauge()) == (["start"], 1.0)
    assert (b.events, b.gauge()) == ([], 0.0)


async def test_a_dead_holders_duties_move_and_the_old_holder_stops_when_refused(
    registries, clock: Clock
) -> None:
    a = Worker(registries[0], "host:1", clock, LEASE_S, RENEW_S)
    b = Worker(registries[1], "host:2", clock, LEASE_S, RENEW_S)
    await a.holder.renew()
    clock.advance(seconds=LEASE_S)  # a stopped renewing (it hung): its lease lapsed
    await b.holder.renew()
    assert b.events == ["start"]
    await a.holder.renew()  # a wakes up: refused, it stops at once
    assert (a.events, a.gauge()) == (["start", "stop"], 0.0)
    lease = await registries[0].leases.current(DUTIES, clock())
    assert lease is not None and lease.holder == "host:2"


async def test_a_holder_cut_off_from_the_registry_stops_before_its_lease_lapses(
    tmp_path: Path, clock: Clock
) -> None:
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    lease_s, renew_s = 1.5, 0.5
    a = Worker(registry, "host:1", clock, lease_s, renew_s)
    await a.holder.renew()
    taken = time.monotonic()
    await registry.close()  # every later registry call fails
    await a.holder.renew()
    assert a.events == ["start"]  # the lease is surely still ours: keep the duties
    while a.events == ["start"]:
        assert time.monotonic() - taken < lease_s, "kept the duties past the lease"
        await asyncio.sleep(0.05)
        await a.holder.renew()
    assert (a.events, a.gauge()) == (["start", "stop"], 0.0)


async def test_a_clean_stop_hands_the_duties_over_at_once(registries, clock: Clock) -> None:
    a = Worker(registries[0], "host:1", clock, LEASE_S, RENEW_S)
    b = Worker(registries[1], "host:2", clock, LEASE_S, RENEW_S)
    await a.holder.renew()
    await a.holder.close()
    assert a.events == ["start", "stop"]
    await b.holder.renew()  # no waiting for the lease to lapse
    assert b.events == ["start"]


def gone_process() -> str:
    """The identity (server/node/process_identity.py) of a process that ran here and has exited,
    as a worker killed by kill -9 leaves it in the lease."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    identity = identity_of(child.pid)
    child.communicate(b"")
    return identity


async def test_a_lease_whose_holder_is_known_gone_is_taken_at_once(
    registries, clock: Clock
) -> None:
    """A serve restarted after kill -9 (or a sibling of a killed worker) takes the duties
    at once instead of waiting for the dead holder's lease to lapse; a holder on another
    host, whose state cannot be told, keeps its lease until it lapses."""
    dead = gone_process()
    assert owner_state(dead) is OwnerState.GONE
    now = clock()
    assert await registries[0].leases.acquire(DUTIES, dead, now, now + timedelta(seconds=LEASE_S))
    b = Worker(registries[1], this_process(), clock, LEASE_S, RENEW_S)
    await b.holder.renew()
    assert (b.events, b.gauge()) == (["start"], 1.0)
    lease = await registries[1].leases.current(DUTIES, clock())
    assert lease is not None and lease.holder == this_process()

    await b.holder.close()
    elsewhere = "other-host/boot/1/2"
    assert owner_state(elsewhere) is OwnerState.UNKNOWN
    assert await registries[0].leases.acquire(
        DUTIES, elsewhere, clock(), clock() + timedelta(seconds=LEASE_S)
    )
    c = Worker(registries[1], this_process(), clock, LEASE_S, RENEW_S)
    await c.holder.renew()
    assert c.events == []


async def test_a_process_that_takes_the_duties_again_runs_them_again(tmp_path: Path) -> None:
    """A serving process that handed the lease over and takes it back starts every duty
    again, the outbox's delivery included (its metrics used to be registered a second
    time, which raised and ended the process's lease renewals for good)."""
    home = tmp_path / "ca"
    subprocess.run([sys.executable, "-m", "server", "init", "--home", str(home)],
                   check=True, capture_output=True)  # fmt: skip
    environ = {
        "CA_SUPERVISOR__DUTY_RENEW_SECONDS": "0.1",
        "CA_OUTBOX__POLL_INTERVAL_SECONDS": "0.1",
    }
    settings = load_settings(home, environ=environ)
    assert settings.outbox.enabled
    async with open_ca(settings, serving=True) as ca:
        assert ca.duties is not None
        await ca.duties.close()  # handed over, as to a sibling; its renewals take it back
        deadline = time.monotonic() + 30
        while not ca.duties.holding and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert ca.duties.holding, "the duties were not taken back"
        issued = await ca.authority.issue("tls-client", make_csr([("CN", "after")]), "test")
        events = settings.resolve(settings.outbox.path)
        while issued.serial not in _text(events) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert issued.serial in _text(events), "the outbox is not delivered any more"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""
