"""The operator's command line end to end: init, issue, revoke, show, list, with openssl
verifying what was issued and pkilint linting it, on the software backend and on SoftHSM2;
what depends on the registry on SQLite and on PostgreSQL; `registry copy` between them."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import ENGINES, CAHome, init_home, new_registry_url
from tests.integration.server_process import ServerProcess
from tests.lint import lint_certificate
from tests.softhsm import make_token

COMMANDS = ["init", "serve", "ca-cert", "issue", "revoke", "suspend", "resume", "show",
            "list", "crl", "enroll-code", "profiles", "audit", "applications", "approve",
            "reject", "register", "subscriber", "identify", "acknowledge", "apply", "complete",
            "overdue", "handover", "credentials", "registry", "import-ca-cert",
            "paper", "backup", "restore"]  # fmt: skip


REQ_CONFIG = (
    "oid_section = oids\n[oids]\nINNLE = 1.2.643.100.4\n[req]\ndistinguished_name = dn\n[dn]\n"
)


def openssl_csr(folder: Path, name: str, subj: str, key: str = "ec", san: str = "") -> Path:
    """A key and request made by OpenSSL, as an operator would."""
    key_args = {
        "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "rsa": ["-newkey", "rsa:2048"],
        "ed25519": ["-newkey", "ed25519"],
    }[key]
    csr = folder / f"{name}.csr"
    config = folder / "req.cnf"  # names INNLE, which OpenSSL 3.0 does not know
    config.write_text(REQ_CONFIG)
    args = ["req", "-new", "-config", config, *key_args, "-nodes",
            "-keyout", folder / f"{name}.key", "-out", csr, "-subj", subj]  # fmt: skip
    if san:
        args += ["-addext", f"subjectAltName={san}"]
    result = openssl(*args)
    assert result.returncode == 0, result.stderr
    return csr


# How the registry knows the holders of the profiles with personal identifiers (the same
# data as the requests below: the certificate's subject is made from these, D2).
REGISTERED = {
    "person": ["--kind", "individual", "--surname", "Иванов", "--given-names", "Иван",
               "--snils", "11223344595", "--inn", "500100732259"],
    "organisation": ["--kind", "legal_entity", "--name", "ООО Ромашка",
                     "--ogrn", "1027700132195", "--inn", "7707083893"],
}  # fmt: skip
IDENTITY = ["--document-type", "passport_rf", "--document-number", "4510 123456",
            "--document-issuer", "OVD Tverskoy", "--document-date", "2015-03-01"]  # fmt: skip


_SUBSCRIBERS: dict[tuple[Path, str], str] = {}


def ready_subscriber(ca: CAHome, profile: str) -> str:
    """The subscriber for `profile`'s holder in this home: registered, identified and
    having acknowledged the notice (once per home: identifiers are unique)."""
    if (ca.path, profile) not in _SUBSCRIBERS:
        subscriber = ca.cli("register", *REGISTERED[profile]).stdout.strip()
        ca.cli("identify", "--id", subscriber, *IDENTITY)
        ca.cli("acknowledge", "--id", subscriber)
        _SUBSCRIBERS[ca.path, profile] = subscriber
    return _SUBSCRIBERS[ca.path, profile]


def issue_through_the_ra(ca: CAHome, profile: str, csr: Path) -> str:
    """register, identify, acknowledge, apply with the request, approve: the certificate."""
    subscriber = ready_subscriber(ca, profile)
    application = ca.cli("apply", "--subscriber", subscriber, "--profile", profile,
                         "--csr", csr).stdout.splitlines()[0]  # fmt: skip
    approved = ca.cli("approve", "--id", application).stdout.strip()
    serial = approved.rpartition(" ")[2]
    assert approved == f"approved {application}: issued {serial}"
    return ca.cli("show", "--serial", serial, "--pem").stdout


def ca_pem(ca: CAHome, folder: Path) -> Path:
    path = folder / "ca.pem"
    path.write_text(ca.cli("ca-cert").stdout)
    return path


@pytest.fixture(scope="module", params=ENGINES)
def engine_ca(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CAHome:
    """A software-backend CA with its registry on each engine in turn."""
    if request.param == "sqlite":
        return request.getfixturevalue("soft_ca")
    return init_home(tmp_path_factory.mktemp("engine") / "ca", request, request.param)


def verify(ca_file: Path, pem: str, folder: Path) -> None:
    leaf = folder / "leaf.pem"
    leaf.write_text(pem)
    result = openssl("verify", "-CAfile", ca_file, leaf)
    assert result.returncode == 0 and b": OK" in result.stdout, result.stdout + result.stderr


def test_init_makes_a_working_home(soft_ca: CAHome, tmp_path: Path) -> None:
    for name in ("settings.toml", "registry.sqlite3", "pin.txt", "keys"):
        assert (soft_ca.path / name).exists(), name
    assert stat.S_IMODE((soft_ca.path / "pin.txt").stat().st_mode) == 0o600
    pin = (soft_ca.path / "pin.txt").read_text().strip()
    for key_file in (soft_ca.path / "keys").iterdir():
        assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    assert pin not in (soft_ca.path / "settings.toml").read_text()
    ca_file = ca_pem(soft_ca, tmp_path)
    verify(ca_file, ca_file.read_text(), tmp_path)
    certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
    assert certificate.subject.rfc4514_string() == "CN=Test Soft CA,O=Test,C=RU"
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert lint_certificate(certificate.public_bytes(encoding=Encoding.DER)) == []


def test_init_also_makes_an_ocsp_responder_certificate(soft_ca: CAHome, tmp_path: Path) -> None:
    listing = soft_ca.cli("list", "--profile", "ocsp-responder").stdout.splitlines()
    assert len(listing) == 1
    serial = listing[0].split()[0]
    pem = soft_ca.cli("show", "--serial", serial, "--pem").stdout
    verify(ca_pem(soft_ca, tmp_path), pem, tmp_path)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [oid.dotted_string for oid in eku] == ["1.3.6.1.5.5.7.3.9"]
    certificate.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert lint_certificate(certificate.public_bytes(encoding=Encoding.DER)) == []


def test_init_refuses_an_existing_home(soft_ca: CAHome) -> None:
    result = run_cli("init", "--home", soft_ca.path, check=False)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"error: {soft_ca.path} already holds a CA (settings.toml exists)"
    )


@pytest.mark.parametrize("backend", ["soft_ca", "pkcs11_ca"])
@pytest.mark.parametrize(
    ("profile", "subj", "key", "san"),
    [
        ("tls-server", "/CN=www.example.ru/O=Example", "ec", "DNS:www.example.ru,IP:127.0.0.1"),
        ("tls-client", "/CN=device-1", "rsa", ""),
        ("person", "/CN=Иванов Иван/SN=Иванов/GN=Иван/C=RU/SNILS=11223344595/INN=500100732259",
         "ec", "email:ivanov@example.ru"),
        ("organisation", "/CN=ООО Ромашка/O=ООО Ромашка/C=RU/OGRN=1027700132195"
         "/INNLE=7707083893", "ec", ""),
    ],
)  # fmt: skip
def test_issue_then_openssl_verifies_and_pkilint_is_clean(
    request: pytest.FixtureRequest, backend: str, profile: str, subj: str, key: str, san: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    ca: CAHome = request.getfixturevalue(backend)
    csr = openssl_csr(tmp_path, "leaf", subj, key, san)
    if profile in REGISTERED:  # personal identifiers: only through the RA (D2, P2, P3)
        pem = issue_through_the_ra(ca, profile, csr)
    else:
        pem = ca.cli("issue", "--profile", profile, "--csr", csr).stdout
    verify(ca_pem(ca, tmp_path), pem, tmp_path)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    assert lint_certificate(certificate.public_bytes(encoding=Encoding.DER)) == []
    serial = format(certificate.serial_number, "x")
    shown = ca.cli("show", "--serial", serial).stdout
    assert "status:     good" in shown and f"profile:    {profile}" in shown


def test_issue_refusals_are_one_line_and_leave_nothing(engine_ca: CAHome, tmp_path: Path) -> None:
    before = engine_ca.cli("list").stdout
    csr = openssl_csr(tmp_path, "dup", "/CN=dup")
    engine_ca.cli("issue", "--profile", "tls-client", "--csr", csr)
    after_first = engine_ca.cli("list").stdout
    garbage = tmp_path / "garbage.csr"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n")
    cases = [
        (["--profile", "tls-client", "--csr", csr], "already certified"),
        (["--profile", "tls-client", "--csr", garbage], "not a PKCS#10 request"),
        (["--profile", "tls-client", "--csr", tmp_path / "missing.csr"], "cannot read"),
        (["--profile", "nope", "--csr", csr], "no certificate profile named 'nope'"),
    ]  # fmt: skip
    for args, reason in cases:
        result = engine_ca.cli("issue", *args, check=False)
        assert result.returncode == 1, args
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], lines
    assert engine_ca.cli("list").stdout == after_first
    assert len(after_first.splitlines()) == len(before.splitlines()) + 1


def test_revoke_and_its_refusals(engine_ca: CAHome, tmp_path: Path) -> None:
    csr = openssl_csr(tmp_path, "r", "/CN=to-revoke")
    pem = engine_ca.cli("issue", "--profile", "tls-client", "--csr", csr).stdout
    serial = format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "X")
    result = engine_ca.cli("revoke", "--serial", serial, "--reason", "keyCompromise",
                         "--invalidity-date", "2026-01-01T00:00:00")  # fmt: skip
    assert result.stdout.strip() == f"revoked {serial.lower()} (keyCompromise)"
    again = engine_ca.cli("revoke", "--serial", serial, "--reason", "superseded", check=False)
    assert again.returncode == 1 and "already revoked" in again.stderr
    bad_reason = engine_ca.cli("revoke", "--serial", serial, "--reason", "bored", check=False)
    assert bad_reason.returncode == 1 and "unknown revocation reason" in bad_reason.stderr
    unknown = engine_ca.cli("revoke", "--serial", "0badc0de", check=False)
    assert unknown.returncode == 1 and "no certificate with serial badc0de" in unknown.stderr
    shown = engine_ca.cli("show", "--serial", serial).stdout
    assert "status:     revoked" in shown and "revoke (keyCompromise)" in shown
    assert serial.lower() in engine_ca.cli("list", "--status", "revoked").stdout
    assert "intact" in engine_ca.cli("audit", "verify").stdout


def test_suspend_and_resume(soft_ca: CAHome, tmp_path: Path) -> None:
    csr = openssl_csr(tmp_path, "s", "/CN=to-suspend")
    pem = soft_ca.cli("issue", "--profile", "tls-client", "--csr", csr).stdout
    serial = format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "x")
    assert soft_ca.cli("suspend", "--serial", serial).stdout.strip() == f"suspended {serial}"
    assert "status:     hold" in soft_ca.cli("show", "--serial", serial).stdout
    assert soft_ca.cli("resume", "--serial", serial).stdout.strip() == f"resumed {serial}"
    assert "status:     good" in soft_ca.cli("show", "--serial", serial).stdout


def test_profiles_are_listed(soft_ca: CAHome) -> None:
    names = [line.split()[0] for line in soft_ca.cli("profiles").stdout.splitlines()]
    assert names == ["tls-server", "tls-client", "person", "sole-proprietor", "organisation"]


@pytest.mark.parametrize("algorithm", ["ec-p384", "rsa-2048", "ed25519"])
def test_init_with_other_algorithms(algorithm: str, tmp_path: Path) -> None:
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path, "--algorithm", algorithm)
    csr = openssl_csr(tmp_path, "leaf", "/CN=leaf")
    pem = home.cli("issue", "--profile", "tls-client", "--csr", csr).stdout
    verify(ca_pem(home, tmp_path), pem, tmp_path)
    assert (
        lint_certificate(x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER))
        == []
    )


def test_pkcs11_keys_stay_in_the_token(pkcs11_ca: CAHome) -> None:
    """The CA key was generated in the token: private, sensitive, never extractable."""
    script = (
        "import os, pkcs11\n"
        "from pkcs11 import Attribute, ObjectClass\n"
        "lib = pkcs11.lib('/usr/lib/softhsm/libsofthsm2.so')\n"
        "token = lib.get_token(token_label='ca')\n"
        "with token.open(user_pin=os.environ['CA_HSM_PIN']) as session:\n"
        "    keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))\n"
        "    assert len(keys) == 2, keys\n"
        "    for key in keys:\n"
        "        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]\n"
        "        assert key[Attribute.TOKEN] and key[Attribute.PRIVATE]\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, **pkcs11_ca.env}, timeout=60)  # fmt: skip
    assert result.stdout.strip() == "ok", result.stderr
    settings = (pkcs11_ca.path / "settings.toml").read_text()
    assert pkcs11_ca.env["CA_HSM_PIN"] not in settings
    assert not (pkcs11_ca.path / "keys").exists() or not any((pkcs11_ca.path / "keys").iterdir())


def test_pkcs11_init_without_pin_fails_cleanly(tmp_path: Path) -> None:
    result = run_cli("init", "--home", tmp_path / "ca", "--backend", "pkcs11", check=False,
                     env={"CA_HSM_PIN": ""})  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: no PIN")
    assert not (tmp_path / "ca").exists()


# In a process of its own: SoftHSM2 reads SOFTHSM2_CONF once per process.
TOKEN_PRIVATE_KEYS = """
import os, sys, pkcs11
from pkcs11 import Attribute, ObjectClass
token = pkcs11.lib(sys.argv[1]).get_token(token_label=sys.argv[2])
with token.open(user_pin=os.environ["CA_HSM_PIN"]) as session:
    private = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
    print(sorted(o[Attribute.LABEL] for o in private))
"""


def test_a_pkcs11_init_that_fails_after_making_its_keys_destroys_them(tmp_path: Path) -> None:
    """The CA and OCSP responder keys are made in the token before the TLS certificate is
    written; a home whose `tls` is a file stops `init` there. Nothing is left in the token,
    so the same command runs again once the file is gone."""
    token = make_token(tmp_path, label="ca")
    env = {**token.environment(), "CA_HSM_PIN": token.pin}
    home = tmp_path / "ca"
    home.mkdir()
    (home / "tls").write_text("not a folder")
    command: list[str | Path] = [
        "init", "--home", home, "--backend", "pkcs11", "--module", token.module,
        "--token-label", token.label, "--https", "127.0.0.1:8443",
    ]  # fmt: skip

    def private_keys() -> str:
        listed = subprocess.run(
            [sys.executable, "-c", TOKEN_PRIVATE_KEYS, token.module, token.label],
            env={**os.environ, **env}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return listed.stdout.strip()

    failed = run_cli(*command, env=env, check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: "), failed.stderr
    assert private_keys() == "[]"
    assert sorted(p.name for p in home.iterdir()) == ["tls"]
    (home / "tls").unlink()
    run_cli(*command, env=env)
    labels = private_keys()
    assert "'demo-ca-g1'" in labels and "'demo-ocsp-g1-" in labels


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert "--home" in result.stdout


def test_a_missing_home_is_a_usage_error() -> None:
    result = run_cli("list", check=False)
    assert result.returncode == 2 and "--home" in result.stderr


def test_a_signing_failure_leaves_no_row_and_frees_the_key(
    engine_ca: CAHome, tmp_path: Path
) -> None:
    """The real pipeline, with the CA key file gone when the signer process needs it."""
    home = engine_ca
    before = home.cli("list").stdout
    key_file = next((home.path / "keys").glob("demo-ca-g1*"))
    hidden = key_file.rename(tmp_path / "hidden.pem")
    try:
        csr = openssl_csr(tmp_path, "leaf", "/CN=leaf")
        result = home.cli("issue", "--profile", "tls-client", "--csr", csr, check=False)
    finally:
        hidden.rename(key_file)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: the signing service failed; the request was not issued"
    assert home.cli("list").stdout == before
    pem = home.cli("issue", "--profile", "tls-client", "--csr", csr).stdout  # same key: free
    verify(ca_pem(home, tmp_path), pem, tmp_path)


def test_crl_command_prints_and_writes_the_current_crl(soft_ca: CAHome, tmp_path: Path) -> None:
    home = soft_ca
    csr = openssl_csr(tmp_path, "leaf", "/CN=leaf")
    pem = home.cli("issue", "--profile", "tls-client", "--csr", csr).stdout
    serial = format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "x")
    home.cli("revoke", "--serial", serial, "--reason", "superseded")
    printed = home.cli("crl").stdout
    crl = x509.load_pem_x509_crl(printed.encode())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    written = home.cli("crl", "--delta", "--out", tmp_path / "delta.crl").stdout
    assert written.startswith("CRL number ")
    delta = x509.load_der_x509_crl((tmp_path / "delta.crl").read_bytes())
    delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    # No change since: the same CRL is printed again, not a new number.
    assert home.cli("crl").stdout == printed
    assert home.cli("crl", "--generation", "1").stdout == printed  # the issuing one, by id
    bad = home.cli("crl", "--shard", "3", check=False)
    assert bad.returncode == 1 and "--shard must be 0..0" in bad.stderr
    unknown = home.cli("crl", "--generation", "2", check=False)
    assert (unknown.returncode, unknown.stderr) == (1, "error: no live CA generation 2\n")


def anchored_copy(ca: CAHome, folder: Path, name: str) -> CAHome:
    """A copy of the home, modes and all, to tamper with as someone holding its files."""
    copy = CAHome(folder / name, ca.env)
    shutil.copytree(ca.path, copy.path)
    return copy


def audit_rows(home: CAHome) -> tuple[int, int]:
    """(count, newest seq) of the audit table, read from the file itself."""
    with sqlite3.connect(home.path / "registry.sqlite3") as db:
        return db.execute("SELECT count(*), max(seq) FROM audit_log").fetchone()


def test_audit_verify_detects_the_deletion_of_the_newest_entries(
    soft_ca: CAHome, tmp_path: Path
) -> None:
    """D3: a signing command ends by anchoring the trail's head in a signed checkpoint
    (<home>/audit-checkpoints, mode 0600); deleting the newest entries with sqlite3 is then
    found, not only editing them."""
    csr = openssl_csr(tmp_path, "a", "/CN=audited")
    soft_ca.cli("issue", "--profile", "tls-client", "--csr", csr)
    checkpoints = soft_ca.path / "audit-checkpoints"
    assert stat.S_IMODE(checkpoints.stat().st_mode) == 0o600
    number = len(checkpoints.read_text().splitlines())
    count, head = audit_rows(soft_ca)
    intact = soft_ca.cli("audit", "verify").stdout
    assert intact.startswith(f"audit trail intact since checkpoint {number} at ")
    assert f"(entry {head}): {count} entries, {number} checkpoints\n" in intact

    truncated = anchored_copy(soft_ca, tmp_path, "truncated")
    with sqlite3.connect(truncated.path / "registry.sqlite3") as db:
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.execute("DELETE FROM audit_log WHERE seq = ?", (head,))  # the newest only
    found = truncated.cli("audit", "verify", check=False)
    assert found.returncode == 1 and found.stdout == ""
    assert found.stderr.startswith(
        f"error: audit trail truncated: entry {head} onwards missing, the table ends at"
        f" entry {head - 1} but checkpoint {number} at "
    )
    assert found.stderr.endswith(f"(entry {head}) anchored it\n")

    edited = anchored_copy(soft_ca, tmp_path, "edited")
    with sqlite3.connect(edited.path / "registry.sqlite3") as db:
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = ?", (head,))
    changed = edited.cli("audit", "verify", check=False)
    assert changed.returncode == 1
    assert changed.stderr == f"error: audit trail broken at entry {head} (altered or removed)\n"


def test_audit_verify_detects_a_forged_checkpoint(soft_ca: CAHome, tmp_path: Path) -> None:
    made = soft_ca.cli("audit", "checkpoint").stdout  # anchors now, whether or not it moved
    assert re.fullmatch(r"checkpoint \d+ at \S+Z \(entry \d+\)\n", made)
    forged = anchored_copy(soft_ca, tmp_path, "forged")
    checkpoints = forged.path / "audit-checkpoints"
    lines = checkpoints.read_text().splitlines()
    newest = json.loads(lines[-1])
    newest["at"] = "2030-01-01T00:00:00Z"  # the signature no longer covers it
    checkpoints.write_text("\n".join([*lines[:-1], json.dumps(newest)]) + "\n")
    found = forged.cli("audit", "verify", check=False)
    assert found.returncode == 1
    assert found.stderr == (
        f"error: checkpoint {len(lines)}: its signature does not verify with the CA"
        " certificate of generation 1 (forged or altered)\n"
    )


def test_init_makes_an_existing_shared_home_private(tmp_path: Path) -> None:
    """C1: a home made beforehand with mode 0755 (and a file in it 0644) ends 0700, every
    file in it 0600; `serve` then refuses the home, or its registry, opened up again."""
    home = CAHome(tmp_path / "ca")
    home.path.mkdir(mode=0o755)
    os.chmod(home.path, 0o755)
    (home.path / "README.txt").write_text("made by the operator")
    os.chmod(home.path / "README.txt", 0o644)
    run_cli("init", "--home", home.path)
    assert stat.S_IMODE(home.path.stat().st_mode) == 0o700
    files = [path for path in home.path.rglob("*") if path.is_file()]
    names = {path.relative_to(home.path).as_posix() for path in files}
    assert {"registry.sqlite3", "settings.toml", "pin.txt", "audit-checkpoints",
            "README.txt"} <= names  # fmt: skip
    assert any(name.startswith("keys/") for name in names)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (p for p in home.path.rglob("*") if p.is_dir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path

    os.chmod(home.path, 0o755)
    refused = home.cli("serve", "--http", "127.0.0.1:1", check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"error: {home.path} is open to group or others (mode 755): run `chmod 700"
        f" {home.path}` (it holds personal data and the CA's secrets)\n"
    )
    os.chmod(home.path, 0o700)
    registry = home.path / "registry.sqlite3"
    os.chmod(registry, 0o644)
    refused = home.cli("serve", "--http", "127.0.0.1:1", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: {registry} is open to group or others (mode 644)")
    assert f"run `chmod 600 {registry}`" in refused.stderr


ROUTE = "(register, identify, acknowledge, apply, approve)"


def recorded(ca: CAHome) -> tuple[str, str, str]:
    """Certificates, enrollment credentials and the audit trail's length, as the CLI shows
    them."""
    return (ca.cli("list").stdout, ca.cli("credentials", "--all").stdout,
            ca.cli("audit", "verify").stdout)  # fmt: skip


def test_d2_person_profile_refuses_unregistered_subject_cli(
    soft_ca: CAHome, tmp_path: Path
) -> None:
    """`issue --subject` and `enroll-code` put no name and no SNILS into a person
    certificate for nobody registered, identified or approved: exit 1, one line naming the
    RA's route, nothing recorded."""
    subject = "CN=Петров Пётр,SN=Петров,GN=Пётр,C=RU,SNILS=08765430300"
    csr = openssl_csr(tmp_path, "walk-around", "/CN=x")
    ready = ready_subscriber(soft_ca, "person")
    issued_only = (
        "profile 'person' is issued only to a registered, identified subscriber who "
        f"acknowledged the notice, through an approved application {ROUTE}"
    )
    codes_only = (
        "profile 'person' is issued only through an approved application: approve makes its "
        f"enrollment code {ROUTE}"
    )
    before = recorded(soft_ca)
    for args, reason in (
        (["issue", "--profile", "person", "--csr", csr, "--subject", subject], issued_only),
        (["issue", "--profile", "person", "--csr", csr], issued_only),
        (["enroll-code", "--profile", "person", "--subject", subject], codes_only),
        (["enroll-code", "--profile", "person", "--subscriber", ready], codes_only),
        (["enroll-code", "--profile", "organisation", "--subject",
          "CN=ООО Ромашка,O=ООО Ромашка,OGRN=1027700132195,INNLE=7707083893"],
         codes_only.replace("'person'", "'organisation'")),
    ):  # fmt: skip
        result = soft_ca.cli(*args, check=False)
        assert (result.returncode, result.stdout) == (1, ""), args
        assert result.stderr == f"error: {reason}\n", args
    assert recorded(soft_ca) == before


def test_k4_revoke_refuses_the_cas_own_certificates_cli(soft_ca: CAHome, tmp_path: Path) -> None:
    """`revoke --reason cACompromise` of the CA certificate, and suspend of the OCSP
    responder's: exit 1 naming the CA key change procedure; `show` and the CRL unchanged."""
    ca_certificate = x509.load_pem_x509_certificate(ca_pem(soft_ca, tmp_path).read_bytes())
    ca_serial = format(ca_certificate.serial_number, "x")
    [responder] = soft_ca.cli("list", "--profile", "ocsp-responder").stdout.splitlines()
    responder_serial = responder.split()[0]
    procedure = ("the ordinary revocation does not apply to the CA's own certificates; CA key "
                 "compromise is handled by the CA key change procedure (README: The CA's own "
                 "certificates)")  # fmt: skip
    shown = {s: soft_ca.cli("show", "--serial", s).stdout for s in (ca_serial, responder_serial)}
    audit = soft_ca.cli("audit", "verify").stdout
    for args, serial, what in (
        (["revoke", "--reason", "cACompromise"], ca_serial, "the CA certificate of generation 1"),
        (["revoke", "--reason", "keyCompromise", "--basis", "ca_decision", "--grounds", "leak"],
         responder_serial, "an OCSP responder certificate of generation 1"),
        (["suspend"], ca_serial, "the CA certificate of generation 1"),
        (["suspend"], responder_serial, "an OCSP responder certificate of generation 1"),
    ):  # fmt: skip
        result = soft_ca.cli(*args, "--serial", serial.upper(), check=False)
        assert (result.returncode, result.stdout) == (1, ""), args
        assert result.stderr == f"error: certificate {serial} is {what}: {procedure}\n"
    for serial, text in shown.items():
        assert soft_ca.cli("show", "--serial", serial).stdout == text
        assert "status:     good" in text
    assert soft_ca.cli("audit", "verify").stdout == audit
    assert ca_serial not in soft_ca.cli("list", "--status", "revoked").stdout


def registry_rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table of a SQLite registry, in a fixed order."""
    with sqlite3.connect(path) as db:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(db.execute(f"SELECT * FROM {name}").fetchall()) for name in names}


def wait_for_every_ocsp_answer(path: Path, timeout_s: float = 60.0) -> None:
    """Until every issued certificate of a CA generation has its pre-signed OCSP answer
    stored (a started server signs the missing ones once it holds the duties)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with sqlite3.connect(path) as db:
            (missing,) = db.execute(
                "SELECT count(*) FROM certificates c WHERE c.state = 'issued'"
                " AND c.generation_id IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM ocsp_responses o WHERE o.serial = c.serial)"
            ).fetchone()
        if missing == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{missing} certificates still without an OCSP answer")
        time.sleep(0.1)


def test_registry_copy_moves_a_home_to_postgresql_and_back_unchanged(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`registry copy` SQLite -> PostgreSQL -> SQLite: checked (row counts, audit verify,
    the pre-signed OCSP answers a server signed), identical on the way back, the home
    working on the copy; a target that is not empty is refused in one line."""
    home = init_home(tmp_path / "ca", request, "sqlite")
    pems = [
        home.cli("issue", "--profile", "tls-client", "--csr",
                 openssl_csr(tmp_path, name, f"/CN={name}")).stdout
        for name in ("kept", "revoked")
    ]  # fmt: skip
    revoked = format(x509.load_pem_x509_certificate(pems[1].encode()).serial_number, "x")
    home.cli("revoke", "--serial", revoked, "--reason", "keyCompromise")
    server = ServerProcess(home)  # it signs the missing OCSP answers in the background
    wait_for_every_ocsp_answer(home.path / "registry.sqlite3")
    server.stop()

    url = new_registry_url(request, "postgresql")
    assert url is not None
    report = home.cli("registry", "copy", "--from", "sqlite:///registry.sqlite3", "--to", url)
    assert "audit verify on the target: " in report.stdout
    assert re.search(r"OCSP: the answers for ([4-9]|\d\d+) sampled certificates are the same",
                     report.stdout)  # fmt: skip
    home.cli("registry", "copy", "--from", url, "--to", "sqlite:///back.sqlite3")
    original = registry_rows(home.path / "registry.sqlite3")
    assert registry_rows(home.path / "back.sqlite3") == original

    on_postgresql = CAHome(home.path, {"CA_REGISTRY__URL": url})
    assert "status:     revoked" in on_postgresql.cli("show", "--serial", revoked).stdout
    refused = home.cli("registry", "copy", "--from", "sqlite:///registry.sqlite3",
                       "--to", url, check=False)  # fmt: skip
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: the target registry is not empty (table ")
    assert len(refused.stderr.splitlines()) == 1


def test_an_unreachable_registry_is_one_line(soft_ca: CAHome, tmp_path: Path) -> None:
    nowhere = f"postgresql://ca@/ca?host={tmp_path}"  # no server listens on that socket
    result = run_cli("list", "--home", soft_ca.path, env={"CA_REGISTRY__URL": nowhere},
                     check=False)  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: cannot open the registry at {nowhere}: ")
    assert len(result.stderr.splitlines()) == 1
