"""The rollover of a CA under a parent outside through the command line (regulation K2,
K3; issue 15, "for a subordinate, a new CSR to the parent"): `init --csr`, the parent's
answer imported, a certificate issued; `rollover --csr` writes the request for the next
key, the parent certifies it, `import-ca-cert` makes it generation 2, a certificate issued
under it; each generation's certificates verify with `openssl verify -crl_check` up to the
parent's root against their own generation's CRL, signed by that generation's key
(RFC 5280 6.3). The refusals are checked by their exact text, with nothing changed. The
parent is made with `cryptography` (tests/subordinate_ca.py)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from config import load_settings
from server.cli.main import main
from server.context import open_registry
from server.registry import CAGeneration
from tests.lint import lint_crl
from tests.subordinate_ca import Parent, new_intermediate, new_root, pem
from tests.unit.server.test_cli_import_ca import import_ca, registry_url
from tests.unit.server.test_cli_subordinate import _rows

NOW = datetime.now(UTC)
SUBJECT = "CN=Sub CA,O=Test,C=RU"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def signed_by(parent: Parent, csr_path: Path) -> x509.Certificate:
    request = x509.load_pem_x509_csr(csr_path.read_bytes())
    public_key = request.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    return parent.sign(request.subject, public_key)


def leaf(home: Path, folder: Path, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    """A tls-server certificate issued by the CA's issuing generation, PEM."""
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", folder / f"{name}.key",
                    "-out", folder / f"{name}.csr", "-subj", f"/CN={name}.example",
                    "-addext", f"subjectAltName=DNS:{name}.example"],
                   check=True, capture_output=True)  # fmt: skip
    code, out, err = run(capsys, "issue", "--home", str(home), "--profile", "tls-server",
                         "--csr", str(folder / f"{name}.csr"))  # fmt: skip
    assert code == 0, err
    (folder / f"{name}.pem").write_text(out)
    return folder / f"{name}.pem"


def crl_of(home: Path, folder: Path, generation: int, capsys: pytest.CaptureFixture[str]) -> Path:
    der = folder / f"g{generation}.crl"
    code, _, err = run(capsys, "crl", "--home", str(home), "--generation", str(generation),
                       "--out", str(der))  # fmt: skip
    assert code == 0, err
    converted = folder / f"g{generation}.crl.pem"
    subprocess.run(["openssl", "crl", "-inform", "DER", "-in", der, "-out", converted],
                   check=True, capture_output=True)  # fmt: skip
    return converted


def openssl_verify(root: Path, untrusted: Path, crl: Path, certificate: Path) -> str:
    done = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", root, "-untrusted",
                           untrusted, "-CRLfile", crl, certificate],
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout if done.returncode == 0 else f"failed: {done.stdout}{done.stderr}"


async def generations(home: Path) -> list[CAGeneration]:
    registry = await open_registry(load_settings(home))
    try:
        return await registry.generations("demo")
    finally:
        await registry.close()


def key_files(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "keys").iterdir())


def test_k2_k3_rfc5280_6_3_a_subordinate_rolls_over_through_the_cli_and_both_generations_verify(
    empty_registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On both registry engines (the request and the import are the registry's)."""
    home, folder = tmp_path / "ca", tmp_path
    root = new_root(NOW)
    intermediate = new_intermediate(root)
    code, _, err = run(capsys, "init", "--home", str(home), "--subject", SUBJECT,
                       "--csr", str(folder / "g1.csr"), "--registry-url",
                       empty_registry)  # fmt: skip
    assert code == 0, err
    first = signed_by(intermediate, folder / "g1.csr")
    assert import_ca(home, pem(first), pem(intermediate.certificate, root.certificate)) == 0
    capsys.readouterr()
    leaf1 = leaf(home, folder, "one", capsys)

    # the self-signed rollover is refused before anything is made
    keys, rows = key_files(home), asyncio.run(_rows(empty_registry))
    assert run(capsys, "rollover", "--home", str(home)) == (1, "", (
        "error: generation 1 was certified by a parent CA outside: its rollover is a new key "
        "and a request to the parent (rollover --csr FILE, then import-ca-cert), not a "
        "self-signed certificate; nothing was made\n"))  # fmt: skip
    assert (key_files(home), asyncio.run(_rows(empty_registry))) == (keys, rows)

    code, out, err = run(capsys, "rollover", "--home", str(home), "--csr",
                         str(folder / "g2.csr"), "--reason", "key usage ends")  # fmt: skip
    assert code == 0, err
    assert re.fullmatch(
        r"CA 'demo': request 1 for the next generation made, key \S+ \(ec-p256\)\n"
        rf"  certification request written to {re.escape(str(folder / 'g2.csr'))}: the parent "
        r"CA is to certify it, then import-ca-cert --cert FILE --chain FILE\n"
        r"  the current generation goes on issuing until then\n",
        out,
    ), out
    assert len(key_files(home)) == len(keys) + 1
    request = x509.load_pem_x509_csr((folder / "g2.csr").read_bytes())
    assert request.is_signature_valid and request.subject == first.subject

    # written again, the same request: no second key
    code, out, _ = run(capsys, "rollover", "--home", str(home), "--csr", str(folder / "again.csr"))
    assert code == 0
    assert out.startswith("CA 'demo': request 1 for the next generation, pending since ")
    assert out.endswith(f" UTC, written again to {folder / 'again.csr'} (no new key made)\n")
    assert (folder / "again.csr").read_bytes() == (folder / "g2.csr").read_bytes()
    assert len(key_files(home)) == len(keys) + 1

    second = signed_by(intermediate, folder / "g2.csr")
    (folder / "cert.pem").write_bytes(pem(second))
    (folder / "chain.pem").write_bytes(pem(intermediate.certificate, root.certificate))
    code, out, err = run(capsys, "import-ca-cert", "--home", str(home), "--cert",
                         str(folder / "cert.pem"), "--chain",
                         str(folder / "chain.pem"))  # fmt: skip
    assert code == 0, err
    assert out.startswith(
        "CA 'demo' rolled over from generation 1 to 2: the parent's certificate for request 1 "
        f"imported\n  CA certificate serial {second.serial_number:x}, key id "
    )
    assert out.endswith("generation 1 keeps its CRLs and OCSP until its certificates expire\n")
    recorded = asyncio.run(generations(home))
    assert [(g.id, g.state) for g in recorded] == [(1, "active"), (2, "active")]
    leaf2 = leaf(home, folder, "two", capsys)
    issued = x509.load_pem_x509_certificate(leaf2.read_bytes())
    assert issued.issuer == second.subject
    issued.verify_directly_issued_by(second)

    (folder / "root.pem").write_bytes(pem(root.certificate))
    crls = {n: crl_of(home, folder, n, capsys) for n in (1, 2)}
    for generation, ca_certificate in ((1, first), (2, second)):
        crl = x509.load_pem_x509_crl(crls[generation].read_bytes())
        other = second if generation == 1 else first
        own_key, other_key = ca_certificate.public_key(), other.public_key()
        assert isinstance(own_key, ec.EllipticCurvePublicKey)
        assert isinstance(other_key, ec.EllipticCurvePublicKey)
        assert crl.is_signature_valid(own_key)
        assert not crl.is_signature_valid(other_key)
        assert lint_crl(crl.public_bytes(Encoding.DER)) == []
    for generation, ca_certificate, certificate in ((1, first, leaf1), (2, second, leaf2)):
        untrusted = folder / f"untrusted{generation}.pem"
        untrusted.write_bytes(pem(ca_certificate, intermediate.certificate))
        assert openssl_verify(folder / "root.pem", untrusted, crls[generation],
                              certificate) == f"{certificate}: OK\n"  # fmt: skip
        wrong = crls[3 - generation]  # the other generation's CRL is not this one's
        assert "unable to get certificate CRL" in openssl_verify(
            folder / "root.pem", untrusted, wrong, certificate
        )


def test_k2_rollover_csr_is_refused_for_a_self_signed_ca_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "ca"
    assert run(capsys, "init", "--home", str(home))[0] == 0
    keys, rows = key_files(home), asyncio.run(_rows(registry_url(home)))
    assert run(capsys, "rollover", "--home", str(home), "--csr", str(tmp_path / "x.csr")) == (
        1, "", "error: generation 1 of CA 'demo' is self-signed: it rolls over to a new "
        "self-signed certificate with link certificates (rollover without --csr), not by a "
        "request to a parent; nothing was made\n")  # fmt: skip
    assert (key_files(home), asyncio.run(_rows(registry_url(home)))) == (keys, rows)
    assert not (tmp_path / "x.csr").exists()


def test_k2_rollover_abandon_gives_up_the_pending_request_and_destroys_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, folder = tmp_path / "ca", tmp_path
    root = new_root(NOW)
    assert run(capsys, "init", "--home", str(home), "--csr", str(folder / "g1.csr"))[0] == 0
    assert import_ca(home, pem(signed_by(root, folder / "g1.csr")), pem(root.certificate)) == 0
    capsys.readouterr()
    keys = key_files(home)
    assert run(capsys, "rollover", "--home", str(home), "--csr", str(folder / "g2.csr"))[0] == 0
    assert run(capsys, "rollover", "--home", str(home), "--abandon") == (
        0,
        "CA 'demo': request 1 for the next generation abandoned, its key destroyed\n",
        "",
    )
    assert key_files(home) == keys
    rows = asyncio.run(_rows(registry_url(home)))
    assert run(capsys, "rollover", "--home", str(home), "--abandon") == (
        1, "", "error: CA 'demo' has no pending request for a new generation (rollover --csr "
        "FILE makes one); nothing was changed\n")  # fmt: skip
    assert asyncio.run(_rows(registry_url(home))) == rows
    code, out, _ = run(capsys, "rollover", "--home", str(home), "--csr", str(folder / "g3.csr"))
    assert code == 0 and out.startswith("CA 'demo': request 2 for the next generation made")
