"""EST certs-only responses and /serverkeygen bodies, read back by the tools clients use.

Vectors and their origin: a root CA, an intermediate CA and a leaf (EC P-256), and the
leaf's PKCS#8 key, all made with `cryptography` in the test. The messages written by
:func:`certs_only` are read by `openssl pkcs7` (OpenSSL 3.0 CLI), as DER and through
`base64 -d` as a client with curl would; by `cryptography`'s PKCS#7 loader with warnings
turned into errors (it warns on non-DER, see below); and by asn1crypto's CMS parser field by
field. (:func:`certs_only` writes with `cryptography`'s `pkcs7.serialize_certificates`:
these tests check what it writes, not that it agrees with itself.)
"""

import itertools
import subprocess
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs7,
)
from cryptography.x509.oid import NameOID

from hsm import gost_engine
from protocols.est import (
    CERTS_ONLY_CT,
    ESTFormatError,
    certs_only,
    certs_only_response,
    decode_base64_body,
    parse_multipart_mixed,
    server_keygen_response,
)
from tests.gost_support import openssl, require_engine

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
ID_DATA = "1.2.840.113549.1.7.1"
BOUNDARY = "est-server-boundary"


def name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "EST Test"),
        ]
    )


def issue(subject, key, issuer, issuer_key, ca: bool) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


class Chain:
    """Root CA, intermediate CA, leaf; ``ders`` in that order."""

    def __init__(self) -> None:
        root_key = ec.generate_private_key(ec.SECP256R1())
        sub_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        root = issue(name("EST Root CA"), root_key, name("EST Root CA"), root_key, True)
        sub = issue(name("EST Sub CA"), sub_key, root.subject, root_key, True)
        leaf = issue(name("device-42"), self.leaf_key, sub.subject, sub_key, False)
        self.certs = [root, sub, leaf]
        self.ders = [c.public_bytes(Encoding.DER) for c in self.certs]
        self.pkcs8 = self.leaf_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


def run(command: list[str], data: bytes) -> str:
    result = subprocess.run(command, input=data, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def openssl_subjects(der: bytes) -> list[str]:
    text = run(["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-noout"], der)
    return [
        line.split("CN = ")[1].split(",")[0] for line in text.splitlines() if "subject=" in line
    ]


def common_name(der: bytes) -> str:
    value = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(value[0].value)


def in_der_order(ders: list[bytes]) -> list[str]:
    """The common names in the order DER puts a SET OF in (X.690 11.6)."""
    return [common_name(der) for der in sorted(ders)]


def test_openssl_prints_the_one_certificate(chain):
    assert openssl_subjects(certs_only(chain.ders[:1])) == ["EST Root CA"]


def test_openssl_prints_the_three_certificates_in_der_order(chain):
    assert openssl_subjects(certs_only(chain.ders)) == in_der_order(chain.ders)
    assert sorted(openssl_subjects(certs_only(chain.ders))) == [
        "EST Root CA",
        "EST Sub CA",
        "device-42",
    ]


def test_the_caller_order_does_not_change_the_der(chain):
    messages = {certs_only(list(order)) for order in itertools.permutations(chain.ders)}
    assert len(messages) == 1


@pytest.mark.parametrize("count", [1, 3])
def test_a_client_reads_the_base64_body_with_base64_and_openssl(chain, count):
    body = certs_only_response(chain.ders[:count])
    printed = run(["sh", "-c", "base64 -d | openssl pkcs7 -inform DER -print_certs -noout"], body)
    assert printed.count("subject=") == count
    assert body.endswith(b"\n")
    assert all(len(line) <= 64 for line in body.splitlines())
    assert decode_base64_body(body) == certs_only(chain.ders[:count])


@pytest.mark.parametrize("count", [1, 3])
def test_cryptography_reads_it_as_der(chain, count):
    der = certs_only(chain.ders[:count])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cryptography warns when it falls back to BER
        loaded = pkcs7.load_der_pkcs7_certificates(der)
    assert sorted(c.public_bytes(Encoding.DER) for c in loaded) == sorted(chain.ders[:count])


def test_the_signed_data_is_degenerate_as_rfc_5652_and_7030_say(chain):
    info = cms.ContentInfo.load(certs_only(chain.ders))
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    assert signed["version"].native == "v1"
    assert len(signed["digest_algorithms"]) == 0
    encap = signed["encap_content_info"]
    assert encap["content_type"].dotted == ID_DATA
    assert not encap["content"]
    assert len(encap.contents) == 11  # the OID alone: no [0] eContent, not even empty
    assert sorted(c.chosen.dump() for c in signed["certificates"]) == sorted(chain.ders)
    assert not signed["crls"]
    assert len(signed["signer_infos"]) == 0


@pytest.mark.parametrize(
    ("certificates", "message"),
    [
        ([], "at least one certificate"),
        ([b"not a certificate"], "certificate 0 is not a DER Certificate"),
        ([b"\x30\x03\x02\x01\x01"], "certificate 0 is not a DER Certificate"),
    ],
)
def test_what_is_not_a_certificate_list_is_refused(certificates, message):
    with pytest.raises(ValueError, match=message):
        certs_only(certificates)


def test_a_pem_trailing_octets_or_a_truncated_one_are_not_a_der_certificate(chain):
    pem = chain.certs[0].public_bytes(Encoding.PEM)
    indefinite = b"\x30\x80" + chain.ders[0][4:] + b"\x00\x00"  # BER, not DER (X.690 10.1)
    for bad in (pem, chain.ders[0] + b"\x00", chain.ders[0][:-1], indefinite):
        with pytest.raises(ValueError, match="certificate 1 is not"):
            certs_only([chain.ders[1], bad])


def test_server_keygen_parts_carry_the_key_and_the_certificate(chain):
    body, content_type = server_keygen_response(chain.pkcs8, chain.ders[2], BOUNDARY)
    assert content_type == f"multipart/mixed; boundary={BOUNDARY}"
    (key_headers, key_part), (cert_headers, cert_part) = parse_multipart_mixed(body, content_type)
    assert key_headers == {
        "content-type": "application/pkcs8",
        "content-transfer-encoding": "base64",
    }
    assert cert_headers == {
        "content-type": CERTS_ONLY_CT,
        "content-transfer-encoding": "base64",
    }
    assert decode_base64_body(key_part) == chain.pkcs8
    assert decode_base64_body(cert_part) == certs_only([chain.ders[2]])


def test_openssl_reads_both_parts_of_the_server_keygen_body(chain):
    body, content_type = server_keygen_response(chain.pkcs8, chain.ders[2], BOUNDARY)
    (_, key_part), (_, cert_part) = parse_multipart_mixed(body, content_type)
    # The parts' lines end in CRLF (RFC 2045 6.8), which `openssl base64 -d` accepts.
    printed = run(
        ["sh", "-c", "openssl base64 -d | openssl pkcs7 -inform DER -print_certs -noout"],
        cert_part,
    )
    assert "CN = device-42" in printed
    key_text = run(
        ["sh", "-c", "openssl base64 -d | openssl pkey -inform DER -text_pub -noout"], key_part
    )
    assert "ASN1 OID: prime256v1" in key_text


def test_rfc7030_4_4_2_a_gost_key_goes_out_as_the_engine_wrote_it(chain, tmp_path):
    """A GOST R 34.10-2012 PrivateKeyInfo, whose algorithm asn1crypto cannot read a
    private key of, is a PKCS#8 key all the same; openssl with the engine reads it back."""
    require_engine()
    key = gost_engine.generate_private_key(512, "C")
    body, content_type = server_keygen_response(key.pkcs8_der(), chain.ders[2], BOUNDARY)
    (_, key_part), _ = parse_multipart_mixed(body, content_type)
    assert decode_base64_body(key_part) == key.pkcs8_der()
    (tmp_path / "key.der").write_bytes(decode_base64_body(key_part))
    openssl(tmp_path, "pkey", "-inform", "DER", "-in", "key.der", "-pubout", "-outform", "DER",
            "-out", "pub.der")  # fmt: skip
    assert (tmp_path / "pub.der").read_bytes() == key.public_key_der()


@pytest.mark.parametrize("key", [b"", b"junk", b"\x30\x03\x02\x01\x00"])
def test_server_keygen_refuses_what_is_not_a_pkcs8_key(chain, key):
    with pytest.raises(ValueError, match="PKCS#8"):
        server_keygen_response(key, chain.ders[2], BOUNDARY)


def test_server_keygen_refuses_an_encrypted_pkcs8_key(chain):
    encrypted = chain.leaf_key.private_bytes(
        Encoding.DER, PrivateFormat.PKCS8, BestAvailableEncryption(b"password")
    )
    with pytest.raises(ValueError, match="PKCS#8"):
        server_keygen_response(encrypted, chain.ders[2], BOUNDARY)


def test_server_keygen_refuses_a_bad_certificate_or_boundary(chain):
    with pytest.raises(ValueError, match="certificate 0"):
        server_keygen_response(chain.pkcs8, b"junk", BOUNDARY)
    with pytest.raises(ValueError, match="RFC 2046"):
        server_keygen_response(chain.pkcs8, chain.ders[2], "")


def test_an_est_format_error_is_a_value_error():
    assert issubclass(ESTFormatError, ValueError)
