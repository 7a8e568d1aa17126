"""protocols/cmp: any octets are one PKIMessage or CMPFormatError (RFC 4210 5.1, RFC 9483
3.6.4 badDataFormat), and the protection of a message that reads is checked (a MAC, or
a signature by the seeds' signer or the first extraCerts certificate) or refused with
MACError, never another exception. Seeded with OpenSSL's ir, cr, p10cr, rr, genm and
Bouncy Castle's ir, p10cr, genm."""

from __future__ import annotations

import contextlib

from hypothesis import given

from protocols import cmp
from tests.fuzz.conftest import Seeds
from tests.fuzz.mutations import FUZZ_SLOW, hostile


def test_rfc4210_5_1_any_octets_are_a_pki_message_or_cmp_format_error(seeds: Seeds) -> None:
    @FUZZ_SLOW
    @given(hostile(seeds.cmp))
    def check(data: bytes) -> None:
        try:
            message = cmp.parse_pki_message(data)
        except cmp.CMPFormatError:
            return
        with contextlib.suppress(cmp.MACError):
            cmp.verify_mac(message, b"s3cret", 1, 10_000)
        assert isinstance(cmp.verify_signature(message, seeds.certificate), bool)
        if message.extra_certs:  # ValueError is its word for a certificate that does not parse
            with contextlib.suppress(ValueError):
                assert isinstance(cmp.verify_signature(message, message.extra_certs[0]), bool)

    check()
