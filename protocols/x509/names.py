"""Distinguished names: attribute tables, building, RFC 4514 text, reading back.

Order convention (the same everywhere in this package, in the configuration and in
:func:`format_dn`): a list of ``(attribute, value)`` pairs is in RFC 4514 text
order, most specific first, e.g. ``[("CN", "Demo CA"), ("O", "Demo"), ("C", "RU")]`` for
"CN=Demo CA,O=Demo,C=RU". RFC 4514 section 2.1 writes the RDNSequence from the last element
to the first, so :func:`build_name` reverses the list: the DER starts with C, then O, then CN,
which is what OpenSSL prints as "C = RU, O = Demo, CN = Demo CA". :func:`attributes_of` reads
back in the same text order, so ``attributes_of(build_name(x)) == x``.

String types (RFC 5280 4.1.2.4 and Appendix A, RFC 9215 section 5.1 / Order 795 of the FSB):

* the Russian identifiers OGRN, SNILS, INNLE, OGRNIP, INN: NumericString, digits only,
  validated by check digit (ru_identifiers);
* countryName: PrintableString SIZE(2); serialNumber: PrintableString;
* emailAddress: IA5String (PKCS#9);
* every other attribute: UTF8String (RFC 5280: CAs MUST use UTF8String from 2004 on).

Lengths are capped at the RFC 5280 Appendix A upper bounds where one is defined.
One attribute per RDN: multi-valued RDNs are not built (they are read, flattened).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as crypto_x509

from protocols.der import DERError, children, one, tlv
from protocols.x509.ru_identifiers import VALIDATORS

__all__ = [
    "ATTRIBUTES",
    "AttributeSpec",
    "attributes_of",
    "build_name",
    "format_dn",
    "name_der",
    "name_from_cryptography",
    "parse_dn",
    "plain_attributes",
]

_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")


@dataclass(frozen=True)
class AttributeSpec:
    """How one subject attribute is encoded. ``max_length`` counts characters."""

    short_name: str
    oid: str
    string_type: type[core.AbstractString]
    max_length: int | None


# RFC 5280 Appendix A upper bounds: ub-common-name 64, ub-organization-name 64,
# ub-organizational-unit-name 64, ub-locality-name 128, ub-state-name 128, ub-title 64,
# ub-serial-number 64, ub-emailaddress-length 255 (errata 5, RFC 5280), ub-name 32768.
ATTRIBUTES: dict[str, AttributeSpec] = {
    spec.short_name: spec
    for spec in (
        AttributeSpec("C", "2.5.4.6", core.PrintableString, 2),
        AttributeSpec("ST", "2.5.4.8", core.UTF8String, 128),
        AttributeSpec("L", "2.5.4.7", core.UTF8String, 128),
        AttributeSpec("street", "2.5.4.9", core.UTF8String, 128),
        AttributeSpec("O", "2.5.4.10", core.UTF8String, 64),
        AttributeSpec("OU", "2.5.4.11", core.UTF8String, 64),
        AttributeSpec("CN", "2.5.4.3", core.UTF8String, 64),
        AttributeSpec("SN", "2.5.4.4", core.UTF8String, 32768),
        AttributeSpec("GN", "2.5.4.42", core.UTF8String, 32768),
        AttributeSpec("title", "2.5.4.12", core.UTF8String, 64),
        AttributeSpec("emailAddress", "1.2.840.113549.1.9.1", core.IA5String, 255),
        AttributeSpec("serialNumber", "2.5.4.5", core.PrintableString, 64),
        # Russian identifiers: RFC 9215 section 5.1 and its ASN.1 module RuStrongCertsSyntax
        # {1 2 643 7 1 0 6}. max_length is the exact SIZE; ru_identifiers enforces it and the
        # check digits. Order 795 of the FSB of 27.12.2011, as amended by Order 31 of 29.01.2021
        # (in force 1 Sep 2021): clause numbers not verified against the text (the consolidated
        # text was not retrievable).
        # RFC 9215 5.1: OGRN ::= NumericString (SIZE (13)). Order 795: clause not verified.
        AttributeSpec("OGRN", "1.2.643.100.1", core.NumericString, 13),
        # RFC 9215 5.1: SNILS ::= NumericString (SIZE (11)). Order 795: clause not verified.
        AttributeSpec("SNILS", "1.2.643.100.3", core.NumericString, 11),
        # RFC 9215 5.1: INNLE ::= NumericString (SIZE (10)), a legal entity's INN. Added by
        # Order 31 of 29.01.2021 (10 digits, from 1 Sep 2021); clause not verified.
        AttributeSpec("INNLE", "1.2.643.100.4", core.NumericString, 10),
        # RFC 9215 5.1: OGRNIP ::= NumericString (SIZE (15)). Order 795: clause not verified.
        AttributeSpec("OGRNIP", "1.2.643.100.5", core.NumericString, 15),
        # RFC 9215 5.1: INN ::= NumericString (SIZE (12)). Since Order 31 (1 Sep 2021) a
        # natural person's INN; older certificates also carry a legal entity's INN here,
        # left-padded with "00". Order 795: clause not verified.
        AttributeSpec("INN", "1.2.643.3.131.1.1", core.NumericString, 12),
    )
}
_BY_OID = {spec.oid: spec for spec in ATTRIBUTES.values()}
_SEQUENCE, _SET = 0x30, 0x31
# Universal tags of the string types (X.680 8.6). The checks leave PrintableString, IA5String
# and NumericString values ASCII (the Russian identifiers' validators: digits only), so
# every value's octets are its UTF-8 encoding.
_STRING_TAGS: dict[type[core.AbstractString], int] = {
    core.UTF8String: 0x0C,
    core.NumericString: 0x12,
    core.PrintableString: 0x13,
    core.IA5String: 0x16,
}
_OID_DER = {spec.oid: bytes(core.ObjectIdentifier(spec.oid).dump()) for spec in ATTRIBUTES.values()}
# Names OpenSSL and RFC 4514 also use, accepted by parse_dn.
_ALIASES = {
    "G": "GN",
    "GIVENNAME": "GN",
    "SURNAME": "SN",
    "STREET": "street",
    "STREETADDRESS": "street",
    "TITLE": "title",
    "EMAILADDRESS": "emailAddress",
    "E": "emailAddress",
    "SERIALNUMBER": "serialNumber",
}
_CANONICAL = {name.upper(): name for name in ATTRIBUTES} | _ALIASES


def _checked_value(spec: AttributeSpec, value: str) -> str:
    """The value as it is encoded (a Russian identifier normalised, a country upper-cased),
    or ValueError (InvalidIdentifier for a bad Russian number) naming the attribute."""
    validator: Callable[[str], str] | None = VALIDATORS.get(spec.short_name)
    if validator is not None:
        value = validator(value)  # raises InvalidIdentifier, which names the field
    if not value or not value.strip():
        raise ValueError(f"{spec.short_name}: empty value")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValueError(f"{spec.short_name}: longer than {spec.max_length} characters")
    if spec.short_name == "C" and not (len(value) == 2 and value.isascii() and value.isalpha()):
        raise ValueError("C: must be a two-letter ISO 3166 country code")
    if spec.string_type is core.PrintableString and not _PRINTABLE.fullmatch(value):
        raise ValueError(f"{spec.short_name}: characters outside PrintableString")
    if spec.string_type is core.IA5String and not value.isascii():
        raise ValueError(f"{spec.short_name}: characters outside IA5String (ASCII)")
    return value.upper() if spec.short_name == "C" else value


def build_name(attributes: Sequence[tuple[str, str]]) -> asn1_x509.Name:
    """An X.501 Name from (short name, value) pairs in RFC 4514 order (see module text).

    Russian identifiers are validated and normalised (SNILS loses its dashes).
    Raises ValueError for an unknown attribute, an empty, overlong or badly typed value, and
    ru_identifiers.InvalidIdentifier (a ValueError) for a bad Russian number.

    Each call returns a Name of its own, read from :func:`name_der`."""
    return asn1_x509.Name.load(name_der(attributes))


def name_der(attributes: Sequence[tuple[str, str]]) -> bytes:
    """The DER of :func:`build_name`. Raises as build_name.

    Issuance checks a subject (this) and then signs it (build_name), so the DER of the last
    names built is kept; a refusal is not, and the same pairs raise the same error again."""
    return _kept_name_der(tuple((a, v) for a, v in attributes))


@functools.lru_cache(maxsize=1024)
def _kept_name_der(attributes: tuple[tuple[str, str], ...]) -> bytes:
    """One attribute per RDN, each value checked and encoded in its attribute's string type,
    joined as DER (X.690, definite lengths; a SET of one element needs no sorting):
    asn1crypto took about 45 µs to build a one-attribute name, a tenth of an issuance's own
    CPU, and every subscriber's subject is new. tests/unit/protocols/test_x509_names.py
    holds these bytes to asn1crypto's build of the same name."""
    rdns = []
    for attribute, value in reversed(attributes):
        spec = ATTRIBUTES.get(attribute)
        if spec is None:
            raise ValueError(f"unknown subject attribute {attribute!r}")
        text = _checked_value(spec, value)
        pair = _OID_DER[spec.oid] + tlv(_STRING_TAGS[spec.string_type], text.encode("utf-8"))
        rdns.append(tlv(_SET, tlv(_SEQUENCE, pair)))
    return tlv(_SEQUENCE, b"".join(rdns))


# RFC 4514 section 3: attributeTypeAndValue ( "+" ...)? ("," ...)*; values escape
# "\" followed by a special character or by two hex digits.
_SPECIAL = ',+"\\<>;= #'


def parse_dn(text: str) -> list[tuple[str, str]]:
    """Parse "CN=Demo CA,O=Example,C=RU" (RFC 4514) into pairs, in text order.

    Handles backslash escapes (``\\,``, ``\\+``, ``\\\\``, ``\\2C``...). Attribute names are
    case-insensitive and returned in this module's short form ("cn" -> "CN", "G" -> "GN").
    Multi-valued RDNs ("+") and hex-encoded values ("#04...") are refused.
    Raises ValueError naming an unknown attribute, or describing the syntax error."""
    pairs: list[tuple[str, str]] = []
    position = 0
    length = len(text)
    if not text.strip():
        raise ValueError("empty distinguished name")
    while position <= length:
        equals = text.find("=", position)
        if equals < 0:
            raise ValueError(f"expected attribute=value at offset {position}")
        raw_name = text[position:equals].strip()
        name = _CANONICAL.get(raw_name.upper())
        if name is None:
            raise ValueError(f"unknown attribute {raw_name!r} in distinguished name")
        value, position = _read_value(text, equals + 1)
        pairs.append((name, value))
        if position >= length:
            break
        position += 1  # the ","
    return pairs


def _read_value(text: str, position: int) -> tuple[str, int]:
    raw = bytearray()
    length = len(text)
    while position < length and text[position] == " ":
        position += 1
    if position < length and text[position] == "#":
        raise ValueError("hex-encoded (#) attribute values are not supported")
    trailing_spaces = 0
    while position < length:
        char = text[position]
        if char == ",":
            break
        if char == "+":
            raise ValueError("multi-valued RDNs (+) are not supported")
        if char == "\\":
            escaped = text[position + 1 : position + 2]
            pair = text[position + 1 : position + 3]
            if escaped and escaped in _SPECIAL:
                raw += escaped.encode()
                position += 2
            elif len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                raw.append(int(pair, 16))
                position += 3
            else:
                raise ValueError(f"bad escape at offset {position}")
            trailing_spaces = 0
            continue
        trailing_spaces = trailing_spaces + 1 if char == " " else 0
        raw += char.encode()
        position += 1
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("escaped bytes are not UTF-8") from None
    if trailing_spaces:
        value = value[:-trailing_spaces]
    return value, position


def format_dn(attributes: Iterable[tuple[str, str]]) -> str:
    """RFC 4514 text of pairs in text order; the inverse of :func:`parse_dn`."""

    def escape(value: str) -> str:
        out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
        if out.startswith((" ", "#")):
            out = "\\" + out
        if out.endswith(" "):
            out = out[:-1] + "\\ "
        return out

    return ",".join(f"{attribute}={escape(value)}" for attribute, value in attributes)


def name_from_cryptography(name: crypto_x509.Name) -> asn1_x509.Name:
    """The asn1crypto form of a `cryptography` Name (e.g. a CSR's subject)."""
    return asn1_x509.Name.load(name.public_bytes())


# String tags plain_attributes reads itself, and each one's decoding (asn1crypto's for it).
# PrintableString and IA5String are taken when ASCII only; anything else is asn1crypto's.
_PLAIN_DECODINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii"}
# emailAddress is left to asn1crypto: its value reads back with IDNA labels decoded.
_OID_BY_DER = {
    oid_der: oid for oid, oid_der in _OID_DER.items() if oid != ATTRIBUTES["emailAddress"].oid
}


def plain_attributes(name_der: bytes) -> list[tuple[str, str]] | None:
    """:func:`attributes_of` of a Name's DER read by a DER walk, or None when the Name is
    not plain: not exactly a SEQUENCE of one-attribute SETs, an attribute not in
    :data:`ATTRIBUTES` (or emailAddress), a value not a UTF8String, or a PrintableString or
    IA5String with octets past ASCII. The caller reads a Name that is not plain with
    attributes_of, for its exact verdict. A CSR's subject is read this way: building
    `cryptography`'s Name and asn1crypto's from it took about 40 µs per request."""
    try:
        outer = one(name_der, 0, len(name_der), _SEQUENCE)
        pairs: list[tuple[str, str]] = []
        for rdn in children(name_der, outer.start, outer.end):
            if rdn.tag != _SET:
                return None
            attribute = one(name_der, rdn.start, rdn.end, _SEQUENCE)
            fields = children(name_der, attribute.start, attribute.end)
            if len(fields) != 2 or fields[0].tag != 0x06:
                return None
            oid_field, value = fields
            oid = _OID_BY_DER.get(name_der[oid_field.offset : oid_field.end])
            decoding = _PLAIN_DECODINGS.get(value.tag)
            if oid is None or decoding is None:
                return None
            octets = name_der[value.start : value.end]
            pairs.append((_BY_OID[oid].short_name, octets.decode(decoding)))
    except (DERError, UnicodeDecodeError):
        return None
    pairs.reverse()
    return pairs


def attributes_of(
    name: bytes | asn1_x509.Name | crypto_x509.Name,
) -> list[tuple[str, str]]:
    """(short name, value) pairs of a Name, in RFC 4514 text order (the reverse of DER).

    Accepts DER bytes, an asn1crypto Name or a `cryptography` Name. Attributes without a
    short name in :data:`ATTRIBUTES` are returned under their dotted OID, so that a policy
    check can refuse them by name. Multi-valued RDNs are flattened.
    Raises ValueError if the DER does not parse or a value is not a character string."""
    if isinstance(name, crypto_x509.Name):
        name = name_from_cryptography(name)
    elif isinstance(name, bytes | bytearray):
        try:
            name = asn1_x509.Name.load(bytes(name))
        except ValueError as exc:
            raise ValueError(f"not a DER Name: {exc}") from None
    pairs: list[tuple[str, str]] = []
    try:
        for rdn in name.chosen:
            for pair in rdn:
                oid = pair["type"].dotted
                spec = _BY_OID.get(oid)
                value = pair["value"].native
                if not isinstance(value, str):
                    raise ValueError(f"attribute {oid} is not a character string")
                pairs.append((spec.short_name if spec else oid, value))
    except (TypeError, KeyError) as exc:
        raise ValueError(f"malformed Name: {exc}") from None
    pairs.reverse()
    return pairs
