"""Hostile clients against a real `serve` process (main HTTP, HTTPS and the dedicated OCSP
listener) with a small connection cap and header timeout: long lines answered 414/431, a
200 MB URL cut off with the server's memory unmoved, slowloris connections closed, the
connections beyond the cap refused and an ordinary client served once they are gone; the
server's stderr holds one line per kind of refusal and no traceback."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.cli import run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, free_port, http

CAP = 40
HEADER_TIMEOUT = 2
DEADLINE = 30.0


@dataclass
class Served:
    server: ServerProcess
    ocsp_port: int
    stderr: list[str] = field(default_factory=list)
    reading: threading.Thread | None = None


@pytest.fixture(scope="module")
def served(soft_ca: CAHome) -> Iterator[Served]:
    ocsp_port = free_port()
    server = ServerProcess(
        soft_ca,
        {
            "CA_SERVER__OCSP": f"127.0.0.1:{ocsp_port}",
            "CA_LIMITS__MAX_CONNECTIONS": str(CAP),
            "CA_LIMITS__HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        },
    )
    served = Served(server, ocsp_port)
    stderr = server.process.stderr
    assert stderr is not None
    served.reading = threading.Thread(target=lambda: served.stderr.extend(stderr), daemon=True)
    served.reading.start()  # a full pipe would stall the server
    try:
        yield served
    finally:
        if server.process.poll() is None:
            server.stop()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)


def answer_then_close(sock: socket.socket) -> bytes:
    """What the server sends until it closes (a reset is a close)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    sock.close()
    return data


def exchange(port: int, data: bytes) -> bytes:
    sock = connect(port)
    sock.sendall(data)
    return answer_then_close(sock)


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_rfc9110_15_5_15_a_long_request_target_is_answered_414_on_http_and_https(
    served: Served,
) -> None:
    long_target = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert exchange(served.server.port, long_target).split(b" ")[1] == b"414"
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with context.wrap_socket(connect(served.server.tls_port)) as tls:
        tls.sendall(long_target)
        assert answer_then_close(tls).split(b" ")[1] == b"414"


def test_rfc6585_5_a_long_header_field_is_answered_431(served: Served) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n"
    assert exchange(served.server.port, head).split(b" ")[1] == b"431"


def test_rfc9110_15_5_15_the_ocsp_listener_cuts_off_a_200_mb_url(served: Served) -> None:
    """Seen on main: one connection sending a 200 MB URL cost 51 s of CPU and 350 MB."""
    long_url = b"GET /ocsp/" + b"A" * 9000 + b" HTTP/1.1\r\n\r\n"
    assert exchange(served.ocsp_port, long_url).startswith(b"HTTP/1.1 414 ")
    before = resident_kib(served.server.process.pid)
    sock = connect(served.ocsp_port)
    sent, chunk = 0, b"A" * 65536
    with contextlib.suppress(ConnectionResetError, BrokenPipeError), sock:
        sock.sendall(b"GET /ocsp/")
        while sent < 200 << 20:
            sock.sendall(chunk)
            sent += len(chunk)
    assert sent < 64 << 20  # stopped at the limit; the rest is what socket buffers held
    assert resident_kib(served.server.process.pid) - before < 32 * 1024


def test_rfc9112_9_5_slowloris_beyond_the_cap_is_refused_and_closed(served: Served) -> None:
    """Seen on main: 1,100 slowloris connections took the server down. Now the cap refuses
    those beyond it with a 503, the header timeout closes the others, and then an ordinary
    client is served."""
    slow = []
    for _ in range(CAP + 20):
        sock = connect(served.server.port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        slow.append(sock)
    answers = [answer_then_close(sock) for sock in slow]  # each ends within the deadline
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503 ")]
    assert len(refused) == 20
    assert all(a == b"" for a in answers if a not in refused)  # closed by the header timeout
    assert http(served.server.url + "/healthz").status == 200


def test_refusals_are_counted_by_listener_and_reason(served: Served) -> None:
    text = http(served.server.url + "/metrics").body.decode()
    for sample in (
        'ca_http_refusals_total{listener="http",reason="target_too_long"} 1.0',
        'ca_http_refusals_total{listener="https",reason="target_too_long"} 1.0',
        'ca_http_refusals_total{listener="http",reason="field_too_long"} 1.0',
        'ca_http_refusals_total{listener="ocsp",reason="target_too_long"} 2.0',
        'ca_http_refusals_total{listener="http",reason="too_many_connections"} 20.0',
        f'ca_http_refusals_total{{listener="http",reason="header_timeout"}} {CAP}.0',
    ):
        assert sample in text, sample
    assert 'ca_http_connections_open{listener="ocsp"} 0.0' in text


def test_the_log_says_each_kind_once_and_never_a_traceback(served: Served) -> None:
    served.server.stop()
    assert served.reading is not None
    served.reading.join(DEADLINE)  # the whole of stderr, to its end
    log = "".join(served.stderr)
    assert "Traceback" not in log, log
    for listener, reason in (
        ("http", "target_too_long"),
        ("https", "target_too_long"),
        ("http", "field_too_long"),
        ("ocsp", "target_too_long"),
        ("http", "too_many_connections"),
        ("http", "header_timeout"),
    ):
        assert log.count(f"{listener} listener: {reason}:") == 1, (listener, reason, log)


def test_serve_refuses_a_connection_cap_beyond_its_open_files_limit(soft_ca: CAHome) -> None:
    """The cap must refuse clients before the process runs out of descriptors."""
    result = run_cli(
        "serve", "--home", soft_ca.path, "--http", f"127.0.0.1:{free_port()}",
        env={**soft_ca.env, "CA_LIMITS__MAX_CONNECTIONS": "1000000"}, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "limits.max_connections" in result.stderr
    assert "Traceback" not in result.stderr and "serving" not in result.stdout
