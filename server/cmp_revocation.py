"""The CMP revocation request (rr) held to the Lightweight CMP Profile, RFC 9483 4.2.

Theory of operation: an end entity revokes its own certificate, protecting the rr with that
certificate's key (RFC 9483 4.2; S7, U9). The rr must name it exactly as 4.2 writes:
  - rr: exactly one RevDetails ("further requests MUST be packaged in separate PKI
    messages");
  - certDetails: serialNumber and issuer, both REQUIRED, and nothing else: a template with
    a field missing or another one (subject, publicKey, validity, extensions...) is
    "invalid cert. template or missing mandatory information", badCertTemplate (RFC 9810
    5.2.3);
  - crlEntryDetails: "exactly one reasonCode of type CRLReason" (RFC 5280 5.3.1). Two
    CRLReasons, another extension, a reasonCode that is not one of RFC 5280's values, or
    removeFromCRL (meaningful only in a delta CRL) ask for a revocation this server does
    not perform: badRequest, "transaction not permitted or supported" (RFC 9810 5.2.3).
    crlEntryDetails may be absent, which is read as unspecified (0): 4.2 requires it, but
    `openssl cmp` leaves it out unless -revreason is given, and "reason unknown" is what
    4.2 says unspecified means;
  - the issuer must be this CA (one of its generations): an rr for another issuer names
    no certificate found here, badCertId ("no certificate could be found matching the
    provided criteria", RFC 9810 5.2.3); wrongAuthority speaks of a "response token", a
    time-stamping authority's word, not of a certificate;
  - the serial must be the protecting certificate's: a holder revokes only its own
    (notAuthorized).

Every refusal of the body is answered in kind (RFC 9483 4.2: the rp status "negative value
allowed: rejection", failInfo "MAY be present if the status is rejection"; RFC 9810 5.3.10:
one PKIStatusInfo per RevDetails, in order) and revokes nothing. An rr that is not
protected by a certificate at all is answered the same way, notAuthorized.
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from config import Settings
from protocols import cmp
from protocols.crl import CRLReason
from server.errors import CAError, ErrorKind
from server.registry import SQLiteRegistry, StatusBasis
from server.revocation import Revocation

F = cmp.FailureInfo
# RFC 9483 4.2: certDetails holds these, and only these (RFC 4211 5 field names).
REQUIRED_FIELDS = ("serialNumber", "issuer")
# A refusal the revocation service makes after the checks (a race with another request),
# answered in kind too (RFC 9810 5.2.3 meanings).
SERVICE_FAILURE = {
    ErrorKind.ALREADY_REVOKED: F.certRevoked,
    ErrorKind.EXPIRED: F.badCertId,
    ErrorKind.NOT_FOUND: F.badCertId,
    ErrorKind.FORBIDDEN: F.notAuthorized,
    ErrorKind.UNAUTHORIZED: F.notAuthorized,
    ErrorKind.MALFORMED: F.badRequest,
}


class RevocationRejection(Exception):
    """One RevDetails refused: the failInfo and text of its rp PKIStatusInfo."""

    def __init__(self, failure: cmp.FailureInfo, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


def check_cert_details(request: cmp.RevocationRequest) -> None:
    """RFC 9483 4.2 certDetails: exactly serialNumber and issuer. Raises
    RevocationRejection(badCertTemplate)."""
    missing = [name for name in REQUIRED_FIELDS if name not in request.template_fields]
    if missing:
        raise RevocationRejection(
            F.badCertTemplate, f"certDetails must carry {' and '.join(missing)} (RFC 9483 4.2)"
        )
    extra = [name for name in request.template_fields if name not in REQUIRED_FIELDS]
    if extra:
        raise RevocationRejection(
            F.badCertTemplate,
            f"certDetails holds only serialNumber and issuer, not {', '.join(extra)} "
            "(RFC 9483 4.2)",
        )


def requested_reason(request: cmp.RevocationRequest) -> CRLReason:
    """The one CRLReason of crlEntryDetails (RFC 9483 4.2), unspecified when there is no
    crlEntryDetails. Raises RevocationRejection(badRequest) for anything else."""
    others = sorted({oid for oid in request.entry_extensions if oid != cmp.ID_CE_CRL_REASONS})
    if others:
        raise RevocationRejection(
            F.badRequest, f"crlEntryDetails {', '.join(others)} not supported: only reasonCode"
        )
    if not request.reasons:
        return CRLReason.unspecified
    if len(request.reasons) != 1:
        raise RevocationRejection(F.badRequest, "crlEntryDetails holds exactly one reasonCode")
    value = request.reasons[0]
    if value is None:
        raise RevocationRejection(F.badRequest, "reasonCode is not a CRLReason ENUMERATED")
    try:
        reason = CRLReason(value)
    except ValueError:  # RFC 5280 5.3.1: 0-10 without 7
        raise RevocationRejection(F.badRequest, f"reasonCode {value} is not defined") from None
    if reason is CRLReason.removeFromCRL:  # RFC 5280 5.3.1: for delta CRLs only
        raise RevocationRejection(F.badRequest, "removeFromCRL is not a revocation reason")
    return reason


class CMPRevocations:
    """Answers one rr with its rp body (RFC 9483 4.2)."""

    def __init__(self, settings: Settings, registry: SQLiteRegistry, revocation: Revocation):
        self._settings = settings
        self._registry = registry
        self._revocation = revocation

    async def rp_body(
        self, requests: tuple[cmp.RevocationRequest, ...], protecting: bytes | None, actor: str
    ) -> bytes:
        """The rp body: accepted, or one rejection per RevDetails. ``protecting`` is the DER
        certificate that protected the rr (None: MAC). Raises CAError only for what cannot
        be answered in kind (busy, unavailable, internal)."""
        if len(requests) != 1:  # RFC 9483 4.2: exactly one RevDetails
            text = "one certificate per revocation request (RFC 9483 4.2)"
            return _rejected(len(requests), F.badRequest, text)
        try:
            await self._revoke(requests[0], protecting, actor)
        except RevocationRejection as rejection:
            return _rejected(1, rejection.failure, rejection.text)
        except CAError as exc:
            if exc.kind not in SERVICE_FAILURE:
                raise
            return _rejected(1, SERVICE_FAILURE[exc.kind], exc.message)
        return cmp.rp_body([(cmp.PKIStatus.accepted, (), None)])

    async def _revoke(
        self, request: cmp.RevocationRequest, protecting: bytes | None, actor: str
    ) -> None:
        if protecting is None:  # RFC 9483 4.2: protected by the key of the certificate
            raise RevocationRejection(
                F.notAuthorized, "rr is protected by the certificate it revokes"
            )
        check_cert_details(request)
        reason = requested_reason(request)
        if request.issuer not in await self._our_names():
            raise RevocationRejection(F.badCertId, "certDetails names another issuer")
        own = x509.load_der_x509_certificate(protecting)
        if request.serial != own.serial_number or request.issuer != own.issuer.public_bytes():
            raise RevocationRejection(
                F.notAuthorized, "a holder revokes only the protecting certificate"
            )
        serial = format(own.serial_number, "x")
        grounds = "CMP revocation request"
        if reason is CRLReason.certificateHold:
            if not self._settings.cmp.suspend_by_revocation_request:
                raise RevocationRejection(
                    F.notAuthorized, "suspension by request is not allowed here"
                )
            await self._revocation.suspend(
                serial, actor, basis=StatusBasis.HOLDER_REQUEST, grounds=grounds
            )
        else:
            await self._revocation.revoke(
                serial, reason, actor, basis=StatusBasis.HOLDER_REQUEST, grounds=grounds
            )

    async def _our_names(self) -> set[bytes]:
        """The DER subject of every generation of this CA (RFC 5280 4.1.2.4: the issuer
        field of what it issued)."""
        generations = await self._registry.generations(self._settings.ca.name)
        return {asn1_x509.Certificate.load(g.certificate_der).subject.dump() for g in generations}


def _rejected(count: int, failure: cmp.FailureInfo, text: str) -> bytes:
    """rp with ``count`` rejections (RFC 9810 5.3.10: one per RevDetails, in order)."""
    count = max(count, 1)  # RevRepContent status SIZE (1..MAX)
    return cmp.rp_body([(cmp.PKIStatus.rejection, (failure,), text)] * count)
