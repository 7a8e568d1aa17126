"""Signature timestamps (RFC 3161 Appendix A) in confirmation: a token `openssl ts -reply`
makes over a SignerInfo's signature value, by a TSA whose certificate this CA issued, is put
among the unsigned attributes of an `openssl cms -sign` signature; its genTime is then the
time of signing. A token over other data, or by a TSA revoked before genTime, is refused."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms

from protocols.crl import CRLReason
from server.confirmation.report import ConfirmationReport
from tests.document_signing import DOCUMENT_SIGNER_PROFILE
from tests.local_ca import LocalCA, opened_local_ca
from tests.unit.server.test_confirmation import DOCUMENT, Holder, confirmations, holder, later

TSA_PROFILE = """
[profiles.tsa]
description = "time-stamping authority (test)"
requires_registered_subscriber = false
validity_days = 30
key_algorithms = ["ec-p256"]
key_usage = ["digital_signature", "non_repudiation"]
extended_key_usage = ["time_stamping"]
subject_attributes = ["CN"]
required_attributes = ["CN"]
"""
TS_CONFIG = """
[tsa]
default_tsa = test_tsa
[test_tsa]
serial = {serial}
crypto_device = builtin
default_policy = 1.2.3.4.1
digests = sha256
ess_cert_id_alg = sha256
signer_digest = sha256
"""


@pytest.fixture
async def ca(tmp_path: Path):
    async with opened_local_ca(tmp_path, DOCUMENT_SIGNER_PROFILE + TSA_PROFILE) as local_ca:
        local_ca.clock.now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        yield local_ca


def stamped(signature: bytes, tsa: Holder, stamped_value: bytes | None = None) -> bytes:
    """`signature` with a signatureTimeStampToken by `tsa` over its signature value (or over
    `stamped_value`)."""
    info = cms.ContentInfo.load(signature)
    signer_info = info["content"]["signer_infos"][0]
    folder = tsa.folder
    (folder / "value.bin").write_bytes(stamped_value or signer_info["signature"].native)
    (folder / "ts.cnf").write_text(TS_CONFIG.format(serial=folder / "tsa.serial"))
    for args in (
        ["ts", "-query", "-data", "value.bin", "-sha256", "-cert", "-out", "query.tsq"],
        ["ts", "-reply", "-config", "ts.cnf", "-queryfile", "query.tsq", "-signer",
         str(tsa.cert_file), "-inkey", str(tsa.key_file), "-token_out", "-out", "token.der"],
    ):  # fmt: skip
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=30)
    token = cms.ContentInfo.load((folder / "token.der").read_bytes())
    attribute = cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]})
    signer_info["unsigned_attrs"] = cms.CMSAttributes([attribute])
    return info.dump()


def codes(report: ConfirmationReport) -> list[str]:
    return [cause.code for cause in report.causes]


async def test_rfc3161_appendix_a_a_signature_timestamp_gives_the_time_of_signing(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    tsa = await holder(ca, tmp_path, "tsa")
    signature = stamped(signer.sign(), tsa)
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert report.verdict == "valid", report.as_dict()
    facts = report.as_dict()["signers"][0]  # type: ignore[index]
    assert facts["time_source"] == "signature timestamp"
    assert facts["time_checked"] == facts["timestamp"]["time"]
    assert facts["timestamp"]["tsa_serial"] == tsa.serial
    assert facts["timestamp"]["tsa_status"]["status"] == "good"


async def test_rfc3161_2_4_2_a_timestamp_of_other_data_is_bad_timestamp(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    tsa = await holder(ca, tmp_path, "tsa")
    signature = stamped(signer.sign(), tsa, b"another signature value")
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["bad_timestamp"])
    assert report.as_dict()["signers"][0]["time_source"] == "signingTime"  # type: ignore[index]


async def test_rfc3161_a_tsa_revoked_before_gentime_is_bad_timestamp(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    tsa = await holder(ca, tmp_path, "tsa")
    ca.clock.advance(minutes=30)
    await ca.revocation.revoke(tsa.serial, CRLReason.keyCompromise, "t")
    signature = stamped(signer.sign(), tsa)
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["bad_timestamp"])


async def test_rfc3161_revoked_after_the_timestamp_the_signature_stays_valid(
    ca: LocalCA, tmp_path: Path
) -> None:
    """The timestamp proves the signature older than the revocation, which the signer's own
    signingTime could not (tests/unit/server/test_confirmation.py)."""
    signer = await holder(ca, tmp_path)
    tsa = await holder(ca, tmp_path, "tsa")
    signature = stamped(signer.sign(), tsa)
    ca.clock.now = datetime.now(UTC) + timedelta(hours=1)
    await ca.revocation.revoke(signer.serial, CRLReason.superseded, "t")
    ca.clock.advance(minutes=1)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert report.verdict == "valid", report.as_dict()
    facts = report.as_dict()["signers"][0]  # type: ignore[index]
    assert facts["time_source"] == "signature timestamp"
    assert (facts["status_at_signing"]["status"], facts["status_now"]["status"]) == (
        "good", "revoked")  # fmt: skip
