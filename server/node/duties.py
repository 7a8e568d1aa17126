"""The background duties run in exactly one live process, held by an expiring lease.

Every serving worker runs a `DutyHolder`: every `duty_renew_seconds` it takes or renews the
registry lease `duties` (server/registry/lease_store.py) for `duty_lease_seconds`. The
worker that holds it runs the duties (`start`: CRL building, OCSP upkeep and responder
renewal, the loops of `_builder_loops` in server/context.py); when it dies, its lease
lapses and another worker takes it over within one lease length. Because the lease lives in
the registry, the rule holds for workers of several nodes sharing one PostgreSQL registry.

A holder that cannot renew (the registry is unreachable) stops its duties before its lease
can lapse, as measured by its own monotonic clock, so that two processes do not build at
once; a holder refused (another took over) stops at once. A clean stop releases the lease
so that another worker takes over without waiting for it to expire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge

from server.clock import Clock
from server.node.process_identity import OwnerState, owner_state
from server.registry import interfaces

log = logging.getLogger("server.duties")

DUTIES = "duties"  # the lease's name


class DutyHolder:
    """Competes for the duty lease and runs the duties while it holds it."""

    def __init__(
        self,
        leases: interfaces.LeaseRecords,
        holder: str,
        *,
        lease_s: float,
        renew_s: float,
        clock: Clock,
        start: Callable[[], None],
        stop: Callable[[], Awaitable[None]],
        metrics: CollectorRegistry,
    ) -> None:
        """`start` begins the duties (it must return at once: it starts tasks); `stop`
        ends them. `holder` names this process in the lease (server/node/process_identity.py)."""
        self.holder = holder
        self._leases = leases
        self._lease = timedelta(seconds=lease_s)
        self._renew_s = renew_s
        self._clock = clock
        self._start = start
        self._stop = stop
        self._held_until = 0.0  # monotonic; the lease is ours before this
        self.holding = False
        self._registry_failing = False
        self._gauge = Gauge(
            "ca_duty_holder",
            "1 while this process holds the background duties (CRLs, OCSP upkeep, "
            "outbox, sweepers), else 0.",
            registry=metrics,
        )

    async def run(self) -> None:
        """Take or renew the lease every `renew_s` until cancelled."""
        while True:
            await self.renew()
            await asyncio.sleep(self._renew_s)

    async def renew(self) -> None:
        """One round: take or renew the lease; start or stop the duties accordingly."""
        asked = time.monotonic()
        now = self._clock()
        try:
            held = await self._leases.acquire(DUTIES, self.holder, now, now + self._lease)
            if not held and await self._release_if_holder_gone(now):
                held = await self._leases.acquire(DUTIES, self.holder, now, now + self._lease)
        except Exception as exc:  # any failure of the registry's driver
            if not self._registry_failing:
                log.warning("duty lease: the registry did not answer (%s)", type(exc).__name__)
                self._registry_failing = True
            # keep the duties only while the lease surely still is ours
            if self.holding and time.monotonic() >= self._held_until - self._renew_s:
                log.warning("duty lease could not be renewed: stopping the duties")
                await self._lose()
            return
        self._registry_failing = False
        if held:
            self._held_until = asked + self._lease.total_seconds()
            if not self.holding:
                log.info("duty lease taken by %s: this process runs the duties", self.holder)
                self.holding = True
                self._gauge.set(1)
                self._start()
        elif self.holding:
            log.warning("duty lease lost by %s: stopping the duties", self.holder)
            await self._lose()

    async def _release_if_holder_gone(self, now: datetime) -> bool:
        """A lease held by a process of this host that is known to be gone (killed, its
        pid free or reused: server/node/process_identity.py) is released at once rather than
        left to lapse, so a restarted server or a sibling worker takes the duties without
        waiting a lease length. True when it was released."""
        lease = await self._leases.current(DUTIES, now)
        if lease is None or owner_state(lease.holder) is not OwnerState.GONE:
            return False
        log.warning("duty lease holder %s is gone: releasing its lease", lease.holder)
        await self._leases.release(DUTIES, lease.holder)  # only if it still holds it
        return True

    async def close(self) -> None:
        """Stop the duties and release the lease, so another worker takes it at once."""
        if not self.holding:
            return
        await self._lose()
        try:
            await self._leases.release(DUTIES, self.holder)
        except Exception as exc:  # it lapses on its own
            log.warning("duty lease not released (%s)", type(exc).__name__)

    async def _lose(self) -> None:
        self.holding = False
        self._gauge.set(0)
        await self._stop()
