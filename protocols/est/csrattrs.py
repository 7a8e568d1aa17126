"""CSR attributes (RFC 7030 4.5.2, RFC 8951 section 4, RFC 9908): what the CSR should hold.

A client asks /csrattrs what its next CSR should contain; the answer is ``CsrAttrs``, a
SEQUENCE OF ``AttrOrOID``, each either a bare OID ("include this": challengePassword asks
for the tls-unique value of RFC 7030 3.5, id-ecPublicKey for an EC key, ecdsa-with-SHA384
for the signature) or an Attribute with values ("include this, with these": id-ecPublicKey
with the curve, extensionRequest with the Extensions wanted). RFC 8951 section 4 corrected
the ASN.1: an Attribute's values are a SET SIZE (1..MAX), so an Attribute without values is
refused here; a bare OID says that. RFC 9908 clarifies that an Attribute's values are of the
type its OID names (extensionRequest carries Extensions), which RFC 7030's own example does
not follow (its extensionRequest holds a bare OID); values are kept here as opaque DER, so
both encode and parse alike, and what they mean is the caller's business.

:class:`CSRAttribute` is one AttrOrOID: a dotted OID and the DER of its values, empty for a
bare OID. The values are kept sorted by their encodings, the order DER puts a SET OF in
(X.690 11.6), so that ``parse_csr_attributes(der(x)) == x``.

:func:`tls_unique_matches` is the check of RFC 7030 3.5 that the CSR was made inside this
TLS session: its challengePassword is the base64 of the session's tls-unique (RFC 5929 3).
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import core

from protocols.est.encoding import ESTFormatError, base64_body

__all__ = [
    "CHALLENGE_PASSWORD",
    "EXTENSION_REQUEST",
    "ID_EC_PUBLIC_KEY",
    "AttrOrOID",
    "CSRAttribute",
    "CsrAttrs",
    "csr_attributes",
    "oid_der",
    "parse_csr_attributes",
    "tls_unique_matches",
]

CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7"  # RFC 2985 5.4.1; RFC 7030 3.5
EXTENSION_REQUEST = "1.2.840.113549.1.9.14"  # RFC 2985 5.4.2
ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"  # RFC 5480 2.1.1

_DOTTED = re.compile(r"(0|1|2)(\.(0|[1-9][0-9]*))+")
_SPEC = "RFC 7030 4.5.2, RFC 8951 section 4"


class _AttributeValues(core.SetOf):
    _child_spec = core.Any


class _Attribute(core.Sequence):
    # RFC 8951 section 4: Attribute ::= SEQUENCE { type, values SET SIZE(1..MAX) OF ... }
    _fields = [("type", core.ObjectIdentifier), ("values", _AttributeValues)]  # noqa: RUF012


class AttrOrOID(core.Choice):
    """RFC 7030 4.5.2: AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }"""

    _alternatives = [("oid", core.ObjectIdentifier), ("attribute", _Attribute)]  # noqa: RUF012


class CsrAttrs(core.SequenceOf):
    """RFC 8951 section 4: CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID"""

    _child_spec = AttrOrOID


@dataclass(frozen=True)
class CSRAttribute:
    """One AttrOrOID: ``oid`` dotted; ``values`` the DER of each value, empty for a bare
    OID, sorted on construction (see the module).

    Raises ValueError for an OID that is not dotted decimal (X.660) or a value that is not
    exactly one DER TLV."""

    oid: str
    values: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_oid(self.oid)
        for value in self.values:
            if not isinstance(value, bytes):
                raise TypeError(f"attribute values are DER bytes, not {type(value).__name__}")
            try:
                core.Asn1Value.load(value, strict=True)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"value of {self.oid} is not one DER value: {exc}") from exc
        object.__setattr__(self, "values", tuple(sorted(self.values)))


def oid_der(dotted: str) -> bytes:
    """The DER of an OBJECT IDENTIFIER, as a value of a :class:`CSRAttribute` (the curve of
    id-ecPublicKey, say). Raises ValueError for an OID that is not dotted decimal."""
    _check_oid(dotted)
    return core.ObjectIdentifier(dotted).dump()


def csr_attributes(attributes: Sequence[CSRAttribute]) -> bytes:
    """The ``application/csrattrs`` body (RFC 7030 4.5.2): the DER of CsrAttrs of
    ``attributes``, in their order, in base64 with lines of 64 characters. An empty list
    makes an empty SEQUENCE, which is valid; RFC 7030 4.5.2 lets the server answer 204
    instead, which is the caller's choice."""
    return base64_body(_csr_attrs_der(attributes))


def parse_csr_attributes(der: bytes) -> list[CSRAttribute]:
    """The AttrOrOIDs of a DER CsrAttrs (RFC 7030 4.5.2), in order.

    Raises ESTFormatError for anything else: not one CsrAttrs, trailing octets, an
    element neither an OID nor an Attribute, an Attribute without values (RFC 8951
    section 4), a value that is not one TLV."""
    try:
        parsed = CsrAttrs.load(der, strict=True)
        return [_from_asn1(item) for item in parsed]
    except ESTFormatError:
        raise
    except Exception as exc:  # asn1crypto's internals on hostile input, whatever they are
        raise ESTFormatError(f"not a CsrAttrs ({_SPEC}): {exc}") from exc


def tls_unique_matches(csr_challenge_password: str | None, tls_unique: bytes) -> bool:
    """Whether the CSR's challengePassword is the base64 (RFC 4648 section 4) of this TLS
    session's tls-unique (RFC 7030 3.5, RFC 5929 3.1), compared in constant time.

    False without a challengePassword, and for an empty ``tls_unique``: TLS 1.3 has no
    tls-unique (RFC 9266), and nothing must match a missing value."""
    if csr_challenge_password is None or not tls_unique:
        return False
    expected = base64.b64encode(tls_unique)
    return hmac.compare_digest(csr_challenge_password.encode("utf-8"), expected)


def _csr_attrs_der(attributes: Sequence[CSRAttribute]) -> bytes:
    items = []
    for attribute in attributes:
        if attribute.values:
            values = [core.Any.load(value) for value in attribute.values]
            item = AttrOrOID(name="attribute", value={"type": attribute.oid, "values": values})
        else:
            item = AttrOrOID(name="oid", value=attribute.oid)
        items.append(item)
    return CsrAttrs(items).dump()


def _from_asn1(item: AttrOrOID) -> CSRAttribute:
    if item.name == "oid":
        return CSRAttribute(item.chosen.dotted)
    oid = item.chosen["type"].dotted
    values = tuple(value.dump() for value in item.chosen["values"])
    if not values:
        raise ESTFormatError(f"attribute {oid} has no values; the SET is SIZE (1..MAX) ({_SPEC})")
    return CSRAttribute(oid, values)


def _check_oid(dotted: str) -> None:
    if not isinstance(dotted, str) or not _DOTTED.fullmatch(dotted):
        raise ValueError(f"{dotted!r} is not a dotted-decimal OID")
    first, second = (int(arc) for arc in dotted.split(".")[:2])
    if first < 2 and second > 39:  # X.660 / X.690 8.19.4
        raise ValueError(f"{dotted!r}: arc {first} has no child above 39")
