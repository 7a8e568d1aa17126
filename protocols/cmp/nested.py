"""Nested messages (RFC 9810 5.1.3.4, RFC 9483 5.2.2): read and written.

Theory of operation. A ``nested`` PKIBody is NestedMessageContent ::= PKIMessages, a
SEQUENCE SIZE (1..MAX) OF PKIMessage: an RA (a PKI management entity) wraps one request to
add its own protection (RFC 9483 5.2.2.1) or several to batch them (5.2.2.2), whose
answers go back nested too. :func:`inner_messages` cuts the inner PKIMessages out of the
octets received, without re-encoding, so that each one's protection is checked over exactly
what its sender protected; it counts them before handing any over, so a caller bounds the
work one message can cause. :func:`nested_body` writes the body of an answer from inner
answers already assembled. :func:`orig_pki_messages` cuts out the end entity's original
message(s) that an RA which replaced their protection kept in generalInfo (5.2.3.1).
Nothing here judges who may nest what: that is ``server/cmp/ra.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyasn1.type import univ

from protocols.cmp.crmf import encode_der
from protocols.cmp.messages import BODY_TAGS, CMPFormatError, PKIMessage
from protocols.der import DERError
from protocols.der import elements as der_elements
from protocols.der import tlv as der_tlv

__all__ = [
    "ID_IT_ORIG_PKI_MESSAGE",
    "NestedFormatError",
    "inner_messages",
    "nested_body",
    "orig_pki_messages",
]

ID_IT_ORIG_PKI_MESSAGE = "1.3.6.1.5.5.7.4.15"  # RFC 9810 5.1.1.3
_ORIG_PKI_MESSAGE_OID_DER = encode_der(univ.ObjectIdentifier(ID_IT_ORIG_PKI_MESSAGE))
_GENERAL_INFO_TAG = 0xA8  # PKIHeader generalInfo [8] EXPLICIT (RFC 9810 5.1.1)

_SEQUENCE = 0x30
_NESTED_TAG = 0xA0 | BODY_TAGS["nested"]  # [20] EXPLICIT (RFC 9810 5.1.2)


class NestedFormatError(CMPFormatError):
    """A nested body that holds no PKIMessage, more than allowed, or not PKIMessages."""


def inner_messages(message: PKIMessage, limit: int) -> tuple[bytes, ...]:
    """The DER of each PKIMessage of ``message``'s nested body, in order, as received.
    Raises NestedFormatError when the body is not nested, is empty (PKIMessages is SIZE
    (1..MAX), RFC 9810 5.1), holds more than ``limit`` messages (counted before any is
    returned), or an element is not a SEQUENCE."""
    if message.body_type != "nested":
        raise NestedFormatError(f"a {message.body_type} body is not nested")
    try:
        body = der_elements(message.protected_part)[1]
        if body[0] != _NESTED_TAG:
            raise NestedFormatError("the body is not [20] nested")
        sequence = der_elements(body[1])
        if len(sequence) != 1 or sequence[0][0] != _SEQUENCE:
            raise NestedFormatError("NestedMessageContent is one SEQUENCE OF PKIMessage")
        inner = der_elements(sequence[0][1])
    except (DERError, IndexError) as exc:
        raise NestedFormatError(f"nested body: {exc}") from None
    if not inner:
        raise NestedFormatError("NestedMessageContent holds no PKIMessage (SIZE (1..MAX))")
    if len(inner) > limit:
        raise NestedFormatError(f"{len(inner)} nested messages; at most {limit} are served")
    if any(tag != _SEQUENCE for tag, _raw in inner):
        raise NestedFormatError("a nested element is not a PKIMessage SEQUENCE")
    return tuple(raw for _tag, raw in inner)


def orig_pki_messages(message: PKIMessage, limit: int) -> tuple[bytes, ...] | None:
    """The DER of each PKIMessage in the header's generalInfo id-it-origPKIMessage (RFC 9810
    5.1.1.3: PKIMessages, the end entity's original message(s), kept by an RA that replaced
    their protection, RFC 9483 5.2.3.1), as received; None when generalInfo holds none.
    Raises NestedFormatError when its value is missing, is not a SEQUENCE OF PKIMessage
    SEQUENCEs, is empty, or holds more than ``limit`` (counted before any is returned)."""
    try:
        header = der_elements(message.protected_part)[0][1]
        infos = [raw for tag, raw in der_elements(header) if tag == _GENERAL_INFO_TAG]
        items = der_elements(der_elements(infos[0])[0][1]) if infos else []
        for _tag, item in items:
            parts = der_elements(item)
            if parts[0][1] != _ORIG_PKI_MESSAGE_OID_DER:
                continue
            if len(parts) != 2 or parts[1][0] != _SEQUENCE:
                raise NestedFormatError("origPKIMessage is PKIMessages, a SEQUENCE OF PKIMessage")
            originals = der_elements(parts[1][1])
            if not originals or any(tag != _SEQUENCE for tag, _raw in originals):
                raise NestedFormatError("origPKIMessage holds PKIMessage SEQUENCEs (1..MAX)")
            if len(originals) > limit:
                raise NestedFormatError(f"{len(originals)} original messages; at most {limit}")
            return tuple(raw for _tag, raw in originals)
    except (DERError, IndexError) as exc:
        raise NestedFormatError(f"generalInfo: {exc}") from None
    return None


def nested_body(messages: Sequence[bytes]) -> bytes:
    """The PKIBody ``nested`` [20] holding ``messages`` (each a whole DER PKIMessage, in
    the order given). Raises ValueError for none (PKIMessages is SIZE (1..MAX))."""
    if not messages:
        raise ValueError("a nested body holds at least one PKIMessage")
    return der_tlv(_NESTED_TAG, der_tlv(_SEQUENCE, b"".join(messages)))
