"""The signature on confirmation reports (issue #17): the CA's confirmation certificate,
issued at first use, reused, renewed before it ends, revocable like any; the report signed
as a detached CMS SignedData that `openssl cms -verify -cades` accepts over the report's bytes
(with gost-engine for a GOST CA) and refuses over other bytes."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509

from hsm.backend import KeyAlgorithm, KeyRef
from protocols.crl import CRLReason
from server.confirmation.checker import Confirmations
from server.confirmation.report_signer import (
    CONFIRMATION_SIGNER_PROFILE,
    RENEW_BEFORE,
    ReportSigner,
)
from server.registry import CertificateStatus
from server.serials import serial_text
from tests.gost_support import openssl, pem, require_engine
from tests.lint import lint_certificate
from tests.local_ca import LocalCA, opened_local_ca

REPORT = b"%PDF-1.7\n1 0 obj << /Title (Confirmation report) >> endobj\n" + bytes(range(256))
REPORT += b"\n%%EOF\n"
ID_KP_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"  # RFC 9336 3.1
GOST_KEY_OID_NULL = "300c06082a850307010101010500"  # id-tc26-gost3410-12-256, NULL


def report_signer(ca: LocalCA) -> ReportSigner:
    """The local CA's report signer, its keys made by the local CA's backend."""

    async def new_key(label: str, algorithm: KeyAlgorithm) -> tuple[KeyRef, bytes]:
        key = ca.backend.generate_key(label, algorithm)
        return key, ca.backend.public_key_der(key)

    return ReportSigner(ca.settings, ca.registry, ca.authority, ca.signer, new_key, ca.clock)


@pytest.fixture(params=["ec-p256", "gost2012-256-a"])
async def ca(request, tmp_path: Path) -> AsyncIterator[LocalCA]:
    """The local CA, of the default EC P-256 key and of a GOST one."""
    env = {}
    if request.param.startswith("gost"):
        require_engine()
        env["CA_CA__ALGORITHM"] = f'"{request.param}"'
    (tmp_path / "ca").mkdir()
    async with opened_local_ca(tmp_path / "ca", "", **env) as opened:
        yield opened


def cms_verify(
    folder: Path, ca: LocalCA, signature: bytes, document: bytes
) -> subprocess.CompletedProcess[str]:
    """`openssl cms -verify -cades` of the detached `signature` over `document` against the
    CA certificate alone (gost-engine loaded by configuration), at the CA's time."""
    (folder / "signature.der").write_bytes(signature)
    (folder / "report.pdf").write_bytes(document)
    at = str(int((ca.clock() + timedelta(minutes=1)).timestamp()))
    return openssl(folder, "cms", "-verify", "-binary", "-inform", "DER", "-in", "signature.der",
                   "-content", "report.pdf", "-CAfile", "ca.pem", "-purpose", "any", "-cades",
                   "-attime", at, "-out", "out.bin", check=False)  # fmt: skip


async def write_ca_pem(ca: LocalCA, folder: Path) -> None:
    generation = await ca.authority.generation()
    (folder / "ca.pem").write_text(pem(generation.certificate_der, "CERTIFICATE"))


def signer_info(signature: bytes) -> tuple[asn1_cms.SignerInfo, asn1_cms.SignedData]:
    data = asn1_cms.ContentInfo.load(signature, strict=True)["content"]
    (info,) = data["signer_infos"]
    return info, data


async def confirmation_certificates(ca: LocalCA) -> list[str]:
    records = await ca.registry.search.certificates(
        None, CONFIRMATION_SIGNER_PROFILE, None, 100, None
    )
    return [record.serial for record in records]


async def test_rfc5652_5_2_a_signed_report_verifies_in_openssl_and_changed_bytes_do_not(
    ca, tmp_path
):
    await write_ca_pem(ca, tmp_path)
    signature = await report_signer(ca).sign(REPORT)
    result = cms_verify(tmp_path, ca, signature, REPORT)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    changed = REPORT.replace(b"Confirmation", b"Confirmati0n")
    refused = cms_verify(tmp_path, ca, signature, changed)
    assert refused.returncode != 0
    assert "content verify error" in refused.stderr  # the messageDigest no longer matches


async def test_rfc5652_5_the_signed_data_is_detached_with_one_cades_signer_and_the_chain(ca):
    signature = await report_signer(ca).sign(REPORT)
    info, data = signer_info(signature)
    assert data["encap_content_info"]["content"].native is None  # RFC 5652 5.2: detached
    attributes = {a["type"].native: a["values"] for a in info["signed_attrs"]}
    assert set(attributes) == {
        "content_type", "message_digest", "signing_time", "signing_certificate_v2"
    }  # fmt: skip
    assert attributes["signing_time"][0].native == ca.clock().replace(microsecond=0)
    generation = await ca.authority.generation()
    [serial] = await confirmation_certificates(ca)
    record = await ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    certificates = {c.chosen.dump() for c in data["certificates"]}
    assert certificates == {record.der, generation.certificate_der}
    assert serial_text(info["sid"].chosen["serial_number"].native) == serial
    if generation.key_algorithm.startswith("gost"):  # ru-profile.md 5.2: the key's OID
        assert info["signature_algorithm"].dump().hex() == GOST_KEY_OID_NULL


async def test_rfc9336_the_confirmation_certificate_signs_documents_and_is_recorded(ca):
    await report_signer(ca).sign(REPORT)
    generation = await ca.authority.generation()
    [serial] = await confirmation_certificates(ca)
    record = await ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    assert record.profile == CONFIRMATION_SIGNER_PROFILE
    assert record.status is CertificateStatus.GOOD
    assert record.generation_id == generation.id
    certificate = asn1_x509.Certificate.load(record.der)
    ca_subject = asn1_x509.Certificate.load(generation.certificate_der).subject.native
    assert certificate.subject.native == {
        "country_name": ca_subject["country_name"],
        "organization_name": ca_subject["organization_name"],
        "common_name": f"{ca_subject['common_name']} Confirmation Service",
    }
    assert certificate.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert certificate.extended_key_usage_value.native == [ID_KP_DOCUMENT_SIGNING]
    assert certificate.basic_constraints_value.native["ca"] is False
    assert certificate.authority_key_identifier == generation.key_id
    assert certificate.key_identifier is not None
    assert certificate.crl_distribution_points and certificate.ocsp_urls
    validity = certificate["tbs_certificate"]["validity"]
    assert validity["not_after"].native - validity["not_before"].native == timedelta(days=365)
    assert validity["not_after"].native <= generation.not_after
    stored = await ca.registry.confirmation_signer(generation.id)
    assert stored is not None and stored.serial == serial
    assert stored.key_algorithm == generation.key_algorithm
    assert lint_certificate(record.der) == []


async def test_a_second_report_is_signed_with_the_same_certificate_and_first_uses_issue_one(ca):
    signer = report_signer(ca)
    await asyncio.gather(signer.sign(REPORT), signer.sign(REPORT + b"2"))  # both first uses
    first = await confirmation_certificates(ca)
    await signer.sign(REPORT)
    assert await confirmation_certificates(ca) == first
    assert len(first) == 1


async def test_a_confirmation_certificate_ending_within_30_days_is_renewed(ca, tmp_path):
    signer = report_signer(ca)
    await signer.sign(REPORT)
    [old] = await confirmation_certificates(ca)
    ca.clock.advance(days=365 - RENEW_BEFORE.days - 1)  # 31 days left: kept
    await signer.sign(REPORT)
    assert await confirmation_certificates(ca) == [old]
    ca.clock.advance(days=2)  # 29 days left: a new one
    await write_ca_pem(ca, tmp_path)
    signature = await signer.sign(REPORT)
    [new] = set(await confirmation_certificates(ca)) - {old}
    generation = await ca.authority.generation()
    stored = await ca.registry.confirmation_signer(generation.id)
    assert stored is not None and stored.serial == new
    assert cms_verify(tmp_path, ca, signature, REPORT).returncode == 0


async def test_rfc5280_a_revoked_confirmation_certificate_is_replaced(ca):
    signer = report_signer(ca)
    await signer.sign(REPORT)
    [old] = await confirmation_certificates(ca)
    revoked = await ca.revocation.revoke(old, CRLReason.keyCompromise, "t")
    assert revoked.status is CertificateStatus.REVOKED
    signature = await signer.sign(REPORT)
    [new] = set(await confirmation_certificates(ca)) - {old}
    info, _ = signer_info(signature)
    assert serial_text(info["sid"].chosen["serial_number"].native) == new


async def test_s10_a_signed_report_is_confirmed_by_the_confirmation_service(ca: LocalCA) -> None:
    """The report's signature is one the CA's own confirmation service confirms (issue #17:
    "so the report itself can be verified by the same service"), and not over other bytes."""
    signature = await report_signer(ca).sign(REPORT)
    ca.clock.advance(minutes=1)
    confirmations = Confirmations(ca.registry, ca.settings.ca.name, (), ca.clock)
    report = await confirmations.check_signature(REPORT, signature)
    assert report.verdict == "valid", report.as_dict()
    signer = report.as_dict()["signers"][0]  # type: ignore[index]
    assert signer["status_at_signing"]["profile"] == CONFIRMATION_SIGNER_PROFILE
    assert signer["signing_certificate_attribute"] == "match"
    other = await confirmations.check_signature(REPORT + b" ", signature)
    assert [cause.code for cause in other.causes] == ["bad_digest"]
