"""Reference builds made the straightforward way, one asn1crypto tree each, for the tests
that hold the CA's hand-joined DER to them (tests/unit/server/test_issued_bytes.py,
tests/unit/protocols/test_x509_names.py)."""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from protocols.x509.names import ATTRIBUTES
from protocols.x509.ru_identifiers import VALIDATORS


class _AttributeTypeAndValue(core.Sequence):
    """AttributeTypeAndValue (RFC 5280 4.1.2.4) with the value's string type left to us."""

    _fields = [("type", core.ObjectIdentifier), ("value", core.Any)]  # noqa: RUF012


def name_der(attributes: Sequence[tuple[str, str]]) -> bytes:
    """The Name of (short name, value) pairs in RFC 4514 order, each value in its
    attribute's string type (protocols/x509/names.py's table), built by asn1crypto."""
    rdns = []
    for attribute, value in reversed(list(attributes)):
        spec = ATTRIBUTES[attribute]
        validator = VALIDATORS.get(attribute)
        if validator is not None:
            value = validator(value)
        string = spec.string_type(value.upper() if attribute == "C" else value)
        pair = _AttributeTypeAndValue({"type": spec.oid, "value": string})
        # Re-read through asn1crypto's own class, whose value specs (EmailAddress,
        # DirectoryString) refuse a plain string object but parse its DER.
        rdns.append(
            asn1_x509.RelativeDistinguishedName([asn1_x509.NameTypeAndValue.load(pair.dump())])
        )
    return bytes(asn1_x509.Name(name="", value=asn1_x509.RDNSequence(rdns)).dump())
