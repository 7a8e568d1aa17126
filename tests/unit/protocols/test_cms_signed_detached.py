"""Detached CMS signatures with CAdES-BES attributes (RFC 5652 5.2, 11.3; RFC 5035 3) and
GOST R 34.10-2012 SignerInfos (reference/ru-profile.md 5.2), built by protocols.cms.signed,
signed here as the signer process would (hsm.gost_engine for GOST, `cryptography` for
ECDSA), and checked by `openssl cms -verify -cades` (with gost-engine loaded by configuration
for GOST): with -cades, OpenSSL 3 also checks that the ESS signingCertificateV2 names the
signer's certificate, so a wrong one is refused there too. Time is fixed and told to
OpenSSL with `-attime`."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from hsm import gost_engine
from protocols import der
from protocols.cms import ID_DATA, signed_attributes, signed_data
from protocols.x509 import extensions as ext
from protocols.x509.names import build_name
from tests.gost_support import GostCA, openssl, pem, require_engine, streebog

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AT = str(int((NOW + timedelta(hours=1)).timestamp()))
DOCUMENT = b"%PDF-1.7\n% a confirmation report\n" + bytes(range(256)) + b"\n%%EOF\n"
# The SignerInfo's algorithms as gost-engine writes them (ru-profile.md 5.2): Streebog of
# the key's size, and the key's own OID as signatureAlgorithm, both with NULL parameters.
GOST_DIGEST_DER = {256: "300c06082a850307010102020500", 512: "300c06082a850307010102030500"}
GOST_SIGNATURE_DER = {256: "300c06082a850307010101010500", 512: "300c06082a850307010101020500"}
GOST_PARAMSETS = {256: "A", 512: "A"}


def cms_verify(
    folder: Path, signature: bytes, document: bytes | None
) -> subprocess.CompletedProcess[str]:
    """`openssl cms -verify -cades` (engine loaded) of `signature` over `document` (detached), or
    of the encapsulated content when `document` is None, against ca.pem in `folder`."""
    (folder / "signature.der").write_bytes(signature)
    content: list[str] = []
    if document is not None:
        (folder / "document.bin").write_bytes(document)
        content = ["-content", "document.bin"]
    return openssl(folder, "cms", "-verify", "-binary", "-inform", "DER", "-in", "signature.der",
                   *content, "-CAfile", "ca.pem", "-purpose", "any", "-attime", AT, "-cades",
                   "-out", "out.bin", check=False)  # fmt: skip


def signer_info(signature: bytes) -> tuple[asn1_cms.SignerInfo, asn1_cms.SignedData]:
    data = asn1_cms.ContentInfo.load(signature, strict=True)["content"]
    (info,) = data["signer_infos"]
    return info, data


def attributes_of(info: asn1_cms.SignerInfo) -> dict[str, asn1_cms.CMSAttribute]:
    return {a["type"].native: a for a in info["signed_attrs"]}


# --- GOST R 34.10-2012 -------------------------------------------------------------------


@pytest.fixture(params=[256, 512], ids=["gost2012_256", "gost2012_512"])
def gost(request, tmp_path: Path) -> tuple[int, GostCA, gost_engine.PrivateKey, bytes]:
    """(key size, a GOST CA (its certificate in ca.pem), a signer's key, its certificate)."""
    require_engine()
    bits = request.param
    ca = GostCA.make(bits, GOST_PARAMSETS[bits], NOW - timedelta(days=1))
    (tmp_path / "ca.pem").write_text(pem(ca.certificate, "CERTIFICATE"))
    key = gost_engine.generate_private_key(bits, GOST_PARAMSETS[bits])
    certificate = ca.issue(
        build_name([("CN", f"GOST {bits} report signer"), ("C", "RU")]),
        key.public_key_der(),
        [
            ext.basic_constraints(ca=False),
            ext.key_usage({"digital_signature", "non_repudiation"}),
            ext.subject_key_identifier(key.public_key_der()),
        ],
        serial=7,
    )
    return bits, ca, key, certificate


def gost_signed(
    bits: int, key: gost_engine.PrivateKey, certificate: bytes, ca: GostCA, detached: bool
) -> bytes:
    digest = f"streebog{bits}"
    attributes = signed_attributes(ID_DATA, DOCUMENT, digest, NOW, certificate)
    return signed_data(ID_DATA, DOCUMENT, attributes, certificate, f"gost2012_{bits}",
                       key.sign(attributes), [ca.certificate], detached=detached)  # fmt: skip


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
def test_rfc5652_5_6_a_gost_signed_data_verifies_in_openssl_and_a_changed_document_does_not(
    gost, tmp_path, detached
):
    bits, ca, key, certificate = gost
    signature = gost_signed(bits, key, certificate, ca, detached)
    result = cms_verify(tmp_path, signature, DOCUMENT if detached else None)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    assert (tmp_path / "out.bin").read_bytes() == DOCUMENT
    if detached:
        changed = DOCUMENT.replace(b"report", b"rep0rt")
        refused = cms_verify(tmp_path, signature, changed)
        assert refused.returncode != 0
        assert "content verify error" in refused.stderr  # messageDigest no longer matches


def test_ru_profile_5_2_the_gost_signer_info_is_written_as_gost_engine_writes_it(gost):
    """digestAlgorithm id-tc26-gost3411-12-256/512 and signatureAlgorithm the key's OID,
    NULL parameters; the messageDigest and the ESSCertIDv2 are Streebog of the key's size,
    checked by gostcrypto apart from the engine; the signature is the key's, s || r."""
    bits, ca, key, certificate = gost
    signature = gost_signed(bits, key, certificate, ca, detached=True)
    info, data = signer_info(signature)
    assert info["digest_algorithm"].dump().hex() == GOST_DIGEST_DER[bits]
    assert [a.dump().hex() for a in data["digest_algorithms"]] == [GOST_DIGEST_DER[bits]]
    assert info["signature_algorithm"].dump().hex() == GOST_SIGNATURE_DER[bits]
    attributes = attributes_of(info)
    assert attributes["message_digest"]["values"][0].native == streebog(f"streebog{bits}", DOCUMENT)
    (cert_id,) = attributes["signing_certificate_v2"]["values"][0]["certs"]
    assert cert_id["hash_algorithm"].dump().hex() == GOST_DIGEST_DER[bits]
    assert cert_id["cert_hash"].native == streebog(f"streebog{bits}", certificate)
    signed = b"\x31" + info["signed_attrs"].dump()[1:]
    assert gost_engine.verify(key.public_key_der(), info["signature"].native, signed)


# --- detached, signingTime, signingCertificateV2 (any algorithm) ---------------------------


def _ec_certificate(name: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                    issuer_key: ec.EllipticCurvePrivateKey, ca: bool) -> bytes:  # fmt: skip
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.DER)


@pytest.fixture
def ec_signers(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """(a signer's P-256 key, its certificate, another certificate of the same CA)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ec_certificate("CMS Test CA", ca_key, "CMS Test CA", ca_key, ca=True)
    (tmp_path / "ca.pem").write_text(pem(ca, "CERTIFICATE"))
    key = ec.generate_private_key(ec.SECP256R1())
    own = _ec_certificate("signer", key, "CMS Test CA", ca_key, ca=False)
    other = _ec_certificate("someone else", key, "CMS Test CA", ca_key, ca=False)
    return key, own, other


def test_rfc5035_3_signing_certificate_v2_names_the_signer_and_openssl_checks_it(
    ec_signers, tmp_path
):
    """ESSCertIDv2 with SHA-256 (hashAlgorithm left out: its DEFAULT) and issuerSerial; a
    signature whose signingCertificateV2 names another certificate is refused."""
    key, own, other = ec_signers

    def signed(named: bytes) -> bytes:
        attributes = signed_attributes(ID_DATA, DOCUMENT, "sha256", NOW, named)
        value = key.sign(attributes, ec.ECDSA(hashes.SHA256()))
        return signed_data(ID_DATA, DOCUMENT, attributes, own, "sha256_ecdsa", value,
                           detached=True)  # fmt: skip

    good = signed(own)
    result = cms_verify(tmp_path, good, DOCUMENT)
    assert result.returncode == 0, result.stderr
    info, data = signer_info(good)
    assert data["encap_content_info"]["content"].native is None  # RFC 5652 5.2: absent
    (cert_id,) = attributes_of(info)["signing_certificate_v2"]["values"][0]["certs"]
    # certHash, issuerSerial: no hashAlgorithm, DER leaves out a DEFAULT value (X.690 11.5)
    assert [tag for tag, _ in der.elements(cert_id.dump())] == [0x04, 0x30]
    assert cert_id["cert_hash"].native == x509.load_der_x509_certificate(own).fingerprint(
        hashes.SHA256()
    )
    parsed = asn1_x509.Certificate.load(own)
    (issuer,) = cert_id["issuer_serial"]["issuer"]
    assert issuer.name == "directory_name"
    assert issuer.chosen.untag().dump() == parsed.issuer.dump()
    assert cert_id["issuer_serial"]["serial_number"].native == parsed.serial_number
    refused = cms_verify(tmp_path, signed(other), DOCUMENT)
    assert refused.returncode != 0
    assert "CAdES Verification failure" in refused.stderr
    assert "ess cert id not found" in refused.stderr


@pytest.mark.parametrize(
    ("moment", "choice"),
    [(NOW, "utc_time"), (datetime(2050, 1, 1, tzinfo=UTC), "generalized_time")],
)
def test_rfc5652_11_3_signing_time_is_utc_time_until_2049(moment, choice):
    attributes = asn1_cms.CMSAttributes.load(signed_attributes(ID_DATA, DOCUMENT, "sha256", moment))
    (time,) = [a["values"][0] for a in attributes if a["type"].native == "signing_time"]
    assert time.name == choice
    assert time.native == moment


def test_rfc5652_11_3_a_naive_signing_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        signed_attributes(ID_DATA, DOCUMENT, "sha256", NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="signing certificate is not a DER Certificate"):
        signed_attributes(ID_DATA, DOCUMENT, "sha256", NOW, b"junk")
