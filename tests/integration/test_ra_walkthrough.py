"""The README's walk-through, as an operator and a holder would do it: register a person,
record the identity check and the notice, apply, approve (an enrollment code), enroll with
curl over EST, suspend, see `openssl ocsp` say revoked (certificateHold), resume, see good.
Every step is the CLI or a third-party client against the running server."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.holder import (
    EC_P256,
    certificate_from,
    make_request,
    ocsp_status,
    simpleenroll,
)
from tests.integration.server_process import ServerProcess
from tests.lint import lint_certificate


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CAHome, ServerProcess]]:
    ca = CAHome(tmp_path_factory.mktemp("ra") / "ca")
    run_cli("init", "--home", ca.path, "--subject", "CN=RA Test CA,O=Test,C=RU")
    server = ServerProcess(ca)
    try:
        yield ca, server
    finally:
        server.stop()


def test_register_approve_enroll_suspend_resume(
    served: tuple[CAHome, ServerProcess], tmp_path: Path
) -> None:
    ca, server = served
    subscriber = ca.cli(
        "register", "--kind", "individual", "--surname", "Ivanov", "--given-names",
        "Ivan Ivanovich", "--snils", "112-233-445 95", "--inn", "500100732259",
        "--email", "ivanov@example.ru",
    ).stdout.strip()  # fmt: skip
    bad = ca.cli("register", "--kind", "individual", "--surname", "Petrov", "--given-names",
                 "Petr", "--snils", "112-233-445 96", check=False)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr == "error: snils: check digits do not match\n"

    ca.cli("identify", "--id", subscriber, "--document-type", "passport_rf",
           "--document-number", "4510 123456", "--document-issuer", "OVD Tverskoy",
           "--document-date", "2015-03-01")  # fmt: skip
    scan = tmp_path / "passport.pdf"
    scan.write_bytes(b"%PDF- a scan")
    early = ca.cli("apply", "--subscriber", subscriber, "--profile", "person", "--attach", scan)
    application = early.stdout.split()[0]
    assert "due: " in early.stdout
    refused = ca.cli("approve", "--id", application, check=False)
    assert refused.returncode == 1 and "has not acknowledged notice" in refused.stderr
    ca.cli("acknowledge", "--id", subscriber)
    code_id, secret = ca.cli("approve", "--id", application).stdout.split()
    listed = ca.cli("credentials").stdout
    assert code_id in listed and subscriber in listed and "unused" in listed
    assert secret not in listed

    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    request = make_request(tmp_path, "holder", EC_P256)
    status, answer = simpleenroll(server, ca_file, (code_id, secret), request, "person")
    assert status == 200, answer
    leaf = tmp_path / "holder.pem"
    certificate = x509.load_der_x509_certificate(certificate_from(answer, leaf))
    assert lint_certificate(certificate.public_bytes(Encoding.DER)) == []
    shown = openssl("x509", "-in", leaf, "-noout", "-subject", "-nameopt", "RFC2253").stdout
    assert b"SNILS=11223344595" in shown and b"CN=Ivanov Ivan Ivanovich" in shown
    serial = format(certificate.serial_number, "x")
    issued = ca.cli("applications", "--state", "issued").stdout
    assert application in issued and serial in issued
    ca.cli("handover", "--id", application)
    assert f"used for {serial}" in ca.cli("credentials", "--all").stdout

    url = f"{server.url}/ocsp"
    assert ": good" in ocsp_status(ca_file, leaf, url)
    ca.cli("suspend", "--serial", serial, "--basis", "holder_request",
           "--grounds", "the holder's telephone call")  # fmt: skip
    held = ocsp_status(ca_file, leaf, url)
    assert ": revoked" in held and "Revocation Reason: certificateHold" in held, held
    ca.cli("resume", "--serial", serial, "--basis", "holder_request", "--grounds", "letter 3")
    assert ": good" in ocsp_status(ca_file, leaf, url)
    history = ca.cli("show", "--serial", serial).stdout
    assert "hold (certificateHold) by cli:" in history
    assert "on holder_request: the holder's telephone call" in history
    assert "audit trail intact" in ca.cli("audit", "verify").stdout
    ca.cli("revoke", "--serial", serial, "--reason", "keyCompromise", "--basis",
           "holder_request", "--grounds", "letter 4")  # fmt: skip

    # C1: the trail names the holder by subscriber id and the certificate by serial only.
    with sqlite3.connect(f"file:{ca.path / 'registry.sqlite3'}?mode=ro", uri=True) as db:
        trail = db.execute("SELECT action, target, details FROM audit_log").fetchall()
    assert {"subscriber.register", "subscriber.identify", "application.submit",
            "credential.create", "certificate.issue", "certificate.revoke"} <= {
        action for action, _, _ in trail
    }  # fmt: skip
    personal = ("11223344595", "112-233-445 95", "500100732259", "Ivanov", "Ivan Ivanovich",
                "ivanov@example.ru", "4510 123456")  # fmt: skip
    for action, target, details in trail:
        assert not [value for value in personal if value in target + details], action
    assert [json.loads(details) for action, target, details in trail
            if action == "certificate.issue" and target == serial] == [
        {"profile": "person", "subscriber": subscriber}
    ]  # fmt: skip


def test_audit_verify_names_an_edited_entry(
    served: tuple[CAHome, ServerProcess], tmp_path: Path
) -> None:
    """D3: someone with the database file drops the append-only trigger and edits an entry."""
    ca, _ = served
    copy = CAHome(tmp_path / "copy", ca.env)
    shutil.copytree(ca.path, copy.path)
    with sqlite3.connect(copy.path / "registry.sqlite3") as db:
        (seq,) = db.execute("SELECT seq FROM audit_log WHERE action = 'subscriber.register'"
                            " ORDER BY seq LIMIT 1").fetchone()  # fmt: skip
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = ?", (seq,))
    broken = copy.cli("audit", "verify", check=False)
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"error: audit trail broken at entry {seq} ")
