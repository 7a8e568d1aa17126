"""The retirement of old CA generations (end of regulation K3): a background duty of the
process holding the duty lease (server/node/duties.py, server/context.py `_builder_loops`).

After a rollover the old generation keeps signing its CRLs and OCSP answers with its own
keys until the last certificate its key signed expires: end-entity certificates, its OCSP
responder and CMP protection certificates, the link certificate NewWithOld. Once a day
(`CHECK_EVERY_S`) this duty retires every active or compromised generation that is not the
issuing one and has no certificate valid any more (server/registry/retirement_store.py
decides in one statement, never the issuing generation): state 'retired', so the CRL
publisher and the OCSP responder stop for it. Then its CA key and every OCSP responder key
it had are destroyed in the backend, and the key files of its CMP protection certificates (in
`<home>/cmp-keys`, outside the backend: server/cmp/identity.py) are destroyed as the
software backend destroys a key (overwritten, synced, removed); all of it is recorded with
the audit entry `ca.generation.retire` {generation, keys_destroyed, cmp_keys_destroyed (the
certificates' serials)}. A retired generation whose keys are not recorded destroyed (a
failure, a crash in between) is taken up again at the next check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from config import Settings
from hsm.backend import KeyRef
from hsm.software import destroy_key_file
from server.clock import Clock
from server.cmp.identity import CMP_SERVER_PROFILE, key_path
from server.node.periodic import every
from server.registry import AuditEvent, interfaces

log = logging.getLogger("server.retirement")

CHECK_EVERY_S = 86400.0
ACTOR = "ca:retirement"

# destroys the keys given in the backend (in order; raises on the first failure)
Destroy = Callable[[list[KeyRef]], Awaitable[None]]
_LISTED = 1000  # CMP protection certificates read at once


class RetirementRegistry(interfaces.RetiringGenerations, interfaces.Search, Protocol):
    """The registry as the retirement duty uses it."""


class GenerationRetirement:
    def __init__(
        self,
        settings: Settings,
        registry: RetirementRegistry,
        destroy: Destroy,
        clock: Clock,
        metrics: CollectorRegistry,
    ) -> None:
        self._settings = settings
        self._ca_name = settings.ca.name
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
        await every(CHECK_EVERY_S, self.retire_due, log, "generation retirement: the check failed")

    async def retire_due(self) -> list[int]:
        """Retire what is due and destroy the keys of retired generations not yet
        destroyed; the generations whose retirement was completed now."""
        now = self._clock()
        generations = await self._registry.generations(self._ca_name)
        issuing = max((g.id for g in generations if g.state == "active"), default=None)
        for generation in generations:  # the issuing one (newest active) is never retired
            if generation.state not in ("active", "compromised") or generation.id == issuing:
                continue
            if await self._registry.retirement.retire(self._ca_name, generation.id, now):
                log.info("generation %d of CA %r retired: its last certificate expired",
                         generation.id, self._ca_name)  # fmt: skip
        completed = []
        for generation_id, keys in await self._registry.retirement.keys_to_destroy(self._ca_name):
            await self._destroy(keys)
            cmp_keys = await self._destroy_cmp_keys(generation_id)
            uris = [key.uri for key in keys]
            audit = AuditEvent(ACTOR, "ca.generation.retire", str(generation_id),
                               {"generation": generation_id, "keys_destroyed": uris,
                                "cmp_keys_destroyed": cmp_keys})  # fmt: skip
            await self._registry.retirement.keys_destroyed(generation_id, audit, self._clock())
            self._retirements.inc()
            log.info("generation %d of CA %r: keys destroyed (%s)", generation_id,
                     self._ca_name, ", ".join(uris))  # fmt: skip
            completed.append(generation_id)
        return completed

    async def _destroy_cmp_keys(self, generation_id: int) -> list[str]:
        """Destroy the key files of the generation's CMP protection certificates (every one
        expired, or it would not have retired); their serials. A file already gone (an
        expired one a CMP renewal removed, one made on another node) counts as destroyed.
        Raises HSMError when one cannot be overwritten or removed."""
        serials: list[str] = []
        after = None
        while True:
            page = await self._registry.search.certificates(
                None, CMP_SERVER_PROFILE, None, _LISTED, after
            )
            for record in page:
                if record.generation_id == generation_id:
                    path = key_path(self._settings, record.serial)
                    await asyncio.to_thread(destroy_key_file, path)
                    serials.append(record.serial)
            if len(page) < _LISTED:
                return serials
            after = page[-1].serial
