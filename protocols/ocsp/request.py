"""OCSP requests (RFC 6960 4.1) and the CertID that names a certificate in them.

Theory of operation: :func:`decode_get_path` turns the last segments of a GET URL into the
DER request (RFC 6960 Appendix A.1, RFC 5019 section 5); :func:`parse_ocsp_request` turns
DER into an :class:`OCSPRequest` or raises :class:`MalformedOCSPRequest`, the one error of
this module, which the server answers with responseStatus malformedRequest (RFC 6960 4.2.1).
Everything the parser reads is checked: the whole input is one DER value, the version is
v1, the list of requests is not empty, the nonce (RFC 8954) is 1..``max_nonce_length``
octets, and no unknown extension is critical (RFC 5280 4.2, which RFC 6960 4.4 follows).
What it does not need it does not read: the requestorName and the optional signature.

The parser walks the DER with ``_der.children`` instead of asn1crypto: a one-certificate
request takes about 15-20 µs that way against about 200 µs with asn1crypto's lazy objects,
and every level is checked for lengths that overrun their parent, which asn1crypto checks
only at the top. Every request without a cached answer goes through here.

A CertID (RFC 6960 4.1.1) is kept with its own DER, so that a response repeats the CertID
byte for byte as the client sent it. An unknown hash algorithm is not malformed: the CertID
keeps the dotted OID, and the server answers unauthorized (RFC 6960 2.3) for it, since no
certificate it knows can match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import urllib.parse
from typing import NamedTuple

from asn1crypto import core, keys

from hsm import gost_engine
from protocols.der import TLV, DERError, children, one, tlv

__all__ = [
    "HASH_ALGORITHMS",
    "CertID",
    "MalformedOCSPRequest",
    "OCSPRequest",
    "cert_id_for",
    "cert_id_with_hashes",
    "decode_get_path",
    "issuer_key_hash",
    "issuer_name_hash",
    "parse_ocsp_request",
]

# The CertID hash algorithms we compute, by name and OID (RFC 3279 2.2, RFC 5754 2), and
# GOST R 34.11-2012 (Streebog, RFC 9215), which Russian clients put in CertIDs
# (reference/ru-profile.md 7), hashed by hsm.gost_engine.
HASH_ALGORITHMS = {
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "streebog256": "1.2.643.7.1.1.2.2",
    "streebog512": "1.2.643.7.1.1.2.3",
}
_STREEBOG = frozenset({"streebog256", "streebog512"})
# AlgorithmIdentifier with NULL parameters, as OpenSSL sends it, and without parameters, as
# Bouncy Castle does (RFC 3279 2.2, RFC 5754 2 allow both; both are accepted when parsing,
# and a response repeats the form its request used, RFC 6960 4.2.1).
_HASH_ALGORITHM_DER = {
    (name, null): tlv(0x30, core.ObjectIdentifier(oid).dump() + (b"\x05\x00" if null else b""))
    for name, oid in HASH_ALGORITHMS.items()
    for null in (True, False)
}

ID_PKIX_OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2"  # RFC 6960 4.4.1, RFC 8954 section 2.1
# requestExtensions we know (RFC 6960 4.4): nonce, acceptable responses (4.4.3), preferred
# signature algorithms (4.4.7); singleRequestExtensions: service locator (4.4.6). We answer
# every one of them the same way (a basic response, signed with the responder's algorithm),
# so a critical one is accepted and otherwise ignored.
_KNOWN_REQUEST_EXTENSIONS = frozenset(
    core.ObjectIdentifier(oid).dump()
    for oid in (ID_PKIX_OCSP_NONCE, "1.3.6.1.5.5.7.48.1.4", "1.3.6.1.5.5.7.48.1.8")
)
_KNOWN_SINGLE_REQUEST_EXTENSIONS = frozenset({core.ObjectIdentifier("1.3.6.1.5.5.7.48.1.7").dump()})
_NONCE_OID_DER = core.ObjectIdentifier(ID_PKIX_OCSP_NONCE).dump()
_HASH_BY_OID_DER = {
    core.ObjectIdentifier(oid).dump(): name for name, oid in HASH_ALGORITHMS.items()
}
_BASE64 = re.compile(r"[A-Za-z0-9+/\-_]*={0,2}")


class MalformedOCSPRequest(ValueError):
    """The request cannot be parsed or breaks a rule of RFC 6960 / RFC 8954; the answer is
    responseStatus malformedRequest."""


class CertID(NamedTuple):
    """RFC 6960 4.1.1. ``hash_algorithm`` is a key of :data:`HASH_ALGORITHMS`, or the
    dotted OID of an algorithm we do not compute; ``der`` is this CertID's DER. A named
    tuple, not a dataclass: one is made for every request, and a frozen dataclass costs
    several times as much to make."""

    hash_algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    der: bytes


class OCSPRequest(NamedTuple):
    """RFC 6960 4.1.1: the CertIDs asked about, in request order, and the nonce's content
    (RFC 8954 section 2.1), or None without a nonce extension."""

    cert_ids: tuple[CertID, ...]
    nonce: bytes | None


def _hash(hash_algorithm: str, data: bytes) -> bytes:
    """Raises ValueError for an algorithm not in HASH_ALGORITHMS, or Streebog without the
    GOST engine (the reason hsm.gost_engine gives)."""
    if hash_algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"unsupported CertID hash algorithm {hash_algorithm!r}")
    if hash_algorithm in _STREEBOG:
        try:
            return gost_engine.digest(hash_algorithm, data)
        except gost_engine.GostError as exc:
            raise ValueError(f"{hash_algorithm} is not available ({exc})") from None
    return hashlib.new(hash_algorithm, data).digest()


def issuer_name_hash(issuer_name_der: bytes, hash_algorithm: str) -> bytes:
    """RFC 6960 4.1.1: the hash of the DER of the issuer's subject Name.

    Raises ValueError for a hash algorithm not in :data:`HASH_ALGORITHMS`, or Streebog
    without the GOST engine."""
    return _hash(hash_algorithm, issuer_name_der)


def issuer_key_hash(issuer_spki_der: bytes, hash_algorithm: str) -> bytes:
    """RFC 6960 4.1.1: the hash of the value of the subjectPublicKey BIT STRING of the
    issuer's SubjectPublicKeyInfo (without tag, length and unused-bits octet).

    Raises ValueError for undecodable DER or an unsupported hash algorithm."""
    try:
        contents = keys.PublicKeyInfo.load(issuer_spki_der, strict=True)["public_key"].contents
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a DER SubjectPublicKeyInfo ({exc})") from None
    if not contents or contents[0] != 0:
        raise ValueError("subjectPublicKey is not a whole number of octets")
    return _hash(hash_algorithm, contents[1:])


def cert_id_for(
    issuer_name_der: bytes,
    issuer_spki_der: bytes,
    serial: int,
    hash_algorithm: str = "sha1",
    null_parameters: bool = True,
) -> CertID:
    """The CertID (RFC 6960 4.1.1) of certificate ``serial`` of the issuer with that subject
    Name DER and SubjectPublicKeyInfo DER; hashAlgorithm carries NULL parameters unless
    ``null_parameters`` is false (then none).

    Raises ValueError for an unsupported hash algorithm or an undecodable SPKI."""
    name_hash = issuer_name_hash(issuer_name_der, hash_algorithm)
    key_hash = issuer_key_hash(issuer_spki_der, hash_algorithm)
    return cert_id_with_hashes(hash_algorithm, name_hash, key_hash, serial, null_parameters)


def cert_id_with_hashes(
    hash_algorithm: str,
    name_hash: bytes,
    key_hash: bytes,
    serial: int,
    null_parameters: bool = True,
) -> CertID:
    """The CertID (RFC 6960 4.1.1) of certificate ``serial`` from issuer hashes computed
    already (:func:`issuer_name_hash`, :func:`issuer_key_hash`), in DER: the serial as the
    shortest INTEGER (X.690 8.3.2), hashAlgorithm with NULL or no parameters.

    Raises KeyError for a hash algorithm not in :data:`HASH_ALGORITHMS`."""
    der = tlv(
        0x30,
        _HASH_ALGORITHM_DER[hash_algorithm, null_parameters]
        + tlv(0x04, name_hash)
        + tlv(0x04, key_hash)
        + tlv(0x02, serial.to_bytes(_integer_length(serial), "big", signed=True)),
    )
    return CertID(hash_algorithm, name_hash, key_hash, serial, der)


def _integer_length(value: int) -> int:
    """Octets of the shortest two's-complement form of `value` (X.690 8.3.2)."""
    return (value if value >= 0 else ~value).bit_length() // 8 + 1


def decode_get_path(path: str) -> bytes:
    """The DER request of a GET: the URL-encoded base64 of the DER request (RFC 6960
    Appendix A.1, RFC 5019 section 5). ``path`` is everything after the responder's
    "/ocsp/": raw base64 may contain '/', so it may span several path segments.

    Accepted: percent-encoded or raw '+', '/' and '='; missing '=' padding; the base64url
    alphabet ('-' and '_', RFC 4648 section 5). Raises MalformedOCSPRequest for anything
    else, including an empty path."""
    try:
        text = urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise MalformedOCSPRequest("GET path is not base64") from None
    if not text or not _BASE64.fullmatch(text):
        raise MalformedOCSPRequest("GET path is not base64")
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    if not text or len(text) % 4 == 1:
        raise MalformedOCSPRequest("GET path has a truncated base64 quantum")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedOCSPRequest("GET path is not base64") from None


def parse_ocsp_request(der: bytes, max_nonce_length: int = 32) -> OCSPRequest:
    """The CertIDs and nonce of a DER OCSPRequest (RFC 6960 4.1.1).

    A signed request (optionalSignature, RFC 6960 4.1.2) is accepted, but its signature and
    certificates are ignored: this responder answers anybody (it never sends sigRequired).
    The requestorName is ignored too, and so are the contents of known extensions other
    than the nonce (we always answer with a basic response, RFC 6960 4.4.3, signed with the
    responder key's algorithm, 4.4.7).

    Raises MalformedOCSPRequest for: input that is not exactly one DER OCSPRequest (empty,
    garbage, truncated, trailing bytes, indefinite lengths); a version other than v1; no
    requests; a nonce (RFC 8954 section 2.1) that is empty, longer than
    ``max_nonce_length`` octets or whose extnValue is not one OCTET STRING; an extension
    repeated in one list (RFC 5280 4.2); a critical extension we do not know (RFC 5280 4.2),
    in requestExtensions or singleRequestExtensions."""
    if not der:
        raise MalformedOCSPRequest("empty request")
    try:
        common = _parse_common(der, max_nonce_length)
        if common is not None:
            return common
        return _parse(der, max_nonce_length)
    except MalformedOCSPRequest:
        raise
    except DERError as exc:
        raise MalformedOCSPRequest(f"not a DER OCSPRequest: {exc}") from None
    except Exception as exc:  # any other surprise of hostile octets is malformed too
        raise MalformedOCSPRequest(f"not a DER OCSPRequest: {type(exc).__name__}") from None


def _head(der: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    """(start, stop) of the contents of the TLV of `tag` at `pos`, ending by `end`; stop
    is -1 for anything else, including length forms `_parse_common` leaves to `_parse`."""
    if pos + 2 > end or der[pos] != tag:
        return 0, -1
    length = der[pos + 1]
    start = pos + 2
    if length & 0x80:
        if length != 0x81 or start >= end:
            return 0, -1
        length = der[start]
        start += 1
    stop = start + length
    return (start, stop) if stop <= end else (0, -1)


def _parse_common(der: bytes, max_nonce_length: int) -> OCSPRequest | None:
    """The request of the shape nearly every client sends, read in one straight pass: one
    CertID of a hash we compute, no version, requestorName, singleRequestExtensions or
    signature, and either no requestExtensions or only a non-critical nonce of an allowed
    size. None for anything else, which `_parse` then reads (or refuses), so this never
    accepts what `_parse` would not, nor answers differently (tested by mutation). About a
    third of `_parse`'s time, on the OCSP listener's nonce path."""
    end = len(der)
    start, stop = _head(der, 0, end, 0x30)  # OCSPRequest
    if stop != end:
        return None
    tbs, tbs_end = _head(der, start, end, 0x30)
    if tbs_end != end:  # an optionalSignature follows
        return None
    requests, requests_end = _head(der, tbs, tbs_end, 0x30)  # requestList (no version...)
    request, request_end = _head(der, requests, requests_end, 0x30)
    if request_end < 0 or request_end != requests_end:  # several requests
        return None
    cert_id, cert_id_end = _head(der, request, request_end, 0x30)
    if cert_id_end < 0 or cert_id_end != request_end:  # singleRequestExtensions
        return None
    algorithm, algorithm_end = _head(der, cert_id, cert_id_end, 0x30)
    _, oid_end = _head(der, algorithm, algorithm_end, 0x06)
    if oid_end < 0 or (oid_end != algorithm_end and der[oid_end:algorithm_end] != b"\x05\x00"):
        return None
    name = _HASH_BY_OID_DER.get(der[algorithm:oid_end])
    name_hash, name_hash_end = _head(der, algorithm_end, cert_id_end, 0x04)
    key_hash, key_hash_end = _head(der, name_hash_end, cert_id_end, 0x04)
    serial, serial_end = _head(der, key_hash_end, cert_id_end, 0x02)
    if name is None or name_hash_end < 0 or key_hash_end < 0 or serial_end != cert_id_end:
        return None
    if serial == serial_end:
        return None
    nonce = None
    if requests_end != tbs_end:  # requestExtensions [2]: only the nonce
        extensions, extensions_end = _head(der, requests_end, tbs_end, 0xA2)
        if extensions_end != tbs_end:
            return None
        listed, listed_end = _head(der, extensions, extensions_end, 0x30)
        extension, extension_end = _head(der, listed, listed_end, 0x30)
        if listed_end != extensions_end or extension_end != listed_end:
            return None
        value_at = extension + len(_NONCE_OID_DER)
        if der[extension:value_at] != _NONCE_OID_DER:
            return None
        value, value_end = _head(der, value_at, extension_end, 0x04)  # no `critical`
        inner, inner_end = _head(der, value, value_end, 0x04)
        if value_end != extension_end or inner_end != value_end:
            return None
        if not 1 <= inner_end - inner <= max_nonce_length:
            return None
        nonce = der[inner:inner_end]
    return OCSPRequest(
        (
            CertID(
                name,
                der[name_hash:name_hash_end],
                der[key_hash:key_hash_end],
                int.from_bytes(der[serial:serial_end], "big", signed=True),
                der[request:cert_id_end],
            ),
        ),
        nonce,
    )


def _parse(der: bytes, max_nonce_length: int) -> OCSPRequest:
    # OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT OPTIONAL }
    outer = one(der, 0, len(der), 0x30)
    fields = children(der, outer.start, outer.end)
    if not fields or fields[0].tag != 0x30 or [f.tag for f in fields[1:]] not in ([], [0xA0]):
        raise DERError("OCSPRequest is not { tbsRequest, [0] optionalSignature }")
    # TBSRequest ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, requestorName [1] EXPLICIT
    #   OPTIONAL, requestList SEQUENCE OF Request, requestExtensions [2] EXPLICIT OPTIONAL }
    tbs = children(der, fields[0].start, fields[0].end)
    tags = [field.tag for field in tbs]
    if tags and tags[0] == 0xA0:
        # DER leaves the DEFAULT out (X.690 11.5); an explicit v1 is tolerated.
        version = one(der, tbs[0].start, tbs[0].end, 0x02)
        if der[version.start : version.end] != b"\x00":
            raise MalformedOCSPRequest("OCSPRequest version is not v1 (RFC 6960 4.1.1)")
        tbs, tags = tbs[1:], tags[1:]
    if tags and tags[0] == 0xA1:
        tbs, tags = tbs[1:], tags[1:]
    if tags not in ([0x30], [0x30, 0xA2]):
        raise DERError("TBSRequest fields out of order or missing")
    nonce_value = None
    if len(tbs) == 2:
        extensions = one(der, tbs[1].start, tbs[1].end, 0x30)
        nonce_value = _extensions(der, extensions, _KNOWN_REQUEST_EXTENSIONS, "request")
    cert_ids = []
    # Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT OPTIONAL }
    for request in children(der, tbs[0].start, tbs[0].end):
        parts = children(der, request.start, request.end) if request.tag == 0x30 else []
        if [part.tag for part in parts] not in ([0x30], [0x30, 0xA0]):
            raise DERError("Request is not { reqCert, [0] singleRequestExtensions }")
        if len(parts) == 2:
            extensions = one(der, parts[1].start, parts[1].end, 0x30)
            _extensions(der, extensions, _KNOWN_SINGLE_REQUEST_EXTENSIONS, "single request")
        cert_ids.append(_cert_id(der, parts[0]))
    if not cert_ids:
        raise MalformedOCSPRequest("requestList is empty (RFC 6960 4.1.1)")
    nonce = None if nonce_value is None else _nonce(nonce_value, max_nonce_length)
    return OCSPRequest(tuple(cert_ids), nonce)


def _cert_id(der: bytes, cert_id: TLV) -> CertID:
    """CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING,
    issuerKeyHash OCTET STRING, serialNumber INTEGER } (RFC 6960 4.1.1)."""
    fields = children(der, cert_id.start, cert_id.end)
    if [field.tag for field in fields] != [0x30, 0x04, 0x04, 0x02]:
        raise DERError("CertID is not { hashAlgorithm, issuerNameHash, issuerKeyHash, serial }")
    algorithm, name_hash, key_hash, serial = fields
    # AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }: NULL and
    # absent parameters are both accepted (RFC 5754 section 2), others ignored.
    parts = children(der, algorithm.start, algorithm.end)
    if not 1 <= len(parts) <= 2 or parts[0].tag != 0x06:
        raise DERError("hashAlgorithm is not an AlgorithmIdentifier")
    oid = der[parts[0].offset : parts[0].end]
    name = _HASH_BY_OID_DER.get(oid) or _dotted(oid)
    if serial.start == serial.end:
        raise DERError("empty INTEGER")
    return CertID(
        hash_algorithm=name,
        issuer_name_hash=der[name_hash.start : name_hash.end],
        issuer_key_hash=der[key_hash.start : key_hash.end],
        serial=int.from_bytes(der[serial.start : serial.end], "big", signed=True),
        der=der[cert_id.offset : cert_id.end],
    )


def cert_id_from_der(der: bytes) -> CertID:
    """The :class:`CertID` of one DER CertID. Raises DERError if it is not one."""
    return _cert_id(der, one(der, 0, len(der), 0x30))


def _extensions(der: bytes, extensions: TLV, known: frozenset[bytes], where: str) -> bytes | None:
    """Check one Extensions list (RFC 5280 4.1: Extension ::= SEQUENCE { extnID,
    critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }); returns the nonce
    extension's extnValue octets when ``where`` is "request" and it is there."""
    seen = set()
    nonce = None
    for extension in children(der, extensions.start, extensions.end):
        parts = children(der, extension.start, extension.end) if extension.tag == 0x30 else []
        tags = [part.tag for part in parts]
        if tags not in ([0x06, 0x04], [0x06, 0x01, 0x04]):
            raise DERError("Extension is not { extnID, critical, extnValue }")
        oid = der[parts[0].offset : parts[0].end]
        if oid in seen:
            raise MalformedOCSPRequest(f"{where} extension {_dotted(oid)} repeats (RFC 5280 4.2)")
        seen.add(oid)
        critical = len(parts) == 3 and der[parts[1].start : parts[1].end] != b"\x00"
        if critical and oid not in known:
            raise MalformedOCSPRequest(f"unknown critical {where} extension {_dotted(oid)}")
        if oid == _NONCE_OID_DER and where == "request":
            nonce = der[parts[-1].start : parts[-1].end]
    return nonce


def _dotted(oid_der: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's DER (rare path: unknown OIDs only)."""
    try:
        return str(core.ObjectIdentifier.load(oid_der, strict=True).dotted)
    except (ValueError, TypeError) as exc:
        raise DERError(f"bad OBJECT IDENTIFIER ({exc})") from None


def _nonce(extn_value: bytes, max_length: int) -> bytes:
    """RFC 8954 section 2.1: extnValue holds the DER of Nonce ::= OCTET STRING (SIZE(1..32)).

    Raises MalformedOCSPRequest if it is not one OCTET STRING or its size is wrong."""
    try:
        value = one(extn_value, 0, len(extn_value), 0x04)
    except DERError as exc:
        raise MalformedOCSPRequest(f"nonce is not an OCTET STRING ({exc})") from None
    nonce = extn_value[value.start : value.end]
    if not 1 <= len(nonce) <= max_length:
        raise MalformedOCSPRequest(
            f"nonce of {len(nonce)} octets, not 1..{max_length} (RFC 8954 section 2)"
        )
    return nonce
