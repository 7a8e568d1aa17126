"""Checking a backend's signatures with its keys' public keys, where they are made.

A signer process verifies the signatures a caller asked to have verified (wire mode
SIGN_VERIFIED) right after its backend made them, so that the caller's event loop does
not spend an ECDSA verification per certificate (about 60 µs on this machine's P-256):
the signer processes have CPU to spare, the busy HTTP workers do not. Each signature is
checked under the scheme hsm.backend states for the key's algorithm, with the public key
the backend reports for that key (`public_key_der`), loaded once per key.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from hsm import gost_engine
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class GostPublicKey(bytes):
    """A GOST R 34.10-2012 SubjectPublicKeyInfo (DER), which hsm/gost_engine.py verifies with;
    cryptography reads no GOST keys."""


MAX_KEYS = 64  # public keys kept; a CA has a few keys (generations, responders)

_CURVES = {KeyAlgorithm.EC_P256: "secp256r1", KeyAlgorithm.EC_P384: "secp384r1"}
_EC_SCHEMES = {
    KeyAlgorithm.EC_P256: ec.ECDSA(hashes.SHA256()),
    KeyAlgorithm.EC_P384: ec.ECDSA(hashes.SHA384()),
}


class SignatureVerifier:
    """Verifies signatures made by `backend` under the public keys it reports."""

    def __init__(self, backend: SigningBackend) -> None:
        self._backend = backend
        self._keys: dict[KeyRef, PublicKey | GostPublicKey] = {}

    def verifies(self, key: KeyRef, signature: bytes, message: bytes) -> bool:
        """Whether `signature` is `key`'s over `message` under hsm.backend's scheme for
        its algorithm. Raises HSMError if the backend cannot give the public key, or gives
        one that is not of the key's algorithm."""
        return self.checker(key)(signature, message)

    def checker(self, key: KeyRef) -> Callable[[bytes, bytes], bool]:
        """`verifies` for `key`, as a function of (signature, message) that does not call
        the backend: the public key is read here, on the caller's thread (the backend's),
        and the function may then run on any thread. Raises as `verifies`."""
        verify = _verification(self._public_key(key), key.algorithm)

        def check(signature: bytes, message: bytes) -> bool:
            try:
                verify(signature, message)
            except InvalidSignature:
                return False
            return True

        return check

    def _public_key(self, key: KeyRef) -> PublicKey | GostPublicKey:
        public = self._keys.get(key)
        if public is None:
            public = _loaded(key, self._backend.public_key_der(key))
            if len(self._keys) >= MAX_KEYS:
                del self._keys[next(iter(self._keys))]
            self._keys[key] = public
        return public


def _verification(
    public: PublicKey | GostPublicKey, algorithm: KeyAlgorithm
) -> Callable[[bytes, bytes], None]:
    """`public.verify` under hsm.backend's scheme for `algorithm`: raises InvalidSignature."""
    if isinstance(public, GostPublicKey):
        spki = bytes(public)

        def verify_gost(signature: bytes, message: bytes) -> None:
            if not gost_engine.verify(spki, signature, message):
                raise InvalidSignature

        return verify_gost
    if isinstance(public, ec.EllipticCurvePublicKey):
        scheme = _EC_SCHEMES[algorithm]
        return lambda signature, message: public.verify(signature, message, scheme)
    if isinstance(public, rsa.RSAPublicKey):
        rsa_key = public
        return lambda signature, message: rsa_key.verify(
            signature, message, padding.PKCS1v15(), hashes.SHA256()
        )
    return public.verify


def _loaded(key: KeyRef, spki_der: bytes) -> PublicKey | GostPublicKey:
    """The public key in `spki_der`, if it is of `key`'s algorithm. Raises HSMError."""
    algorithm = key.algorithm
    if not algorithm.is_gost:
        return _matching(key, load_der_public_key(spki_der))
    try:
        found = gost_engine.paramset_of(spki_der)
    except gost_engine.GostError:
        found = None
    if found != (algorithm.gost_bits, algorithm.gost_paramset):
        raise HSMError(f"the public key of {key.uri} is not a {algorithm.value} key")
    return GostPublicKey(spki_der)


def _matching(key: KeyRef, public: object) -> PublicKey:
    """`public` if it is a key of `key`'s algorithm. Raises HSMError."""
    algorithm = key.algorithm
    if algorithm.is_ec:
        if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == _CURVES.get(
            algorithm
        ):
            return public
    elif algorithm.is_rsa:
        if isinstance(public, rsa.RSAPublicKey) and public.key_size == algorithm.rsa_bits:
            return public
    elif isinstance(public, ed25519.Ed25519PublicKey):
        return public
    raise HSMError(f"the public key of {key.uri} is not a {algorithm.value} key")
