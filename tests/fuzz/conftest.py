"""Seeds of the fuzz tests: real messages made at test time, in a temporary folder, by
two clients we did not write.

- OpenSSL 3.0 CLI: CMP requests (ir, cr, p10cr, rr, genm) saved with `-reqout` on their
  way to a port nobody listens on, OCSP requests with and without nonce and with a SHA-256
  CertID (`openssl ocsp -reqout`), PKCS#10 requests (`openssl req`), a CRL
  (`openssl ca -gencrl`).
- Bouncy Castle 1.72 (Debian's libbcpkix-java), through java/FuzzSeeds.java: a PKCS#10
  request, CMP ir, p10cr and genm, OCSP requests (SHA-1 with nonce, SHA-256 without the
  NULL hash parameters OpenSSL writes)."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
from pathlib import Path

import pytest


@dataclasses.dataclass(frozen=True)
class Seeds:
    cmp: list[bytes]
    ocsp: list[bytes]
    csr: list[bytes]
    crl: list[bytes]
    certificate: bytes


def _openssl(cwd: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cmp_request(cwd: Path, name: str, *args: str) -> bytes:
    """The request OpenSSL saves with -reqout before it fails to connect."""
    subprocess.run(
        ["openssl", "cmp", "-server", f"127.0.0.1:{_unused_port()}", "-reqout", name, *args],
        cwd=cwd, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return (cwd / name).read_bytes()


JARS = [f"/usr/share/java/{name}.jar" for name in ("bcprov", "bcpkix", "bcutil")]
BC_SOURCE = Path(__file__).parent / "java" / "FuzzSeeds.java"
BC_SEEDS = ("bc.csr", "bc-ir.der", "bc-p10cr.der", "bc-genm.der", "bc-ocsp-sha1.der",
            "bc-ocsp-sha256.der")  # fmt: skip


def _bouncy_castle(cwd: Path) -> dict[str, bytes]:
    """The messages java/FuzzSeeds.java makes with Bouncy Castle."""
    missing = [jar for jar in JARS if not Path(jar).exists()]
    assert not missing, f"Bouncy Castle is not installed (scripts/setup.sh installs it): {missing}"
    assert shutil.which("javac"), "javac is not installed (scripts/setup.sh installs it)"
    classpath = ":".join([str(cwd), *JARS])
    for command in (["javac", "-d", str(cwd), "-cp", classpath, str(BC_SOURCE)],
                    ["java", "-cp", classpath, "FuzzSeeds", str(cwd)]):  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    return {name: (cwd / name).read_bytes() for name in BC_SEEDS}


CA_CNF = """[ca]
default_ca = seed
[seed]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 1
"""


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    cwd = tmp_path_factory.mktemp("seeds")
    _openssl(cwd, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", "ca.key", "-subj", "/CN=Seed CA", "-days", "2",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem")  # fmt: skip
    _openssl(cwd, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key",
             "-subj", "/CN=seed/O=Fuzz", "-addext", "subjectAltName=DNS:a.example,IP:192.0.2.1",
             "-outform", "DER", "-out", "rsa.csr")  # fmt: skip
    _openssl(cwd, "req", "-new", "-key", "ca.key", "-subj", "/CN=p10", "-outform", "DER",
             "-out", "ec.csr")  # fmt: skip
    _openssl(cwd, "req", "-x509", "-key", "ca.key", "-subj", "/CN=client", "-days", "2",
             "-out", "client.pem")  # fmt: skip
    _openssl(cwd, "x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der")
    for flag, name in (("-nonce", "nonce.der"), ("-no_nonce", "plain.der")):
        _openssl(cwd, "ocsp", "-issuer", "ca.pem", "-serial", "0x1234", "-serial", "0x10",
                 flag, "-reqout", name)  # fmt: skip
    _openssl(cwd, "ocsp", "-issuer", "ca.pem", "-sha256", "-cert", "client.pem", "-reqout",
             "sha256.der")  # fmt: skip
    (cwd / "ca.cnf").write_text(CA_CNF)
    (cwd / "index.txt").write_text("")
    (cwd / "crlnumber").write_text("01\n")
    _openssl(cwd, "ca", "-config", "ca.cnf", "-gencrl", "-cert", "ca.pem", "-keyfile", "ca.key",
             "-out", "crl.pem")  # fmt: skip
    _openssl(cwd, "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der")
    mac = ["-ref", "1234", "-secret", "pass:s3cret"]
    enrol = ["-subject", "/CN=dev", "-newkey", "ca.key", "-certout", "out.pem"]
    signed = ["-cert", "client.pem", "-key", "ca.key"]
    cmp = [
        _cmp_request(cwd, "ir.der", "-cmd", "ir", *mac, *enrol),
        _cmp_request(cwd, "cr.der", "-cmd", "cr", *signed, *enrol),
        _cmp_request(
            cwd, "p10cr.der", "-cmd", "p10cr", *mac, "-csr", "ec.csr", "-certout", "out.pem"
        ),
        _cmp_request(
            cwd, "rr.der", "-cmd", "rr", *signed, "-oldcert", "client.pem", "-revreason", "1"
        ),
        _cmp_request(cwd, "genm.der", "-cmd", "genm", *mac, "-infotype", "caCerts"),
    ]
    bc = _bouncy_castle(cwd)
    return Seeds(
        cmp=[*cmp, bc["bc-ir.der"], bc["bc-p10cr.der"], bc["bc-genm.der"]],
        ocsp=[(cwd / n).read_bytes() for n in ("nonce.der", "plain.der", "sha256.der")]
        + [bc["bc-ocsp-sha1.der"], bc["bc-ocsp-sha256.der"]],
        csr=[(cwd / "rsa.csr").read_bytes(), (cwd / "ec.csr").read_bytes(), bc["bc.csr"]],
        crl=[(cwd / "crl.der").read_bytes()],
        certificate=(cwd / "ca.der").read_bytes(),
    )
