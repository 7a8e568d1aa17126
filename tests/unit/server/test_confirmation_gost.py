"""Confirmation of GOST R 34.10-2012 signatures (S10 with Streebog; reference/ru-profile.md
5.2): `openssl cms -sign` through gost-engine, with keys and requests made by openssl, over
certificates a GOST CA issued; and the GOST CA's certificates confirmed (S11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.confirmation.checker import Confirmations
from tests.gost_support import openssl, require_engine
from tests.local_ca import LocalCA, opened_local_ca

DOCUMENT = "Доверенность № 3\n".encode()
GOST_SIGNER = """
[profiles.gost-signer]
description = "document signing on GOST keys (test)"
requires_registered_subscriber = false
validity_days = 30
key_algorithms = ["gost2012-256-a", "gost2012-512-a"]
key_usage = ["digital_signature", "non_repudiation"]
subject_attributes = ["CN"]
required_attributes = ["CN"]
"""


@pytest.fixture
async def gost_ca(tmp_path: Path):
    require_engine()
    (tmp_path / "ca").mkdir()
    async with opened_local_ca(
        tmp_path / "ca", GOST_SIGNER, CA_CA__ALGORITHM='"gost2012-256-a"'
    ) as ca:
        ca.clock.now = datetime.now(UTC) - timedelta(hours=1)
        yield ca


async def gost_signature(
    ca: LocalCA, folder: Path, algorithm: str, *options: str
) -> tuple[bytes, bytes]:
    """(certificate DER, detached signature DER) of DOCUMENT by a new key of `algorithm`."""
    openssl(
        folder, "genpkey", "-algorithm", algorithm, "-pkeyopt", "paramset:A", "-out", "signer.key"
    )
    openssl(folder, "req", "-new", "-key", "signer.key", "-subj", "/CN=GOST signer",
            "-outform", "DER", "-out", "signer.csr")  # fmt: skip
    issued = await ca.authority.issue("gost-signer", (folder / "signer.csr").read_bytes(), "t")
    (folder / "signer.der").write_bytes(issued.der)
    (folder / "document.txt").write_bytes(DOCUMENT)
    openssl(folder, "x509", "-inform", "DER", "-in", "signer.der", "-out", "signer.crt")
    openssl(folder, "cms", "-sign", "-binary", "-in", "document.txt", "-signer", "signer.crt",
            "-inkey", "signer.key", "-outform", "DER", "-out", "document.p7s",
            *options)  # fmt: skip
    return issued.der, (folder / "document.p7s").read_bytes()


@pytest.mark.parametrize("algorithm", ["gost2012_256", "gost2012_512"])
async def test_rfc9215_a_gost_cms_signature_is_confirmed_and_a_changed_document_is_not(
    gost_ca: LocalCA, tmp_path: Path, algorithm: str
) -> None:
    certificate, signature = await gost_signature(gost_ca, tmp_path, algorithm, "-cades")
    gost_ca.clock.now = datetime.now(UTC) + timedelta(minutes=1)
    confirmations = Confirmations(gost_ca.registry, gost_ca.settings.ca.name, (), gost_ca.clock)
    report = await confirmations.check_signature(DOCUMENT, signature)
    assert report.verdict == "valid", report.as_dict()
    signer = report.as_dict()["signers"][0]  # type: ignore[index]
    bits = algorithm[-3:]
    assert (
        signer["digest_algorithm"] == {"256": "1.2.643.7.1.1.2.2", "512": "1.2.643.7.1.1.2.3"}[bits]
    )
    assert signer["signing_certificate_attribute"] == "match"
    changed = await confirmations.check_signature(DOCUMENT + b".", signature)
    assert [cause.code for cause in changed.causes] == ["bad_digest"]
    authentic = await confirmations.check_certificate(certificate)
    assert authentic.verdict == "valid", authentic.as_dict()


async def test_s11_a_gost_cas_own_certificate_is_authentic(gost_ca: LocalCA) -> None:
    generation = await gost_ca.registry.active_generation(gost_ca.settings.ca.name)
    assert generation is not None
    confirmations = Confirmations(gost_ca.registry, gost_ca.settings.ca.name, (), gost_ca.clock)
    report = await confirmations.check_certificate(generation.certificate_der)
    assert report.verdict == "valid", report.as_dict()
