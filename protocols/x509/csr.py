"""PKCS#10 certification requests (RFC 2986): decode, check proof of possession, describe.

Theory of operation: :func:`parse_csr` takes the bytes a client sent (DER, or PEM with the
"CERTIFICATE REQUEST" label) and returns a :class:`CSR` value, or raises

* :class:`MalformedCSR` when the bytes are not a well-formed request (garbage, truncated,
  trailing data, undecodable attributes or extensions, a public key no library here reads);
* :class:`BadProofOfPossession` when the request is well formed but its signature does not
  verify under the public key it carries. RFC 2986 section 3: the signature is how the
  requester proves possession of the private key; the Регламент (rule D8) forbids issuing
  without that proof.

A GOST R 34.10-2012 key (RFC 9215), which `cryptography` parses but cannot load, is read by
protocols/gost.py and its signature verified by hsm.gost_engine: the signature algorithm must
be id-tc26-signwithdigest-gost3410-12-256 or -512 for a key of that size, as `openssl req
-engine gost` writes it, with NULL or absent parameters.

The CSR's public key is re-encoded canonically (uncompressed EC point, RSA with NULL
parameters, GOST parameters as RFC 9215 writes them) so that the same key always has the
same :func:`spki_sha256`, the key used to refuse a key that is already certified (rule D9 /
S13).

Only what issuance may use is read out: the subject, the key, the subjectAltName entries of
the extensionRequest attribute (PKCS#9, RFC 2985 5.4.2) of kind dNSName, iPAddress and
rfc822Name, the challengePassword (RFC 2985 5.4.1), and the requested extensions as sent (for
an answer to say what was not granted). Everything else in the request is ignored: the CA
builds extensions from its profiles, never by copying them (rule D2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from cryptography.x509.oid import AttributeOID, ExtensionOID

from hsm import gost_engine
from protocols import gost
from protocols.der import DERError, children, one
from protocols.x509.names import attributes_of, plain_attributes

__all__ = [
    "CSR",
    "BadProofOfPossession",
    "MalformedCSR",
    "UnsupportedKey",
    "key_description",
    "parse_csr",
    "spki_sha256",
]

ID_AA_DECRYPT_KEY_ID = x509.ObjectIdentifier("1.2.840.113549.1.9.16.2.37")  # RFC 4108 2.2.5
ID_AA_ASYMM_DECRYPT_KEY_ID = x509.ObjectIdentifier("1.2.840.113549.1.9.16.2.54")  # RFC 7030 4.4.1.2
_PEM_MARKER = b"-----BEGIN CERTIFICATE REQUEST-----"
_PEM_MARKER_NEW = b"-----BEGIN NEW CERTIFICATE REQUEST-----"  # Microsoft certreq's label
_CURVES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}


class MalformedCSR(ValueError):
    """The bytes are not a well-formed PKCS#10 request."""


class UnsupportedKey(MalformedCSR):
    """The public key's algorithm or curve is one this CA does not handle."""


class BadProofOfPossession(ValueError):
    """The request's self-signature does not verify (RFC 2986 section 3, rule D8)."""


@dataclass(frozen=True)
class CSR:
    """A decoded request whose signature verified.

    ``subject`` is in RFC 4514 text order (names.py); attributes with no short name carry
    their dotted OID. ``ip_addresses`` are in ``ipaddress`` text form ("192.0.2.1",
    "2001:db8::1"). ``der`` is the request exactly as received (PEM decoded)."""

    subject: tuple[tuple[str, str], ...]
    spki_der: bytes
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    emails: tuple[str, ...]
    challenge_password: str | None
    der: bytes
    # RFC 7030 4.4.1.1 / 4.4.1.2: serverkeygen asks for the key encrypted to a key known by
    # this identifier (DecryptKeyIdentifier: a shared symmetric key; Asymmetric...: a public
    # key, found by its subjectKeyIdentifier).
    decrypt_key_identifier: bytes | None = None
    asymmetric_decrypt_key_identifier: bytes | None = None
    # The key usages a CMP certTemplate asks for (RFC 4211 5, RFC 9810 5.2.3), by the names
    # the profiles use; a profile grants those among its requestable_key_usages. Empty for
    # a PKCS#10 request: its keyUsage request is not read for issuance.
    key_usage: tuple[str, ...] = ()
    # Every extension of the extensionRequest attribute (RFC 2985 5.4.2) as sent: (the OID
    # dotted, critical, the DER of extnValue's contents). Not copied into a certificate
    # (rule D2): a p10cr's answer compares them with what was issued (RFC 9810 5.2.3).
    extensions: tuple[tuple[str, bool, bytes], ...] = ()
    # key_description(spki_der), worked out from the key parse_csr loaded anyway (None:
    # not known here, or a key it refuses: key_description says why when asked).
    key_type: str | None = None


def _load(data: bytes) -> x509.CertificateSigningRequest:
    stripped = data.strip()
    try:
        if stripped.startswith((_PEM_MARKER, _PEM_MARKER_NEW)):
            if stripped.startswith(_PEM_MARKER_NEW):
                stripped = stripped.replace(b"NEW CERTIFICATE REQUEST", b"CERTIFICATE REQUEST")
            return x509.load_pem_x509_csr(stripped)
        return x509.load_der_x509_csr(data)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise MalformedCSR(f"not a PKCS#10 request ({exc})") from None


def parse_csr(data: bytes) -> CSR:
    """Decode a DER or PEM PKCS#10 request and check its proof of possession.

    Raises MalformedCSR (UnsupportedKey for a key algorithm not handled here) and
    BadProofOfPossession, and nothing else whatever the input."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise MalformedCSR("empty request")
    try:
        return _parse_csr(bytes(data))
    except (MalformedCSR, BadProofOfPossession):
        raise
    except Exception as exc:  # the underlying parsers' surprises on hostile octets
        raise MalformedCSR(f"not a PKCS#10 request ({type(exc).__name__})") from None


def _signature_valid(request: x509.CertificateSigningRequest, key: PublicKeyTypes) -> bool:
    """`request.is_signature_valid`, which takes about 100 µs for a P-256 request where the
    key already loaded verifies in 70: an EC key under ECDSA is verified with that key
    directly, the same verdict (tests/unit/protocols/test_x509_csr.py); every other pairing
    as cryptography checks it."""
    try:
        parameters = request.signature_algorithm_parameters
    except (ValueError, TypeError, UnsupportedAlgorithm):
        parameters = None  # is_signature_valid says why
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(parameters, ec.ECDSA):
        try:
            key.verify(request.signature, request.tbs_certrequest_bytes, parameters)
        except InvalidSignature:
            return False
        return True
    return request.is_signature_valid


def _parse_csr(data: bytes) -> CSR:
    request = _load(data)
    der = request.public_bytes(Encoding.DER)
    spki_sent = _field(der, 2)  # CertificationRequestInfo.subjectPKInfo (RFC 2986 4.1)
    key_type: str | None
    if gost.is_gost_spki(spki_sent):
        key = _gost_proof(request, der, spki_sent)
        spki_der, key_type = gost.canonical_spki(key), key.description
    else:
        spki_der, key_type = _proof(request)
    try:
        plain = plain_attributes(_field(der, 1))
        subject = tuple(attributes_of(request.subject) if plain is None else plain)
        dns, ips, emails = _requested_names(request)
        attributes = request.attributes  # read from the request anew at every access
        password = _challenge_password(attributes)
        decrypt_key_id = _octet_string_attribute(attributes, ID_AA_DECRYPT_KEY_ID)
        asymmetric_key_id = _octet_string_attribute(attributes, ID_AA_ASYMM_DECRYPT_KEY_ID)
        extensions = tuple(
            (e.oid.dotted_string, e.critical, e.value.public_bytes()) for e in request.extensions
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise MalformedCSR(f"undecodable request content ({exc})") from None
    return CSR(
        key_type=key_type,
        subject=subject,
        spki_der=spki_der,
        dns_names=dns,
        ip_addresses=ips,
        emails=emails,
        challenge_password=password,
        der=der,
        decrypt_key_identifier=decrypt_key_id,
        asymmetric_decrypt_key_identifier=asymmetric_key_id,
        extensions=extensions,
    )


def _proof(request: x509.CertificateSigningRequest) -> tuple[bytes, str | None]:
    """(the canonical SPKI, key_description or None) of a request whose key `cryptography`
    loads, once its signature verified. Raises UnsupportedKey, MalformedCSR,
    BadProofOfPossession."""
    try:
        public_key = request.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UnsupportedKey(f"public key not supported ({exc})") from None
    try:
        valid = _signature_valid(request, public_key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise MalformedCSR(f"signature cannot be checked ({exc})") from None
    if not valid:
        raise BadProofOfPossession("the request's signature does not verify with its key")
    try:
        spki_der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise MalformedCSR(f"undecodable request content ({exc})") from None
    try:
        key_type: str | None = _description(public_key)
    except UnsupportedKey:
        key_type = None
    return spki_der, key_type


def _gost_proof(
    request: x509.CertificateSigningRequest, der: bytes, spki_der: bytes
) -> gost.GostPublicKey:
    """The GOST R 34.10-2012 key of a request whose signature verified under it (RFC 9215:
    id-tc26-signwithdigest-gost3410-12-256/512 by the key's size, s || r).
    Raises UnsupportedKey, MalformedCSR, BadProofOfPossession."""
    try:
        key = gost.read_spki(spki_der)
    except ValueError as exc:
        raise UnsupportedKey(f"public key not supported ({exc})") from None
    oid = request.signature_algorithm_oid.dotted_string
    if gost.signature_key_size(oid) != key.key_size:
        raise MalformedCSR(f"signature algorithm {oid} does not fit a {key.title} key")
    if not gost.signature_parameters_valid(_algorithm_parameters(_field(der, 1, outer=True))):
        raise MalformedCSR(f"signature algorithm {oid} with parameters other than NULL")
    try:
        valid = gost_engine.verify(spki_der, request.signature, request.tbs_certrequest_bytes)
    except gost_engine.GostError as exc:
        raise UnsupportedKey(f"GOST R 34.10-2012 keys cannot be checked here ({exc})") from None
    if not valid:
        raise BadProofOfPossession("the request's signature does not verify with its key")
    return key


def _field(der: bytes, index: int, outer: bool = False) -> bytes:
    """The DER of field `index` of the certificationRequestInfo (RFC 2986 4.1: version,
    subject, subjectPKInfo, attributes) of a request `cryptography` loaded (so DER), or of
    the CertificationRequest itself when `outer` (certificationRequestInfo,
    signatureAlgorithm, signature)."""
    request = one(der, 0, len(der), 0x30)
    fields = children(der, request.start, request.end)
    if not outer:
        fields = children(der, fields[0].start, fields[0].end)
    return der[fields[index].offset : fields[index].end]


def _algorithm_parameters(algorithm_der: bytes) -> bytes | None:
    """The parameters' whole TLV of a DER AlgorithmIdentifier, None when absent."""
    try:
        outer = one(algorithm_der, 0, len(algorithm_der), 0x30)
        parts = children(algorithm_der, outer.start, outer.end)
    except DERError as exc:
        raise MalformedCSR(f"signatureAlgorithm is not DER ({exc})") from None
    return algorithm_der[parts[1].offset : parts[-1].end] if len(parts) > 1 else None


def _requested_names(
    request: x509.CertificateSigningRequest,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    try:
        extension = request.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return (), (), ()
    names = extension.value
    if not isinstance(names, x509.SubjectAlternativeName):
        raise ValueError("subjectAltName does not decode")
    return (
        tuple(names.get_values_for_type(x509.DNSName)),
        tuple(str(ip) for ip in names.get_values_for_type(x509.IPAddress)),
        tuple(names.get_values_for_type(x509.RFC822Name)),
    )


def _challenge_password(attributes: x509.Attributes) -> str | None:
    try:
        attribute = attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD)
    except x509.AttributeNotFound:
        return None
    value = attribute.value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _octet_string_attribute(
    attributes: x509.Attributes, oid: x509.ObjectIdentifier
) -> bytes | None:
    try:
        attribute = attributes.get_attribute_for_oid(oid)
    except x509.AttributeNotFound:
        return None
    if not attribute.value:  # the identifier itself: an empty one identifies nothing
        raise ValueError(f"attribute {oid.dotted_string} is empty")
    return attribute.value


def spki_sha256(spki_der: bytes) -> bytes:
    """SHA-256 over the whole SubjectPublicKeyInfo DER: the key's uniqueness index (D9).

    Feed it the canonical encoding (``CSR.spki_der`` is already canonical)."""
    return hashlib.sha256(spki_der).digest()


def key_description(spki_der: bytes) -> str:
    """A short name of the key: "ec-p256", "ec-p384", "ec-p521", "rsa-<bits>", "ed25519",
    "ed448" (the names of hsm.backend.KeyAlgorithm and the profiles' key_algorithms), and
    "gost2012-256-<set>" / "gost2012-512-<set>" with gost-engine's parameter-set name in
    lower case (protocols/gost.py GostPublicKey.description: "gost2012-256-a" is CryptoPro-A).

    Raises UnsupportedKey (a ValueError) for other algorithms, curves, or undecodable DER."""
    if gost.is_gost_spki(spki_der):
        try:
            return gost.read_spki(spki_der).description
        except ValueError as exc:
            raise UnsupportedKey(f"public key not supported ({exc})") from None
    try:
        key = load_der_public_key(spki_der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise UnsupportedKey(f"public key not supported ({exc})") from None
    return _description(key)


def _description(key: PublicKeyTypes) -> str:
    """key_description of a loaded key. Raises UnsupportedKey."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = _CURVES.get(key.curve.name)
        if name is None:
            raise UnsupportedKey(f"elliptic curve {key.curve.name} is not supported")
        return name
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    raise UnsupportedKey(f"{type(key).__name__} keys are not supported")
