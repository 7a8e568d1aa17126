"""Readiness of a serving process: what `/healthz` reports.

The process is ready when (checked in this order, the first failure is the reason):
1. the registry answers a read within `REGISTRY_TIMEOUT_S` (5 s);
2. a signer can sign: the pipeline has a connection up, and a probe signature with the
   active generation's OCSP responder key succeeds. A successful probe is trusted for
   `PROBE_EVERY_S` (requests at the same moment share one probe), so a load balancer
   polling `/healthz` costs the HSM almost nothing; it catches a signer that is connected
   but whose token no longer signs. The probe signs a fixed text that is no DER
   structure, with the responder key, never the CA key;
3. some live process holds the background duties (the duty lease has not lapsed);
4. the active generation's CA certificate and its key's permitted lifetime
   (server/node/key_lifetime.py) have not ended.
A ready process still warns, in the body of its 200, while the active generation is inside
its rollover window (regulation K2): the scheduled rollover should have happened by then,
or will within the hour; and, with a root CA kept in the home, when a live root's newest
CRL nears its nextUpdate (within `ROOT_CRL_WARNING`, or half its validity if that is
shorter) or has passed it, and when the newest root's certificate is within
`ca.rollover_before_days` of its end (K2 for the root) or past it: only the operator,
with the root's key brought back, can sign the next CRLs (`root crl`) or change the root's
key (`root rollover`). That is never a 503: every node serves the same CRLs, and taking
them out of service would not help relying parties.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from config import Settings
from hsm.backend import HSMError
from server.clock import Clock
from server.hierarchy.root_publication import PublishedRoot, RootPublication
from server.hierarchy.root_succession import is_live
from server.node.duties import DUTIES
from server.node.key_lifetime import key_usage_end, no_active_key, rollover_due
from server.registry import CAGeneration, interfaces
from server.signing import Signer
from server.status.crl_publisher import PublishedCRL

log = logging.getLogger("server.health")

REGISTRY_TIMEOUT_S = 5.0
PROBE_EVERY_S = 5.0
PROBE_TIMEOUT_S = 10.0
PROBE_TEXT = b"ca healthz probe: not a certificate, CRL or OCSP response"
ROOT_CRL_WARNING = timedelta(days=30)


class HealthRegistry(
    interfaces.Generations, interfaces.OCSPResponders, interfaces.LeaseHolders, Protocol
):
    """The registry as health reports use it."""


@dataclass(frozen=True)
class Readiness:
    problem: str | None  # None when ready, else a one-line reason (503)
    warning: str | None = None  # ready, with something to act on soon


class Health:
    def __init__(
        self,
        settings: Settings,
        registry: HealthRegistry,
        signer: Signer,
        signers_up: Callable[[], int],
        clock: Clock,
        registry_timeout_s: float = REGISTRY_TIMEOUT_S,
        roots: RootPublication | None = None,
    ) -> None:
        self._registry_timeout_s = registry_timeout_s
        self._root_name = settings.root.name
        self._roots = roots
        self._ca = settings.ca
        self._ca_name = settings.ca.name
        self._registry = registry
        self._signer = signer
        self._signers_up = signers_up
        self._clock = clock
        self._probe: asyncio.Task[str | None] | None = None
        self._probed_at = -PROBE_EVERY_S  # monotonic
        self._probe_problem: str | None = None

    async def problem(self) -> str | None:
        """None when ready, else a one-line reason."""
        return (await self.readiness()).problem

    async def readiness(self) -> Readiness:
        """Whether the process is ready (see the module), and any warning."""
        now = self._clock()
        try:
            async with asyncio.timeout(self._registry_timeout_s):
                lease = await self._registry.leases.current(DUTIES, now)
                generation = await self._registry.active_generation(self._ca_name)
        except Exception as exc:  # any failure of the registry's driver, or the timeout
            log.warning("health: the registry did not answer (%s)", type(exc).__name__)
            return Readiness("the registry does not answer")
        if self._signers_up() == 0:
            return Readiness("no signer process is up")
        probe = await self._probe_result()
        if probe is not None:
            return Readiness(probe)
        if lease is None:
            return Readiness("no live process holds the background duties (duty lease lapsed)")
        if generation is None:  # the probe found one a moment ago
            return Readiness(no_active_key(await self._registry.generations(self._ca_name)))
        readiness = self._key_lifetime(generation, now)
        root_warning = await self._root_warnings(now)
        if readiness.problem is not None or root_warning is None:
            return readiness
        return Readiness(None, "; ".join(w for w in (readiness.warning, root_warning) if w))

    async def _root_warnings(self, now: datetime) -> str | None:
        """Warnings about the home's roots (see the module); None without a root."""
        if not self._root_name or self._roots is None:
            return None
        roots = await self._roots.roots()
        if not roots:
            return f"the registry holds no root CA {self._root_name!r} (root.name is set)"
        warnings = [
            _root_crl_warning(root.name, root.crl, now)
            for root in roots
            if is_live(root, now) or root.newest
        ]
        warnings.append(self._root_rollover_warning(roots[-1], now))
        return "; ".join(w for w in warnings if w) or None

    def _root_rollover_warning(self, newest: PublishedRoot, now: datetime) -> str | None:
        """K2 for the root: no duty can change an offline root's key, so the operator is
        told once the newest root is within `ca.rollover_before_days` of its end."""
        if not is_live(newest, now):
            return (f"root CA {newest.name!r}'s certificate ended "
                    f"{newest.not_after:%Y-%m-%d %H:%M} UTC")  # fmt: skip
        if newest.not_after - now <= timedelta(days=self._ca.rollover_before_days):
            days = (newest.not_after - now) / timedelta(days=1)
            return (f"root CA {newest.name!r} is within its rollover window ({days:.1f} days "
                    "left): run root rollover with the root's key at hand")  # fmt: skip
        return None

    def _key_lifetime(self, generation: CAGeneration, now: datetime) -> Readiness:
        """503 once the active CA certificate or its key's permitted lifetime has ended; a
        warning inside the rollover window (K2)."""
        if now >= generation.not_after:
            return Readiness(f"the active CA certificate (generation {generation.id}) "
                             f"expired at {generation.not_after:%Y-%m-%d %H:%M} UTC")  # fmt: skip
        end = key_usage_end(self._ca, generation)
        if now >= end:
            return Readiness(f"the CA key of generation {generation.id} is past its permitted "
                             f"lifetime (ended {end:%Y-%m-%d %H:%M} UTC)")  # fmt: skip
        if now >= rollover_due(self._ca, generation):
            days = (end - now) / timedelta(days=1)
            return Readiness(None, f"CA key of generation {generation.id} is within its "
                                   f"rollover window ({days:.1f} days left)")  # fmt: skip
        return Readiness(None)

    async def _probe_result(self) -> str | None:
        if self._probe is None and time.monotonic() - self._probed_at >= PROBE_EVERY_S:
            self._probe = asyncio.create_task(self._sign_probe())
        if self._probe is not None:
            task = self._probe
            self._probe_problem = await asyncio.shield(task)
            if self._probe is task:
                self._probe = None
                # a success is kept for PROBE_EVERY_S; after a failure the next asks again,
                # so a signer that is back is seen at once
                self._probed_at = time.monotonic() if self._probe_problem is None else 0.0
        return self._probe_problem

    async def _sign_probe(self) -> str | None:
        try:
            generation = await self._registry.active_generation(self._ca_name)
            if generation is None:  # a CA under a parent outside after a compromise (K4)
                return no_active_key(await self._registry.generations(self._ca_name))
            responder = await self._registry.ocsp_responder(generation.id)
        except Exception as exc:  # any failure of the registry's driver
            log.warning("health: the registry did not answer (%s)", type(exc).__name__)
            return "the registry does not answer"
        if responder is None:
            return "the CA has no OCSP responder key to probe the signers with"
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await self._signer.submit(responder[1], PROBE_TEXT)
        except (HSMError, TimeoutError) as exc:
            log.warning("health: the probe signature failed (%s: %s)", type(exc).__name__, exc)
            return "no signer can sign (the probe signature failed)"
        return None


def _root_crl_warning(name: str, crl: PublishedCRL | None, now: datetime) -> str | None:
    """A warning when a live root's newest CRL nears or passed its nextUpdate (see the
    module), or it has none."""
    if crl is None:
        return f"root CA {name!r} has no CRL published"
    if now >= crl.next_update:
        return (f"root CA {name!r}'s CRL passed its next update "
                f"({crl.next_update:%Y-%m-%d %H:%M} UTC): run root crl")  # fmt: skip
    if crl.next_update - now <= min(ROOT_CRL_WARNING, (crl.next_update - crl.this_update) / 2):
        days = (crl.next_update - now) / timedelta(days=1)
        return (f"root CA {name!r}'s CRL reaches its next update in "
                f"{days:.1f} days: run root crl")  # fmt: skip
    return None
