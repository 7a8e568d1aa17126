"""The new root distributed after `python -m server rollover`, against a running server
never restarted (issue 15, step 3): EST /cacerts over TLS with curl (RFC 7030 4.1.3) and
CMP genm caCerts with `openssl cmp` (RFC 9483 4.3.1) carry both roots and the link
certificates; with them OpenSSL builds chains from either root to certificates of either
generation, `openssl verify -crl_check` (each certificate's CRL taken from its own
cRLDistributionPoints) and `openssl ocsp` agree on good and revoked for both
generations; genm rootCaCert is answered by rootCaKeyUpdate (RFC 9483 4.3.2), sent with
tests/cmp_client.py (OpenSSL 3.0 has no -infotype rootCaKeyUpdate, nor caCerts)."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols import cmp
from protocols.der import contents as der_contents
from protocols.der import elements
from tests.cmp_client import CMPClient, genm_content, genp_items, read_answer
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.integration.test_ocsp_crl import issue, serial_hex
from tests.integration.test_rollover import eventually

ID_IT_ROOT_CA_CERT = "1.3.6.1.5.5.7.4.20"
GENERATIONS = ("old", "new")


@dataclass
class World:
    ca: CAHome
    server: ServerProcess
    folder: Path
    roots: dict[str, Path]  # "old", "new": OldWithOld, NewWithNew
    leaves: dict[tuple[str, str], Path]  # (generation, "good" or "revoked")

    def der(self, path: Path) -> bytes:
        return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)

    def cacerts(self) -> list[bytes]:
        """EST /cacerts with curl, trusting the TLS certificate (issued under the old root)."""
        result = subprocess.run(
            ["curl", "-s", "--fail", "--cacert", str(self.roots["old"]),
             f"{self.server.tls_url}/.well-known/est/cacerts"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        saved = self.folder / "cacerts.p7"
        saved.write_bytes(base64.b64decode(result.stdout))
        printed = openssl("pkcs7", "-inform", "DER", "-in", saved, "-print_certs")
        assert printed.returncode == 0, printed.stderr
        return [c.public_bytes(Encoding.DER)
                for c in x509.load_pem_x509_certificates(printed.stdout)]  # fmt: skip

    def crl_of(self, leaf: Path) -> Path:
        """The CRL at the path of the leaf's own cRLDistributionPoints URL, as PEM."""
        certificate = x509.load_pem_x509_certificate(leaf.read_bytes())
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        [point] = points.value
        [name] = point.full_name or []
        path = urlsplit(str(name.value)).path  # the home's base_url is not this server's
        answer = http(self.server.url + path)
        assert answer.status == 200, name.value
        saved = self.folder / f"{leaf.stem}.crl.pem"
        saved.write_bytes(x509.load_der_x509_crl(answer.body).public_bytes(Encoding.PEM))
        return saved

    def ocsp(self, generation: str, leaf: Path) -> str:
        root = self.roots[generation]
        result = openssl("ocsp", "-issuer", root, "-CAfile", root, "-cert", leaf,
                         "-url", self.server.url + "/ocsp")  # fmt: skip
        return (result.stdout + result.stderr).decode()

    def root_ca_key_update(self, root: bytes | None) -> bytes | None:
        """genm rootCaCert (RFC 9483 4.3.2) over HTTP, MAC-protected with a fresh code."""
        credential, secret = self.ca.cli(
            "enroll-code", "--profile", "tls-client", "--subject", "CN=root-update"
        ).stdout.split()
        client = CMPClient(None, lambda: datetime.now(UTC), kid=credential.encode(),  # type: ignore[arg-type]
                           secret=secret.encode())  # fmt: skip
        request = client.request("genm", genm_content((ID_IT_ROOT_CA_CERT, root)), new=True)
        answer = http(self.server.url + "/.well-known/cmp", request,
                      {"Content-Type": "application/pkixcmp"})  # fmt: skip
        assert answer.status == 200
        [(info_type, value)] = genp_items(read_answer(answer.body))
        assert info_type == cmp.ID_IT_ROOT_CA_KEY_UPDATE
        return value


def pem_file(path: Path, certificates: list[bytes]) -> Path:
    path.write_bytes(b"".join(
        x509.load_der_x509_certificate(c).public_bytes(Encoding.PEM) for c in certificates
    ))  # fmt: skip
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("root-distribution")
    ca = CAHome(folder / "ca")
    run_cli("init", "--home", ca.path, "--subject", "CN=Distribution CA,O=Test,C=RU")
    roots = {"old": folder / "old-root.pem", "new": folder / "new-root.pem"}
    roots["old"].write_text(ca.cli("ca-cert").stdout)
    leaves = {("old", kind): issue(ca, folder, f"old-{kind}") for kind in ("good", "revoked")}
    server = ServerProcess(ca)
    try:
        ca.cli("rollover", "--reason", "distribution test")
        roots["new"].write_text(ca.cli("ca-cert").stdout)
        for kind in ("good", "revoked"):
            leaves["new", kind] = issue(ca, folder, f"new-{kind}")
        for generation in GENERATIONS:
            revoked = serial_hex(leaves[generation, "revoked"])
            ca.cli("revoke", "--serial", revoked, "--reason", "keyCompromise")
        yield World(ca, server, folder, roots, leaves)
    finally:
        server.stop()


def links_of(world: World) -> tuple[bytes, bytes]:
    """(NewWithOld, OldWithNew) out of EST /cacerts (a certs-only CMS: a SET OF, so in DER
    order): the two certificates besides both roots, told apart by the key they certify."""
    old, new = (world.der(world.roots[g]) for g in GENERATIONS)
    served = world.cacerts()
    assert len(served) == 4 and {old, new} <= set(served)
    links = [c for c in served if c not in (old, new)]
    new_key = x509.load_der_x509_certificate(new).public_key()
    [new_with_old] = [c for c in links if x509.load_der_x509_certificate(c).public_key() == new_key]
    [old_with_new] = [c for c in links if c != new_with_old]
    return new_with_old, old_with_new


def test_rfc7030_4_1_3_cacerts_carries_both_roots_and_the_link_certificates(
    world: World,
) -> None:
    new_with_old, old_with_new = links_of(world)
    old_root, new_root = (x509.load_pem_x509_certificate(world.roots[g].read_bytes())
                          for g in GENERATIONS)  # fmt: skip
    x509.load_der_x509_certificate(new_with_old).verify_directly_issued_by(old_root)
    x509.load_der_x509_certificate(old_with_new).verify_directly_issued_by(new_root)


@pytest.mark.parametrize("anchor", GENERATIONS)
@pytest.mark.parametrize("generation", GENERATIONS)
def test_rfc9810_4_4_openssl_verify_chains_across_generations_with_the_est_cacerts(
    world: World, anchor: str, generation: str
) -> None:
    """A client trusting either root verifies certificates of both generations with the
    link certificates EST handed out as untrusted intermediates (the self-signed ones
    are trust anchors a client chooses, not intermediates); without the links a
    certificate of the other generation does not verify."""
    links = pem_file(world.folder / "links.pem", list(links_of(world)))
    leaf = world.leaves[generation, "good"]
    result = openssl("verify", "-CAfile", world.roots[anchor], "-untrusted", links, leaf)
    assert result.returncode == 0, result.stdout + result.stderr
    if anchor != generation:
        assert openssl("verify", "-CAfile", world.roots[anchor], leaf).returncode != 0


@pytest.mark.parametrize("kind", ["good", "revoked"])
@pytest.mark.parametrize("generation", GENERATIONS)
def test_k3_openssl_crl_check_and_ocsp_agree_for_both_generations(
    world: World, generation: str, kind: str
) -> None:
    """Each certificate's own CRL (its generation's, signed by its generation's key) and
    the OCSP answer under its generation's root say the same: good, or revoked."""
    leaf = world.leaves[generation, kind]

    def crl_verdict() -> tuple[bool, str]:
        result = openssl("verify", "-crl_check", "-CAfile", world.roots[generation],
                         "-CRLfile", world.crl_of(leaf), leaf)  # fmt: skip
        out = (result.stdout + result.stderr).decode()
        return (result.returncode == 0) == (kind == "good"), out

    out = eventually(crl_verdict, f"the CRL of the {generation} {kind} certificate")
    if kind == "revoked":
        assert "certificate revoked" in out, out

    def ocsp_verdict() -> tuple[bool, str]:
        out = world.ocsp(generation, leaf)
        return "Response verify OK" in out and f": {kind}" in out, out

    eventually(ocsp_verdict, f"OCSP {kind} for the {generation} certificate")


def test_rfc9483_4_3_1_openssl_cmp_genm_gets_both_roots_and_the_links(world: World) -> None:
    """OpenSSL 3.0 cannot name id-it-caCerts (`-infotype caCerts` is an unknown OID name
    there); a genm asking for nothing in particular gets caCerts (server/cmp/general.py)."""
    credential, secret = world.ca.cli(
        "enroll-code", "--profile", "tls-client", "--subject", "CN=ca-certs"
    ).stdout.split()
    saved = world.folder / "genp.der"
    result = openssl("cmp", "-cmd", "genm", "-server", f"127.0.0.1:{world.server.port}",
                     "-path", ".well-known/cmp", "-ref", credential, "-secret", f"pass:{secret}",
                     "-rspout", saved)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [(info_type, value)] = genp_items(read_answer(saved.read_bytes()))
    expected = [world.der(world.roots[g]) for g in GENERATIONS] + list(links_of(world))
    assert (info_type, value) == (cmp.ID_IT_CA_CERTS, cmp.ca_certs_value(expected))


def test_rfc9483_4_3_2_root_ca_key_update_from_a_running_server(world: World) -> None:
    """A client with the old root, or naming none, gets newWithNew (the new root),
    newWithOld and oldWithNew; a client with the new root gets no value."""
    old, new = (world.der(world.roots[g]) for g in GENERATIONS)
    new_with_old, old_with_new = links_of(world)
    for root in (old, None):
        value = world.root_ca_key_update(root)
        assert value is not None
        fields = elements(value)
        assert [(tag, der_contents(tlv) if tag != 0x30 else tlv) for tag, tlv in fields] == [
            (0x30, new), (0xA0, new_with_old), (0xA1, old_with_new),
        ]  # fmt: skip
    assert world.root_ca_key_update(new) is None
