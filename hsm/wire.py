"""The signer socket protocol: length-prefixed binary frames, no I/O here.

Why not pickle: a signer process holds the CA's keys, so what it reads from its socket
must be data, never code. The format is small and explicit (all integers big-endian):

    frame         = length:u32 payload            (length of payload, at most MAX_FRAME)
    sign request  = version:u8 (=2) groups:u16 group*
    group         = uri_len:u16 uri:utf-8 alg_len:u8 alg:ascii mode:u8 count:u32 message*
                    mode 0 (SIGN): sign each message
                    mode 1 (SIGN_VERIFIED): sign each message, then verify the signature
                           over that message with the key's public key
    message       = len:u32 octets
    sign reply    = version:u8 (=2) kind:u8 body
      kind 0 (results)     body = count:u32 result*   one result per message, in order
                           result = status:u8 len:u32 octets
                           status 0 (SIGNED): octets are the signature (mode 0)
                           status 1 (ERROR): UTF-8 error text (no signature made)
                           status 2 (VERIFIED): SHA-256 of the message the signature was
                                    verified over (32 octets), then the signature (mode 1)
                           status 3 (WRONG): UTF-8 text; a signature was made but did not
                                    verify over its message, so it is not sent (mode 1)
      kind 1 (batch error) body = len:u32 UTF-8 error text (the whole frame failed)

One request frame is one batch and gets exactly one reply frame: one round trip per batch.
A batch may hold several groups so that requests for different keys, or of both modes,
travel together.

Why a digest beside a verified signature: the signer's check proves that the key signed
*some* message; the digest lets the caller's side prove it is the message this caller
sent, so that a mix-up of batching, result order or framing anywhere between the signer
and the caller is caught instead of handing a caller another caller's signature.
Version 2 added the mode and statuses 2 and 3; a version-1 peer is refused by version.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence

VERSION = 2
MAX_FRAME = 256 * 1024 * 1024
RESULTS, BATCH_ERROR = 0, 1
DIGEST_SIZE = 32  # SHA-256


class Mode(enum.IntEnum):
    SIGN = 0
    SIGN_VERIFIED = 1


class Status(enum.IntEnum):
    SIGNED = 0
    ERROR = 1
    VERIFIED = 2
    WRONG = 3


_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_REQ_HEAD = struct.Struct(">BH")
_REPLY_HEAD = struct.Struct(">BB")
_RESULT_HEAD = struct.Struct(">BI")
_STATUSES = tuple(Status)
_MODES = tuple(Mode)

Group = tuple[str, str, Mode, Sequence[bytes]]  # key uri, algorithm value, mode, messages
# (status, octets): the signature (SIGNED), digest + signature (VERIFIED), or UTF-8 text.
Result = tuple[Status, bytes]


class FrameError(ValueError):
    """A frame does not follow the format above."""


def frame_length(header: bytes) -> int:
    """The payload length from a 4-octet frame header. Raises FrameError if too large."""
    (length,) = _U32.unpack(header)
    if length > MAX_FRAME:
        raise FrameError(f"frame of {length} octets exceeds the limit of {MAX_FRAME}")
    return length


def _framed(parts: list[bytes]) -> bytes:
    parts[0] = _U32.pack(sum(map(len, parts))) + parts[0]
    return b"".join(parts)


def encode_request(groups: Sequence[Group]) -> bytes:
    """A whole request frame, length prefix included."""
    pack32 = _U32.pack
    parts = [_REQ_HEAD.pack(VERSION, len(groups))]
    for uri, algorithm, mode, messages in groups:
        uri_b = uri.encode("utf-8")
        alg_b = algorithm.encode("ascii")
        parts.append(
            _U16.pack(len(uri_b))
            + uri_b
            + bytes((len(alg_b),))
            + alg_b
            + bytes((mode,))
            + pack32(len(messages))
        )
        for m in messages:
            parts.append(pack32(len(m)))
            parts.append(m)
    return _framed(parts)


def decode_request(payload: bytes) -> list[tuple[str, str, Mode, list[bytes]]]:
    """Groups of a request payload. Raises FrameError."""
    try:
        version, count = _REQ_HEAD.unpack_from(payload, 0)
        if version != VERSION:
            raise FrameError(f"unknown protocol version {version}")
        pos = _REQ_HEAD.size
        groups = []
        view = memoryview(payload)
        unpack32 = _U32.unpack_from
        for _ in range(count):
            (uri_len,) = _U16.unpack_from(payload, pos)
            pos += 2
            uri = bytes(view[pos : pos + uri_len]).decode("utf-8")
            pos += uri_len
            alg_len = payload[pos]
            pos += 1
            algorithm = bytes(view[pos : pos + alg_len]).decode("ascii")
            pos += alg_len
            mode = payload[pos]
            if mode >= len(_MODES):
                raise FrameError(f"unknown signing mode {mode}")
            pos += 1
            (n,) = unpack32(payload, pos)
            pos += 4
            messages = []
            for _ in range(n):
                (m_len,) = unpack32(payload, pos)
                pos += 4
                if pos + m_len > len(payload):
                    raise FrameError("message runs past the end of the frame")
                messages.append(bytes(view[pos : pos + m_len]))
                pos += m_len
            groups.append((uri, algorithm, _MODES[mode], messages))
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed request frame: {exc}") from None
    if pos != len(payload):
        raise FrameError("trailing octets after the last group")
    return groups


def encode_results(results: Sequence[Result]) -> bytes:
    """A whole reply frame carrying one result per message."""
    head = _RESULT_HEAD.pack
    parts = [_REPLY_HEAD.pack(VERSION, RESULTS) + _U32.pack(len(results))]
    for status, octets in results:
        parts.append(head(status, len(octets)))
        parts.append(octets)
    return _framed(parts)


def encode_batch_error(message: str) -> bytes:
    """A whole reply frame saying the batch failed as a whole."""
    text = message.encode("utf-8")
    return _framed([_REPLY_HEAD.pack(VERSION, BATCH_ERROR) + _U32.pack(len(text)) + text])


def decode_reply(payload: bytes) -> list[Result] | str:
    """The per-message results, or the batch error text. Raises FrameError."""
    try:
        version, kind = _REPLY_HEAD.unpack_from(payload, 0)
        if version != VERSION:
            raise FrameError(f"unknown protocol version {version}")
        (n,) = _U32.unpack_from(payload, 2)
        pos = 6
        if kind == BATCH_ERROR:
            text = payload[pos : pos + n].decode("utf-8", "replace")
            pos += n
            result: list[Result] | str = text
        elif kind == RESULTS:
            results = []
            unpack = _RESULT_HEAD.unpack_from
            for _ in range(n):
                status, length = unpack(payload, pos)
                pos += 5
                if status >= len(_STATUSES):
                    raise FrameError(f"unknown result status {status}")
                if status == Status.VERIFIED and length < DIGEST_SIZE:
                    raise FrameError("a verified result shorter than its digest")
                results.append((_STATUSES[status], payload[pos : pos + length]))
                pos += length
            result = results
        else:
            raise FrameError(f"unknown reply kind {kind}")
    except struct.error as exc:
        raise FrameError(f"malformed reply frame: {exc}") from None
    if pos != len(payload):
        raise FrameError("reply frame length does not match its contents")
    return result
