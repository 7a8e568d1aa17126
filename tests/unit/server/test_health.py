"""What /healthz reports (server/node/health.py), on a real registry file and the in-process
CA's real signer: each reason, in its order, and `ok` only when all hold; the warning inside
the CA key's rollover window (regulation K2)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from prometheus_client import CollectorRegistry

from config import Settings
from hsm.backend import HSMError, KeyRef
from server.hierarchy.root_publication import RootPublication
from server.node.duties import DUTIES
from server.node.health import Health, Readiness
from server.registry import AuditEvent
from server.registry.records import RootCA, RootCRL
from tests.local_ca import LocalCA


class BrokenSigner:
    """A signer connected but unable to sign (a token gone), as the pipeline reports it."""

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        self.calls += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        future.set_exception(HSMError("CKR_OBJECT_HANDLE_INVALID"))
        return future


def health(ca: LocalCA, signer=None, signers_up: int = 1, timeout_s: float = 5.0) -> Health:
    return Health(ca.settings, ca.registry, signer or ca.signer, lambda: signers_up, ca.clock,
                  registry_timeout_s=timeout_s)  # fmt: skip


async def hold_duties(ca: LocalCA) -> None:
    now = ca.clock()
    assert await ca.registry.leases.acquire(DUTIES, "host:1", now, now + timedelta(seconds=15))


async def test_ready_when_registry_signer_and_duty_holder_are_there(local_ca: LocalCA) -> None:
    await hold_duties(local_ca)
    calls = local_ca.signer.calls
    checker = health(local_ca)
    assert await checker.problem() is None
    assert local_ca.signer.calls == calls + 1  # a real probe signature was made
    assert await checker.problem() is None
    assert local_ca.signer.calls == calls + 1  # and trusted for PROBE_EVERY_S


async def test_no_duty_holder_once_the_lease_lapsed(local_ca: LocalCA) -> None:
    await hold_duties(local_ca)
    checker = health(local_ca)
    local_ca.clock.advance(seconds=15)
    assert await checker.problem() == (
        "no live process holds the background duties (duty lease lapsed)"
    )


async def test_no_signer_up(local_ca: LocalCA) -> None:
    await hold_duties(local_ca)
    assert await health(local_ca, signers_up=0).problem() == "no signer process is up"


async def test_a_failed_probe_signature_is_reported_and_tried_again_next_time(
    local_ca: LocalCA,
) -> None:
    await hold_duties(local_ca)
    broken = BrokenSigner()
    checker = health(local_ca, signer=broken)
    reasons = await asyncio.gather(*(checker.problem() for _ in range(5)))
    assert reasons == ["no signer can sign (the probe signature failed)"] * 5
    assert broken.calls == 1  # requests at the same moment share one probe
    assert await checker.problem() == "no signer can sign (the probe signature failed)"
    assert broken.calls == 2  # a failure is not trusted: a signer back is seen at once


async def test_a_registry_that_does_not_answer(local_ca: LocalCA) -> None:
    await hold_duties(local_ca)
    taken, release = asyncio.Event(), asyncio.Event()

    async def hold_the_registry() -> None:  # a snapshot that never ends: reads queue behind
        async with local_ca.registry.snapshot():
            taken.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_registry())
    try:
        await taken.wait()
        reason = await health(local_ca, timeout_s=0.2).problem()
    finally:
        release.set()
        await holder
    assert reason == "the registry does not answer"


def with_key_usage(ca: LocalCA, days: int) -> Settings:
    settings = ca.settings
    return dataclasses.replace(settings, ca=dataclasses.replace(settings.ca, key_usage_days=days))


async def test_k2_healthz_warns_inside_the_rollover_window(local_ca: LocalCA) -> None:
    generation = await local_ca.registry.active_generation("demo")
    assert generation is not None
    local_ca.clock.now = generation.not_after - timedelta(days=14, seconds=1)
    await hold_duties(local_ca)
    assert await health(local_ca).readiness() == Readiness(None)
    local_ca.clock.advance(seconds=1)
    await hold_duties(local_ca)
    assert await health(local_ca).readiness() == Readiness(
        None, "CA key of generation 1 is within its rollover window (14.0 days left)"
    )


async def test_k2_healthz_fails_once_the_key_usage_period_has_ended(local_ca: LocalCA) -> None:
    generation = await local_ca.registry.active_generation("demo")
    assert generation is not None
    settings = with_key_usage(local_ca, 1095)
    local_ca.clock.now = generation.not_before + timedelta(days=1095, seconds=-1)
    await hold_duties(local_ca)
    checker = Health(settings, local_ca.registry, local_ca.signer, lambda: 1, local_ca.clock)
    assert await checker.readiness() == Readiness(
        None, "CA key of generation 1 is within its rollover window (0.0 days left)"
    )
    local_ca.clock.advance(seconds=1)
    await hold_duties(local_ca)
    assert await checker.problem() == (
        "the CA key of generation 1 is past its permitted lifetime (ended 2029-11-27 12:00 UTC)"
    )


async def test_healthz_fails_once_the_active_ca_certificate_has_expired(local_ca: LocalCA) -> None:
    generation = await local_ca.registry.active_generation("demo")
    assert generation is not None
    local_ca.clock.now = generation.not_after
    await hold_duties(local_ca)
    assert await health(local_ca).problem() == (
        "the active CA certificate (generation 1) expired at 2036-11-25 12:00 UTC"
    )


async def test_a_root_crl_near_or_past_its_next_update_warns_and_never_fails(
    local_ca: LocalCA,
) -> None:
    """A root kept in the home (init --hierarchy): its CRL is signed only by command, with
    the root's key brought back; /healthz warns 30 days ahead and after, never 503s (every
    node serves the same CRL)."""
    settings = dataclasses.replace(
        local_ca.settings, root=dataclasses.replace(local_ca.settings.root, name="demo-root")
    )
    now = local_ca.clock()
    root = RootCA("demo-root", b"\x01" * 20, "file:root", "ec-p256", b"root certificate",
                  now + timedelta(days=7300))  # fmt: skip
    crl = RootCRL(1, now, now + timedelta(days=365), b"root crl")
    audit = AuditEvent("test", "ca.root.create", "1")
    await local_ca.registry.roots.record_root(root, crl, audit, now)
    checker = Health(settings, local_ca.registry, local_ca.signer, lambda: 1, local_ca.clock,
                     roots=RootPublication(local_ca.registry, CollectorRegistry(),
                                           local_ca.clock))  # fmt: skip
    await hold_duties(local_ca)
    assert await checker.readiness() == Readiness(None)
    local_ca.clock.now = crl.next_update - timedelta(days=30)
    await hold_duties(local_ca)
    assert await checker.readiness() == Readiness(
        None, "root CA 'demo-root''s CRL reaches its next update in 30.0 days: run root crl"
    )
    local_ca.clock.now = crl.next_update
    await hold_duties(local_ca)
    assert await checker.readiness() == Readiness(
        None,
        "root CA 'demo-root''s CRL passed its next update "
        f"({crl.next_update:%Y-%m-%d %H:%M} UTC): run root crl",
    )
