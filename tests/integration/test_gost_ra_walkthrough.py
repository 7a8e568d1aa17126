"""The README's registration-authority walk-through on a GOST CA with GOST subscriber keys
(issue #16): a person and a sole proprietor are registered, identified, notified; an
application is approved into an enrollment code; the holder makes a GOST R 34.10-2012 key
and request with `openssl req` and gost-engine and enrolls with curl over EST, as the
README does it. The certificate is GOST-signed (RFC 9215), verified by `openssl verify`
with the engine and by gostcrypto, lints clean, carries the Russian subject and extensions
with the keyUsage of a GOST signing key (reference/ru-profile.md 3), and `openssl ocsp`
says good, then revoked. An EC key is refused under `person` on a GOST CA."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from hsm import gost_engine
from protocols import der
from protocols.x509.spki import certificate_spki
from tests import gost_oracle
from tests.gost_support import openssl_conf, require_engine
from tests.integration.cli import openssl
from tests.integration.conftest import CAHome
from tests.integration.holder import (
    EC_P256,
    GOST_256_A,
    certificate_from,
    make_request,
    ocsp_status,
    simpleenroll,
)
from tests.integration.server_process import ServerProcess
from tests.lint import lint_certificate

SIGNWITHDIGEST_256 = "1.2.643.7.1.1.3.2"  # RFC 9215 3.2
# RFC 9215 5.1, NumericString
SNILS, INN, OGRNIP = "1.2.643.100.3", "1.2.643.3.131.1.1", "1.2.643.100.5"
# RFC 9215 5.3 (subjectSignTool, issuerSignTool), 5.4 (identificationKind); the KC1 class
SUBJECT_SIGN_TOOL, ISSUER_SIGN_TOOL = "1.2.643.100.111", "1.2.643.100.112"
IDENTIFICATION_KIND, KC1 = "1.2.643.100.114", "1.2.643.100.113.1"
GOST_KEY_USAGE = {"digital_signature", "non_repudiation", "key_encipherment", "data_encipherment"}


@dataclass
class GostRA:
    ca: CAHome
    server: ServerProcess
    ca_file: Path
    env: dict[str, str]  # OPENSSL_CONF loading gost-engine, for openssl and curl

    def approved_code(self, folder: Path, profile: str, *register: str) -> tuple[str, str]:
        """The operator's steps: register, identify, acknowledge, apply, approve: the
        enrollment code (id, secret) for the application."""
        subscriber = self.ca.cli("register", *register).stdout.strip()
        self.ca.cli("identify", "--id", subscriber, "--document-type", "passport_rf",
                    "--document-number", "4510 123456", "--document-issuer", "OVD Tverskoy",
                    "--document-date", "2015-03-01")  # fmt: skip
        self.ca.cli("acknowledge", "--id", subscriber)
        scan = folder / "passport.pdf"
        scan.write_bytes(b"%PDF- a scan")
        applied = self.ca.cli("apply", "--subscriber", subscriber, "--profile", profile,
                              "--attach", scan)  # fmt: skip
        code_id, secret = self.ca.cli("approve", "--id", applied.stdout.split()[0]).stdout.split()
        return code_id, secret


@pytest.fixture(scope="module")
def gost_ra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GostRA]:
    require_engine()
    folder = tmp_path_factory.mktemp("gost-ra")
    ca = CAHome(folder / "ca")
    ca.cli("init", "--algorithm", "gost2012-256", "--subject", "CN=RA GOST CA,O=Test,C=RU")
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    server = ServerProcess(ca)
    try:
        yield GostRA(ca, server, ca_file, {"OPENSSL_CONF": str(openssl_conf(folder))})
    finally:
        server.stop()


PERSON = ("--kind", "individual", "--surname", "Ivanov", "--given-names", "Ivan Ivanovich",
          "--snils", "112-233-445 95", "--inn", "500100732259")  # fmt: skip
SOLE_PROPRIETOR = ("--kind", "sole_proprietor", "--surname", "Petrov", "--given-names", "Petr",
                   "--snils", "087-654-303 00", "--inn", "500100732259",
                   "--ogrnip", "304500116000157")  # fmt: skip


@pytest.mark.parametrize(
    ("profile", "register", "identifiers"),
    [
        ("person", PERSON, {SNILS: "11223344595", INN: "500100732259"}),
        ("sole-proprietor", SOLE_PROPRIETOR,
         {SNILS: "08765430300", INN: "500100732259", OGRNIP: "304500116000157"}),
    ],
)  # fmt: skip
def test_rfc9215_a_gost_key_enrolled_through_the_ra_is_certified_gost_signed_then_revoked(
    gost_ra: GostRA,
    tmp_path: Path,
    profile: str,
    register: tuple[str, ...],
    identifiers: dict[str, str],
) -> None:
    code = gost_ra.approved_code(tmp_path, profile, *register)
    request = make_request(tmp_path, "holder", GOST_256_A, gost_ra.env)
    status, answer = simpleenroll(gost_ra.server, gost_ra.ca_file, code, request, profile,
                                  gost_ra.env)  # fmt: skip
    assert status == 200, answer
    leaf = tmp_path / "holder.pem"
    issued = certificate_from(answer, leaf)

    tbs, algorithm, signature = _signed_parts(issued)
    assert algorithm == SIGNWITHDIGEST_256
    assert gost_engine.paramset_of(certificate_spki(issued)) == (256, "A")  # the holder's key
    verified = openssl("verify", "-CAfile", gost_ra.ca_file, leaf, env=gost_ra.env)
    assert verified.returncode == 0 and b": OK" in verified.stdout, verified.stderr
    ca_der = _pem_der(gost_ra.ca_file.read_bytes())
    assert gost_oracle.verify(certificate_spki(ca_der), signature, tbs)
    assert lint_certificate(issued) == []

    certificate = asn1_x509.Certificate.load(issued)
    assert _numeric_attributes(certificate) == identifiers
    extensions = {e["extn_id"].dotted: e for e in certificate["tbs_certificate"]["extensions"]}
    key_usage = extensions["2.5.29.15"]
    assert key_usage["critical"].native is True
    assert key_usage["extn_value"].parsed.native == GOST_KEY_USAGE
    assert {SUBJECT_SIGN_TOOL, ISSUER_SIGN_TOOL, IDENTIFICATION_KIND} <= extensions.keys()
    assert KC1 in [
        p["policy_identifier"].dotted for p in extensions["2.5.29.32"]["extn_value"].parsed
    ]

    url = f"{gost_ra.server.url}/ocsp"
    assert ": good" in ocsp_status(gost_ra.ca_file, leaf, url, gost_ra.env)
    serial = format(certificate.serial_number, "x")
    gost_ra.ca.cli("revoke", "--serial", serial, "--reason", "keyCompromise", "--basis",
                   "holder_request", "--grounds", "letter 4")  # fmt: skip
    revoked = ocsp_status(gost_ra.ca_file, leaf, url, gost_ra.env)
    assert ": revoked" in revoked and "Revocation Reason: keyCompromise" in revoked, revoked


def _signed_parts(signed_der: bytes) -> tuple[bytes, str, bytes]:
    """(toBeSigned octets, signature algorithm OID, signature) of a SIGNED{} structure."""
    (_, tbs), (_, algorithm), (_, bits) = der.elements(signed_der)
    oid = asn1_x509.AlgorithmIdentifier.load(algorithm)["algorithm"].dotted
    return tbs, oid, der.contents(bits)[1:]


def _pem_der(pem: bytes) -> bytes:
    body = pem.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END")[0]
    return base64.b64decode(body)


def _numeric_attributes(certificate: asn1_x509.Certificate) -> dict[str, str]:
    """The subject's NumericString attributes (RFC 9215 5.1), by type OID."""
    found = {}
    for rdn in certificate.subject.chosen:
        for attribute in rdn:
            value = attribute["value"]
            if isinstance(value, core.Any):
                value = value.parsed
            if isinstance(value, core.NumericString):
                found[attribute["type"].dotted] = value.native
    return found


def test_rfc7030_4_2_1_an_ec_key_is_refused_for_person_on_a_gost_ca_and_nothing_is_written(
    gost_ra: GostRA, tmp_path: Path
) -> None:
    sidorov = ("--kind", "individual", "--surname", "Sidorov", "--given-names", "Sidor",
               "--snils", "123-456-789 64")  # fmt: skip
    code = gost_ra.approved_code(tmp_path, "person", *sidorov)
    issued_before = gost_ra.ca.cli("list", "--profile", "person").stdout
    ec_request = make_request(tmp_path, "ec-holder", EC_P256)

    refused = simpleenroll(gost_ra.server, gost_ra.ca_file, code, ec_request, "person",
                           gost_ra.env)  # fmt: skip
    assert refused == (403, (
        b"profile 'person' does not allow ec-p256 keys (allowed: gost2012-256-a, gost2012-256-b,"
        b" gost2012-256-c, gost2012-256-xa, gost2012-256-xb, gost2012-256-tca, gost2012-256-tcb,"
        b" gost2012-256-tcc, gost2012-256-tcd, gost2012-512-a, gost2012-512-b, gost2012-512-c)\n"
    ))  # fmt: skip
    assert gost_ra.ca.cli("list", "--profile", "person").stdout == issued_before
    (listed,) = [line for line in gost_ra.ca.cli("credentials").stdout.splitlines()
                 if line.startswith(code[0])]  # fmt: skip
    assert "unused" in listed

    gost_request = make_request(tmp_path, "gost-holder", GOST_256_A, gost_ra.env)
    status, answer = simpleenroll(gost_ra.server, gost_ra.ca_file, code, gost_request, "person",
                                  gost_ra.env)  # fmt: skip
    assert status == 200, answer
    assert gost_ra.ca.cli("list", "--profile", "person").stdout != issued_before
