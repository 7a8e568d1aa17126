"""protocols/cmp/revocation_request.py: the rr a certificate's subject sends its issuer
(RFC 9810 5.3.9 RevReqContent, RFC 9483 4.2), read back with our own CMP reader, compared
with its DER written out by hand, and its arguments refused by name."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from cryptography import x509

from protocols import cmp
from protocols.crl import CRLReason
from protocols.der import tlv

ISSUER = x509.Name.from_rfc4514_string("CN=Head Issuing,O=Head,C=RU").public_bytes()


def read_back(body: bytes) -> cmp.PKIMessage:
    name = tlv(0xA4, ISSUER)
    header = cmp.ReplyHeader(sender=name, recipient=name, transaction_id=secrets.token_bytes(16),
                             sender_nonce=secrets.token_bytes(16), recip_nonce=None,
                             message_time=datetime(2026, 12, 5, tzinfo=UTC),
                             protection_algorithm=b"", sender_kid=None,
                             implicit_confirm=False)  # fmt: skip
    return cmp.parse_pki_message(cmp.assemble_unprotected(header, body))


def test_rfc9483_4_2_rr_names_the_certificate_by_issuer_and_serial_with_one_reason() -> None:
    serial = 0x8A5F_0C11_2233_4455_6677_8899_AABB_CCDD  # high bit set: a leading zero octet
    body = cmp.rr_body(serial, ISSUER, int(CRLReason.cACompromise))
    [details] = read_back(body).revocations
    assert (details.serial, details.issuer, details.reason) == (serial, ISSUER, 2)
    assert details.template_fields == ("serialNumber", "issuer")
    assert (details.entry_extensions, details.reasons) == ((cmp.ID_CE_CRL_REASONS,), (2,))
    # [11] { RevDetails { certDetails { [1] serial, [3] issuer }, { reasonCode } } }
    serial_der = b"\x81\x11\x00" + serial.to_bytes(16, "big")
    reason = tlv(0x30, bytes.fromhex("0603551d15") + tlv(0x04, bytes.fromhex("0a0102")))
    template = tlv(0x30, serial_der + tlv(0xA3, ISSUER))
    assert body == tlv(0xAB, tlv(0x30, tlv(0x30, template + tlv(0x30, reason))))


@pytest.mark.parametrize(
    ("serial", "issuer", "reason", "message"),
    [
        (0, ISSUER, 2, "serial 0: a certificate's serial is positive (RFC 5280 4.1.2.2)"),
        (5, ISSUER, 7, "reason 7 is not a CRLReason (RFC 5280 5.3.1)"),
        (5, ISSUER, 11, "reason 11 is not a CRLReason (RFC 5280 5.3.1)"),
    ],
)
def test_rr_body_refuses_what_names_no_certificate_or_reason(
    serial: int, issuer: bytes, reason: int, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        cmp.rr_body(serial, issuer, reason)
    assert str(refused.value) == message


def test_rr_body_refuses_an_issuer_that_is_not_a_name() -> None:
    with pytest.raises(ValueError) as refused:
        cmp.rr_body(5, b"\x04\x01x", 2)
    assert str(refused.value).startswith("issuer does not decode: ")
