"""Revocation, suspension and resumption (S7, S8, R7, R8).

- Revoke: a good or suspended certificate becomes revoked for good, with an RFC 5280
  5.3.1 reason, the time, an optional invalidity date (5.3.2) and the actor.
- Suspend: revocation with reason certificateHold, which can be lifted.
- Resume: lifts a hold (it leaves the next delta CRL as removeFromCRL, RFC 5280 5.3.1).
- Refused (R7): a certificate that is already revoked, or expired.
- Refused: the CA's own certificates, of any generation, and its OCSP responders'. Marking
  one revoked in the registry would change nothing that matters: the CA's CRLs and OCSP
  answers are signed by the very key in question, a relying party does not look the CA's
  own certificate up in them, and the CA would go on issuing under that key. A compromised
  CA key, or responder key (made by the same backend, in the same token), is handled by the
  CA key change procedure (K4, `compromise` in server/generations/compromise.py: a new key, then the
  old CA certificate revoked in a CRL signed by the new one). The server's TLS certificate
  is an ordinary end-entity certificate of the `tls-server` profile and is revoked like any
  other (its key is a file in the home, not a CA key, and no CRL or OCSP answer is signed
  with it).

Each change may record its basis (R8): the holder's request, or the CA's own decision,
which must state its grounds (the compromise report, the finding of false documents, the
unpaid invoice...). The reason code stays one of RFC 5280's; the grounds are the CA's
record and never leave the registry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from protocols.crl import CRLReason
from server.clock import Clock, utc_now
from server.errors import CAError, ErrorKind
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
from server.serials import parse_serial

CA_COMPROMISE_PROCEDURE = (
    "the ordinary revocation does not apply to the CA's own certificates; CA key compromise "
    "is handled by the CA key change procedure (README: The CA's own certificates)"
)


def parse_reason(text: str) -> CRLReason:
    """An RFC 5280 5.3.1 reason by name, as operators type it (keyCompromise,
    key_compromise, KEY-COMPROMISE). Raises CAError(MALFORMED) listing the names."""
    wanted = text.replace("-", "").replace("_", "").lower()
    for reason in CRLReason:
        if reason.name.lower() == wanted:
            return reason
    names = ", ".join(r.name for r in CRLReason if r is not CRLReason.removeFromCRL)
    raise CAError(ErrorKind.MALFORMED, f"unknown revocation reason {text!r} (one of {names})")


class StatusPublisher(Protocol):
    """What a status change needs from status publication (server/status/publication.py)."""

    async def prepare(
        self,
        record: CertificateRecord,
        status: CertificateStatus,
        at: datetime,
        reason: int | None,
        invalidity_date: datetime | None,
    ) -> tuple[bytes | None, OCSPResponseRow | None]: ...

    async def committed(self) -> None: ...


class RevocationRegistry(interfaces.StatusChanges, interfaces.Certificates, Protocol):
    """The registry as revocation uses it."""


class Revocation:
    def __init__(
        self,
        registry: RevocationRegistry,
        clock: Clock = utc_now,
        publisher: StatusPublisher | None = None,
    ) -> None:
        """Without a publisher, changes are recorded but not published (rule tests)."""
        self._registry = registry
        self._clock = clock
        self._publisher = publisher

    async def revoke(
        self,
        serial: str,
        reason: CRLReason,
        actor: str,
        invalidity_date: datetime | None = None,
        *,
        basis: StatusBasis | None = None,
        grounds: str | None = None,
    ) -> CertificateRecord:
        """Revoke for good. Raises CAError NOT_FOUND, ALREADY_REVOKED, EXPIRED, MALFORMED
        (also: a CA decision without grounds), FORBIDDEN (the CA's own certificates)."""
        if reason is CRLReason.certificateHold:
            return await self.suspend(serial, actor, invalidity_date, basis=basis, grounds=grounds)
        if reason is CRLReason.removeFromCRL:
            raise CAError(ErrorKind.MALFORMED, "removeFromCRL is not a revocation reason; resume")
        return await self._change(
            serial,
            StatusChangeKind.REVOKE,
            reason,
            actor,
            invalidity_date,
            allowed_from=(CertificateStatus.GOOD, CertificateStatus.HOLD),
            new_status=CertificateStatus.REVOKED,
            basis=basis,
            grounds=grounds,
        )

    async def suspend(
        self,
        serial: str,
        actor: str,
        invalidity_date: datetime | None = None,
        *,
        basis: StatusBasis | None = None,
        grounds: str | None = None,
    ) -> CertificateRecord:
        """Put a good certificate on hold. Raises as `revoke`, and REJECTED if already held."""
        return await self._change(
            serial,
            StatusChangeKind.HOLD,
            CRLReason.certificateHold,
            actor,
            invalidity_date,
            allowed_from=(CertificateStatus.GOOD,),
            new_status=CertificateStatus.HOLD,
            basis=basis,
            grounds=grounds,
        )

    async def resume(
        self,
        serial: str,
        actor: str,
        *,
        basis: StatusBasis | None = None,
        grounds: str | None = None,
    ) -> CertificateRecord:
        """Lift a hold. Raises NOT_FOUND, ALREADY_REVOKED, EXPIRED, REJECTED (not held)."""
        return await self._change(
            serial,
            StatusChangeKind.RELEASE,
            None,
            actor,
            None,
            allowed_from=(CertificateStatus.HOLD,),
            new_status=CertificateStatus.GOOD,
            basis=basis,
            grounds=grounds,
        )

    async def _change(
        self,
        serial_input: str,
        kind: StatusChangeKind,
        reason: CRLReason | None,
        actor: str,
        invalidity_date: datetime | None,
        allowed_from: tuple[CertificateStatus, ...],
        new_status: CertificateStatus,
        basis: StatusBasis | None,
        grounds: str | None,
    ) -> CertificateRecord:
        serial = parse_serial(serial_input)
        grounds = grounds.strip() if grounds else None
        if basis is StatusBasis.CA_DECISION and not grounds:
            raise CAError(
                ErrorKind.MALFORMED, "a change by the CA's decision needs its grounds (R8)"
            )
        if grounds is not None and len(grounds) > 1000:
            raise CAError(ErrorKind.MALFORMED, "grounds: at most 1000 characters")
        now = self._clock()
        own = await self._registry.ca_own_certificate(serial)  # a link is not in `certificates`
        if own is not None:
            raise CAError(
                ErrorKind.FORBIDDEN,
                f"certificate {serial} is {own}: {CA_COMPROMISE_PROCEDURE}",
            )
        record = await self._registry.get_certificate(serial)
        if record is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no certificate with serial {serial}")
        if record.status is CertificateStatus.REVOKED:
            raise CAError(ErrorKind.ALREADY_REVOKED, f"certificate {serial} is already revoked")
        if record.not_after <= now:
            raise CAError(
                ErrorKind.EXPIRED, f"certificate {serial} expired on {record.not_after:%Y-%m-%d}"
            )
        if invalidity_date is not None and invalidity_date > now:
            raise CAError(ErrorKind.MALFORMED, "the invalidity date is in the future")
        change = StatusChange(
            serial=serial,
            change=kind,
            reason=reason.name if reason is not None else None,
            effective_at=now,
            invalidity_date=invalidity_date,
            actor=actor,
            recorded_at=now,
            basis=basis,
            grounds=grounds,
        )
        details = {"reason": change.reason, "basis": basis.value if basis else None,
                   "grounds": grounds}  # fmt: skip
        audit = AuditEvent(
            actor=actor,
            action=f"certificate.{kind.value}",
            target=serial,
            details={key: value for key, value in details.items() if value},
        )
        crl_entry, ocsp_row = None, None
        if self._publisher is not None:
            # RFC 5280 5.3.1: an unspecified reason is left out rather than stated.
            code = None if reason in (None, CRLReason.unspecified) else int(reason)
            crl_entry, ocsp_row = await self._publisher.prepare(
                record, new_status, now, code, invalidity_date
            )
        updated = await self._registry.change_status(
            change, allowed_from, new_status, audit, crl_entry, ocsp_row
        )
        if self._publisher is not None:
            await self._publisher.committed()
        return updated
