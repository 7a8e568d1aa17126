"""CMP messages (RFC 4210 section 5, CMPv3 of RFC 9480, Lightweight CMP Profile RFC 9483) read.

Theory of operation: :func:`parse_pki_message` takes the octets of one HTTP request body
(RFC 6712) and returns a :class:`PKIMessage` value, or raises :class:`CMPFormatError` (a
ValueError) when they are not exactly one DER PKIMessage that this package can read (of any
pvno: the responder answers versions it does not speak with unsupportedVersion, which needs
the message read). Nothing is judged here beyond the format: whether the protection
is right is for ``protection.py`` (:func:`~protocols.cmp.protection.verify_mac`,
:func:`~protocols.cmp.protection.verify_signature`), whether a request is allowed is for the
server.

The message is decoded with the ASN.1 types of ``pyasn1_alt_modules.rfc9480`` (which check
the whole structure, extraCerts included), and cut at the same time into its top-level DER
values without re-encoding, so that :attr:`PKIMessage.protected_part` holds exactly the
header and body octets the sender protected (ProtectedPart, RFC 4210 5.1.3) and the POP
signatures of CRMF requests are checked over the octets that were signed (``crmf.py``).

Each body type fills the fields it has and leaves the others empty: ir/cr/kur (and ccr,
krr) ``cert_requests``, p10cr ``p10_request``, certConf ``cert_confirms``, rr
``revocations``, genm ``general_info`` (and ``general_info_types``), pollReq
``poll_req_ids``, error ``error_text`` (the failInfo names and the statusString, for a log line).
Responses (ip, cp, kup, rp, genp, pollRep, pkiconf) are read with the same function
(``replies.parse_reply``); their bodies are only named, the tests read them with pyasn1.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyasn1.error import PyAsn1Error
from pyasn1.type import useful
from pyasn1_alt_modules import rfc5280, rfc9480

from protocols.cmp.crmf import (
    CertRequest,
    MalformedDER,
    cert_requests_by_parts,
    checked_once,
    decode_der,
    encode_der,
    is_plain_directory_name,
    object_identifier,
    parse_cert_req_messages,
    plain_algorithm,
    read_algorithm,
    short_reason,
)
from protocols.der import contents as der_contents
from protocols.der import elements as der_children
from protocols.der import tlv as der_tlv

__all__ = [
    "BODY_TAGS",
    "ID_CE_CRL_REASONS",
    "ID_IT_CA_CERTS",
    "ID_IT_CERT_REQ_TEMPLATE",
    "ID_IT_CONFIRM_WAIT_TIME",
    "ID_IT_CRLS",
    "ID_IT_CRL_STATUS_LIST",
    "ID_IT_CURRENT_CRL",
    "ID_IT_ENC_KEY_PAIR_TYPES",
    "ID_IT_IMPLICIT_CONFIRM",
    "ID_IT_PREFERRED_SYMM_ALG",
    "ID_IT_ROOT_CA_KEY_UPDATE",
    "ID_IT_SIGN_KEY_PAIR_TYPES",
    "ID_IT_SUPP_LANG_TAGS",
    "CMPFormatError",
    "CRLStatus",
    "CertConfirm",
    "CertRequest",
    "FailureInfo",
    "GeneralInfo",
    "Header",
    "PKIMessage",
    "PKIStatus",
    "RevocationRequest",
    "is_generalized_time",
    "is_null",
    "parse_pki_message",
    "parse_supp_lang_tags",
]

# InfoTypeAndValue types, id-it arc 1.3.6.1.5.5.7.4 (RFC 4210 5.3.19, RFC 9483 4.3)
ID_IT_SIGN_KEY_PAIR_TYPES = "1.3.6.1.5.5.7.4.2"  # RFC 9810 5.3.19.2
ID_IT_ENC_KEY_PAIR_TYPES = "1.3.6.1.5.5.7.4.3"  # RFC 9810 5.3.19.3
ID_IT_PREFERRED_SYMM_ALG = "1.3.6.1.5.5.7.4.4"  # RFC 9810 5.3.19.4
ID_IT_CURRENT_CRL = "1.3.6.1.5.5.7.4.6"  # RFC 9810 5.3.19.6
ID_IT_IMPLICIT_CONFIRM = "1.3.6.1.5.5.7.4.13"  # RFC 4210 5.1.1.1
ID_IT_CONFIRM_WAIT_TIME = "1.3.6.1.5.5.7.4.14"  # RFC 4210 5.1.1.2
ID_IT_SUPP_LANG_TAGS = "1.3.6.1.5.5.7.4.16"  # RFC 9810 5.3.19.13
ID_IT_CA_CERTS = "1.3.6.1.5.5.7.4.17"  # RFC 9483 4.3.1
ID_IT_ROOT_CA_KEY_UPDATE = "1.3.6.1.5.5.7.4.18"  # RFC 9483 4.3.2
ID_IT_CERT_REQ_TEMPLATE = "1.3.6.1.5.5.7.4.19"  # RFC 9483 4.3.3
ID_IT_CRL_STATUS_LIST = "1.3.6.1.5.5.7.4.22"  # RFC 9483 4.3.4 (request)
ID_IT_CRLS = "1.3.6.1.5.5.7.4.23"  # RFC 9483 4.3.4 (response)

# PKIBody CHOICE tag numbers, RFC 4210 5.1.2 (each [n] EXPLICIT: DER tag octet 0xA0 | n).
BODY_TAGS = {
    "ir": 0, "ip": 1, "cr": 2, "cp": 3, "p10cr": 4, "popdecc": 5, "popdecr": 6,
    "kur": 7, "kup": 8, "krr": 9, "krp": 10, "rr": 11, "rp": 12, "ccr": 13, "ccp": 14,
    "ckuann": 15, "cann": 16, "rann": 17, "crlann": 18, "pkiconf": 19, "nested": 20,
    "genm": 21, "genp": 22, "error": 23, "certConf": 24, "pollReq": 25, "pollRep": 26,
}  # fmt: skip
_CERT_REQUEST_BODIES = frozenset({"ir", "cr", "kur", "ccr", "krr"})
ID_CE_CRL_REASONS = "2.5.29.21"  # RFC 5280 5.3.1


class CMPFormatError(ValueError):
    """Not one DER PKIMessage this package can read."""


class FailureInfo(enum.IntEnum):
    """PKIFailureInfo bit numbers, RFC 4210 5.2.3 (unchanged by RFC 9480)."""

    badAlg = 0
    badMessageCheck = 1
    badRequest = 2
    badTime = 3
    badCertId = 4
    badDataFormat = 5
    wrongAuthority = 6
    incorrectData = 7
    missingTimeStamp = 8
    badPOP = 9
    certRevoked = 10
    certConfirmed = 11
    wrongIntegrity = 12
    badRecipientNonce = 13
    timeNotAvailable = 14
    unacceptedPolicy = 15
    unacceptedExtension = 16
    addInfoNotAvailable = 17
    badSenderNonce = 18
    badCertTemplate = 19
    signerNotTrusted = 20
    transactionIdInUse = 21
    unsupportedVersion = 22
    notAuthorized = 23
    systemUnavail = 24
    systemFailure = 25
    duplicateCertReq = 26


class PKIStatus(enum.IntEnum):
    """PKIStatus, RFC 4210 5.2.3."""

    accepted = 0
    grantedWithMods = 1
    rejection = 2
    waiting = 3
    revocationWarning = 4
    revocationNotification = 5
    keyUpdateWarning = 6


@dataclass(frozen=True)
class Header:
    """PKIHeader, RFC 4210 5.1.1. ``sender``, ``recipient`` and ``protection_algorithm`` are
    DER exactly as received (GeneralName, GeneralName, AlgorithmIdentifier with parameters);
    ``implicit_confirm`` is True when generalInfo holds id-it-implicitConfirm (5.1.1.1);
    ``general_info`` every InfoTypeAndValue of generalInfo, its infoValue's DER as received
    (RFC 9810 5.1.1: implicitConfirm, confirmWaitTime, ...), for the server to judge."""

    pvno: int
    sender: bytes
    recipient: bytes
    message_time: datetime | None
    protection_algorithm: bytes | None
    protection_oid: str | None
    sender_kid: bytes | None
    recip_kid: bytes | None
    transaction_id: bytes | None
    sender_nonce: bytes | None
    recip_nonce: bytes | None
    implicit_confirm: bool
    general_info: tuple[GeneralInfo, ...] = ()


@dataclass(frozen=True)
class CertConfirm:
    """One CertStatus of a certConf (RFC 4210 5.3.18 as updated by RFC 9480). ``status`` None means
    statusInfo was absent, which means accepted; ``hash_algorithm`` is the dotted OID of the
    CMPv3 hashAlg, or None (then the hash of the certificate's signature algorithm);
    ``fail_info`` the PKIFailureInfo bit numbers of statusInfo, in order (empty: none)."""

    cert_hash: bytes
    cert_req_id: int
    status: PKIStatus | None
    hash_algorithm: str | None
    fail_info: tuple[int, ...] = ()


@dataclass(frozen=True)
class RevocationRequest:
    """One RevDetails of an rr (RFC 9810 5.3.9; RFC 9483 4.2 names the certificate by
    serialNumber and issuer). ``issuer`` is the DER Name; ``reason`` the first CRLReason of
    crlEntryDetails that decodes, if there is one.

    What the server needs to hold the request to RFC 9483 4.2 is kept as read, not judged:
    ``template_fields`` names every CertTemplate field of certDetails present (RFC 4211 5
    names, in template order); ``entry_extensions`` the extnID of each crlEntryDetails
    extension, in order, repeats kept; ``reasons`` each CRLReason's value, None for one whose
    extnValue is not a DER ENUMERATED; ``version`` the certDetails version [0], if present."""

    serial: int | None
    issuer: bytes | None
    reason: int | None
    template_fields: tuple[str, ...] = ("serialNumber", "issuer")
    entry_extensions: tuple[str, ...] = ()
    reasons: tuple[int | None, ...] = ()
    version: int | None = None


@dataclass(frozen=True)
class GeneralInfo:
    """One InfoTypeAndValue of a genm (RFC 9810 5.3.19): the infoType's dotted OID and the
    DER infoValue as received, None when absent."""

    info_type: str
    value: bytes | None


@dataclass(frozen=True)
class CRLStatus:
    """One entry of a genm crlStatusList (RFC 9483 4.3.4): the CRL the client has, named
    by its distribution point URIs or its issuer, and that CRL's thisUpdate if given."""

    distribution_point_uris: tuple[str, ...]
    issuer: bytes | None  # DER GeneralNames
    this_update: datetime | None


@dataclass(frozen=True)
class PKIMessage:
    """One PKIMessage (RFC 4210 5.1). ``protected_part`` is the DER ProtectedPart
    { header, body } made of the octets received (5.1.3): what the protection covers.
    ``protection`` is the octets of the protection BIT STRING; ``extra_certs`` the DER
    certificates of extraCerts, in order. The remaining fields belong to one body type each
    (module docstring) and are empty for the others."""

    der: bytes
    header: Header
    body_type: str
    protected_part: bytes
    protection: bytes | None
    extra_certs: tuple[bytes, ...]
    cert_requests: tuple[CertRequest, ...]
    p10_request: bytes | None
    cert_confirms: tuple[CertConfirm, ...]
    revocations: tuple[RevocationRequest, ...]
    general_info_types: tuple[str, ...]
    crl_status_list: tuple[CRLStatus, ...]  # genm: the value of an id-it-crlStatusList
    poll_req_ids: tuple[int, ...]
    error_text: str | None  # "badPOP: text": failInfo names, statusString joined by "; "
    general_info: tuple[GeneralInfo, ...] = ()  # genm: every InfoTypeAndValue, in order


def parse_pki_message(der: bytes) -> PKIMessage:
    """The PKIMessage in ``der``, which must be exactly one DER PKIMessage (nothing after
    it). Raises CMPFormatError, with a short reason, for anything else."""
    if not isinstance(der, bytes | bytearray):
        raise CMPFormatError("a PKIMessage is bytes")
    der = bytes(der)
    try:
        return _parse(der)
    except CMPFormatError:
        raise
    except MalformedDER as exc:
        raise CMPFormatError(str(exc)) from None
    except (PyAsn1Error, UnicodeError) as exc:  # raised lazily: times, character strings
        raise CMPFormatError(f"unreadable value: {short_reason(exc)}") from None
    except Exception as exc:  # pyasn1's internals on hostile input: OverflowError for a
        # length of 2^64, RecursionError for deep nesting, IndexError, KeyError...
        raise CMPFormatError(f"unreadable PKIMessage: {short_reason(exc)}") from None


def _parse(der: bytes) -> PKIMessage:
    message, header, read_requests = _decoded(der)
    parts = der_children(der)
    if read_requests is not None:
        return _with_cert_requests(der, parts, header, read_requests)
    raw_header, raw_body = parts[0][1], parts[1][1]
    raw_content = der_contents(raw_body)
    body = message["body"]
    body_type = str(body.getName())
    content = body[body_type]
    return PKIMessage(
        der=der,
        header=_header(header, raw_header),
        body_type=body_type,
        protected_part=der_tlv(0x30, raw_header + raw_body),
        protection=_protection(parts),
        extra_certs=_extra_certs(parts),
        cert_requests=(
            parse_cert_req_messages(raw_content, content)
            if body_type in _CERT_REQUEST_BODIES
            else ()
        ),
        p10_request=raw_content if body_type == "p10cr" else None,
        cert_confirms=_cert_confirms(content) if body_type == "certConf" else (),
        revocations=_revocations(content, raw_content) if body_type == "rr" else (),
        general_info_types=(
            tuple(str(item["infoType"]) for item in content) if body_type == "genm" else ()
        ),
        crl_status_list=_crl_status_list(content) if body_type == "genm" else (),
        poll_req_ids=(
            tuple(int(item["certReqId"]) for item in content) if body_type == "pollReq" else ()
        ),
        error_text=_error_text(content) if body_type == "error" else None,
        general_info=_general_info(raw_content) if body_type == "genm" else (),
    )


def _with_cert_requests(
    der: bytes,
    parts: list[tuple[int, bytes]],
    header: _HeaderFields,
    requests: tuple[CertRequest, ...],
) -> PKIMessage:
    """The PKIMessage of an ir, cr or kur whose CertReqMessages were read by parts
    (:func:`_decoded_by_parts`): the other bodies' fields empty."""
    raw_header, raw_body = parts[0][1], parts[1][1]
    return PKIMessage(
        der=der,
        header=_header(header, raw_header),
        body_type=_BODY_NAMES[raw_body[0] & 0x1F],
        protected_part=der_tlv(0x30, raw_header + raw_body),
        protection=_protection(parts),
        extra_certs=_extra_certs(parts),
        cert_requests=requests,
        p10_request=None,
        cert_confirms=(),
        revocations=(),
        general_info_types=(),
        crl_status_list=(),
        poll_req_ids=(),
        error_text=None,
    )


_BODY_NAMES = {number: name for name, number in BODY_TAGS.items()}
# The bodies whose CertReqMessages may be read by parts (crmf.cert_requests_by_parts), by
# their [n] EXPLICIT tag octet; and pkiconf's NULL, in their place while the rest is decoded.
_BY_PARTS_BODIES = frozenset(0xA0 | BODY_TAGS[name] for name in ("ir", "cr", "kur"))
_BODY_PLACEHOLDER = bytes.fromhex("b3020500")


def _decoded(der: bytes) -> tuple[Any, _HeaderFields, tuple[CertRequest, ...] | None]:
    """``der`` decoded as a PKIMessage, as pyasn1 decodes it whole, with its header's
    fields and, when they were read by parts, the CertRequests of its body (the body then
    not decoded): by parts when it can be (:func:`_decoded_by_parts`), else whole, so that
    what is refused is refused as before, with the same reason."""
    decoded = _decoded_by_parts(der)
    if decoded is not None:
        return decoded
    message = decode_der(der, rfc9480.PKIMessage(), "PKIMessage")
    return message, _HeaderFields(message["header"]), None


def _body_by_parts(raw_body: bytes) -> tuple[bytes, tuple[CertRequest, ...] | None]:
    """(the body to decode with pyasn1, the CertRequests read by parts): an ir, cr or kur
    of the ordinary form (:func:`~protocols.cmp.crmf.cert_requests_by_parts`) gives way to
    a placeholder, every other body is decoded as it is."""
    if raw_body[0] not in _BY_PARTS_BODIES:
        return raw_body, None
    content = der_contents(raw_body)
    if der_tlv(raw_body[0], content) != raw_body:
        return raw_body, None
    requests = cert_requests_by_parts(content)
    return (raw_body, None) if requests is None else (_BODY_PLACEHOLDER, requests)


# A [0] PKIProtection of no octets, whole: in the place of one that is (pyasn1 reads any
# such BIT STRING).
_PROTECTION_PLACEHOLDER = bytes.fromhex("a003030100")


def _protection_set_aside(raw: bytes) -> bytes:
    """``raw``, an element after the body, or the placeholder in the place of a [0]
    PKIProtection that is a primitive BIT STRING of whole octets with DER's shortest
    lengths (read from the DER by :func:`_protection`)."""
    if raw[0] != 0xA0:
        return raw
    inner = der_contents(raw)
    bits = der_contents(inner) if inner[:1] == b"\x03" else b""
    if bits[:1] != b"\x00" or der_tlv(0xA0, der_tlv(0x03, bits)) != raw:
        return raw
    return _PROTECTION_PLACEHOLDER


@functools.lru_cache(maxsize=16)
def _placed_message(placed: bytes) -> Any:
    """A PKIMessage of placeholders only (header, body, protection: every message read by
    parts with a protection of whole octets is the same one) decoded, and kept: what is
    left to check, the elements after the body, is then checked once. Read-only. Raises
    MalformedDER (not kept)."""
    return decode_der(placed, rfc9480.PKIMessage(), "PKIMessage")


def _decoded_by_parts(
    der: bytes,
) -> tuple[Any, _HeaderFields, tuple[CertRequest, ...] | None] | None:
    """The PKIMessage decoded in parts, each as its type in ``rfc9480``, with the header's
    fields. Set aside (:func:`_set_aside`, :func:`_split_header`), and so not decoded with
    the rest: the header's sender and recipient and the certificates of extraCerts, each
    checked on its own (a directoryName of the ordinary form by a walk of its DER,
    :func:`~protocols.cmp.crmf.is_plain_directory_name`), the others with pyasn1 and
    remembered once they passed (:func:`~protocols.cmp.crmf.checked_once`:
    a client's names and chain come with each of its requests, the CA's name with every one,
    and pyasn1 takes about as long for one certificate as for all the rest of an ir); and
    the header's fields that are new in every message (:data:`_OWN_FIELDS`). The rest of the
    header is decoded once for all the messages that share it (:func:`_header_frame`), the
    body and protection under a placeholder header; the CertReqMessages of an ordinary ir,
    cr or kur are read by a walk of their DER instead (:func:`_body_by_parts`), pkiconf's
    NULL standing in for them, and then a protection of whole octets too, read from the
    DER (:func:`_protection_set_aside`, :func:`_placed_message`). None for a message out of
    the ordinary, or one that does not decode this way."""
    try:
        shortcut = _set_aside(der)
        if shortcut is None:
            return None
        rest, names, certificates = shortcut
        parts = der_children(rest)
        split = _split_header(parts[0][1])
        if split is None:
            return None
        frame, own = split
        header = _HeaderFields(_header_frame(frame), own)
        body, requests = _body_by_parts(parts[1][1])
        if requests is None:
            others = body + b"".join(raw for _tag, raw in parts[2:])
            placed = der_tlv(0x30, _HEADER_PLACEHOLDER + others)
            message = decode_der(placed, rfc9480.PKIMessage(), "PKIMessage")
        else:
            others = body + b"".join(_protection_set_aside(raw) for _tag, raw in parts[2:])
            message = _placed_message(der_tlv(0x30, _HEADER_PLACEHOLDER + others))
        for name in names:
            if not is_plain_directory_name(name):
                checked_once(name, "GeneralName")
        for certificate in certificates:
            checked_once(certificate, "CMPCertificate")
    except MalformedDER:  # DER's own errors too: the whole decoding says what is wrong
        return None
    return message, header, requests


class _HeaderFields:
    """A PKIHeader's fields as pyasn1 values, by name: those of ``own`` (read on their own,
    :func:`_split_header`), the others from ``header``, a decoded PKIHeader in which the
    fields of ``own`` are placeholders."""

    def __init__(self, header: Any, own: dict[str, Any] | None = None) -> None:
        self._header = header
        self._own = own or {}

    def __getitem__(self, name: str) -> Any:
        return self._own[name] if name in self._own else self._header[name]


# The PKIHeader fields that are new in every message: messageTime; protectionAlg, whose
# MAC parameters carry a fresh salt; the key ids, transactionID and nonces (RFC 4210
# 5.1.1). Each is read on its own, and a placeholder (a value of its type) stands in its
# place while the rest of the header is decoded.
_OWN_FIELDS = ("messageTime", "protectionAlg", "senderKID", "recipKID", "transactionID",
               "senderNonce", "recipNonce")  # fmt: skip
_TIME_PLACEHOLDER = der_tlv(0x18, b"20000101000000Z")
_ALGORITHM_PLACEHOLDER = bytes.fromhex("3003060100")  # { 0.0 }
_OCTETS_PLACEHOLDER = der_tlv(0x04, b"")


def _own_fields() -> dict[int, tuple[str, Any]]:
    """The fields of _OWN_FIELDS by their DER tag octet ([n] EXPLICIT, constructed), and
    their types, as rfc9480.PKIHeader declares them."""
    types = rfc9480.PKIHeader.componentType
    found = {}
    for name in _OWN_FIELDS:
        spec = types[types.getPositionByName(name)].asn1Object
        found[0xA0 | spec.tagSet[-1].tagId] = (name, spec)
    return found


_OWN_BY_TAG = _own_fields()
# pvno 2, sender and recipient the empty directoryName: the header under which the body and
# the protection are decoded, the real header being decoded apart.
_HEADER_PLACEHOLDER = bytes.fromhex("300b020102a4023000a4023000")


def _split_header(raw_header: bytes) -> tuple[bytes, dict[str, Any]] | None:
    """(the header with each field of :data:`_OWN_FIELDS` replaced by a placeholder, those
    fields read). An OCTET STRING is read from its DER (any octets are one) when it is
    primitive with DER's shortest lengths; messageTime is decoded as its type (and kept:
    messages of the same second share it); protectionAlg's AlgorithmIdentifier is only
    checked, by a walk of its DER when it is plain (crmf.plain_algorithm), else as pyasn1
    decodes it (crmf.checked_once): :func:`_header` and protection.py read it from the
    DER, so ``own`` has no value for it. None when a field is not in that form, or a length
    on the way is not DER's shortest. Raises MalformedDER."""
    fields = [raw for _tag, raw in der_children(raw_header)]
    frame, own = fields[:3], {}  # pvno, sender, recipient: then the [n] EXPLICIT fields
    for raw in fields[3:]:
        found = _OWN_BY_TAG.get(raw[0])
        if found is None:
            frame.append(raw)
            continue
        name, spec = found
        inner = der_contents(raw)
        if der_tlv(raw[0], inner) != raw:
            return None
        if name == "messageTime":
            own[name], placeholder = _message_time_value(raw), _TIME_PLACEHOLDER
        elif name == "protectionAlg":  # read from the DER by _header: checked here
            if plain_algorithm(inner) is None:
                checked_once(inner, "AlgorithmIdentifier")
            placeholder = _ALGORITHM_PLACEHOLDER
        else:
            if inner[:1] != b"\x04" or der_tlv(0x04, der_contents(inner)) != inner:
                return None
            own[name], placeholder = spec.clone(der_contents(inner)), _OCTETS_PLACEHOLDER
        frame.append(der_tlv(raw[0], placeholder))
    return der_tlv(0x30, b"".join(frame)), own


@functools.lru_cache(maxsize=64)
def _message_time_value(raw: bytes) -> Any:
    """messageTime's [0] EXPLICIT GeneralizedTime decoded as its type in PKIHeader, kept
    (read-only)."""
    types = rfc9480.PKIHeader.componentType
    return decode_der(raw, types[types.getPositionByName("messageTime")].asn1Object, "messageTime")


@functools.lru_cache(maxsize=64)
def _header_frame(frame: bytes) -> Any:
    """A PKIHeader with placeholders (:func:`_split_header`) decoded, and kept: the messages
    of one client, often of every client, share it. Read-only. Raises MalformedDER (not
    kept)."""
    return decode_der(frame, rfc9480.PKIHeader(), "PKIHeader")


# A GeneralName in the place of the header's sender and recipient while the rest is decoded:
# directoryName, the empty Name (RFC 4210 5.1.1's NULL-DN).
_NAME_SET_ASIDE = bytes.fromhex("a4023000")


def _set_aside(der: bytes) -> tuple[bytes, list[bytes], list[bytes]] | None:
    """(the PKIMessage with the header's sender and recipient replaced by a placeholder and
    without [1] extraCerts, those two names' DER, each certificate's DER). None unless the
    header has its three leading fields, extraCerts (if present) is the last element and
    holds at least one certificate (SIZE (1..MAX)), and every length on the way is DER's
    shortest (so that the two readings cannot differ)."""
    parts = der_children(der)
    if len(parts) < 2 or der != der_tlv(0x30, b"".join(raw for _tag, raw in parts)):
        return None
    raw_header = parts[0][1]
    fields = [raw for _tag, raw in der_children(raw_header)]
    if len(fields) < 3 or raw_header != der_tlv(0x30, b"".join(fields)):
        return None
    header = der_tlv(0x30, fields[0] + _NAME_SET_ASIDE * 2 + b"".join(fields[3:]))
    certificates: list[bytes] = []
    if parts[-1][0] == 0xA1 and len(parts) >= 3:
        wrapper = parts.pop()[1]
        sequence = der_contents(wrapper)
        certificates = [raw for _tag, raw in der_children(sequence)]
        if (
            not certificates
            or wrapper != der_tlv(0xA1, sequence)
            or sequence != der_tlv(0x30, b"".join(certificates))
        ):
            return None
    rest = der_tlv(0x30, header + b"".join(raw for _tag, raw in parts[1:]))
    return rest, fields[1:3], certificates


def _header(header: _HeaderFields, raw_header: bytes) -> Header:
    """The Header of a decoded PKIHeader; GeneralNames, protectionAlg and generalInfo are cut
    out of ``raw_header`` (children 1 and 2, the contents of [1] and of [8])."""
    pvno = int(header["pvno"])  # any: the responder answers unsupportedVersion (RFC 9483 3.5)
    children = der_children(raw_header)
    protection_algorithm = next(
        (der_contents(raw) for tag, raw in children[3:] if tag == 0xA1), None
    )
    general_info = next((der_contents(raw) for tag, raw in children[3:] if tag == 0xA8), None)
    return Header(
        pvno=pvno,
        sender=children[1][1],
        recipient=children[2][1],
        message_time=_message_time(header["messageTime"]),
        protection_algorithm=protection_algorithm,
        protection_oid=(
            read_algorithm(protection_algorithm)[0] if protection_algorithm is not None else None
        ),
        sender_kid=_octets(header["senderKID"]),
        recip_kid=_octets(header["recipKID"]),
        transaction_id=_octets(header["transactionID"]),
        sender_nonce=_octets(header["senderNonce"]),
        recip_nonce=_octets(header["recipNonce"]),
        implicit_confirm=_implicit_confirm(header["generalInfo"]),
        general_info=_info_items(general_info) if general_info else (),
    )


def _octets(value: Any) -> bytes | None:
    return bytes(value) if value.isValue else None


def _message_time(value: Any) -> datetime | None:
    """messageTime, GeneralizedTime in UTC (RFC 4210 5.1.1; X.690 11.7 requires the 'Z')."""
    if not value.isValue:
        return None
    try:
        moment = value.asDateTime
    except (PyAsn1Error, ValueError, TypeError) as exc:
        raise CMPFormatError(f"messageTime: {short_reason(exc)}") from None
    if moment.tzinfo is None:
        raise CMPFormatError("messageTime is not in UTC ('Z')")
    return moment  # type: ignore[no-any-return]


def _implicit_confirm(general_info: Any) -> bool:
    if not general_info.isValue:
        return False
    return any(str(item["infoType"]) == ID_IT_IMPLICIT_CONFIRM for item in general_info)


def _protection(parts: list[tuple[int, bytes]]) -> bytes | None:
    """The octets of the [0] PKIProtection BIT STRING (no unused bits), if present."""
    for tag, raw in parts[2:]:
        if tag == 0xA0:
            bits = der_contents(der_contents(raw))
            if not bits or bits[0] != 0:
                raise CMPFormatError("protection is not a whole number of octets")
            return bits[1:]
    return None


def _extra_certs(parts: list[tuple[int, bytes]]) -> tuple[bytes, ...]:
    """The DER certificates of [1] extraCerts, as received."""
    for tag, raw in parts[2:]:
        if tag == 0xA1:
            return tuple(cert for _tag, cert in der_children(der_contents(raw)))
    return ()


def _cert_confirms(content: Any) -> tuple[CertConfirm, ...]:
    """CertConfirmContent, RFC 4210 5.3.18 with the hashAlg [0] RFC 9480 adds."""
    confirms = []
    for status in content:
        status_info = status["statusInfo"]
        hash_alg = status["hashAlg"]
        confirms.append(
            CertConfirm(
                cert_hash=bytes(status["certHash"]),
                cert_req_id=int(status["certReqId"]),
                status=_status(status_info["status"]) if status_info.isValue else None,
                hash_algorithm=str(hash_alg["algorithm"]) if hash_alg.isValue else None,
                fail_info=_failure_bits(status_info["failInfo"]) if status_info.isValue else (),
            )
        )
    return tuple(confirms)


def _status(value: Any) -> PKIStatus:
    try:
        return PKIStatus(int(value))
    except ValueError:
        raise CMPFormatError(f"unknown PKIStatus {int(value)}") from None


# CertTemplate fields by their context tag number (RFC 4211 5).
_TEMPLATE_FIELDS = (
    "version", "serialNumber", "signingAlg", "issuer", "validity", "subject", "publicKey",
    "issuerUID", "subjectUID", "extensions",
)  # fmt: skip


def _revocations(content: Any, raw_content: bytes) -> tuple[RevocationRequest, ...]:
    """RevReqContent, RFC 9810 5.3.9: certDetails' serialNumber [1] and issuer [3], the
    names of all its fields (read from the DER: pyasn1 calls an absent all-OPTIONAL
    validity present), and the crlEntryDetails."""
    found = []
    raw_details = [der_children(raw)[0][1] for _tag, raw in der_children(raw_content)]
    for details, raw_template in zip(content, raw_details, strict=True):
        template = details["certDetails"]
        serial = template["serialNumber"]
        issuer = template["issuer"]
        version = template["version"]
        extensions = details["crlEntryDetails"]
        entries = tuple(extensions) if extensions.isValue else ()
        reasons = tuple(
            _crl_reason(bytes(entry["extnValue"]))
            for entry in entries
            if str(entry["extnID"]) == ID_CE_CRL_REASONS
        )
        found.append(
            RevocationRequest(
                serial=int(serial) if serial.isValue else None,
                issuer=encode_der(issuer["rdnSequence"]) if issuer.isValue else None,
                reason=next((reason for reason in reasons if reason is not None), None),
                template_fields=tuple(
                    _TEMPLATE_FIELDS[tag & 0x1F] for tag, _raw in der_children(raw_template)
                ),
                entry_extensions=tuple(str(entry["extnID"]) for entry in entries),
                reasons=reasons,
                version=int(version) if version.isValue else None,
            )
        )
    return tuple(found)


def _crl_reason(value: bytes) -> int | None:
    """A CRLReason extnValue (RFC 5280 5.3.1, ENUMERATED), None if it is not one."""
    try:
        return int(decode_der(value, rfc5280.CRLReason(), "CRLReason"))
    except (MalformedDER, PyAsn1Error, ValueError):
        return None


def _general_info(raw_content: bytes) -> tuple[GeneralInfo, ...]:
    """GenMsgContent (RFC 9810 5.3.19) cut from the DER: each infoType and its infoValue's
    octets as received (already checked to decode by pyasn1)."""
    return _info_items(raw_content)


def _info_items(raw_content: bytes) -> tuple[GeneralInfo, ...]:
    """The InfoTypeAndValue items of a DER SEQUENCE OF InfoTypeAndValue."""
    found = []
    for _tag, raw in der_children(raw_content):
        parts = der_children(raw)
        info_type = object_identifier(parts[0][1], "infoType")
        found.append(GeneralInfo(info_type, parts[1][1] if len(parts) > 1 else None))
    return tuple(found)


def is_null(value: bytes | None) -> bool:
    """Whether an infoValue is absent or the DER NULL (RFC 4210 5.1.1.1: ImplicitConfirmValue
    ::= NULL)."""
    return value is None or value == b"\x05\x00"


def is_generalized_time(value: bytes | None) -> bool:
    """Whether an infoValue is one DER GeneralizedTime (RFC 4210 5.1.1.2:
    ConfirmWaitTimeValue ::= GeneralizedTime; a UTCTime is not one)."""
    if value is None:
        return False
    try:
        _ = decode_der(value, useful.GeneralizedTime(), "GeneralizedTime").asDateTime
    except (MalformedDER, PyAsn1Error, ValueError, TypeError):
        return False
    return True


def parse_supp_lang_tags(value: bytes) -> tuple[str, ...]:
    """The language tags of an id-it-suppLangTags infoValue (RFC 9810 5.3.19.13:
    SEQUENCE SIZE (1..MAX) OF UTF8String), in the sender's order of preference. Raises
    CMPFormatError for anything else."""
    try:
        tags = decode_der(value, rfc9480.SuppLangTagsValue(), "suppLangTags")
        found = tuple(str(tag) for tag in tags)
    except (MalformedDER, PyAsn1Error, UnicodeError) as exc:
        raise CMPFormatError(f"suppLangTags: {short_reason(exc)}") from None
    if not found:
        raise CMPFormatError("suppLangTags: SIZE (1..MAX)")
    return found


def _crl_status_list(content: Any) -> tuple[CRLStatus, ...]:
    """The CRLStatus entries of an id-it-crlStatusList infoValue, if the genm has one."""
    for item in content:
        if str(item["infoType"]) != ID_IT_CRL_STATUS_LIST or not item["infoValue"].isValue:
            continue
        value = decode_der(bytes(item["infoValue"]), rfc9480.CRLStatusListValue(), "crlStatusList")
        return tuple(_crl_status(status) for status in value)
    return ()


def _crl_status(status: Any) -> CRLStatus:
    source = status["source"]
    uris: list[str] = []
    issuer = None
    if source.getName() == "dpn":
        name = source["dpn"]
        if name.getName() == "fullName":
            uris = [
                str(general["uniformResourceIdentifier"])
                for general in name["fullName"]
                if general.getName() == "uniformResourceIdentifier"
            ]
    else:
        issuer = encode_der(source["issuer"])
    this_update = status["thisUpdate"]
    moment = None
    if this_update.isValue:
        chosen = this_update.getComponent()
        moment = chosen.asDateTime.astimezone(UTC).replace(microsecond=0)
    return CRLStatus(tuple(uris), issuer, moment)


def _error_text(content: Any) -> str | None:
    """ErrorMsgContent's PKIStatusInfo (RFC 4210 5.3.21) for a log line: the failInfo bit
    names, then the statusString texts joined ("badPOP: no proof"); None if it has neither."""
    info = content["pKIStatusInfo"]
    strings = info["statusString"]
    text = "; ".join(str(line) for line in strings) if strings.isValue else ""
    names = ",".join(_failure_names(info["failInfo"]))
    if names and text:
        return f"{names}: {text}"
    return names or text or None


def _failure_bits(bits: Any) -> tuple[int, ...]:
    """The numbers of the PKIFailureInfo bits set, in order (RFC 4210 5.2.3)."""
    if not bits.isValue:
        return ()
    return tuple(index for index, bit in enumerate(bits) if bit)


def _failure_names(bits: Any) -> list[str]:
    """The names of the PKIFailureInfo bits set (numbers for bits beyond duplicateCertReq)."""
    last = FailureInfo.duplicateCertReq
    return [FailureInfo(i).name if i <= last else str(i) for i in _failure_bits(bits)]
