"""The compromise of a CA under a parent outside against a running server (regulation K4;
issue 15, "for a subordinate, reported to the parent as a request"): while `serve` runs and
is never restarted, `compromise --csr --revocation-request` revokes what generation 1
issued, which `openssl ocsp` reads from the running server at once; the server then says it
waits for the parent (`/healthz` 503 with the reason) and the `issue` command is refused;
a parent made with OpenSSL signs the new key's request as it stands, `import-ca-cert`
makes it generation 2, and the running server is healthy again and its CA issues under
it, `openssl verify` up to the parent's root."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols import cmp
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.integration.test_rollover import eventually
from tests.integration.test_subordinate import parent_root
from tests.integration.test_subordinate_rollover import issued, signed_by_parent

WAITING = (
    "the CA key of generation 1 was declared compromised: the CA waits for its parent CA's "
    "certificate for its new key (import-ca-cert); nothing is issued until then"
)


def test_k4_a_ca_under_a_parent_is_compromised_and_resumes_while_the_server_runs(
    tmp_path: Path,
) -> None:
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path, "--subject", "CN=Sub CA,O=Test,C=RU",
            "--csr", tmp_path / "g1.csr")  # fmt: skip
    root, root_key = parent_root(tmp_path)
    first = signed_by_parent(tmp_path, tmp_path / "g1.csr", root, root_key, "g1")
    home.cli("import-ca-cert", "--cert", first, "--chain", root)
    server = ServerProcess(home)
    try:
        leaf = issued(home, tmp_path, "one")
        declared = home.cli("compromise", "--generation", "1", "--grounds", "key copied",
                            "--csr", tmp_path / "g2.csr", "--revocation-request",
                            tmp_path / "rr.der")  # fmt: skip
        assert declared.stdout.startswith("CA 'demo': generation 1 compromised, its certificates")
        assert declared.stdout.endswith(
            "  no certificate is issued until the parent's certificate is imported\n"
        )
        # revoked at once: the command returned once every server process answers so
        answered = openssl("ocsp", "-issuer", first, "-CAfile", root, "-cert", leaf,
                           "-url", server.url + "/ocsp")  # fmt: skip
        text = (answered.stdout + answered.stderr).decode()
        assert "Response verify OK" in text and f"{leaf}: revoked" in text, text
        assert "Reason: cACompromise" in text

        def health() -> tuple[bool, str]:
            answer = http(f"{server.url}/healthz")
            return answer.status == 503, answer.body.decode()

        assert eventually(health, "the waiting reason") == f"unhealthy: {WAITING}\n"
        refused = home.cli("issue", "--profile", "tls-server", "--csr", tmp_path / "one.csr",
                           check=False)  # fmt: skip
        assert (refused.returncode, refused.stderr) == (1, f"error: {WAITING}\n")
        rr = cmp.parse_pki_message((tmp_path / "rr.der").read_bytes())
        first_der = x509.load_pem_x509_certificate(first.read_bytes()).public_bytes(Encoding.DER)
        assert cmp.verify_signature(rr, first_der)  # RFC 9483 4.2: by the key to be revoked

        second = signed_by_parent(tmp_path, tmp_path / "g2.csr", root, root_key, "g2")
        imported = home.cli("import-ca-cert", "--cert", second, "--chain", root)
        assert imported.stdout.startswith(
            "CA 'demo' generation 2 made after the compromise of generation 1"
        )

        def healthy() -> tuple[bool, str]:
            answer = http(f"{server.url}/healthz")
            return answer.status == 200, answer.body.decode()

        eventually(healthy, "healthy under generation 2")
        new_leaf = issued(home, tmp_path, "two")
    finally:
        server.stop()
    verified = openssl("verify", "-CAfile", root, "-untrusted", second, new_leaf)
    assert verified.returncode == 0, verified.stdout + verified.stderr
