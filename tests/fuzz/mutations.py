"""Hypothesis strategies that damage real messages the way a hostile or broken client does:
bit flips, truncations, insertions, deletions, duplicated spans, and DER length fields
rewritten (to zero, to the indefinite form, to a long form of up to 9 octets such as 2^64,
to values past the end). Each op keeps the rest of the message intact, so a mutant gets
past the outer layers and reaches the inner parsers."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Deterministic (derandomize) and with no example database on disk: CI never flakes and
# never depends on a previous run; a few hundred examples keep each test to seconds.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# pyasn1 spends milliseconds on each broken PKIMessage (its error texts print the schema):
# fewer examples keep CMP to a few seconds.
FUZZ_SLOW = settings(FUZZ, max_examples=100)

# Length octets that are legal BER but wrong here, or absurd: the indefinite form (X.690
# 8.1.3.6), long forms of 5 to 9 octets (2^64 needs 9), and lengths past any message.
HOSTILE_LENGTHS = (
    b"\x80",
    b"\x81\x00",
    b"\x84\xff\xff\xff\xff",
    b"\x85\x01\x00\x00\x00\x00",
    b"\x88\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x89\x01\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x8f" + b"\xff" * 15,
)


def tlv_offsets(data: bytes) -> list[int]:
    """Where each TLV of a DER value begins, at every depth (constructed values are walked
    into), best effort: the places whose next octet is a length field worth rewriting."""
    found: list[int] = []
    stack = [(0, len(data))]
    while stack:
        offset, end = stack.pop()
        while offset + 2 <= end:
            found.append(offset)
            tag, length, start = data[offset], data[offset + 1], offset + 2
            if length & 0x80:
                count = length & 0x7F
                length = int.from_bytes(data[start : start + count], "big")
                start += count
            if start + length > end:
                break
            if tag & 0x20:
                stack.append((start, start + length))
            elif tag in (0x03, 0x04) and length > 2:  # BIT/OCTET STRING may wrap DER
                stack.append((start + (tag == 0x03), start + length))
            offset = start + length
    return sorted(set(found))


@st.composite
def _mutation(draw: st.DrawFn, data: bytes) -> bytes:
    if not data:
        return draw(st.binary(max_size=64))
    at = draw(st.integers(0, len(data) - 1))
    op = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "repeat", "length",
                               "length", "byte")))  # fmt: skip
    if op == "flip":
        bit = draw(st.integers(0, 7))
        return data[:at] + bytes((data[at] ^ (1 << bit),)) + data[at + 1 :]
    if op == "truncate":
        return data[:at]
    if op == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if op == "delete":
        return data[:at] + data[at + draw(st.integers(1, 16)) :]
    if op == "repeat":
        span = data[at : at + draw(st.integers(1, 64))]
        return data[:at] + span * draw(st.integers(2, 50)) + data[at:]
    if op == "length":  # the octet after a tag is a length field: rewrite it
        at = draw(st.sampled_from(tlv_offsets(data) or [at]))
        return data[: at + 1] + draw(st.sampled_from(HOSTILE_LENGTHS)) + data[at + 2 :]
    return data[:at] + bytes((draw(st.integers(0, 255)),)) + data[at + 1 :]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """One of `seeds` after one to four mutations."""
    data = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        data = draw(_mutation(data))
    return data


def hostile(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Mutants of real messages, and plain random bytes."""
    return st.one_of(mutated(seeds), st.binary(max_size=512))
