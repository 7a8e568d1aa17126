"""The signer socket protocol: round trips and malformed frames."""

from __future__ import annotations

import contextlib
import struct

import pytest

from hsm import wire

SIGN, VERIFIED = wire.Mode.SIGN, wire.Mode.SIGN_VERIFIED
GROUPS = [
    ("pkcs11:token=t;object=a;type=private", "ec-p256", SIGN, [b"", b"one", b"\x00" * 70000]),
    ("pkcs11:token=t;object=a;type=private", "ec-p256", VERIFIED, [b"tbs"]),
    ("file:/keys/ca.pem", "rsa-2048", SIGN, [b"two"]),
    ("file:/keys/empty.pem", "ed25519", VERIFIED, []),
]
DIGEST = bytes(range(32))
RESULTS = [
    (wire.Status.SIGNED, b"sig-1"),
    (wire.Status.ERROR, b"no such key"),
    (wire.Status.SIGNED, b""),
    (wire.Status.VERIFIED, DIGEST + b"sig-2"),
    (wire.Status.VERIFIED, DIGEST),
    (wire.Status.WRONG, b"does not verify"),
]


def payload_of(frame: bytes) -> bytes:
    assert wire.frame_length(frame[:4]) == len(frame) - 4
    return frame[4:]


def test_request_round_trip() -> None:
    decoded = wire.decode_request(payload_of(wire.encode_request(GROUPS)))
    assert decoded == [(u, a, mode, list(m)) for u, a, mode, m in GROUPS]
    assert all(type(mode) is wire.Mode for _, _, mode, _ in decoded)


def test_results_round_trip() -> None:
    decoded = wire.decode_reply(payload_of(wire.encode_results(RESULTS)))
    assert decoded == RESULTS
    assert all(type(status) is wire.Status for status, _ in decoded)


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
        wire.decode_request(b"\x01" + payload[1:])  # version 1 had no modes
    reply = payload_of(wire.encode_results([(wire.Status.SIGNED, b"s")]))
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


def test_an_unknown_mode_is_refused() -> None:
    payload = bytearray(payload_of(wire.encode_request([("k", "ed25519", SIGN, [b"m"])])))
    mode_at = 3 + 2 + 1 + 1 + len("ed25519")  # head, uri length, uri, alg length, alg
    assert payload[mode_at] == SIGN
    payload[mode_at] = 2
    with pytest.raises(wire.FrameError, match="mode"):
        wire.decode_request(bytes(payload))


def test_an_unknown_status_or_a_verified_result_without_its_digest_is_refused() -> None:
    reply = bytearray(payload_of(wire.encode_results([(wire.Status.WRONG, b"text")])))
    reply[6] = 4  # the first result's status
    with pytest.raises(wire.FrameError, match="status"):
        wire.decode_reply(bytes(reply))
    short = wire.encode_results([(wire.Status.VERIFIED, DIGEST[:-1])])
    with pytest.raises(wire.FrameError, match="digest"):
        wire.decode_reply(payload_of(short))


def test_garbage_replies_either_decode_or_raise_frame_error() -> None:
    seed = payload_of(wire.encode_results(RESULTS))
    for i in range(len(seed)):
        mutated = bytearray(seed)
        mutated[i] ^= 0xFF
        with contextlib.suppress(wire.FrameError):
            wire.decode_reply(bytes(mutated))
