"""The CMP server's rules that OpenSSL's client never breaks on purpose: nonces, times,
confirmation (accepted, rejected, never sent), on a real registry with the clock injected.
Requests are p10cr and certConf messages made here, MAC-protected with PasswordBasedMac."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4210, rfc5280, rfc9480

from protocols import cmp, cms
from protocols.der import contents as der_contents
from protocols.der import elements
from protocols.der import tlv as der_tlv
from server.authority import Authority
from server.cmp.server import CMPServer
from server.enrollment.credentials import EnrollmentCredentials
from server.enrollment.enroll import Enrollment, HolderEnrollment
from server.node.tls import ServerIdentity
from server.registry import CertificateStatus
from server.status.publication import StatusPublication
from tests.csr_factory import make_csr
from tests.local_ca import Crash, DiesAfterCommit, LocalCA, ra_services

F = cmp.FailureInfo
CLIENT = asn1_x509.GeneralName(
    name="directory_name", value=asn1_x509.Name.build({"common_name": "device"})
).dump()


def pbm(iterations: int = 500) -> bytes:
    parameters = rfc4210.PBMParameter()
    parameters["salt"] = secrets.token_bytes(16)
    parameters["owf"]["algorithm"] = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
    parameters["iterationCount"] = iterations
    parameters["mac"]["algorithm"] = univ.ObjectIdentifier("1.2.840.113549.2.9")
    algorithm = rfc5280.AlgorithmIdentifier()
    algorithm["algorithm"] = rfc4210.id_PasswordBasedMac
    algorithm["parameters"] = univ.Any(encoder.encode(parameters))
    return bytes(encoder.encode(algorithm))


@dataclasses.dataclass
class Client:
    """One device with one enrollment code, speaking to the server directly."""

    server: CMPServer
    local_ca: LocalCA
    kid: bytes
    secret: bytes
    transaction_id: bytes = b""
    last_nonce: bytes | None = None
    identity: ServerIdentity | None = None

    async def send(self, kind_tag: int, content: bytes, **header: object) -> cmp.PKIMessage:
        fields: dict[str, object] = {
            "sender": CLIENT,
            "recipient": CLIENT,
            "transaction_id": self.transaction_id,
            "sender_nonce": secrets.token_bytes(16),
            "recip_nonce": self.last_nonce,
            "message_time": self.local_ca.clock(),
            "protection_algorithm": pbm(),
            "sender_kid": self.kid,
            "implicit_confirm": False,
        }
        fields.update(header)
        request_header = cmp.ReplyHeader(**fields)  # type: ignore[arg-type]
        body = der_tlv(kind_tag, content)
        protection = cmp.mac(
            request_header.protection_algorithm,
            self.secret,
            cmp.protected_part(request_header, body),
        )
        answer = await self.server.handle(
            cmp.assemble(request_header, body, protection), "tls-client", self.identity
        )
        reply = cmp.parse_pki_message(answer)
        self.last_nonce = reply.header.sender_nonce
        return reply

    async def p10cr(self, **header: object) -> cmp.PKIMessage:
        self.transaction_id = secrets.token_bytes(16)
        self.last_nonce = None
        return await self.send(0xA4, make_csr([("CN", "device")]), **header)

    async def cert_conf(self, certificate: bytes, status: int | None = None) -> cmp.PKIMessage:
        """CertConfirmContent with one CertStatus (RFC 4210 5.3.18), certReqId -1 (p10cr)."""
        content = der_tlv(0x04, cmp.cert_hash(certificate, None)) + der_tlv(0x02, b"\xff")
        if status is not None:  # statusInfo PKIStatusInfo { status }
            content += der_tlv(0x30, der_tlv(0x02, bytes([status])))
        return await self.send(0xB8, der_tlv(0x30, der_tlv(0x30, content)))


async def make_client(local_ca: LocalCA, dies_after_commit: bool = False) -> Client:
    """A client of a CMP server over the local CA. `dies_after_commit`: the server's
    process dies right after it records a certificate, before its answer goes out (the
    seam is the publisher, told once the certificate is committed)."""
    key = b"k" * 32
    credentials = EnrollmentCredentials(
        local_ca.settings, local_ca.registry, lambda: key, local_ca.clock
    )
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, serving=True, builder=True)  # fmt: skip
    await status.crls.sync()
    authority = local_ca.authority
    if dies_after_commit:
        await status.ocsp.load_issuers()  # so that the certificate's response is signed
        authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer,
                              local_ca.clock, DiesAfterCommit(status))  # fmt: skip
    applications = ra_services(local_ca, credentials, authority=authority)[1]
    enrollment = Enrollment(local_ca.settings, credentials, authority, applications)
    server = CMPServer(
        local_ca.settings, local_ca.registry, credentials, enrollment, applications,
        HolderEnrollment(local_ca.registry, authority), local_ca.revocation,
        status.crls, local_ca.clock,
    )  # fmt: skip
    credential, secret = await credentials.create(
        "tls-client", "CN=device", timedelta(hours=1), "op"
    )
    return Client(server, local_ca, credential.id.encode(), secret.encode())


@pytest.fixture
async def client(local_ca: LocalCA) -> Client:
    return await make_client(local_ca)


def certificate_of(reply: cmp.PKIMessage) -> bytes:
    """The certificate in a cp (its DER is the only Certificate inside after the header)."""
    assert reply.body_type == "cp", reply.error_text
    message, _ = decoder.decode(reply.der, asn1Spec=rfc9480.PKIMessage())
    response = message["body"]["cp"]["response"][0]
    certificate = response["certifiedKeyPair"]["certOrEncCert"]["certificate"]
    return der_contents(bytes(encoder.encode(certificate)))  # inside its [0] tag


async def status_of(local_ca: LocalCA, certificate: bytes) -> CertificateStatus:
    serial = format(asn1_x509.Certificate.load(certificate).serial_number, "x")
    record = await local_ca.registry.get_certificate(serial)
    assert record is not None
    return record.status


async def test_a_confirmed_certificate_stays_good(client: Client, local_ca: LocalCA) -> None:
    certificate = certificate_of(await client.p10cr())
    assert (await client.cert_conf(certificate)).body_type == "pkiconf"
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD
    local_ca.clock.advance(seconds=301)
    await client.server.revoke_unconfirmed()
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD


async def test_rfc9483_4_1_1_a_certificate_whose_answer_a_crash_lost_is_revoked_unconfirmed(
    local_ca: LocalCA,
) -> None:
    """The certificate is recorded with its transaction awaiting certConf and its code
    spent, in one transaction: a crash before the cp goes out leaves a certificate that is
    revoked when no certConf comes, and a code that cannot issue a second one."""
    client = await make_client(local_ca, dies_after_commit=True)
    with pytest.raises(Crash):
        await client.p10cr()
    (recorded,) = await local_ca.registry.search.certificates(None, "tls-client", None, 10, None)
    assert recorded.status is CertificateStatus.GOOD and recorded.der is not None
    restarted = await make_client(local_ca)
    restarted.kid, restarted.secret = client.kid, client.secret
    again = await restarted.p10cr()
    assert again.body_type == "error" and again.protection is not None
    assert again.error_text == "notAuthorized: invalid or used enrollment credentials"
    assert await local_ca.registry.search.certificates(None, "tls-client", None, 10, None) == [
        recorded
    ]  # the code issued no second certificate
    local_ca.clock.advance(seconds=301)  # cmp.confirm_wait_seconds = 300
    await restarted.server.revoke_unconfirmed()
    assert await status_of(local_ca, recorded.der) is CertificateStatus.REVOKED


async def test_a_cert_conf_reads_its_transaction_once(
    client: Client, local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The protection check and the confirmation share one read of the transaction."""
    certificate = certificate_of(await client.p10cr())
    store = local_ca.registry.cmp
    read, reads = store.get, []

    async def counted(transaction_id: bytes) -> object:
        reads.append(transaction_id)
        return await read(transaction_id)

    monkeypatch.setattr(store, "get", counted)
    assert (await client.cert_conf(certificate)).body_type == "pkiconf"
    assert reads == [client.transaction_id]


async def test_a_rejected_certificate_is_revoked(client: Client, local_ca: LocalCA) -> None:
    """RFC 9483 4.1.1: certConf with status rejection."""
    certificate = certificate_of(await client.p10cr())
    assert (await client.cert_conf(certificate, status=2)).body_type == "pkiconf"
    assert await status_of(local_ca, certificate) is CertificateStatus.REVOKED


async def test_an_unconfirmed_certificate_is_revoked_after_the_wait(
    client: Client, local_ca: LocalCA
) -> None:
    certificate = certificate_of(await client.p10cr())
    local_ca.clock.advance(seconds=299)
    await client.server.revoke_unconfirmed()
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD
    local_ca.clock.advance(seconds=2)  # cmp.confirm_wait_seconds = 300
    await client.server.revoke_unconfirmed()
    assert await status_of(local_ca, certificate) is CertificateStatus.REVOKED
    late = await client.cert_conf(certificate)
    assert late.body_type == "error" and "badRequest" in (late.error_text or "")
    assert late.error_text == "badRequest: the confirmation came too late; revoked"


async def test_a_cert_conf_after_the_deadline_revokes_before_the_sweeper_does(
    client: Client, local_ca: LocalCA
) -> None:
    certificate = certificate_of(await client.p10cr())
    local_ca.clock.advance(seconds=301)
    late = await client.cert_conf(certificate)
    assert late.body_type == "error" and "too late" in (late.error_text or "")
    assert late.error_text == "badRequest: the confirmation came too late; revoked"
    assert late.protection is not None  # protected like the request (RFC 9483 3.6.4)
    assert await status_of(local_ca, certificate) is CertificateStatus.REVOKED


async def test_a_wrong_recipient_nonce_or_hash_is_refused(
    client: Client, local_ca: LocalCA
) -> None:
    certificate = certificate_of(await client.p10cr())
    ours = client.last_nonce
    client.last_nonce = secrets.token_bytes(16)
    wrong = await client.cert_conf(certificate)
    assert wrong.body_type == "error" and "badRecipientNonce" in (wrong.error_text or "")
    client.last_nonce = ours
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    mismatch = await client.cert_conf(generation.certificate_der)  # not the one issued
    assert mismatch.body_type == "error" and "badCertId" in (mismatch.error_text or "")
    assert wrong.error_text == "badRecipientNonce: recipNonce is not our last senderNonce"
    assert mismatch.error_text == "badCertId: certConf names another certificate"
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD  # not revoked


async def test_times_nonces_and_iterations_are_checked(client: Client) -> None:
    for header, failure in (
        ({"message_time": client.local_ca.clock() - timedelta(hours=1)}, F.badTime),
        ({"sender_nonce": b"short"}, F.badSenderNonce),
        ({"protection_algorithm": pbm(iterations=1_000_000)}, F.badMessageCheck),
        ({"sender_kid": b"ec-0000000000000000"}, F.badMessageCheck),
    ):
        reply = await client.p10cr(**header)
        assert reply.body_type == "error" and failure.name in (reply.error_text or ""), header
    assert (await client.p10cr()).body_type == "cp"  # the code was left usable


async def test_another_protocol_version_is_unsupported_version(client: Client) -> None:
    """RFC 9483 3.5: pvno other than 2 (cmp2000) or 3 (cmp2021)."""
    client.transaction_id = secrets.token_bytes(16)
    request_header = cmp.ReplyHeader(
        sender=CLIENT, recipient=CLIENT, transaction_id=client.transaction_id,
        sender_nonce=secrets.token_bytes(16), recip_nonce=None,
        message_time=client.local_ca.clock(), protection_algorithm=pbm(),
        sender_kid=client.kid, implicit_confirm=False,
    )  # fmt: skip
    body = der_tlv(0xA4, make_csr([("CN", "device")]))
    protection = cmp.mac(pbm(), client.secret, cmp.protected_part(request_header, body))
    der = bytearray(cmp.assemble(request_header, body, protection))
    header = elements(bytes(der))[0][1]  # PKIHeader: its first field is pvno INTEGER 2
    at = bytes(der).index(header) + len(header) - len(der_contents(header))
    assert der[at : at + 3] == b"\x02\x01\x02"
    der[at + 2] = 1  # cmp1999
    reply = cmp.parse_pki_message(await client.server.handle(bytes(der), "tls-client", None))
    assert reply.body_type == "error" and "unsupportedVersion" in (reply.error_text or "")


async def test_genm_answers_ca_certificates_and_crls(client: Client, local_ca: LocalCA) -> None:
    """RFC 9483 4.3.1 caCerts, 4.3.3 certReqTemplate, 4.3.4 crlStatusList -> crls (only a
    CRL newer than the client's); rootCaCert -> rootCaKeyUpdate, before any rollover
    without a value (after one: test_root_distribution.py)."""
    assert await local_ca.registry.links(local_ca.settings.ca.name) == []  # no rollover
    crl = client.server._crls.current(0, delta=False)
    assert crl is not None
    url = f"{local_ca.settings.ca.base_url.rstrip('/')}/crl/{local_ca.settings.ca.name}.crl"

    def crl_status(this_update: bytes = b"") -> bytes:
        """CRLStatus { source dpn [0] { fullName [0] { URI [6] } }, thisUpdate }"""
        uri = der_tlv(0x86, url.encode())
        return der_tlv(0x30, der_tlv(0xA0, der_tlv(0xA0, uri)) + this_update)

    def genm(*items: tuple[str, bytes]) -> bytes:
        """GenMsgContent ::= SEQUENCE OF InfoTypeAndValue { infoType, infoValue }"""
        return der_tlv(0x30, b"".join(
            der_tlv(0x30, bytes(encoder.encode(univ.ObjectIdentifier(oid))) + value)
            for oid, value in items
        ))  # fmt: skip

    async def ask(*items: tuple[str, bytes]) -> list[tuple[str, bool]]:
        client.transaction_id = secrets.token_bytes(16)
        client.last_nonce = None  # RFC 9483 3.1: a genm starts a transaction, no recipNonce
        reply = await client.send(0xB5, genm(*items))
        assert reply.body_type == "genp", reply.error_text
        message, _ = decoder.decode(reply.der, asn1Spec=rfc9480.PKIMessage())
        return [(str(i["infoType"]), i["infoValue"].isValue) for i in message["body"]["genp"]]

    statuses = der_tlv(0x30, crl_status())  # the client has no CRL yet
    # RFC 9483 4.3: one InfoTypeAndValue per genm
    assert await ask((cmp.ID_IT_CA_CERTS, b"")) == [(cmp.ID_IT_CA_CERTS, True)]
    template = await ask((cmp.ID_IT_CERT_REQ_TEMPLATE, b""))
    assert template == [(cmp.ID_IT_CERT_REQ_TEMPLATE, True)]
    assert await ask((cmp.ID_IT_CRL_STATUS_LIST, statuses)) == [(cmp.ID_IT_CRLS, True)]
    root_ca_cert = "1.3.6.1.5.5.7.4.20"  # RFC 9483 4.3.2: answered by rootCaKeyUpdate
    assert await ask((root_ca_cert, b"")) == [(cmp.ID_IT_ROOT_CA_KEY_UPDATE, False)]
    has = crl.this_update.strftime("%Y%m%d%H%M%SZ").encode()
    current = der_tlv(0x30, crl_status(der_tlv(0x18, has)))  # the client has ours
    assert await ask((cmp.ID_IT_CRL_STATUS_LIST, current)) == [(cmp.ID_IT_CRLS, False)]


async def test_central_key_generation_under_the_shared_secret(
    client: Client, local_ca: LocalCA
) -> None:
    """RFC 9483 4.1.6.3: an ir whose template has no public key gets the certificate and
    its new private key: an EnvelopedData under the MAC secret (PBKDF2, AES key wrap) of a
    SignedData by this server of an AsymmetricKeyPackage; the answer is cmp2021 (pvno 3)."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    request = make_csr([("CN", "cmp.test")], key=server_key, dns=("cmp.test",))
    leaf = await local_ca.authority.issue("tls-server", request, "test")
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    client.identity = ServerIdentity([leaf.der, generation.certificate_der], server_key)
    client.transaction_id = secrets.token_bytes(16)
    # CertReqMessages { CertReqMsg { CertRequest { certReqId 0, CertTemplate {} } } }
    empty_template = der_tlv(0x30, der_tlv(0x30, der_tlv(0x02, b"\x00") + der_tlv(0x30, b"")))
    reply = await client.send(0xA0, der_tlv(0x30, empty_template), implicit_confirm=True)
    assert reply.body_type == "ip", reply.error_text
    assert reply.header.pvno == 3
    message, _ = decoder.decode(reply.der, asn1Spec=rfc9480.PKIMessage())
    pair = message["body"]["ip"]["response"][0]["certifiedKeyPair"]
    certificate = x509.load_der_x509_certificate(
        der_contents(bytes(encoder.encode(pair["certOrEncCert"]["certificate"])))
    )
    assert certificate.subject.rfc4514_string() == "CN=device"  # the credential's (D2)
    enveloped = bytes(encoder.encode(pair["privateKey"]["envelopedData"]))
    enveloped = b"\x30" + enveloped[1:]  # [0] IMPLICIT EnvelopedData -> SEQUENCE
    content_info = asn1_cms.ContentInfo(
        {"content_type": "enveloped_data", "content": asn1_cms.EnvelopedData.load(enveloped)}
    ).dump()
    content_type, signed = cms.open_password_envelope(content_info, client.secret)
    assert content_type == cms.ID_SIGNED_DATA
    signed_data = asn1_cms.SignedData.load(signed)
    signer = signed_data["signer_infos"][0]
    assert (
        signer["sid"].chosen.native
        == x509.load_der_x509_certificate(leaf.der)
        .extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        .value.digest
    )  # signed by this server, named by key identifier (RFC 9483 4.1.6)
    attributes = signer["signed_attrs"].untag().dump()
    server_key.public_key().verify(
        signer["signature"].native, b"\x31" + attributes[1:], ec.ECDSA(hashes.SHA256())
    )
    package = signed_data["encap_content_info"]["content"].native
    (pkcs8,) = cms.parse_asymmetric_key_package(package)
    key = serialization.load_der_private_key(pkcs8, None)
    assert key.public_key() == certificate.public_key()
    with pytest.raises(ValueError):
        cms.open_password_envelope(content_info, b"not the secret")


async def test_rfc9483_4_1_1_an_enrolment_and_its_cert_conf_write_only_in_shared_groups(
    client: Client, local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write of a p10cr and of its certConf goes through group commit, shared with
    concurrent requests (issue #14): none opens a write transaction of its own."""
    registry = local_ca.registry
    transaction, own = registry.transaction, []

    def counted() -> object:
        own.append("transaction")
        return transaction()

    monkeypatch.setattr(registry, "transaction", counted)
    certificate = certificate_of(await client.p10cr())
    assert (await client.cert_conf(certificate)).body_type == "pkiconf"
    assert own == []
    confirmed = await registry.cmp.get(client.transaction_id)
    assert confirmed is not None and confirmed.state == "done"
