"""Extension builders: criticality and DER, checked against `cryptography`'s own encoder
(`ExtensionType.public_bytes()`) where it has one, and against hand-written DER from the
ASN.1 of RFC 9215 section 4 for the Russian extensions.
"""

import ipaddress
from datetime import UTC, datetime, timedelta, timezone

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from protocols.x509 import extensions as ext


def value_of(extension: asn1_x509.Extension) -> bytes:
    """The extnValue octets (the DER inside the OCTET STRING)."""
    return extension["extn_value"].contents


def critical(extension: asn1_x509.Extension) -> bool:
    return bool(extension["critical"].native)


def spki(key) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    ("ours", "theirs", "is_critical"),
    [
        (ext.basic_constraints(True), x509.BasicConstraints(True, None), True),
        (ext.basic_constraints(True, 0), x509.BasicConstraints(True, 0), True),
        (ext.basic_constraints(False), x509.BasicConstraints(False, None), True),
        (
            ext.key_usage({"key_cert_sign", "crl_sign", "digital_signature"}),
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            True,
        ),
        (
            ext.key_usage({"digital_signature", "non_repudiation"}),
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            True,
        ),
        (
            ext.key_usage({"key_agreement", "decipher_only"}),
            x509.KeyUsage(False, False, False, False, True, False, False, False, True),
            True,
        ),
        (
            ext.extended_key_usage(["server_auth", "client_auth", "1.2.643.100.2.1"]),
            x509.ExtendedKeyUsage(
                [
                    ExtendedKeyUsageOID.SERVER_AUTH,
                    ExtendedKeyUsageOID.CLIENT_AUTH,
                    x509.ObjectIdentifier("1.2.643.100.2.1"),
                ]
            ),
            False,
        ),
        (
            ext.extended_key_usage(["time_stamping"]),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
            True,  # RFC 3161 2.3
        ),
        (
            ext.authority_key_identifier(b"\x01" * 20),
            x509.AuthorityKeyIdentifier(b"\x01" * 20, None, None),
            False,
        ),
        (
            ext.subject_alt_name(
                dns=["a.example"],
                ips=["192.0.2.1", ipaddress.ip_address("2001:db8::1")],
                emails=["x@a.example"],
            ),
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("a.example"),
                    x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
                    x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                    x509.RFC822Name("x@a.example"),
                ]
            ),
            False,
        ),
        (
            ext.crl_distribution_points(["http://ca.example/crl/a.crl", "ldap://ca/x"]),
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [
                            x509.UniformResourceIdentifier("http://ca.example/crl/a.crl"),
                            x509.UniformResourceIdentifier("ldap://ca/x"),
                        ],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            False,
        ),
        (
            ext.authority_information_access(
                ["http://ca.example/ocsp"], ["http://ca.example/ca.crt"]
            ),
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://ca.example/ocsp"),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier("http://ca.example/ca.crt"),
                    ),
                ]
            ),
            False,
        ),
        (
            ext.certificate_policies(["1.2.643.100.113.1", "1.2.643.100.113.2"]),
            x509.CertificatePolicies(
                [
                    x509.PolicyInformation(x509.ObjectIdentifier("1.2.643.100.113.1"), None),
                    x509.PolicyInformation(x509.ObjectIdentifier("1.2.643.100.113.2"), None),
                ]
            ),
            False,
        ),
        (
            ext.private_key_usage_period(
                datetime(2025, 1, 1, 12, 0, 0, 999, tzinfo=UTC),
                datetime(2026, 4, 1, 15, 0, tzinfo=timezone(timedelta(hours=3))),
            ),
            x509.PrivateKeyUsagePeriod(datetime(2025, 1, 1, 12), datetime(2026, 4, 1, 12)),
            False,
        ),
        (ext.ocsp_no_check(), x509.OCSPNoCheck(), False),
    ],
)
def test_matches_cryptography(ours, theirs, is_critical):
    assert ours["extn_id"].dotted == theirs.oid.dotted_string
    assert value_of(ours) == theirs.public_bytes()
    assert critical(ours) is is_critical
    # DER: critical DEFAULT FALSE is omitted (X.690 11.5); TRUE is 01 01 ff.
    elements = [element.dump() for element in _AnySequence.load(ours.dump())]
    assert len(elements) == (3 if is_critical else 2)
    if is_critical:
        assert elements[1] == b"\x01\x01\xff"


class _AnySequence(core.SequenceOf):
    _child_spec = core.Any


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(65537, 2048),
    ],
)
def test_key_identifier_is_rfc5280_method_1(key):
    expected = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert ext.key_identifier(spki(key)) == expected.digest
    extension = ext.subject_key_identifier(spki(key))
    assert value_of(extension) == expected.public_bytes()
    assert not critical(extension)
    built = asn1_x509.Extension(  # the DER joined by hand is asn1crypto's build
        {"extn_id": "key_identifier", "critical": False, "extn_value": expected.digest}
    )
    assert extension.dump() == built.dump(force=True)


def test_key_identifier_of_a_key_not_in_plain_der_is_read_by_asn1crypto():
    """A SPKI with a long-form length where the short one belongs (BER, not DER) is not
    read by the DER walk; asn1crypto reads it, as it always did."""
    der = spki(ec.generate_private_key(ec.SECP256R1()))
    assert der[1] < 0x80
    ber = b"\x30\x81" + der[1:]
    assert ext.key_identifier(ber) == ext.key_identifier(der)
    with pytest.raises(ValueError, match="not a SubjectPublicKeyInfo"):
        ext.key_identifier(b"\x30" + bytes([der[1] + 2]) + der[2:] + b"\x05\x00")


def test_subject_sign_tool_der():
    extension = ext.subject_sign_tool("СКЗИ «КриптоПро CSP»")
    text = "СКЗИ «КриптоПро CSP»".encode()
    assert extension["extn_id"].dotted == "1.2.643.100.111"
    assert value_of(extension) == b"\x0c" + bytes([len(text)]) + text
    assert not critical(extension)


def test_issuer_sign_tool_der():
    extension = ext.issuer_sign_tool("a", "bb", "ccc", "d")
    assert extension["extn_id"].dotted == "1.2.643.100.112"
    assert value_of(extension) == bytes.fromhex("300f 0c0161 0c026262 0c03636363 0c0164")
    assert not critical(extension)


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_identification_kind_der(kind):
    extension = ext.identification_kind(kind)
    assert extension["extn_id"].dotted == "1.2.643.100.114"
    assert value_of(extension) == bytes([0x02, 0x01, kind])
    assert not critical(extension)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ext.subject_sign_tool(""), "1..200"),
        (lambda: ext.subject_sign_tool("x" * 201), "1..200"),
        (lambda: ext.issuer_sign_tool("x" * 201, "a", "b", "c"), "signTool"),
        (lambda: ext.issuer_sign_tool("a", "x" * 201, "b", "c"), "cATool"),
        (lambda: ext.issuer_sign_tool("a", "b", "x" * 101, "c"), "signToolCert"),
        (lambda: ext.issuer_sign_tool("a", "b", "c", "x" * 101), "cAToolCert"),
        (lambda: ext.identification_kind(4), "0..3"),
        (lambda: ext.identification_kind(-1), "0..3"),
        (lambda: ext.basic_constraints(False, 0), "path_len"),
        (lambda: ext.basic_constraints(True, -1), "path_len"),
        (lambda: ext.key_usage(set()), "at least one"),
        (lambda: ext.key_usage({"sign_everything"}), "unknown key usage"),
        (lambda: ext.key_usage({"encipher_only"}), "key_agreement"),
        (lambda: ext.extended_key_usage(["world_domination"]), "unknown extended key usage"),
        (lambda: ext.extended_key_usage([]), "at least one"),
        (lambda: ext.subject_alt_name(), "at least one"),
        (lambda: ext.subject_alt_name(dns=["пример.рф"]), "ASCII"),
        (lambda: ext.subject_alt_name(ips=["300.1.1.1"]), "does not appear"),
        (lambda: ext.subject_alt_name(emails=["nobody"]), "rfc822Name"),
        (lambda: ext.crl_distribution_points([]), "at least one"),
        (lambda: ext.authority_information_access(), "at least one"),
        (lambda: ext.certificate_policies([]), "distinct"),
        (lambda: ext.certificate_policies(["1.2.3", "1.2.3"]), "distinct"),
        (lambda: ext.certificate_policies(["kc1"]), "not a policy OID"),
        (lambda: ext.private_key_usage_period(None, None), "needs"),
        (lambda: ext.private_key_usage_period(datetime(2025, 1, 1), None), "timezone"),
        (
            lambda: ext.private_key_usage_period(
                datetime(2026, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
            ),
            "ends before",
        ),
        (lambda: ext.authority_key_identifier(b""), "empty"),
    ],
)
def test_refusals(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_san_can_be_critical_for_an_empty_subject():
    assert critical(ext.subject_alt_name(dns=["a.example"], critical=True))


def test_identification_kind_enum():
    assert (
        ext.identification_kind(ext.IdentificationKind.REMOTE_SYSTEM)
        .dump()
        .endswith(b"\x02\x01\x03")
    )
