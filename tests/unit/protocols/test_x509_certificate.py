"""Certificates end to end: build the TBS, sign it here with `cryptography` (as the signer
process would), assemble, then check with three independent readers: `cryptography`
(`verify_directly_issued_by`), `openssl verify` / `openssl x509 -text`, and pkilint's RFC 5280
linter (tests/lint.py). Keys are generated in the tests; time is fixed, and OpenSSL is told
the same time with `-attime`.
"""

import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocols import der
from protocols.x509 import extensions as ext
from protocols.x509.certificate import (
    CertificateTemplate,
    assemble_certificate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from protocols.x509.names import attributes_of, build_name, parse_dn
from tests.lint import lint_certificate

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
CA_SUBJECT = parse_dn("CN=Demo CA,O=Demo,C=RU")
BASE = "http://ca.example"

KEYS = {
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def spki_of(key) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def sign(key, tbs: bytes) -> bytes:
    """The signer's schemes: P-256 ECDSA/SHA-256, P-384 ECDSA/SHA-384, RSA PKCS#1 v1.5
    SHA-256, Ed25519 raw."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
        return key.sign(tbs, ec.ECDSA(digest))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(tbs)


class CA:
    def __init__(self, key_type: str = "ec-p256") -> None:
        self.key = KEYS[key_type]()
        self.spki = spki_of(self.key)
        self.key_id = ext.key_identifier(self.spki)
        self.name = build_name(CA_SUBJECT)
        self.der = self.issue(
            self.name,
            self.spki,
            [
                ext.basic_constraints(ca=True),
                ext.key_usage({"key_cert_sign", "crl_sign", "digital_signature"}),
                ext.subject_key_identifier(self.spki),
                ext.authority_key_identifier(self.key_id),
            ],
            days=3650,
        )

    def issue(self, subject, spki: bytes, extensions, days: int = 365, serial: int = 0x1234):
        template = CertificateTemplate(
            serial=serial,
            issuer=self.name,
            subject=subject,
            spki_der=spki,
            not_before=NOW,
            not_after=NOW + timedelta(days=days),
            extensions=tuple(extensions),
            signature_algorithm=signature_algorithm_for(self.spki),
        )
        tbs = build_tbs_certificate(template)
        return assemble_certificate(tbs, template.signature_algorithm, sign(self.key, tbs))

    def leaf_extensions(self, spki: bytes):
        return [
            ext.basic_constraints(ca=False),
            ext.subject_key_identifier(spki),
            ext.authority_key_identifier(self.key_id),
            ext.crl_distribution_points([f"{BASE}/crl/demo.crl"]),
            ext.authority_information_access([f"{BASE}/ocsp"], [f"{BASE}/ca/demo.crt"]),
        ]


def shape_tls_server(ca: CA, key):
    spki = spki_of(key)
    usages = {"digital_signature"} | (
        {"key_encipherment"} if isinstance(key, rsa.RSAPrivateKey) else set()
    )
    return (
        build_name([("CN", "www.example.ru"), ("O", "Example"), ("C", "RU")]),
        spki,
        [
            *ca.leaf_extensions(spki),
            ext.key_usage(usages),
            ext.extended_key_usage(["server_auth"]),
            ext.subject_alt_name(dns=["www.example.ru", "example.ru"], ips=["192.0.2.10"]),
        ],
    )


def shape_tls_client(ca: CA, key):
    spki = spki_of(key)
    return (
        build_name([("CN", "Client One"), ("C", "RU")]),
        spki,
        [
            *ca.leaf_extensions(spki),
            ext.key_usage({"digital_signature"}),
            ext.extended_key_usage(["client_auth"]),
            ext.subject_alt_name(emails=["client@example.ru"]),
        ],
    )


def shape_person(ca: CA, key):
    spki = spki_of(key)
    subject = build_name(
        [
            ("CN", "Иванов Иван Иванович"),
            ("SN", "Иванов"),
            ("GN", "Иван Иванович"),
            ("SNILS", "112-233-445 95"),
            ("INN", "500100732259"),
            ("emailAddress", "ivanov@example.ru"),
            ("L", "Москва"),
            ("ST", "77 г. Москва"),
            ("C", "RU"),
        ]
    )
    return (
        subject,
        spki,
        [
            *ca.leaf_extensions(spki),
            ext.key_usage({"digital_signature", "non_repudiation"}),
            ext.extended_key_usage(["client_auth", "email_protection"]),
            # RFC 5280 4.1.2.6: an e-mail address in the subject MUST also be an rfc822Name.
            ext.subject_alt_name(emails=["ivanov@example.ru"]),
            ext.certificate_policies(["1.2.643.100.113.1"]),
            ext.private_key_usage_period(NOW, NOW + timedelta(days=455)),
            ext.subject_sign_tool("СКЗИ «КриптоПро CSP» (версия 4.0)"),
            ext.issuer_sign_tool(
                "ПАК «Демо УЦ»",
                "ПАК «Демо УЦ» (версия 2.0)",
                "Сертификат соответствия № СФ/124-0000 от 01.01.2025",
                "Сертификат соответствия № СФ/128-0000 от 01.01.2025",
            ),
            ext.identification_kind(ext.IdentificationKind.PERSONAL),
        ],
    )


def shape_organisation(ca: CA, key):
    spki = spki_of(key)
    subject = build_name(
        [
            ("CN", "ООО «Пример»"),
            ("O", "ООО «Пример»"),
            ("street", "ул. Тверская, д. 1"),
            ("L", "Москва"),
            ("ST", "77 г. Москва"),
            ("C", "RU"),
            ("OGRN", "1027700132195"),
            ("INNLE", "7707083893"),
        ]
    )
    return (
        subject,
        spki,
        [
            *ca.leaf_extensions(spki),
            ext.key_usage({"digital_signature", "non_repudiation"}),
            ext.extended_key_usage(["client_auth", "email_protection"]),
            ext.certificate_policies(["1.2.643.100.113.1", "1.2.643.100.113.2"]),
            ext.subject_sign_tool("СКЗИ «КриптоПро CSP» (версия 5.0)"),
            ext.identification_kind(1),
        ],
    )


def shape_ocsp_responder(ca: CA, key):
    spki = spki_of(key)
    return (
        build_name([("CN", "Demo CA OCSP Responder"), ("O", "Demo"), ("C", "RU")]),
        spki,
        [
            ext.basic_constraints(ca=False),
            ext.key_usage({"digital_signature"}),
            ext.extended_key_usage(["ocsp_signing"]),
            ext.ocsp_no_check(),
            ext.subject_key_identifier(spki),
            ext.authority_key_identifier(ca.key_id),
        ],
    )


SHAPES = {
    "tls-server": shape_tls_server,
    "tls-client": shape_tls_client,
    "person": shape_person,
    "organisation": shape_organisation,
    "ocsp-responder": shape_ocsp_responder,
}


@pytest.fixture(scope="module", params=sorted(KEYS))
def ca(request) -> CA:
    return CA(request.param)


def pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)


def openssl(*args: str) -> str:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def openssl_verify(tmp_path: Path, ca_der: bytes, leaf_der: bytes) -> str:
    (tmp_path / "ca.pem").write_bytes(pem(ca_der))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf_der))
    at = str(int((NOW + timedelta(hours=1)).timestamp()))
    return openssl(
        "verify", "-attime", at, "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")
    )


def test_ca_certificate(ca: CA, tmp_path):
    certificate = x509.load_der_x509_certificate(ca.der)
    certificate.verify_directly_issued_by(certificate)
    assert certificate.version is x509.Version.v3
    assert certificate.subject.rfc4514_string() == "CN=Demo CA,O=Demo,C=RU"
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert openssl_verify(tmp_path, ca.der, ca.der).strip().endswith("OK")
    assert lint_certificate(ca.der) == []


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("leaf_key", ["ec-p256", "rsa-2048", "ed25519"])
def test_leaf_certificates(ca: CA, shape, leaf_key, tmp_path):
    subject, spki, extensions = SHAPES[shape](ca, KEYS[leaf_key]())
    der = ca.issue(subject, spki, extensions)
    certificate = x509.load_der_x509_certificate(der)
    issuer = x509.load_der_x509_certificate(ca.der)
    certificate.verify_directly_issued_by(issuer)
    assert (
        certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        == spki
    )
    assert attributes_of(certificate.subject) == attributes_of(subject)
    assert len(certificate.extensions) == len(extensions)
    assert openssl_verify(tmp_path, ca.der, der).strip().endswith("OK")
    assert lint_certificate(der) == []
    # The TBSCertificate joined from field DER is what asn1crypto encodes for its content.
    tbs = asn1_x509.Certificate.load(der)["tbs_certificate"]
    assert asn1_x509.TbsCertificate.load(tbs.dump()).dump(force=True) == tbs.dump()


def test_russian_profile_as_openssl_and_cryptography_read_it(tmp_path):
    ca = CA("ec-p256")
    der = ca.issue(*shape_person(ca, KEYS["ec-p256"]()))
    (tmp_path / "person.der").write_bytes(der)
    text = openssl("x509", "-inform", "DER", "-in", str(tmp_path / "person.der"), "-noout", "-text")
    assert "SNILS = 11223344595" in text
    assert "INN = 500100732259" in text
    assert "Signing Tool of Subject" in text
    assert "СКЗИ «КриптоПро CSP» (версия 4.0)" in text
    assert "Signing Tool of Issuer" in text
    assert "signToolCert: Сертификат соответствия № СФ/124-0000 от 01.01.2025" in text
    assert "Class of Signing Tool KC1" in text  # certificatePolicies 1.2.643.100.113.1
    assert "1.2.643.100.114" in text  # identificationKind: not in OpenSSL 3.0's table
    assert "Private Key Usage Period" in text
    parsed = openssl("asn1parse", "-inform", "DER", "-in", str(tmp_path / "person.der"))
    assert "NUMERICSTRING     :11223344595" in parsed
    assert "NUMERICSTRING     :500100732259" in parsed

    certificate = x509.load_der_x509_certificate(der)
    period = certificate.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod)
    assert not period.critical
    assert period.value.not_after == datetime(2026, 8, 30, 9, 30)
    tool = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.2.643.100.111"))
    text = "СКЗИ «КриптоПро CSP» (версия 4.0)".encode()
    assert tool.value.value == b"\x0c" + bytes([len(text)]) + text
    kind = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.2.643.100.114"))
    assert kind.value.value == b"\x02\x01\x00"


def test_organisation_numeric_strings():
    ca = CA("ec-p256")
    der = ca.issue(*shape_organisation(ca, KEYS["ec-p256"]()))
    subject = asn1_x509.Certificate.load(der).subject
    tags = {pair["type"].dotted: pair["value"].dump()[0] for rdn in subject.chosen for pair in rdn}
    assert tags["1.2.643.100.1"] == 0x12  # OGRN
    assert tags["1.2.643.100.4"] == 0x12  # INNLE
    assert tags["2.5.4.6"] == 0x13  # C: PrintableString


@pytest.mark.parametrize(
    ("key_type", "algorithm", "algorithm_der"),
    [
        ("ec-p256", "sha256_ecdsa", "300a06082a8648ce3d040302"),
        ("ec-p384", "sha384_ecdsa", "300a06082a8648ce3d040303"),
        ("rsa-2048", "sha256_rsa", "300d06092a864886f70d01010b0500"),  # NULL, RFC 4055
        ("ed25519", "ed25519", "300506032b6570"),  # absent, RFC 8410
    ],
)
def test_signature_algorithms(key_type, algorithm, algorithm_der):
    ca = CA(key_type)
    assert signature_algorithm_for(ca.spki) == algorithm
    certificate = asn1_x509.Certificate.load(ca.der)
    assert certificate["signature_algorithm"].dump().hex() == algorithm_der
    assert certificate["tbs_certificate"]["signature"].dump().hex() == algorithm_der


def test_unsupported_issuer_keys():
    with pytest.raises(ValueError, match="not supported"):
        signature_algorithm_for(spki_of(ec.generate_private_key(ec.SECP521R1())))
    with pytest.raises(ValueError):
        signature_algorithm_for(b"garbage")


LEAF_SPKI = spki_of(KEYS["ec-p256"]())


def template(**changes) -> CertificateTemplate:
    key = KEYS["ec-p256"]()
    name = build_name([("CN", "t")])
    fields = dict(
        serial=1,
        issuer=name,
        subject=name,
        spki_der=spki_of(key),
        not_before=NOW,
        not_after=NOW + timedelta(days=1),
        extensions=(),
        signature_algorithm="sha256_ecdsa",
    )
    fields.update(changes)
    return CertificateTemplate(**fields)


@pytest.mark.parametrize(
    ("moment", "tag"),
    [
        (datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), 0x17),  # UTCTime
        (datetime(2050, 1, 1, tzinfo=UTC), 0x18),  # GeneralizedTime, RFC 5280 4.1.2.5
        (datetime(2060, 1, 1, 2, 0, tzinfo=UTC), 0x18),
    ],
)
def test_validity_time_types(moment, tag):
    tbs = asn1_x509.TbsCertificate.load(build_tbs_certificate(template(not_after=moment)))
    assert tbs["validity"]["not_after"].chosen.dump()[0] == tag
    assert tbs["validity"]["not_before"].chosen.dump()[0] == 0x17
    assert tbs["validity"]["not_after"].native == moment


def test_microseconds_and_offsets_are_normalised():
    moment = datetime(2025, 6, 1, 12, 30, 0, 123456, tzinfo=UTC).astimezone(
        timezone(timedelta(hours=3))
    )
    tbs = asn1_x509.TbsCertificate.load(build_tbs_certificate(template(not_before=moment)))
    assert tbs["validity"]["not_before"].chosen.dump()[2:] == b"250601123000Z"


def test_version_and_serial():
    tbs = asn1_x509.TbsCertificate.load(build_tbs_certificate(template(serial=(1 << 158) + 1)))
    assert tbs["version"].native == "v3"
    assert tbs["serial_number"].native == (1 << 158) + 1
    assert "extensions" not in tbs.native or not tbs.native["extensions"]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"serial": 0}, "serial"),
        ({"serial": -5}, "serial"),
        ({"serial": 1 << 159}, "serial"),
        ({"not_before": datetime(2025, 1, 1)}, "timezone"),
        ({"not_after": NOW - timedelta(seconds=1)}, "before notBefore"),
        ({"spki_der": b"\x30\x00"}, "subjectPublicKeyInfo"),
        ({"signature_algorithm": "md5_rsa"}, "unsupported signature algorithm"),
        (
            {"extensions": (ext.ocsp_no_check(), ext.ocsp_no_check())},
            "more than once",
        ),
        (  # one joined as DER, one built by asn1crypto
            {
                "extensions": (
                    ext.subject_key_identifier(LEAF_SPKI),
                    asn1_x509.Extension(
                        {"extn_id": "key_identifier", "critical": False, "extn_value": b"\x01" * 20}
                    ),
                )
            },
            "more than once",
        ),
        (  # longer than 255 octets: the ids are asn1crypto's
            {
                "extensions": (
                    ext.crl_distribution_points([f"{BASE}/{'c' * 300}.crl"]),
                    ext.crl_distribution_points([f"{BASE}/{'d' * 300}.crl"]),
                )
            },
            "more than once",
        ),
        ({"subject": build_name([])}, "empty subject"),
        (
            {"subject": build_name([]), "extensions": (ext.subject_alt_name(dns=["a.example"]),)},
            "empty subject",
        ),
    ],
)
def test_template_refusals(changes, match):
    with pytest.raises(ValueError, match=match):
        build_tbs_certificate(template(**changes))


def test_empty_subject_with_critical_san():
    san = ext.subject_alt_name(dns=["a.example"], critical=True)
    build_tbs_certificate(template(subject=build_name([]), extensions=(san,)))


def test_assemble_keeps_tbs_bytes_and_refuses_mismatches():
    key = KEYS["ec-p256"]()
    tbs = build_tbs_certificate(template())
    signature = sign(key, tbs)
    der = assemble_certificate(tbs, "sha256_ecdsa", signature)
    assert tbs in der
    assert asn1_x509.Certificate.load(der)["signature_value"].native == signature
    with pytest.raises(ValueError, match="differs"):
        assemble_certificate(tbs, "sha384_ecdsa", signature)
    with pytest.raises(ValueError, match="empty"):
        assemble_certificate(tbs, "sha256_ecdsa", b"")
    with pytest.raises(ValueError, match="TBSCertificate"):
        assemble_certificate(b"\x30\x03\x02\x01\x01", "sha256_ecdsa", signature)


def test_assemble_reads_a_tbs_that_is_not_plain_der_as_asn1crypto_does():
    """A TBSCertificate whose fields are not plain DER with RFC 5280's tags gets
    asn1crypto's verdict: a long-form length where the short one belongs (BER) is read,
    a field out of place is refused."""
    key = KEYS["ec-p256"]()
    tbs = build_tbs_certificate(template())
    signature = sign(key, tbs)
    outer = der.one(tbs, 0, len(tbs), 0x30)
    fields = [tbs[f.offset : f.end] for f in der.children(tbs, outer.start, outer.end)]
    version, serial, rest = fields[0], fields[1], b"".join(fields[2:])
    assert version[0] == 0xA0 and serial[0] == 0x02 and serial[1] < 0x80
    ber = der.tlv(0x30, version + b"\x02\x81" + serial[1:] + rest)
    assert asn1_x509.TbsCertificate.load(ber)["serial_number"].native == template().serial
    assert ber in assemble_certificate(ber, "sha256_ecdsa", signature)
    swapped = der.tlv(0x30, serial + version + rest)
    with pytest.raises(ValueError, match="not a DER TBSCertificate"):
        assemble_certificate(swapped, "sha256_ecdsa", signature)


def test_stock_pkilint_mappings_cannot_decode_rfc9215_attributes():
    """Why tests/lint.py adds RFC 9215's types: without them pkilint reads OGRN/INNLE as
    DirectoryString and reports the NumericString as an ASN.1 syntax error."""
    ca = CA("ec-p256")
    der = ca.issue(*shape_organisation(ca, KEYS["ec-p256"]()))
    stock = lint_certificate(der, russian=False)
    assert stock and all("invalid_asn1_syntax" in line for line in stock)
    assert lint_certificate(der) == []


def test_a_key_algorithm_that_does_not_read_is_refused_however_often():
    """The AlgorithmIdentifiers read once are not read again: one whose parameters do not
    read (an INTEGER where ECParameters belong) is refused each time, beside a good one,
    and so is a SPKI with a known algorithm but octets after it."""
    ca = CA()
    good = spki_of(KEYS["ec-p256"]())
    named_curve = bytes.fromhex("06082a8648ce3d030107")  # prime256v1
    bad = good.replace(named_curve, bytes.fromhex("02080102030405060708"))
    trailing = good + b"\x00\x00"  # a known algorithm, but octets after the SPKI
    for _ in range(2):
        ca.issue(build_name([("CN", "good")]), good, ca.leaf_extensions(good))
        for refused in (bad, trailing):
            with pytest.raises(ValueError, match="subjectPublicKeyInfo does not parse"):
                ca.issue(build_name([("CN", "bad")]), refused, ca.leaf_extensions(good))
