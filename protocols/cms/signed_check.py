"""Checking a CMS SignedData over a document (RFC 5652 section 5.6): what each SignerInfo's
cryptography says, with no trust decision. Bytes in, facts out, no I/O.

Whether the signer's certificate is trusted, valid at signing time and fit for the use is
the CA's business (server/confirmation/); this module says only what the signature
itself proves: which certificate it names, whether the document's digest is the signed
messageDigest, whether the signature value verifies with that certificate's key, when it
claims to have been made, and whether a CAdES signingCertificate(V2) names that certificate.

Theory of operation.

1. :func:`read_signed_data` loads the ContentInfo (DER, BER with indefinite lengths, or PEM)
   with asn1crypto and parses every SignerInfo through, so that a malformed signature is
   refused there, as NotSignedData, and never half-way through a check.
2. :func:`check_signers` takes each SignerInfo in turn: it finds the certificate its sid
   names (5.3), digests the content with the digestAlgorithm, compares the signed
   contentType and messageDigest (11.1, 11.2), and verifies the signature over the DER
   SET OF signed attributes (the octets received, re-tagged 0x31, never re-sorted) or over
   the content when there are none (5.4).
3. The signature is verified by protocols.x509.signatures.signature_valid, which takes an X.509
   signature AlgorithmIdentifier. CMS writers name the algorithm as a (digestAlgorithm,
   signatureAlgorithm) pair, often with the key's OID as the signature algorithm
   (rsaEncryption by openssl, id-ecPublicKey by some, the GOST key OID by gost-engine and
   CryptoPro: reference/ru-profile.md 5.2); :func:`_verification_algorithm` maps the pair
   to that one AlgorithmIdentifier, or says why it cannot (then ``unsupported``).

Streebog digests and GOST signatures go through hsm.gost_engine; without the engine they
are ``unsupported``, not invalid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from asn1crypto import algos, cms, core, pem, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes

from hsm import gost_engine
from protocols import gost
from protocols.cms.signed import ID_DATA, ID_SIGNED_DATA
from protocols.der import DERError, tlv
from protocols.x509.signatures import signature_valid

__all__ = [
    "NotSignedData",
    "SignedDocument",
    "SignerCheck",
    "check_signers",
    "digest_by_oid",
    "read_signed_data",
]

_PEM_LABELS = frozenset({"CMS", "PKCS7"})  # RFC 7468 section 9 (and the older label)
# The exceptions asn1crypto raises on octets that are not what it expects.
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)

# Signed attributes (RFC 5652 section 11; RFC 2634 5.4; RFC 5035 section 3).
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_TIME = "1.2.840.113549.1.9.5"
_SIGNATURE_TIMESTAMP = "1.2.840.113549.1.9.16.2.14"  # id-aa-signatureTimeStampToken, RFC 3161
_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"

# Digest algorithms by OID (RFC 3370 2.1, RFC 5754 2, RFC 9215 / ru-profile.md 5.1).
_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    gost.DIGEST_OIDS[256]: gost.DIGEST_NAMES[256],
    gost.DIGEST_OIDS[512]: gost.DIGEST_NAMES[512],
}
_SHA: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_SHA2 = frozenset({"sha224", "sha256", "sha384", "sha512"})

# Signature algorithms as CMS writers put them (RFC 3370 3.2, RFC 5754 3, RFC 5753 7.1.3,
# RFC 4056, RFC 8419 3, ru-profile.md 5.2).
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
_RSA_PKCS1 = {  # RFC 4055 section 5; the hash -> sha*WithRSAEncryption
    "sha224": "1.2.840.113549.1.1.14",
    "sha256": "1.2.840.113549.1.1.11",
    "sha384": "1.2.840.113549.1.1.12",
    "sha512": "1.2.840.113549.1.1.13",
}
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_ECDSA = {  # RFC 5758 section 3.2; the hash -> ecdsa-with-SHA*
    "sha224": "1.2.840.10045.4.3.1",
    "sha256": "1.2.840.10045.4.3.2",
    "sha384": "1.2.840.10045.4.3.3",
    "sha512": "1.2.840.10045.4.3.4",
}
_RSASSA_PSS = "1.2.840.113549.1.1.10"
_ED25519 = "1.3.101.112"
# GOST R 34.10-2012: the signature OID, or the key OID as gost-engine and CryptoPro write it.
_GOST_SIZES = {
    **{oid: size for size, oid in gost.SIGNATURE_OIDS.items()},
    **{oid: size for size, oid in gost.KEY_OIDS.items()},
}
_NULL = b"\x05\x00"


class NotSignedData(ValueError):
    """The bytes are not a CMS ContentInfo holding SignedData (DER, BER or PEM)."""


@dataclass(frozen=True)
class SignedDocument:
    """A parsed SignedData: the encapsulated content when attached (None when detached),
    the certificates and CRLs it carries (DER), its raw SignerInfos, and the eContentType
    (dotted; the contentType attribute must equal it, RFC 5652 11.1)."""

    content: bytes | None
    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    signer_infos: tuple[object, ...]  # asn1crypto cms.SignerInfo, opaque to callers
    content_type: str = ID_DATA


@dataclass(frozen=True)
class SignerCheck:
    """What one SignerInfo proves.

    `certificate_der` is the certificate the sid names (RFC 5652 5.3: issuerAndSerialNumber
    or subjectKeyIdentifier), found among the SignedData's certificates or the caller's
    `known_certificates`; None when neither holds it (then `signature_valid` is None).

    `message_digest_valid`: the messageDigest attribute equals the digest of the content
    (RFC 5652 5.4, 11.2); None when there are no signed attributes. `content_type_valid`:
    the contentType attribute equals eContentType (11.1); without signed attributes None
    over id-data and False over another type (5.3: they MUST be present then).
    `signature_valid`: the signature verifies over the DER SET OF signed attributes, or
    over the content when there are none (5.4). `signing_time`: the signingTime attribute
    (11.3), None when absent. `signing_certificate`: "absent", "match" or "mismatch" for
    ESS signingCertificate / signingCertificateV2 (RFC 2634 5.4, RFC 5035 3) against
    `certificate_der` ("mismatch" too when there is no certificate to compare, or its hash
    algorithm is unknown). `unsupported`: a short reason when a digest or signature
    algorithm is not one this module knows, or the GOST engine is not there to compute it
    (then the validity fields are None). `signature_value`: the SignerInfo's signature, which
    a signature timestamp stamps; `timestamp_tokens`: the DER of each
    id-aa-signatureTimeStampToken among the unsigned attributes (RFC 3161 Appendix A), not
    checked here.
    """

    index: int
    issuer_der: bytes | None  # the sid's issuer Name (DER), None for a subjectKeyIdentifier
    serial_number: int | None
    subject_key_identifier: bytes | None
    certificate_der: bytes | None
    digest_algorithm: str  # dotted OID
    signature_algorithm: str  # dotted OID, as written
    signed_attributes: bool
    content_type_valid: bool | None
    message_digest_valid: bool | None
    signature_valid: bool | None
    signing_time: datetime | None
    signing_certificate: str
    unsupported: str | None
    signature_value: bytes = b""
    timestamp_tokens: tuple[bytes, ...] = ()


class _Unsupported(Exception):
    """An algorithm this module cannot check; the text is SignerCheck.unsupported."""


def read_signed_data(signature: bytes) -> SignedDocument:
    """Parse a ContentInfo with SignedData from DER, BER (indefinite lengths, as openssl
    cms writes for streaming) or PEM ("CMS", "PKCS7"). A SignedData with no SignerInfo (a
    degenerate, certificates-only one, RFC 5652 5.2) is read, with no signer_infos.
    Raises NotSignedData."""
    data = _unarmored(signature)
    if not data:
        raise NotSignedData("no octets")
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].dotted != ID_SIGNED_DATA:
            raise NotSignedData(f"a ContentInfo of {info['content_type'].dotted}, not SignedData")
        signed = info["content"]
        encapsulated = signed["encap_content_info"]
        content_type = encapsulated["content_type"].dotted
        raw_content = encapsulated["content"]
        if isinstance(raw_content, core.Void):
            content = None
        elif isinstance(raw_content, core.ParsableOctetString):  # a type asn1crypto knows
            content = bytes(raw_content)  # (TSTInfo...): the octets, not the parsed value
        else:
            content = raw_content.native
        if content is not None and not isinstance(content, bytes):
            raise NotSignedData("the encapsulated content is not an OCTET STRING")
        signed["digest_algorithms"].native  # noqa: B018 (parse it now, refuse it here)
        certificates = tuple(
            choice.chosen.dump()
            for choice in _present(signed["certificates"])
            if choice.name == "certificate"  # RFC 5652 10.2.2: plain X.509 only
        )
        crls = tuple(
            choice.chosen.dump() for choice in _present(signed["crls"]) if choice.name == "crl"
        )
        signer_infos = tuple(signed["signer_infos"])
        for signer_info in signer_infos:
            signer_info.native  # noqa: B018 (every field and attribute value, parsed now)
    except NotSignedData:
        raise
    except _PARSE_ERRORS as exc:
        raise NotSignedData(f"not a CMS SignedData: {_short(exc)}") from None
    return SignedDocument(content, certificates, crls, signer_infos, content_type)


def check_signers(
    signed: SignedDocument, document: bytes | None, known_certificates: Sequence[bytes] = ()
) -> list[SignerCheck]:
    """Check every SignerInfo of `signed` over `document` (the detached content), or over
    the encapsulated content when `document` is None. Raises NotSignedData when there is
    neither a document nor encapsulated content."""
    content = document if document is not None else signed.content
    if content is None:
        raise NotSignedData("a detached signature and no document to check it over")
    candidates = _certificates([*signed.certificates, *known_certificates])
    return [
        _check(index, signer_info, content, signed.content_type, candidates)
        for index, signer_info in enumerate(signed.signer_infos)
    ]


# --- one SignerInfo ------------------------------------------------------------------------


def _check(
    index: int,
    signer_info: Any,
    content: bytes,
    content_type: str,
    candidates: list[_Candidate],
) -> SignerCheck:
    sid = signer_info["sid"]
    issuer_der = serial = key_identifier = None
    if sid.name == "issuer_and_serial_number":  # RFC 5652 5.3, 10.2.4
        issuer_der = sid.chosen["issuer"].dump()
        serial = sid.chosen["serial_number"].native
    else:
        key_identifier = sid.chosen.native
    found = _signer_certificate(sid, candidates)
    certificate_der = found.der if found else None
    digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
    signature_oid = signer_info["signature_algorithm"]["algorithm"].dotted
    attributes = signer_info["signed_attrs"]
    has_attributes = not isinstance(attributes, core.Void)
    values = _attribute_values(attributes) if has_attributes else {}
    facts = SignerCheck(
        index=index,
        issuer_der=issuer_der,
        serial_number=serial,
        subject_key_identifier=key_identifier,
        certificate_der=certificate_der,
        digest_algorithm=digest_oid,
        signature_algorithm=signature_oid,
        signed_attributes=has_attributes,
        content_type_valid=None,
        message_digest_valid=None,
        signature_valid=None,
        signing_time=_signing_time(values.get(_SIGNING_TIME, [])),
        signing_certificate=_signing_certificate(values, found),
        unsupported=None,
        signature_value=signer_info["signature"].native,
        timestamp_tokens=_timestamp_tokens(signer_info["unsigned_attrs"]),
    )
    try:
        digest_name = _digest_name(digest_oid)
        algorithm_der = _verification_algorithm(
            digest_name,
            signature_oid,
            signer_info["signature_algorithm"]["parameters"].dump() or None,
            has_attributes,
        )
        content_digest = _digest(digest_name, content) if has_attributes else b""
    except _Unsupported as exc:
        return replace(facts, unsupported=str(exc))
    # RFC 5652 5.3: without signed attributes the content MUST be id-data
    content_type_valid = None if content_type == ID_DATA else False
    message_digest_valid = None
    signed_octets = content  # RFC 5652 5.4: the content itself when there are no attributes
    if has_attributes:
        content_type_valid = _single(values.get(_CONTENT_TYPE, []), core.ObjectIdentifier) == (
            content_type
        )  # RFC 5652 11.1
        message_digest_valid = _single(values.get(_MESSAGE_DIGEST, []), core.OctetString) == (
            content_digest
        )  # RFC 5652 11.2
        # RFC 5652 5.4: the DER of SignedAttributes as a SET OF, the octets as received.
        signed_octets = tlv(0x31, attributes.contents)
    valid = None
    if found is not None:
        signature = signer_info["signature"].native
        try:
            valid = signature_valid(found.spki, algorithm_der, signed_octets, signature)
        except DERError:  # parameters read from BER that the DER verifier refuses
            return replace(facts, unsupported="signature algorithm parameters that are not DER")
    return replace(
        facts,
        content_type_valid=content_type_valid,
        message_digest_valid=message_digest_valid,
        signature_valid=valid,
    )


@dataclass(frozen=True)
class _Candidate:
    """A certificate that may be a signer's: its DER, asn1crypto form and key."""

    der: bytes
    certificate: asn1_x509.Certificate
    spki: bytes


def _certificates(ders: Sequence[bytes]) -> list[_Candidate]:
    """The certificates that parse, each with its asn1crypto form; the others are no
    candidates for a signer (a sid cannot name what cannot be read)."""
    loaded = []
    for der in dict.fromkeys(ders):
        try:
            certificate = asn1_x509.Certificate.load(der, strict=True)
            certificate.serial_number  # noqa: B018 (parse the TBSCertificate now)
            spki = certificate["tbs_certificate"]["subject_public_key_info"].dump()
        except _PARSE_ERRORS:
            continue
        loaded.append(_Candidate(der, certificate, spki))
    return loaded


def _signer_certificate(sid: Any, candidates: list[_Candidate]) -> _Candidate | None:
    """The first candidate the sid names (RFC 5652 5.3): the same issuer Name (the same
    DER, or equal as RFC 5280 7.1 compares names) and serial, or the subjectKeyIdentifier
    extension's value."""
    for candidate in candidates:
        certificate = candidate.certificate
        try:
            if sid.name == "issuer_and_serial_number":
                issuer = sid.chosen["issuer"]
                if certificate.serial_number == sid.chosen["serial_number"].native and (
                    certificate.issuer.dump() == issuer.dump() or certificate.issuer == issuer
                ):
                    return candidate
            elif certificate.key_identifier == sid.chosen.native:
                return candidate
        except _PARSE_ERRORS:
            continue
    return None


def _attribute_values(attributes: Any) -> dict[str, list[Any]]:
    """The values of every signed attribute by type OID, the values of repeated attributes
    together (RFC 5652 5.3 allows one instance of each of those read here)."""
    values: dict[str, list[Any]] = {}
    for attribute in attributes:
        values.setdefault(attribute["type"].dotted, []).extend(attribute["values"])
    return values


def _timestamp_tokens(attributes: Any) -> tuple[bytes, ...]:
    """The DER of each signatureTimeStampToken value among the unsigned attributes (RFC
    3161 Appendix A); none when they are absent or do not parse."""
    if isinstance(attributes, core.Void):
        return ()
    try:
        return tuple(
            value.dump()
            for attribute in attributes
            if attribute["type"].dotted == _SIGNATURE_TIMESTAMP
            for value in attribute["values"]
        )
    except _PARSE_ERRORS:
        return ()


def _single(values: list[Any], kind: type[Any]) -> Any:
    """The one value of an attribute that must have exactly one (RFC 5652 11.1-11.3), read
    as ``kind``; None when there are none, several, or it is not of that type."""
    if len(values) != 1:
        return None
    try:
        value = kind.load(values[0].dump(), strict=True)
        return value.dotted if isinstance(value, core.ObjectIdentifier) else value.native
    except _PARSE_ERRORS:
        return None


def _signing_time(values: list[Any]) -> datetime | None:
    """signingTime (RFC 5652 11.3): UTCTime or GeneralizedTime, as an aware datetime; None
    for a GeneralizedTime without its Z (11.3: "MUST include seconds ... expressed in
    Coordinated Universal Time"), which names no instant."""
    found = _single(values, cms.Time)
    if not isinstance(found, datetime) or found.tzinfo is None:
        return None
    return found


def _signing_certificate(values: dict[str, list[Any]], found: _Candidate | None) -> str:
    """ESS signingCertificate (RFC 2634 5.4, SHA-1) and signingCertificateV2 (RFC 5035 3,
    SHA-256 unless hashAlgorithm says otherwise, Streebog in GOST signatures): "match" when
    the first ESSCertID(v2) of each present attribute has the hash of the signer's
    certificate, and its issuerSerial, if any, that certificate's issuer and serial."""
    present = [
        (kind, value)
        for oid, kind in (
            (_SIGNING_CERTIFICATE, tsp.SigningCertificate),
            (_SIGNING_CERTIFICATE_V2, tsp.SigningCertificateV2),
        )
        for value in values.get(oid, [])
    ]
    if not present:
        return "absent"
    if found is None:
        return "mismatch"
    try:
        for kind, value in present:
            first = kind.load(value.dump(), strict=True)["certs"][0]
            hash_oid = (
                "1.3.14.3.2.26"
                if kind is tsp.SigningCertificate
                else first["hash_algorithm"]["algorithm"].dotted
            )
            if _digest(_digest_name(hash_oid), found.der) != first["cert_hash"].native:
                return "mismatch"
            if not _issuer_serial_matches(first["issuer_serial"], found.certificate):
                return "mismatch"
    except (_Unsupported, *_PARSE_ERRORS):
        return "mismatch"
    return "match"


def _issuer_serial_matches(issuer_serial: Any, certificate: asn1_x509.Certificate) -> bool:
    """An absent IssuerSerial, or one with the certificate's serial and its issuer among
    the directoryNames (RFC 5035 3: IssuerSerial)."""
    if isinstance(issuer_serial, core.Void):
        return True
    if issuer_serial["serial_number"].native != certificate.serial_number:
        return False
    return any(
        name.name == "directory_name" and name.chosen == certificate.issuer
        for name in issuer_serial["issuer"]
    )


# --- algorithms ------------------------------------------------------------------------


def digest_by_oid(oid: str, data: bytes) -> bytes | None:
    """``data`` hashed with the digest algorithm ``oid`` names (SHA-1, SHA-2, Streebog), as a
    SignerInfo's digestAlgorithm or an RFC 3161 messageImprint names it; None for an
    algorithm not known here, or Streebog without the GOST engine."""
    try:
        return _digest(_digest_name(oid), data)
    except _Unsupported:
        return None


def _digest_name(oid: str) -> str:
    name = _DIGESTS.get(oid)
    if name is None:
        raise _Unsupported(f"digest algorithm {oid} is not supported")
    return name


def _digest(name: str, data: bytes) -> bytes:
    """``data`` hashed with a name of _DIGESTS; Streebog by hsm.gost_engine."""
    if name in _SHA:
        hasher = hashes.Hash(_SHA[name]())
        hasher.update(data)
        return hasher.finalize()
    reason = gost_engine.available()
    if reason is not None:
        raise _Unsupported(f"{name} needs the GOST engine: {reason}")
    try:
        return gost_engine.digest(name, data)
    except gost_engine.GostError as exc:
        raise _Unsupported(f"{name}: {exc}") from None


def _verification_algorithm(
    digest: str, signature_oid: str, parameters: bytes | None, signed_attributes: bool
) -> bytes:
    """The X.509 signature AlgorithmIdentifier (DER) that verifies a SignerInfo written
    with digestAlgorithm ``digest`` and signatureAlgorithm ``signature_oid`` (with its
    ``parameters`` DER). Raises _Unsupported for a pair this module does not verify."""
    if signature_oid == _RSA_ENCRYPTION or signature_oid in _RSA_PKCS1.values():
        # RFC 3370 3.2 (rsaEncryption, what openssl writes), RFC 5754 3.2
        _same_hash(digest, signature_oid, _RSA_PKCS1)
        if parameters not in (None, _NULL):
            raise _Unsupported("RSA PKCS #1 v1.5 with parameters other than NULL")
        return _algorithm(_for_hash(digest, _RSA_PKCS1, "RSA PKCS #1 v1.5"), _NULL)
    if signature_oid == _EC_PUBLIC_KEY or signature_oid in _ECDSA.values():
        # RFC 5753 7.1.3 (ecdsa-with-SHA*); the key OID with the digestAlgorithm's hash
        _same_hash(digest, signature_oid, _ECDSA)
        return _algorithm(_for_hash(digest, _ECDSA, "ECDSA"), None)
    if signature_oid == _RSASSA_PSS:  # RFC 4056 section 2
        _pss_hash_is(digest, parameters)
        return _algorithm(_RSASSA_PSS, parameters)
    if signature_oid == _ED25519:
        if parameters is not None:
            raise _Unsupported("Ed25519 with parameters (RFC 8410 3: absent)")
        if signed_attributes and digest != "sha512":
            raise _Unsupported(f"Ed25519 with signed attributes and {digest} (RFC 8419 3.1)")
        return _algorithm(_ED25519, None)
    size = _GOST_SIZES.get(signature_oid)
    if size is not None:  # ru-profile.md 5.2: the signature OID or the key OID, NULL or absent
        if digest != gost.DIGEST_NAMES[size]:
            raise _Unsupported(f"GOST R 34.10-2012 {size} with {digest}")
        if not gost.signature_parameters_valid(parameters):
            raise _Unsupported("GOST R 34.10-2012 with parameters other than NULL or absent")
        reason = gost_engine.available()
        if reason is not None:
            raise _Unsupported(f"GOST R 34.10-2012 needs the GOST engine: {reason}")
        return _algorithm(gost.SIGNATURE_OIDS[size], _NULL)
    raise _Unsupported(f"signature algorithm {signature_oid} is not supported")


def _same_hash(digest: str, signature_oid: str, by_hash: dict[str, str]) -> None:
    """A signature OID that names a hash must name the digestAlgorithm's (RFC 5754 3,
    RFC 5753 7.1.3): one hash for the messageDigest and the signature."""
    named = next((name for name, oid in by_hash.items() if oid == signature_oid), digest)
    if named != digest:
        raise _Unsupported(f"signature algorithm {signature_oid} with digest {digest}")


def _for_hash(digest: str, by_hash: dict[str, str], what: str) -> str:
    if digest not in by_hash:
        raise _Unsupported(f"{what} with {digest} is not supported")
    return by_hash[digest]


def _pss_hash_is(digest: str, parameters: bytes | None) -> None:
    """RSASSA-PSS-params present, with a SHA-2 hash that is the digestAlgorithm (RFC 4056
    2); MGF1 and the salt are for the verifier to check."""
    if parameters is None or parameters == _NULL:
        raise _Unsupported("RSASSA-PSS without parameters (SHA-1) is not supported")
    try:
        hash_oid = algos.RSASSAPSSParams.load(parameters)["hash_algorithm"]["algorithm"].dotted
    except _PARSE_ERRORS:
        raise _Unsupported("RSASSA-PSS parameters that do not decode") from None
    if _DIGESTS.get(hash_oid) not in _SHA2 or _DIGESTS[hash_oid] != digest:
        raise _Unsupported(f"RSASSA-PSS with hash {hash_oid} and digest {digest}")


def _algorithm(oid: str, parameters: bytes | None) -> bytes:
    """An AlgorithmIdentifier's DER (RFC 5280 4.1.1.2)."""
    return tlv(0x30, core.ObjectIdentifier(oid).dump() + (parameters or b""))


# --- input ------------------------------------------------------------------------------


def _unarmored(data: bytes) -> bytes:
    """The DER or BER of ``data``, taken out of its PEM armour when it has one."""
    if not isinstance(data, bytes | bytearray):
        raise NotSignedData("a signature is bytes")
    if not bytes(data).lstrip().startswith(b"-----BEGIN "):
        return bytes(data)
    try:
        label, _, der = pem.unarmor(bytes(data).strip())
    except _PARSE_ERRORS as exc:
        raise NotSignedData(f"PEM that does not decode: {_short(exc)}") from None
    if label not in _PEM_LABELS:
        raise NotSignedData(f"PEM of {label!r}, not CMS or PKCS7")
    return bytes(der)


def _present(value: Any) -> list[Any]:
    """The elements of an OPTIONAL SET OF, none when it is absent."""
    return [] if isinstance(value, core.Void) else list(value)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
