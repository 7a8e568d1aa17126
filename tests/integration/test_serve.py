"""`python -m server serve` on loopback: /healthz, /metrics and the CA certificate."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from cryptography import x509

from tests.integration.cli import ROOT
from tests.integration.conftest import CAHome


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@pytest.fixture(scope="module")
def server(soft_ca: CAHome) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--home", str(soft_ca.path),
         "--http", f"127.0.0.1:{port}"],
        cwd=ROOT, env={**os.environ, **soft_ca.env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # the server says when it listens
    assert line.startswith("serving CA"), line + process.stderr.read()
    yield f"http://127.0.0.1:{port}"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, process.stderr.read()


def test_healthz(server: str) -> None:
    status, body, _ = get(server + "/healthz")
    assert (status, body) == (200, b"ok\n")


def test_metrics_report_the_signing_pipeline(server: str) -> None:
    status, body, headers = get(server + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    for name in ("ca_signing_queue_depth", "ca_signing_batch_size", "ca_signing_wait_seconds",
                 "ca_ocsp_responses_total", "ca_ocsp_presigned_responses",
                 "ca_crl_builds_total", "ca_crl_number"):  # fmt: skip
        assert name in text, name


def test_ca_certificate_is_served_for_aia(server: str, soft_ca: CAHome) -> None:
    status, body, headers = get(server + "/ca/demo.crt")
    assert status == 200 and headers["Content-Type"] == "application/pkix-cert"
    pem = soft_ca.cli("ca-cert").stdout
    assert x509.load_der_x509_certificate(body) == x509.load_pem_x509_certificate(pem.encode())
    assert get(server + "/ca/other.crt")[0] == 404


def test_serve_exits_cleanly_on_sigterm(soft_ca: CAHome) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--home", str(soft_ca.path),
         "--http", f"127.0.0.1:{port}"],
        cwd=ROOT, env={**os.environ, **soft_ca.env}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().startswith("serving")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30


def test_several_workers_share_one_port_and_stop_together(soft_ca: CAHome) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--home", str(soft_ca.path),
         "--http", f"127.0.0.1:{port}"],
        cwd=ROOT, env={**os.environ, **soft_ca.env, "CA_SERVER__WORKERS": "2"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("serving CA"), line + (process.stderr.read() if process.stderr else "")
    for _ in range(20):
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    with socket.socket() as sock:  # no worker is left listening on the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        sock.bind(("127.0.0.1", port))
