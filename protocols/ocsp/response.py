"""OCSP responses (RFC 6960 4.2): to-be-signed ResponseData out, signed response assembled in.

Theory of operation (STYLE.md rule 5, "record intent, then sign"):

1. :func:`build_single_response` encodes one certificate's status (SingleResponse,
   RFC 6960 4.2.1); the server keeps these per certificate;
2. :func:`build_response_data` joins them with the responder's key hash, producedAt and the
   nonce into the DER ResponseData, the bytes that are signed (tbsResponseData);
3. the caller has those bytes signed elsewhere (this package never signs), with the scheme
   of the responder key (:func:`signature_algorithm_for`);
4. :func:`assemble_ocsp_response` wraps exactly those octets, the algorithm, the signature
   and the responder's certificates into BasicOCSPResponse and OCSPResponse.

:func:`error_response` is the unsigned answer for every status but successful, and
:func:`parse_ocsp_response` reads a response back (tests, load tests, the server's checks).

Speed: the server signs a response ahead of time for every certificate and again on each
status change, so the builders join the DER of small fields (fixed parts encoded once at
import, with asn1crypto) instead of building asn1crypto trees: the three steps take about
20-30 µs for one certificate with its responder certificate attached.

Times are GeneralizedTime, UTC, 'Z', whole seconds (RFC 6960 4.2.2.1 refers to RFC 5280
4.1.2.5.2); microseconds are dropped.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp

from protocols.der import DERError, one, tlv
from protocols.ocsp.request import ID_PKIX_OCSP_NONCE, CertID, cert_id_from_der
from protocols.x509.certificate import (
    SIGNATURE_ALGORITHMS,
    algorithm_identifier,
    signature_algorithm_for,
)

__all__ = [
    "CertStatus",
    "OCSPResponseStatus",
    "ParsedSingle",
    "assemble_ocsp_response",
    "build_response_data",
    "build_single_response",
    "error_response",
    "parse_ocsp_response",
    "signature_algorithm_for",
]

ID_PKIX_OCSP_BASIC = "1.3.6.1.5.5.7.48.1.1"  # RFC 6960 4.2.1


class OCSPResponseStatus(enum.IntEnum):
    """OCSPResponseStatus, RFC 6960 4.2.1 (4 is not used)."""

    successful = 0
    malformedRequest = 1
    internalError = 2
    tryLater = 3
    sigRequired = 5
    unauthorized = 6


class CertStatus(enum.Enum):
    """CertStatus, RFC 6960 4.2.1: good [0], revoked [1], unknown [2]."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ParsedSingle:
    """One SingleResponse read back by :func:`parse_ocsp_response`."""

    cert_id: CertID
    status: CertStatus
    this_update: datetime
    next_update: datetime | None
    revocation_time: datetime | None
    revocation_reason: int | None


# Encoded once: the fixed parts of the structures (X.690 DER).
_GOOD = b"\x80\x00"  # [0] IMPLICIT NULL
_UNKNOWN = b"\x82\x00"  # [2] IMPLICIT UnknownInfo ::= NULL
_SUCCESSFUL = b"\x0a\x01\x00"  # ENUMERATED successful(0)
_BASIC_OID = core.ObjectIdentifier(ID_PKIX_OCSP_BASIC).dump()
_NONCE_OID = core.ObjectIdentifier(ID_PKIX_OCSP_NONCE).dump()
# RFC 5280 5.3.1: 7 is not used; removeFromCRL (8) only means something in a delta CRL (a
# certificate taken off hold is good again, not revoked).
_CRL_REASONS = frozenset(range(11)) - {7, 8}


_SIGNATURE_ALGORITHM_DER = {name: algorithm_identifier(name) for name in SIGNATURE_ALGORITHMS}


def _generalized_time(field: str, moment: datetime) -> bytes:
    """GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 4.1.2.5.2), written directly."""
    if moment.tzinfo is None:
        raise ValueError(f"{field} must be timezone-aware")
    return _generalized_time_der(moment)


@functools.lru_cache(maxsize=64)
def _generalized_time_der(moment: datetime) -> bytes:
    """Remembered: a responder signing live writes the same few seconds over and over."""
    m = moment.astimezone(UTC)
    return b"\x18\x0f%04d%02d%02d%02d%02d%02dZ" % (
        m.year,
        m.month,
        m.day,
        m.hour,
        m.minute,
        m.second,
    )


def build_single_response(
    cert_id: CertID,
    status: CertStatus,
    this_update: datetime,
    next_update: datetime | None,
    revocation_time: datetime | None = None,
    revocation_reason: int | None = None,
) -> bytes:
    """The DER SingleResponse (RFC 6960 4.2.1) with ``cert_id.der`` copied byte for byte.

    A revoked certificate gets RevokedInfo with revocationTime and, when
    ``revocation_reason`` is not None, [0] EXPLICIT CRLReason (RFC 5280 5.3.1; 6 is
    certificateHold, for suspended certificates).

    Raises ValueError if a datetime is naive, nextUpdate is before thisUpdate, a revoked
    status has no revocation time, another status has a revocation time or reason, or the
    reason is not a CRLReason a revoked certificate can have (0-6, 9, 10)."""
    if status is CertStatus.REVOKED:
        if revocation_time is None:
            raise ValueError("a revoked status needs a revocation time")
        revoked_info = _generalized_time("revocation_time", revocation_time)
        if revocation_reason is not None:
            if revocation_reason not in _CRL_REASONS:
                raise ValueError(f"{revocation_reason!r} is not a CRLReason (RFC 5280 5.3.1)")
            revoked_info += bytes((0xA0, 3, 0x0A, 1, revocation_reason))  # [0] ENUMERATED
        cert_status = tlv(0xA1, revoked_info)  # [1] IMPLICIT RevokedInfo
    else:
        if revocation_time is not None or revocation_reason is not None:
            raise ValueError("only a revoked status has a revocation time or reason")
        cert_status = _GOOD if status is CertStatus.GOOD else _UNKNOWN
    body = cert_id.der + cert_status + _generalized_time("this_update", this_update)
    if next_update is not None:
        next_update_der = _generalized_time("next_update", next_update)
        if next_update.replace(microsecond=0) < this_update.replace(microsecond=0):
            raise ValueError("nextUpdate is before thisUpdate")
        body += b"\xa0\x11" + next_update_der  # [0] EXPLICIT GeneralizedTime
    return tlv(0x30, body)


def build_response_data(
    responder_key_hash: bytes,
    produced_at: datetime,
    single_responses: Sequence[bytes],
    nonce: bytes | None = None,
) -> bytes:
    """The DER ResponseData (RFC 6960 4.2.1), the bytes to sign: version v1 (omitted, it is
    the DEFAULT), responderID byKey (the SHA-1 of the responder's subjectPublicKey, RFC 6960
    4.2.2.3, see :func:`issuer_key_hash`), producedAt, the SingleResponses as given (from
    :func:`build_single_response`) and, when ``nonce`` is given, responseExtensions with
    the nonce extension echoed (RFC 8954 section 2.1; RFC 6960 4.4.1).

    Raises ValueError if the key hash is not 20 octets, ``produced_at`` is naive, there is
    no SingleResponse, or the nonce is empty."""
    if len(responder_key_hash) != 20:
        raise ValueError("the responder key hash is a SHA-1 hash, 20 octets (RFC 6960 4.2.2.3)")
    if not single_responses:
        raise ValueError("a response needs at least one SingleResponse")
    responder_id = b"\xa2\x16\x04\x14" + responder_key_hash  # [2] EXPLICIT KeyHash
    body = (
        responder_id
        + _generalized_time("produced_at", produced_at)
        + tlv(0x30, b"".join(single_responses))
    )
    if nonce is not None:
        if not nonce:
            raise ValueError("an empty nonce (RFC 8954 section 2.1: 1..32 octets)")
        extn_value = tlv(0x04, tlv(0x04, nonce))  # OCTET STRING { Nonce ::= OCTET STRING }
        extensions = tlv(0x30, tlv(0x30, _NONCE_OID + extn_value))
        body += tlv(0xA1, extensions)  # [1] EXPLICIT Extensions
    return tlv(0x30, body)


def assemble_ocsp_response(
    response_data_der: bytes,
    signature_algorithm: str,
    signature: bytes,
    certs: Sequence[bytes] = (),
) -> bytes:
    """The DER OCSPResponse (RFC 6960 4.2.1): successful, with responseBytes of type
    id-pkix-ocsp-basic holding BasicOCSPResponse { tbsResponseData (``response_data_der``
    copied byte for byte), signatureAlgorithm, signature, [0] EXPLICIT certs (left out when
    ``certs`` is empty) }. ``signature_algorithm`` is a name of
    protocols.x509.certificate.SIGNATURE_ALGORITHMS.

    Raises ValueError for an unknown algorithm, an empty signature, or ``response_data_der``
    or a certificate that is not one DER SEQUENCE (only its outer TLV is checked)."""
    algorithm = _SIGNATURE_ALGORITHM_DER.get(signature_algorithm)
    if algorithm is None:
        raise ValueError(f"unsupported signature algorithm {signature_algorithm!r}")
    if not signature:
        raise ValueError("empty signature")
    _check_sequence("response_data_der", response_data_der)
    body = response_data_der + algorithm + tlv(0x03, b"\x00" + signature)
    if certs:
        body += _certs_field(tuple(certs))
    response_bytes = tlv(0x30, _BASIC_OID + tlv(0x04, tlv(0x30, body)))
    return tlv(0x30, _SUCCESSFUL + tlv(0xA0, response_bytes))


@functools.lru_cache(maxsize=16)
def _certs_field(certs: tuple[bytes, ...]) -> bytes:
    """[0] EXPLICIT SEQUENCE OF Certificate, made once per responder certificate."""
    for cert in certs:
        _check_sequence("certificate", cert)
    return tlv(0xA0, tlv(0x30, b"".join(certs)))


def error_response(status: OCSPResponseStatus) -> bytes:
    """An OCSPResponse with responseStatus only (RFC 6960 4.2.1: responseBytes is present
    only for successful). Raises ValueError for ``successful``."""
    status = OCSPResponseStatus(status)
    if status is OCSPResponseStatus.successful:
        raise ValueError("a successful response needs responseBytes")
    return bytes((0x30, 3, 0x0A, 1, status))


def parse_ocsp_response(
    der: bytes,
) -> tuple[OCSPResponseStatus, list[ParsedSingle], bytes | None]:
    """The status, the SingleResponses and the echoed nonce (None when absent) of a DER
    OCSPResponse. The signature is not verified. An error response has no singles.

    Raises ValueError if the DER does not parse or the response is not a basic one."""
    try:
        response = asn1_ocsp.OCSPResponse.load(der, strict=True)
        status = OCSPResponseStatus(_enumerated(response["response_status"]))
        if status is not OCSPResponseStatus.successful:
            return status, [], None
        response_bytes = response["response_bytes"]
        if response_bytes["response_type"].dotted != ID_PKIX_OCSP_BASIC:
            raise ValueError("not an id-pkix-ocsp-basic response")
        tbs = response_bytes["response"].parsed["tbs_response_data"]
        singles = [_parsed_single(single) for single in tbs["responses"]]
        nonce = None
        for extension in tbs["response_extensions"] or ():
            if extension["extn_id"].dotted == ID_PKIX_OCSP_NONCE:
                nonce = core.OctetString.load(extension["extn_value"].contents).native
    except (TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"not a DER OCSPResponse ({exc})") from None
    return status, singles, nonce


def _parsed_single(single: asn1_ocsp.SingleResponse) -> ParsedSingle:
    cert_status = single["cert_status"]
    status = CertStatus(cert_status.name)
    revocation_time = revocation_reason = None
    if status is CertStatus.REVOKED:
        revoked_info = cert_status.chosen
        revocation_time = revoked_info["revocation_time"].native
        reason = revoked_info["revocation_reason"]
        revocation_reason = None if isinstance(reason, core.Void) else _enumerated(reason)
    return ParsedSingle(
        cert_id=cert_id_from_der(single["cert_id"].dump()),
        status=status,
        this_update=single["this_update"].native,
        next_update=single["next_update"].native,
        revocation_time=revocation_time,
        revocation_reason=revocation_reason,
    )


def _enumerated(value: core.Enumerated) -> int:
    """The number of an ENUMERATED (asn1crypto's ``native`` is the name)."""
    return int.from_bytes(value.contents, "big", signed=True)


def _check_sequence(field: str, der: bytes) -> None:
    """``der`` is one SEQUENCE TLV that it fills exactly (its contents are not read)."""
    try:
        one(der, 0, len(der), 0x30)
    except DERError as exc:
        raise ValueError(f"{field} is not one DER SEQUENCE ({exc})") from None
