"""The CA key's permitted lifetime (regulation K1, K2, D10) and where each live generation
stands in it: read by issuance (server/authority.py, which refuses outside it), the
scheduled rollover (server/node/scheduled_rollover.py), `/healthz` (server/node/health.py)
and `/metrics`.

A generation's key may sign until the end of the privateKeyUsagePeriod its CA certificate
states (CA certificates made with `ca.key_usage_days` set carry one), else for
`ca.key_usage_days` from the certificate's notBefore (0: until its notAfter), and never
past the certificate's notAfter. Its rollover is due `ca.rollover_before_days` before
that end. It may sign certificates from the start of that period (the
privateKeyUsagePeriod's notBefore, else the certificate's) to its end; CRLs and OCSP
answers go on being signed after it (K3), certificates are not (K1).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

from asn1crypto import x509 as asn1_x509
from prometheus_client import CollectorRegistry, Gauge

from config.settings import CASettings
from server.clock import Clock
from server.errors import CAError, ErrorKind
from server.registry import CAGeneration, interfaces

LIVE = "active"  # the state of every generation still publishing (the newest one issues)


def key_usage_end(ca: CASettings, generation: CAGeneration) -> datetime:
    """When `generation`'s key stops being permitted to sign."""
    stated = _stated_key_usage(generation.certificate_der, "not_after")
    if stated is not None:
        return min(generation.not_after, stated)
    if not ca.key_usage_days:
        return generation.not_after
    return min(generation.not_after, generation.not_before + timedelta(days=ca.key_usage_days))


def key_usage_start(generation: CAGeneration) -> datetime:
    """When `generation`'s key starts being permitted to sign."""
    stated = _stated_key_usage(generation.certificate_der, "not_before")
    return generation.not_before if stated is None else max(generation.not_before, stated)


def check_may_certify(ca: CASettings, generation: CAGeneration, now: datetime) -> None:
    """Refuse a certificate signed by `generation`'s key at `now` outside the key's
    permitted lifetime (K1). Raises CAError(UNAVAILABLE): nothing can be issued until a
    rollover gives the CA a key within its lifetime, whoever asks."""
    start = key_usage_start(generation)
    if now < start:
        message = KEY_NOT_YET_USABLE.format(generation=generation.id, start=start)
        raise CAError(ErrorKind.UNAVAILABLE, message)
    end = key_usage_end(ca, generation)
    if now >= end:
        message = KEY_PAST_ITS_LIFETIME.format(generation=generation.id, end=end)
        raise CAError(ErrorKind.UNAVAILABLE, message)


NO_ACTIVE_KEY = "the CA has no active key (run init)"
WAITING_FOR_PARENT = (
    "the CA key of generation {generation} was declared compromised: the CA waits for its "
    "parent CA's certificate for its new key (import-ca-cert); nothing is issued until then"
)


def no_active_key(generations: Sequence[CAGeneration]) -> str:
    """Why a CA has no active generation to issue with: after the compromise of its only
    active one, a CA under a parent outside waits for the parent's certificate for its new
    key (server/generations/subordinate_compromise.py); else it was never made."""
    compromised = [g.id for g in generations if g.state == "compromised"]
    return WAITING_FOR_PARENT.format(generation=compromised[-1]) if compromised else NO_ACTIVE_KEY


KEY_PAST_ITS_LIFETIME = (
    "the CA key of generation {generation} is past its permitted lifetime (ended "
    "{end:%Y-%m-%d %H:%M} UTC): nothing is issued until a rollover to a new CA key"
)
KEY_NOT_YET_USABLE = (
    "the CA key of generation {generation} is not within its permitted lifetime yet (begins "
    "{start:%Y-%m-%d %H:%M} UTC): nothing is issued before"
)


@functools.lru_cache(maxsize=128)
def _stated_key_usage(certificate_der: bytes, bound: str) -> datetime | None:
    """`bound` ("not_before", "not_after") of the certificate's privateKeyUsagePeriod
    (2.5.29.16, RFC 3280 4.2.1.4), if it states one."""
    period = asn1_x509.Certificate.load(certificate_der).private_key_usage_period_value
    if period is None or not period[bound].native:
        return None
    value: datetime = period[bound].native
    return value


def rollover_due(ca: CASettings, generation: CAGeneration) -> datetime:
    """When the scheduled rollover away from `generation` is due (K2)."""
    return key_usage_end(ca, generation) - timedelta(days=ca.rollover_before_days)


# Every state a generation can be in (ca_generations' CHECK, migration 0001), each exported
# even at 0, so that an alert on one compares a number rather than a missing series.
GENERATION_STATES = ("active", "compromised", "retired")


class KeyLifetimeMetrics:
    """What the CA's generations say, set from one read of them when `/metrics` is scraped:
    `ca_key_usage_remaining_seconds{generation}`, the time each live generation's key may
    still sign (negative once past); `ca_generations{state}`, how many generations are in
    each state. The latter is the registry's, not this process's count: a compromise
    (state "compromised") shows on every node, and after any restart, until the generation
    is retired."""

    def __init__(
        self,
        ca: CASettings,
        registry: interfaces.Generations,
        clock: Clock,
        metrics: CollectorRegistry,
    ) -> None:
        self._ca = ca
        self._registry = registry
        self._clock = clock
        self._remaining = Gauge(
            "ca_key_usage_remaining_seconds",
            "Seconds left of each live CA generation's key usage period (its CA certificate's "
            "privateKeyUsagePeriod, else ca.key_usage_days, else the certificate's "
            "validity); the rollover is due ca.rollover_before_days before it ends.",
            ["generation"],
            registry=metrics,
        )
        self._generations = Gauge(
            "ca_generations",
            "The CA's key generations by state, as the registry holds them: active (the "
            "newest issues, the others publish CRLs and OCSP for their certificates), "
            "compromised (its key declared compromised, K4), retired (keys destroyed).",
            ["state"],
            registry=metrics,
        )

    async def refresh_metrics(self) -> None:
        generations = await self._registry.generations(self._ca.name)
        now = self._clock()
        self._remaining.clear()  # generations no longer live leave the series
        for generation in generations:
            if generation.state == LIVE:
                left = key_usage_end(self._ca, generation) - now
                self._remaining.labels(str(generation.id)).set(left.total_seconds())
        for state in GENERATION_STATES:
            count = sum(1 for generation in generations if generation.state == state)
            self._generations.labels(state).set(count)
