"""RFC 7512 URIs: the RFC's own examples, round trips, and bad input."""

from __future__ import annotations

import random

import pytest

from hsm.pkcs11_uri import OBJECT_TYPES, PKCS11URI, format_uri, parse_uri

# Examples from RFC 7512 section 3 that use only attributes this module supports.
RFC_EXAMPLES = [
    "pkcs11:",
    "pkcs11:object=my-pubkey;type=public",
    "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
    "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;"
    "model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
    "?pin-source=file:/etc/token_pin",
    "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
    "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
    "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.",
    "pkcs11:token=My%20token%25%20created%20by%20Joe;"
    "manufacturer=Acme%20Inc.;model=1.0;serial=12345",
    "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
    "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;"
    "type=cert",
    "pkcs11:token=my-token;object=my-certificate;type=cert;"
    "vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
]


@pytest.mark.parametrize("text", [t for t in RFC_EXAMPLES if "vendor-" not in t])
def test_rfc_examples_parse_and_round_trip(text: str) -> None:
    uri = parse_uri(text)
    assert parse_uri(format_uri(uri)) == uri


def test_rfc_example_values_are_percent_decoded() -> None:
    uri = parse_uri(RFC_EXAMPLES[3])
    assert uri.token == "The Software PKCS#11 Softtoken"
    assert uri.manufacturer == "Snake Oil, Inc."
    assert uri.id == bytes.fromhex("69953e5cf4bdec91")
    assert uri.type == "cert"
    assert uri.serial == ""
    assert uri.pin_source == "file:/etc/token_pin"
    assert parse_uri(RFC_EXAMPLES[9]).token == "Name with a small A with acute: á"
    assert parse_uri(RFC_EXAMPLES[8]).token == "A name with a substring %;"


def test_key_reference_uri_formats_as_expected() -> None:
    uri = PKCS11URI(token="ca token", object="ca-2025", id=b"\x00\xff", type="private")
    assert uri.format() == "pkcs11:token=ca%20token;object=ca-2025;id=%00%ff;type=private"


def test_random_values_round_trip() -> None:
    rng = random.Random(7512)
    alphabet = "abcXYZ019 ;?&=%/#:,.-_~é€\u00a0'()*"
    for _ in range(500):
        uri = PKCS11URI(
            token="".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))),
            object="".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))),
            id=rng.randbytes(rng.randint(0, 20)),
            type=rng.choice(sorted(OBJECT_TYPES)),
            module_path="/usr/lib/" + "".join(rng.choice(alphabet) for _ in range(5)),
            pin_source="file:/run/" + "".join(rng.choice(alphabet) for _ in range(5)),
        )
        assert parse_uri(format_uri(uri)) == uri


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("pkcs12:object=x", "does not start with 'pkcs11:'"),
        ("object=x", "does not start"),
        ("pkcs11:object=a%2", "bad percent-encoding"),
        ("pkcs11:object=a%zz", "bad percent-encoding"),
        ("pkcs11:object=a b", "must be %-encoded"),
        ("pkcs11:object=a/b", "must be %-encoded"),
        ("pkcs11:object", "without '='"),
        ("pkcs11:=x", "without '='"),
        ("pkcs11:object=a;object=b", "more than once"),
        ("pkcs11:type=secret", "unknown object type"),
        ("pkcs11:colour=blue", "unsupported path attribute"),
        ("pkcs11:object=a?colour=blue", "unsupported query attribute"),
        ("pkcs11:object=a#frag", "fragments"),
        ("pkcs11:slot-id=12a", "slot-id"),
        ("pkcs11:object=%ff%fe", "not UTF-8"),
        ("pkcs11:token=t;vendor-aaa=value-a", "unsupported path attribute"),
    ],
)
def test_bad_uris_raise_value_error_saying_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("?", r"\?")):
        parse_uri(text)


@pytest.mark.parametrize(
    "text",
    [
        "pkcs11:object=ca?pin-value=9931-secret",
        "pkcs11:object=ca;pin-value=9931-secret",
        "pkcs11:object=ca?pin-source=x&pin-value=9931-secret",
    ],
)
def test_pin_value_is_refused_and_never_echoed(text: str) -> None:
    with pytest.raises(ValueError, match="pin-value is refused") as caught:
        parse_uri(text)
    assert "9931-secret" not in str(caught.value)


def test_unknown_object_type_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="unknown object type"):
        PKCS11URI(type="privat")
