"""The scheduled CA key change (regulation K2; issue 15, step 4): the duty rolls over exactly
when the rollover window opens, never twice for one generation, only in the process holding
the duties; the key lifetime metrics. A real registry file, the software backend, the clock
injected and advanced."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from prometheus_client import CollectorRegistry

from config import Settings, load_settings
from server.context import open_ca, open_registry
from server.generations.ca_certificate import create_generation
from server.generations.rollover import RolledOver, rollover
from server.node.duties import DUTIES
from server.node.key_lifetime import KeyLifetimeMetrics, key_usage_end, rollover_due
from server.node.scheduled_rollover import ScheduledRollover
from server.registry import CAGeneration
from tests.lint import lint_certificate
from tests.local_ca import Clock, LocalCA

SECRET = "test home secret"
KEY_USAGE_DAYS = 1095


def with_key_usage(settings: Settings, days: int = KEY_USAGE_DAYS) -> Settings:
    return dataclasses.replace(settings, ca=dataclasses.replace(settings.ca, key_usage_days=days))


def duty(local_ca: LocalCA, settings: Settings, metrics: CollectorRegistry | None = None,
         before=None) -> ScheduledRollover:  # fmt: skip
    """The duty over the local CA, rolling over as server/context.py has it roll over;
    `before` runs first (another rollover overtaking this one)."""

    async def roll(generation: CAGeneration) -> RolledOver:
        if before is not None:
            await before()
        return await rollover(settings, local_ca.registry, local_ca.backend, local_ca.authority,
                              local_ca.clock(), SECRET, "ca:scheduled-rollover", "scheduled",
                              rolled_from=generation.id)  # fmt: skip

    return ScheduledRollover(settings.ca, local_ca.registry, roll, local_ca.clock,
                             metrics or CollectorRegistry())  # fmt: skip


async def generation_ids(local_ca: LocalCA) -> list[int]:
    return [g.id for g in await local_ca.registry.generations(local_ca.settings.ca.name)]


async def test_k2_duty_rolls_over_rollover_before_days_before_the_key_lifetime_ends(
    local_ca: LocalCA,
) -> None:
    settings = with_key_usage(local_ca.settings)
    first = await local_ca.registry.active_generation("demo")
    assert first is not None
    due = first.not_before + timedelta(days=KEY_USAGE_DAYS - 14)
    assert rollover_due(settings.ca, first) == due
    scheduled = duty(local_ca, settings)
    local_ca.clock.now = due - timedelta(days=1)
    assert await scheduled.rollover_if_due() is None
    local_ca.clock.now = due - timedelta(seconds=1)
    assert await scheduled.rollover_if_due() is None
    assert await generation_ids(local_ca) == [1]

    local_ca.clock.now = due
    done = await scheduled.rollover_if_due()
    assert done is not None and (done.old.id, done.new.id) == (1, 2)
    active = await local_ca.registry.active_generation("demo")
    assert active is not None and active.id == 2
    entries = [e for e in await local_ca.registry.search.audit_entries(100, None)
               if e.action == "ca.generation.rollover"]  # fmt: skip
    assert [(e.actor, e.details["from"], e.details["to"], e.details["reason"])
            for e in entries] == [("ca:scheduled-rollover", 1, 2, "scheduled")]  # fmt: skip


async def test_k2_without_key_usage_days_the_rollover_is_due_before_the_ca_certificate_ends(
    local_ca: LocalCA,
) -> None:
    first = await local_ca.registry.active_generation("demo")
    assert first is not None
    scheduled = duty(local_ca, local_ca.settings)
    local_ca.clock.now = first.not_after - timedelta(days=14, seconds=1)
    assert await scheduled.rollover_if_due() is None
    local_ca.clock.now = first.not_after - timedelta(days=14)
    assert await scheduled.rollover_if_due() is not None


async def test_k2_duty_never_rolls_over_twice_for_one_generation(
    local_ca: LocalCA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.rollover")
    settings = with_key_usage(local_ca.settings)
    first = await local_ca.registry.active_generation("demo")
    assert first is not None
    local_ca.clock.now = rollover_due(settings.ca, first)
    metrics = CollectorRegistry()
    scheduled = duty(local_ca, settings, metrics)
    assert await scheduled.rollover_if_due() is not None
    local_ca.clock.advance(hours=1)  # the next hourly check, or a retry after a crash
    assert await scheduled.rollover_if_due() is None
    assert await generation_ids(local_ca) == [1, 2]
    assert metrics.get_sample_value("ca_rollovers_total", {"reason": "scheduled"}) == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "server.rollover"]
    assert logged == ["scheduled rollover (K2): CA 'demo' moved from generation 1 (key usable "
                      "until 2029-11-27) to generation 2 (certificate serial "
                      f"{(await local_ca.registry.active_generation('demo')).serial})"]  # fmt: skip


async def test_k2_duty_overtaken_by_another_rollover_does_not_roll_the_new_generation_over(
    local_ca: LocalCA,
) -> None:
    """The duty found generation 1 due; before its rollover ran, an operator's (or another
    process's) rollover made generation 2: the duty's is refused, generation 2 stays."""
    settings = with_key_usage(local_ca.settings)
    first = await local_ca.registry.active_generation("demo")
    assert first is not None
    local_ca.clock.now = rollover_due(settings.ca, first)

    async def operator() -> None:
        await rollover(settings, local_ca.registry, local_ca.backend, local_ca.authority,
                       local_ca.clock(), SECRET, "cli:operator", "scheduled")  # fmt: skip

    metrics = CollectorRegistry()
    assert await duty(local_ca, settings, metrics, before=operator).rollover_if_due() is None
    assert await generation_ids(local_ca) == [1, 2]
    active = await local_ca.registry.active_generation("demo")
    assert active is not None and active.id == 2
    assert metrics.get_sample_value("ca_rollovers_total", {"reason": "scheduled"}) is None


async def test_k2_metrics_report_the_key_usage_left_per_live_generation(
    local_ca: LocalCA,
) -> None:
    settings = with_key_usage(local_ca.settings)
    metrics = CollectorRegistry()
    lifetimes = KeyLifetimeMetrics(settings.ca, local_ca.registry, local_ca.clock, metrics)
    day = 86400.0

    def left(generation: str) -> float | None:
        return metrics.get_sample_value("ca_key_usage_remaining_seconds",
                                        {"generation": generation})  # fmt: skip

    await lifetimes.refresh_metrics()
    assert (left("1"), left("2")) == (KEY_USAGE_DAYS * day, None)
    first = await local_ca.registry.active_generation("demo")
    assert first is not None
    local_ca.clock.now = rollover_due(settings.ca, first)
    assert await duty(local_ca, settings, metrics).rollover_if_due() is not None
    local_ca.clock.advance(days=1)
    await lifetimes.refresh_metrics()
    assert (left("1"), left("2")) == (13 * day, (KEY_USAGE_DAYS - 1) * day)
    local_ca.clock.advance(days=20)  # generation 1's key is past its lifetime, still live
    await lifetimes.refresh_metrics()
    assert left("1") == -7 * day
    assert metrics.get_sample_value("ca_rollovers_total", {"reason": "scheduled"}) == 1


async def test_k2_duty_runs_only_in_the_process_holding_the_duties(tmp_path: Path) -> None:
    """A serving process that does not hold the duty lease leaves a due rollover alone;
    once it takes the lease, its duties roll the CA over at once."""
    home = tmp_path / "ca"
    subprocess.run([sys.executable, "-m", "server", "init", "--home", str(home)],
                   check=True, capture_output=True)  # fmt: skip
    settings = load_settings(home, environ={"CA_SUPERVISOR__DUTY_RENEW_SECONDS": "0.1"})
    registry = await open_registry(settings)
    try:
        first = await registry.active_generation("demo")
        assert first is not None
        clock = Clock(rollover_due(settings.ca, first))
        other = "other-host/boot/1/2"  # a holder whose liveness this host cannot tell
        assert await registry.leases.acquire(DUTIES, other, clock(),
                                             clock() + timedelta(seconds=15))  # fmt: skip
        async with open_ca(settings, serving=True, clock=clock) as ca:
            assert ca.duties is not None
            for _ in range(5):  # renewal rounds, refused: the duties are another's
                await ca.duties.renew()
                await asyncio.sleep(0.1)
            assert not ca.duties.holding
            assert [g.id for g in await registry.generations("demo")] == [1]

            await registry.leases.release(DUTIES, other)
            deadline = time.monotonic() + 30
            while len(await registry.generations("demo")) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert ca.duties.holding
            assert [g.id for g in await registry.generations("demo")] == [1, 2]
    finally:
        await registry.close()


def stated_key_usage(der: bytes) -> tuple[object, object] | None:
    period = asn1_x509.Certificate.load(der).private_key_usage_period_value
    return None if period is None else (period["not_before"].native, period["not_after"].native)


async def test_k1_k2_new_ca_certificates_state_the_key_usage_period_and_pass_pkilint(
    local_ca: LocalCA,
) -> None:
    """With ca.key_usage_days set, a CA certificate made by init (create_generation) or by a
    rollover (NewWithNew, NewWithOld) states its key's period in privateKeyUsagePeriod;
    OldWithNew certifies the old key, whose certificate stated none. That stated period,
    not the setting, then decides the key's end."""
    settings = with_key_usage(local_ca.settings)
    first = await local_ca.registry.active_generation("demo")
    assert first is not None and stated_key_usage(first.certificate_der) is None
    local_ca.clock.advance(days=30)
    now = local_ca.clock()
    done = await rollover(settings, local_ca.registry, local_ca.backend, local_ca.authority, now,
                          SECRET, "cli:operator", "scheduled")  # fmt: skip
    period = (now, now + timedelta(days=KEY_USAGE_DAYS))
    assert stated_key_usage(done.new.certificate_der) == period
    assert stated_key_usage(done.new_with_old.der) == period
    assert stated_key_usage(done.old_with_new.der) is None
    for der in (done.new.certificate_der, done.new_with_old.der, done.old_with_new.der):
        assert lint_certificate(der) == []
    assert key_usage_end(with_key_usage(settings, 0).ca, done.new) == period[1]

    local_ca.clock.advance(days=1)
    made = await create_generation(settings, local_ca.registry, local_ca.backend,
                                   local_ca.authority, local_ca.clock(), "t")  # fmt: skip
    assert stated_key_usage(made.certificate_der) == (
        local_ca.clock(),
        local_ca.clock() + timedelta(days=KEY_USAGE_DAYS),
    )
    assert lint_certificate(made.certificate_der) == []
