"""Verify-after-sign (server/signing.py): a certificate leaves the CA only when it names the
CA, carries its key's signature algorithm, and its signature verifies under the CA's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from protocols.x509.certificate import signature_algorithm_for
from server.errors import CAError, ErrorKind
from server.signing import verify_issued_by

NOW = datetime(2026, 12, 5, tzinfo=UTC)
KEYS = {
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}
HASHES = {"ec-p256": hashes.SHA256(), "ec-p384": hashes.SHA384(), "rsa-2048": hashes.SHA256()}


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _certificate(
    issuer: str, subject_key, signing_key, algorithm, subject: str = "leaf"
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
    )
    return builder.sign(signing_key, algorithm)


def _ca(kind: str):
    key = KEYS[kind]()
    return key, _certificate("CA", key, key, HASHES.get(kind), subject="CA")


def _algorithm(ca: x509.Certificate) -> str:
    """The signature algorithm issuance signs with under the CA's key."""
    spki = ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return signature_algorithm_for(spki)


@pytest.mark.parametrize("kind", list(KEYS))
def test_a_certificate_the_ca_key_signed_passes(kind: str) -> None:
    key, ca = _ca(kind)
    leaf = _certificate("CA", KEYS["ec-p256"](), key, HASHES.get(kind))
    verify_issued_by(leaf.public_bytes(Encoding.DER), ca, _algorithm(ca))


@pytest.mark.parametrize("kind", list(KEYS))
def test_another_key_s_signature_is_refused(kind: str) -> None:
    _, ca = _ca(kind)
    other = KEYS[kind]()
    leaf = _certificate("CA", other, other, HASHES.get(kind))
    with pytest.raises(CAError) as refused:
        verify_issued_by(leaf.public_bytes(Encoding.DER), ca, _algorithm(ca))
    assert refused.value.kind is ErrorKind.INTERNAL


@pytest.mark.parametrize(
    ("kind", "issuer", "algorithm"),
    [
        ("ec-p256", "another CA", hashes.SHA256()),  # the CA's signature, another issuer named
        ("ec-p256", "CA", hashes.SHA512()),  # not a signature algorithm issuance uses
        ("rsa-2048", "CA", hashes.SHA384()),
        ("ec-p256", "CA", hashes.SHA384()),  # an algorithm of the key, not issuance's for it
    ],
)
def test_a_certificate_naming_another_issuer_or_algorithm_is_refused(
    kind: str, issuer: str, algorithm: hashes.HashAlgorithm
) -> None:
    key, ca = _ca(kind)
    leaf = _certificate(issuer, KEYS["ec-p256"](), key, algorithm)
    with pytest.raises(CAError) as refused:
        verify_issued_by(leaf.public_bytes(Encoding.DER), ca, _algorithm(ca))
    assert refused.value.kind is ErrorKind.INTERNAL
