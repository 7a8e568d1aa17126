"""pyasn1 decoding and encoding that never let a pyasn1 exception out: its texts dump the
whole schema, so they become a short :data:`MalformedDER` (a ValueError) here. Shared by the
CMP, CRMF and signature modules; nothing here does I/O."""

from __future__ import annotations

from typing import Any

from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error

from protocols import der

MalformedDER = der.DERError  # the octets are not the DER (or the ASN.1 value) expected


def decode_der(der: bytes, spec: Any, what: str) -> Any:
    """``der`` decoded as the pyasn1 type ``spec``; exactly one value, nothing after it.

    pyasn1 errors (whose text dumps the whole schema) become a short MalformedDER."""
    try:
        value, rest = decoder.decode(der, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError, IndexError, KeyError) as exc:
        raise MalformedDER(f"{what} does not decode: {short_reason(exc)}") from None
    if rest:
        raise MalformedDER(f"{len(rest)} octets after the {what}")
    return value


def short_reason(exc: BaseException) -> str:
    """The first line of an exception's text, at most 160 characters: pyasn1 puts the
    whole schema in its messages."""
    text = str(exc)
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def encode_der(value: Any) -> bytes:
    """The DER of a pyasn1 value (bytes, for mypy's sake)."""
    return bytes(encoder.encode(value))
