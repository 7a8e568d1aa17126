"""CMP (RFC 4210/9480, Lightweight CMP Profile RFC 9483, over HTTP RFC 6712) against the
running server with OpenSSL 3.0's `openssl cmp` as the client: every issued certificate
verifies and lints clean; bad requests get CMP error messages and change nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols import cmp
from protocols.x509.extensions import extended_key_usage, key_usage
from tests.cmp_client import read_answer
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http
from tests.lint import lint_certificate


@dataclass
class CMPWorld:
    ca: CAHome
    server: ServerProcess
    folder: Path
    ca_file: Path
    ca_subject: str
    legacy_code: tuple[str, str]  # made before its profile required registration

    def code(self, subject: str, profile: str = "tls-client", *more: str) -> tuple[str, str]:
        lines = self.ca.cli("enroll-code", "--profile", profile, "--subject", subject, *more).stdout
        credential_id, secret = lines.splitlines()
        return credential_id, secret

    def key(self, name: str) -> Path:
        path = self.folder / f"{name}.key"
        made = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-out", path)  # fmt: skip
        assert made.returncode == 0, made.stderr
        return path

    def cmp(self, *args: str | Path, path: str = ".well-known/cmp") -> subprocess.CompletedProcess:
        return openssl(*self.cmp_command(path, *args)[1:])

    def cmp_command(self, path: str, *args: str | Path) -> list[str]:
        return ["openssl", "cmp", "-server", f"127.0.0.1:{self.server.port}", "-path", path,
                "-recipient", self.ca_subject, *map(str, args)]  # fmt: skip

    def issued(self, path: Path) -> x509.Certificate:
        verified = openssl("verify", "-CAfile", self.ca_file, path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        assert lint_certificate(certificate.public_bytes(Encoding.DER)) == []
        return certificate

    def status(self, certificate: x509.Certificate) -> str:
        shown = self.ca.cli("show", "--serial", format(certificate.serial_number, "x")).stdout
        return next(line.split()[-1] for line in shown.splitlines() if line.startswith("status"))

    def rows(self, table: str) -> int:
        with sqlite3.connect(self.ca.path / "registry.sqlite3") as db:
            return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# A profile for which a code is made, and which then requires registered subscribers (as
# person does): the code is an unbound one left from before (server/ra/registered_issuance.py).
LEGACY = '\n[profiles.legacy]\ndescription = "badges"\nsubject_attributes = ["CN"]\n'
PROCEDURE = ("the ordinary revocation does not apply to the CA's own certificates; CA key "
             "compromise is handled by the CA key change procedure (README: The CA's own "
             "certificates)")  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CMPWorld]:
    folder = tmp_path_factory.mktemp("cmp")
    ca = CAHome(folder / "ca")
    run_cli("init", "--home", ca.path)
    settings = ca.path / "settings.toml"  # tls-server requests wait for an operator
    text = settings.read_text()
    at = text.index("[profiles.tls-server]")
    at = text.index("\n", text.index("description", at)) + 1
    text = text[:at] + "requires_approval = true\n" + text[at:] + LEGACY
    labels = text.index("\n", text.index("[cmp.labels]")) + 1
    settings.write_text(text[:labels] + 'legacy = "legacy"\n' + text[labels:])
    legacy_id, legacy_secret = ca.cli("enroll-code", "--profile", "legacy", "--subject",
                                      "CN=legacy-badge").stdout.split()  # fmt: skip
    settings.write_text(settings.read_text() + "requires_registered_subscriber = true\n")
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    subject = x509.load_pem_x509_certificate(ca_file.read_bytes()).subject
    ca_subject = "/" + "/".join(reversed(subject.rfc4514_string().split(",")))
    server = ServerProcess(
        ca,
        {
            "CA_CMP__CHECK_AFTER_SECONDS": "1",
            "CA_CMP__CONFIRM_WAIT_SECONDS": "5",
            "CA_CMP__SUSPEND_BY_REVOCATION_REQUEST": "true",
        },
    )
    try:
        yield CMPWorld(ca, server, folder, ca_file, ca_subject, (legacy_id, legacy_secret))
    finally:
        server.stop()


def test_ir_with_a_mac_and_implicit_confirmation(world: CMPWorld) -> None:
    """RFC 9483 4.1.1 with MAC protection (-ref/-secret: the enrollment code)."""
    ref, secret = world.code("CN=cmp-device-1,O=Plant")
    out = world.folder / "d1.pem"
    result = world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}",
                       "-subject", "/CN=cmp-device-1/O=Plant", "-newkey", world.key("d1"),
                       "-implicit_confirm", "-certout", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    certificate = world.issued(out)
    assert certificate.subject.rfc4514_string() == "CN=cmp-device-1,O=Plant"
    assert world.status(certificate) == "good"
    again = world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}",
                      "-subject", "/CN=cmp-device-1/O=Plant", "-newkey", world.key("d1b"),
                      "-certout", world.folder / "d1b.pem", "-unprotected_errors")  # fmt: skip
    assert again.returncode != 0  # the code is spent


def test_ir_confirmed_by_cert_conf(world: CMPWorld) -> None:
    """Without implicit confirmation the client sends certConf and gets pkiConf."""
    ref, secret = world.code("CN=cmp-device-2")
    out = world.folder / "d2.pem"
    result = world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}",
                       "-subject", "/CN=cmp-device-2", "-newkey", world.key("d2"),
                       "-certout", out, "-reqout", f"{world.folder}/d2-ir.der,"
                       f"{world.folder}/d2-certconf.der")  # fmt: skip
    assert result.returncode == 0, result.stderr
    certificate = world.issued(out)
    with sqlite3.connect(world.ca.path / "registry.sqlite3") as db:
        state = db.execute(
            "SELECT state FROM cmp_transactions WHERE serial = ?",
            (format(certificate.serial_number, "x"),),
        ).fetchone()
    assert state == ("done",)
    # Replays: the same ir (transactionIdInUse), the same certConf (already confirmed:
    # certConfirmed, RFC 9810 5.2.3, as Siemens' conformance suite expects).
    for name, failure in (("d2-ir.der", cmp.FailureInfo.transactionIdInUse),
                          ("d2-certconf.der", cmp.FailureInfo.certConfirmed)):  # fmt: skip
        answer = post(world, (world.folder / name).read_bytes())
        assert answer.body_type == "error", name
        assert failure.name in answer.error_text, answer.error_text  # type: ignore[operator]


def test_a_certificate_never_confirmed_is_revoked(world: CMPWorld) -> None:
    """RFC 9483 4.1.1: the client takes the certificate but sends no certConf
    (-disable_confirm); after cmp.confirm_wait_seconds (5 here) the server revokes it."""
    ref, secret = world.code("CN=cmp-forgetful")
    out = world.folder / "forgetful.pem"
    result = world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}",
                       "-subject", "/CN=cmp-forgetful", "-newkey", world.key("forgetful"),
                       "-disable_confirm", "-certout", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    certificate = world.issued(out)
    assert world.status(certificate) == "good"
    for _ in range(60):
        if world.status(certificate) == "revoked":
            break
        time.sleep(0.5)
    assert world.status(certificate) == "revoked"


def test_cr_kur_and_rr_signed_with_the_certificate(world: CMPWorld) -> None:
    """cr and kur protected by a certificate of this CA; answers signed by the server and
    checked by the client against the CA (-trusted); rr revokes the holder's own."""
    ref, secret = world.code("CN=cmp-device-3")
    first = world.folder / "d3.pem"
    key = world.key("d3")
    assert world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}", "-subject",
                     "/CN=cmp-device-3", "-newkey", key, "-implicit_confirm",
                     "-certout", first).returncode == 0  # fmt: skip
    signed = ["-cert", first, "-key", key, "-trusted", world.ca_file]
    other = world.folder / "d3-cr.pem"
    saved = world.folder / "d3-cr.der"
    cr = world.cmp("-cmd", "cr", *signed, "-newkey", world.key("d3-cr"), "-implicit_confirm",
                   "-subject", "/CN=cmp-device-3", "-certout", other, "-reqout", saved)  # fmt: skip
    assert cr.returncode == 0, cr.stderr
    tampered = bytearray(saved.read_bytes())
    protection = cmp.parse_pki_message(bytes(tampered)).protection
    assert protection is not None
    at = bytes(tampered).index(protection)
    tampered[at + len(protection) // 2] ^= 1  # inside the signature
    certificates = world.rows("certificates")
    answer = post(world, bytes(tampered))
    assert answer.body_type == "error" and "badMessageCheck" in (answer.error_text or "")
    assert world.rows("certificates") == certificates
    assert world.issued(other).subject.rfc4514_string() == "CN=cmp-device-3"
    updated = world.folder / "d3-kur.pem"
    kur = world.cmp("-cmd", "kur", *signed, "-newkey", world.key("d3-kur"), "-certout", updated)
    assert kur.returncode == 0, kur.stderr
    assert world.issued(updated).subject.rfc4514_string() == "CN=cmp-device-3"
    genm = world.cmp("-cmd", "genm", *signed, "-infotype", "certReqTemplate")
    assert genm.returncode == 0, genm.stderr  # genm signed too, the genp signed back
    rr = world.cmp("-cmd", "rr", *signed, "-oldcert", first, "-revreason", "1")
    assert rr.returncode == 0, rr.stderr
    assert world.status(x509.load_pem_x509_certificate(first.read_bytes())) == "revoked"
    again = world.cmp("-cmd", "rr", *signed, "-oldcert", first, "-revreason", "1",
                      "-unprotected_errors")  # fmt: skip
    assert again.returncode != 0 and b"certRevoked" in again.stdout + again.stderr  # R7
    refused = world.cmp("-cmd", "cr", *signed, "-newkey", world.key("d3-late"),
                        "-subject", "/CN=cmp-device-3", "-certout", world.folder / "late.pem",
                        "-unprotected_errors")  # fmt: skip
    assert refused.returncode != 0  # a revoked certificate protects nothing


def test_genm_gets_the_ca_certificates(world: CMPWorld) -> None:
    """RFC 9483 4.3.1; OpenSSL 3.0 cannot name id-it-caCerts, so it asks for nothing in
    particular, which gets caCerts (RFC 4210 5.3.19)."""
    ref, secret = world.code("CN=cmp-device-6")
    saved = world.folder / "genp.der"
    result = world.cmp("-cmd", "genm", "-ref", ref, "-secret", f"pass:{secret}",
                       "-rspout", saved)  # fmt: skip
    assert result.returncode == 0, result.stderr
    genp = cmp.parse_pki_message(saved.read_bytes())
    assert genp.body_type == "genp"
    ca = x509.load_pem_x509_certificate(world.ca_file.read_bytes()).public_bytes(Encoding.DER)
    assert ca in genp.der  # the caCerts value holds the CA certificate
    # RFC 9483 4.3.3, which OpenSSL 3.0 can name: the path profile's first key type (one
    # keySpec control, as Siemens' conformance suite requires)
    result = world.cmp("-cmd", "genm", "-ref", ref, "-secret", f"pass:{secret}",
                       "-infotype", "certReqTemplate", "-rspout", saved)  # fmt: skip
    assert result.returncode == 0, result.stderr
    template = cmp.cert_req_template_value(
        ["ec-p256"],
        [key_usage(["digital_signature"]).dump(), extended_key_usage(["client_auth"]).dump()],
    )  # tls-client's first key type, keyUsage and extKeyUsage
    assert template in cmp.parse_pki_message(saved.read_bytes()).der


def test_rfc9483_3_3_openssl_accepts_answers_signed_by_the_cmp_protection_certificate(
    world: CMPWorld,
) -> None:
    """Signed answers are signed by the CMP server's own certificate made at `init` (profile
    cmp-server, id-kp-cmcCA and id-kp-cmKGA; server/cmp/identity.py), first in extraCerts
    with the CA certificate after it (RFC 9483 3.3), not by the TLS identity: OpenSSL
    accepts them against the CA (-trusted) and pinned to that very certificate
    (-srvcert), which lints clean."""
    [line] = world.ca.cli("list", "--profile", "cmp-server").stdout.splitlines()
    serial = line.split()[0]
    protection = world.folder / "cmp-server.pem"
    protection.write_text(world.ca.cli("show", "--serial", serial, "--pem").stdout)
    certificate = world.issued(protection)  # verifies against the CA, lints clean
    purposes = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {p.dotted_string for p in purposes} == {"1.3.6.1.5.5.7.3.27", "1.3.6.1.5.5.7.3.32"}
    ref, secret = world.code("CN=cmp-device-9")
    holder, key = world.folder / "d9.pem", world.key("d9")
    assert world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}", "-subject",
                     "/CN=cmp-device-9", "-newkey", key, "-implicit_confirm",
                     "-certout", holder).returncode == 0  # fmt: skip
    saved = world.folder / "genp-signed.der"
    for check in (["-trusted", world.ca_file], ["-srvcert", protection]):
        genm = world.cmp("-cmd", "genm", "-cert", holder, "-key", key, *check,
                         "-rspout", saved)  # fmt: skip
        assert genm.returncode == 0, genm.stderr
        answer = cmp.parse_pki_message(saved.read_bytes())
        ca = x509.load_pem_x509_certificate(world.ca_file.read_bytes())
        assert list(answer.extra_certs[:2]) == [certificate.public_bytes(Encoding.DER),
                                                ca.public_bytes(Encoding.DER)]  # fmt: skip
        assert cmp.verify_signature(answer, answer.extra_certs[0])


def test_rr_with_certificate_hold_suspends(world: CMPWorld) -> None:
    """S8 (where cmp.suspend_by_revocation_request allows): rr with reason certificateHold
    (6) suspends; the suspended certificate then protects nothing but an rr, and its
    holder's rr with removeFromCRL (8) lifts the hold it asked for (RFC 5280 5.3.1)."""
    ref, secret = world.code("CN=cmp-device-7")
    held, key = world.folder / "d7.pem", world.key("d7")
    assert world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}", "-subject",
                     "/CN=cmp-device-7", "-newkey", key, "-implicit_confirm",
                     "-certout", held).returncode == 0  # fmt: skip
    signed = ["-cert", held, "-key", key, "-trusted", world.ca_file]
    rr = world.cmp("-cmd", "rr", *signed, "-oldcert", held, "-revreason", "6")
    assert rr.returncode == 0, rr.stderr
    certificate = x509.load_pem_x509_certificate(held.read_bytes())
    assert world.status(certificate) == "hold"
    renewal = world.cmp("-cmd", "kur", *signed, "-newkey", world.key("d7b"),
                        "-certout", world.folder / "d7b.pem", "-unprotected_errors")  # fmt: skip
    assert renewal.returncode != 0 and b"signerNotTrusted" in renewal.stdout + renewal.stderr
    revive = world.cmp("-cmd", "rr", *signed, "-oldcert", held, "-revreason", "8")
    assert revive.returncode == 0, revive.stderr
    assert world.status(certificate) == "good"


def test_p10cr_with_a_mac(world: CMPWorld) -> None:
    ref, secret = world.code("CN=cmp-device-4")
    csr = world.folder / "d4.csr"
    made = openssl("req", "-new", "-key", world.key("d4"), "-subj", "/CN=cmp-device-4",
                   "-out", csr)  # fmt: skip
    assert made.returncode == 0
    out = world.folder / "d4.pem"
    result = world.cmp("-cmd", "p10cr", "-ref", ref, "-secret", f"pass:{secret}",
                       "-csr", csr, "-certout", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert world.issued(out).subject.rfc4514_string() == "CN=cmp-device-4"


def test_a_request_waits_for_approval_and_the_client_polls(world: CMPWorld) -> None:
    """RFC 9483 4.4: ip with status waiting, pollReq / pollRep (checkAfter) until the
    operator approves, then the certificate (and certConf); a rejection ends the polling
    with the operator's reason."""
    outcomes = {}
    for name, decision in (("approved", "approve"), ("rejected", "reject")):
        ref, secret = world.code(
            f"CN={name}.example.ru", "tls-server", "--dns", f"{name}.example.ru"
        )
        out = world.folder / f"{name}.pem"
        client = subprocess.Popen(
            world.cmp_command(".well-known/cmp/p/tls-server", "-cmd", "ir", "-ref", ref,
                              "-secret", f"pass:{secret}", "-subject", f"/CN={name}.example.ru",
                              "-sans", f"{name}.example.ru", "-newkey", world.key(name),
                              "-certout", out, "-total_timeout", "120", "-verbosity", "6"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        waiting = []
        for _ in range(100):
            listed = world.ca.cli("applications").stdout.splitlines()
            waiting = [line for line in listed if f"CN={name}.example.ru" in line]
            if waiting:
                break
            time.sleep(0.2)
        assert waiting, "the request never became an application"
        application = waiting[0].split()[0]
        if decision == "approve":
            world.ca.cli("approve", "--id", application)
        else:
            world.ca.cli("reject", "--id", application, "--reason", "not our server")
        stdout, stderr = client.communicate(timeout=120)
        outcomes[name] = (client.returncode, stdout + stderr)
        assert "received POLLREP" in stdout + stderr, stdout + stderr
    assert outcomes["approved"][0] == 0, outcomes["approved"][1]
    certificate = world.issued(world.folder / "approved.pem")
    assert certificate.subject.rfc4514_string() == "CN=approved.example.ru"
    assert outcomes["rejected"][0] != 0 and "not our server" in outcomes["rejected"][1]


def post(world: CMPWorld, der: bytes) -> cmp.PKIMessage:
    answer = http(f"{world.server.url}/.well-known/cmp", der,
                  {"Content-Type": "application/pkixcmp"})  # fmt: skip
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/pkixcmp"
    return cmp.parse_pki_message(answer.body)


def test_bad_requests_get_error_messages_and_change_nothing(world: CMPWorld) -> None:
    ref, secret = world.code("CN=cmp-device-5")
    before = world.rows("certificates")
    wrong = world.cmp("-cmd", "ir", "-ref", ref, "-secret", "pass:not-the-secret",
                      "-subject", "/CN=cmp-device-5", "-newkey", world.key("d5"),
                      "-certout", world.folder / "d5.pem", "-unprotected_errors",
                      "-reqout", world.folder / "d5-ir.der")  # fmt: skip
    assert wrong.returncode != 0
    unknown = world.cmp("-cmd", "ir", "-ref", "ec-0000000000000000", "-secret", f"pass:{secret}",
                        "-subject", "/CN=cmp-device-5", "-newkey", world.key("d5b"),
                        "-certout", world.folder / "d5b.pem", "-unprotected_errors")  # fmt: skip
    assert unknown.returncode != 0
    request = (world.folder / "d5-ir.der").read_bytes()
    for body, failure in (
        (request[: len(request) // 2], cmp.FailureInfo.badDataFormat),
        (b"\x30\x03\x02\x01\x02", cmp.FailureInfo.badDataFormat),
        # a length of 2^64 - 1 inside the header: pyasn1's OverflowError was HTTP 500
        (bytes.fromhex("3017301502" + "88" + "ff" * 8) + bytes(14), cmp.FailureInfo.badDataFormat),
        (request, cmp.FailureInfo.badMessageCheck),
    ):
        answer = post(world, body)
        assert answer.body_type == "error"
        assert (answer.error_text or "").partition(":")[0] == failure.name, answer.error_text
    assert http(f"{world.server.url}/.well-known/cmp", request).status == 415
    assert world.rows("certificates") == before
    right = world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}",
                      "-subject", "/CN=cmp-device-5", "-newkey", world.key("d5c"),
                      "-implicit_confirm", "-certout", world.folder / "d5c.pem")  # fmt: skip
    assert right.returncode == 0, right.stderr  # the code was left usable


def test_a_registered_persons_code_enrolls_over_cmp_with_the_registered_subject(
    world: CMPWorld,
) -> None:
    """Where the registration authority meets CMP: the code approving a subscriber's
    application hands out (D2, P2) enrolls with `openssl cmp -ir` on the person profile; the
    certificate carries the registered SNILS and INN as NumericString. A code made for the
    subscriber without an application is refused (server/ra/registered_issuance.py)."""
    subscriber = world.ca.cli(
        "register", "--kind", "individual", "--surname", "Sidorov", "--given-names",
        "Sidor Sidorovich", "--snils", "08765430300", "--inn", "500100732259",
    ).stdout.strip()  # fmt: skip
    application = world.ca.cli("apply", "--subscriber", subscriber, "--profile", "person"
                               ).stdout.splitlines()[0]  # fmt: skip
    refused = world.ca.cli("approve", "--id", application, check=False)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"error: subscriber {subscriber} has no identity record (P3)\n"
    (listed,) = [line for line in world.ca.cli("applications").stdout.splitlines()
                 if line.startswith(application)]  # fmt: skip
    assert " submitted " in listed  # still waiting for a decision
    world.ca.cli("identify", "--id", subscriber, "--document-type", "passport_rf",
                 "--document-number", "4511 654321", "--document-issuer", "OVD Arbat",
                 "--document-date", "2016-04-02")  # fmt: skip
    world.ca.cli("acknowledge", "--id", subscriber)
    codes = world.ca.cli("credentials", "--all").stdout
    without = world.ca.cli("enroll-code", "--profile", "person", "--subscriber", subscriber,
                           check=False)  # fmt: skip
    assert (without.returncode, without.stdout) == (1, "")
    assert without.stderr == (
        "error: profile 'person' is issued only through an approved application: approve "
        "makes its enrollment code (register, identify, acknowledge, apply, approve)\n"
    )
    assert world.ca.cli("credentials", "--all").stdout == codes
    ref, secret = world.ca.cli("approve", "--id", application).stdout.split()
    out = world.folder / "person.pem"
    result = world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}", "-subject",
                       "/C=RU/INN=500100732259/SNILS=08765430300/GN=Sidor Sidorovich/SN=Sidorov"
                       "/CN=Sidorov Sidor Sidorovich",
                       "-newkey", world.key("person"), "-implicit_confirm", "-certout", out,
                       path=".well-known/cmp/p/person")  # fmt: skip
    assert result.returncode == 0, result.stderr
    certificate = world.issued(out)
    shown = openssl("x509", "-in", out, "-noout", "-subject", "-nameopt", "RFC2253").stdout
    assert b"SNILS=08765430300" in shown and b"INN=500100732259" in shown
    assert world.status(certificate) == "good"


def test_d2_rfc4210_5_2_3_an_unbound_code_is_not_authorized_for_a_registered_profile(
    world: CMPWorld,
) -> None:
    """ir with a code not bound to an approved application, for a profile that issues only
    to registered subscribers: a CMP error with failInfo notAuthorized naming the RA's
    route; no certificate, and the code stays unspent."""
    ref, secret = world.legacy_code
    certificates = world.rows("certificates")
    answer_file = world.folder / "legacy-error.der"
    result = world.cmp("-cmd", "ir", "-ref", ref, "-secret", f"pass:{secret}",
                       "-subject", "/CN=legacy-badge", "-newkey", world.key("legacy"),
                       "-certout", world.folder / "legacy.pem", "-rspout", answer_file,
                       path=".well-known/cmp/p/legacy")  # fmt: skip
    assert result.returncode != 0, result.stdout + result.stderr
    answer = cmp.parse_pki_message(answer_file.read_bytes())
    assert answer.body_type == "error"
    assert answer.error_text == (
        "notAuthorized: this enrollment code is not bound to an approved application: "
        "profile 'legacy' is issued only to a registered, identified subscriber who "
        "acknowledged the notice, through an approved application (register, identify, "
        "acknowledge, apply, approve)"
    )
    assert world.rows("certificates") == certificates
    listed = world.ca.cli("credentials").stdout
    assert any(line.startswith(ref) and line.endswith("unused") for line in listed.splitlines())


def test_rfc9483_4_2_rr_of_the_cas_own_certificates_is_refused_not_authorized(
    world: CMPWorld,
) -> None:
    """An rr for the OCSP responder's certificate, protected by it and its key (what whoever
    holds a compromised key of the CA's could send): an rp with status rejection and
    failInfo notAuthorized (RFC 4210 5.2.3: the request is not permitted; RFC 9483 4.2: the
    rr is answered in kind) naming the CA key change procedure. OpenSSL
    leaves a self-signed protecting certificate out of extraCerts, so an rr protected by
    the CA certificate itself is refused before it is read (badMessageCheck: the protection
    cannot be checked without the certificate, RFC 9483 3.3, 3.5), in an rp too, as every
    refusal of an rr (4.2). Nothing changes either way."""
    keys, passphrase = world.ca.path / "keys", (world.ca.path / "pin.txt").read_text().strip()
    [responder_line] = world.ca.cli("list", "--profile", "ocsp-responder").stdout.splitlines()
    responder = responder_line.split()[0]
    responder_file = world.folder / "responder.pem"
    responder_file.write_text(world.ca.cli("show", "--serial", responder, "--pem").stdout)
    ca_serial = format(x509.load_pem_x509_certificate(world.ca_file.read_bytes()).serial_number,
                       "x")  # fmt: skip
    [ca_key] = keys.glob("*-ca-g1.pem")
    [responder_key] = keys.glob("*-ocsp-g1-*.pem")
    for certificate, key, serial, refusal in (
        (responder_file, responder_key, responder,
         ("rp", "notAuthorized", f"certificate {responder} is an OCSP responder certificate "
          f"of generation 1: {PROCEDURE}")),
        (world.ca_file, ca_key, ca_serial,
         ("rp", "badMessageCheck", "the protecting certificate must come first in "
          "extraCerts")),
    ):  # fmt: skip
        shown = world.ca.cli("show", "--serial", serial).stdout
        answer_file = world.folder / f"rr-{serial}.der"
        result = world.cmp("-cmd", "rr", "-cert", certificate, "-key", key,
                           "-keypass", f"pass:{passphrase}", "-trusted", world.ca_file,
                           "-oldcert", certificate, "-revreason", "2", "-rspout", answer_file,
                           "-unprotected_errors")  # fmt: skip
        assert result.returncode != 0
        answer = read_answer(answer_file.read_bytes())
        assert answer.status is cmp.PKIStatus.rejection
        assert (answer.body_type, *answer.fail_info, answer.text) == refusal
        assert world.ca.cli("show", "--serial", serial).stdout == shown
        assert "status:     good" in shown
