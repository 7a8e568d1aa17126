"""CMP at the HTTP edge answers every failure as a CMP error message, HTTP 200
`application/pkixcmp` (RFC 6712 3.3, RFC 9483 3.6.4), never a bare 500 or a traceback:
the inputs that gave HTTP 500 on main, and an unexpected failure injected through a fake
enrollment service (STYLE.md rules 6 and 8). Each refusal leaves the registry as it was."""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4210, rfc5280

from protocols import cmp
from protocols.der import elements
from protocols.der import tlv as der_tlv
from server.cmp.server import CMPServer
from server.context import CA
from server.enrollment.credentials import EnrollmentCredential
from tests.cmp_client import read_answer
from tests.csr_factory import make_csr
from tests.unit.web.api_home import ClientFactory, Seed
from tests.unit.web.edge import edge_client, registry_state, tracebacks, unexpected_count

CT = "application/pkixcmp"
CLIENT = asn1_x509.GeneralName(
    name="directory_name", value=asn1_x509.Name.build({"common_name": "device"})
).dump()
# 25 octets: PKIMessage { PKIHeader { INTEGER of length 2^64 - 1 ... } }: pyasn1 raised
# OverflowError, the server answered HTTP 500 with a traceback.
LENGTH_2_64 = bytes.fromhex("3017301502" + "88" + "ff" * 8) + bytes(14)


def pbm() -> bytes:
    """PasswordBasedMac parameters (RFC 4210 5.1.3.1): SHA-256, 500 rounds, hmacWithSHA256."""
    parameters = rfc4210.PBMParameter()
    parameters["salt"] = secrets.token_bytes(16)
    parameters["owf"]["algorithm"] = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
    parameters["iterationCount"] = 500
    parameters["mac"]["algorithm"] = univ.ObjectIdentifier("1.2.840.113549.2.9")
    algorithm = rfc5280.AlgorithmIdentifier()
    algorithm["algorithm"] = rfc4210.id_PasswordBasedMac
    algorithm["parameters"] = univ.Any(encoder.encode(parameters))
    return bytes(encoder.encode(algorithm))


def header(ca: CA, algorithm: bytes, kid: bytes | None, sender: bytes = CLIENT) -> cmp.ReplyHeader:
    """`sender`: a signed request names the subject of its certificate (RFC 9483 3.1)."""
    return cmp.ReplyHeader(
        sender=sender, recipient=CLIENT, transaction_id=secrets.token_bytes(16),
        sender_nonce=secrets.token_bytes(16), recip_nonce=None, message_time=ca.clock(),
        protection_algorithm=algorithm, sender_kid=kid, implicit_confirm=False,
    )  # fmt: skip


async def mac_request(ca: CA, body: bytes) -> bytes:
    """`body` (a whole PKIBody TLV) MAC-protected with a new enrollment code's secret."""
    credential, secret = await ca.credentials.create(
        "tls-client", "CN=device", timedelta(hours=1), "test"
    )
    algorithm = pbm()
    request_header = header(ca, algorithm, credential.id.encode())
    mac = cmp.mac(algorithm, secret.encode(), cmp.protected_part(request_header, body))
    return cmp.assemble(request_header, body, mac)


async def post(client: Any, der: bytes) -> cmp.PKIMessage:
    response = await client.post("/.well-known/cmp", data=der, headers={"Content-Type": CT})
    assert response.status == 200
    assert response.content_type == CT
    return cmp.parse_reply(await response.read())


def failures(reply: cmp.PKIMessage) -> str:
    assert reply.body_type == "error"
    return reply.error_text or ""


async def test_rfc9483_3_6_4_a_length_of_2_64_is_bad_data_format_unprotected(
    seed: Seed, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with edge_client(seed, aiohttp_client) as (client, ca):
        before = await registry_state(ca)
        reply = await post(client, LENGTH_2_64)
        assert failures(reply).startswith("badDataFormat:")
        assert reply.protection is None  # it cannot be authenticated
        assert await registry_state(ca) == before
        assert await unexpected_count(client, "cmp") == 0
    assert tracebacks(caplog) == []


def openssl_dh_ir(folder: Path) -> bytes:
    """The PKIBody of an ir OpenSSL makes for a Diffie-Hellman key (ffdhe2048; no POP, a
    DH key cannot sign): `openssl cmp -reqout` on its way to a port nobody listens on."""
    run = ["openssl", "genpkey", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out"]
    subprocess.run([*run, str(folder / "dh.pem")], check=True, capture_output=True)
    subprocess.run(
        ["openssl", "cmp", "-server", "127.0.0.1:1", "-cmd", "ir", "-ref", "1", "-secret",
         "pass:x", "-subject", "/CN=device", "-newkey", str(folder / "dh.pem"), "-popo", "-1",
         "-certout", str(folder / "out.pem"), "-reqout", str(folder / "ir.der")],
        capture_output=True, check=False,
    )  # fmt: skip
    return elements((folder / "ir.der").read_bytes())[1][1]


async def assert_ip_rejection(
    seed: Seed, aiohttp_client: ClientFactory, body: bytes, fail_info: str
) -> None:
    """The MAC-protected ir of `body` is answered in kind (RFC 9483 3.6.2): an ip with
    status rejection and `fail_info` alone, no certificate, protected as the request was,
    and nothing recorded."""
    async with edge_client(seed, aiohttp_client) as (client, ca):
        request = await mac_request(ca, body)
        before = await registry_state(ca)
        reply = await post(client, request)
        answer = read_answer(reply.der)
        assert (answer.body_type, answer.fail_info) == ("ip", {fail_info}), answer
        assert answer.status is cmp.PKIStatus.rejection and answer.certificate is None
        assert reply.protection is not None
        assert await registry_state(ca) == before


async def test_rfc9483_4_1_1_an_ir_for_a_dh_key_is_bad_cert_template(
    seed: Seed, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """RFC 9483 4.1.1 / RFC 4210 5.2.3: a key type this CA does not certify is
    badCertTemplate, answered in kind (an ip with status rejection, RFC 9483 3.6.2) and
    protected as the request was."""
    body = openssl_dh_ir(tmp_path)
    await assert_ip_rejection(seed, aiohttp_client, body, "badCertTemplate")
    assert tracebacks(caplog) == []


def revocation_body(certificate: x509.Certificate, reason: int) -> bytes:
    """rr (RFC 4210 5.3.9): RevDetails { CertTemplate { serialNumber [1], issuer [3] },
    crlEntryDetails { reasonCode (RFC 5280 5.3.1) } }."""
    serial = certificate.serial_number
    template = der_tlv(0x30, der_tlv(0x81, serial.to_bytes((serial.bit_length() + 8) // 8))
                       + der_tlv(0xA3, certificate.issuer.public_bytes()))  # fmt: skip
    reason_code = der_tlv(0x04, der_tlv(0x0A, bytes((reason,))))
    extensions = der_tlv(0x30, der_tlv(0x30, der_tlv(0x06, bytes.fromhex("551d15")) + reason_code))
    return der_tlv(0xAB, der_tlv(0x30, der_tlv(0x30, template + extensions)))


async def test_rfc5280_5_3_1_an_rr_with_crl_reason_20_is_bad_data_format(
    seed: Seed, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 9483 4.2: the holder revokes, signing with the certificate; CRLReason 20 is not
    one of RFC 5280 5.3.1: an rp rejection with badDataFormat (answered in kind, RFC 9483
    4.2; the failInfo Siemens' suite expects), protected, and the certificate stays good."""
    async with edge_client(seed, aiohttp_client) as (client, ca):
        record = await ca.registry.get_certificate(seed.serials[-1])
        assert record is not None and record.der is not None
        certificate = x509.load_der_x509_certificate(record.der)
        key = serialization.load_pem_private_key(seed.client_key_pem, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        body = revocation_body(certificate, 20)
        sender = der_tlv(0xA4, certificate.subject.public_bytes())  # directoryName
        # RFC 9483 3.1: senderKID is the protecting certificate's subjectKeyIdentifier
        kid = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        algorithm = cmp.signature_algorithm_der("sha256_ecdsa")
        request_header = header(ca, algorithm, kid.value.digest, sender)
        signature = key.sign(cmp.protected_part(request_header, body), ec.ECDSA(hashes.SHA256()))
        before = await registry_state(ca)
        reply = await post(client, cmp.assemble(request_header, body, signature, [record.der]))
        answer = read_answer(reply.der)
        assert (answer.body_type, answer.status, answer.fail_info) == (
            "rp", cmp.PKIStatus.rejection, frozenset({"badDataFormat"}),
        )  # fmt: skip
        assert reply.protection is not None
        assert await registry_state(ca) == before
    assert tracebacks(caplog) == []


class FailingEnrollment:
    """An enrollment service (server/enrollment/enroll.py's interface) that breaks."""

    def waits_for_approval(self, credential: EnrollmentCredential) -> bool:
        return False

    async def enroll_with(self, credential: EnrollmentCredential, *args: object,
                          **kwargs: object) -> None:  # fmt: skip
        raise RuntimeError("the disk caught fire")


def with_failing_enrollment(ca: CA) -> CA:
    server = CMPServer(
        ca.settings, ca.registry, ca.credentials, FailingEnrollment(),  # type: ignore[arg-type]
        ca.applications, ca.holders, ca.revocation, ca.status.crls, ca.clock,
    )  # fmt: skip
    return dataclasses.replace(ca, make_cmp=lambda: server)


async def test_rfc4210_5_2_3_an_unexpected_failure_is_system_failure_logged_once(
    seed: Seed, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The request was authenticated: the answer is protected; no detail in it; one log
    record with the traceback and a request id; the counter moves by one."""
    body = der_tlv(0xA4, make_csr([("CN", "device")]))  # p10cr
    caplog.set_level(logging.INFO)
    async with edge_client(seed, aiohttp_client, with_failing_enrollment) as (client, ca):
        request = await mac_request(ca, body)
        before = await registry_state(ca)
        reply = await post(client, request)
        assert failures(reply) == "systemFailure: internal error"
        assert reply.protection is not None
        assert await unexpected_count(client, "cmp") == 1
        assert await registry_state(ca) == before
    (logged,) = tracebacks(caplog)
    assert logged.exc_info is not None and str(logged.exc_info[1]) == "the disk caught fire"
    assert re.fullmatch(r"cmp: unexpected error \(request [0-9a-f]{12}\)", logged.getMessage())


class FailingCredentials:
    """The enrollment credentials service as CMP uses it to authenticate, broken."""

    async def find_each(self, credential_ids: list[str]) -> None:
        raise RuntimeError("the registry went away")


def with_failing_credentials(ca: CA) -> CA:
    server = CMPServer(
        ca.settings, ca.registry, FailingCredentials(), ca.enrollment,  # type: ignore[arg-type]
        ca.applications, ca.holders, ca.revocation, ca.status.crls, ca.clock,
    )  # fmt: skip
    return dataclasses.replace(ca, make_cmp=lambda: server)


async def test_rfc9483_3_6_4_unexpected_before_authentication_is_unprotected_system_failure(
    seed: Seed, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    body = der_tlv(0xA4, make_csr([("CN", "device")]))
    async with edge_client(seed, aiohttp_client, with_failing_credentials) as (client, ca):
        request = await mac_request(ca, body)
        before = await registry_state(ca)
        reply = await post(client, request)
        assert failures(reply) == "systemFailure: internal error"
        assert reply.protection is None  # the sender could not be authenticated
        assert await unexpected_count(client, "cmp") == 1
        assert await registry_state(ca) == before
    (logged,) = tracebacks(caplog)
    assert logged.exc_info is not None and str(logged.exc_info[1]) == "the registry went away"


def central_keygen_ir(folder: Path) -> bytes:
    """An ir asking the CA for a Diffie-Hellman key (RFC 9483 4.1.6.2: the template's
    publicKey names the algorithm with an empty key): OpenSSL's DH SubjectPublicKeyInfo
    with its BIT STRING emptied, in CertTemplate { subject [5], publicKey [6] }."""
    openssl_dh_ir(folder)
    spki = subprocess.run(
        ["openssl", "pkey", "-in", str(folder / "dh.pem"), "-pubout", "-outform", "DER"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    algorithm = elements(spki)[0][1]
    public_key = der_tlv(0xA6, algorithm + der_tlv(0x03, b"\x00"))
    subject = der_tlv(0xA5, x509.Name.from_rfc4514_string("CN=device").public_bytes())
    request = der_tlv(0x30, der_tlv(0x02, b"\x00") + der_tlv(0x30, subject + public_key))
    return der_tlv(0xA0, der_tlv(0x30, der_tlv(0x30, request)))


async def test_rfc9483_4_1_6_central_key_generation_of_a_dh_key_is_bad_alg(
    seed: Seed, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Answered in kind: an ip with status rejection and badAlg (RFC 9483 3.6.2)."""
    body = central_keygen_ir(tmp_path)
    await assert_ip_rejection(seed, aiohttp_client, body, "badAlg")
    assert tracebacks(caplog) == []
