"""Distinguished names: string types, order, RFC 4514 text, reading back.

Vectors: the Russian numbers are the known-good values of ru-profile.md section 2; the
expected DER tags are X.680's (NumericString 0x12, PrintableString 0x13, IA5String 0x16,
UTF8String 0x0C); OpenSSL 3.0's `asn1parse` is the independent decoder.
"""

import contextlib
import re
import subprocess

import pytest
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from protocols.der import tlv
from protocols.x509.names import (
    ATTRIBUTES,
    attributes_of,
    build_name,
    format_dn,
    name_der,
    name_from_cryptography,
    parse_dn,
    plain_attributes,
)
from protocols.x509.ru_identifiers import InvalidIdentifier
from tests import asn1crypto_builds

PERSON = [
    ("CN", "Иванов Иван Иванович"),
    ("SN", "Иванов"),
    ("GN", "Иван Иванович"),
    ("SNILS", "112-233-445 95"),
    ("INN", "500100732259"),
    ("emailAddress", "ivanov@example.ru"),
    ("street", "ул. Тверская, д. 1"),
    ("L", "Москва"),
    ("ST", "77 г. Москва"),
    ("C", "RU"),
]
ORGANISATION = [
    ("CN", "ООО «Пример»"),
    ("title", "Генеральный директор"),
    ("OU", "Дирекция"),
    ("O", "ООО «Пример»"),
    ("OGRN", "1027700132195"),
    ("INNLE", "7707083893"),
    ("OGRNIP", "304500116000157"),
    ("serialNumber", "A-123"),
    ("C", "RU"),
]


def tag_of(name: asn1_x509.Name, short_name: str) -> int:
    for rdn in name.chosen:
        for pair in rdn:
            if pair["type"].dotted == OIDS[short_name]:
                return pair["value"].dump()[0]
    raise AssertionError(short_name)


OIDS = {
    "SNILS": "1.2.643.100.3",
    "INN": "1.2.643.3.131.1.1",
    "OGRN": "1.2.643.100.1",
    "INNLE": "1.2.643.100.4",
    "OGRNIP": "1.2.643.100.5",
    "C": "2.5.4.6",
    "emailAddress": "1.2.840.113549.1.9.1",
    "serialNumber": "2.5.4.5",
    "CN": "2.5.4.3",
    "title": "2.5.4.12",
}


@pytest.mark.parametrize(
    ("attributes", "short_name", "tag"),
    [
        (PERSON, "SNILS", 0x12),
        (PERSON, "INN", 0x12),
        (ORGANISATION, "OGRN", 0x12),
        (ORGANISATION, "INNLE", 0x12),
        (ORGANISATION, "OGRNIP", 0x12),
        (PERSON, "C", 0x13),
        (ORGANISATION, "serialNumber", 0x13),
        (PERSON, "emailAddress", 0x16),
        (PERSON, "CN", 0x0C),
        (ORGANISATION, "title", 0x0C),
    ],
)
def test_string_types(attributes, short_name, tag):
    assert tag_of(build_name(attributes), short_name) == tag


def test_snils_is_stored_as_digits_only():
    name = build_name(PERSON)
    assert ("SNILS", "11223344595") in attributes_of(name)
    assert b"\x12\x0b11223344595" in name.dump()


def test_der_is_in_reverse_text_order_one_attribute_per_rdn():
    name = build_name([("CN", "Demo CA"), ("O", "Demo"), ("C", "RU")])
    rdns = list(name.chosen)
    assert [len(rdn) for rdn in rdns] == [1, 1, 1]
    assert [rdn[0]["type"].dotted for rdn in rdns] == ["2.5.4.6", "2.5.4.10", "2.5.4.3"]
    assert x509.Name.from_rfc4514_string("CN=Demo CA,O=Demo,C=RU").public_bytes() == name.dump()


@pytest.mark.parametrize("attributes", [PERSON, ORGANISATION])
def test_round_trip(attributes):
    name = build_name(attributes)
    expected = [(a, "11223344595" if a == "SNILS" else v) for a, v in attributes]
    assert attributes_of(name) == expected
    assert attributes_of(name.dump()) == expected
    # cryptography reads the same DER (through a certificate request's subject in
    # test_x509_csr.py); here: its RFC 4514 text agrees with ours for the plain attributes.
    assert name_from_cryptography(x509.Name.from_rfc4514_string("CN=a,C=RU")).dump() == (
        build_name([("CN", "a"), ("C", "RU")]).dump()
    )


def test_openssl_prints_numeric_strings(tmp_path):
    der = build_name([*PERSON, ("OGRN", "1027700132195")]).dump()
    path = tmp_path / "name.der"
    path.write_bytes(der)
    out = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "NUMERICSTRING     :11223344595" in out
    assert "NUMERICSTRING     :500100732259" in out
    assert "NUMERICSTRING     :1027700132195" in out
    assert "PRINTABLESTRING   :RU" in out
    assert "IA5STRING         :ivanov@example.ru" in out


@pytest.mark.parametrize(
    ("attributes", "error", "match"),
    [
        ([("SNILS", "11223344596")], InvalidIdentifier, "SNILS: check digits"),
        ([("INN", "7707083893")], InvalidIdentifier, "INN: must have 12"),
        ([("INNLE", "500100732259")], InvalidIdentifier, "INNLE"),
        ([("OGRN", "1027700132194")], InvalidIdentifier, "OGRN"),
        ([("C", "RUS")], ValueError, "C: longer than 2"),
        ([("C", "R1")], ValueError, "two-letter"),
        ([("CN", "x" * 65)], ValueError, "CN: longer than 64"),
        ([("CN", "  ")], ValueError, "CN: empty"),
        ([("emailAddress", "иван@example.ru")], ValueError, "IA5String"),
        ([("serialNumber", "№5")], ValueError, "PrintableString"),
        ([("UID", "x")], ValueError, "unknown subject attribute 'UID'"),
    ],
)
def test_build_name_refuses(attributes, error, match):
    with pytest.raises(error, match=match):
        build_name(attributes)
    with pytest.raises(error, match=match):  # a refusal is not kept as a name
        build_name(attributes)


@pytest.mark.parametrize("attributes", [PERSON, ORGANISATION, [("CN", "device-1")], []])
def test_a_kept_name_is_the_one_built_anew_and_each_caller_gets_its_own(attributes):
    """build_name keeps the DER of the names it built: the second build of a subject (as
    issuance checks it, then signs it) gives the bytes asn1crypto builds anew, in a Name
    object that no other caller holds."""
    first, second = build_name(attributes), build_name(list(attributes))
    assert first.dump() == second.dump() == asn1crypto_builds.name_der(attributes)
    assert first is not second
    assert attributes_of(second) == attributes_of(name_der(attributes))


@pytest.mark.parametrize(
    "attributes",
    [
        PERSON,
        ORGANISATION,
        [],
        [("C", "ru")],
        [("CN", "x" * 64), ("SN", "я" * 70), ("GN", "𝔊" * 40), ("L", "L" * 128)],
        [("SN", "s" * 300)],  # a value and a name past 255 octets: two length octets
        [("emailAddress", "a" * 200 + "@example.ru"), ("serialNumber", "('+,-./:=?) 09")],
        [("SNILS", "112 233 445 95"), ("OGRNIP", "304500116000157"), ("O", "a\x00b")],
    ],
)
def test_name_der_is_asn1crypto_s_build(attributes):
    """name_der joins the DER itself; it is byte for byte asn1crypto's build of the same
    name, whatever the string types and lengths."""
    assert name_der(attributes) == asn1crypto_builds.name_der(attributes)


def test_names_differing_in_one_value_are_kept_apart():
    build_name([("CN", "a"), ("O", "x")])
    assert attributes_of(build_name([("CN", "a"), ("O", "y")])) == [("CN", "a"), ("O", "y")]


def test_country_is_upper_cased():
    assert attributes_of(build_name([("C", "ru")])) == [("C", "RU")]


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("CN=Demo CA,O=Example,C=RU", [("CN", "Demo CA"), ("O", "Example"), ("C", "RU")]),
        ("cn=Demo CA, o=Example , c=RU", [("CN", "Demo CA"), ("O", "Example"), ("C", "RU")]),
        (r"CN=Doe\, John,O=A\+B\\C", [("CN", "Doe, John"), ("O", "A+B\\C")]),
        (r"CN=\D0\98\D0\B2\D0\B0\D0\BD", [("CN", "Иван")]),
        (r"CN=\ lead and trail\ ", [("CN", " lead and trail ")]),
        (r"CN=\#hash", [("CN", "#hash")]),
        (
            "CN=Иванов,SNILS=11223344595,G=Иван",
            [("CN", "Иванов"), ("SNILS", "11223344595"), ("GN", "Иван")],
        ),
        (
            "E=a@b.ru,STREET=x,serialnumber=7",
            [("emailAddress", "a@b.ru"), ("street", "x"), ("serialNumber", "7")],
        ),
        ("CN=", [("CN", "")]),
    ],
)
def test_parse_dn(text, pairs):
    assert parse_dn(text) == pairs


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("CN=a,UID=b", "unknown attribute 'UID'"),
        ("DC=example", "unknown attribute 'DC'"),
        ("", "empty"),
        ("CN", "expected attribute=value"),
        ("CN=a,", "expected attribute=value"),
        ("CN=a+O=b", "multi-valued"),
        ("CN=#0403616263", "hex-encoded"),
        (r"CN=bad\q", "bad escape"),
        (r"CN=\FF", "not UTF-8"),
    ],
)
def test_parse_dn_refuses(text, match):
    with pytest.raises(ValueError, match=match):
        parse_dn(text)


@pytest.mark.parametrize("attributes", [PERSON, ORGANISATION, [("CN", ' a,b+c"d\\e<f>g;h=i ')]])
def test_format_dn_inverts_parse_dn(attributes):
    assert parse_dn(format_dn(attributes)) == attributes


def test_format_dn_matches_cryptography_for_plain_names():
    name = build_name([("CN", "Demo CA"), ("O", "Demo, Inc"), ("C", "RU")])
    text = format_dn(attributes_of(name))
    assert x509.Name.from_rfc4514_string(text).public_bytes() != b""  # parses
    assert text == "CN=Demo CA,O=Demo\\, Inc,C=RU"


def test_attributes_of_unknown_oid_and_multivalued_rdn():
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "RU")]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.POSTAL_CODE, "101000"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "x"),
                ]
            ),
        ]
    )
    pairs = attributes_of(name)
    assert pairs[-1] == ("C", "RU")
    assert sorted(pairs[:2]) == [("2.5.4.17", "101000"), ("CN", "x")]  # a SET: DER-sorted


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x31", b"garbage", b"\x04\x00"])
def test_attributes_of_garbage(der):
    with pytest.raises(ValueError):
        attributes_of(der)


def _attribute(oid: str, value: str, string_type: _ASN1Type) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName(
        [x509.NameAttribute(x509.ObjectIdentifier(oid), value, string_type)]
    )


@pytest.mark.parametrize(
    "rdns",
    [
        [_attribute("2.5.4.3", "Иванов", _ASN1Type.UTF8String)],
        [_attribute("2.5.4.6", "RU", _ASN1Type.PrintableString),
         _attribute("2.5.4.10", "Org (1)", _ASN1Type.PrintableString),
         _attribute("2.5.4.3", "a.b", _ASN1Type.IA5String)],
        [_attribute("2.5.4.17", "101000", _ASN1Type.UTF8String),  # unknown to ATTRIBUTES
         _attribute("1.2.3.4", "private", _ASN1Type.UTF8String)],  # unknown to asn1crypto
        [_attribute("1.2.840.113549.1.9.1", "a@xn--80akhbyknj4f.xn--p1ai", _ASN1Type.IA5String)],
        [_attribute("0.9.2342.19200300.100.1.25", "xn--p1ai", _ASN1Type.IA5String)],
        [_attribute("2.5.4.3", "bmp", _ASN1Type.BMPString)],
        [_attribute("2.5.4.3", "t61~", _ASN1Type.T61String)],
        [_attribute("2.5.4.3", "universal", _ASN1Type.UniversalString)],
        [_attribute("2.23.133.2.1", "tpm", _ASN1Type.UTF8String)],
        [x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.COMMON_NAME, "b"), x509.NameAttribute(NameOID.TITLE, "a")]
        )],
        [],
    ],
)  # fmt: skip
def test_attributes_of_a_cryptography_name_read_as_asn1crypto_reads_its_der(rdns):
    """A `cryptography` Name gives the pairs (or the refusal) asn1crypto reads from its
    DER (IDNA in e-mail addresses decoded, multi-valued RDNs in DER order)."""
    name = x509.Name(rdns)
    try:
        expected = attributes_of(name.public_bytes())
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            attributes_of(name)
    else:
        assert attributes_of(name) == expected


def _oid(dotted: str) -> bytes:
    return asn1_core.ObjectIdentifier(dotted).dump()


_PLAIN_VALUES = ["RU", "Org (1)", "Иванов", "xn--p1ai", "a@xn--80akhbyknj4f.xn--p1ai", "", "é"]


@pytest.mark.parametrize("spec", ATTRIBUTES.values(), ids=lambda spec: spec.short_name)
@pytest.mark.parametrize("tag", [0x0C, 0x12, 0x13, 0x14, 0x16, 0x1E, 0x04])
def test_plain_attributes_reads_what_attributes_of_reads_or_leaves_it(spec, tag):
    """Every attribute, string tag and value: the DER walk's pairs are asn1crypto's, or it
    leaves the Name to attributes_of (None)."""
    for value in _PLAIN_VALUES:
        for encoding in ("utf-8", "latin-1"):
            with contextlib.suppress(UnicodeEncodeError):
                octets = value.encode(encoding)
                rdn = tlv(0x31, tlv(0x30, _oid(spec.oid) + tlv(tag, octets)))
                der = tlv(0x30, rdn + tlv(0x31, tlv(0x30, _oid("2.5.4.3") + tlv(0x0C, b"x"))))
                plain = plain_attributes(der)
                if plain is not None:
                    assert plain == attributes_of(der), (value, encoding)


@pytest.mark.parametrize(
    "rdns",
    [
        [_attribute("1.2.840.113549.1.9.1", "a@xn--80akhbyknj4f.xn--p1ai", _ASN1Type.IA5String)],
        [_attribute("2.5.4.17", "101000", _ASN1Type.UTF8String)],  # not in ATTRIBUTES
        [_attribute("2.5.4.3", "bmp", _ASN1Type.BMPString)],
        [_attribute("2.5.4.3", "é", _ASN1Type.PrintableString)],
        [x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.COMMON_NAME, "b"), x509.NameAttribute(NameOID.TITLE, "a")]
        )],
    ],
)  # fmt: skip
def test_plain_attributes_leaves_what_is_not_plain_to_attributes_of(rdns):
    assert plain_attributes(x509.Name(rdns).public_bytes()) is None


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x31", b"garbage", b"\x04\x00", b"\x30\x00\x00"])
def test_plain_attributes_of_what_is_not_a_name(der):
    assert plain_attributes(der) is None


def test_plain_attributes_reads_a_plain_name_in_text_order():
    name = x509.Name(
        [
            _attribute("2.5.4.6", "RU", _ASN1Type.PrintableString),
            _attribute("2.5.4.10", "Org", _ASN1Type.IA5String),
            _attribute("2.5.4.3", "Иванов", _ASN1Type.UTF8String),
        ]
    )
    assert plain_attributes(name.public_bytes()) == [("CN", "Иванов"), ("O", "Org"), ("C", "RU")]
    assert plain_attributes(x509.Name([]).public_bytes()) == []
