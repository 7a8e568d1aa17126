"""The dedicated OCSP listener (server.ocsp; server/web/ocsp_listener.py): the same answers
as /ocsp, its cache of rendered answers never outliving a status change."""

from __future__ import annotations

import base64
import os
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from protocols import ocsp
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, free_port, http


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CAHome, str, Path]]:
    folder = tmp_path_factory.mktemp("listener")
    ca = CAHome(folder / "ca")
    run_cli("init", "--home", ca.path)
    (folder / "ca.pem").write_text(ca.cli("ca-cert").stdout)
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", folder / "leaf.key", "-out", folder / "leaf.csr",
                   "-subj", "/CN=leaf")  # fmt: skip
    assert made.returncode == 0
    (folder / "leaf.pem").write_text(
        ca.cli("issue", "--profile", "tls-client", "--csr", folder / "leaf.csr").stdout
    )
    port = free_port()
    server = ServerProcess(ca, {"CA_SERVER__OCSP": f"127.0.0.1:{port}"})
    try:
        yield ca, f"http://127.0.0.1:{port}", folder
    finally:
        server.stop()


def ask(folder: Path, url: str, *args: str) -> str:
    result = openssl("ocsp", "-issuer", folder / "ca.pem", "-CAfile", folder / "ca.pem",
                     "-cert", folder / "leaf.pem", "-url", url + "/ocsp", *args)  # fmt: skip
    out = (result.stdout + result.stderr).decode()
    assert result.returncode == 0 and "Response verify OK" in out, out
    return out


def test_answers_and_a_revocation_is_never_hidden_by_the_cache(
    setup: tuple[CAHome, str, Path],
) -> None:
    ca, url, folder = setup
    assert "leaf.pem: good" in ask(folder, url, "-nonce")
    made = openssl("ocsp", "-issuer", folder / "ca.pem", "-cert", folder / "leaf.pem",
                   "-no_nonce", "-reqout", folder / "req.der")  # fmt: skip
    assert made.returncode == 0
    path = urllib.parse.quote(base64.b64encode((folder / "req.der").read_bytes()).decode(), safe="")
    first, second = http(f"{url}/ocsp/{path}"), http(f"{url}/ocsp/{path}")
    assert first.status == second.status == 200 and first.body == second.body  # second: cached
    assert first.headers["Cache-Control"].endswith("public, no-transform, must-revalidate")
    assert (
        http(f"{url}/ocsp/{path}", headers={"If-None-Match": first.headers["ETag"]}).status == 304
    )
    serial = format(
        x509.load_pem_x509_certificate((folder / "leaf.pem").read_bytes()).serial_number, "x"
    )
    ca.cli("revoke", "--serial", serial, "--reason", "keyCompromise")
    after = http(f"{url}/ocsp/{path}")
    assert ocsp.parse_ocsp_response(after.body)[1][0].status is ocsp.CertStatus.REVOKED
    assert "leaf.pem: revoked" in ask(folder, url, "-no_nonce")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/ocsp", b"", 200),
        ("POST", "/ocsp", os.urandom(300), 200),
        ("POST", "/ocsp", os.urandom(20000), 200),
        ("GET", "/ocsp/%%%", None, 200),
        ("GET", "/elsewhere", None, 404),
    ],
    ids=["empty", "random", "too-large", "bad-base64", "other-path"],
)
def test_bad_requests(
    setup: tuple[CAHome, str, Path], method: str, path: str, body: bytes | None, status: int
) -> None:
    _, url, _ = setup
    answer = http(url + path, body if method == "POST" else None)
    assert answer.status == status
    if status == 200:
        assert ocsp.parse_ocsp_response(answer.body)[0] is ocsp.OCSPResponseStatus.malformedRequest


def test_pipelined_answers_leave_in_request_order(setup: tuple[CAHome, str, Path]) -> None:
    """HTTP/1.1 pipelining (RFC 9112 9.3.2): a live nonce answer (signed, it comes later)
    and a pre-signed one sent behind it on one connection come back in request order."""
    _, url, folder = setup
    requests = []
    for name, flag in (("nonce", "-nonce"), ("plain", "-no_nonce")):
        made = openssl("ocsp", "-issuer", folder / "ca.pem", "-cert", folder / "leaf.pem",
                       flag, "-reqout", folder / f"{name}.der")  # fmt: skip
        assert made.returncode == 0
        requests.append((folder / f"{name}.der").read_bytes())
    host, port = url.removeprefix("http://").rsplit(":", 1)
    wire = b"".join(
        b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(der), der)
        for der in requests
    )
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(wire)
        received = b""
        while received.count(b"HTTP/1.1 200") < 2 or not _complete(received):
            chunk = connection.recv(65536)
            assert chunk, received
            received += chunk
    bodies = _bodies(received)
    first, second = (ocsp.parse_ocsp_response(body) for body in bodies)
    requested_nonce = ocsp.parse_ocsp_request(requests[0]).nonce
    assert requested_nonce is not None and first[2] == requested_nonce  # the live one first
    assert second[2] is None  # the pre-signed one second
    assert second[1][0].cert_id.serial == first[1][0].cert_id.serial
    assert second[1][0].status is first[1][0].status


def _bodies(data: bytes) -> list[bytes]:
    bodies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))  # fmt: skip
        bodies.append(rest[:length])
        data = rest[length:]
    return bodies


def _complete(data: bytes) -> bool:
    try:
        return len(_bodies(data)) == 2 and all(_bodies(data))
    except (StopIteration, ValueError):
        return False
