"""EST (RFC 7030) against the running server over real TLS, with curl and OpenSSL as the
client a newcomer would use; every issued certificate verifies and lints clean."""

from __future__ import annotations

import asyncio
import base64
import http.client
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_der_private_key
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AttributeOID

from protocols import cms, est
from tests.csr_factory import make_csr
from tests.enrollment_codes import make_codes
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.profiles import APPROVED, APPROVED_DEVICE
from tests.integration.server_process import ServerProcess
from tests.lint import lint_certificate


@dataclass
class Curl:
    status: int
    headers: str
    body: bytes


@dataclass
class ESTWorld:
    ca: CAHome
    server: ServerProcess
    folder: Path
    ca_file: Path
    legacy_code: tuple[str, str]  # made before its profile required registration

    def url(self, operation: str, label: str | None = None) -> str:
        middle = f"/{label}" if label else ""
        return f"{self.server.tls_url}/.well-known/est{middle}/{operation}"

    def curl(self, *args: str | Path) -> Curl:
        head = self.folder / "headers.txt"
        result = subprocess.run(
            ["curl", "-s", "--cacert", str(self.ca_file), "-D", str(head), *map(str, args)],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        headers = head.read_text()
        status = int(headers.split("\n", 1)[0].split()[1])
        return Curl(status, headers, result.stdout)

    def code(self, profile: str, subject: str, *alt_names: str) -> tuple[str, str]:
        lines = self.ca.cli(
            "enroll-code", "--profile", profile, "--subject", subject, *alt_names
        ).stdout
        credential_id, secret = lines.splitlines()
        return credential_id, secret

    def csr_b64(self, name: str, subj: str, san: str = "") -> Path:
        args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.folder / f"{name}.key", "-subj", subj,
                "-outform", "DER", "-out", self.folder / f"{name}.der"]  # fmt: skip
        if san:
            args += ["-addext", f"subjectAltName={san}"]
        assert openssl(*args).returncode == 0
        path = self.folder / f"{name}.b64"
        path.write_bytes(base64.encodebytes((self.folder / f"{name}.der").read_bytes()))
        return path

    def enroll(
        self, operation: str, csr: Path, *auth: str | Path, label: str | None = None
    ) -> Curl:
        return self.curl(*auth, "-H", "Content-Type: application/pkcs10",
                         "--data-binary", f"@{csr}", self.url(operation, label))  # fmt: skip

    def certificate_of(self, answer: Curl) -> x509.Certificate:
        assert answer.status == 200, answer.body
        assert "application/pkcs7-mime" in answer.headers
        der = base64.b64decode(answer.body)
        (self.folder / "p7.der").write_bytes(der)
        printed = openssl("pkcs7", "-inform", "DER", "-in", self.folder / "p7.der", "-print_certs")
        assert printed.returncode == 0
        (self.folder / "leaf.pem").write_bytes(printed.stdout)
        verified = openssl("verify", "-CAfile", self.ca_file, self.folder / "leaf.pem")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        certificate = x509.load_pem_x509_certificate(printed.stdout)
        assert lint_certificate(certificate.public_bytes(Encoding.DER)) == []
        return certificate


# A profile for which a code is made, and which then requires registered subscribers (as
# person does): the code is an unbound one left from before (server/ra/registered_issuance.py).
LEGACY = '\n[profiles.legacy]\ndescription = "badges"\nsubject_attributes = ["CN"]\n'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ESTWorld]:
    folder = tmp_path_factory.mktemp("est")
    ca = CAHome(folder / "ca")
    run_cli("init", "--home", ca.path)
    settings = ca.path / "settings.toml"
    text = settings.read_text()
    labels = text.index("\n", text.index("[est.labels]")) + 1
    settings.write_text(text[:labels] + f'{APPROVED} = "{APPROVED}"\nlegacy = "legacy"\n'
                        + text[labels:] + APPROVED_DEVICE + LEGACY)  # fmt: skip
    legacy = ca.cli("enroll-code", "--profile", "legacy", "--subject", "CN=legacy-badge")
    legacy_id, legacy_secret = legacy.stdout.split()
    settings.write_text(settings.read_text() + "requires_registered_subscriber = true\n")
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    server = ServerProcess(ca, {"CA_EST__CLIENT_CERTIFICATE_LABELS": '["tls-server"]'})
    try:
        yield ESTWorld(ca, server, folder, ca_file, (legacy_id, legacy_secret))
    finally:
        server.stop()


def test_cacerts_is_a_certs_only_cms_of_the_ca(world: ESTWorld) -> None:
    answer = world.curl(world.url("cacerts"))
    assert answer.status == 200
    assert "Content-Type: application/pkcs7-mime" in answer.headers
    assert "Content-Transfer-Encoding: base64" in answer.headers
    der = base64.b64decode(answer.body)
    (world.folder / "cacerts.der").write_bytes(der)
    printed = openssl("pkcs7", "-inform", "DER", "-in", world.folder / "cacerts.der",
                      "-print_certs")  # fmt: skip
    ours = x509.load_pem_x509_certificate(world.ca_file.read_bytes())
    assert x509.load_pem_x509_certificate(printed.stdout) == ours
    assert world.curl(world.url("cacerts", "tls-server")).status == 200
    assert world.curl(world.url("cacerts", "no-such-label")).status == 404


def test_csrattrs_names_the_key_types(world: ESTWorld) -> None:
    answer = world.curl(world.url("csrattrs", "person"))
    assert answer.status == 200 and "application/csrattrs" in answer.headers
    attributes = est.parse_csr_attributes(base64.b64decode(answer.body))
    assert {a.oid for a in attributes} == {est.ID_EC_PUBLIC_KEY, "1.2.840.113549.1.1.1"}


def test_simpleenroll_with_an_enrollment_code(world: ESTWorld) -> None:
    user, password = world.code("tls-client", "CN=device-1,O=Plant")
    csr = world.csr_b64("d1", "/CN=device-1/O=Plant")
    certificate = world.certificate_of(
        world.enroll("simpleenroll", csr, "-u", f"{user}:{password}")
    )
    assert certificate.subject.rfc4514_string() == "CN=device-1,O=Plant"
    again = world.enroll("simpleenroll", world.csr_b64("d1b", "/CN=device-1/O=Plant"),
                         "-u", f"{user}:{password}")  # fmt: skip
    assert again.status == 401 and 'WWW-Authenticate: Basic realm="EST"' in again.headers


def test_subject_comes_from_the_code_and_other_names_are_refused(world: ESTWorld) -> None:
    user, password = world.code("tls-client", "CN=device-2")
    empty = world.csr_b64("d2e", "/")
    certificate = world.certificate_of(
        world.enroll("simpleenroll", empty, "-u", f"{user}:{password}")
    )
    assert certificate.subject.rfc4514_string() == "CN=device-2"
    user, password = world.code("tls-client", "CN=device-3")
    other = world.enroll(
        "simpleenroll", world.csr_b64("d3", "/CN=admin"), "-u", f"{user}:{password}"
    )
    assert other.status == 403 and b"differs" in other.body


def test_a_label_selects_the_profile(world: ESTWorld) -> None:
    user, password = world.code("tls-server", "CN=www.example.ru", "--dns", "www.example.ru")
    csr = world.csr_b64("srv", "/CN=www.example.ru", "DNS:www.example.ru")
    wrong_label = world.enroll("simpleenroll", csr, "-u", f"{user}:{password}")
    assert wrong_label.status == 403 and b"for profile 'tls-server'" in wrong_label.body
    other_name = world.csr_b64("srv-other", "/CN=www.example.ru", "DNS:bank.ru")
    refused = world.enroll("simpleenroll", other_name, "-u", f"{user}:{password}",
                           label="tls-server")  # fmt: skip
    assert refused.status == 403 and b"does not allow the DNS name bank.ru" in refused.body
    answer = world.enroll("simpleenroll", csr, "-u", f"{user}:{password}", label="tls-server")
    certificate = world.certificate_of(answer)
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [oid.dotted_string for oid in eku] == ["1.3.6.1.5.5.7.3.1"]


def test_simplereenroll_with_the_client_certificate(world: ESTWorld) -> None:
    user, password = world.code("tls-client", "CN=device-4")
    first = world.certificate_of(
        world.enroll(
            "simpleenroll", world.csr_b64("d4", "/CN=device-4"), "-u", f"{user}:{password}"
        )
    )
    cert_file = world.folder / "d4.pem"
    cert_file.write_bytes(first.public_bytes(Encoding.PEM))
    tls = ("--cert", cert_file, "--key", world.folder / "d4.key")
    renewed = world.certificate_of(
        world.enroll("simplereenroll", world.csr_b64("d4new", "/CN=device-4"), *tls)
    )
    assert renewed.subject == first.subject and renewed.serial_number != first.serial_number
    same_key = world.enroll("simplereenroll", world.folder / "d4.b64", *tls)
    assert same_key.status == 403 and b"already certified" in same_key.body
    renamed = world.enroll("simplereenroll", world.csr_b64("d4x", "/CN=someone-else"), *tls)
    assert renamed.status == 403 and b"subject must be" in renamed.body
    nobody = world.enroll("simplereenroll", world.csr_b64("d4y", "/CN=device-4"))
    assert nobody.status == 401
    world.ca.cli("suspend", "--serial", format(first.serial_number, "x"))
    held = world.enroll("simplereenroll", world.csr_b64("d4z", "/CN=device-4"), *tls)
    assert held.status == 403 and b"suspended" in held.body


def test_serverkeygen_returns_the_key_and_its_certificate(world: ESTWorld) -> None:
    user, password = world.code("tls-client", "CN=device-5")
    answer = world.enroll("serverkeygen", world.csr_b64("d5", "/CN=device-5"),
                          "-u", f"{user}:{password}")  # fmt: skip
    assert answer.status == 200
    content_type = next(line.split(": ", 1)[1].strip() for line in answer.headers.splitlines()
                        if line.lower().startswith("content-type:"))  # fmt: skip
    parts = est.parse_multipart_mixed(answer.body, content_type)
    assert [headers["content-type"].split(";")[0] for headers, _ in parts] == [
        "application/pkcs8", "application/pkcs7-mime",
    ]  # fmt: skip
    key = load_der_private_key(base64.b64decode(parts[0][1]), None)
    (world.folder / "kg.der").write_bytes(base64.b64decode(parts[1][1]))
    printed = openssl("pkcs7", "-inform", "DER", "-in", world.folder / "kg.der", "-print_certs")
    certificate = x509.load_pem_x509_certificate(printed.stdout)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.rfc4514_string() == "CN=device-5"


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["-H", "Content-Type: text/plain", "--data-binary", "abc"], 415),
        (["-H", "Content-Type: application/pkcs10", "--data-binary", "@-nope"], 400),
        (["-H", "Content-Type: application/pkcs10", "--data-binary", "bm90IGEgY3Ny"], 400),
        (["-H", "Content-Type: application/pkcs10", "--data-binary", "A" * 70000], 413),
    ],
    ids=["content-type", "empty", "not-a-csr", "too-large"],
)
def test_bad_requests(world: ESTWorld, args: list[str], status: int) -> None:
    user, password = world.code("tls-client", "CN=bad")
    answer = world.curl("-u", f"{user}:{password}", *args, world.url("simpleenroll"))
    assert answer.status == status, answer.body
    # The code was not spent by a failed request.
    ok = world.enroll(
        "simpleenroll", world.csr_b64("bad-ok", "/CN=bad"), "-u", f"{user}:{password}"
    )
    assert ok.status == 200


def test_plain_http_and_fullcmc(world: ESTWorld) -> None:
    plain = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            world.server.url + "/.well-known/est/cacerts"],
                           capture_output=True, timeout=30)  # fmt: skip
    assert plain.stdout == b"403"
    assert world.curl("-X", "POST", world.url("fullcmc")).status == 501


def test_concurrent_enrollments_on_two_workers_all_succeed(world: ESTWorld) -> None:
    """Two HTTP worker processes share the registry: concurrent enrollments must never
    meet a locked database (each process's reads and transactions take turns on its
    connection; see Registry.reading)."""
    server = ServerProcess(world.ca, {"CA_SERVER__WORKERS": "2"})
    codes = asyncio.run(make_codes(world.ca.path, 60))
    jobs = [
        (user, password, base64.encodebytes(make_csr([("CN", f"load-{n}")])))
        for n, (user, password) in enumerate(codes)
    ]

    async def enroll_all() -> list[int]:
        context = ssl.create_default_context(cafile=str(world.ca_file))
        url = f"{server.tls_url}/.well-known/est/simpleenroll"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:

            async def one(user: str, password: str, body: bytes) -> int:
                headers = {
                    "Content-Type": "application/pkcs10",
                    "Authorization": aiohttp.encode_basic_auth(user, password),
                }
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    return answer.status

            return await asyncio.gather(*(one(*job) for job in jobs))

    try:
        assert asyncio.run(enroll_all()) == [200] * len(jobs)
    finally:
        server.stop()


def test_tls_unique_in_the_csr_must_match_the_session(world: ESTWorld) -> None:
    """RFC 7030 3.5: over TLS 1.2 a CSR whose challengePassword is not this session's
    tls-unique is refused; TLS 1.3 has no tls-unique, so the same CSR is judged without it."""
    config = world.folder / "cp.cnf"
    config.write_text(
        "[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n"
        "[dn]\nCN = tls-unique-device\n[attrs]\nchallengePassword = not-the-tls-unique\n"
    )
    der = world.folder / "cp.der"
    made = openssl("req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-keyout", world.folder / "cp.key",
                   "-outform", "DER", "-out", der)  # fmt: skip
    assert made.returncode == 0, made.stderr
    body = world.folder / "cp.b64"
    body.write_bytes(base64.encodebytes(der.read_bytes()))
    user, password = world.code("tls-client", "CN=tls-unique-device")
    tls12 = world.enroll("simpleenroll", body, "--tls-max", "1.2", "-u", f"{user}:{password}")
    assert tls12.status == 400 and b"tls-unique does not match" in tls12.body
    tls13 = world.enroll("simpleenroll", body, "--tlsv1.3", "-u", f"{user}:{password}")
    world.certificate_of(tls13)


def test_a_csr_carrying_this_sessions_tls_unique_is_accepted(world: ESTWorld) -> None:
    """RFC 7030 3.5 the other way round: the client reads tls-unique off its own TLS 1.2
    connection, puts its base64 in challengePassword and sends the CSR on that connection."""
    context = ssl.create_default_context(cafile=str(world.ca_file))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    host, port = world.server.tls_url.removeprefix("https://").rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    try:
        connection.connect()
        assert isinstance(connection.sock, ssl.SSLSocket)
        binding = connection.sock.get_channel_binding("tls-unique")
        assert binding
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_attribute(AttributeOID.CHALLENGE_PASSWORD, base64.b64encode(binding))
            .sign(key, hashes.SHA256())
            .public_bytes(Encoding.DER)
        )
        user, password = world.code("tls-client", "CN=bound-device")
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        connection.request(
            "POST", "/.well-known/est/simpleenroll", base64.encodebytes(csr),
            {"Content-Type": "application/pkcs10", "Authorization": f"Basic {basic}"},
        )  # fmt: skip
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    assert answer.status == 200, body
    (world.folder / "bound.der").write_bytes(base64.b64decode(body))
    printed = openssl("pkcs7", "-inform", "DER", "-in", world.folder / "bound.der",
                      "-print_certs")  # fmt: skip
    certificate = x509.load_pem_x509_certificate(printed.stdout)
    assert certificate.subject.rfc4514_string() == "CN=bound-device"
    assert certificate.public_key() == key.public_key()


def _keygen_request(attribute: str, identifier: bytes) -> Path:
    """A serverkeygen template asking for the key encrypted to `identifier` (RFC 7030
    4.4.1.1 DecryptKeyIdentifier, 4.4.1.2 AsymmetricDecryptKeyIdentifier)."""
    oid = {"symmetric": "1.2.840.113549.1.9.16.2.37", "asymmetric": "1.2.840.113549.1.9.16.2.54"}
    template = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_attribute(
            x509.ObjectIdentifier(oid[attribute]), identifier, _tag=_ASN1Type.OctetString
        )
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    return template.public_bytes(Encoding.DER)


def test_serverkeygen_encrypts_the_key_to_the_clients_certificate(world: ESTWorld) -> None:
    """RFC 7030 4.4.1.2 / 4.4.2: the key comes in an EnvelopedData for the client's own
    certificate, around a SignedData of this server around an AsymmetricKeyPackage (RFC 5958).
    OpenSSL decrypts and verifies it. A request the server cannot honour is refused before
    any key or certificate is made, and leaves the code usable."""
    user, password = world.code("tls-client", "CN=keyed-device")
    device = world.certificate_of(
        world.enroll("simpleenroll", world.csr_b64("keyed", "/"), "-u", f"{user}:{password}")
    )
    device_pem = world.folder / "keyed.pem"
    device_pem.write_bytes(device.public_bytes(Encoding.PEM))
    client = ["--cert", device_pem, "--key", world.folder / "keyed.key"]
    ski = device.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest

    user, password = world.code("tls-client", "CN=keyed-device")
    auth = ["-u", f"{user}:{password}"]
    for attribute, identifier, tls_client, refusal in (
        ("symmetric", b"k1", client, b"no symmetric key"),
        ("asymmetric", ski, [], b"as the TLS client certificate"),
        ("asymmetric", b"\x01" * 20, client, b"not the client certificate's"),
    ):
        body = world.folder / "template.b64"
        body.write_bytes(base64.encodebytes(_keygen_request(attribute, identifier)))
        answer = world.enroll("serverkeygen", body, *auth, *tls_client)
        assert answer.status == 403 and refusal in answer.body, answer.body

    body = world.folder / "template.b64"
    body.write_bytes(base64.encodebytes(_keygen_request("asymmetric", ski)))
    answer = world.enroll("serverkeygen", body, *auth, *client)
    assert answer.status == 200, answer.body
    content_type = next(line.split(": ", 1)[1].strip() for line in answer.headers.splitlines()
                        if line.lower().startswith("content-type:"))  # fmt: skip
    (key_headers, key_part), (_, cert_part) = est.parse_multipart_mixed(answer.body, content_type)
    assert key_headers["content-type"] == "application/pkcs7-mime; smime-type=server-generated-key"
    (world.folder / "enveloped.der").write_bytes(base64.b64decode(key_part))
    opened = openssl("cms", "-decrypt", "-inform", "DER", "-in", world.folder / "enveloped.der",
                     "-recip", device_pem, "-inkey", world.folder / "keyed.key",
                     "-out", world.folder / "signed.der")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    signed = world.folder / "signed-info.der"  # the SignedData, as a ContentInfo for openssl
    signed.write_bytes(
        asn1_cms.ContentInfo(
            {"content_type": "signed_data",
             "content": asn1_cms.SignedData.load((world.folder / "signed.der").read_bytes())}
        ).dump()
    )  # fmt: skip
    package = world.folder / "akp.der"
    verified = openssl("cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile",
                       world.ca_file, "-purpose", "any", "-out", package)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    (pkcs8,) = cms.parse_asymmetric_key_package(package.read_bytes())
    key = load_der_private_key(pkcs8, None)
    (world.folder / "kg2.der").write_bytes(base64.b64decode(cert_part))
    printed = openssl("pkcs7", "-inform", "DER", "-in", world.folder / "kg2.der", "-print_certs")
    certificate = x509.load_pem_x509_certificate(printed.stdout)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.rfc4514_string() == "CN=keyed-device"


DEVICE = "CN=approved-device,O=Plant"


def test_a_request_waits_for_approval_and_the_repeat_gets_the_certificate(
    world: ESTWorld,
) -> None:
    """RFC 7030 4.2.3: 202 with Retry-After until an operator approves; the client repeats
    the same request and then receives the certificate. A rejection is a 403 with the
    operator's reason."""
    user, password = world.code(APPROVED, DEVICE)
    csr = world.csr_b64("org", "/")
    waiting = world.enroll("simpleenroll", csr, "-u", f"{user}:{password}", label=APPROVED)
    assert waiting.status == 202 and "Retry-After: 60" in waiting.headers, waiting.headers
    listed = world.ca.cli("applications").stdout.splitlines()
    (application,) = [line for line in listed if DEVICE in line]
    assert " submitted " in application
    application_id = application.split()[0]
    assert f"EST-Application-Id: {application_id}" in waiting.headers, waiting.headers
    assert waiting.body == b"" and "Content-Length: 0" in waiting.headers  # Bouncy Castle
    again = world.enroll("simpleenroll", csr, "-u", f"{user}:{password}", label=APPROVED)
    assert again.status == 202
    approved = world.ca.cli("approve", "--id", application_id).stdout
    assert approved.startswith(f"approved {application_id}: issued ")
    certificate = world.certificate_of(
        world.enroll("simpleenroll", csr, "-u", f"{user}:{password}", label=APPROVED)
    )
    assert format(certificate.serial_number, "x") == approved.split()[-1]
    assert certificate.subject.rfc4514_string() == DEVICE

    user, password = world.code(APPROVED, DEVICE)
    refused = world.csr_b64("org-refused", "/")
    world.enroll("simpleenroll", refused, "-u", f"{user}:{password}", label=APPROVED)
    (pending,) = world.ca.cli("applications").stdout.splitlines()
    world.ca.cli("reject", "--id", pending.split()[0], "--reason", "documents not presented")
    answer = world.enroll("simpleenroll", refused, "-u", f"{user}:{password}",
                          label=APPROVED)  # fmt: skip
    assert answer.status == 403 and b"rejected: documents not presented" in answer.body
    assert world.ca.cli("applications").stdout == ""


def test_simpleenroll_with_a_client_certificate_where_the_label_allows_it(world: ESTWorld) -> None:
    """RFC 7030 3.3.2: on a label that accepts client certificates (settings
    est.client_certificate_labels), a holder of a certificate of this CA enrolls for that
    label's profile under the subject the CA already verified."""
    user, password = world.code("tls-client", "CN=device-6")
    first = world.certificate_of(
        world.enroll(
            "simpleenroll", world.csr_b64("d6", "/CN=device-6"), "-u", f"{user}:{password}"
        )
    )
    cert_file = world.folder / "d6.pem"
    cert_file.write_bytes(first.public_bytes(Encoding.PEM))
    tls = ("--cert", cert_file, "--key", world.folder / "d6.key")
    csr = world.csr_b64("d6srv", "/", "DNS:device-6.example")
    server_cert = world.certificate_of(world.enroll("simpleenroll", csr, *tls, label="tls-server"))
    assert server_cert.subject.rfc4514_string() == "CN=device-6"
    eku = server_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [oid.dotted_string for oid in eku] == ["1.3.6.1.5.5.7.3.1"]
    other = world.enroll("simpleenroll", world.csr_b64("d6o", "/CN=someone"), *tls,
                         label="tls-server")  # fmt: skip
    assert other.status == 403 and b"client certificate's" in other.body
    not_allowed = world.enroll("simpleenroll", world.csr_b64("d6c", "/"), *tls, label="tls-client")
    assert not_allowed.status == 401


def test_d2_rfc7030_4_2_3_an_unbound_code_is_forbidden_for_a_registered_profile(
    world: ESTWorld,
) -> None:
    """simpleenroll with a code not bound to an approved application, for a profile that
    issues only to registered subscribers: 403 naming the RA's route; no certificate, and
    the code stays unspent."""
    user, password = world.legacy_code
    certificates = world.ca.cli("list").stdout
    answer = world.enroll("simpleenroll", world.csr_b64("legacy", "/"), "-u",
                          f"{user}:{password}", label="legacy")  # fmt: skip
    assert answer.status == 403
    assert answer.body == (
        b"this enrollment code is not bound to an approved application: profile 'legacy' is "
        b"issued only to a registered, identified subscriber who acknowledged the notice, "
        b"through an approved application (register, identify, acknowledge, apply, approve)\n"
    )
    assert world.ca.cli("list").stdout == certificates
    listed = world.ca.cli("credentials").stdout.splitlines()
    assert any(line.startswith(user) and line.endswith("unused") for line in listed)
