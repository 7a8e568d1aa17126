"""The retirement of old CA generations (end of regulation K3): a background duty of the
process holding the duty lease (server/node/duties.py, server/context.py `_builder_loops`).

After a rollover the old generation keeps signing its CRLs and OCSP answers with its own
keys until the last certificate its key signed expires: end-entity certificates, its OCSP
responder and CMP protection certificates, the link certificate NewWithOld. Once a day
(`CHECK_EVERY_S`) this duty retires every active generation that is not the issuing one
and has no certificate valid any more (server/registry/retirement_store.py decides in one
statement, never the issuing generation): state 'retired', so the CRL publisher and the
OCSP responder stop for it. Then its CA key and every OCSP responder key it had are
destroyed in the backend and recorded with the audit entry `ca.generation.retire`
{generation, keys_destroyed}. A retired generation whose keys are not recorded destroyed
(a failure, a crash in between) is taken up again at the next check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter

from hsm.backend import KeyRef
from server.clock import Clock
from server.registry import AuditEvent, interfaces

log = logging.getLogger("server.retirement")

CHECK_EVERY_S = 86400.0
ACTOR = "ca:retirement"

# destroys the keys given in the backend (in order; raises on the first failure)
Destroy = Callable[[list[KeyRef]], Awaitable[None]]


class GenerationRetirement:
    def __init__(
        self,
        ca_name: str,
        registry: interfaces.RetiringGenerations,
        destroy: Destroy,
        clock: Clock,
        metrics: CollectorRegistry,
    ) -> None:
        self._ca_name = ca_name
        self._registry = registry
        self._destroy = destroy
        self._clock = clock
        self._retirements = Counter(
            "ca_generation_retirements",
            "CA generations this process retired with their keys destroyed (K3).",
            registry=metrics,
        )

    async def run(self) -> None:
        """Check every `CHECK_EVERY_S` until cancelled; a failed check is logged and tried
        again at the next."""
        while True:
            try:
                await self.retire_due()
            except Exception:  # any failure of the registry or the backend: next day
                log.exception("generation retirement: the check failed")
            await asyncio.sleep(CHECK_EVERY_S)

    async def retire_due(self) -> list[int]:
        """Retire what is due and destroy the keys of retired generations not yet
        destroyed; the generations whose retirement was completed now."""
        now = self._clock()
        active = [g for g in await self._registry.generations(self._ca_name)
                  if g.state == "active"]  # fmt: skip
        for generation in active[:-1]:  # the newest active one issues: never retired
            if await self._registry.retirement.retire(self._ca_name, generation.id, now):
                log.info("generation %d of CA %r retired: its last certificate expired",
                         generation.id, self._ca_name)  # fmt: skip
        completed = []
        for generation_id, keys in await self._registry.retirement.keys_to_destroy(self._ca_name):
            await self._destroy(keys)
            uris = [key.uri for key in keys]
            audit = AuditEvent(ACTOR, "ca.generation.retire", str(generation_id),
                               {"generation": generation_id, "keys_destroyed": uris})  # fmt: skip
            await self._registry.retirement.keys_destroyed(generation_id, audit, self._clock())
            self._retirements.inc()
            log.info("generation %d of CA %r: keys destroyed (%s)", generation_id,
                     self._ca_name, ", ".join(uris))  # fmt: skip
            completed.append(generation_id)
        return completed
