"""The sweeper of issuance a crash left unfinished.

Issuance records its intent (with what it holds: an enrollment credential, an application
being decided) before it signs, and records the certificate (spending what it held) in one
transaction after. A process killed in between leaves an open intent: its credential
refuses its holder, its public key counts as certified. The sweeper settles each such
intent as never issued (the certificate, signed or not, never left the CA: it leaves only
once recorded): deleted, what it held given back, with an audit entry `intent.settle`.

An intent is settled when its owning process is gone (server/node/process_identity.py), or,
when that cannot be told, once it is older than `enrollment.intent_timeout_seconds`. A
live request is not swept: its owner runs, and its intent is younger than the timeout. If
one outlived the timeout all the same, its completion finds the intent settled and fails
whole, so nothing is issued twice and nothing is issued unrecorded.

Versions before migration 0012 claimed a credential in a transaction of its own, so a
crash could leave one claimed with no intent at all, or spent on a certificate but never
marked so. Such a stranded credential, once older than the timeout, is spent for the
certificate it issued when one is found (of its profile, subject and subscriber, issued
since the claim, nothing spent for it), else given back: audit entry `credential.settle`.

It runs once when a server starts and then every `enrollment.sweep_interval_seconds` in
the process that holds the background duties.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter

from config import Settings
from protocols.x509 import names
from server.clock import Clock
from server.node.process_identity import OwnerState, owner_state
from server.registry import AuditEvent, OpenIntent, interfaces

log = logging.getLogger(__name__)
ACTOR = "ca:intent-sweeper"


class IntentSweeper:
    def __init__(
        self,
        settings: Settings,
        registry: interfaces.Intents,
        clock: Clock,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings.enrollment
        self._registry = registry
        self._clock = clock
        self._settled = Counter(
            "ca_unfinished_issuance_settled_total",
            "Issuance a crash left unfinished, settled (intents as never issued), by why",
            ["why"],
            registry=metrics,
        )

    async def sweep(self) -> int:
        """Settle every open intent whose owner is gone or that is too old, then every
        stranded credential; returns how many were settled."""
        now = self._clock()
        stale_before = now - timedelta(seconds=self._settings.intent_timeout_seconds)
        settled = 0
        for intent in await self._registry.open_intents():
            why = _why_settle(intent, stale_before)
            if why is None:
                continue
            audit = AuditEvent(ACTOR, "intent.settle", intent.serial, {
                "outcome": "never issued", "why": why, "owner": intent.owner,
                "credential": intent.credential_id, "application": intent.application_id,
            })  # fmt: skip
            if await self._registry.settle_intent(intent.serial, audit, now):
                log.info("settled the unfinished issuance %s as never issued (%s)",
                         intent.serial, why)  # fmt: skip
                self._settled.labels(why).inc()
                settled += 1
        return settled + await self._settle_stranded(now, stale_before)

    async def _settle_stranded(self, now: datetime, stale_before: datetime) -> int:
        settled = 0
        for claim, certificates in await self._registry.stranded_claims(stale_before):
            subject = sorted(names.parse_dn(claim.subject))
            serial = next(
                (serial for serial, dn, holder in certificates
                 if holder == claim.subscriber_id and sorted(names.parse_dn(dn)) == subject),
                None,
            )  # fmt: skip
            audit = AuditEvent(ACTOR, "credential.settle", claim.id, {
                "outcome": "released" if serial is None else "spent", "serial": serial,
                "why": "claimed by an issuance that recorded no intent",
            })  # fmt: skip
            if await self._registry.settle_stranded_claim(claim, serial, audit, now):
                log.info("settled the stranded enrollment credential %s (%s)", claim.id,
                         audit.details["outcome"])  # fmt: skip
                self._settled.labels("stranded credential").inc()
                settled += 1
        return settled

    async def run(self) -> None:
        """Sweep every `sweep_interval_seconds` until cancelled."""
        while True:
            await asyncio.sleep(self._settings.sweep_interval_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("settling unfinished issuance failed")


def _why_settle(intent: OpenIntent, stale_before: datetime) -> str | None:
    if intent.owner is not None and owner_state(intent.owner) is OwnerState.GONE:
        return "owner gone"
    if intent.recorded_at <= stale_before:
        return "timed out"
    return None
