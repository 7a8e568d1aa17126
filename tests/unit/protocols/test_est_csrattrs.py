"""EST CSR attributes (RFC 7030 4.5.2, RFC 8951 section 4) and the tls-unique check (3.5).

Vectors and their origin:
- RFC_7030_EXAMPLE: the base64 CsrAttrs printed in RFC 7030 section 4.5.2 (two lines, copied
  from the RFC). Per its text it asks for the tls-unique value (challengePassword), an EC
  key on secp384r1, the client's MAC address (macAddress 1.3.6.1.1.1.1.22, inside an
  extensionRequest attribute) and an ecdsa-with-SHA384 signature;
- CsrAttrs built in the test from :class:`CSRAttribute` values, with extensionRequest
  values made by asn1crypto's ``x509.Extensions`` (the RFC 9908 reading), read back by our
  parser, by pyasn1-modules' ``rfc7030.CsrAttrs`` and by `openssl asn1parse`;
- bad CsrAttrs written by hand, and random mutations of the RFC example (seeded): each
  either parses or raises ESTFormatError.
"""

import base64
import random
import subprocess

import pytest
from asn1crypto import x509 as asn1_x509
from pyasn1.codec.der import decoder as pyasn1_decoder
from pyasn1_modules import rfc7030

from protocols.est import (
    CHALLENGE_PASSWORD,
    EXTENSION_REQUEST,
    ID_EC_PUBLIC_KEY,
    CSRAttribute,
    ESTFormatError,
    csr_attributes,
    decode_base64_body,
    oid_der,
    parse_csr_attributes,
    tls_unique_matches,
)

RFC_7030_EXAMPLE = (
    b"MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJ\n"
    b"BgcrBgEBAQEWBggqhkjOPQQDAw==\n"
)
SECP256R1 = "1.2.840.10045.3.1.7"
SECP384R1 = "1.3.132.0.34"
MAC_ADDRESS = "1.3.6.1.1.1.1.22"
ECDSA_WITH_SHA384 = "1.2.840.10045.4.3.3"

RFC_7030_CONTENT = [
    CSRAttribute(CHALLENGE_PASSWORD),
    CSRAttribute(ID_EC_PUBLIC_KEY, (oid_der(SECP384R1),)),
    CSRAttribute(EXTENSION_REQUEST, (oid_der(MAC_ADDRESS),)),
    CSRAttribute(ECDSA_WITH_SHA384),
]


def extensions_der() -> bytes:
    """Extensions (RFC 5280 4.1) asking for a subjectAltName and a critical keyUsage."""
    return asn1_x509.Extensions(
        [
            {
                "extn_id": "subject_alt_name",
                "extn_value": [asn1_x509.GeneralName(name="dns_name", value="device.example")],
            },
            {"extn_id": "key_usage", "critical": True, "extn_value": {"digital_signature"}},
        ]
    ).dump()


OURS = [
    CSRAttribute(CHALLENGE_PASSWORD),
    CSRAttribute(ID_EC_PUBLIC_KEY, (oid_der(SECP256R1),)),
    CSRAttribute(EXTENSION_REQUEST, (extensions_der(),)),
    CSRAttribute("1.2.840.10045.4.3.2"),
]


def test_the_rfc_7030_example_says_what_its_text_says():
    assert parse_csr_attributes(decode_base64_body(RFC_7030_EXAMPLE)) == RFC_7030_CONTENT


def test_we_encode_the_rfc_7030_example_octet_for_octet():
    assert csr_attributes(RFC_7030_CONTENT) == RFC_7030_EXAMPLE
    assert decode_base64_body(csr_attributes(RFC_7030_CONTENT)) == base64.b64decode(
        RFC_7030_EXAMPLE
    )


def test_round_trip_with_an_extension_request_of_extensions():
    der = decode_base64_body(csr_attributes(OURS))
    assert parse_csr_attributes(der) == OURS


def test_pyasn1_modules_reads_our_csr_attrs():
    der = decode_base64_body(csr_attributes(OURS))
    decoded, rest = pyasn1_decoder.decode(der, asn1Spec=rfc7030.CsrAttrs())
    assert rest == b""
    kinds = [item.getName() for item in decoded]
    assert kinds == ["oid", "attribute", "attribute", "oid"]
    assert str(decoded[0]["oid"]) == CHALLENGE_PASSWORD
    assert str(decoded[1]["attribute"]["attrType"]) == ID_EC_PUBLIC_KEY
    assert bytes(decoded[2]["attribute"]["attrValues"][0]) == extensions_der()


def test_openssl_asn1parse_reads_our_csr_attrs():
    der = decode_base64_body(csr_attributes(OURS))
    result = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-i"],
        input=der,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    for name in (
        "challengePassword",
        "id-ecPublicKey",
        "prime256v1",
        "Extension Request",
        "X509v3 Subject Alternative Name",
        "X509v3 Key Usage",
        "ecdsa-with-SHA256",
    ):
        assert name in text


def test_several_values_are_kept_in_der_order():
    one, two = oid_der(SECP384R1), oid_der(SECP256R1)
    attribute = CSRAttribute(ID_EC_PUBLIC_KEY, (one, two))
    assert attribute.values == tuple(sorted((one, two)))
    assert attribute == CSRAttribute(ID_EC_PUBLIC_KEY, (two, one))
    der = decode_base64_body(csr_attributes([attribute]))
    assert parse_csr_attributes(der) == [attribute]


def test_no_attributes_is_an_empty_sequence():
    assert csr_attributes([]) == base64.b64encode(b"\x30\x00") + b"\n"
    assert parse_csr_attributes(b"\x30\x00") == []


@pytest.mark.parametrize(
    ("oid", "values", "error"),
    [
        ("challengePassword", (), ValueError),
        ("1.2.", (), ValueError),
        ("1", (), ValueError),
        ("3.1", (), ValueError),
        ("1.40", (), ValueError),
        ("1.02.3", (), ValueError),
        (ID_EC_PUBLIC_KEY, (b"\x06\x05+\x81\x04",), ValueError),  # cut short
        (ID_EC_PUBLIC_KEY, (b"\x05\x00\x05\x00",), ValueError),  # two TLVs in one value
        (ID_EC_PUBLIC_KEY, (b"",), ValueError),
        (ID_EC_PUBLIC_KEY, ("1.3.132.0.34",), TypeError),
    ],
)
def test_a_csr_attribute_refuses_what_cannot_be_encoded(oid, values, error):
    with pytest.raises(error):
        CSRAttribute(oid, values)


def test_oid_der_encodes_an_object_identifier():
    assert oid_der(SECP384R1) == b"\x06\x05\x2b\x81\x04\x00\x22"
    with pytest.raises(ValueError):
        oid_der("secp384r1")


CHALLENGE_OID_TLV = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x07"


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", "not a CsrAttrs"),
        (b"\x31\x00", "not a CsrAttrs"),
        (b"\x30\x02\x05\x00", "not a CsrAttrs"),  # NULL is neither OID nor Attribute
        (b"\x30\x0d\x30\x0b" + CHALLENGE_OID_TLV, "not a CsrAttrs"),  # no values SET
        (b"\x30\x0f\x30\x0d" + CHALLENGE_OID_TLV + b"\x31\x00", "has no values"),  # RFC 8951
        (base64.b64decode(RFC_7030_EXAMPLE) + b"\x00", "trailing"),
        (base64.b64decode(RFC_7030_EXAMPLE)[:-1], "not a CsrAttrs"),
    ],
)
def test_what_is_not_a_csr_attrs_is_refused(der, message):
    with pytest.raises(ESTFormatError, match=message):
        parse_csr_attributes(der)


def test_mutations_of_the_rfc_example_parse_or_raise_est_format_error():
    rng = random.Random(9908)
    original = base64.b64decode(RFC_7030_EXAMPLE)
    for _ in range(5000):
        mutated = bytearray(original)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cut = rng.randrange(len(mutated) + 1) if rng.random() < 0.2 else len(mutated)
        try:
            parsed = parse_csr_attributes(bytes(mutated[:cut]))
        except ESTFormatError:
            continue
        assert all(isinstance(item, CSRAttribute) for item in parsed)


# tls-unique: RFC 5929 3.1 gives 12 octets for TLS 1.2 (the first Finished message).
TLS_UNIQUE = bytes.fromhex("0123456789abcdef01234567")


def test_the_challenge_password_carrying_base64_tls_unique_matches():
    assert tls_unique_matches(base64.b64encode(TLS_UNIQUE).decode(), TLS_UNIQUE)


@pytest.mark.parametrize(
    "password",
    [
        None,
        "",
        base64.b64encode(TLS_UNIQUE[:-1] + b"\x00").decode(),
        base64.b64encode(TLS_UNIQUE).decode() + "\n",
        base64.b64encode(TLS_UNIQUE).decode().lower(),
        TLS_UNIQUE.hex(),
        "пароль",
    ],
)
def test_any_other_challenge_password_does_not_match(password):
    assert not tls_unique_matches(password, TLS_UNIQUE)


def test_nothing_matches_an_empty_tls_unique():
    assert not tls_unique_matches("", b"")
    assert not tls_unique_matches(None, b"")
