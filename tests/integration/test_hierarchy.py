"""A root CA and an issuing CA in one home, end to end, as a relying party meets them
(issue 15, Hierarchy, first bullet): `init --hierarchy root+issuing`, the root's folder
then taken offline, `serve` started without it; a certificate issued by the server is
verified by OpenSSL up to the root with the CRLs fetched from the URLs the certificates
name (RFC 5280 4.2.1.13 cRLDistributionPoints, 4.2.2.1 caIssuers), and the EST `cacerts`
answer carries the root (RFC 7030 4.1.3)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.integration.test_cli import openssl_csr
from tests.softhsm import Token, make_token


def _fetched(server: ServerProcess, url: str) -> bytes:
    """What the server answers at the path of `url` (the certificates name the default
    base URL; the server runs on a free port)."""
    answer = http(server.url + urllib.parse.urlsplit(url).path)
    assert answer.status == 200, url
    return answer.body


def _ca_issuers(certificate: x509.Certificate) -> str:
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    (url,) = [d.access_location.value for d in aia
              if d.access_method == x509.AuthorityInformationAccessOID.CA_ISSUERS]  # fmt: skip
    return url


def _crl_url(certificate: x509.Certificate) -> str:
    (point,) = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (name,) = point.full_name or []
    return name.value


def _assert_verifies_up_to_the_root(
    folder: Path,
    root: x509.Certificate,
    issuing: x509.Certificate,
    crls: list[x509.CertificateRevocationList],
    leaf_pem: Path,
) -> None:
    """`openssl verify -crl_check_all` of `leaf_pem` from `root` as the trust anchor through
    `issuing`, with `crls` (RFC 5280 6.3): what a relying party does."""
    for name, pem in (
        ("root.pem", root.public_bytes(Encoding.PEM)),
        ("issuing.pem", issuing.public_bytes(Encoding.PEM)),
        ("crls.pem", b"".join(crl.public_bytes(Encoding.PEM) for crl in crls)),
    ):
        (folder / name).write_bytes(pem)
    verified = openssl("verify", "-crl_check_all", "-CAfile", folder / "root.pem",
                       "-untrusted", folder / "issuing.pem", "-CRLfile", folder / "crls.pem",
                       leaf_pem)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_hierarchy_root_offline_server_serves_a_chain_openssl_verifies_with_crls(
    tmp_path: Path,
) -> None:
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path, "--hierarchy", "root+issuing",
            "--root-subject", "CN=Test Root,O=Test,C=RU")  # fmt: skip
    shutil.move(home.path / "root", tmp_path / "offline-root")  # key and PIN leave the host

    leaf_pem = tmp_path / "leaf.pem"
    leaf_request = openssl_csr(tmp_path, "leaf", "/CN=leaf.example", san="DNS:leaf.example")
    leaf_pem.write_text(home.cli("issue", "--profile", "tls-server", "--csr", leaf_request).stdout)
    leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())

    server = ServerProcess(home)
    try:
        issuing_der = _fetched(server, _ca_issuers(leaf))
        issuing = x509.load_der_x509_certificate(issuing_der)
        root = x509.load_der_x509_certificate(_fetched(server, _ca_issuers(issuing)))
        crls = [x509.load_der_x509_crl(_fetched(server, _crl_url(c))) for c in (leaf, issuing)]
        (tmp_path / "root.pem").write_bytes(root.public_bytes(Encoding.PEM))
        # EST over TLS (RFC 7030 3.3), the server's TLS chain trusted from the root alone
        cacerts = subprocess.run(
            ["curl", "-s", "--fail", "--cacert", str(tmp_path / "root.pem"),
             f"{server.tls_url}/.well-known/est/cacerts"],
            capture_output=True, timeout=60,
        )  # fmt: skip
    finally:
        server.stop()

    assert root.subject.rfc4514_string() == "CN=Test Root,O=Test,C=RU"
    assert root.issuer == root.subject
    _assert_verifies_up_to_the_root(tmp_path, root, issuing, crls, leaf_pem)

    assert cacerts.returncode == 0, cacerts.stderr
    bundle = pkcs7.load_der_pkcs7_certificates(base64.b64decode(cacerts.stdout))
    assert {c.public_bytes(Encoding.DER) for c in bundle} >= {
        issuing.public_bytes(Encoding.DER),
        root.public_bytes(Encoding.DER),
    }


def _fetched_soon(server: ServerProcess, url: str, seconds: float = 20.0) -> bytes:
    """`_fetched`, for what the running server publishes a moment after a command."""
    deadline = time.monotonic() + seconds
    while True:
        answer = http(server.url + urllib.parse.urlsplit(url).path)
        if answer.status == 200 or time.monotonic() > deadline:
            assert answer.status == 200, url
            return answer.body
        time.sleep(0.2)


def test_k2_rollover_under_the_home_root_while_the_server_runs(tmp_path: Path) -> None:
    """The root's key brought back for `rollover` while `serve` runs, never restarted:
    a certificate issued under the new generation verifies up to the root with the CRLs
    the running server publishes for it (RFC 5280 6.3)."""
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path, "--hierarchy", "root+issuing")
    server = ServerProcess(home)
    try:
        rolled = home.cli("rollover")
        assert rolled.stdout.startswith(
            "CA 'demo' rolled over from generation 1 to 2, certified by the root CA 'demo-root'"
        )
        leaf_pem = tmp_path / "leaf.pem"
        leaf_request = openssl_csr(tmp_path, "leaf", "/CN=leaf.example", san="DNS:leaf.example")
        leaf_pem.write_text(
            home.cli("issue", "--profile", "tls-server", "--csr", leaf_request).stdout
        )
        leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
        issuing = x509.load_der_x509_certificate(_fetched_soon(server, _ca_issuers(leaf)))
        root = x509.load_der_x509_certificate(_fetched(server, _ca_issuers(issuing)))
        crls = [x509.load_der_x509_crl(_fetched_soon(server, _crl_url(c))) for c in (leaf, issuing)]
    finally:
        server.stop()
    assert "/ca/demo-" in _ca_issuers(leaf)  # the second generation's name (its key id)
    _assert_verifies_up_to_the_root(tmp_path, root, issuing, crls, leaf_pem)


def _hierarchy_on_tokens(folder: Path, root_pin: str) -> tuple[CAHome, Token, dict[str, str]]:
    """`init --hierarchy` on SoftHSM2: the issuing CA's key on token `ca`, the root's on
    token `root` with a PIN of its own (`root.backend = "pkcs11"`). Returns the home (its
    environment without the root's PIN), the root's token and the environment with it."""
    ca_token = make_token(folder, label="ca")
    root_token = make_token(folder, label="root", pin=root_pin)
    env = {**ca_token.environment(), "CA_HSM_PIN": ca_token.pin,
           "CA_ROOT__BACKEND": '"pkcs11"', "CA_ROOT__TOKEN_LABEL": '"root"'}  # fmt: skip
    with_root = {**env, "CA_ROOT_PIN": root_token.pin}
    home = CAHome(folder / "ca", env)
    run_cli("init", "--home", home.path, "--hierarchy", "root+issuing", "--backend", "pkcs11",
            "--token-label", "ca", "--module", ca_token.module, env=with_root)  # fmt: skip
    return home, root_token, with_root


def test_hierarchy_with_the_root_on_a_token_of_its_own(tmp_path: Path) -> None:
    """SoftHSM2: the issuing CA's key on one token, the root's on another with its own PIN
    (`root.backend = "pkcs11"`); the root signs only with its PIN given, and what it
    certified verifies with its CRL."""
    home, root_token, with_root = _hierarchy_on_tokens(tmp_path, "1357-root-pin")
    assert not (home.path / "root").exists()  # nothing of the root's in the home

    refused = home.cli("root", "crl", check=False)  # the token is there, its PIN is not
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the root CA's key is not at hand: pkcs11 backend: ")
    assert root_token.pin not in refused.stderr
    run_cli("rollover", "--home", home.path, env=with_root)
    run_cli("root", "crl", "--home", home.path, env=with_root)
    shown = home.cli("root", "show").stdout
    assert "  CRL number 2, next update " in shown
    assert shown.count("  signed ") == 2

    leaf_pem = tmp_path / "leaf.pem"
    leaf_request = openssl_csr(tmp_path, "leaf", "/CN=leaf.example", san="DNS:leaf.example")
    leaf_pem.write_text(home.cli("issue", "--profile", "tls-server", "--csr", leaf_request).stdout)
    server = ServerProcess(home)
    try:
        leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
        issuing = x509.load_der_x509_certificate(_fetched(server, _ca_issuers(leaf)))
        root = x509.load_der_x509_certificate(_fetched(server, _ca_issuers(issuing)))
        crls = [x509.load_der_x509_crl(_fetched(server, _crl_url(c))) for c in (leaf, issuing)]
    finally:
        server.stop()
    _assert_verifies_up_to_the_root(tmp_path, root, issuing, crls, leaf_pem)


def test_k2_root_rollover_relying_parties_of_either_root_verify_with_what_the_server_hands_out(
    tmp_path: Path,
) -> None:
    """`root rollover` (RFC 9810 4.4), then `rollover` under the new root, the root's folder
    then taken offline and `serve` started: a relying party that trusts only the new root
    verifies a certificate issued under the old root, and one that trusts only the old
    root one issued under the new, with the certificates EST `cacerts` hands out (RFC 7030
    4.1.3: both roots and the links) and every CRL fetched from the URLs the certificates
    name (`openssl verify -crl_check_all`)."""
    home = CAHome(tmp_path / "ca")
    run_cli("init", "--home", home.path, "--hierarchy", "root+issuing")
    old_leaf = tmp_path / "old-leaf.pem"
    request = openssl_csr(tmp_path, "old", "/CN=old.example", san="DNS:old.example")
    old_leaf.write_text(home.cli("issue", "--profile", "tls-server", "--csr", request).stdout)
    assert home.cli("root", "rollover").stdout.startswith("root CA 'demo-root' rolled over to ")
    home.cli("rollover")
    new_leaf = tmp_path / "new-leaf.pem"
    request = openssl_csr(tmp_path, "new", "/CN=new.example", san="DNS:new.example")
    new_leaf.write_text(home.cli("issue", "--profile", "tls-server", "--csr", request).stdout)
    shutil.move(home.path / "root", tmp_path / "offline-root")

    server = ServerProcess(home)
    try:
        chains = {}
        for leaf_pem in (old_leaf, new_leaf):
            leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
            issuing = x509.load_der_x509_certificate(_fetched(server, _ca_issuers(leaf)))
            root = x509.load_der_x509_certificate(_fetched(server, _ca_issuers(issuing)))
            crls = [_fetched(server, _crl_url(c)) for c in (leaf, issuing)]
            chains[leaf_pem] = (issuing, root, crls)
        (tmp_path / "any-root.pem").write_bytes(chains[old_leaf][1].public_bytes(Encoding.PEM))
        cacerts = subprocess.run(
            ["curl", "-s", "--fail", "--cacert", str(tmp_path / "any-root.pem"),
             f"{server.tls_url}/.well-known/est/cacerts"],
            capture_output=True, timeout=60,
        )  # fmt: skip
    finally:
        server.stop()

    old_root, new_root = chains[old_leaf][1], chains[new_leaf][1]
    assert old_root != new_root and old_root.subject == new_root.subject
    assert "/ca/demo-root-" in _ca_issuers(chains[new_leaf][0])  # the new root's name
    assert cacerts.returncode == 0, cacerts.stderr
    bundle = pkcs7.load_der_pkcs7_certificates(base64.b64decode(cacerts.stdout))
    assert {old_root, new_root} <= set(bundle)
    assert len(bundle) == 6  # two issuing generations, two roots, NewWithOld, OldWithNew
    # the relying party's intermediates: what cacerts handed out but the roots, which it
    # either trusts or does not (OpenSSL ends a chain at a self-signed certificate it finds)
    handed = [c for c in bundle if c not in (old_root, new_root)]
    (tmp_path / "cacerts.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in handed))
    (tmp_path / "crls.pem").write_bytes(b"".join(
        x509.load_der_x509_crl(der).public_bytes(Encoding.PEM)
        for _, _, crls in chains.values() for der in crls))  # fmt: skip
    for trusted, leaf_pem in ((new_root, old_leaf), (old_root, new_leaf)):
        (tmp_path / "trusted.pem").write_bytes(trusted.public_bytes(Encoding.PEM))
        verified = openssl("verify", "-crl_check_all", "-CAfile", tmp_path / "trusted.pem",
                           "-untrusted", tmp_path / "cacerts.pem", "-CRLfile",
                           tmp_path / "crls.pem", leaf_pem)  # fmt: skip
        assert verified.returncode == 0, (leaf_pem, verified.stdout + verified.stderr)


def test_k2_root_rollover_on_a_token_of_its_own(tmp_path: Path) -> None:
    """SoftHSM2: `root rollover` with the root's key on a token of its own is refused
    without the root's PIN (nothing recorded), and with it makes the new key in that
    token; `root crl` then signs each root's CRL with that root's key, and the server
    publishes both roots by name."""
    home, root_token, with_root = _hierarchy_on_tokens(tmp_path, "2468-root-pin")
    shown = home.cli("root", "show").stdout
    refused = home.cli("root", "rollover", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the root CA's key is not at hand: pkcs11 backend: ")
    assert root_token.pin not in refused.stderr
    assert home.cli("root", "show").stdout == shown

    rolled = run_cli("root", "rollover", "--home", home.path, env=with_root).stdout
    new_name = rolled.splitlines()[0].split("'")[3]
    assert rolled.startswith(f"root CA 'demo-root' rolled over to '{new_name}'\n")
    assert new_name.startswith("demo-root-")
    crls = run_cli("root", "crl", "--home", home.path, env=with_root).stdout.splitlines()
    assert [line.split(": ")[0] for line in crls] == ["root CA 'demo-root'",
                                                       f"root CA '{new_name}'"]  # fmt: skip
    server = ServerProcess(home)
    try:
        served = {name: (x509.load_der_x509_certificate(_fetched(server, f"/ca/{name}.crt")),
                         x509.load_der_x509_crl(_fetched(server, f"/crl/{name}.crl")))
                  for name in ("demo-root", new_name)}  # fmt: skip
    finally:
        server.stop()
    (old, old_crl), (new, new_crl) = served["demo-root"], served[new_name]
    assert old.subject == new.subject and old.public_key() != new.public_key()
    new.verify_directly_issued_by(new)
    assert old_crl.is_signature_valid(old.public_key())  # type: ignore[arg-type]
    assert new_crl.is_signature_valid(new.public_key())  # type: ignore[arg-type]
