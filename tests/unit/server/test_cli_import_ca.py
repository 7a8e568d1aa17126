"""`import-ca-cert` (issue 15, Hierarchy, second bullet; plan15 Step 8; RFC 5280 6.1): a
parent CA outside, made here with `cryptography` (a self-signed root and an intermediate),
certifies the request `init --csr` wrote; the import records it with the parent's chain,
and the home issues certificates that OpenSSL verifies up to the parent's root. A
certificate that does not certify the pending key as a CA, or does not chain up to a root,
is refused with its reason and nothing changes."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from config import load_settings
from server.cli.main import main
from server.cli.subordinate import PENDING
from server.context import open_registry
from server.registry import CAGeneration, Registry
from tests.lint import lint_certificate
from tests.subordinate_ca import Parent, head_name, new_intermediate, new_root, pem
from tests.unit.server.test_cli_subordinate import _rows

NOW = datetime.now(UTC)


@dataclass
class Waiting:
    home: Path
    request: x509.CertificateSigningRequest


@pytest.fixture
def waiting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Waiting:
    home = tmp_path / "ca"
    csr = tmp_path / "ca.csr"
    assert main(["init", "--home", str(home), "--subject", "CN=Sub CA,O=Test,C=RU",
                 "--csr", str(csr)]) == 0  # fmt: skip
    capsys.readouterr()
    return Waiting(home, x509.load_pem_x509_csr(csr.read_bytes()))


def import_ca(home: Path, certificate: bytes, chain: bytes) -> int:
    (home.parent / "cert.pem").write_bytes(certificate)
    (home.parent / "chain.pem").write_bytes(chain)
    return main(["import-ca-cert", "--home", str(home), "--cert", str(home.parent / "cert.pem"),
                 "--chain", str(home.parent / "chain.pem")])  # fmt: skip


def registry_url(home: Path) -> str:
    return f"sqlite:///{home / 'registry.sqlite3'}"


def test_hierarchy_import_then_issued_certificates_verify_up_to_the_parent_root(
    waiting: Waiting, capsys: pytest.CaptureFixture[str]
) -> None:
    root = new_root(NOW)
    intermediate = new_intermediate(root)
    ca_certificate = intermediate.sign(waiting.request.subject, waiting.request.public_key())
    # the chain in any order, as a parent may hand it over
    assert import_ca(waiting.home, pem(ca_certificate), pem(root.certificate,
                     intermediate.certificate)) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith(f"CA 'demo' initialised in {waiting.home}\n")
    assert f"CA certificate serial {ca_certificate.serial_number:x}," in out
    assert not (waiting.home / PENDING).exists()

    async def recorded() -> CAGeneration | None:
        registry = await open_registry(load_settings(waiting.home))
        try:
            return await registry.active_generation("demo")
        finally:
            await registry.close()

    generation = asyncio.run(recorded())
    assert generation is not None
    assert generation.certificate_der == ca_certificate.public_bytes(Encoding.DER)
    assert generation.parent_chain == tuple(
        c.public_bytes(Encoding.DER) for c in (intermediate.certificate, root.certificate)
    )

    folder = waiting.home.parent
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", folder / "leaf.key",
                    "-out", folder / "leaf.csr", "-subj", "/CN=leaf.example",
                    "-addext", "subjectAltName=DNS:leaf.example"],
                   check=True, capture_output=True)  # fmt: skip
    assert main(["issue", "--home", str(waiting.home), "--profile", "tls-server",
                 "--csr", str(folder / "leaf.csr")]) == 0  # fmt: skip
    (folder / "leaf.pem").write_text(capsys.readouterr().out)
    (folder / "root.pem").write_bytes(pem(root.certificate))
    (folder / "untrusted.pem").write_bytes(pem(ca_certificate, intermediate.certificate))
    verified = subprocess.run(["openssl", "verify", "-CAfile", folder / "root.pem", "-untrusted",
                               folder / "untrusted.pem", folder / "leaf.pem"],
                              capture_output=True, text=True)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    leaf = x509.load_pem_x509_certificate((folder / "leaf.pem").read_bytes())
    assert leaf.issuer == ca_certificate.subject
    assert lint_certificate(leaf.public_bytes(Encoding.DER)) == []


def _refusal_cases() -> list[tuple[str, str]]:
    return [
        ("another key", "the certificate does not certify this CA's pending key"),
        ("not a CA", "the certificate is not a CA certificate (basicConstraints cA)"),
        ("no keyCertSign",
         "the certificate does not allow certificate signing (keyUsage keyCertSign)"),
        ("signed by another key",
         "the signature of 'CN=Sub CA,O=Test,C=RU' does not verify under its issuer's key"),
        ("no root", "the chain does not hold the issuer 'CN=Head Root,O=Head,C=RU' of "
         "'CN=Head Issuing,O=Head,C=RU'"),
        ("expired", "'CN=Head Issuing,O=Head,C=RU' is not valid now (valid from "),
    ]  # fmt: skip


@pytest.mark.parametrize(("case", "error"), _refusal_cases(), ids=[c for c, _ in _refusal_cases()])
def test_hierarchy_import_refusals_change_nothing(
    waiting: Waiting, capsys: pytest.CaptureFixture[str], case: str, error: str
) -> None:
    root = new_root(NOW)
    intermediate = new_intermediate(root)
    subject, key = waiting.request.subject, waiting.request.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    chain = [root.certificate, intermediate.certificate]
    if case == "another key":
        certificate = intermediate.sign(
            subject, ec.generate_private_key(ec.SECP256R1()).public_key()
        )
    elif case == "not a CA":
        certificate = intermediate.sign(subject, key, ca=False)
    elif case == "no keyCertSign":
        certificate = intermediate.sign(subject, key, cert_sign=False)
    elif case == "signed by another key":
        certificate = new_intermediate(root).sign(subject, key)  # same issuer name
    elif case == "no root":
        certificate = intermediate.sign(subject, key)
        chain = [intermediate.certificate]
    else:
        public_key = intermediate.key.public_key()
        lapsed = root.sign(
            head_name("Head Issuing"), public_key, not_after=NOW - timedelta(hours=1)
        )
        expired = Parent(intermediate.key, lapsed, NOW)
        certificate = expired.sign(subject, key)
        chain = [root.certificate, expired.certificate]
    before = sorted(p.name for p in waiting.home.iterdir())
    assert import_ca(waiting.home, pem(certificate), pem(*chain)) == 1
    assert capsys.readouterr().err.startswith(f"error: {error}")
    assert sorted(p.name for p in waiting.home.iterdir()) == before
    assert (waiting.home / PENDING).exists()
    assert asyncio.run(_rows(registry_url(waiting.home))) == {}


def test_hierarchy_import_twice_is_refused(
    waiting: Waiting, capsys: pytest.CaptureFixture[str]
) -> None:
    root = new_root(NOW)
    certificate = pem(root.sign(waiting.request.subject, waiting.request.public_key()))
    assert import_ca(waiting.home, certificate, pem(root.certificate)) == 0
    capsys.readouterr()
    rows = asyncio.run(_rows(registry_url(waiting.home)))
    assert import_ca(waiting.home, certificate, pem(root.certificate)) == 1
    assert capsys.readouterr().err == (  # taken for the answer to a rollover's request
        "error: CA 'demo' has no pending request for a new generation (rollover --csr FILE "
        "makes one); nothing was changed\n"
    )
    assert asyncio.run(_rows(registry_url(waiting.home))) == rows


def test_hierarchy_import_records_the_chain_on_either_engine(
    empty_registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chain's table (migration 0022) on SQLite and PostgreSQL, copied from the
    import's scratch registry as init's rows are."""
    home, csr = tmp_path / "ca", tmp_path / "ca.csr"
    assert main(["init", "--home", str(home), "--csr", str(csr),
                 "--registry-url", empty_registry]) == 0  # fmt: skip
    request = x509.load_pem_x509_csr(csr.read_bytes())
    root = new_root(NOW)
    assert import_ca(home, pem(root.sign(request.subject, request.public_key())),
                     pem(root.certificate)) == 0  # fmt: skip
    capsys.readouterr()

    async def chain() -> tuple[bytes, ...]:
        registry = await Registry.open_url(empty_registry, pool_size=1)
        try:
            generation = await registry.active_generation("demo")
            assert generation is not None
            return generation.parent_chain
        finally:
            await registry.close()

    assert asyncio.run(chain()) == (root.certificate.public_bytes(Encoding.DER),)
