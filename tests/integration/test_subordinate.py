"""An issuing CA under a parent CA outside, end to end (issue 15, Hierarchy, second
bullet): `init --csr` writes the request, `serve` refuses while the home waits, a parent
made with OpenSSL signs the request as it stands (`-copy_extensions copy`: the CA
extensions are those the request asked for), `import-ca-cert` records it, and then the
server starts, serves this CA's certificate at `/ca/<name>.crt`, and issues certificates
`openssl verify` accepts up to the parent's root and pkilint passes."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.integration.test_cli import openssl_csr
from tests.lint import lint_certificate


def parent_root(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) of a self-signed root made by OpenSSL."""
    certificate, key = folder / "root.pem", folder / "root.key"
    made = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-out", certificate, "-days", "3650",
                   "-subj", "/C=RU/O=Head/CN=Head Root",
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    assert made.returncode == 0, made.stderr
    return certificate, key


def test_hierarchy_a_ca_under_a_parent_outside_from_request_to_issuance(tmp_path: Path) -> None:
    home = CAHome(tmp_path / "ca")
    request = tmp_path / "sub.csr"
    run_cli("init", "--home", home.path, "--subject", "CN=Sub CA,O=Test,C=RU", "--csr", request)

    refused = home.cli("serve", check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: {home.path} waits for its CA certificate from the parent CA (init --csr): "
        "import it first (import-ca-cert)\n"
    )

    root, root_key = parent_root(tmp_path)
    ca_pem = tmp_path / "sub.pem"
    signed = openssl("x509", "-req", "-in", request, "-CA", root, "-CAkey", root_key,
                     "-out", ca_pem, "-days", "1000", "-copy_extensions", "copy")  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    imported = home.cli("import-ca-cert", "--cert", ca_pem, "--chain", root)
    assert imported.stdout.startswith(f"CA 'demo' initialised in {home.path}\n")

    leaf_pem = tmp_path / "leaf.pem"
    leaf_request = openssl_csr(tmp_path, "leaf", "/CN=leaf.example", san="DNS:leaf.example")
    leaf_pem.write_text(home.cli("issue", "--profile", "tls-server", "--csr", leaf_request).stdout)
    verified = openssl("verify", "-CAfile", root, "-untrusted", ca_pem, leaf_pem)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
    assert lint_certificate(leaf.public_bytes(Encoding.DER)) == []

    ca_certificate = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    server = ServerProcess(home)
    try:
        served = http(f"{server.url}/ca/demo.crt")
    finally:
        server.stop()
    assert served.status == 200
    assert served.body == ca_certificate.public_bytes(Encoding.DER)
