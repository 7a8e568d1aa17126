"""The ir/cr/kur/p10cr bodies as the Lightweight CMP Profile (RFC 9483 4.1) and the Siemens
cmp-test-suite expect them: kur's oldCertID and confirmation (4.1.3), a request sent twice,
template rules (RFC 9810 5.2.3, RFC 5280 4.2.1.3, 4.2.1.9), requested key usages granted by
the profile, certReqId, the key usage central key generation needs (4.1.6.1, 4.1.6.2) and
what every positive ip/cp/kup carries (4.1.1). Each refusal is checked for its body type,
status and single failInfo bit, and for leaving the registry as it was."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyasn1.codec.der import encoder

from protocols.der import tlv
from server.cmp.server import CMPServer
from server.generations.ca_certificate import create_generation
from server.registry import CertificateStatus
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    Answer,
    CMPClient,
    algorithm_identifier,
    cert_conf_content,
    cert_req_id_of,
    cert_req_messages,
    cert_request,
    directory_name,
    extension_der,
    holder_client,
    integer_der,
    key_agreement_client,
    key_usage_der,
    mac_client,
    oid_der,
    rr_content,
    server_identity,
    signing_client,
)
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA

ID_REG_CTRL_OLD_CERT_ID = "1.3.6.1.5.5.7.5.1.5"  # RFC 4211 6.5
DEVICE = [("CN", "device")]  # the subject of the PKCS#10 requests here
# RFC 9483 4.1.6: a publicKey naming only the algorithm (id-ecPublicKey, P-256), empty key
EC_P256_ONLY = tlv(
    0x30,
    algorithm_identifier("1.2.840.10045.2.1", oid_der("1.2.840.10045.3.1.7")) + tlv(0x03, b"\x00"),
)


def old_cert_id(issuer: x509.Name, serial: int) -> bytes:
    """Controls with id-regCtrl-oldCertID: CertId { issuer GeneralName, serialNumber }."""
    cert_id = tlv(0x30, directory_name(issuer) + integer_der(serial))
    return tlv(0x30, tlv(0x30, oid_der(ID_REG_CTRL_OLD_CERT_ID) + cert_id))


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rejected(answer: Answer) -> tuple[str, str | None, frozenset[str]]:
    status = None if answer.status is None else answer.status.name
    return answer.body_type, status, answer.fail_info


def responses(answer: Answer) -> list[object]:
    return list(answer.decoded["body"][answer.body_type]["response"])


def ca_pubs_of(answer: Answer) -> list[bytes]:
    ca_pubs = answer.decoded["body"][answer.body_type]["caPubs"]
    if not ca_pubs.isValue:
        return []
    return [b"\x30" + bytes(encoder.encode(c))[1:] for c in ca_pubs]


def serial_of(certificate: bytes) -> str:
    return format(x509.load_der_x509_certificate(certificate).serial_number, "x")


async def status_of(local_ca: LocalCA, certificate: bytes) -> CertificateStatus:
    record = await local_ca.registry.get_certificate(serial_of(certificate))
    assert record is not None
    return record.status


async def holder(local_ca: LocalCA) -> CMPClient:
    return await signing_client(local_ca, await mac_client(local_ca))


async def kur(client: CMPClient, key: object = None, controls: bytes = b"",
              **options: object) -> Answer:  # fmt: skip
    template = cert_request(key=key or new_key(), controls=controls)
    return await client.send("kur", cert_req_messages(template), new=True, **options)


def updated(client: CMPClient, answer: Answer, key: object) -> CMPClient:
    """The client of the new certificate a kup brought."""
    assert answer.certificate is not None, answer
    return CMPClient(client.server, client.clock, profile=client.profile, key=key,
                     identity=client.identity, chain=[answer.certificate, *client.chain[1:]],
                     sender=client.sender)  # fmt: skip


# -- RFC 9483 4.1.3: kur's oldCertID ---------------------------------------------------------


async def test_rfc9483_4_1_3_kur_old_cert_id_with_another_issuer_is_a_kup_rejection_bad_cert_id(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    old = x509.load_der_x509_certificate(client.chain[0])
    before = await local_ca.registry.audit_head()
    answer = await kur(client, controls=old_cert_id(x509.Name.from_rfc4514_string(
        "CN=Another CA"), old.serial_number))  # fmt: skip
    assert rejected(answer) == ("kup", "rejection", frozenset({"badCertId"})), answer
    assert await local_ca.registry.audit_head() == before  # nothing issued
    assert await local_ca.registry.cmp.get(client.transaction_id) is None  # not spent


async def test_rfc9483_4_1_3_kur_old_cert_id_with_another_serial_is_a_kup_rejection_bad_cert_id(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    old = x509.load_der_x509_certificate(client.chain[0])
    before = await local_ca.registry.audit_head()
    answer = await kur(client, controls=old_cert_id(old.issuer, old.serial_number + 1))
    assert rejected(answer) == ("kup", "rejection", frozenset({"badCertId"})), answer
    assert await local_ca.registry.audit_head() == before
    assert await status_of(local_ca, client.chain[0]) is CertificateStatus.GOOD


async def test_rfc9483_4_1_3_kur_old_cert_id_naming_the_protecting_certificate_is_accepted(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    old = x509.load_der_x509_certificate(client.chain[0])
    answer = await kur(client, controls=old_cert_id(old.issuer, old.serial_number),
                       generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(answer) == ("kup", "accepted", frozenset()), answer


async def test_rfc9483_4_1_3_kur_with_the_old_key_is_a_kup_rejection_bad_cert_template(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    before = await local_ca.registry.audit_head()
    answer = await kur(client, key=client.key)
    assert rejected(answer) == ("kup", "rejection", frozenset({"badCertTemplate"})), answer
    assert await local_ca.registry.audit_head() == before


# -- RFC 9483 4.1.3, 4.1.1: while a kur awaits certConf ---------------------------------------


async def unconfirmed_kur(local_ca: LocalCA) -> tuple[CMPClient, Answer, object]:
    """A holder whose kur was answered without implicit confirmation: the new certificate
    awaits certConf."""
    client = await holder(local_ca)
    key = new_key()
    answer = await kur(client, key=key)
    assert rejected(answer) == ("kup", "accepted", frozenset()), answer
    assert not answer.message.header.implicit_confirm
    return client, answer, key


async def test_rfc9483_4_1_3_a_second_kur_while_the_first_awaits_certconf_is_rejected_bad_request(
    local_ca: LocalCA,
) -> None:
    client, _, _ = await unconfirmed_kur(local_ca)
    before = await local_ca.registry.audit_head()
    second = await kur(client)
    assert rejected(second) == ("kup", "rejection", frozenset({"badRequest"})), second
    assert await local_ca.registry.audit_head() == before
    assert await local_ca.registry.cmp.get(client.transaction_id) is None


async def test_rfc9483_4_1_3_an_ir_signed_by_the_old_certificate_while_its_kur_waits_is_rejected(
    local_ca: LocalCA,
) -> None:
    client, _, _ = await unconfirmed_kur(local_ca)
    before = await local_ca.registry.audit_head()
    answer = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True)
    assert rejected(answer) == ("ip", "rejection", frozenset({"badRequest"})), answer
    assert await local_ca.registry.audit_head() == before


async def test_rfc9483_4_1_3_an_rr_signed_by_the_old_certificate_while_its_kur_waits_is_refused(
    local_ca: LocalCA,
) -> None:
    client, answer, _ = await unconfirmed_kur(local_ca)
    assert answer.certificate is not None
    old = x509.load_der_x509_certificate(client.chain[0])
    before = await local_ca.registry.audit_head()
    rr = await client.send("rr", rr_content(old.serial_number, old.issuer), new=True)
    assert rejected(rr) == ("rp", "rejection", frozenset({"badRequest"})), rr
    assert await local_ca.registry.audit_head() == before
    assert await status_of(local_ca, client.chain[0]) is CertificateStatus.GOOD
    assert await status_of(local_ca, answer.certificate) is CertificateStatus.GOOD


async def test_rfc9483_4_1_1_an_unconfirmed_kur_revokes_the_new_certificate_not_the_old(
    local_ca: LocalCA,
) -> None:
    """After the confirmation deadline the new certificate is revoked (4.1.1) and the old
    one, which the kur never touched, serves again: its next kur is accepted."""
    client, answer, _ = await unconfirmed_kur(local_ca)
    assert answer.certificate is not None
    local_ca.clock.advance(seconds=local_ca.settings.cmp.confirm_wait_seconds + 1)
    await client.server.revoke_unconfirmed()
    assert await status_of(local_ca, answer.certificate) is CertificateStatus.REVOKED
    assert await status_of(local_ca, client.chain[0]) is CertificateStatus.GOOD
    again = await kur(client, generalInfo=IMPLICIT_CONFIRM)
    assert rejected(again) == ("kup", "accepted", frozenset()), again


async def test_rfc9483_4_1_3_once_the_kur_is_confirmed_the_old_certificate_acts_again(
    local_ca: LocalCA,
) -> None:
    client, answer, _ = await unconfirmed_kur(local_ca)
    assert answer.certificate is not None
    confirmed = await client.send("certConf", cert_conf_content(answer.certificate))
    assert confirmed.body_type == "pkiconf", confirmed
    ir = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                           generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(ir) == ("ip", "accepted", frozenset()), ir


async def test_rfc9483_4_1_3_the_new_certificate_may_act_while_it_awaits_certconf(
    local_ca: LocalCA,
) -> None:
    """Only the certificate being replaced waits: the refusal is about the old one."""
    client, answer, key = await unconfirmed_kur(local_ca)
    fresh = updated(client, answer, key)
    ir = await fresh.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                          generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(ir) == ("ip", "accepted", frozenset()), ir


# -- RFC 9810 5.2.3: the same request twice, the same key again ------------------------------


async def test_rfc9810_5_2_3_the_same_p10cr_sent_twice_is_rejected_duplicate_cert_req(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    csr = make_csr(DEVICE, new_key())
    first = await client.send("p10cr", csr, new=True, generalInfo=IMPLICIT_CONFIRM)
    assert rejected(first) == ("cp", "accepted", frozenset()), first
    before = await local_ca.registry.audit_head()
    again = await client.send("p10cr", csr, new=True, generalInfo=IMPLICIT_CONFIRM)
    assert rejected(again) == ("cp", "rejection", frozenset({"duplicateCertReq"})), again
    assert cert_req_id_of(again) == -1
    assert await local_ca.registry.audit_head() == before


async def test_rfc9810_5_2_3_the_same_cert_req_msg_sent_twice_is_rejected_duplicate_cert_req(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    body = cert_req_messages(cert_request(key=new_key()))
    first = await client.send("cr", body, new=True, generalInfo=IMPLICIT_CONFIRM)
    assert rejected(first) == ("cp", "accepted", frozenset()), first
    before = await local_ca.registry.audit_head()
    again = await client.send("cr", body, new=True, generalInfo=IMPLICIT_CONFIRM)
    assert rejected(again) == ("cp", "rejection", frozenset({"duplicateCertReq"})), again
    assert await local_ca.registry.audit_head() == before


async def test_rfc9483_4_1_1_another_request_for_a_certified_key_is_rejected_bad_cert_template(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    key = new_key()
    first = await client.send("cr", cert_req_messages(cert_request(key=key)), new=True,
                              generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(first) == ("cp", "accepted", frozenset()), first
    before = await local_ca.registry.audit_head()
    usage = key_usage_der(digital_signature=True)  # another request, the same key
    again = await client.send("cr", cert_req_messages(cert_request(key=key, extensions=[usage])),
                              new=True, generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(again) == ("cp", "rejection", frozenset({"badCertTemplate"})), again
    assert await local_ca.registry.audit_head() == before


# -- RFC 5280 4.2.1.9, RFC 9810 5.2.3: basicConstraints -------------------------------------


async def ir_with(local_ca: LocalCA, *extensions: bytes) -> tuple[Answer, object]:
    """(the answer to an ir asking for `extensions`, the audit head before it was sent)."""
    client = await mac_client(local_ca)
    before = await local_ca.registry.audit_head()
    request = cert_request(key=new_key(), extensions=extensions)
    answer = await client.send(
        "ir", cert_req_messages(request), new=True, generalInfo=IMPLICIT_CONFIRM
    )
    return answer, before


async def test_rfc9810_5_2_3_ca_true_not_allowed_is_an_ip_rejection_not_authorized(
    local_ca: LocalCA,
) -> None:
    ca = extension_der(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    answer, before = await ir_with(local_ca, ca)
    assert rejected(answer) == ("ip", "rejection", frozenset({"notAuthorized"})), answer
    assert await local_ca.registry.audit_head() == before
    assert answer.message.header.transaction_id is not None
    assert await local_ca.registry.cmp.get(answer.message.header.transaction_id) is None


async def test_rfc5280_4_2_1_9_ca_false_with_a_path_length_is_an_ip_rejection_bad_cert_template(
    local_ca: LocalCA,
) -> None:
    # x509.BasicConstraints refuses this combination: the DER written by hand
    value = tlv(0x30, integer_der(3))  # cA DEFAULT FALSE left out, pathLenConstraint 3
    constraints = tlv(0x30, oid_der("2.5.29.19") + tlv(0x04, value))
    answer, before = await ir_with(local_ca, constraints)
    assert rejected(answer) == ("ip", "rejection", frozenset({"badCertTemplate"})), answer
    assert "pathLenConstraint" in answer.text
    assert await local_ca.registry.audit_head() == before


async def test_rfc5280_4_2_1_9_ca_false_with_key_cert_sign_is_an_ip_rejection_bad_cert_template(
    local_ca: LocalCA,
) -> None:
    constraints = extension_der(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    usage = key_usage_der(digital_signature=True, key_cert_sign=True)
    answer, before = await ir_with(local_ca, constraints, usage)
    assert rejected(answer) == ("ip", "rejection", frozenset({"badCertTemplate"})), answer
    assert "keyCertSign" in answer.text
    assert await local_ca.registry.audit_head() == before


async def test_rfc9810_5_2_3_ca_false_alone_is_accepted(local_ca: LocalCA) -> None:
    constraints = extension_der(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    answer, _ = await ir_with(local_ca, constraints)
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer


# -- RFC 9810 5.2.3, RFC 5480 3, RFC 4055 1.2: requested key usages --------------------------


def key_usage_of(certificate: bytes | None) -> x509.KeyUsage:
    assert certificate is not None
    return (
        x509.load_der_x509_certificate(certificate)
        .extensions.get_extension_for_class(x509.KeyUsage)
        .value
    )


async def test_rfc9810_5_2_3_key_agreement_asked_for_an_ec_key_is_issued_accepted(
    local_ca: LocalCA,
) -> None:
    answer, _ = await ir_with(local_ca, key_usage_der(digital_signature=True, key_agreement=True))
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    usage = key_usage_of(answer.certificate)
    assert usage.digital_signature and usage.key_agreement and not usage.key_encipherment


async def test_rfc9810_5_2_3_key_encipherment_asked_for_an_rsa_key_is_issued_accepted(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    key = rsa.generate_private_key(65537, 2048)
    usage = key_usage_der(digital_signature=True, key_encipherment=True)
    answer = await client.send("ir", cert_req_messages(cert_request(key=key, extensions=[usage])),
                               new=True, generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    granted = key_usage_of(answer.certificate)
    assert granted.digital_signature and granted.key_encipherment


async def test_rfc5480_3_key_encipherment_asked_for_an_ec_key_is_granted_with_mods(
    local_ca: LocalCA,
) -> None:
    """RFC 5480 3: an EC key cannot have keyEncipherment: the profile does not grant it,
    and the answer says so (RFC 9810 5.2.3)."""
    usage = key_usage_der(digital_signature=True, key_encipherment=True)
    answer, _ = await ir_with(local_ca, usage)
    assert rejected(answer) == ("ip", "grantedWithMods", frozenset()), answer
    assert not key_usage_of(answer.certificate).key_encipherment


async def test_rfc9810_5_2_3_a_key_usage_outside_requestable_key_usages_is_granted_with_mods(
    local_ca: LocalCA,
) -> None:
    usage = key_usage_der(digital_signature=True, content_commitment=True)  # nonRepudiation
    answer, _ = await ir_with(local_ca, usage)
    assert rejected(answer) == ("ip", "grantedWithMods", frozenset()), answer
    assert not key_usage_of(answer.certificate).content_commitment


async def test_rfc9810_5_2_3_unasked_the_certificate_carries_the_profile_key_usage_alone(
    local_ca: LocalCA,
) -> None:
    answer, _ = await ir_with(local_ca)
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    usage = key_usage_of(answer.certificate)
    assert usage.digital_signature and not usage.key_agreement


# -- RFC 9483 4.1.1, 4.1.4: certReqId -------------------------------------------------------


async def test_rfc9483_4_1_1_an_ir_with_cert_req_id_minus_1_is_an_ip_rejection_bad_request(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await local_ca.registry.audit_head()
    request = cert_request(cert_req_id=-1, key=new_key())
    answer = await client.send("ir", cert_req_messages(request), new=True)
    assert rejected(answer) == ("ip", "rejection", frozenset({"badRequest"})), answer
    assert await local_ca.registry.audit_head() == before


async def test_rfc9483_4_1_4_a_p10cr_is_answered_with_cert_req_id_minus_1(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    answer = await client.send("p10cr", make_csr(DEVICE, new_key()), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(answer) == ("cp", "accepted", frozenset()), answer
    assert len(responses(answer)) == 1 and cert_req_id_of(answer) == -1


# -- RFC 9483 4.1.6.1, 4.1.6.2: the protecting certificate's key usage -----------------------


async def central(client: CMPClient, body: str = "ir") -> Answer:
    template = cert_request(spki=EC_P256_ONLY, pop="none")
    return await client.send(body, cert_req_messages(template), new=True, pvno=3,
                             generalInfo=IMPLICIT_CONFIRM)  # fmt: skip


async def test_rfc9483_4_1_6_2_an_ec_certificate_without_key_agreement_is_refused_not_authorized(
    local_ca: LocalCA,
) -> None:
    identity = await server_identity(local_ca)
    client = await signing_client(local_ca, await mac_client(local_ca, identity=identity))
    before = await local_ca.registry.audit_head()
    answer = await central(client)
    assert rejected(answer) == ("ip", "rejection", frozenset({"notAuthorized"})), answer
    assert "keyAgreement" in answer.text
    assert await local_ca.registry.audit_head() == before
    assert await local_ca.registry.cmp.get(client.transaction_id) is None


async def test_rfc9483_4_1_6_2_an_ec_certificate_with_key_agreement_receives_the_key(
    local_ca: LocalCA,
) -> None:
    identity = await server_identity(local_ca)
    client = await key_agreement_client(local_ca, await mac_client(local_ca, identity=identity))
    answer = await central(client)
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    assert answer.message.header.pvno == 3


async def rsa_holder(local_ca: LocalCA, *extensions: bytes) -> CMPClient:
    identity = await server_identity(local_ca)
    enrol = await mac_client(local_ca, identity=identity)
    return await holder_client(
        local_ca, enrol, extensions, key=rsa.generate_private_key(65537, 2048)
    )


async def test_rfc9483_4_1_6_1_an_rsa_certificate_without_key_encipherment_is_not_authorized(
    local_ca: LocalCA,
) -> None:
    client = await rsa_holder(local_ca)
    before = await local_ca.registry.audit_head()
    answer = await central(client)
    assert rejected(answer) == ("ip", "rejection", frozenset({"notAuthorized"})), answer
    assert "keyEncipherment" in answer.text
    assert await local_ca.registry.audit_head() == before


async def test_rfc9483_4_1_6_1_an_rsa_certificate_with_key_encipherment_receives_the_key(
    local_ca: LocalCA,
) -> None:
    usage = key_usage_der(digital_signature=True, key_encipherment=True)
    client = await rsa_holder(local_ca, usage)
    answer = await central(client)
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    recipient = answer.decoded["body"]["ip"]["response"][0]["certifiedKeyPair"]["privateKey"]
    assert recipient.isValue


# -- RFC 9483 4.1.1: what every positive answer carries --------------------------------------


def assert_positive(answer: Answer, body: str, cert_req_id: int, issuer: bytes) -> None:
    assert rejected(answer) == (body, "accepted", frozenset()), answer
    assert len(responses(answer)) == 1
    assert cert_req_id_of(answer) == cert_req_id
    info = answer.decoded["body"][body]["response"][0]["status"]
    assert not info["failInfo"].isValue
    assert issuer in answer.message.extra_certs  # the issued certificate's chain


async def test_rfc9483_4_1_1_positive_ip_cp_kup_carry_one_response_and_the_issuing_ca(
    local_ca: LocalCA,
) -> None:
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    issuer = generation.certificate_der
    client = await mac_client(local_ca)
    ip = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                           generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert_positive(ip, "ip", 0, issuer)  # MAC-protected too
    signer = await holder(local_ca)
    cp = await signer.send("cr", cert_req_messages(cert_request(key=new_key())), new=True,
                           generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert_positive(cp, "cp", 0, issuer)
    p10 = await signer.send(
        "p10cr", make_csr(DEVICE, new_key()), new=True, generalInfo=IMPLICIT_CONFIRM
    )
    assert_positive(p10, "cp", -1, issuer)
    kup = await kur(signer, generalInfo=IMPLICIT_CONFIRM)
    assert_positive(kup, "kup", 0, issuer)


async def test_rfc9483_4_1_1_ca_pubs_holds_only_the_root_of_the_issued_certificate(
    local_ca: LocalCA,
) -> None:
    """After a CA key rollover the ip's caPubs carries the new generation's self-signed
    certificate only, not every generation ever made."""
    await create_generation(local_ca.settings, local_ca.registry, local_ca.backend,
                            local_ca.authority, local_ca.clock(), "t")  # fmt: skip
    active = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert active is not None and len(await local_ca.registry.generations(
        local_ca.settings.ca.name)) == 2  # fmt: skip
    server: CMPServer = (await mac_client(local_ca)).server
    client = await mac_client(local_ca, server=server)
    answer = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    assert ca_pubs_of(answer) == [active.certificate_der]
    assert answer.certificate is not None
    issued = x509.load_der_x509_certificate(answer.certificate)
    assert issued.issuer == x509.load_der_x509_certificate(active.certificate_der).subject


async def test_rfc9810_5_2_3_a_pkcs10_for_est_keeps_the_profile_key_usage(
    local_ca: LocalCA,
) -> None:
    """requestable_key_usages is for CMP templates: an EST PKCS#10 asking keyAgreement gets
    the profile's key_usage alone, as before."""
    key = new_key()
    usage = x509.KeyUsage(True, False, False, False, True, False, False, False, False)
    csr = make_csr(DEVICE, key, extensions=((usage, True),))
    issued = await local_ca.authority.issue("tls-client", csr, "test")
    granted = key_usage_of(issued.der)
    assert granted.digital_signature and not granted.key_agreement
