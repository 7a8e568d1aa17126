"""The dedicated OCSP listener (server.ocsp; server/web/ocsp_listener.py): the same answers
as /ocsp, its cache of rendered answers never outliving a status change."""

from __future__ import annotations

import base64
import os
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
