"""protocols/x509/csr.py and protocols/crl.py: any octets are a PKCS#10 request (RFC 2986)
or MalformedCSR / BadProofOfPossession, a CRL (RFC 5280 5.1) or ValueError of the CRL
codec. Seeded with OpenSSL's RSA and EC requests and a CRL of `openssl ca -gencrl`."""

from __future__ import annotations

import base64
import contextlib

from hypothesis import given

from protocols import crl
from protocols.x509 import csr
from tests.fuzz.conftest import Seeds
from tests.fuzz.mutations import FUZZ, hostile


def test_rfc2986_any_octets_are_a_csr_or_malformed_csr(seeds: Seeds) -> None:
    seeds_and_pem = seeds.csr + [base64.b64encode(s) for s in seeds.csr]

    @FUZZ
    @given(hostile(seeds_and_pem))
    def check(data: bytes) -> None:
        try:
            request = csr.parse_csr(data)
        except (csr.MalformedCSR, csr.BadProofOfPossession):
            return
        csr.key_description(request.spki_der)

    check()


def test_rfc5280_5_1_any_octets_are_a_crl_or_crl_format_error(seeds: Seeds) -> None:
    @FUZZ
    @given(hostile(seeds.crl))
    def check(data: bytes) -> None:
        with contextlib.suppress(crl.CRLFormatError):
            crl.parse_crl(data)

    check()
