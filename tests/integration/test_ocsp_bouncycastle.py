"""OCSP with two clients we did not write asking about the same certificates in turn:
`openssl ocsp` (hashAlgorithm with NULL parameters) and Bouncy Castle's OCSP API
(tests/integration/java/OCSPClient.java; without parameters for SHA-256). Each finds its
own CertID in the answer (RFC 6960 4.2.1), over GET and POST, on /ocsp and on the
dedicated listener, whichever client asked first (issue 12, section 6)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp

from tests.integration.bouncycastle import compile_clients, run_client
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, free_port


@dataclass
class World:
    ca: CAHome
    folder: Path
    ca_file: Path
    classpath: str
    urls: dict[str, str]  # "main" (aiohttp) and "listener" (server.ocsp)

    def issue(self, name: str) -> Path:
        key, csr, pem = (self.folder / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")  # fmt: skip
        assert made.returncode == 0, made.stderr
        pem.write_text(self.ca.cli("issue", "--profile", "tls-client", "--csr", csr).stdout)
        return pem

    def openssl(self, cert: Path, url: str, algorithm: str) -> bytes:
        """`openssl ocsp` (POST), checked to find and verify its answer; its request DER."""
        request = cert.with_suffix(".openssl-req.der")
        result = openssl("ocsp", "-issuer", self.ca_file, "-CAfile", self.ca_file,
                         f"-{algorithm}", "-cert", cert, "-url", url, "-no_nonce",
                         "-reqout", request)  # fmt: skip
        out = (result.stdout + result.stderr).decode()
        assert result.returncode == 0 and "Response verify OK" in out, out
        assert f"{cert}: good" in out, out
        return request.read_bytes()

    def bouncy_castle(self, cert: Path, url: str, algorithm: str, method: str) -> bytes:
        """Bouncy Castle's client, checked to find its own CertID; its request DER."""
        request = cert.with_suffix(f".bc-{method}-req.der")
        result = run_client(self.classpath, "OCSPClient", self.ca_file, cert, url, algorithm,
                            method, request)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "good"
        return request.read_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("ocsp-bc")
    classpath = compile_clients(tmp_path_factory.mktemp("java"))
    ca = CAHome(folder / "ca")
    run_cli("init", "--home", ca.path)
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    port = free_port()
    server = ServerProcess(ca, {"CA_SERVER__OCSP": f"127.0.0.1:{port}"})
    try:
        urls = {"main": server.url + "/ocsp", "listener": f"http://127.0.0.1:{port}/ocsp"}
        yield World(ca, folder, ca_file, classpath, urls)
    finally:
        server.stop()


def hash_parameters(request_der: bytes) -> bytes | None:
    """The DER of the request's CertID hashAlgorithm parameters, None when absent."""
    request = asn1_ocsp.OCSPRequest.load(request_der)
    [single] = request["tbs_request"]["request_list"]
    contents = single["req_cert"]["hash_algorithm"].contents
    oid_length = contents[1] + 2
    return contents[oid_length:] or None


@pytest.mark.parametrize("front", ["main", "listener"])
@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
@pytest.mark.parametrize("first", ["openssl", "bouncy-castle"])
def test_rfc6960_4_2_1_openssl_and_bouncy_castle_each_find_their_certid(
    world: World, front: str, algorithm: str, first: str
) -> None:
    cert = world.issue(f"{front}-{algorithm}-{first}")
    url = world.urls[front]
    if first == "bouncy-castle":
        world.bouncy_castle(cert, url, algorithm, "GET")
    sent_by_openssl = world.openssl(cert, url, algorithm)
    sent_by_bc = world.bouncy_castle(cert, url, algorithm, "GET")
    world.bouncy_castle(cert, url, algorithm, "POST")
    world.openssl(cert, url, algorithm)
    assert hash_parameters(sent_by_openssl) == b"\x05\x00"  # NULL
    if algorithm == "sha256":  # the form of the seen failure
        assert hash_parameters(sent_by_bc) is None
