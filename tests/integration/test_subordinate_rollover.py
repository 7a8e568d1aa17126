"""The rollover of a CA under a parent outside against a running server (regulation K2,
K3; issue 15, "for a subordinate, a new CSR to the parent"): while `serve` runs and is
never restarted, `rollover --csr` writes the request for the next key, a parent made with
OpenSSL signs it as it stands, `import-ca-cert` makes it generation 2, and the server
serves generation 2's CRL under its key id's name beside generation 1's; `openssl verify
-crl_check` accepts a certificate of each generation up to the parent's root with the CRL
the server serves for it, and pkilint passes both CRLs."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.integration.test_cli import openssl_csr
from tests.integration.test_rollover import eventually
from tests.integration.test_subordinate import parent_root
from tests.lint import lint_crl


def signed_by_parent(folder: Path, request: Path, root: Path, root_key: Path, name: str) -> Path:
    certificate = folder / f"{name}.pem"
    signed = openssl("x509", "-req", "-in", request, "-CA", root, "-CAkey", root_key,
                     "-out", certificate, "-days", "1000",
                     "-copy_extensions", "copy")  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    return certificate


def issued(home: CAHome, folder: Path, name: str) -> Path:
    leaf = folder / f"{name}.pem"
    request = openssl_csr(folder, name, f"/CN={name}.example", san=f"DNS:{name}.example")
    leaf.write_text(home.cli("issue", "--profile", "tls-server", "--csr", request).stdout)
    return leaf


def test_k2_k3_a_ca_under_a_parent_rolls_over_while_the_server_runs(tmp_path: Path) -> None:
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path, "--subject", "CN=Sub CA,O=Test,C=RU",
            "--csr", tmp_path / "g1.csr")  # fmt: skip
    root, root_key = parent_root(tmp_path)
    first = signed_by_parent(tmp_path, tmp_path / "g1.csr", root, root_key, "g1")
    home.cli("import-ca-cert", "--cert", first, "--chain", root)
    server = ServerProcess(home)
    try:
        old_leaf = issued(home, tmp_path, "one")
        made = home.cli("rollover", "--csr", tmp_path / "g2.csr")
        assert made.stdout.startswith("CA 'demo': request 1 for the next generation made")
        second = signed_by_parent(tmp_path, tmp_path / "g2.csr", root, root_key, "g2")
        imported = home.cli("import-ca-cert", "--cert", second, "--chain", root)
        assert imported.stdout.startswith("CA 'demo' rolled over from generation 1 to 2")
        new_leaf = issued(home, tmp_path, "two")
        new_ca = x509.load_pem_x509_certificate(second.read_bytes())
        assert x509.load_pem_x509_certificate(new_leaf.read_bytes()).issuer == new_ca.subject
        key_id = new_ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

        def served(name: str) -> tuple[bool, bytes]:
            answer = http(f"{server.url}/crl/{name}.crl")
            return answer.status == 200, answer.body

        crls = {1: eventually(lambda: served("demo"), "generation 1's CRL"),
                2: eventually(lambda: served(f"demo-{key_id.digest.hex()}"),
                              "generation 2's CRL")}  # fmt: skip
    finally:
        server.stop()
    for generation, ca_certificate, leaf in ((1, first, old_leaf), (2, second, new_leaf)):
        assert lint_crl(crls[generation]) == []
        crl = tmp_path / f"g{generation}.crl"
        crl.write_bytes(crls[generation])
        crl_pem = tmp_path / f"g{generation}.crl.pem"
        converted = openssl("crl", "-inform", "DER", "-in", crl, "-out", crl_pem)
        assert converted.returncode == 0, converted.stderr
        verified = openssl("verify", "-crl_check", "-CAfile", root, "-untrusted", ca_certificate,
                           "-CRLfile", crl_pem, leaf)  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
