"""hsm/wire.py, the signer socket protocol: any request and reply round-trips, and any
octets either decode or raise FrameError (a signer reads what any local process writes to
its socket; a pipeline reads what its signer answers)."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from hsm import wire
from tests.fuzz.mutations import FUZZ

_GROUPS = st.lists(
    st.tuples(
        st.text(max_size=40),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", max_size=20),
        st.sampled_from(wire.Mode),
        st.lists(st.binary(max_size=64), max_size=5),
    ),
    max_size=5,
)
_RESULTS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([wire.Status.SIGNED, wire.Status.ERROR, wire.Status.WRONG]),
            st.binary(max_size=80),
        ),
        st.tuples(
            st.just(wire.Status.VERIFIED),
            st.binary(min_size=wire.DIGEST_SIZE, max_size=wire.DIGEST_SIZE + 80),
        ),
    ),
    max_size=8,
)


@FUZZ
@given(_GROUPS)
def test_any_request_round_trips(groups: list[wire.Group]) -> None:
    frame = wire.encode_request(groups)
    assert wire.frame_length(frame[:4]) == len(frame) - 4
    assert wire.decode_request(frame[4:]) == [(u, a, m, list(ms)) for u, a, m, ms in groups]


@FUZZ
@given(_RESULTS)
def test_any_reply_round_trips(results: list[wire.Result]) -> None:
    frame = wire.encode_results(results)
    assert wire.decode_reply(frame[4:]) == results


@FUZZ
@given(_GROUPS, st.binary(max_size=16), st.integers(0, 400))
def test_altered_requests_decode_or_raise_frame_error(
    groups: list[wire.Group], noise: bytes, at: int
) -> None:
    payload = wire.encode_request(groups)[4:]
    at = min(at, len(payload))
    for altered in (payload[:at] + noise + payload[at + len(noise) :], payload[:at] + noise):
        with contextlib.suppress(wire.FrameError):
            for _uri, _alg, mode, _messages in wire.decode_request(altered):
                assert mode in wire.Mode


@FUZZ
@given(_RESULTS, st.binary(max_size=16), st.integers(0, 400))
def test_altered_replies_decode_or_raise_frame_error(
    results: list[wire.Result], noise: bytes, at: int
) -> None:
    payload = wire.encode_results(results)[4:]
    at = min(at, len(payload))
    for altered in (payload[:at] + noise + payload[at + len(noise) :], payload[:at] + noise):
        with contextlib.suppress(wire.FrameError):
            decoded = wire.decode_reply(altered)
            if isinstance(decoded, list):
                for status, octets in decoded:
                    assert status is not wire.Status.VERIFIED or len(octets) >= wire.DIGEST_SIZE
