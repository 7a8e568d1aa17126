"""GOST-signed certificates, CRLs and OCSP responses (RFC 9215 signature algorithms over
RFC 5280 / RFC 6960 structures), built by protocols/, signed by hsm.gost_engine as the
signer process would, then checked by two readers apart from our code: `openssl` with
gost-engine loaded by configuration (`verify`, `verify -crl_check`, `crl`, `ocsp`), and
gostcrypto's pure-Python GOST R 34.10-2012 (tests/gost_oracle.py). Time is fixed, and
OpenSSL is told the same time with `-attime`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509

from hsm import gost_engine
from protocols import crl, gost, ocsp
from protocols.x509 import extensions as ext
from protocols.x509.certificate import (
    CertificateTemplate,
    algorithm_identifier,
    build_tbs_certificate,
    signature_algorithm_for,
)
from protocols.x509.names import build_name
from protocols.x509.spki import certificate_spki
from tests import gost_oracle
from tests.gost_support import (
    RFC9215_512_TEST_SET_CERTIFICATE,
    GostCA,
    openssl,
    pem,
    require_engine,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AT = str(int((NOW + timedelta(hours=1)).timestamp()))
# RFC 9215's examples write the signature AlgorithmIdentifier without parameters.
SIGNATURE_ALGORITHM_DER = {
    256: bytes.fromhex("300a06082a85030701010302"),
    512: bytes.fromhex("300a06082a85030701010303"),
}


@pytest.fixture(scope="module", params=[(256, "A"), (256, "TCA"), (512, "A")], ids=str)
def ca(request: pytest.FixtureRequest) -> GostCA:
    require_engine()
    bits, paramset = request.param
    return GostCA.make(bits, paramset, NOW)


def _leaf(ca: GostCA, serial: int = 0x5A) -> tuple[bytes, bytes]:
    """(certificate, its key's SPKI): a TC26-B 256-bit subscriber key."""
    spki = gost_engine.generate_private_key(256, "TCB").public_key_der()
    certificate = ca.issue(
        build_name([("CN", "GOST subscriber"), ("C", "RU")]),
        spki,
        [
            ext.basic_constraints(ca=False),
            ext.key_usage({"digital_signature", "non_repudiation"}),
            ext.subject_key_identifier(spki),
            ext.authority_key_identifier(ext.key_identifier(ca.spki)),
        ],
        serial=serial,
    )
    return certificate, spki


def _write(directory: Path, **files: str) -> None:
    for name, text in files.items():
        (directory / name.replace("_", ".")).write_text(text, encoding="ascii")


def test_rfc9215_signature_algorithm_follows_the_issuer_key(ca: GostCA) -> None:
    bits = gost.read_spki(ca.spki).key_size
    assert signature_algorithm_for(ca.spki) == f"gost2012_{bits}"
    assert algorithm_identifier(f"gost2012_{bits}") == SIGNATURE_ALGORITHM_DER[bits]


def test_rfc9215_certificate_verifies_in_openssl_and_gostcrypto(ca: GostCA, tmp_path: Path) -> None:
    leaf, _ = _leaf(ca)
    bits = gost.read_spki(ca.spki).key_size
    parsed = asn1_x509.Certificate.load(leaf)
    assert parsed["signature_algorithm"].dump() == SIGNATURE_ALGORITHM_DER[bits]
    assert parsed["tbs_certificate"]["signature"].dump() == SIGNATURE_ALGORITHM_DER[bits]
    assert len(parsed["signature_value"].native) == bits // 4
    tbs = parsed["tbs_certificate"].dump()
    assert gost_oracle.verify(ca.spki, parsed["signature_value"].native, tbs)
    _write(tmp_path, ca_pem=pem(ca.certificate, "CERTIFICATE"), leaf_pem=pem(leaf, "CERTIFICATE"))
    answer = openssl(tmp_path, "verify", "-attime", AT, "-CAfile", "ca.pem", "leaf.pem")
    assert answer.stdout.strip() == "leaf.pem: OK"


def test_rfc9215_a_certificate_signed_by_another_key_fails_openssl(
    ca: GostCA, tmp_path: Path
) -> None:
    impostor = GostCA(gost_engine.generate_private_key(256, "A"), ca.spki, ca.name, NOW, b"")
    leaf, _ = _leaf(impostor)
    _write(tmp_path, ca_pem=pem(ca.certificate, "CERTIFICATE"), leaf_pem=pem(leaf, "CERTIFICATE"))
    answer = openssl(tmp_path, "verify", "-attime", AT, "-CAfile", "ca.pem", "leaf.pem",
                     check=False)  # fmt: skip
    assert answer.returncode != 0
    assert "certificate signature failure" in answer.stdout + answer.stderr


def test_rfc5280_5_gost_crl_verifies_and_revokes_in_openssl(ca: GostCA, tmp_path: Path) -> None:
    leaf, _ = _leaf(ca, serial=0x77)
    template = crl.CRLTemplate(
        issuer_name_der=ca.name.dump(),
        authority_key_id=ext.key_identifier(ca.spki),
        crl_number=3,
        this_update=NOW,
        next_update=NOW + timedelta(days=7),
        entries=[crl.revoked_entry(0x77, NOW, reason=1)],
        signature_algorithm=signature_algorithm_for(ca.spki),
    )
    tbs = crl.build_tbs_cert_list(template)
    crl_der = crl.assemble_crl(tbs, template.signature_algorithm, ca.sign(tbs))
    assert crl.parse_crl(crl_der).entries[0x77][1] == 1
    _write(
        tmp_path,
        ca_pem=pem(ca.certificate, "CERTIFICATE"),
        leaf_pem=pem(leaf, "CERTIFICATE"),
        crl_pem=pem(crl_der, "X509 CRL"),
    )
    checked = openssl(tmp_path, "crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout")
    assert checked.stderr.strip() == "verify OK"
    revoked = openssl(tmp_path, "verify", "-attime", AT, "-crl_check", "-CRLfile", "crl.pem",
                      "-CAfile", "ca.pem", "leaf.pem", check=False)  # fmt: skip
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr


def test_rfc6960_gost_signed_response_verifies_in_openssl(ca: GostCA, tmp_path: Path) -> None:
    """The CA answers for its own certificate (RFC 6960 4.2.2.2), GOST-signed; the CertID
    hashed with Streebog-256 as a Russian client asks."""
    leaf, _ = _leaf(ca, serial=0x99)
    cert_id = ocsp.cert_id_for(ca.name.dump(), ca.spki, 0x99, "streebog256")
    single = ocsp.build_single_response(cert_id, ocsp.CertStatus.GOOD, NOW, NOW + timedelta(days=1))
    data = ocsp.build_response_data(ocsp.issuer_key_hash(ca.spki, "sha1"), NOW, [single])
    algorithm = signature_algorithm_for(ca.spki)
    response = ocsp.assemble_ocsp_response(data, algorithm, ca.sign(data))
    (tmp_path / "response.der").write_bytes(response)
    _write(tmp_path, ca_pem=pem(ca.certificate, "CERTIFICATE"), leaf_pem=pem(leaf, "CERTIFICATE"))
    answer = openssl(tmp_path, "ocsp", "-respin", "response.der", "-CAfile", "ca.pem",
                     "-issuer", "ca.pem", "-md_gost12_256", "-cert", "leaf.pem",
                     "-attime", AT, "-validity_period", str(50 * 365 * 86400),
                     check=False)  # fmt: skip
    # -attime sets the signature check's time; the status times are checked against the
    # clock, so -validity_period lets the fixed thisUpdate/nextUpdate pass
    assert "Response verify OK" in answer.stderr, answer.stderr
    assert "leaf.pem: good" in answer.stdout, answer.stdout


def test_rfc9215_a_key_on_an_unknown_parameter_set_is_neither_certified_nor_an_issuer() -> None:
    """RFC 9215's 512-bit example key is on the test parameter set, which the CA refuses."""
    unknown = certificate_spki(RFC9215_512_TEST_SET_CERTIFICATE)
    reason = "1.2.643.7.1.2.1.2.0 is not a GOST R 34.10-2012 512-bit parameter set"
    with pytest.raises(ValueError) as refused:
        signature_algorithm_for(unknown)
    assert str(refused.value) == f"issuer key not supported ({reason})"
    template = CertificateTemplate(
        serial=1,
        issuer=build_name([("CN", "CA")]),
        subject=build_name([("CN", "subject")]),
        spki_der=unknown,
        not_before=NOW,
        not_after=NOW + timedelta(days=1),
        extensions=(),
        signature_algorithm="gost2012_256",
    )
    with pytest.raises(ValueError) as refused:
        build_tbs_certificate(template)
    assert str(refused.value) == reason
