"""PKCS#10 requests: decoding, proof of possession, key descriptions.

Vectors are made in the tests with `cryptography` (keys and requests), and one request with
a Russian subject is assembled by hand with asn1crypto's RFC 2986 classes and signed with
`cryptography`, because `cryptography` only writes NumericString through a private argument.
"""

import contextlib
import hashlib
import ipaddress
import random

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import keys
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AttributeOID, NameOID

from protocols.der import elements, tlv
from protocols.x509.csr import (
    CSR,
    BadProofOfPossession,
    MalformedCSR,
    UnsupportedKey,
    key_description,
    parse_csr,
    spki_sha256,
)
from protocols.x509.names import attributes_of, build_name

KEYS = {
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def hash_for(key):
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == 384:
        return hashes.SHA384()
    return hashes.SHA256()


def make_csr(key, cn="client.example", san=True, password=None) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name(
            [
                # cryptography lists RDNs in DER order; ours are in RFC 4514 text order.
                x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("client.example"),
                    x509.DNSName("www.client.example"),
                    x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
                    x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
                    x509.RFC822Name("admin@client.example"),
                    x509.UniformResourceIdentifier("https://ignored.example/"),
                ]
            ),
            critical=False,
        )
    if password is not None:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, password.encode())
    return builder.sign(key, hash_for(key))


def spki_of(key) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module", params=sorted(KEYS))
def keyed(request):
    return request.param, KEYS[request.param]()


def test_parse_der_and_pem(keyed):
    description, key = keyed
    request = make_csr(key, password="s3cret")
    for data in (request.public_bytes(Encoding.DER), request.public_bytes(Encoding.PEM)):
        parsed = parse_csr(data)
        assert isinstance(parsed, CSR)
        assert parsed.subject == (("CN", "client.example"), ("O", "Example"), ("C", "RU"))
        assert parsed.spki_der == spki_of(key)
        assert parsed.dns_names == ("client.example", "www.client.example")
        assert parsed.ip_addresses == ("192.0.2.7", "2001:db8::7")
        assert parsed.emails == ("admin@client.example",)
        assert parsed.challenge_password == "s3cret"
        assert parsed.der == request.public_bytes(Encoding.DER)
        assert key_description(parsed.spki_der) == parsed.key_type == description
        san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert parsed.extensions == (("2.5.29.17", False, san.value.public_bytes()),)


def test_no_extensions_no_password():
    parsed = parse_csr(make_csr(KEYS["ec-p256"](), san=False).public_bytes(Encoding.DER))
    assert (parsed.dns_names, parsed.ip_addresses, parsed.emails) == ((), (), ())
    assert parsed.challenge_password is None
    assert parsed.extensions == ()


@pytest.mark.parametrize(
    ("oid", "field"),
    [
        ("1.2.840.113549.1.9.16.2.37", "decrypt_key_identifier"),
        ("1.2.840.113549.1.9.16.2.54", "asymmetric_decrypt_key_identifier"),
    ],
)
def test_decrypt_key_identifiers_of_rfc_7030_4_4_1(oid: str, field: str) -> None:
    key = KEYS["ec-p256"]()
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    with_id = builder.add_attribute(x509.ObjectIdentifier(oid), b"\x04\x01key",
                                    _tag=_ASN1Type.OctetString)  # fmt: skip
    parsed = parse_csr(with_id.sign(key, hashes.SHA256()).public_bytes(Encoding.DER))
    assert getattr(parsed, field) == b"\x04\x01key"
    other = {"decrypt_key_identifier", "asymmetric_decrypt_key_identifier"} - {field}
    assert getattr(parsed, other.pop()) is None
    empty = builder.add_attribute(x509.ObjectIdentifier(oid), b"", _tag=_ASN1Type.OctetString)
    with pytest.raises(MalformedCSR):
        parse_csr(empty.sign(key, hashes.SHA256()).public_bytes(Encoding.DER))


def test_microsoft_new_certificate_request_label():
    pem = make_csr(KEYS["ec-p256"]()).public_bytes(Encoding.PEM)
    pem = pem.replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    assert parse_csr(pem).subject[0] == ("CN", "client.example")


def test_russian_subject_read_back():
    """A request whose subject has NumericString SNILS/INN (built by names.build_name)."""
    key = KEYS["ec-p256"]()
    subject = build_name(
        [("CN", "Иванов Иван"), ("SNILS", "11223344595"), ("INN", "500100732259"), ("C", "RU")]
    )
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": subject,
            "subject_pk_info": keys.PublicKeyInfo.load(spki_of(key)),
            "attributes": [],
        }
    )
    signature = key.sign(info.dump(), ec.ECDSA(hashes.SHA256()))
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        }
    )
    parsed = parse_csr(request.dump())
    assert parsed.subject == (
        ("CN", "Иванов Иван"),
        ("SNILS", "11223344595"),
        ("INN", "500100732259"),
        ("C", "RU"),
    )


@pytest.mark.parametrize("description", sorted(KEYS))
def test_tampered_signature_is_bad_pop(description):
    key = KEYS[description]()
    der = bytearray(make_csr(key).public_bytes(Encoding.DER))
    if description.startswith("ec-"):
        # The last octet of an ECDSA signature is the last octet of s: still valid DER.
        der[-1] ^= 0x01
    else:
        der[-5] ^= 0x40
    with pytest.raises(BadProofOfPossession):
        parse_csr(bytes(der))


def test_tampered_subject_is_bad_pop():
    der = make_csr(KEYS["rsa-2048"](), cn="aaaa.example").public_bytes(Encoding.DER)
    tampered = der.replace(b"aaaa.example", b"bbbb.example", 1)
    assert tampered != der
    with pytest.raises(BadProofOfPossession):
        parse_csr(tampered)


def test_signed_by_another_key_is_bad_pop():
    """The request carries key A's public key but key B signed it."""
    key_a, key_b = KEYS["ec-p256"](), KEYS["ec-p256"]()
    good = make_csr(key_a, san=False)
    forged = make_csr(key_b, san=False)
    a_spki, b_spki = spki_of(key_a), spki_of(key_b)
    der = forged.public_bytes(Encoding.DER).replace(b_spki, a_spki)
    assert der != good.public_bytes(Encoding.DER)
    with pytest.raises(BadProofOfPossession):
        parse_csr(der)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"\x30\x00",
        b"\x30\x82\xff\xff\x00",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"-----BEGIN CERTIFICATE REQUEST-----\n",
    ],
)
def test_garbage_is_malformed(data):
    with pytest.raises(MalformedCSR):
        parse_csr(data)


def test_truncations_and_trailing_data_are_malformed():
    der = make_csr(KEYS["ec-p256"]()).public_bytes(Encoding.DER)
    for length in range(0, len(der), 7):
        with pytest.raises(MalformedCSR):
            parse_csr(der[:length])
    with pytest.raises(MalformedCSR):
        parse_csr(der + b"\x00")


def test_any_bytes_parse_or_raise_the_codecs_errors():
    """Property: random mutations of a good request either decode or raise MalformedCSR or
    BadProofOfPossession (never another exception)."""
    der = make_csr(KEYS["ec-p256"]()).public_bytes(Encoding.DER)
    rng = random.Random(2986)
    for _ in range(400):
        mutated = bytearray(der)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        with contextlib.suppress(MalformedCSR, BadProofOfPossession):
            parse_csr(bytes(mutated))


def test_spki_sha256_is_over_the_whole_spki():
    spki = spki_of(KEYS["ec-p256"]())
    assert spki_sha256(spki) == hashlib.sha256(spki).digest()
    assert len(spki_sha256(spki)) == 32


@pytest.mark.parametrize(
    ("key", "description"),
    [
        (ec.generate_private_key(ec.SECP521R1()), "ec-p521"),
        (rsa.generate_private_key(65537, 3072), "rsa-3072"),
        (ed448.Ed448PrivateKey.generate(), "ed448"),
    ],
)
def test_other_key_descriptions(key, description):
    assert key_description(spki_of(key)) == description


def test_unsupported_keys():
    secp256k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(UnsupportedKey, match=r"(?i)secp256k1"):
        key_description(spki_of(secp256k1))
    request = make_csr(secp256k1).public_bytes(Encoding.DER)
    assert parse_csr(request).key_type is None  # a request for the profile to refuse
    with pytest.raises(UnsupportedKey):
        key_description(b"\x30\x03\x02\x01\x00")
    with pytest.raises(ValueError):  # UnsupportedKey is a ValueError, as callers expect
        key_description(b"")


def test_rsa_pss_signed_request_verifies():
    key = rsa.generate_private_key(65537, 2048)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pss")]))
        .sign(
            key,
            hashes.SHA256(),
            rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
        )
    )
    assert parse_csr(request.public_bytes(Encoding.DER)).subject == (("CN", "pss"),)


@pytest.mark.parametrize(
    "attributes",
    [
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
         x509.NameAttribute(NameOID.COMMON_NAME, "Иванов")],  # read by the DER walk
        [x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@xn--80akhbyknj4f.xn--p1ai"),
         x509.NameAttribute(NameOID.POSTAL_CODE, "101000")],  # read by asn1crypto
    ],
)  # fmt: skip
@pytest.mark.parametrize("multivalued", [False, True])
def test_subject_is_what_attributes_of_reads_from_the_request_s_name(attributes, multivalued):
    """The subject is the pairs names.attributes_of reads from the request's Name, whether
    the DER walk reads it or leaves it (IDNA decoded, an attribute unknown, an RDN of two)."""
    rdns = (
        [x509.RelativeDistinguishedName(attributes)]
        if multivalued
        else [x509.RelativeDistinguishedName([attribute]) for attribute in attributes]
    )
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(rdns))
        .sign(key, hashes.SHA256())
    )
    parsed = parse_csr(request.public_bytes(Encoding.DER))
    assert parsed.subject == tuple(attributes_of(request.subject.public_bytes()))


def _with_signature_algorithm(der: bytes, algorithm: bytes) -> bytes:
    """``der`` with its signatureAlgorithm replaced by ``algorithm`` (any DER value)."""
    (_tag, info), _algorithm, (_tag, signature) = elements(der)
    return tlv(0x30, info + algorithm + signature)


def test_rfc2986_4_2_the_proof_of_possession_is_judged_as_is_signature_valid_judges_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RFC 2986 4.2: the signature over certificationRequestInfo with the request's own key.
    An EC key under ECDSA is verified with the key already loaded (cryptography's
    is_signature_valid took about 30 µs more); every request, good, tampered or with the key
    and algorithm mismatched, gets is_signature_valid's verdict."""
    import protocols.x509.csr as csr_module

    ecdsa_sha384 = bytes.fromhex("300a06082a8648ce3d040303")
    sha256_rsa = bytes.fromhex("300d06092a864886f70d01010b0500")
    unknown = bytes.fromhex("300506032a0304")
    p256, p384 = (make_csr(KEYS[name](), san=False).public_bytes(Encoding.DER)
                  for name in ("ec-p256", "ec-p384"))  # fmt: skip
    flipped = bytearray(p256)
    flipped[-1] ^= 0x01
    cases = [
        p256,
        p384,
        bytes(flipped),
        _with_signature_algorithm(p256, ecdsa_sha384),  # another hash: does not verify
        _with_signature_algorithm(p256, sha256_rsa),  # an RSA algorithm for an EC key
        _with_signature_algorithm(p256, unknown),
        make_csr(KEYS["rsa-2048"](), san=False).public_bytes(Encoding.DER),
        make_csr(KEYS["ed25519"](), san=False).public_bytes(Encoding.DER),
    ]
    for der in cases:
        request = x509.load_der_x509_csr(der)
        try:
            expected: object = request.is_signature_valid
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            expected = type(exc)
        try:
            got: object = csr_module._signature_valid(request, request.public_key())
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            got = type(exc)
        assert got == expected, der.hex()
    taken = x509.load_der_x509_csr(p256)
    monkeypatch.setattr(x509.CertificateSigningRequest, "is_signature_valid", None)
    assert csr_module._signature_valid(taken, taken.public_key())  # by the key alone
