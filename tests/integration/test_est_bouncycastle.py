"""EST with a client we did not write: Bouncy Castle's EST API (Debian's libbcpkix-java),
driven by tests/integration/java/ESTClient.java, against the running server over TLS:
cacerts, simpleenroll with an enrollment code (HTTP Basic), simplereenroll with the client
certificate, serverkeygen, and polling a request that awaits approval (202). Every
certificate verifies with OpenSSL and lints clean."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from tests.integration.bouncycastle import compile_clients, run_client
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.profiles import APPROVED, APPROVED_DEVICE
from tests.integration.server_process import ServerProcess
from tests.lint import lint_certificate


@pytest.fixture(scope="module")
def classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    return compile_clients(tmp_path_factory.mktemp("java"))


class BC:
    def __init__(self, classpath: str, server: ServerProcess, ca_file: Path) -> None:
        self.classpath = classpath
        self.address = f"localhost:{server.tls_port}"
        self.ca_file = ca_file

    def start(self, operation: str, out: Path, *args: str | Path) -> subprocess.Popen[str]:
        """The client running in the background, its output lines to be read."""
        return subprocess.Popen(
            ["java", "-cp", self.classpath, "ESTClient", operation, self.address,
             str(self.ca_file), str(out), *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(self, operation: str, out: Path, *args: str | Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        result = run_client(self.classpath, "ESTClient", operation, self.address, self.ca_file,
                            out, *args)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, classpath: str
) -> Iterator[tuple[CAHome, BC, Path]]:
    folder = tmp_path_factory.mktemp("bc")
    ca = CAHome(folder / "ca")
    run_cli("init", "--home", ca.path)
    settings = ca.path / "settings.toml"
    text = settings.read_text()
    labels = text.index("\n", text.index("[est.labels]")) + 1
    settings.write_text(text[:labels] + f'{APPROVED} = "{APPROVED}"\n' + text[labels:]
                        + APPROVED_DEVICE)  # fmt: skip
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    server = ServerProcess(ca, {"CA_EST__PENDING_RETRY_AFTER_SECONDS": "1"})
    try:
        yield ca, BC(classpath, server, ca_file), folder
    finally:
        server.stop()


def verified(ca_file: Path, cert_file: Path) -> x509.Certificate:
    result = openssl("verify", "-CAfile", ca_file, cert_file)
    assert result.returncode == 0, result.stdout + result.stderr
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert lint_certificate(certificate.public_bytes(Encoding.DER)) == []
    return certificate


def code(ca: CAHome, subject: str) -> list[str]:
    return ca.cli("enroll-code", "--profile", "tls-client", "--subject", subject).stdout.split()


def test_cacerts(world: tuple[CAHome, BC, Path]) -> None:
    _, bc, folder = world
    bc.run("cacerts", folder / "cacerts")
    got = x509.load_pem_x509_certificate((folder / "cacerts" / "cacerts.pem").read_bytes())
    assert got == x509.load_pem_x509_certificate(bc.ca_file.read_bytes())


def test_simpleenroll_then_simplereenroll(world: tuple[CAHome, BC, Path]) -> None:
    ca, bc, folder = world
    user, secret = code(ca, "CN=bc-device")
    bc.run("simpleenroll", folder / "first", "CN=bc-device", user, secret)
    first = verified(bc.ca_file, folder / "first" / "cert.pem")
    assert first.subject.rfc4514_string() == "CN=bc-device"
    p12 = folder / "first" / "client.p12"
    exported = openssl("pkcs12", "-export", "-in", folder / "first" / "cert.pem",
                       "-inkey", folder / "first" / "key.pem", "-out", p12,
                       "-passout", "pass:p12-pass")  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    bc.run("simplereenroll", folder / "second", "CN=bc-device", p12, "p12-pass")
    second = verified(bc.ca_file, folder / "second" / "cert.pem")
    assert second.subject == first.subject and second.serial_number != first.serial_number


def test_serverkeygen(world: tuple[CAHome, BC, Path]) -> None:
    ca, bc, folder = world
    user, secret = code(ca, "CN=bc-keygen")
    bc.run("serverkeygen", folder / "keygen", "CN=bc-keygen", user, secret)
    certificate = verified(bc.ca_file, folder / "keygen" / "cert.pem")
    key = load_pem_private_key((folder / "keygen" / "key.pem").read_bytes(), None)
    assert certificate.public_key() == key.public_key()


DEVICE = "CN=Счётчик 7,O=ООО Ромашка"


def test_rfc7030_4_2_3_bouncy_castle_polls_a_pending_request_until_approved(
    world: tuple[CAHome, BC, Path],
) -> None:
    """The 202 (Retry-After, no body) is read by Bouncy Castle's client, which waits and
    repeats the request until the operator approves, then gets the certificate."""
    ca, bc, folder = world
    user, secret = ca.cli("enroll-code", "--profile", APPROVED, "--subject", DEVICE).stdout.split()
    out = folder / "pending"
    out.mkdir()
    client = bc.start("pendingenroll", out, "", user, secret, APPROVED, "120")
    try:
        application = wait_for_application(ca, client)
        first = client.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("pending: retry after "), first or client.communicate()[1]
        assert 0 < int(first.split()[3]) <= 1000  # Retry-After: 1 (seconds)
        approved = ca.cli("approve", "--id", application).stdout
        assert approved.startswith(f"approved {application}: issued ")
        _, errors = client.communicate(timeout=120)
        assert client.returncode == 0, errors
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    certificate = verified(bc.ca_file, out / "cert.pem")
    assert format(certificate.serial_number, "x") == approved.split()[-1]
    assert certificate.subject.rfc4514_string() == DEVICE


def wait_for_application(ca: CAHome, client: subprocess.Popen[str]) -> str:
    """The id of the one application waiting, once the client's request made it."""
    deadline = time.monotonic() + 60
    while not (listed := ca.cli("applications").stdout.split()):
        assert client.poll() is None, client.communicate()
        assert time.monotonic() < deadline, "no application was made"
        time.sleep(0.2)
    return listed[0]
