"""`python -m server confirm` (S10, S11) on signatures made by third-party signers: Bouncy
Castle's CMS API (CMSSignedDataGenerator, tests/integration/java/CMSSigner.java) and
`openssl cms -sign`, over certificates `python -m server issue` made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.csr_factory import make_csr, new_key
from tests.document_signing import DOCUMENT_SIGNER_PROFILE
from tests.integration.bouncycastle import compile_clients, run_client
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome

DOCUMENT = "Акт приёма-передачи № 5\n".encode()


class Signer:
    def __init__(self, folder: Path, home: CAHome, key_kind: str) -> None:
        key = new_key(key_kind)
        self.key = folder / f"{key_kind}.key"
        self.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
        csr = folder / f"{key_kind}.csr"
        csr.write_bytes(make_csr([("CN", f"signer {key_kind}")], key))
        self.cert = folder / f"{key_kind}.crt"
        self.cert.write_text(home.cli("issue", "--profile", "document-signer", "--csr", csr).stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> CAHome:
    home = CAHome(tmp_path_factory.mktemp("confirm") / "ca")
    run_cli("init", "--home", home.path, "--subject", "CN=Confirming CA,O=Test,C=RU")
    with (home.path / "settings.toml").open("a", encoding="utf-8") as settings:
        settings.write(DOCUMENT_SIGNER_PROFILE)
    return home


@pytest.fixture(scope="module")
def classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    return compile_clients(tmp_path_factory.mktemp("java"))


def confirm(home: CAHome, *args: str | Path) -> tuple[int, dict]:
    result = home.cli("confirm", *args, check=False)
    assert result.returncode in (0, 3, 4), result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("key_kind", ["ec-p256", "rsa-2048"])
@pytest.mark.parametrize("mode", ["detached", "attached"])
def test_rfc5652_5_6_bouncy_castle_signatures_are_confirmed(
    home: CAHome, classpath: str, tmp_path: Path, key_kind: str, mode: str
) -> None:
    signer = Signer(tmp_path, home, key_kind)
    document = tmp_path / "document.txt"
    document.write_bytes(DOCUMENT)
    signature = tmp_path / "document.p7s"
    made = run_client(classpath, "CMSSigner", signer.key, signer.cert, document, signature, mode)
    assert made.returncode == 0, made.stderr
    with_document = ("--document", document) if mode == "detached" else ()
    code, report = confirm(home, "--signature", signature, *with_document)
    assert (code, report["verdict"], report["causes"]) == (0, "valid", []), report
    assert report["signers"][0]["signed_attributes"] is True
    if mode == "detached":
        document.write_bytes(DOCUMENT.replace(b"5", b"6"))
        code, report = confirm(home, "--signature", signature, "--document", document)
        assert (code, [c["code"] for c in report["causes"]]) == (3, ["bad_digest"])


def test_s10_an_openssl_cades_signature_and_the_signers_certificate_are_confirmed(
    home: CAHome, tmp_path: Path
) -> None:
    signer = Signer(tmp_path, home, "ec-p256")
    document = tmp_path / "document.txt"
    document.write_bytes(DOCUMENT)
    signature = tmp_path / "document.p7s"
    made = openssl("cms", "-sign", "-binary", "-cades", "-in", document, "-signer", signer.cert,
                   "-inkey", signer.key, "-outform", "PEM", "-out", signature)  # fmt: skip
    assert made.returncode == 0, made.stderr
    code, report = confirm(home, "--signature", signature, "--document", document)
    assert (code, report["verdict"]) == (0, "valid"), report
    assert report["signers"][0]["signing_certificate_attribute"] == "match"
    code, report = confirm(home, "--certificate", signer.cert)
    assert (code, report["verdict"], report["kind"]) == (0, "valid", "certificate"), report
    assert report["issued_by"]["source"] == "this CA, generation 1"


def test_s10_a_file_that_is_not_a_signature_is_invalid_with_its_cause(
    home: CAHome, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.p7s"
    junk.write_bytes(b"\x30\x03\x02\x01\x00")
    code, report = confirm(home, "--signature", junk)
    assert (code, [c["code"] for c in report["causes"]]) == (3, ["not_signed_data"])
