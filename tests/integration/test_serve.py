"""`python -m server serve` on loopback: /healthz, /metrics, the CA certificate, workers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.cli import run_cli
from tests.integration.conftest import ENGINES, CAHome, init_home
from tests.integration.server_process import ServerProcess, http


@pytest.fixture(scope="module", params=ENGINES)
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CAHome:
    """A CA home with its registry on each engine in turn."""
    if request.param == "sqlite":
        return request.getfixturevalue("soft_ca")
    return init_home(tmp_path_factory.mktemp("serve") / "ca", request, request.param)


@pytest.fixture(scope="module")
def server(home: CAHome) -> Iterator[str]:
    process = ServerProcess(home)
    yield process.url
    process.stop()  # asserts a clean exit on SIGTERM


def test_healthz(server: str) -> None:
    answer = http(server + "/healthz")
    assert (answer.status, answer.body) == (200, b"ok\n")


def test_livez(server: str) -> None:
    answer = http(server + "/livez")
    assert (answer.status, answer.body) == (200, b"ok\n")


def test_metrics_report_signing_ocsp_and_crls(server: str) -> None:
    answer = http(server + "/metrics")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
    text = answer.body.decode()
    for name in ("ca_signing_queue_depth", "ca_signing_batch_size", "ca_signing_wait_seconds",
                 "ca_ocsp_responses_total", "ca_ocsp_presigned_responses",
                 "ca_crl_builds_total", "ca_crl_number", "ca_signing_signers_up",
                 "ca_duty_holder", "ca_process_restarts_total"):  # fmt: skip
        assert name in text, name


def test_ca_certificate_is_served_for_aia(server: str, home: CAHome) -> None:
    answer = http(server + "/ca/demo.crt")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/pkix-cert"
    pem = home.cli("ca-cert").stdout
    assert x509.load_der_x509_certificate(answer.body) == x509.load_pem_x509_certificate(
        pem.encode()
    )
    assert http(server + "/ca/other.crt").status == 404


def test_several_workers_share_one_port_and_stop_together(home: CAHome) -> None:
    process = ServerProcess(home, {"CA_SERVER__WORKERS": "2"})
    for _ in range(20):
        assert http(process.url + "/healthz").status == 200
    process.stop()
    with socket.socket() as sock:  # no worker is left listening on the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        sock.bind(("127.0.0.1", process.port))


def test_the_duty_holder_anchors_the_audit_trail(tmp_path: Path) -> None:
    """D3: entries made by commands that do not sign (here `register`) are anchored by the
    server's checkpoint duty within `audit.checkpoint_interval_seconds`, and logged."""
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path)
    process = ServerProcess(home, {"CA_AUDIT__CHECKPOINT_INTERVAL_SECONDS": "0.2"})
    try:
        home.cli("register", "--kind", "legal_entity", "--name", "OOO Romashka",
                 "--inn", "7707083893", "--ogrn", "1027700132195")  # fmt: skip
        deadline = time.monotonic() + 60
        report = home.cli("audit", "verify").stdout
        while "not anchored" in report and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the file the server appends to, with a deadline
            report = home.cli("audit", "verify").stdout
    finally:
        process.stop()
    assert "not anchored" not in report and "intact since checkpoint" in report
    assert process.process.stderr is not None
    logged = [line for line in process.process.stderr.read().splitlines()
              if "audit checkpoint" in line]  # fmt: skip
    newest = (home.path / "audit-checkpoints").read_text().splitlines()[-1]
    assert any(line.endswith(newest) for line in logged)
