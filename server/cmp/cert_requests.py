"""What a CMP enrollment message asks to certify, as the issuance services take it: the
PKCS#10 of a p10cr, or the CRMF request of an ir/cr/kur with its proof of possession
checked (D8). Shared by the CMP server and by applications that wait for approval (their
kept PKIMessage is read again when an operator approves)."""

from __future__ import annotations

from protocols import cmp
from protocols.x509 import csr as csr_codec
from server.cmp.templates import TemplateRejected, requested_key_usages
from server.errors import CAError, ErrorKind

P10CR_CERT_REQ_ID = -1  # a p10cr carries no certReqId; its answer says -1 (RFC 9483 4.1.4)
F = cmp.FailureInfo


def answered_cert_req_id(message: cmp.PKIMessage) -> int:
    """The certReqId an answer to `message` carries: -1 for a p10cr (RFC 9483 4.1.4), else
    the first request's as sent, so that the client finds its request named."""
    if message.body_type == "p10cr" or not message.cert_requests:
        return P10CR_CERT_REQ_ID
    return message.cert_requests[0].cert_req_id


def crmf_request(message: cmp.PKIMessage) -> cmp.CertRequest:
    """The one CertReqMsg of an ir/cr/kur. Raises TemplateRejected (badRequest): more than
    one request, or a certReqId other than 0 (RFC 9483 4.1.1, 4.1.2, 4.1.3: "MUST be 0")."""
    requests = message.cert_requests
    if len(requests) != 1:
        ids = [request.cert_req_id for request in requests]
        twice = " (a certReqId used twice)" if len(set(ids)) != len(ids) else ""
        raise TemplateRejected(
            F.badRequest, f"one certificate request per message (RFC 9483 4.1){twice}"
        )
    if requests[0].cert_req_id != 0:
        raise TemplateRejected(F.badRequest, "certReqId must be 0 (RFC 9483 4.1.1)")
    return requests[0]


def certification_request(
    message: cmp.PKIMessage, ra_verified: bool = False
) -> tuple[bytes | csr_codec.CSR, int]:
    """(the request, its certReqId). Raises CAError: TemplateRejected (not one request, a
    certReqId other than 0), REJECTED (a key type we do not certify, such as
    Diffie-Hellman; no key: the caller serves central key generation before), BAD_POP.
    ``ra_verified``: a trusted RA signed the request as its own (replaced protection,
    server/cmp/ra.py), so it vouches for the POP and raVerified is taken in an ir or cr;
    elsewhere raVerified is refused (TemplateRejected notAuthorized; BAD_POP in a kur)."""
    if message.body_type == "p10cr":
        assert message.p10_request is not None
        return message.p10_request, P10CR_CERT_REQ_ID
    request = crmf_request(message)
    if request.spki_der is None or request.central_key_generation:
        raise CAError(ErrorKind.REJECTED, "the template carries no public key")
    try:  # before the POP: a key we cannot read has none we could check (RFC 9483 4.1.1)
        key_type = csr_codec.key_description(request.spki_der)
    except csr_codec.UnsupportedKey as exc:
        raise CAError(ErrorKind.REJECTED, f"the template's key: {exc}") from None
    if request.pop == "raVerified":
        if message.body_type == "kur":  # RFC 9483 5.2.3: the RA cannot stand in for it
            raise CAError(ErrorKind.BAD_POP, "raVerified is not taken in a kur (RFC 9483 5.2.3)")
        if not ra_verified:
            # RFC 9483 5.2.3.2: only an RA that verified the POP and replaced the protection
            # with its own sets raVerified; an end entity's own request, direct or inside an
            # RA's nested message (5.2.2: the original, unchanged), cannot vouch for itself.
            raise TemplateRejected(
                F.notAuthorized,
                "raVerified is taken only from a trusted RA signing the request (RFC 9483 5.2.3.2)",
            )
    elif request.pop != "signature" or not request.pop_valid:
        raise CAError(
            ErrorKind.BAD_POP, "proof of possession by signature is required and must verify"
        )
    parsed = csr_codec.CSR(
        subject=request.subject or (),
        spki_der=request.spki_der,
        dns_names=request.dns_names,
        ip_addresses=request.ip_addresses,
        emails=request.emails,
        challenge_password=None,
        der=message.der,
        key_usage=requested_key_usages(request),  # granted as the profile allows
        key_type=key_type,  # described once: the issuance does not load the key again
    )
    return parsed, request.cert_req_id


def kept_request(der: bytes, request_format: str) -> bytes | csr_codec.CSR:
    """A request an application kept (server/ra/applications.py): PKCS#10 as it is; a CMP
    message read again, its proof of possession checked again."""
    if request_format == "pkcs10":
        return der
    try:
        message = cmp.parse_pki_message(der)
    except cmp.CMPFormatError as exc:
        raise CAError(ErrorKind.INTERNAL, f"the kept CMP request does not parse: {exc}") from exc
    return certification_request(message)[0]
