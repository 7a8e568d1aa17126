"""`python -m server confirm` (S10, S11) on signatures made by third-party signers: Bouncy
Castle's CMS API (CMSSignedDataGenerator, tests/integration/java/CMSSigner.java) and
`openssl cms -sign`, over certificates `python -m server issue` made; and a confirmation
case (V3) through the running server with curl, as the README walks through it."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.csr_factory import make_csr, new_key
from tests.document_signing import DOCUMENT_SIGNER_PROFILE
from tests.integration.bouncycastle import compile_clients, run_client
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess

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


def curl(*args: str | Path) -> bytes:
    done = subprocess.run(["curl", "-sS", "--fail-with-body", *map(str, args)],
                          capture_output=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def test_v3_the_readmes_case_walk_through_with_curl(home: CAHome, tmp_path: Path) -> None:
    """A case as the README runs it against the running server: an operator registers it
    with curl -F, an officer assigns it, the expert answers; the report's PDF and its
    signature by the CA's confirmation certificate are fetched and `confirm` says valid."""
    signer = Signer(tmp_path, home, "ec-p256")
    document = tmp_path / "contract.txt"
    document.write_bytes(DOCUMENT)
    signature = tmp_path / "contract.p7s"
    made = openssl("cms", "-sign", "-binary", "-in", document, "-signer", signer.cert,
                   "-inkey", signer.key, "-outform", "DER", "-out", signature)  # fmt: skip
    assert made.returncode == 0, made.stderr
    tokens = {}
    for name, role in (("olga", "operator"), ("oleg", "officer"), ("anna", "expert")):
        tokens[role] = home.cli("account-add", "--name", name, "--role", role).stdout.split()[1]
    server = ServerProcess(home)
    try:
        url = f"{server.url}/api/v1/confirmations"
        auth = ["-H", f"Authorization: Bearer {tokens['operator']}"]
        case = json.loads(curl(*auth, "-F", "submitter=ООО Ромашка, вх. № 17",
                               "-F", "questions=Действительна ли подпись?",
                               "-F", f"document=@{document}", "-F", f"signature=@{signature}",
                               url))  # fmt: skip
        assert (case["check"]["verdict"], case["case"]["state"]) == ("valid", "registered"), case
        case_url = f"{url}/{case['case']['id']}"
        as_json = ["-H", "Content-Type: application/json"]
        curl("-H", f"Authorization: Bearer {tokens['officer']}", *as_json,
             "-d", '{"expert": "anna"}', f"{case_url}/assign")  # fmt: skip
        now = datetime.now(UTC)
        findings = {"place": "Москва, удостоверяющий центр", "grounds": "обращение вх. № 17",
                    "started_at": (now - timedelta(hours=2)).isoformat(),
                    "finished_at": (now - timedelta(minutes=1)).isoformat(),
                    "expert_name": "Анна Экспертова", "expert_position": "эксперт",
                    "methods": "проверка по RFC 5652", "findings": "подпись верна",
                    "conclusion": "подпись действительна"}  # fmt: skip
        curl("-H", f"Authorization: Bearer {tokens['expert']}", *as_json,
             "-d", json.dumps(findings), f"{case_url}/report")  # fmt: skip
        report, report_signature = tmp_path / "report.pdf", tmp_path / "report.pdf.p7s"
        curl(*auth, "-o", report, f"{case_url}/report.pdf")
        curl(*auth, "-o", report_signature, f"{case_url}/report.p7s")
    finally:
        server.stop()
    code, confirmed = confirm(home, "--signature", report_signature, "--document", report)
    assert (code, confirmed["verdict"]) == (0, "valid"), confirmed
    assert confirmed["signers"][0]["status_at_signing"]["profile"] == "confirmation-signer"
