"""`init --csr FILE` (issue 15, Hierarchy, second bullet; plan15 Step 8): an issuing CA
under a parent outside makes its CA key and writes its PKCS#10 request, and the home waits
for the parent's certificate: the registry holds no row yet, and `serve` refuses to start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from server.cli.main import main
from server.cli.subordinate import PENDING
from server.registry import Registry
from server.registry.registry_copy import row_counts

SUBJECT = "CN=Sub CA,O=Test,C=RU"


async def _rows(url: str) -> dict[str, int]:
    registry = await Registry.open_url(url, pool_size=1)
    try:
        return {table: count for table, count in (await row_counts(registry)).items() if count}
    finally:
        await registry.close()


def test_hierarchy_init_csr_writes_the_request_and_leaves_the_home_waiting(
    empty_registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, csr_path = tmp_path / "ca", tmp_path / "sub-ca.csr"
    command = ["init", "--home", str(home), "--subject", SUBJECT, "--csr", str(csr_path),
               "--registry-url", empty_registry]  # fmt: skip
    assert main(command) == 0
    assert capsys.readouterr().out == (
        f"CA 'demo' key made in {home}, waiting for its certificate\n"
        f"  certification request written to {csr_path}: the parent CA is to certify it, "
        "then import-ca-cert\n"
        "  key backend soft, algorithm ec-p256\n"
    )
    request = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == SUBJECT
    pending = json.loads((home / PENDING).read_text())
    assert pending["algorithm"] == "ec-p256"
    key_file = Path(pending["key_uri"].removeprefix("file:"))
    assert key_file.parent == home / "keys"
    pin = (home / "pin.txt").read_text().strip().encode()
    key = load_pem_private_key(key_file.read_bytes(), pin)
    spki = PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(Encoding.DER, spki) == request.public_key().public_bytes(
        Encoding.DER, spki
    )
    assert asyncio.run(_rows(empty_registry)) == {}  # no generation before the import


def test_hierarchy_serve_refuses_to_start_while_the_home_waits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home), "--csr", str(tmp_path / "ca.csr")]) == 0
    capsys.readouterr()
    assert main(["serve", "--home", str(home)]) == 1
    assert capsys.readouterr().err == (
        f"error: {home} waits for its CA certificate from the parent CA (init --csr): "
        "import it first (import-ca-cert)\n"
    )


def test_a_failed_init_csr_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, csr_path = tmp_path / "ca", tmp_path / "ca.csr"
    command = [
        "init",
        "--home",
        str(home),
        "--subject",
        "CN=Sub CA,XX=what",
        "--csr",
        str(csr_path),
    ]
    assert main(command) == 1
    assert capsys.readouterr().err.startswith("error: ca.subject: ")
    assert not home.exists()
    assert not csr_path.exists()
