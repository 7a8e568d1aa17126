"""protocols/x509/signed_by.py: whether a certificate, CRL or request (RFC 5280 SIGNED{})
was signed by a key, checked over the octets as they were signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from protocols.x509.signed_by import directly_issued_by, signed_by
from protocols.x509.spki import certificate_spki, request_spki

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificate(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )


def test_rfc5280_4_1_1_3_a_certificate_verifies_with_its_issuers_key_only() -> None:
    ca, other, leaf = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    certificate = _certificate("leaf", "CA", leaf, ca)
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert signed_by(der, _spki(ca))
    assert not signed_by(der, _spki(other))
    assert certificate_spki(der) == _spki(leaf)
    tampered = der.replace(b"leaf", b"lEaf")
    assert not signed_by(tampered, _spki(ca))


def test_rfc5280_4_1_2_4_issued_by_needs_the_issuers_name_and_its_signature() -> None:
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _certificate("CA", "CA", ca_key, ca_key)
    assert directly_issued_by(_certificate("leaf", "CA", leaf_key, ca_key), ca)
    assert directly_issued_by(ca, ca)
    assert not directly_issued_by(_certificate("leaf", "Other CA", leaf_key, ca_key), ca)
    assert not directly_issued_by(_certificate("leaf", "CA", leaf_key, leaf_key), ca)


def test_rfc2986_4_2_a_request_is_signed_by_the_key_it_carries() -> None:
    key = rsa.generate_private_key(65537, 2048)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "r")]))
        .sign(key, hashes.SHA256())
    ).public_bytes(serialization.Encoding.DER)
    assert request_spki(request) == _spki(key)
    assert signed_by(request, _spki(key))
    assert not signed_by(request, _spki(ec.generate_private_key(ec.SECP256R1())))


@pytest.mark.parametrize("octets", [b"", b"\x30\x00", b"\x30\x03\x02\x01\x01", b"junk"])
def test_what_is_not_signed_der_is_not_signed_by_anyone(octets: bytes) -> None:
    assert not signed_by(octets, _spki(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ValueError, match="not a certificate"):
        certificate_spki(octets)
