"""`python -m server compromise` against a running server (regulation K4): once the command
returns, the server, never restarted, answers OCSP revoked (cACompromise) for a certificate
issued under the compromised key, asked once, without polling; the new key's CRL, served
under its key id's name, lists the old CA certificate and verifies under the new root
only. OpenSSL is the relying party. That the command waits for every live process is
proved in tests/unit/server/test_compromise.py: here the server's own notification is
usually quicker than the command's exit, so this test would not tell."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509

from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.integration.test_ocsp_crl import issue
from tests.integration.test_rollover import eventually


def ocsp(server: ServerProcess, root: Path, cert: Path) -> str:
    result = openssl("ocsp", "-issuer", root, "-CAfile", root, "-cert", cert,
                     "-url", server.url + "/ocsp")  # fmt: skip
    return (result.stdout + result.stderr).decode()


def test_k4_a_running_server_answers_revoked_when_the_command_returns(tmp_path: Path) -> None:
    ca = CAHome(tmp_path / "ca")
    run_cli("init", "--home", ca.path, "--subject", "CN=Compromise CA,O=Test,C=RU")
    old_root = tmp_path / "old-root.pem"
    old_root.write_text(ca.cli("ca-cert").stdout)
    old = issue(ca, tmp_path, "old")
    server = ServerProcess(ca)
    try:
        assert ": good" in ocsp(server, old_root, old)
        out = ca.cli("compromise", "--generation", "1", "--grounds", "key copied").stdout
        answer = ocsp(server, old_root, old)  # at once: no polling
        assert "Response verify OK" in answer and ": revoked" in answer, answer
        assert "Reason: cACompromise" in answer, answer
        found = re.search(r"key id ([0-9a-f]+)", out)
        assert found, out
        new_root = tmp_path / "new-root.pem"
        new_root.write_text(ca.cli("ca-cert").stdout)
        old_serial = x509.load_pem_x509_certificate(old_root.read_bytes()).serial_number
        crl_file = tmp_path / "new.crl"

        def listed() -> tuple[bool, str]:
            got = http(f"{server.url}/crl/demo-{found[1]}.crl")
            if got.status != 200:
                return False, str(got.status)
            crl_file.write_bytes(got.body)
            serials = [entry.serial_number for entry in x509.load_der_x509_crl(got.body)]
            return old_serial in serials, str(serials)

        eventually(listed, "the old CA certificate in the new key's CRL")
        checked = openssl("crl", "-inform", "DER", "-in", crl_file, "-noout", "-CAfile", new_root)
        assert checked.stderr == b"verify OK\n", checked
        refused = openssl("crl", "-inform", "DER", "-in", crl_file, "-noout", "-CAfile", old_root)
        assert refused.stderr == b"verify failure\n", refused  # openssl crl exits 0 all the same
    finally:
        server.stop()
