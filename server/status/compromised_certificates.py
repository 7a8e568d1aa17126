"""The certificates issued under a compromised CA key (regulation K4;
server/generations/compromise.py `compromise`), per `ca.compromise_certificates`:
- "revoke": every one still good or held and not expired is revoked, reason cACompromise
  (RFC 5280 5.3.1), by the CA's decision on the compromise's grounds. Page by page: each
  page's OCSP responses are signed together (the pipeline batches them), then the page is
  recorded in one transaction with one audit entry, never one transaction per certificate.
  The command returns once every live server process answers them revoked
  (StatusPublisher.committed, as for one revocation);
- "mark": they stay good; the generation's state ('compromised') and an audit entry
  `certificate.mark.compromise` per page, naming them, record them, for the CA to revoke
  one by one as it decides.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protocols.crl import CRLReason
from server.registry import (
    AuditEvent,
    CertificateRecord,
    CertificateStatus,
    OCSPResponseRow,
    StatusBasis,
    StatusChange,
    StatusChangeKind,
    interfaces,
)
from server.status.revocation import StatusPublisher

PAGE = 500


@dataclass(frozen=True)
class CertificatesRevoked:
    mode: str  # "revoke" or "mark"
    count: int  # revoked; or, marked, those left good or held


class CompromisedCertificates(interfaces.BulkRevocation, Protocol):
    """The registry as this module uses it."""


async def revoke_certificates_of(
    registry: CompromisedCertificates,
    publisher: StatusPublisher,
    generation_id: int,
    mode: str,
    now: datetime,
    actor: str,
    grounds: str,
) -> CertificatesRevoked:
    """Revoke (or count, when `mode` is "mark") the unexpired good and held certificates
    of generation `generation_id`. Raises CAError(UNAVAILABLE) when a live process did not
    confirm the revocations in time (they are recorded)."""
    count, after = 0, ""
    while page := await registry.unrevoked_certificates(generation_id, after, PAGE, now):
        after = page[-1].serial
        serials = [r.serial for r in page]
        if mode == "mark":
            marked = AuditEvent(actor, "certificate.mark.compromise", f"generation {generation_id}",
                                {"grounds": grounds, "serials": serials})  # fmt: skip
            await registry.append_audit(marked, now)
            count += len(page)
            continue
        changes = await asyncio.gather(*(_change(publisher, r, now, actor, grounds) for r in page))
        audit = AuditEvent(actor, "certificate.revoke.compromise", f"generation {generation_id}",
                           {"reason": CRLReason.cACompromise.name, "grounds": grounds,
                            "serials": serials})  # fmt: skip
        count += await registry.revoke_many(changes, audit)
    if mode == "revoke" and count:
        await publisher.committed()
    return CertificatesRevoked(mode, count)


async def _change(
    publisher: StatusPublisher, record: CertificateRecord, now: datetime, actor: str, grounds: str
) -> tuple[StatusChange, bytes, OCSPResponseRow | None]:
    reason = CRLReason.cACompromise
    entry, ocsp = await publisher.prepare(record, CertificateStatus.REVOKED, now, int(reason), None)
    assert entry is not None  # a revocation always has its CRL entry
    change = StatusChange(serial=record.serial, change=StatusChangeKind.REVOKE,
                          reason=reason.name, effective_at=now, invalidity_date=None,
                          actor=actor, recorded_at=now, basis=StatusBasis.CA_DECISION,
                          grounds=grounds)  # fmt: skip
    return change, entry, ocsp
