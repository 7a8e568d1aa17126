"""The few DER primitives the hand-walked codecs need: one TLV out, a constructed value's
children in (OCSP requests, and the exact octets CMP protection covers).

The OCSP request parser walks DER with :func:`children` rather than asn1crypto: asn1crypto
takes about 200 µs for a one-certificate request (lazy parsing builds an object per field),
this takes about 15 µs, and it rejects what asn1crypto lets through at inner levels
(indefinite lengths, a child running past its parent). CMP cuts a message's header, body
and extraCerts out of the received octets with :func:`elements`, so MACs and signatures are
checked over exactly what was sent. Tags are one octet: no OCSP or CMP field at these levels
uses a tag number above 30 (X.690 8.1.2.4).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["TLV", "DERError", "children", "contents", "elements", "one", "spki_parts", "tlv"]


class DERError(ValueError):
    """The octets are not the DER expected."""


class TLV(NamedTuple):
    """One value inside a buffer: its tag octet, where its TLV begins, where its contents
    begin and end (``data[offset:end]`` is the whole TLV, ``data[start:end]`` the value)."""

    tag: int
    offset: int
    start: int
    end: int


def tlv(tag: int, body: bytes) -> bytes:
    """A DER TLV of one-octet ``tag`` with definite length (X.690 8.1.3 and 10.1)."""
    length = len(body)
    if length < 0x80:
        return bytes((tag, length)) + body
    if length < 0x10000:  # the usual long forms, without int.to_bytes (OCSP's hot path)
        if length < 0x100:
            return bytes((tag, 0x81, length)) + body
        return bytes((tag, 0x82, length >> 8, length & 0xFF)) + body
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + body


def children(data: bytes, start: int, end: int) -> list[TLV]:
    """The TLVs that exactly fill ``data[start:end]``. Raises DERError for a multi-octet
    tag, an indefinite length (X.690 10.1), a length of more than 4 octets, or a value that
    runs past ``end``."""
    found = []
    offset = start
    while offset < end:
        child = _read(data, offset, end)
        found.append(child)
        offset = child[3]
    return found


def one(data: bytes, start: int, end: int, tag: int) -> TLV:
    """The single TLV, of tag ``tag``, that exactly fills ``data[start:end]``."""
    if start >= end:
        raise DERError(f"expected one value of tag {tag:#04x}")
    found = _read(data, start, end)
    if found[0] != tag or found[3] != end:
        raise DERError(f"expected one value of tag {tag:#04x}")
    return found


def contents(value: bytes) -> bytes:
    """The contents octets of ``value``, which must be exactly one TLV."""
    found = _read(value, 0, len(value))
    if found[3] != len(value):
        raise DERError(f"{len(value) - found[3]} octets after the DER value")
    return value[found[2] : found[3]]


def elements(value: bytes) -> list[tuple[int, bytes]]:
    """(tag octet, whole TLV) of each value inside the one constructed TLV ``value``, in
    order: the exact octets a signature or MAC covers, never re-encoded."""
    inner = contents(value)
    return [(child[0], inner[child[1] : child[3]]) for child in children(inner, 0, len(inner))]


def spki_parts(spki: bytes) -> tuple[bytes, bytes] | None:
    """The AlgorithmIdentifier (whole TLV) and the subjectPublicKey BIT STRING's contents of
    a SubjectPublicKeyInfo that is exactly SEQUENCE { SEQUENCE, BIT STRING } in DER form;
    None for anything else, which the caller then reads with asn1crypto for its exact
    verdict. Certificate building reads every subject's key this way: asn1crypto took
    about 15 µs to read one."""
    try:
        outer = one(spki, 0, len(spki), 0x30)
        fields = children(spki, outer.start, outer.end)
    except DERError:
        return None
    if len(fields) != 2 or fields[0].tag != 0x30 or fields[1].tag != 0x03:
        return None
    algorithm, bits = fields
    return spki[algorithm.offset : algorithm.end], spki[bits.start : bits.end]


def _read(data: bytes, offset: int, end: int) -> TLV:
    """The TLV at ``offset``, which must end by ``end``. The request parser's hot loop:
    tuple.__new__ skips the Python-level NamedTuple constructor."""
    if offset + 2 > end:
        raise DERError("truncated TLV")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-octet tag")
    length = data[offset + 1]
    content = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise DERError("indefinite length (X.690 10.1)")
        if count > 4 or content + count > end:
            raise DERError("bad length")
        length = int.from_bytes(data[content : content + count], "big")
        content += count
    stop = content + length
    if stop > end:
        raise DERError("truncated value")
    return _new_tuple(TLV, (tag, offset, content, stop))


_new_tuple = tuple.__new__
