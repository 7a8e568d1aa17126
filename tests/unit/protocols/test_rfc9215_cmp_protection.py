"""CMP signature protection (RFC 4210 5.1.3.3) by a GOST R 34.10-2012 certificate: the
ProtectedPart signed by hsm.gost_engine under id-tc26-signwithdigest-gost3410-12-256/512
(RFC 9215), checked against the signer's certificate, whose key `cryptography` cannot load."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from protocols import cmp, gost
from protocols.der import tlv
from tests.cmp_client import BODY, algorithm_identifier, directory_name, genm_content, header_der
from tests.gost_support import GostCA, require_engine

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
