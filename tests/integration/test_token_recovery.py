"""The seen case of issue 12, section 1: a running server whose SoftHSM2 token's files are
removed and then restored from a backup answers OCSP `tryLater` meanwhile, quickly, and signs
again once the files are back, without a restart (hsm/pkcs11.py re-opens the token)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocols import ocsp
from tests.integration.cli import openssl
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http

DEADLINE_S = 60.0  # generous for a busy machine


@pytest.fixture(scope="module")
def served(
    pkcs11_ca: CAHome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CAHome, ServerProcess, Path]]:
    folder = tmp_path_factory.mktemp("token-recovery")
    (folder / "ca.pem").write_text(pkcs11_ca.cli("ca-cert").stdout)
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", folder / "leaf.key", "-out", folder / "leaf.csr",
                   "-subj", "/CN=leaf")  # fmt: skip
    assert made.returncode == 0, made.stderr
    (folder / "leaf.pem").write_text(
        pkcs11_ca.cli("issue", "--profile", "tls-client", "--csr", folder / "leaf.csr").stdout
    )
    made = openssl("ocsp", "-issuer", folder / "ca.pem", "-cert", folder / "leaf.pem", "-nonce",
                   "-reqout", folder / "nonce.der")  # fmt: skip
    assert made.returncode == 0, made.stderr
    server = ServerProcess(pkcs11_ca)
    try:
        yield pkcs11_ca, server, folder
    finally:
        server.stop()


def status_of(server: ServerProcess, request: bytes) -> ocsp.OCSPResponseStatus:
    """The responseStatus of a request with a nonce: it is signed for this request."""
    answer = http(server.url + "/ocsp", request, {"Content-Type": "application/ocsp-request"})
    assert answer.status == 200
    return ocsp.parse_ocsp_response(answer.body)[0]


def test_removed_then_restored_token_signs_again_without_a_restart(
    served: tuple[CAHome, ServerProcess, Path],
) -> None:
    ca, server, folder = served
    request = (folder / "nonce.der").read_bytes()
    assert status_of(server, request) is ocsp.OCSPResponseStatus.successful
    tokens = Path(ca.env["SOFTHSM2_CONF"]).parent / "tokens"
    shutil.copytree(tokens, folder / "backup")

    shutil.rmtree(tokens)
    tokens.mkdir()
    for _ in range(2):  # each answer comes at once; each tries the token again
        started = time.monotonic()
        assert status_of(server, request) is ocsp.OCSPResponseStatus.tryLater
        assert time.monotonic() - started < DEADLINE_S

    shutil.rmtree(tokens)
    shutil.copytree(folder / "backup", tokens)  # restored
    deadline = time.monotonic() + DEADLINE_S
    while (status := status_of(server, request)) is not ocsp.OCSPResponseStatus.successful:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)  # a signer that saw no batch since has nothing to retry yet
    assert server.process.poll() is None  # the same server, never restarted
    assert "leaf.pem: good" in openssl(
        "ocsp", "-issuer", folder / "ca.pem", "-CAfile", folder / "ca.pem", "-cert",
        folder / "leaf.pem", "-url", server.url + "/ocsp", "-nonce",
    ).stdout.decode()  # fmt: skip
