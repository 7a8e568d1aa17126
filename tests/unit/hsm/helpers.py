"""Signature checks with pyca/cryptography, independent of the code under test."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from hsm.backend import KeyAlgorithm
from tests import gost_oracle


def verify(spki_der: bytes, algorithm: KeyAlgorithm, signature: bytes, message: bytes) -> None:
    """Raises cryptography's InvalidSignature unless `signature` is right for the scheme of
    hsm.backend (P-256/SHA-256, P-384/SHA-384, RSA PKCS#1 v1.5/SHA-256, Ed25519, GOST R
    34.10-2012 with Streebog: checked by gostcrypto, not the engine that signed)."""
    if algorithm.is_gost:
        if not gost_oracle.verify(spki_der, signature, message):
            raise InvalidSignature
        return
    public = load_der_public_key(spki_der)
    if algorithm is KeyAlgorithm.EC_P256:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == "secp256r1"
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    elif algorithm is KeyAlgorithm.EC_P384:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == "secp384r1"
        public.verify(signature, message, ec.ECDSA(hashes.SHA384()))
    elif algorithm.is_rsa:
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == algorithm.rsa_bits
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
