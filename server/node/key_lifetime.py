"""The CA key's permitted lifetime (regulation K2, D10) and where each live generation
stands in it: read by the scheduled rollover (server/node/scheduled_rollover.py), `/healthz`
(server/node/health.py) and `/metrics`.

A generation's key may sign until the end of the privateKeyUsagePeriod its CA certificate
states (CA certificates made with `ca.key_usage_days` set carry one), else for
`ca.key_usage_days` from the certificate's notBefore (0: until its notAfter), and never
past the certificate's notAfter. Its rollover is due `ca.rollover_before_days` before
that end.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from asn1crypto import x509 as asn1_x509
from prometheus_client import CollectorRegistry, Gauge

from config.settings import CASettings
from server.clock import Clock
from server.registry import CAGeneration, interfaces

LIVE = "active"  # the state of every generation still publishing (the newest one issues)


def key_usage_end(ca: CASettings, generation: CAGeneration) -> datetime:
    """When `generation`'s key stops being permitted to sign."""
    stated = _stated_key_usage_end(generation.certificate_der)
    if stated is not None:
        return min(generation.not_after, stated)
    if not ca.key_usage_days:
        return generation.not_after
    return min(generation.not_after, generation.not_before + timedelta(days=ca.key_usage_days))


@functools.lru_cache(maxsize=64)
def _stated_key_usage_end(certificate_der: bytes) -> datetime | None:
    """The end of the certificate's privateKeyUsagePeriod (2.5.29.16), if it states one."""
    period = asn1_x509.Certificate.load(certificate_der).private_key_usage_period_value
    if period is None or not period["not_after"].native:
        return None
    end: datetime = period["not_after"].native
    return end


def rollover_due(ca: CASettings, generation: CAGeneration) -> datetime:
    """When the scheduled rollover away from `generation` is due (K2)."""
    return key_usage_end(ca, generation) - timedelta(days=ca.rollover_before_days)


class KeyLifetimeMetrics:
    """`ca_key_usage_remaining_seconds{generation}`: the time each live generation's key
    may still sign (negative once past), set from one read of the generations when
    `/metrics` is scraped."""

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

    async def refresh_metrics(self) -> None:
        generations = await self._registry.generations(self._ca.name)
        now = self._clock()
        self._remaining.clear()  # generations no longer live leave the series
        for generation in generations:
            if generation.state == LIVE:
                left = key_usage_end(self._ca, generation) - now
                self._remaining.labels(str(generation.id)).set(left.total_seconds())
