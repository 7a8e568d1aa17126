"""A root CA and an issuing CA in one home, the root's key offline (issue 15, Hierarchy,
first bullet; server/hierarchy/offline_root.py, `init --hierarchy root+issuing`, `root`):
the root has a key and PIN of its own that the server never opens; it certifies the
issuing CA (RFC 5280 4.2.1.9 pathLenConstraint 0, 4.2.1.13 and 4.2.2.1 pointing at the
root's CRL and certificate, which the server publishes) and signs its CRLs by command.
OpenSSL verifies an issued certificate up to the root with both CRLs; pkilint checks what
the root signed; every refusal is exact and changes nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import load_settings
from server.cli.main import main
from server.context import open_ca, open_registry
from server.errors import CAError, ErrorKind
from server.generations.subordinate_rollover import NextRequest
from server.node.key_lifetime import rollover_due
from server.registry import CAGeneration, Registry
from server.web.app import build_app
from tests.lint import lint_certificate, lint_crl
from tests.unit.server.test_cli_subordinate import _rows


@dataclass
class Hierarchy:
    home: Path
    root: x509.Certificate
    issuing: x509.Certificate

    @property
    def folder(self) -> Path:
        return self.home.parent


def _generation(home: Path) -> CAGeneration:
    async def read() -> CAGeneration:
        registry = await open_registry(load_settings(home))
        try:
            generation = await registry.active_generation("demo")
            assert generation is not None
            return generation
        finally:
            await registry.close()

    return asyncio.run(read())


@pytest.fixture(autouse=True)
def _no_root_pin_in_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CA_ROOT_PIN", raising=False)
    yield


@pytest.fixture
def hierarchy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Hierarchy:
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home), "--hierarchy", "root+issuing",
                 "--root-subject", "CN=Test Root,O=Test,C=RU"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "  under root CA 'demo-root' (CN=Test Root,O=Test,C=RU), key in " in out
    generation = _generation(home)
    (root_der,) = generation.parent_chain
    return Hierarchy(
        home,
        x509.load_der_x509_certificate(root_der),
        x509.load_der_x509_certificate(generation.certificate_der),
    )


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


def _root_crl(home: Path) -> x509.CertificateRevocationList:
    async def read() -> bytes:
        registry = await open_registry(load_settings(home))
        try:
            crl = await registry.roots.latest_crl("demo-root")
            assert crl is not None
            return crl.der
        finally:
            await registry.close()

    return x509.load_der_x509_crl(asyncio.run(read()))


def _issue_leaf(hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]) -> Path:
    folder = hierarchy.folder
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", folder / "leaf.key",
                    "-out", folder / "leaf.csr", "-subj", "/CN=leaf.example",
                    "-addext", "subjectAltName=DNS:leaf.example"],
                   check=True, capture_output=True)  # fmt: skip
    assert main(["issue", "--home", str(hierarchy.home), "--profile", "tls-server",
                 "--csr", str(folder / "leaf.csr")]) == 0  # fmt: skip
    (folder / "leaf.pem").write_text(capsys.readouterr().out)
    return folder / "leaf.pem"


def _verify_with_crls(hierarchy: Hierarchy, leaf: Path, capsys: Any) -> subprocess.CompletedProcess:
    """`openssl verify -crl_check_all` of `leaf` up to the root, with the root's CRL as the
    registry holds it and the issuing CA's as `crl` writes it."""
    folder = hierarchy.folder
    (folder / "root.pem").write_bytes(_pem(hierarchy.root))
    (folder / "issuing.pem").write_bytes(_pem(hierarchy.issuing))
    (folder / "root-crl.pem").write_bytes(_root_crl(hierarchy.home).public_bytes(Encoding.PEM))
    assert main(["crl", "--home", str(hierarchy.home)]) == 0
    (folder / "issuing-crl.pem").write_text(capsys.readouterr().out)
    return subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile", folder / "root.pem",
                           "-untrusted", folder / "issuing.pem", "-CRLfile",
                           folder / "root-crl.pem", "-CRLfile", folder / "issuing-crl.pem",
                           leaf], capture_output=True, text=True)  # fmt: skip


def test_hierarchy_init_makes_the_root_apart_and_the_issuing_ca_under_it(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    home, root, issuing = hierarchy.home, hierarchy.root, hierarchy.issuing
    # the root's key and PIN are its own, beside the CA's and not among them
    settings = load_settings(home)
    assert settings.root.name == "demo-root"
    root_keys = list((home / "root" / "keys").iterdir())
    assert len(root_keys) == 1
    assert not any(p.name.startswith("demo-root") for p in (home / "keys").iterdir())
    assert (home / "root" / "pin.txt").read_text() != (home / "pin.txt").read_text()
    assert (home / "root" / "pin.txt").stat().st_mode & 0o777 == 0o600

    # the root: self-signed, a CA, certificates and CRLs only (RFC 5280 4.2.1.3, 4.2.1.9)
    assert root.subject.rfc4514_string() == "CN=Test Root,O=Test,C=RU"
    root.verify_directly_issued_by(root)
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # the issuing CA: the root's, pathLenConstraint 0, pointing at the root's CRL and
    # certificate as the server publishes them
    issuing.verify_directly_issued_by(root)
    assert issuing.subject.rfc4514_string() == "CN=Demo CA,O=Demo,C=RU"
    constraints = issuing.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)
    root_key_id = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = issuing.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_key_id.digest
    (point,) = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for n in point.full_name or []] == ["http://127.0.0.1:8080/crl/demo-root.crl"]
    aia = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (x509.AuthorityInformationAccessOID.CA_ISSUERS, "http://127.0.0.1:8080/ca/demo-root.crt")
    ]
    assert issuing.not_valid_after_utc <= root.not_valid_after_utc  # D10
    root_crl = _root_crl(home)
    assert root_crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert len(root_crl) == 0
    crl_number = root_crl.extensions.get_extension_for_class(x509.CRLNumber).value
    assert crl_number.crl_number == 1
    for der in (root.public_bytes(Encoding.DER), issuing.public_bytes(Encoding.DER)):
        assert lint_certificate(der) == []
    assert lint_crl(root_crl.public_bytes(Encoding.DER)) == []

    # an issued certificate verifies up to the root, with both CRLs (RFC 5280 6.3)
    leaf = _issue_leaf(hierarchy, capsys)
    verified = _verify_with_crls(hierarchy, leaf, capsys)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_hierarchy_the_server_never_needs_the_root_key_and_publishes_its_certificate_and_crl(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    """The root's folder taken offline: issuance and CRLs go on; /ca/<root>.crt and
    /crl/<root>.crl answer from the registry (RFC 5280 4.2.1.13, 4.2.2.1)."""
    home = hierarchy.home
    shutil.move(home / "root", hierarchy.folder / "offline-root")
    leaf = _issue_leaf(hierarchy, capsys)
    assert x509.load_pem_x509_certificate(leaf.read_bytes()).issuer == hierarchy.issuing.subject

    async def served() -> tuple[Any, ...]:
        async with (
            open_ca(load_settings(home), signing=False) as ca,
            TestClient(TestServer(build_app(ca))) as client,
        ):
            certificate = await client.get("/ca/demo-root.crt")
            crl = await client.get("/crl/demo-root.crl")
            unknown = await client.get("/crl/demo-root-delta.crl")
            metrics = await (await client.get("/metrics")).text()
            return (
                certificate.status, certificate.content_type, await certificate.read(),
                crl.status, crl.content_type, await crl.read(), unknown.status, metrics,
            )  # fmt: skip

    cert_status, cert_type, cert_body, crl_status, crl_type, crl_body, unknown, metrics = (
        asyncio.run(served())
    )
    assert (cert_status, cert_type) == (200, "application/pkix-cert")
    assert cert_body == hierarchy.root.public_bytes(Encoding.DER)
    assert (crl_status, crl_type) == (200, "application/pkix-crl")
    assert crl_body == _root_crl(home).public_bytes(Encoding.DER)
    assert unknown == 404
    next_update = _root_crl(home).next_update_utc
    assert next_update is not None
    (line,) = [m for m in metrics.splitlines() if m.startswith("ca_root_crl_next_update")]
    name, value = line.split(" ")
    assert name == 'ca_root_crl_next_update_timestamp_seconds{root="demo-root"}'
    assert float(value) == next_update.timestamp()


def test_root_crl_signs_and_publishes_the_next_number(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["root", "crl", "--home", str(hierarchy.home)]) == 0
    out = capsys.readouterr().out
    crl = _root_crl(hierarchy.home)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert out.startswith("root CA 'demo-root': CRL number 2 published, next update ")
    assert crl.is_signature_valid(hierarchy.root.public_key())  # type: ignore[arg-type]
    assert main(["root", "show", "--home", str(hierarchy.home)]) == 0
    shown = capsys.readouterr().out
    assert f"  signed {hierarchy.issuing.serial_number:x}: CN=Demo CA,O=Demo,C=RU, valid" in shown
    assert "  CRL number 2, next update " in shown


def test_root_revoke_lists_the_issuing_ca_certificate_and_openssl_refuses_its_chain(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    """K4 for an issuing CA under the home's root: the root revokes its certificate
    (cACompromise, RFC 5280 5.3.1) in the CRL it publishes; every chain through it fails."""
    leaf = _issue_leaf(hierarchy, capsys)
    serial = f"{hierarchy.issuing.serial_number:X}"  # as an operator may paste it
    assert main(["root", "revoke", "--home", str(hierarchy.home), "--serial", serial,
                 "--grounds", "key copied"]) == 0  # fmt: skip
    assert capsys.readouterr().out == (
        f"root CA 'demo-root': certificate {hierarchy.issuing.serial_number:x} revoked "
        "(cACompromise), CRL number 2 published\n"
    )
    crl = _root_crl(hierarchy.home)
    entry = crl.get_revoked_certificate_by_serial_number(hierarchy.issuing.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.ca_compromise
    )
    assert lint_crl(crl.public_bytes(Encoding.DER)) == []
    verified = _verify_with_crls(hierarchy, leaf, capsys)
    assert verified.returncode != 0
    assert "certificate revoked" in verified.stdout + verified.stderr


def _refusals() -> list[tuple[list[str], str]]:
    return [
        (["revoke", "--serial", "abc123", "--grounds", "x"],
         "error: root 'demo-root' signed no certificate abc123\n"),
        (["revoke", "--serial", "abc123"], "error: root revoke needs --serial and --grounds\n"),
        (["revoke", "--serial", "xyz", "--grounds", "x"],
         "error: not a hexadecimal serial number: 'xyz'\n"),
        (["crl", "--serial", "abc123"], "error: --serial and --grounds are options of root "
         "revoke\n"),
    ]  # fmt: skip


@pytest.mark.parametrize(("arguments", "error"), _refusals())
def test_root_refusals_are_exact_and_change_nothing(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str], arguments: list[str], error: str
) -> None:
    url = f"sqlite:///{hierarchy.home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    assert main(["root", arguments[0], "--home", str(hierarchy.home), *arguments[1:]]) == 1
    assert capsys.readouterr().err == error
    assert asyncio.run(_rows(url)) == rows


def test_root_offline_crl_is_refused_by_where_the_pin_was_looked_for(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    """The root's PIN taken offline: `root crl` says where it looked (never a PIN) and
    records nothing."""
    home = hierarchy.home
    pin = (home / "root" / "pin.txt").read_text().strip()
    (home / "root" / "pin.txt").unlink()
    url = f"sqlite:///{home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    assert main(["root", "crl", "--home", str(home)]) == 1
    error = capsys.readouterr().err
    assert error == (
        "error: the root CA's key is not at hand: soft backend: no secret: environment "
        "variable CA_ROOT_PIN is not set or empty; cannot read secret file "
        f"{home / 'root' / 'pin.txt'}: No such file or directory\n"
    )
    assert pin not in error
    assert asyncio.run(_rows(url)) == rows
    os.environ["CA_ROOT_PIN"] = pin  # brought back: the root signs again
    try:
        assert main(["root", "crl", "--home", str(home)]) == 0
    finally:
        del os.environ["CA_ROOT_PIN"]


def test_root_commands_in_a_home_without_a_root_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home)]) == 0
    capsys.readouterr()
    assert main(["root", "show", "--home", str(home)]) == 1
    assert capsys.readouterr().err == (
        "error: this home has no root CA (root.name is empty: it was not made by init "
        "--hierarchy)\n"
    )


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--hierarchy", "root+issuing", "--csr", "x.csr"],
         "init --hierarchy makes its own parent: --csr is not for it"),
        (["--root-name", "top"], "--root-name is an option of init --hierarchy"),
        (["--hierarchy", "root+issuing", "--join", "postgresql://u@h/d"],
         "init --join takes the CA from the registry: --hierarchy is not for it"),
    ],
)  # fmt: skip
def test_init_hierarchy_option_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], error: str
) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["init", "--home", str(tmp_path / "ca"), *arguments])
    assert exit_code.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {error}\n")
    assert not (tmp_path / "ca").exists()


def test_settings_refuse_a_root_named_as_the_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The root's and the CA's files share /ca/ and /crl/: one name cannot be both."""
    assert main(["init", "--home", str(tmp_path / "ca"), "--hierarchy", "root+issuing",
                 "--root-name", "demo"]) == 1  # fmt: skip
    assert capsys.readouterr().err == (
        "error: root.name: must be different from ca.name: both name files under /ca/ and /crl/\n"
    )
    assert not (tmp_path / "ca").exists()


def test_hierarchy_init_records_the_root_on_either_engine(
    empty_registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The root's tables (migration 0024) on SQLite and PostgreSQL, copied from init's
    scratch registry like the rest."""
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home), "--hierarchy", "root+issuing",
                 "--registry-url", empty_registry]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["root", "crl", "--home", str(home)]) == 0
    capsys.readouterr()

    async def read() -> tuple[Any, ...]:
        registry = await Registry.open_url(empty_registry, pool_size=1)
        try:
            ((root, crl),) = await registry.roots.roots()
            generation = await registry.active_generation("demo")
            assert generation is not None and crl is not None
            return root.name, root.certificate_der, crl.number, generation.parent_chain
        finally:
            await registry.close()

    name, certificate, number, chain = asyncio.run(read())
    assert (name, number, chain) == ("demo-root", 2, (certificate,))


def _crl_of(home: Path, generation: int, capsys: pytest.CaptureFixture[str]) -> bytes:
    assert main(["crl", "--home", str(home), "--generation", str(generation)]) == 0
    return capsys.readouterr().out.encode()


def test_k2_rollover_under_the_home_root_and_both_generations_verify_with_their_crls(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollover` with the root's key at hand: the root certifies the next key at once;
    issuance moves to it; each generation's certificates verify up to the root with their
    own generation's CRL (K3)."""
    home, folder = hierarchy.home, hierarchy.folder
    first_leaf = folder / "first-leaf.pem"
    shutil.move(_issue_leaf(hierarchy, capsys), first_leaf)
    assert main(["rollover", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "CA 'demo' rolled over from generation 1 to 2, certified by the root CA 'demo-root'\n"
    )
    second = _generation(home)
    assert second.id == 2
    assert second.parent_chain == (hierarchy.root.public_bytes(Encoding.DER),)
    issuing = x509.load_der_x509_certificate(second.certificate_der)
    issuing.verify_directly_issued_by(hierarchy.root)
    assert issuing.public_key() != hierarchy.issuing.public_key()
    assert lint_certificate(second.certificate_der) == []
    (folder / "leaf.csr").unlink()
    second_leaf = folder / "second-leaf.pem"
    shutil.move(_issue_leaf(hierarchy, capsys), second_leaf)
    assert x509.load_pem_x509_certificate(second_leaf.read_bytes()).issuer == issuing.subject

    (folder / "root.pem").write_bytes(_pem(hierarchy.root))
    (folder / "root-crl.pem").write_bytes(_root_crl(home).public_bytes(Encoding.PEM))
    for leaf, issuer, generation in ((first_leaf, hierarchy.issuing, 1), (second_leaf, issuing, 2)):
        (folder / "issuing.pem").write_bytes(_pem(issuer))
        (folder / "issuing-crl.pem").write_bytes(_crl_of(home, generation, capsys))
        verified = subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile",
                                   folder / "root.pem", "-untrusted", folder / "issuing.pem",
                                   "-CRLfile", folder / "root-crl.pem", "-CRLfile",
                                   folder / "issuing-crl.pem", leaf],
                                  capture_output=True, text=True)  # fmt: skip
        assert verified.returncode == 0, (generation, verified.stdout + verified.stderr)

    assert main(["root", "show", "--home", str(home)]) == 0
    shown = capsys.readouterr().out
    for certificate in (hierarchy.issuing, issuing):
        assert f"  signed {certificate.serial_number:x}: CN=Demo CA,O=Demo,C=RU, valid" in shown


def test_k2_rollover_under_the_root_certifies_the_request_already_pending(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scheduled duty cannot reach the offline root: it leaves a pending request (as
    `rollover --csr` does); `rollover` with the root at hand certifies that one, no second
    key."""
    home = hierarchy.home
    assert main(["rollover", "--home", str(home), "--csr", str(hierarchy.folder / "next.csr")]) == 0
    capsys.readouterr()
    request = x509.load_pem_x509_csr((hierarchy.folder / "next.csr").read_bytes())
    keys = sorted(p.name for p in (home / "keys").iterdir())
    assert main(["rollover", "--home", str(home)]) == 0
    capsys.readouterr()
    second = x509.load_der_x509_certificate(_generation(home).certificate_der)
    assert second.public_key() == request.public_key()
    # the responder's key is new; no other CA key was made
    assert len(sorted(p.name for p in (home / "keys").iterdir())) == len(keys) + 1


@pytest.mark.parametrize(
    "command",
    [["rollover"], ["compromise", "--generation", "1", "--grounds", "key copied"]],
    ids=["k2_rollover", "k4_compromise"],
)
def test_under_the_root_with_the_root_offline_rollover_and_compromise_change_nothing(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """The root's key is checked at hand before anything is made: no key, no row."""
    home = hierarchy.home
    shutil.move(home / "root", hierarchy.folder / "offline-root")
    url = f"sqlite:///{home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    keys = sorted(p.name for p in (home / "keys").iterdir())
    assert main([command[0], "--home", str(home), *command[1:]]) == 1
    assert capsys.readouterr().err == (
        "error: the root CA's key is not at hand: soft backend: no secret: environment "
        "variable CA_ROOT_PIN is not set or empty; cannot read secret file "
        f"{home / 'root' / 'pin.txt'}: No such file or directory\n"
    )
    assert asyncio.run(_rows(url)) == rows
    assert sorted(p.name for p in (home / "keys").iterdir()) == keys


def test_k2_the_duty_under_the_offline_root_leaves_a_request_and_says_to_run_rollover(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduled duty of a hierarchy home cannot reach the root: once due it makes the
    request and tells the operator to run `rollover` with the root's key; that rollover
    certifies exactly that request."""
    caplog.set_level(logging.INFO, logger="server.rollover")
    home = hierarchy.home
    first = _generation(home)
    settings = load_settings(home)
    due = rollover_due(settings.ca, first)

    async def check() -> object:
        async with open_ca(settings, signing=False, clock=lambda: due) as ca:
            return await ca.scheduled_rollover.rollover_if_due()

    made = asyncio.run(check())
    assert isinstance(made, NextRequest)
    [record] = [r for r in caplog.records if r.name == "server.rollover"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"scheduled rollover (K2): CA 'demo' generation 1 (key usable until "
        f"{first.not_after:%Y-%m-%d}) is certified by the root CA 'demo-root' kept in the home, "
        f"which is offline: request {made.id} for its next generation made; run `python -m "
        "server rollover --home HOME` with the root's key at hand"
    )
    assert main(["rollover", "--home", str(home)]) == 0
    capsys.readouterr()
    second = x509.load_der_x509_certificate(_generation(home).certificate_der)
    assert second.public_key() == x509.load_der_x509_csr(made.csr_der).public_key()


def test_k4_compromise_under_the_home_root_revokes_in_the_root_crl_and_certifies_a_new_key(
    hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compromise` with the root's key at hand: a new issuing key certified by the root
    at once; the compromised CA certificate revoked (cACompromise, RFC 5280 5.3.1) in the
    root's CRL; the certificates it issued revoked; chains through it fail, the new
    generation's verify."""
    home, folder = hierarchy.home, hierarchy.folder
    old_leaf = folder / "old-leaf.pem"
    shutil.move(_issue_leaf(hierarchy, capsys), old_leaf)
    assert main(["compromise", "--home", str(home), "--generation", "1",
                 "--grounds", "key copied"]) == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    serial = f"{hierarchy.issuing.serial_number:x}"
    assert out[0] == "CA 'demo': generation 1 compromised, generation 2 made"
    assert out[2] == f"  revoked (cACompromise) in the root CA 'demo-root''s CRL: {serial}"
    assert out[3] == "  certificates of generation 1: 4 revoked"  # leaf, responder, CMP, TLS

    second = _generation(home)
    assert second.id == 2 and second.parent_chain == (hierarchy.root.public_bytes(Encoding.DER),)
    new_issuing = x509.load_der_x509_certificate(second.certificate_der)
    new_issuing.verify_directly_issued_by(hierarchy.root)
    root_crl = _root_crl(home)
    entry = root_crl.get_revoked_certificate_by_serial_number(hierarchy.issuing.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.ca_compromise
    )
    assert lint_crl(root_crl.public_bytes(Encoding.DER)) == []

    async def states() -> list[tuple[int, str]]:
        registry = await open_registry(load_settings(home))
        try:
            return [(g.id, g.state) for g in await registry.generations("demo")]
        finally:
            await registry.close()

    assert asyncio.run(states()) == [(1, "compromised"), (2, "active")]
    old_serial = x509.load_pem_x509_certificate(old_leaf.read_bytes()).serial_number
    assert main(["show", "--home", str(home), "--serial", f"{old_serial:x}"]) == 0
    assert "\nstatus:     revoked\n" in capsys.readouterr().out

    (folder / "root.pem").write_bytes(_pem(hierarchy.root))
    (folder / "root-crl.pem").write_bytes(root_crl.public_bytes(Encoding.PEM))
    (folder / "leaf.csr").unlink()
    new_leaf = _issue_leaf(hierarchy, capsys)
    for leaf, issuer, generation, verdict in (
        (old_leaf, hierarchy.issuing, 1, "certificate revoked"),
        (new_leaf, new_issuing, 2, None),
    ):
        (folder / "issuing.pem").write_bytes(_pem(issuer))
        (folder / "issuing-crl.pem").write_bytes(_crl_of(home, generation, capsys))
        verified = subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile",
                                   folder / "root.pem", "-untrusted", folder / "issuing.pem",
                                   "-CRLfile", folder / "root-crl.pem", "-CRLfile",
                                   folder / "issuing-crl.pem", leaf],
                                  capture_output=True, text=True)  # fmt: skip
        if verdict is None:
            assert verified.returncode == 0, verified.stdout + verified.stderr
        else:
            assert verified.returncode != 0
            assert verdict in verified.stdout + verified.stderr
    assert main(["audit", "verify", "--home", str(home)]) == 0


def test_k4_the_api_cannot_reach_the_offline_root_and_says_where_to_declare_it(
    hierarchy: Hierarchy,
) -> None:
    """The server (the API's officer) never holds the root's key: its compromise route
    refuses a generation under the home's root by name, and changes nothing."""
    home = hierarchy.home
    url = f"sqlite:///{home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))

    async def declare() -> CAError:
        async with open_ca(load_settings(home), signing=False) as ca:
            with pytest.raises(CAError) as refused:
                await ca.compromise(1, "key copied", "officer")
            return refused.value

    refusal = asyncio.run(declare())
    assert refusal.kind is ErrorKind.REJECTED
    assert str(refusal) == (
        "generation 1 was certified by the root CA kept in this home, which is offline: "
        "declare its compromise with `python -m server compromise` with the root's key at "
        "hand; nothing was changed"
    )
    assert asyncio.run(_rows(url)) == rows
