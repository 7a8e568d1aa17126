"""protocols/ocsp/request.py: any octets are one OCSPRequest or MalformedOCSPRequest
(RFC 6960 4.1.1; answered malformedRequest, 4.2.1), any GET path too (Appendix A.1).
Seeded with OpenSSL's requests, with and without nonce, SHA-1 and SHA-256 CertIDs."""

from __future__ import annotations

import base64
import contextlib
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from protocols import ocsp
from tests.fuzz.conftest import Seeds
from tests.fuzz.mutations import FUZZ, hostile


def test_rfc6960_4_1_1_any_octets_are_a_request_or_malformed(seeds: Seeds) -> None:
    @FUZZ
    @given(hostile(seeds.ocsp), st.integers(0, 128))
    def check(data: bytes, max_nonce: int) -> None:
        with contextlib.suppress(ocsp.MalformedOCSPRequest):
            ocsp.parse_ocsp_request(data, max_nonce)

    check()


def test_rfc6960_appendix_a_1_any_get_path_is_a_request_or_malformed(seeds: Seeds) -> None:
    paths = st.one_of(
        hostile(seeds.ocsp).map(lambda d: urllib.parse.quote(base64.b64encode(d), safe="")),
        st.text(max_size=300),
        hostile([urllib.parse.quote(base64.b64encode(s)).encode() for s in seeds.ocsp]).map(
            lambda raw: raw.decode("latin-1")
        ),
    )

    @FUZZ
    @given(paths)
    def check(path: str) -> None:
        with contextlib.suppress(ocsp.MalformedOCSPRequest):
            ocsp.parse_ocsp_request(ocsp.decode_get_path(path))

    check()
