"""EST serverkeygen of GOST R 34.10-2012 keys on a GOST CA (`init --algorithm gost2012-256`),
driven by curl (issue #16, RFC 7030 4.4): the template made by `openssl req` with gost-engine
names the key type by its own key (4.4.1); the CA answers with the new key as PKCS#8 (RFC
5958) and its certificate. OpenSSL with the engine reads the key and derives its public key,
the certificate's, and the key then authenticates its holder over TLS 1.2 (simplereenroll).
Encrypted to the client's EC certificate (4.4.1.2), the key is opened by `openssl cms`.

CMP central key generation (RFC 9483 4.1.6) has no client here: OpenSSL 3.0's `openssl cmp`
has no -centralkeygen (see `openssl cmp -help`); it is tested at the service level in
tests/unit/server/test_cmp_rfc9483_enrolment.py."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core, csr, keys

from hsm import gost_engine
from protocols import cms, der, est, gost
from protocols.x509.ca_request import assemble_request
from protocols.x509.certificate import signature_algorithm_for
from protocols.x509.names import build_name
from tests.integration.test_gost_ca import GostWorld, served_gost_ca

ID_ASYMMETRIC_DECRYPT_KEY_IDENTIFIER = "1.2.840.113549.1.9.16.2.54"  # RFC 7030 4.4.1.2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GostWorld]:
    """A GOST CA as tests/integration/test_gost_ca.py makes and serves one: its TLS
    profiles take GOST keys."""
    with served_gost_ca(tmp_path_factory.mktemp("gost-keygen")) as served:
        yield served


def _serverkeygen(world: GostWorld, request: Path, key_type: str, *args: str | Path) -> list[bytes]:
    """The parts of a 200 multipart/mixed answer to serverkeygen, base64-decoded: the key,
    whose Content-Type must be `key_type`, then the certificate (RFC 7030 4.4.2)."""
    headers = world.folder / "keygen-headers.txt"
    result = subprocess.run(
        ["curl", "-s", "--cacert", str(world.ca_file), "-D", str(headers),
         "-H", "Content-Type: application/pkcs10", "--data-binary", f"@{request}",
         *map(str, args), f"{world.server.tls_url}/.well-known/est/serverkeygen"],
        capture_output=True, env=world.env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status = headers.read_text().split(None, 2)[1]
    assert status == "200", result.stdout
    content_type = next(
        line.split(":", 1)[1].strip()
        for line in headers.read_text().splitlines()
        if line.lower().startswith("content-type:")
    )
    parts = est.parse_multipart_mixed(result.stdout, content_type)
    assert [part["content-type"] for part, _ in parts] == [key_type, est.CERTS_ONLY_CT]
    return [base64.b64decode(body) for _, body in parts]


def _certificate(world: GostWorld, pkcs7: bytes, name: str) -> Path:
    (world.folder / f"{name}.p7").write_bytes(pkcs7)
    path = world.folder / f"{name}.pem"
    world.openssl("pkcs7", "-inform", "DER", "-in", world.folder / f"{name}.p7",
                  "-print_certs", "-out", path)  # fmt: skip
    assert "OK" in world.verify(path).stdout
    return path


def _public_keys(world: GostWorld, key_der: Path, certificate: Path) -> tuple[bytes, bytes]:
    """(the public key openssl derives from the PKCS#8 key, the certificate's), DER."""
    from_key = world.folder / f"{key_der.stem}-pub.der"
    world.openssl("pkey", "-inform", "DER", "-in", key_der, "-pubout", "-outform", "DER",
                  "-out", from_key)  # fmt: skip
    from_certificate = world.folder / f"{certificate.stem}-pub.pem"
    world.openssl("x509", "-in", certificate, "-noout", "-pubkey", "-out", from_certificate)
    certified = world.folder / f"{certificate.stem}-pub.der"
    world.openssl("pkey", "-pubin", "-in", from_certificate, "-outform", "DER", "-out", certified)
    return from_key.read_bytes(), certified.read_bytes()


def test_rfc7030_4_4_serverkeygen_of_a_gost_key_by_curl_and_the_key_works_over_tls(
    world: GostWorld,
) -> None:
    credential_id, secret = world.code("CN=keygen-device,O=Plant")
    template = world.request(world.key("keygen-template", "TCA"), "/", "keygen-template")
    key_part, certificate_part = _serverkeygen(
        world, template, "application/pkcs8", "-u", f"{credential_id}:{secret}"
    )
    key_der = world.folder / "keygen.der"
    key_der.write_bytes(key_part)
    certificate = _certificate(world, certificate_part, "keygen")
    from_key, certified = _public_keys(world, key_der, certificate)
    assert gost_engine.paramset_of(from_key) == (256, "TCA")  # the template's key type
    assert gost.read_spki(from_key) == gost.read_spki(certified)
    text = world.openssl("x509", "-in", certificate, "-noout", "-subject").stdout
    assert "CN = keygen-device" in text

    # The key and its certificate authenticate a TLS client (1.2: OpenSSL 3.0's TLS 1.3 has
    # no GOST signature scheme); a renewal for a key of the client's own making.
    key_pem = world.folder / "keygen.key"
    world.openssl("pkey", "-inform", "DER", "-in", key_der, "-out", key_pem)
    renewal = world.request(world.key("keygen-next", "A"), "/O=Plant/CN=keygen-device", "kn")
    renewed = subprocess.run(
        ["curl", "-s", "-f", "--cacert", str(world.ca_file), "--tls-max", "1.2",
         "--cert", str(certificate), "--key", str(key_pem),
         "-H", "Content-Type: application/pkcs10", "--data-binary", f"@{renewal}",
         f"{world.server.tls_url}/.well-known/est/simplereenroll"],
        capture_output=True, env=world.env, timeout=60,
    )  # fmt: skip
    assert renewed.returncode == 0, renewed.stderr
    _certificate(world, base64.b64decode(renewed.stdout), "keygen-renewed")


def _template_asking_encryption(key_identifier: bytes) -> bytes:
    """A GOST serverkeygen template (512-bit, TC26-C) with AsymmetricDecryptKeyIdentifier
    (RFC 7030 4.4.1.2), which `openssl req` cannot add (an OCTET STRING attribute)."""
    key = gost_engine.generate_private_key(512, "C")
    spki = key.public_key_der()
    attribute = csr.CRIAttribute({
        "type": ID_ASYMMETRIC_DECRYPT_KEY_IDENTIFIER,
        "values": core.Any.load(der.tlv(0x31, core.OctetString(key_identifier).dump())),
    })  # fmt: skip
    info = csr.CertificationRequestInfo({
        "version": "v1", "subject": build_name([]),
        "subject_pk_info": keys.PublicKeyInfo.load(spki), "attributes": [attribute],
    }).dump()  # fmt: skip
    return assemble_request(info, signature_algorithm_for(spki), key.sign(info))


def test_rfc7030_4_4_1_2_a_gost_key_encrypted_to_the_clients_ec_certificate(
    world: GostWorld,
) -> None:
    """The EnvelopedData for the client's EC certificate is opened by `openssl cms
    -decrypt`, the SignedData inside verified by `openssl cms -verify` up to the GOST CA
    (the server's TLS identity signs it), and the GOST key in its AsymmetricKeyPackage
    read by `openssl pkey`."""
    credential_id, secret = world.code("CN=sealed-device")
    ec_key = world.folder / "sealed-ec.key"
    world.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", ec_key)  # fmt: skip
    ec_request = world.folder / "sealed-ec.der"
    world.openssl("req", "-new", "-key", ec_key, "-subj", "/CN=sealed-device", "-sha256",
                  "-outform", "DER", "-out", ec_request)  # fmt: skip
    ec_body = world.folder / "sealed-ec.b64"
    ec_body.write_bytes(base64.encodebytes(ec_request.read_bytes()))
    enrolled = subprocess.run(
        ["curl", "-s", "-f", "--cacert", str(world.ca_file), "-u", f"{credential_id}:{secret}",
         "-H", "Content-Type: application/pkcs10", "--data-binary", f"@{ec_body}",
         f"{world.server.tls_url}/.well-known/est/simpleenroll"],
        capture_output=True, env=world.env, timeout=60,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    ec_certificate = _certificate(world, base64.b64decode(enrolled.stdout), "sealed-ec")
    ski = world.openssl("x509", "-in", ec_certificate, "-noout", "-ext", "subjectKeyIdentifier")
    key_identifier = bytes.fromhex(ski.stdout.splitlines()[1].strip().replace(":", ""))

    credential_id, secret = world.code("CN=sealed-device")
    template = world.folder / "sealed-template.b64"
    template.write_bytes(base64.encodebytes(_template_asking_encryption(key_identifier)))
    sealed, certificate_part = _serverkeygen(
        world, template, "application/pkcs7-mime; smime-type=server-generated-key",
        "-u", f"{credential_id}:{secret}",
        "--cert", ec_certificate, "--key", ec_key,
    )  # fmt: skip
    (world.folder / "sealed.p7m").write_bytes(sealed)
    signed = world.folder / "sealed-signed.der"
    world.openssl("cms", "-decrypt", "-inform", "DER", "-in", world.folder / "sealed.p7m",
                  "-recip", ec_certificate, "-inkey", ec_key, "-out", signed)  # fmt: skip
    signed_info = world.folder / "sealed-signed-info.der"  # a ContentInfo, for openssl
    signed_info.write_bytes(
        asn1_cms.ContentInfo(
            {
                "content_type": "signed_data",
                "content": asn1_cms.SignedData.load(signed.read_bytes()),
            }
        ).dump()
    )
    package = world.folder / "sealed-akp.der"
    world.openssl("cms", "-verify", "-inform", "DER", "-in", signed_info, "-CAfile",
                  world.ca_file, "-purpose", "any", "-out", package)  # fmt: skip
    (pkcs8,) = cms.parse_asymmetric_key_package(package.read_bytes())
    key_der = world.folder / "sealed.der"
    key_der.write_bytes(pkcs8)
    certificate = _certificate(world, certificate_part, "sealed")
    from_key, certified = _public_keys(world, key_der, certificate)
    assert gost_engine.paramset_of(from_key) == (512, "C")
    assert gost.read_spki(from_key) == gost.read_spki(certified)
