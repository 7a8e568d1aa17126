"""CMP signature protection (RFC 4210 5.1.3.3) by a GOST R 34.10-2012 certificate: the
ProtectedPart signed by hsm.gost_engine under id-tc26-signwithdigest-gost3410-12-256/512
(RFC 9215), checked against the signer's certificate, whose key `cryptography` cannot load."""

from __future__ import annotations

import hmac
import os
from datetime import UTC, datetime

import pytest

from protocols import cmp, gost
from protocols.cmp import protection as cmp_protection
from protocols.der import tlv
from tests.cmp_client import BODY, algorithm_identifier, directory_name, genm_content, header_der
from tests.gost_support import GostCA, require_engine, streebog

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _genm(signer: GostCA, algorithm_oid: str, tamper: bool = False) -> bytes:
    """An empty genm whose protection is the signer's GOST signature over ProtectedPart."""
    header = header_der(
        {
            "sender": directory_name("CN=GOST client"),
            "recipient": directory_name("CN=CA"),
            "messageTime": NOW,
            "protectionAlg": algorithm_identifier(algorithm_oid),
            "transactionID": os.urandom(16),
            "senderNonce": os.urandom(16),
        }
    )
    body = tlv(BODY["genm"], genm_content())
    signature = signer.sign(tlv(0x30, header + body))
    if tamper:
        signature = signature[:-1] + bytes([signature[-1] ^ 1])
    return tlv(0x30, header + body + tlv(0xA0, tlv(0x03, b"\x00" + signature)))


@pytest.mark.parametrize(("bits", "paramset"), [(256, "A"), (512, "C")])
def test_rfc4210_5_1_3_3_gost_signature_protection_verifies(bits: int, paramset: str) -> None:
    require_engine()
    signer = GostCA.make(bits, paramset, NOW)
    good = cmp.parse_pki_message(_genm(signer, gost.SIGNATURE_OIDS[bits]))
    assert cmp.verify_signature(good, signer.certificate)
    tampered = cmp.parse_pki_message(_genm(signer, gost.SIGNATURE_OIDS[bits], tamper=True))
    assert not cmp.verify_signature(tampered, signer.certificate)
    other = GostCA.make(bits, paramset, NOW)
    assert not cmp.verify_signature(good, other.certificate)


def test_rfc4210_5_1_3_3_gost_protection_under_the_other_size_is_refused() -> None:
    require_engine()
    signer = GostCA.make(256, "TCA", NOW)
    message = cmp.parse_pki_message(_genm(signer, gost.SIGNATURE_OIDS[512]))
    assert not cmp.verify_signature(message, signer.certificate)


def test_gost_signature_protection_is_an_allowed_protection_kind() -> None:
    """RFC 9481 lists no GOST algorithm; a GOST CA allows id-tc26-signwithdigest-gost3410-
    12-256/512 (RFC 9215 3.2) for the GOST certificates it issues (protection.py)."""
    require_engine()
    signer = GostCA.make(256, "A", NOW)
    for bits in (256, 512):
        message = cmp.parse_pki_message(_genm(signer, gost.SIGNATURE_OIDS[bits]))
        assert cmp.protection_kind(message) == "signature"


def _pbm(owf: str, iterations: int = 50) -> bytes:
    """A PasswordBasedMac AlgorithmIdentifier (RFC 4210 5.1.3.1) with HMAC-SHA256."""
    hmac_sha256 = algorithm_identifier("1.2.840.113549.2.9")
    salt, count = tlv(0x04, b"s" * 16), tlv(0x02, bytes([iterations]))
    parameters = tlv(0x30, salt + algorithm_identifier(owf) + count + hmac_sha256)
    return algorithm_identifier(cmp.PASSWORD_BASED_MAC, parameters)


@pytest.mark.parametrize("bits", [256, 512])
def test_rfc4210_5_1_3_1_password_based_mac_with_a_streebog_owf(bits: int) -> None:
    """BASEKEY = Streebog^n(secret || salt) (RFC 6986), then HMAC-SHA256: what
    `openssl cmp -digest` writes with gost-engine; checked against gostcrypto's Streebog."""
    require_engine()
    key = b"secret" + b"s" * 16
    for _ in range(50):
        key = streebog(f"streebog{bits}", key)
    expected = hmac.digest(key, b"data", "sha256")
    assert cmp.mac(_pbm(gost.DIGEST_OIDS[bits]), b"secret", b"data") == expected
    assert cmp.mac(_pbm(gost.DIGEST_OIDS[bits]), b"secreT", b"data") != expected


def test_rfc9480_certconf_hash_of_a_gost_certificate_is_streebog() -> None:
    """RFC 9810 5.3.18: without hashAlg, the hash of the certificate's signature algorithm,
    Streebog-256 for signwithdigest-gost3410-12-256 (RFC 9215); with hashAlg, that hash."""
    require_engine()
    certificate = GostCA.make(256, "TCA", NOW).certificate
    assert cmp.cert_hash(certificate) == streebog("streebog256", certificate)
    assert cmp.cert_hash(certificate, gost.DIGEST_OIDS[512]) == streebog("streebog512", certificate)
    assert cmp.cert_hash(certificate, signature_algorithm_of_cert="gost2012_256") == streebog(
        "streebog256", certificate
    )


def _mac_protected_genm(protection_algorithm: bytes) -> cmp.PKIMessage:
    header = header_der(
        {
            "sender": directory_name("CN=client"),
            "recipient": directory_name("CN=CA"),
            "messageTime": NOW,
            "protectionAlg": protection_algorithm,
            "transactionID": os.urandom(16),
            "senderNonce": os.urandom(16),
        }
    )
    body = tlv(BODY["genm"], genm_content())
    return cmp.parse_pki_message(tlv(0x30, header + body + tlv(0xA0, tlv(0x03, b"\x00" + b"m"))))


def test_a_streebog_owf_weighs_its_cost_in_the_mac_work() -> None:
    """The server checks a MAC off its event loop past a number of SHA-2 iterations; a
    Streebog iteration through the engine costs about STREEBOG_COST of them."""
    streebog = _mac_protected_genm(_pbm(gost.DIGEST_OIDS[256], iterations=100))
    sha256 = _mac_protected_genm(_pbm("2.16.840.1.101.3.4.2.1", iterations=100))
    assert cmp.mac_parameters(streebog) == cmp.mac_parameters(sha256)
    assert cmp.mac_work(streebog) == 100 * cmp_protection.STREEBOG_COST
    assert cmp.mac_work(sha256) == 100
