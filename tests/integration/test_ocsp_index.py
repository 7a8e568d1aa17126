"""`serve` with two workers and the node's OCSP index file: a revocation returns once
every worker serves it, and a restarted server answers from the file the workers share."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from server.status.ocsp_index import IndexCorrupt, OCSPIndex
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http

WORKERS = {"CA_SERVER__WORKERS": "2"}
ASKED = 24  # new connections: the kernel spreads them over both workers (SO_REUSEPORT)


def issue(ca: CAHome, folder: Path, name: str) -> x509.Certificate:
    key, csr = folder / f"{name}.key", folder / f"{name}.csr"
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")  # fmt: skip
    assert made.returncode == 0, made.stderr
    pem = ca.cli("issue", "--profile", "tls-client", "--csr", csr).stdout
    return x509.load_pem_x509_certificate(pem.encode())


def statuses(url: str, ca: x509.Certificate, certificate: x509.Certificate) -> set[str]:
    """What ASKED requests without nonce, each on a new connection, were answered."""
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, ca, hashes.SHA1())
        .build()
        .public_bytes(Encoding.DER)
    )
    seen = set()
    for _ in range(ASKED):
        answer = http(url + "/ocsp", request, {"Content-Type": "application/ocsp-request"})
        assert answer.status == 200
        response = ocsp.load_der_ocsp_response(answer.body)
        assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        seen.add(response.certificate_status.name)
    return seen


def wait_for_index(path: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, IndexCorrupt):  # not written yet, or mid-write
            if OCSPIndex(path).count >= count:
                return
        time.sleep(0.1)  # polling the file the server writes, with a deadline
    raise AssertionError(f"no index file of {count} responses at {path}")


def test_workers_serve_a_revocation_at_once_and_a_restart_answers_from_the_file(
    tmp_path: Path,
) -> None:
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path)
    ca = x509.load_pem_x509_certificate(home.cli("ca-cert").stdout.encode())
    certificates = [issue(home, tmp_path, name) for name in ("one", "two")]
    index = home.path / "ocsp-index.bin"
    server = ServerProcess(home, WORKERS)
    try:
        wait_for_index(index, len(certificates))
        assert statuses(server.url, ca, certificates[0]) == {"GOOD"}
        serial = format(certificates[0].serial_number, "x")
        home.cli("revoke", "--serial", serial, "--reason", "keyCompromise")
        assert statuses(server.url, ca, certificates[0]) == {"REVOKED"}  # every worker
    finally:
        server.stop()
    wait_for_index(index, len(certificates))
    restarted = ServerProcess(home, WORKERS)
    try:
        assert statuses(restarted.url, ca, certificates[0]) == {"REVOKED"}
        assert statuses(restarted.url, ca, certificates[1]) == {"GOOD"}
    finally:
        restarted.stop()
    assert restarted.process.stderr is not None
    log = restarted.process.stderr.read()
    assert log.count("answering from the OCSP index file") == 2, log
