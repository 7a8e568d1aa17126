"""X.509 v3 certificates: to-be-signed bytes out, signed certificate assembled in.

Theory of operation (STYLE.md rule 5, "record intent, then sign"):

1. the caller fills a :class:`CertificateTemplate` and calls :func:`build_tbs_certificate`,
   which checks it and returns the DER TBSCertificate (RFC 5280 4.1.2);
2. the caller records those bytes, and has them signed elsewhere (this package never signs)
   with the scheme that follows the issuer key: P-256 -> ECDSA with SHA-256 (DER
   Ecdsa-Sig-Value), P-384 -> ECDSA with SHA-384, RSA -> PKCS#1 v1.5 with SHA-256,
   Ed25519 -> the 64 raw octets; GOST R 34.10-2012 256/512-bit -> GOST R 34.10-2012 with
   Streebog-256/512, s || r big-endian (RFC 9215; hsm.gost_engine signs);
3. :func:`assemble_certificate` wraps exactly those TBS octets, the algorithm and the
   signature into the Certificate SEQUENCE (RFC 5280 4.1.1).

Algorithm names are asn1crypto's (``algos.SignedDigestAlgorithmId``): "sha256_ecdsa",
"sha384_ecdsa", "sha256_rsa", "ed25519", and "gost2012_256", "gost2012_512" (registered by
protocols/gost.py).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, core, keys
from asn1crypto import x509 as asn1_x509

from protocols import der, gost
from protocols.der import spki_parts

__all__ = [
    "SIGNATURE_ALGORITHMS",
    "CertificateTemplate",
    "assemble_certificate",
    "build_tbs_certificate",
    "signature_algorithm_for",
]

SIGNATURE_ALGORITHMS = frozenset(
    {"sha256_ecdsa", "sha384_ecdsa", "sha256_rsa", "ed25519", *gost.SIGNATURE_NAMES.values()}
)
_GENERALIZED_FROM = datetime(2050, 1, 1, tzinfo=UTC)
_VERSION_V3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT Version ::= v3(2), RFC 5280 4.1.2.1
_MAX_SERIAL = 1 << (20 * 8 - 1)  # RFC 5280 4.1.2.2: at most 20 octets, positive
_EMPTY_NAME = b"\x30\x00"  # a Name whose RDNSequence is empty


@dataclass(frozen=True)
class CertificateTemplate:
    """Everything in a TBSCertificate. Datetimes must be timezone-aware; microseconds are
    dropped (RFC 5280 4.1.2.5: whole seconds). ``signature_algorithm`` is one of
    :data:`SIGNATURE_ALGORITHMS`, usually from :func:`signature_algorithm_for`."""

    serial: int
    issuer: asn1_x509.Name
    subject: asn1_x509.Name
    spki_der: bytes
    not_before: datetime
    not_after: datetime
    extensions: tuple[asn1_x509.Extension, ...]
    signature_algorithm: str


def signature_algorithm_for(issuer_spki_der: bytes) -> str:
    """The signature algorithm the issuer key signs with: EC P-256 -> "sha256_ecdsa",
    P-384 -> "sha384_ecdsa", RSA -> "sha256_rsa", Ed25519 -> "ed25519", GOST R 34.10-2012
    256-bit -> "gost2012_256", 512-bit -> "gost2012_512".

    Raises ValueError for another key type or curve, or undecodable DER."""
    if gost.is_gost_spki(issuer_spki_der):
        try:
            key = gost.read_spki(issuer_spki_der)
        except ValueError as exc:
            raise ValueError(f"issuer key not supported ({exc})") from None
        return gost.SIGNATURE_NAMES[key.key_size]
    try:
        info = keys.PublicKeyInfo.load(issuer_spki_der)
        algorithm = info.algorithm
        curve = info.curve[1] if algorithm == "ec" else None
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"issuer key not supported ({exc})") from None
    if algorithm == "rsa":
        return "sha256_rsa"
    if algorithm == "ed25519":
        return "ed25519"
    if curve == "secp256r1":
        return "sha256_ecdsa"
    if curve == "secp384r1":
        return "sha384_ecdsa"
    raise ValueError(f"issuer key not supported: {algorithm} {curve or ''}".strip())


def _algorithm_identifier(name: str) -> algos.SignedDigestAlgorithm:
    """RFC 4055 section 5: sha256WithRSAEncryption carries NULL parameters; RFC 5758 3.2
    (ECDSA) and RFC 8410 section 3 (Ed25519): parameters absent. GOST: absent too, as in
    RFC 9215's own example certificates (its Appendix) and as RFC 4491 2.2.2 says of the
    2001 algorithm ("the encoding SHALL omit the parameters field"); gost-engine writes
    NULL, which readers here accept (protocols/gost.py signature_parameters_valid)."""
    if name not in SIGNATURE_ALGORITHMS:
        raise ValueError(f"unsupported signature algorithm {name!r}")
    if name == "sha256_rsa":
        return algos.SignedDigestAlgorithm({"algorithm": name, "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": name})


@functools.cache
def _algorithm_identifier_der(name: str) -> bytes:
    """The DER of :func:`_algorithm_identifier`, encoded once per algorithm: every TBS and
    every certificate of an issuer carries the same one."""
    return bytes(_algorithm_identifier(name).dump())


def algorithm_identifier(name: str) -> bytes:
    """The DER AlgorithmIdentifier of the signature algorithm `name`, as certificates
    carry it (also what a CA's own certification request carries: protocols/x509/ca_request.py)."""
    return _algorithm_identifier_der(name)


def _time(field: str, moment: datetime) -> asn1_x509.Time:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always UTC, 'Z'."""
    if moment.tzinfo is None:
        raise ValueError(f"{field} must be timezone-aware")
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment >= _GENERALIZED_FROM:
        return asn1_x509.Time(name="general_time", value=core.GeneralizedTime(moment))
    return asn1_x509.Time(name="utc_time", value=core.UTCTime(moment))


def _time_der(field: str, moment: datetime) -> bytes:
    """The DER of :func:`_time`. Raises ValueError for a naive datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"{field} must be timezone-aware")
    return _kept_time_der(moment.astimezone(UTC).replace(microsecond=0))


@functools.lru_cache(maxsize=64)
def _kept_time_der(moment: datetime) -> bytes:
    """Kept a while: the certificates issued within one second share their notBefore, and
    those of one profile their notAfter too."""
    return bytes(_time("", moment).dump())


_ALGORITHMS_READ: set[bytes] = set()  # AlgorithmIdentifiers read whole before; a few kinds
_ALGORITHMS_KEPT = 64


def _check_spki(spki_der: bytes) -> None:
    """Raises ValueError unless the SPKI parses as asn1crypto's PublicKeyInfo, its
    AlgorithmIdentifier read whole (the parameters by the algorithm's spec); a GOST key
    must moreover be one protocols/gost.py reads (a known parameter set, X || Y whole).

    The same AlgorithmIdentifier octets read the same way every time, and nearly every key
    of a CA has one of a few, so those read once are not read again; a SPKI that is plain
    DER around one of them is not read by asn1crypto either (both took about 35 µs per
    certificate). Anything else is read by asn1crypto, for its exact verdict."""
    if gost.is_gost_spki(spki_der):
        gost.read_spki(spki_der)  # the parameter set and the key's length, which vary by key
    parts = spki_parts(spki_der)
    if parts is not None and parts[0] in _ALGORITHMS_READ:
        return
    try:
        algorithm = keys.PublicKeyInfo.load(spki_der, strict=True)["algorithm"]
        algorithm.native  # noqa: B018
    except ValueError as exc:
        raise ValueError(f"subjectPublicKeyInfo does not parse ({exc})") from None
    if len(_ALGORITHMS_READ) >= _ALGORITHMS_KEPT:
        _ALGORITHMS_READ.clear()
    _ALGORITHMS_READ.add(algorithm.dump())


def build_tbs_certificate(template: CertificateTemplate) -> bytes:
    """The DER TBSCertificate (version v3) of ``template``.

    Raises ValueError if the serial is not positive or exceeds 20 octets, a datetime is
    naive, the validity is empty, the SPKI does not parse, an extension repeats (RFC 5280
    4.2), the subject is empty without a critical subjectAltName (4.1.2.6, 4.2.1.6), or the
    algorithm is not one of SIGNATURE_ALGORITHMS."""
    if not 0 < template.serial < _MAX_SERIAL:
        raise ValueError("serial number must be positive and at most 20 octets")
    not_before = _time_der("not_before", template.not_before)
    not_after = _time_der("not_after", template.not_after)
    if template.not_after.replace(microsecond=0) < template.not_before.replace(microsecond=0):
        raise ValueError("notAfter is before notBefore")
    _check_spki(template.spki_der)
    encoded = [extension.dump() for extension in template.extensions]
    extension_ids = [
        _extension_id(extension, der)
        for extension, der in zip(template.extensions, encoded, strict=True)
    ]
    if len(set(extension_ids)) != len(extension_ids):
        raise ValueError("an extension appears more than once (RFC 5280 4.2)")
    subject = template.subject.dump()
    if subject == _EMPTY_NAME:
        san = [e for e in template.extensions if e["extn_id"].dotted == "2.5.29.17"]
        if not san or not san[0]["critical"].native:
            raise ValueError("an empty subject needs a critical subjectAltName (RFC 5280 4.2.1.6)")
    # The TBSCertificate SEQUENCE (RFC 5280 4.1) is joined from its fields' DER, each encoded
    # by asn1crypto: rebuilding a whole asn1crypto tree costs most of an issuance's CPU
    # (about 0.8 ms against 0.1 ms here), because it re-walks every extension.
    fields = [
        _VERSION_V3,
        core.Integer(template.serial).dump(),
        _algorithm_identifier_der(template.signature_algorithm),
        template.issuer.dump(),
        _sequence(not_before + not_after),
        subject,
        template.spki_der,
    ]
    if template.extensions:
        extensions = _sequence(b"".join(encoded))
        fields.append(_tagged(0xA3, extensions))  # [3] EXPLICIT Extensions
    return _sequence(b"".join(fields))


def assemble_certificate(tbs_der: bytes, signature_algorithm: str, signature: bytes) -> bytes:
    """The DER Certificate: SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    (RFC 5280 4.1.1), with ``tbs_der`` copied byte for byte.

    Raises ValueError if ``tbs_der`` does not parse, its inner signature algorithm differs
    from ``signature_algorithm`` (RFC 5280 4.1.1.2 requires them equal), or the signature
    is empty."""
    if not signature:
        raise ValueError("empty signature")
    algorithm = _algorithm_identifier_der(signature_algorithm)
    if _inner_algorithm(tbs_der) != algorithm:  # not plainly so: asn1crypto's verdict
        try:
            tbs = asn1_x509.TbsCertificate.load(tbs_der, strict=True)
            inner = tbs["signature"].dump()
        except ValueError as exc:
            raise ValueError(f"not a DER TBSCertificate ({exc})") from None
        if inner != algorithm:
            raise ValueError("signature algorithm differs from the one inside the TBSCertificate")
    bit_string = core.OctetBitString(signature).dump()
    body = tbs_der + algorithm + bit_string
    return _sequence(body)


def _extension_id(extension: asn1_x509.Extension, encoded: bytes) -> bytes:
    """The extnID's DER (OID TLV) of an extension encoded as `encoded`: its first field, read
    by the DER walk when `encoded` is plain DER opening with an OBJECT IDENTIFIER, as every
    extension the CA builds is (asn1crypto read each new certificate's subjectKeyIdentifier
    whole to give its id, about 8 µs); from asn1crypto otherwise. DER writes an OID one way
    only, so equal ids have equal octets."""
    try:
        outer = der.one(encoded, 0, len(encoded), 0x30)
        first = der.children(encoded, outer.start, outer.end)[0]
    except (der.DERError, IndexError):
        first = None
    if first is None or first.tag != 0x06:
        return bytes(extension["extn_id"].dump())
    return encoded[first.offset : first.end]


# The TBSCertificate's fields by their tags (RFC 5280 4.1): [0] version, serialNumber,
# signature, issuer, validity, subject, subjectPublicKeyInfo, [1] issuerUniqueID, [2]
# subjectUniqueID, [3] extensions; the optional ones may be absent.
_TBS_FIELDS = re.compile(rb"\xa0?\x02\x30\x30\x30\x30\x30\x81?\x82?\xa3?", re.DOTALL)


def _inner_algorithm(tbs_der: bytes) -> bytes | None:
    """The signature AlgorithmIdentifier of a TBSCertificate whose fields read as plain DER
    TLVs with the tags RFC 5280 gives them; None for anything else, which asn1crypto reads
    (it took about 15 µs to read every certificate's)."""
    try:
        outer = der.one(tbs_der, 0, len(tbs_der), 0x30)
        fields = der.children(tbs_der, outer.start, outer.end)
    except der.DERError:
        return None
    if not _TBS_FIELDS.fullmatch(bytes(field.tag for field in fields)):
        return None
    signature = fields[2] if fields[0].tag == 0xA0 else fields[1]
    return tbs_der[signature.offset : signature.end]


def _sequence(body: bytes) -> bytes:
    """A DER SEQUENCE header (X.690 8.1.3, definite length) followed by ``body``."""
    return _tagged(0x30, body)


def _tagged(tag: int, body: bytes) -> bytes:
    """A constructed DER TLV with definite length (X.690 8.1.3)."""
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + body
