"""The CMP revocation request (rr) held to the Lightweight CMP Profile, RFC 9483 4.2.

Theory of operation: an end entity revokes its own certificate, protecting the rr with that
certificate's key (RFC 9483 4.2; S7, U9). The rr must name it exactly as 4.2 writes; where
the failInfo is a choice, it is the one Siemens' conformance suite (written by the authors
of RFC 9483) expects, each named at its line:
  - rr: exactly one RevDetails ("further requests MUST be packaged in separate PKI
    messages"), badRequest;
  - certDetails: serialNumber and issuer, both REQUIRED: one missing is
    addInfoNotAvailable (the certificate cannot be identified, RFC 9810 5.2.3); a version
    other than 2 is badRequest (RFC 4211 5: "MUST be 2 if supplied"); any other field
    (subject, publicKey, validity, extensions...) is badCertId: 4.2 names the certificate
    by issuer and serialNumber alone, and a template saying more names no certificate this
    server would revoke;
  - crlEntryDetails: "exactly one reasonCode of type CRLReason" (RFC 5280 5.3.1). Two
    CRLReasons (revoke and revive at once among them) or another extension: badRequest; a
    reasonCode that is not one of RFC 5280's values, or not an ENUMERATED: badDataFormat.
    crlEntryDetails may be absent, which is read as unspecified (0): 4.2 requires it, but
    `openssl cmp` leaves it out unless -revreason is given, and "reason unknown" is what
    4.2 says unspecified means;
  - the issuer must be this CA (one of its generations): an rr for another issuer names
    no certificate found here, badCertId ("no certificate could be found matching the
    provided criteria", RFC 9810 5.2.3);
  - the serial must be the protecting certificate's: a holder revokes only its own
    (notAuthorized).

The reasonCode says what is asked: certificateHold suspends (when
`cmp.suspend_by_revocation_request` allows it), removeFromCRL revives a certificate on
hold, any other reason revokes for good. Revive (RFC 5280 5.3.1 removeFromCRL; RFC 9810
5.3.9 "the certificate(s) for which revocation (or revival) is requested") lifts only a
hold the holder asked for by request, and only where such holds are allowed: a hold the CA
decided stays (notAuthorized); a certificate that is not on hold has nothing to revive
(badCertId, as the suite expects: no held certificate matches). A held certificate may
protect an rr (server/cmp/sender.py), and nothing else.

Every refusal of the body is answered in kind (RFC 9483 4.2: the rp status "negative value
allowed: rejection", failInfo "MAY be present if the status is rejection"; RFC 9810 5.3.10:
one PKIStatusInfo per RevDetails, in order) and changes nothing. An accepted rp says what
was done in its statusString ("... revoked", "... revived"): 4.2 makes it optional, the
suite reads it. An rr that is not protected by a certificate at all is answered
notAuthorized.
"""

from __future__ import annotations

from typing import Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from config import Settings
from protocols import cmp
from protocols.crl import CRLReason
from server.errors import CAError, ErrorKind
from server.registry import (
    CertificateStatus,
    StatusBasis,
    StatusChangeKind,
    interfaces,
)
from server.status.revocation import Revocation

F = cmp.FailureInfo
# RFC 9483 4.2: certDetails holds these, and only these (RFC 4211 5 field names).
REQUIRED_FIELDS = ("serialNumber", "issuer")
# RFC 4211 5: a CertTemplate's version "MUST be 2 if supplied" (and SHOULD be omitted).
TEMPLATE_VERSION = 2
# A refusal the revocation service makes after the checks (a race with another request),
# answered in kind too (RFC 9810 5.2.3 meanings).
SERVICE_FAILURE = {
    ErrorKind.ALREADY_REVOKED: F.certRevoked,
    ErrorKind.EXPIRED: F.badCertId,
    ErrorKind.NOT_FOUND: F.badCertId,
    ErrorKind.FORBIDDEN: F.notAuthorized,
    ErrorKind.UNAUTHORIZED: F.notAuthorized,
    ErrorKind.MALFORMED: F.badRequest,
    ErrorKind.REJECTED: F.badCertId,  # resume of a certificate no longer on hold
}
GROUNDS = "CMP revocation request"


class CMPRevocationRegistry(
    interfaces.Certificates, interfaces.StatusHistory, interfaces.Generations, Protocol
):
    """The registry as CMP revocation uses it."""


class RevocationRejection(Exception):
    """One RevDetails refused: the failInfo and text of its rp PKIStatusInfo."""

    def __init__(self, failure: cmp.FailureInfo, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


def check_cert_details(request: cmp.RevocationRequest) -> None:
    """RFC 9483 4.2 certDetails: serialNumber and issuer, a version only if 2, nothing
    else. Raises RevocationRejection."""
    missing = [name for name in REQUIRED_FIELDS if name not in request.template_fields]
    if missing:
        # RFC 9483 4.2: both REQUIRED. Without one the certificate cannot be identified:
        # addInfoNotAvailable (RFC 9810 5.2.3), as the suite's "Missing Issuer / Missing
        # SerialNumber" cases expect (the issue's first reading was badCertTemplate).
        raise RevocationRejection(
            F.addInfoNotAvailable,
            f"certDetails must carry {' and '.join(missing)} (RFC 9483 4.2)",
        )
    if request.version is not None and request.version != TEMPLATE_VERSION:
        # RFC 4211 5: "version MUST be 2 if supplied"; the suite expects badRequest.
        raise RevocationRejection(
            F.badRequest, f"certDetails version {request.version}: 2 if present (RFC 4211 5)"
        )
    extra = [name for name in request.template_fields if name not in (*REQUIRED_FIELDS, "version")]
    if extra:
        # RFC 9483 4.2 names the certificate by issuer and serialNumber alone. A template
        # that says more (another subject, publicKey, extensions...) names no certificate
        # this server revokes: badCertId (RFC 9810 5.2.3 "no certificate could be found
        # matching the provided criteria"), as the suite expects, rather than
        # badCertTemplate, which RFC 9810 gives for templates of certificates to issue.
        raise RevocationRejection(
            F.badCertId,
            f"certDetails holds only serialNumber and issuer, not {', '.join(extra)} "
            "(RFC 9483 4.2)",
        )


def requested_reason(request: cmp.RevocationRequest) -> CRLReason:
    """The one CRLReason of crlEntryDetails (RFC 9483 4.2), unspecified when there is no
    crlEntryDetails; removeFromCRL asks for a revive. Raises RevocationRejection:
    badRequest (another extension, several CRLReasons), badDataFormat (a value that is not
    a CRLReason)."""
    others = sorted({oid for oid in request.entry_extensions if oid != cmp.ID_CE_CRL_REASONS})
    if others:
        raise RevocationRejection(
            F.badRequest, f"crlEntryDetails {', '.join(others)} not supported: only reasonCode"
        )
    if not request.reasons:
        return CRLReason.unspecified
    if len(request.reasons) != 1:  # RFC 9483 4.2 "exactly one reasonCode"; revoke+revive too
        raise RevocationRejection(F.badRequest, "crlEntryDetails holds exactly one reasonCode")
    value = request.reasons[0]
    if value is None:  # RFC 9810 5.2.3 badDataFormat: "the data submitted has the wrong format"
        raise RevocationRejection(F.badDataFormat, "reasonCode is not a CRLReason ENUMERATED")
    try:
        return CRLReason(value)
    except ValueError:  # RFC 5280 5.3.1: 0-10 without 7; the suite expects badDataFormat
        raise RevocationRejection(F.badDataFormat, f"reasonCode {value} is not defined") from None


class CMPRevocations:
    """Answers one rr with its rp body (RFC 9483 4.2)."""

    def __init__(self, settings: Settings, registry: CMPRevocationRegistry, revocation: Revocation):
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
            done = await self._revoke(requests[0], protecting, actor)
        except RevocationRejection as rejection:
            return _rejected(1, rejection.failure, rejection.text)
        except CAError as exc:
            if exc.kind not in SERVICE_FAILURE:
                raise
            return _rejected(1, SERVICE_FAILURE[exc.kind], exc.message)
        return cmp.rp_body([(cmp.PKIStatus.accepted, (), done)])

    async def _revoke(
        self, request: cmp.RevocationRequest, protecting: bytes | None, actor: str
    ) -> str:
        """Does what the rr asks; returns the statusString of the accepted rp."""
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
        record = await self._registry.get_certificate(serial)
        held = record is not None and record.status is CertificateStatus.HOLD
        if reason is CRLReason.removeFromCRL:
            await self._revive(serial, held, actor)
            return f"certificate {serial} revived: its hold is lifted"
        if reason is CRLReason.certificateHold:
            if not self._settings.cmp.suspend_by_revocation_request:
                raise RevocationRejection(
                    F.notAuthorized, "suspension by request is not allowed here"
                )
            if held:  # RFC 9810 5.2.3 certRevoked: "already revoked" (on hold)
                raise RevocationRejection(F.certRevoked, "the certificate is already on hold")
            await self._revocation.suspend(
                serial, actor, basis=StatusBasis.HOLDER_REQUEST, grounds=GROUNDS
            )
            return f"certificate {serial} revoked on hold (certificateHold)"
        await self._revocation.revoke(
            serial, reason, actor, basis=StatusBasis.HOLDER_REQUEST, grounds=GROUNDS
        )
        return f"certificate {serial} revoked ({reason.name})"

    async def _revive(self, serial: str, held: bool, actor: str) -> None:
        """removeFromCRL (RFC 5280 5.3.1): lifts a hold the holder asked for by request,
        where such holds are allowed. Raises RevocationRejection."""
        if not held:  # the suite: revive of a certificate not on hold is badCertId
            raise RevocationRejection(F.badCertId, "the certificate is not on hold")
        if not self._settings.cmp.suspend_by_revocation_request:
            raise RevocationRejection(F.notAuthorized, "revive by request is not allowed here")
        history = await self._registry.status_history(serial)
        hold = next((c for c in reversed(history) if c.change is StatusChangeKind.HOLD), None)
        if hold is None or hold.basis is not StatusBasis.HOLDER_REQUEST:
            raise RevocationRejection(
                F.notAuthorized, "a hold the CA decided is lifted by the CA only"
            )
        await self._revocation.resume(
            serial, actor, basis=StatusBasis.HOLDER_REQUEST, grounds=GROUNDS
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
