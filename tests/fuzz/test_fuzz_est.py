"""protocols/est: any body is base64 DER or ESTFormatError (RFC 7030 4.2.1, RFC 8951 3),
any csrattrs body is CsrAttrs or ESTFormatError (RFC 7030 4.5.2), any multipart/mixed
answer is its parts or ESTFormatError (RFC 7030 4.4.2). Seeded with OpenSSL's CSRs and
with our own well-formed answers."""

from __future__ import annotations

import base64
import contextlib

from hypothesis import given
from hypothesis import strategies as st

from protocols import est
from tests.fuzz.conftest import Seeds
from tests.fuzz.mutations import FUZZ, hostile


def test_rfc8951_3_any_body_is_base64_der_or_est_format_error(seeds: Seeds) -> None:
    bodies = [base64.encodebytes(s) for s in seeds.csr] + [base64.b64encode(s) for s in seeds.csr]

    @FUZZ
    @given(hostile(bodies))
    def check(body: bytes) -> None:
        with contextlib.suppress(est.ESTFormatError):
            est.decode_base64_body(body)

    check()


def test_rfc7030_4_5_2_any_csrattrs_is_read_or_est_format_error() -> None:
    seed = est.csr_attributes([
        est.CSRAttribute(est.ID_EC_PUBLIC_KEY, (est.oid_der("1.2.840.10045.3.1.7"),)),
        est.CSRAttribute("1.2.840.113549.1.1.1"),
    ])  # fmt: skip

    @FUZZ
    @given(hostile([seed, base64.b64decode(seed)]))
    def check(body: bytes) -> None:
        with contextlib.suppress(est.ESTFormatError):
            est.parse_csr_attributes(body)

    check()


def test_rfc7030_4_4_2_any_multipart_is_parts_or_est_format_error(seeds: Seeds) -> None:
    body, content_type = est.multipart_mixed(
        [("application/pkcs8", base64.b64encode(seeds.csr[0])),
         ("application/pkcs7-mime; smime-type=certs-only", base64.b64encode(seeds.crl[0]))],
        "est-boundary",
    )  # fmt: skip

    @FUZZ
    @given(hostile([body]), st.sampled_from([content_type, "multipart/mixed", "text/plain"]))
    def check(data: bytes, media: str) -> None:
        with contextlib.suppress(est.ESTFormatError):
            est.parse_multipart_mixed(data, media)

    check()
