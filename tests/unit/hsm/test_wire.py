"""The signer socket protocol: round trips and malformed frames."""

from __future__ import annotations

import contextlib
import struct

import pytest

from hsm import wire

GROUPS = [
    ("pkcs11:token=t;object=a;type=private", "ec-p256", [b"", b"one", b"\x00" * 70000]),
    ("file:/keys/ca.pem", "rsa-2048", [b"two"]),
    ("file:/keys/empty.pem", "ed25519", []),
]


def payload_of(frame: bytes) -> bytes:
    assert wire.frame_length(frame[:4]) == len(frame) - 4
    return frame[4:]


def test_request_round_trip() -> None:
    decoded = wire.decode_request(payload_of(wire.encode_request(GROUPS)))
    assert decoded == [(u, a, list(m)) for u, a, m in GROUPS]


def test_results_round_trip() -> None:
    results = [(True, b"sig-1"), (False, b"no such key"), (True, b"")]
    assert wire.decode_reply(payload_of(wire.encode_results(results))) == results


def test_batch_error_round_trip() -> None:
    assert wire.decode_reply(payload_of(wire.encode_batch_error("bad frame: é"))) == "bad frame: é"


def test_oversized_frame_header_is_refused() -> None:
    with pytest.raises(wire.FrameError, match="exceeds"):
        wire.frame_length(struct.pack(">I", wire.MAX_FRAME + 1))


@pytest.mark.parametrize("cut", [1, 3, 7, 20, -1])
def test_truncated_request_is_refused(cut: int) -> None:
    payload = payload_of(wire.encode_request(GROUPS))
    with pytest.raises(wire.FrameError):
        wire.decode_request(payload[:cut])


def test_trailing_octets_and_bad_version_are_refused() -> None:
    payload = payload_of(wire.encode_request(GROUPS))
    with pytest.raises(wire.FrameError, match="trailing"):
        wire.decode_request(payload + b"\x00")
    with pytest.raises(wire.FrameError, match="version"):
        wire.decode_request(b"\x02" + payload[1:])
    reply = payload_of(wire.encode_results([(True, b"s")]))
    with pytest.raises(wire.FrameError, match="does not match"):
        wire.decode_reply(reply[:-1])
    with pytest.raises(wire.FrameError, match="kind"):
        wire.decode_reply(reply[:1] + b"\x07" + reply[2:])


def test_garbage_either_decodes_or_raises_frame_error() -> None:
    seed = wire.encode_request(GROUPS)[4:]
    for i in range(len(seed) if len(seed) < 400 else 400):
        mutated = bytearray(seed)
        mutated[i] ^= 0xFF
        with contextlib.suppress(wire.FrameError):
            wire.decode_request(bytes(mutated))
