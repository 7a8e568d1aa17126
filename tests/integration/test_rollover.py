"""`python -m server rollover` against a running server (regulation K2, K3; RFC 9810 4.4),
with the software backend and with a SoftHSM2 token: the server, never restarted, answers
OCSP for the new generation's certificates within its stated bound and keeps answering
for the old one's; an old certificate revoked after the rollover is listed in the old
generation's CRL only; the new generation's CRL is served under its key id's name.
OpenSSL is the relying party."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.integration.test_ocsp_crl import issue, serial_hex
from tests.softhsm import make_token

BOUND_S = 5.0  # the stated bound is about one second (README, Operating); CI is slow


@dataclass
class Rolled:
    ca: CAHome
    server: ServerProcess
    folder: Path
    old_root: Path
    new_root: Path
    key_id: str
    old: Path  # issued before the rollover
    new: Path  # issued after it

    def ocsp(self, root: Path, cert: Path) -> str:
        result = openssl("ocsp", "-issuer", root, "-CAfile", root, "-cert", cert,
                         "-url", self.server.url + "/ocsp")  # fmt: skip
        return (result.stdout + result.stderr).decode()


def eventually(check: object, what: str) -> str:
    """Poll `check()` (a callable returning (done, detail)) until done or BOUND_S."""
    deadline = time.monotonic() + BOUND_S
    while True:
        done, detail = check()  # type: ignore[operator]
        if done:
            return detail
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {BOUND_S} s: {detail}")
        time.sleep(0.2)


@pytest.fixture(scope="module", params=["soft", "pkcs11"])
def rolled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rolled]:
    folder = tmp_path_factory.mktemp(f"rollover-{request.param}")
    args: list[str] = ["--subject", "CN=Rollover CA,O=Test,C=RU"]
    env: dict[str, str] = {}
    if request.param == "pkcs11":
        token = make_token(folder, label="ca")
        env = {**token.environment(), "CA_HSM_PIN": token.pin}
        args += ["--backend", "pkcs11", "--token-label", token.label, "--module", token.module]
    ca = CAHome(folder / "ca", env)
    run_cli("init", "--home", ca.path, *args, env=env)
    old_root = folder / "old-root.pem"
    old_root.write_text(ca.cli("ca-cert").stdout)
    old = issue(ca, folder, "old")
    server = ServerProcess(ca)
    try:
        assert ": good" in Rolled(ca, server, folder, old_root, old_root, "", old, old).ocsp(
            old_root, old)  # fmt: skip
        out = ca.cli("rollover", "--reason", "integration test").stdout
        found = re.search(r"key id ([0-9a-f]+)", out)
        assert found, out
        new_root = folder / "new-root.pem"
        new_root.write_text(ca.cli("ca-cert").stdout)
        new = issue(ca, folder, "new")
        yield Rolled(ca, server, folder, old_root, new_root, found[1], old, new)
    finally:
        server.stop()


def test_k2_the_new_certificates_chain_to_the_new_root(rolled: Rolled) -> None:
    result = openssl("verify", "-CAfile", rolled.new_root, rolled.new)
    assert result.returncode == 0, result.stdout + result.stderr
    assert openssl("verify", "-CAfile", rolled.old_root, rolled.new).returncode != 0


def test_rfc6960_a_running_server_answers_for_the_new_generation_without_a_restart(
    rolled: Rolled,
) -> None:
    def good() -> tuple[bool, str]:
        out = rolled.ocsp(rolled.new_root, rolled.new)
        return "Response verify OK" in out and ": good" in out, out

    eventually(good, "a verified `good` for the new certificate")


def test_k3_an_old_certificate_revoked_after_the_rollover_is_revoked_by_the_old_key(
    rolled: Rolled,
) -> None:
    rolled.ca.cli("revoke", "--serial", serial_hex(rolled.old), "--reason", "keyCompromise")
    out = rolled.ocsp(rolled.old_root, rolled.old)
    assert "Response verify OK" in out and ": revoked" in out, out
    serial = x509.load_pem_x509_certificate(rolled.old.read_bytes()).serial_number

    def listed(name: str) -> tuple[bool, list[int]]:
        answer = http(f"{rolled.server.url}/crl/{name}.crl")
        if answer.status != 200:
            return False, []
        return True, [entry.serial_number for entry in x509.load_der_x509_crl(answer.body)]

    def old_crl() -> tuple[bool, str]:
        done, serials = listed("demo")
        return done and serial in serials, str(serials)

    eventually(old_crl, "the old certificate in the old generation's CRL")
    done, new_serials = listed(f"demo-{rolled.key_id}")
    assert done and serial not in new_serials
