"""A GOST CA (`init --algorithm gost2012-256`) walked through as the README walks a CA, with
third-party clients and OpenSSL's GOST engine as the relying party (issue #16): the CA,
TLS and issued certificates, the CRL and the OCSP answers are GOST R 34.10-2012 signed with
Streebog (RFC 9215), verified by `openssl` with gost-engine and again by gostcrypto, which
shares no code with the engine; subscribers enroll GOST keys with curl over EST and with
`openssl cmp`, and revoke over CMP."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pkcs11 import KeyType

from hsm import gost_engine
from protocols import crl as crl_codec
from protocols import est, gost
from protocols.x509.spki import certificate_spki
from tests.gost_support import (
    gostcrypto_verifies,
    openssl,
    openssl_conf,
    pem,
    pem_der,
    require_engine,
    signed_parts,
)
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.lint import lint_certificate, lint_crl, lint_ocsp_response
from tests.softhsm import GOST_MODULE, Token, make_token

STREEBOG_256 = "GOST R 34.11-2012 with 256 bit hash"  # openssl cmp -digest takes long names
SIGNWITHDIGEST_256 = "1.2.643.7.1.1.3.2"


@dataclass
class GostWorld:
    ca: CAHome
    server: ServerProcess
    folder: Path
    ca_file: Path
    env: dict[str, str]
    token: Token | None  # the PKCS#11 token of the CA's keys, None for the soft backend

    def openssl(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["openssl", *map(str, args)], cwd=self.folder, env=self.env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def code(self, subject: str) -> tuple[str, str]:
        lines = self.ca.cli("enroll-code", "--profile", "tls-client", "--subject", subject)
        credential_id, secret = lines.stdout.splitlines()
        return credential_id, secret

    def key(self, name: str, paramset: str = "A", bits: int = 256) -> Path:
        path = self.folder / f"{name}.key"
        self.openssl("genpkey", "-algorithm", f"gost2012_{bits}",
                     "-pkeyopt", f"paramset:{paramset}", "-out", path)  # fmt: skip
        return path

    def request(self, key: Path, subject: str, name: str) -> Path:
        """A PKCS#10 request of `key` made by `openssl req` with Streebog, base64 for EST."""
        der_path = self.folder / f"{name}.der"
        self.openssl("req", "-new", "-key", key, "-subj", subject, "-md_gost12_256",
                     "-outform", "DER", "-out", der_path)  # fmt: skip
        path = self.folder / f"{name}.b64"
        path.write_bytes(base64.encodebytes(der_path.read_bytes()))
        return path

    def verify(self, certificate: Path, *crl: Path) -> subprocess.CompletedProcess[str]:
        trusted = self.ca_file
        if crl:
            trusted = self.folder / "ca-and-crl.pem"
            trusted.write_text(self.ca_file.read_text() + "".join(p.read_text() for p in crl))
        return self.openssl("verify", *(["-crl_check"] if crl else []),
                            "-CAfile", trusted, certificate, check=False)  # fmt: skip

    def cmp(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.openssl(
            "cmp", "-server", f"127.0.0.1:{self.server.port}", "-path", ".well-known/cmp",
            "-recipient", "/C=RU/O=Demo/CN=Demo CA", "-digest", STREEBOG_256, *args,
            check=False,
        )  # fmt: skip

    def crl(self, listing: int | None = None) -> Path:
        """The CA's CRL as PEM; with `listing`, once it lists that serial (CRLs are
        rebuilt shortly after a change, coalesced: followed until then, bounded)."""
        deadline = time.monotonic() + 20
        while True:
            der = http(f"{self.server.url}/crl/demo.crl").body
            if listing is None or listing in crl_codec.parse_crl(der).entries:
                break
            assert time.monotonic() < deadline, "the CRL did not list the revocation"
            time.sleep(0.1)
        path = self.folder / "demo.crl.pem"
        path.write_text(pem(der, "X509 CRL"))
        return path


@contextlib.contextmanager
def served_gost_ca(folder: Path, backend: str = "soft") -> Iterator[GostWorld]:
    """`init --algorithm gost2012-256` in `folder`, served, with an OPENSSL_CONF loading
    gost-engine for the clients. With `backend` "pkcs11" the CA's keys are made in a token
    of SoftHSM2 built with its GOST mechanisms (hsm/pkcs11_gost.py)."""
    require_engine()
    token = None
    if backend == "pkcs11":
        token = make_token(folder, label="gost-ca", module=GOST_MODULE)
        ca = CAHome(folder / "ca", {**token.environment(), "CA_HSM_PIN": token.pin})
        ca.cli("init", "--algorithm", "gost2012-256", "--backend", "pkcs11",
               "--module", token.module, "--token-label", token.label)  # fmt: skip
    else:
        ca = CAHome(folder / "ca")
        ca.cli("init", "--algorithm", "gost2012-256")
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    env = {**os.environ, "OPENSSL_CONF": str(openssl_conf(folder))}
    server = ServerProcess(ca)
    try:
        yield GostWorld(ca, server, folder, ca_file, env, token)
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["soft", "pkcs11"])
def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[GostWorld]:
    """A served GOST CA whose keys are files (soft) or in a PKCS#11 token."""
    with served_gost_ca(tmp_path_factory.mktemp("gost"), request.param) as served:
        yield served


def test_rfc9215_3_2_the_ca_and_tls_certificates_are_gost_signed_and_verify(
    world: GostWorld,
) -> None:
    ca_der = pem_der(world.ca_file)
    assert signed_parts(ca_der)[1] == SIGNWITHDIGEST_256
    assert "OK" in world.verify(world.ca_file).stdout
    assert gostcrypto_verifies(ca_der, ca_der)
    tls_chain = world.ca.path / "tls" / "server.pem"
    leaf = world.folder / "tls-leaf.pem"
    leaf.write_text(
        tls_chain.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    assert world.verify(leaf).returncode == 0
    assert gostcrypto_verifies(pem_der(leaf), ca_der)
    assert not gostcrypto_verifies(pem_der(leaf)[:-1] + bytes([pem_der(leaf)[-1] ^ 1]), ca_der)
    assert lint_certificate(ca_der) == []


# Read in a process of its own: SoftHSM2 reads SOFTHSM2_CONF once per process.
TOKEN_KEYS = """
import json, os, sys, pkcs11
from pkcs11 import Attribute, ObjectClass
token = pkcs11.lib(sys.argv[1]).get_token(token_label=sys.argv[2])
with token.open(user_pin=os.environ["CA_HSM_PIN"]) as session:
    keys = {o[Attribute.LABEL]: int(o[Attribute.KEY_TYPE])
            for o in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})}
    public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label="demo-ca-g1")
    print(json.dumps({"keys": keys, "ca_point": bytes(public[Attribute.VALUE]).hex()}))
"""


def token_keys(token: Token, env: dict[str, str]) -> dict[str, Any]:
    """The labels and key types of the token's private keys, and the CA key's point."""
    found = subprocess.run(
        [sys.executable, "-c", TOKEN_KEYS, token.module, token.label],
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(found.stdout)


@pytest.mark.parametrize("world", ["pkcs11"], indirect=True)
def test_a_pkcs11_gost_ca_signs_with_gost_keys_made_in_the_token(world: GostWorld) -> None:
    """With the PKCS#11 backend the CA and OCSP responder keys are CKK_GOSTR3410 keys in
    the token (hsm/pkcs11_gost.py), and the CA certificate's key is the token's."""
    token = world.token
    assert token is not None
    found = token_keys(token, world.ca.env)
    keys = found["keys"]
    assert keys["demo-ca-g1"] == KeyType.GOSTR3410
    ocsp = [kind for label, kind in keys.items() if label.startswith("demo-ocsp-g1-")]
    assert ocsp == [KeyType.GOSTR3410]
    ca_point = gost.read_spki(certificate_spki(pem_der(world.ca_file))).point
    assert ca_point.hex() == found["ca_point"]


def test_rfc4210_4_4_a_rollover_of_a_pkcs11_gost_ca_makes_its_next_key_in_the_token(
    tmp_path: Path,
) -> None:
    """`rollover` on a GOST CA whose keys are in a token: the next generation's key is a
    CKK_GOSTR3410 key made there, and it signs its own certificate and those issued
    after, which `openssl verify` (gost-engine) and gostcrypto accept."""
    require_engine()
    token = make_token(tmp_path, label="gost-roll", module=GOST_MODULE)
    ca = CAHome(tmp_path / "ca", {**token.environment(), "CA_HSM_PIN": token.pin})
    ca.cli("init", "--algorithm", "gost2012-256", "--backend", "pkcs11",
           "--module", token.module, "--token-label", token.label)  # fmt: skip
    old = pem_der(ca.cli("ca-cert").stdout)
    ca.cli("rollover")
    new_pem = tmp_path / "new-ca.pem"
    new_pem.write_text(ca.cli("ca-cert").stdout)
    new = pem_der(new_pem)
    assert new != old
    keys = token_keys(token, ca.env)["keys"]
    assert [kind for label, kind in keys.items() if label.startswith("demo-ca-g2-")] == [
        KeyType.GOSTR3410
    ]
    openssl(tmp_path, "genpkey", "-algorithm", "gost2012_256", "-pkeyopt", "paramset:A",
            "-out", str(tmp_path / "leaf.key"))  # fmt: skip
    openssl(tmp_path, "req", "-new", "-key", str(tmp_path / "leaf.key"), "-subj", "/CN=leaf",
            "-md_gost12_256", "-out", str(tmp_path / "leaf.csr"))  # fmt: skip
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(
        ca.cli("issue", "--profile", "tls-client", "--csr", tmp_path / "leaf.csr").stdout
    )
    checked = openssl(tmp_path, "verify", "-CAfile", str(new_pem), str(leaf), check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert gostcrypto_verifies(new, new)
    assert gostcrypto_verifies(pem_der(leaf), new)
    assert not gostcrypto_verifies(pem_der(leaf), old)


def test_rfc7030_4_2_1_simpleenroll_of_a_gost_key_by_curl_then_4_2_2_reenroll_over_tls_1_2(
    world: GostWorld,
) -> None:
    credential_id, secret = world.code("CN=device-1,O=Plant")
    key = world.key("device-1")
    request = world.request(key, "/O=Plant/CN=device-1", "d1")
    issued = _curl(world, "simpleenroll", "-u", f"{credential_id}:{secret}",
                   "--data-binary", f"@{request}")  # fmt: skip
    certificate = _certificate_from_pkcs7(world, issued, "device-1.pem")
    assert "OK" in world.verify(certificate).stdout
    assert gostcrypto_verifies(pem_der(certificate), pem_der(world.ca_file))
    text = world.openssl("x509", "-in", certificate, "-noout", "-text").stdout
    assert "GOST R 34.10-2012 with 256 bit modulus" in text
    assert lint_certificate(pem_der(certificate)) == []

    # RFC 7030 4.2.2: re-enrollment authenticated by the GOST certificate itself. OpenSSL
    # 3.0's TLS 1.3 offers no GOST signature scheme for the client's CertificateVerify;
    # TLS 1.2 signs it with the GOST key (README: GOST CA).
    new_key = world.key("device-1-new", "TCB")
    new_request = world.request(new_key, "/O=Plant/CN=device-1", "d1n")
    renewed = _curl(world, "simplereenroll", "--tls-max", "1.2", "--cert", certificate,
                    "--key", key, "--data-binary", f"@{new_request}")  # fmt: skip
    assert "OK" in world.verify(_certificate_from_pkcs7(world, renewed, "device-1n.pem")).stdout


def test_rfc4210_cmp_ir_kur_rr_of_gost_keys_by_openssl_cmp_and_the_crl_says_revoked(
    world: GostWorld,
) -> None:
    credential_id, secret = world.code("CN=device-2,O=Plant")
    first, second = world.key("device-2"), world.key("device-2-new", "TCA")
    issued, updated = world.folder / "device-2.pem", world.folder / "device-2-new.pem"
    ir = world.cmp("-cmd", "ir", "-ref", credential_id, "-secret", f"pass:{secret}",
                   "-subject", "/CN=device-2/O=Plant", "-newkey", first,
                   "-trusted", world.ca_file, "-certout", issued)  # fmt: skip
    assert ir.returncode == 0, ir.stderr
    assert "OK" in world.verify(issued).stdout
    kur = world.cmp("-cmd", "kur", "-cert", issued, "-key", first, "-trusted", world.ca_file,
                    "-newkey", second, "-certout", updated)  # fmt: skip
    assert kur.returncode == 0, kur.stderr
    assert gostcrypto_verifies(pem_der(updated), pem_der(world.ca_file))
    assert world.verify(updated, world.crl()).returncode == 0
    rr = world.cmp("-cmd", "rr", "-cert", updated, "-key", second, "-trusted", world.ca_file,
                   "-oldcert", updated, "-revreason", "1")  # fmt: skip
    assert rr.returncode == 0, rr.stderr
    crl = world.crl(listing=int(world.openssl("x509", "-in", updated, "-noout", "-serial")
                                .stdout.strip().split("=")[1], 16))  # fmt: skip
    refused = world.verify(updated, crl)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    crl_der = pem_der(crl)
    assert signed_parts(crl_der)[1] == SIGNWITHDIGEST_256
    assert gostcrypto_verifies(crl_der, pem_der(world.ca_file))
    assert lint_crl(crl_der) == []
    checked = world.openssl("crl", "-in", crl, "-CAfile", world.ca_file, "-noout")
    assert "verify OK" in checked.stdout + checked.stderr


@pytest.mark.parametrize("digest", ["-sha1", "-sha256", "-md_gost12_256", "-md_gost12_512"])
def test_rfc6960_4_1_1_gost_signed_ocsp_answers_for_sha_and_streebog_certids(
    world: GostWorld, digest: str
) -> None:
    credential_id, secret = world.code(f"CN=ocsp{digest},O=Plant")
    key = world.key(f"ocsp{digest}")
    issued = world.folder / f"ocsp{digest}.pem"
    ir = world.cmp("-cmd", "ir", "-ref", credential_id, "-secret", f"pass:{secret}",
                   "-subject", f"/CN=ocsp{digest}/O=Plant", "-newkey", key,
                   "-trusted", world.ca_file, "-certout", issued)  # fmt: skip
    assert ir.returncode == 0, ir.stderr
    answer = world.openssl(
        "ocsp", digest, "-issuer", world.ca_file, "-cert", issued,
        "-url", f"{world.server.url}/ocsp", "-CAfile", world.ca_file,
        "-respout", world.folder / f"resp{digest}.der",
    )  # fmt: skip
    assert "Response verify OK" in answer.stderr + answer.stdout
    assert f"{issued}: good" in answer.stdout
    response = (world.folder / f"resp{digest}.der").read_bytes()
    assert bytes.fromhex("06082a85030701010302") in response  # signwithdigest-256, RFC 9215
    assert lint_ocsp_response(response) == []


def _curl(world: GostWorld, operation: str, *args: str | Path) -> bytes:
    result = subprocess.run(
        ["curl", "-s", "-f", "--cacert", str(world.ca_file), "-H",
         "Content-Type: application/pkcs10", *map(str, args),
         f"{world.server.tls_url}/.well-known/est/{operation}"],
        capture_output=True, env=world.env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _certificate_from_pkcs7(world: GostWorld, body: bytes, name: str) -> Path:
    (world.folder / f"{name}.p7").write_bytes(base64.b64decode(body))
    path = world.folder / name
    world.openssl("pkcs7", "-inform", "DER", "-in", world.folder / f"{name}.p7",
                  "-print_certs", "-out", path)  # fmt: skip
    return path


@pytest.mark.parametrize("world", ["soft"], indirect=True)  # it makes a soft CA of its own
def test_init_makes_a_512_bit_gost_ca_on_the_parameter_set_asked(
    tmp_path: Path, world: GostWorld
) -> None:
    ca = CAHome(tmp_path / "ca512")
    ca.cli("init", "--algorithm", "gost2012-512:C")
    pem_text = ca.cli("ca-cert").stdout
    (tmp_path / "ca512.pem").write_text(pem_text)
    text = world.openssl("x509", "-in", tmp_path / "ca512.pem", "-noout", "-text").stdout
    assert "GOST R 34.10-2012 with GOST R 34.11-2012 (512 bit)" in text
    assert "OK" in world.openssl("verify", "-CAfile", tmp_path / "ca512.pem",
                                 tmp_path / "ca512.pem").stdout  # fmt: skip
    assert gost_engine.paramset_of(certificate_spki(pem_der(tmp_path / "ca512.pem"))) == (512, "C")


def test_init_refuses_an_unknown_parameter_set_and_leaves_no_home(tmp_path: Path) -> None:
    refused = CAHome(tmp_path / "bad").cli("init", "--algorithm", "gost2012-512:TCA", check=False)
    assert refused.returncode == 2
    assert "unknown key algorithm 'gost2012-512:TCA'" in refused.stderr
    assert not (tmp_path / "bad" / "settings.toml").exists()


@pytest.mark.parametrize(
    ("algorithm", "error"),
    [
        (
            "gost2012-512",
            'hsm.backend: must be "soft" for a 512-bit GOST CA key: '
            "the PKCS#11 backend drives 256-bit GOST keys only",
        ),
        # SoftHSM2 makes CryptoPro-A keys only: TC26-A fails in the token, and says so.
        ("gost2012-256:TCA", "PKCS#11: generate gost2012-256-tca key 'demo-ca-g1': GeneralError"),
    ],
)
def test_init_refuses_a_gost_key_the_token_cannot_hold_and_leaves_no_home(
    tmp_path: Path, algorithm: str, error: str
) -> None:
    token = make_token(tmp_path, label="gost-refused", module=GOST_MODULE)
    home = CAHome(tmp_path / "ca", {**token.environment(), "CA_HSM_PIN": token.pin})
    refused = home.cli("init", "--algorithm", algorithm, "--backend", "pkcs11",
                       "--module", token.module, "--token-label", token.label,
                       check=False)  # fmt: skip
    assert (refused.returncode, refused.stderr) == (1, f"error: {error}\n")
    assert not (tmp_path / "ca").exists()


@pytest.mark.parametrize("world", ["soft"], indirect=True)  # it makes a soft CA of its own
def test_rfc5280_6_1_a_gost_root_and_issuing_ca_chain_and_root_rollover_verify(
    tmp_path: Path, world: GostWorld
) -> None:
    """`init --hierarchy root+issuing` on GOST: the TLS certificate chains up to the root
    with both CRLs checked (-crl_check_all); after `root rollover` the new root and its CRL
    verify, and `rollover` has it certify the issuing CA's next generation."""
    ca = CAHome(tmp_path / "tree")
    ca.cli("init", "--algorithm", "gost2012-256:TCA", "--hierarchy", "root+issuing")
    ca.cli("root", "rollover")
    ca.cli("rollover")
    new_root = ca.cli("root", "show").stdout.split("root CA '")[-1].split("'")[0]
    assert new_root.startswith("demo-root-")
    server = ServerProcess(ca)
    try:
        trusted = tmp_path / "trusted.pem"
        crls = [http(f"{server.url}/crl/{name}.crl").body for name in ("demo-root", "demo")]
        certificates = [_ca_der(server, name) for name in ("demo-root", "demo")]
        trusted.write_text("".join([*(pem(c, "CERTIFICATE") for c in certificates),
                                    *(pem(c, "X509 CRL") for c in crls)]))  # fmt: skip
        leaf = tmp_path / "leaf.pem"
        chain = (ca.path / "tls" / "server.pem").read_text()
        leaf.write_text(chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
        checked = world.openssl("verify", "-crl_check_all", "-CAfile", trusted, leaf, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        root_der, root_crl = _ca_der(server, new_root), http(f"{server.url}/crl/{new_root}.crl")
        assert gostcrypto_verifies(root_der, root_der)
        assert gostcrypto_verifies(root_crl.body, root_der)
        assert lint_crl(root_crl.body) == []
    finally:
        server.stop()


def _ca_der(server: ServerProcess, name: str) -> bytes:
    answer = http(f"{server.url}/ca/{name}.crt")
    assert answer.status == 200, name
    return answer.body


def test_rfc8951_4_csrattrs_of_a_gost_profile_name_its_key_and_parameter_sets(
    world: GostWorld,
) -> None:
    answer = subprocess.run(
        ["curl", "-s", "-f", "--cacert", str(world.ca_file),
         f"{world.server.tls_url}/.well-known/est/person/csrattrs"],
        capture_output=True, env=world.env, timeout=60,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    attributes = {a.oid: a for a in est.parse_csr_attributes(base64.b64decode(answer.stdout))}
    assert set(attributes) == {gost.KEY_OIDS[256], gost.KEY_OIDS[512]}
    offered = {v for a in attributes.values() for v in a.values}
    assert offered == {est.oid_der(p.oid) for p in gost.PARAMETER_SETS}
