"""Keys the CA makes for its clients: EST serverkeygen (RFC 7030 4.4) and CMP central key
generation (RFC 9483 4.1.6), of the types the profiles name (hsm.backend.KeyAlgorithm).
EC, RSA and Ed25519 keys are `cryptography`'s; GOST R 34.10-2012 keys are OpenSSL's GOST
engine's (hsm/gost_engine.py), as `cryptography` can neither make, sign with nor write one.

Whatever its type, a new key gives the same three things: its SubjectPublicKeyInfo, in the
encoding issuance certifies and indexes (a GOST key's as protocols/gost.py writes it, which
for some 512-bit sets is not the engine's); its unencrypted PKCS#8 PrivateKeyInfo (RFC
5958 2), which leaves the CA once, inside TLS or a key package, and is never stored (D5);
and, for EST, a PKCS#10 request signed by it, built by protocols/x509/ca_request.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from hsm import gost_engine
from hsm.backend import KeyAlgorithm
from protocols import gost
from protocols.x509.ca_request import assemble_request, request_info
from protocols.x509.certificate import signature_algorithm_for
from protocols.x509.names import build_name
from server.errors import CAError, ErrorKind

_SoftwareKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_CURVES = {KeyAlgorithm.EC_P256: ec.SECP256R1, KeyAlgorithm.EC_P384: ec.SECP384R1}


class NewKey:
    """A key pair the CA made for a client. The private key is held in memory only, until
    the object goes (a GOST key's OpenSSL copy is freed then)."""

    def __init__(self, description: str, key: _SoftwareKey | gost_engine.PrivateKey) -> None:
        self.description = description
        self._key = key
        if isinstance(key, gost_engine.PrivateKey):
            self.spki_der = gost.canonical_spki(gost.read_spki(key.public_key_der()))
        else:
            self.spki_der = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )

    def pkcs8_der(self) -> bytes:
        """The unencrypted DER PKCS#8 PrivateKeyInfo (RFC 5958 2)."""
        if isinstance(self._key, gost_engine.PrivateKey):
            return self._key.pkcs8_der()
        return self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def certification_request(self, extensions: Sequence[asn1_x509.Extension] = ()) -> bytes:
        """A DER PKCS#10 request for this key with an empty subject (the credential gives
        it) and `extensions` requested, signed by the key (RFC 2986 4.2) with the scheme
        it signs certificates with (protocols.x509.certificate.signature_algorithm_for)."""
        info = request_info(build_name([]), self.spki_der, extensions)
        algorithm = signature_algorithm_for(self.spki_der)
        return assemble_request(info, algorithm, self._signer(algorithm)(info))

    def _signer(self, algorithm: str) -> Callable[[bytes], bytes]:
        key = self._key
        if isinstance(key, gost_engine.PrivateKey | ed25519.Ed25519PrivateKey):
            return key.sign  # GOST: s || r (RFC 9215); Ed25519: the 64 octets (RFC 8410)
        if isinstance(key, rsa.RSAPrivateKey):
            return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        digest = hashes.SHA384() if algorithm == "sha384_ecdsa" else hashes.SHA256()
        return lambda data: key.sign(data, ec.ECDSA(digest))


def new_key(description: str) -> NewKey:
    """A new key of the type `description` names as the profiles do ("ec-p256",
    "rsa-3072", "ed25519", "gost2012-256-a", "gost2012-512-c", ...).

    Raises CAError: REJECTED for a type the CA does not make, UNAVAILABLE for a GOST key
    when OpenSSL's GOST engine cannot be used here."""
    try:
        algorithm = KeyAlgorithm(description)
    except ValueError:
        raise CAError(ErrorKind.REJECTED, f"cannot generate {description} keys") from None
    if algorithm.is_gost:
        try:
            made = gost_engine.generate_private_key(algorithm.gost_bits, algorithm.gost_paramset)
        except gost_engine.GostError as exc:
            raise CAError(
                ErrorKind.UNAVAILABLE, f"cannot generate {description} keys here ({exc})"
            ) from None
        return NewKey(description, made)
    if algorithm in _CURVES:
        return NewKey(description, ec.generate_private_key(_CURVES[algorithm]()))
    if algorithm.is_rsa:
        return NewKey(description, rsa.generate_private_key(65537, algorithm.rsa_bits))
    if algorithm is KeyAlgorithm.ED25519:
        return NewKey(description, ed25519.Ed25519PrivateKey.generate())
    raise CAError(ErrorKind.REJECTED, f"cannot generate {description} keys")
