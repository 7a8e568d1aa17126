"""`serve` heals itself and tells the truth about its health (issue 12, section 1): real
`serve` processes on loopback whose signers and workers are killed with SIGKILL, real
clients (curl for EST, `openssl ocsp`, `openssl cmp`) before, during and after."""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from protocols import crl as crl_codec
from tests.faults.fleet import Fleet, wait_until
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import http

LEASE_S, RENEW_S = 3, 1  # short, so that a take-over is seen quickly


@dataclass
class Clients:
    """A CA home, its CA certificate, and the clients a newcomer would use."""

    ca: CAHome
    folder: Path
    ca_file: Path
    ca_subject: str

    def key(self, name: str) -> Path:
        path = self.folder / f"{name}.key"
        made = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-out", path)  # fmt: skip
        assert made.returncode == 0, made.stderr
        return path

    def code(self, subject: str) -> tuple[str, str]:
        lines = self.ca.cli("enroll-code", "--profile", "tls-client", "--subject", subject)
        credential_id, secret = lines.stdout.splitlines()
        return credential_id, secret

    def issue(self, name: str) -> Path:
        csr, pem = self.folder / f"{name}.csr", self.folder / f"{name}.pem"
        made = openssl("req", "-new", "-key", self.key(name), "-out", csr, "-subj", f"/CN={name}")
        assert made.returncode == 0, made.stderr
        pem.write_text(self.ca.cli("issue", "--profile", "tls-client", "--csr", csr).stdout)
        return pem

    def est_enroll(self, fleet: Fleet, name: str) -> int:
        """RFC 7030 4.2.1 simpleenroll with an enrollment code (curl); the HTTP status."""
        user, password = self.code(f"CN={name}")
        der = self.folder / f"{name}.der"
        made = openssl("req", "-new", "-key", self.key(name), "-subj", f"/CN={name}",
                       "-outform", "DER", "-out", der)  # fmt: skip
        assert made.returncode == 0, made.stderr
        body = self.folder / f"{name}.b64"
        body.write_bytes(base64.encodebytes(der.read_bytes()))
        result = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(self.ca_file),
             "-u", f"{user}:{password}", "-H", "Content-Type: application/pkcs10",
             "--data-binary", f"@{body}",
             f"{fleet.server.tls_url}/.well-known/est/simpleenroll"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return int(result.stdout)

    def ocsp_with_nonce(self, fleet: Fleet, cert: Path) -> str:
        """RFC 8954: a request with a nonce is signed fresh; what openssl printed."""
        result = openssl("ocsp", "-issuer", self.ca_file, "-CAfile", self.ca_file,
                         "-url", fleet.url + "/ocsp", "-cert", cert, "-nonce")  # fmt: skip
        return (result.stdout + result.stderr).decode()

    def cmp_ir(self, fleet: Fleet, name: str) -> subprocess.CompletedProcess:
        """RFC 9483 4.1.1: ir protected by the enrollment code's MAC."""
        ref, secret = self.code(f"CN={name}")
        return openssl("cmp", "-server", f"127.0.0.1:{fleet.server.port}",
                       "-path", ".well-known/cmp", "-recipient", self.ca_subject,
                       "-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}",
                       "-subject", f"/CN={name}", "-newkey", self.key(name),
                       "-implicit_confirm", "-unprotected_errors",
                       "-certout", self.folder / f"{name}.pem")  # fmt: skip


@pytest.fixture
def clients(tmp_path: Path) -> Clients:
    ca = CAHome(tmp_path / "ca")
    run_cli("init", "--home", ca.path, "--subject", "CN=Fault CA,O=Test,C=RU")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    subject = x509.load_pem_x509_certificate(ca_file.read_bytes()).subject
    ca_subject = "/" + "/".join(reversed(subject.rfc4514_string().split(",")))
    return Clients(ca, tmp_path, ca_file, ca_subject)


def serve(clients: Clients, **settings: str) -> Iterator[Fleet]:
    env = {"CA_SUPERVISOR__DUTY_LEASE_SECONDS": str(LEASE_S),
           "CA_SUPERVISOR__DUTY_RENEW_SECONDS": str(RENEW_S)}  # fmt: skip
    env.update({f"CA_{key.upper()}": value for key, value in settings.items()})
    fleet = Fleet(clients.ca, env)
    try:
        yield fleet
    finally:
        if fleet.server.process.poll() is None:
            fleet.stop()


@pytest.fixture
def one_signer(clients: Clients) -> Iterator[Fleet]:
    # a long first restart delay keeps the signer down long enough to look at
    yield from serve(clients, pipeline__signer_processes="1",
                     supervisor__restart_delay_seconds="10")  # fmt: skip


@pytest.fixture
def two_workers(clients: Clients) -> Iterator[Fleet]:
    yield from serve(clients, server__workers="2")


def test_a_killed_signer_is_reported_then_restarted_and_every_protocol_signs_again(
    clients: Clients, one_signer: Fleet
) -> None:
    """RFC 7030 4.2.1, RFC 8954 / RFC 6960 2.3 (tryLater), RFC 9483 4.1.1 / RFC 4210
    5.2.3 (systemUnavail) while the only signer is dead and after it is restarted."""
    fleet = one_signer
    cert = clients.issue("status-subject")
    assert fleet.health().body == b"ok\n"
    (signer,) = fleet.children("signer")
    fleet.kill(signer)
    down = wait_until(lambda: (a := fleet.health()).status == 503 and a, "healthz says 503")
    assert down.body == b"unhealthy: no signer process is up\n"
    assert fleet.metric("ca_signing_signers_up") == 0
    # none is up: every protocol answers at once in its own words, none hangs
    assert clients.est_enroll(fleet, "est-during") == 503
    assert "trylater" in clients.ocsp_with_nonce(fleet, cert).lower()
    refused = clients.cmp_ir(fleet, "cmp-during")
    assert refused.returncode != 0 and b"systemUnavail" in refused.stderr + refused.stdout
    assert fleet.children("signer") == []  # still down: the answers above were while none was

    wait_until(lambda: fleet.health().status == 200, "healthz ok again after the restart")
    (restarted,) = fleet.children("signer")
    assert restarted != signer
    assert clients.est_enroll(fleet, "est-after") == 200
    answer = clients.ocsp_with_nonce(fleet, cert)
    assert "Response verify OK" in answer and "status-subject.pem: good" in answer
    assert clients.cmp_ir(fleet, "cmp-after").returncode == 0
    assert fleet.metric("ca_process_restarts_total", kind="signer") == 1
    assert fleet.metric("ca_process_restarts_total", kind="worker") == 0
    assert fleet.metric("ca_signing_signers_up") == 1
    log = fleet.stop()
    assert log.count(f"signer 0 (pid {signer}) was killed by signal 9") == 1, log
    assert fleet.children("signer") == []  # no orphan signer after SIGTERM


def test_a_killed_worker_is_restarted_and_the_port_answers(two_workers: Fleet) -> None:
    fleet = two_workers
    first, second = fleet.children("worker")
    holder = fleet.duty_holder()
    victim = first if holder == second else second  # not the duty holder: that is below
    fleet.kill(victim)
    workers = wait_until(
        lambda: len(w := fleet.children("worker")) == 2 and victim not in w and w,
        "a new worker in place of the killed one",
    )
    assert set(workers) - {victim, holder}
    wait_until(lambda: fleet.metric("ca_process_restarts_total", kind="worker") == 1,
               "the worker restart counted")  # fmt: skip
    for _ in range(20):  # both workers answer on the shared port (SO_REUSEPORT)
        assert fleet.health().body == b"ok\n"
    assert fleet.duty_holder() == holder  # the duties did not move
    log = fleet.stop()
    assert log.count(f"(pid {victim}) was killed by signal 9") == 1, log


def test_a_killed_duty_holder_hands_over_and_a_later_revocation_reaches_the_crl(
    clients: Clients, two_workers: Fleet
) -> None:
    """RFC 5280 5.3: a certificate revoked right after the duty holder died is revoked at
    once and listed in the CRL the new holder builds."""
    fleet = two_workers
    cert = clients.issue("to-revoke")
    serial = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    holder = wait_until(fleet.duty_holder, "a duty holder")
    assert holder in fleet.children("worker")
    fleet.kill(holder)
    killed_at = time.monotonic()
    # a revocation waits for every live server process; the killed worker's heartbeat is
    # still fresh (server/status/feed.py ALIVE_WITHIN, 5 s), but it is known to be gone,
    # so a change made at once is not held up by it: a timeout shorter than ALIVE_WITHIN
    clients.ca.env["CA_OCSP__PROPAGATION_TIMEOUT_SECONDS"] = "2"
    clients.ca.cli("revoke", "--serial", format(serial, "x"), "--reason", "keyCompromise")
    successor = wait_until(
        lambda: (h := fleet.duty_holder()) not in (None, holder) and h,
        "another worker takes the duty lease",
    )
    assert time.monotonic() - killed_at < LEASE_S + 2 * RENEW_S + 10  # slack for the machine
    assert successor in fleet.children("worker")

    def listed() -> bytes | None:
        answer = http(f"{fleet.url}/crl/demo.crl")
        if answer.status == 200 and serial in crl_codec.parse_crl(answer.body).entries:
            return answer.body
        return None

    der = wait_until(listed, "the revoked serial in the CRL")
    (clients.folder / "after.crl").write_bytes(der)
    printed = openssl("crl", "-inform", "DER", "-in", clients.folder / "after.crl", "-noout",
                      "-text", "-CAfile", clients.ca_file)  # fmt: skip
    out = (printed.stdout + printed.stderr).decode()
    assert printed.returncode == 0 and "verify OK" in out, out
    listed_serials = {int(x, 16) for x in re.findall(r"Serial Number: ([0-9A-F]+)", out)}
    assert serial in listed_serials, out
    wait_until(lambda: fleet.health().status == 200, "healthz ok with the new holder")
    # each worker tells whether it holds the duties; the shared port reaches both
    wait_until(lambda: fleet.metric("ca_duty_holder") == 1, "the holder's ca_duty_holder 1")
    wait_until(lambda: fleet.metric("ca_duty_holder") == 0, "the other's ca_duty_holder 0")
    fleet.stop()


def test_when_serve_itself_is_killed_no_worker_or_signer_is_left(two_workers: Fleet) -> None:
    fleet = two_workers
    children = fleet.children("worker") + fleet.children("signer")
    assert len(children) == 3
    assert http(fleet.url + "/livez").body == b"ok\n"
    fleet.kill(fleet.server.process.pid)
    fleet.server.process.wait(timeout=30)

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in children)

    wait_until(gone, "the orphaned workers and signers stopped")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
