"""protocols/der.py: any octets are one DER value with its children, or DERError (X.690
8.1, 10.1), seeded with OpenSSL's CMP and OCSP requests."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from protocols import der
from tests.fuzz.conftest import Seeds
from tests.fuzz.mutations import FUZZ, hostile


def test_x690_8_1_any_octets_are_tlvs_or_der_error(seeds: Seeds) -> None:
    @FUZZ
    @given(hostile(seeds.cmp + seeds.ocsp))
    def check(data: bytes) -> None:
        with contextlib.suppress(der.DERError):
            for _tag, child in der.elements(data):
                der.contents(child)
        with contextlib.suppress(der.DERError):
            der.children(data, 0, len(data))

    check()


@FUZZ
@given(st.binary(max_size=64), st.integers(0, 80), st.integers(0, 0xFF))
def test_x690_8_1_one_reads_within_its_bounds_only(data: bytes, end: int, tag: int) -> None:
    end = min(end, len(data))
    try:
        found = der.one(data, 0, end, tag)
    except der.DERError:
        return
    assert found.tag == tag and found.end == end
