"""CMP with a client we did not write: Bouncy Castle's CMP/CRMF API (Debian's
libbcpkix-java), driven by tests/integration/java/CMPClient.java against the running server
over HTTP (RFC 6712). The client checks each answer itself (protection, transactionID,
recipNonce, body type, certReqId, the certificate is ours and for its key); here every
certificate verifies with OpenSSL and lints clean, and the registry shows what was done."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.bouncycastle import compile_clients, run_client
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess
from tests.lint import lint_certificate


@dataclass
class World:
    ca: CAHome
    server: ServerProcess
    folder: Path
    ca_file: Path
    classpath: str

    def run(self, operation: str, *args: str | Path) -> list[str]:
        url = f"{self.server.url}/.well-known/cmp"
        result = run_client(self.classpath, "CMPClient", operation, url, self.ca_file, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.splitlines()

    def code(self, subject: str) -> list[str]:
        return self.ca.cli("enroll-code", "--profile", "tls-client", "--subject",
                           subject).stdout.split()  # fmt: skip

    def verified(self, out: Path) -> x509.Certificate:
        certificate = x509.load_der_x509_certificate((out / "cert.der").read_bytes())
        pem = out / "cert.pem"
        pem.write_bytes(certificate.public_bytes(Encoding.PEM))
        result = openssl("verify", "-CAfile", self.ca_file, pem)
        assert result.returncode == 0, result.stdout + result.stderr
        assert lint_certificate(certificate.public_bytes(Encoding.DER)) == []
        return certificate

    def status(self, certificate: x509.Certificate) -> str:
        shown = self.ca.cli("show", "--serial", format(certificate.serial_number, "x")).stdout
        return next(line.split()[-1] for line in shown.splitlines() if line.startswith("status"))

    def enrolled(self, name: str) -> tuple[Path, x509.Certificate]:
        """A holder: ir with a fresh code (MAC), confirmed."""
        reference, secret = self.code(f"CN={name}")
        out = self.folder / name
        out.mkdir()
        assert self.run("ir-mac", out, reference, secret, f"CN={name}") == ["ip accepted",
                                                                           "pkiconf"]  # fmt: skip
        return out, self.verified(out)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("bc-cmp")
    classpath = compile_clients(folder / "classes")
    ca = CAHome(folder / "ca")
    run_cli("init", "--home", ca.path)
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    server = ServerProcess(ca)
    try:
        yield World(ca, server, folder, ca_file, classpath)
    finally:
        server.stop()


def test_rfc9483_4_1_1_bouncy_castle_enrols_with_a_mac_and_confirms(world: World) -> None:
    """ir under PasswordBasedMac (SHA-256, HMAC-SHA256), certConf; the MAC of each answer
    verifies under the shared secret (4.1.5)."""
    _, certificate = world.enrolled("bc-cmp-device")
    assert certificate.subject.rfc4514_string() == "CN=bc-cmp-device"
    assert world.status(certificate) == "good"


def test_rfc9483_4_1_2_and_4_1_3_bouncy_castle_certifies_and_updates_a_key_by_signature(
    world: World,
) -> None:
    """cr signed by a holder's certificate (sender its subject, senderKID its SKI, the
    certificate in extraCerts), then kur of the new certificate; each signed answer verifies
    with the first extraCerts certificate, which the CA issued (3.3)."""
    out, holder = world.enrolled("bc-cmp-holder")
    second = world.folder / "bc-cmp-second"
    second.mkdir()
    assert world.run("cr-sig", second, out / "key.der", out / "cert.der",
                     "CN=bc-cmp-holder") == ["cp accepted", "pkiconf"]  # fmt: skip
    certified = world.verified(second)
    assert certified.subject == holder.subject and certified.serial_number != holder.serial_number
    updated = world.folder / "bc-cmp-updated"
    updated.mkdir()
    assert world.run("kur-sig", updated, second / "key.der", second / "cert.der") == [
        "kup accepted", "pkiconf",
    ]  # fmt: skip
    renewed = world.verified(updated)
    assert renewed.subject == holder.subject
    assert renewed.public_key() != certified.public_key()


def test_rfc9483_4_2_bouncy_castle_revokes_its_own_certificate(world: World) -> None:
    out, certificate = world.enrolled("bc-cmp-revoked")
    assert world.run("rr-sig", out / "key.der", out / "cert.der", "1") == ["rp accepted"]
    assert world.status(certificate) == "revoked"


def test_rfc9483_4_3_1_bouncy_castle_gets_the_ca_certificates(world: World) -> None:
    reference, secret = world.code("CN=bc-cmp-genm")
    (line,) = world.run("genm-mac", reference, secret)
    assert line.startswith("genp caCerts ")
