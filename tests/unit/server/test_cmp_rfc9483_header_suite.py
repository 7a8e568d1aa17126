"""The header, protection and error answers of RFC 9483 3.1-3.6 (and 4.1.3, 4.2 where the
body type decides the protection), held to what Siemens' cmp-test-suite expects where the
RFC leaves the failInfo open (/work/notes/siemens-suite-expectations.md 4.3 items 13-22,
29). Through tests/cmp_client.py against a real CMPServer over tests/local_ca.py; each
refusal is checked for its body type, status, its single failInfo bit, how it is protected,
and that nothing changed in the registry (and that the credential or transaction refused
is still usable)."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from protocols import cmp
from protocols.crl import CRLReason
from protocols.der import tlv
from server.node.tls import ServerIdentity
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    Answer,
    CMPClient,
    algorithm_identifier,
    cert_conf_content,
    cert_req_messages,
    cert_request,
    directory_name,
    mac_client,
    make_server,
    oid_der,
    pbmac1,
    registry_state,
    rr_content,
    self_signed,
    server_identity,
    signing_client,
)
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA

HMAC_SHA256 = "1.2.840.113549.2.9"
HMAC_SHA512 = "1.2.840.113549.2.11"
KMAC128 = "2.16.840.1.101.3.4.2.19"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ir_content() -> bytes:
    return cert_req_messages(cert_request(key=new_key()))


def general_info(*items: tuple[str, bytes | None]) -> bytes:
    """generalInfo: SEQUENCE OF InfoTypeAndValue (RFC 9810 5.1.1), values as given."""
    return tlv(0x30, b"".join(tlv(0x30, oid_der(oid) + (value or b"")) for oid, value in items))


def generalized_time(moment: datetime) -> bytes:
    return tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def utc_time(moment: datetime) -> bytes:
    return tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())


def key_identifier(certificate_der: bytes) -> bytes:
    certificate = x509.load_der_x509_certificate(certificate_der)
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def assert_refused(answer: Answer, failure: str, body: str = "error") -> None:
    """Status rejection with exactly ``failure`` (the suite's "exclusive" check) in an
    ``body`` answer."""
    assert answer.body_type == body, answer
    assert answer.status is cmp.PKIStatus.rejection, answer
    assert answer.fail_info == {failure}, answer


def assert_signed_by(answer: Answer, identity: ServerIdentity | None) -> None:
    """Signed by the CMP protection certificate, first in extraCerts, named by senderKID
    (RFC 9483 3.1, 3.3)."""
    assert identity is not None
    assert cmp.verify_signature(answer.message, identity.chain[0]), answer
    assert answer.message.extra_certs[0] == identity.chain[0]
    assert answer.message.header.sender_kid == key_identifier(identity.chain[0])


async def assert_new_request_refused_signed(
    local_ca: LocalCA, client: CMPClient, failure: str, body: str, content: bytes, **options: Any
) -> None:
    """``client`` opens a new transaction with ``body``: refused with exactly ``failure`` in
    an error message signed by the CMP protection certificate, and nothing recorded."""
    before = await registry_state(local_ca.registry)
    answer = await client.send(body, content, new=True, **options)
    assert_refused(answer, failure)
    assert_signed_by(answer, client.identity)
    assert await registry_state(local_ca.registry) == before


def assert_maced(answer: Answer, client: CMPClient) -> None:
    assert client.secret is not None
    assert answer.message.header.protection_oid == cmp.PASSWORD_BASED_MAC, answer
    cmp.verify_mac(answer.message, client.secret, 1, 1_000_000)


async def mac_client_signing_errors(local_ca: LocalCA) -> CMPClient:
    """A MAC client of a server that has a CMP protection certificate."""
    return await mac_client(local_ca, identity=await server_identity(local_ca))


async def holder(local_ca: LocalCA) -> CMPClient:
    return await signing_client(local_ca, await mac_client(local_ca))


def serial_of(client: CMPClient) -> str:
    return format(x509.load_der_x509_certificate(client.chain[0]).serial_number, "x")


# -- RFC 9483 4.1.5 / 3.1: the MAC reference ---------------------------------------------------


async def test_rfc9483_4_1_5_sender_kid_written_cn_ref_names_the_credential(
    local_ca: LocalCA,
) -> None:
    """senderKID `CN=<ref>` (as the suite and many clients write it) with sender
    directoryName `CN=<ref>`, or with another sender; the answer repeats the senderKID."""
    for sender_is_reference in (True, False):
        client = await mac_client(local_ca)
        assert client.kid is not None
        reference = client.kid.decode()
        client.kid = f"CN={reference}".encode()
        if sender_is_reference:
            client.sender = directory_name(f"CN={reference}")
        answer = await client.send("ir", ir_content(), new=True, generalInfo=IMPLICIT_CONFIRM)
        assert (answer.body_type, answer.status) == ("ip", cmp.PKIStatus.accepted), answer
        assert_maced(answer, client)
        assert answer.message.header.sender_kid == client.kid


async def test_rfc9483_3_1_mac_answer_names_the_reference_when_the_sender_did(
    local_ca: LocalCA,
) -> None:
    """Without senderKID (the reference in the sender CN) the answer's senderKID is the
    reference: every protected answer carries one (RFC 9483 3.1)."""
    client = await mac_client(local_ca)
    assert client.kid is not None
    reference = client.kid
    client.sender, client.kid = directory_name(f"CN={reference.decode()}"), None
    answer = await client.send("ir", ir_content(), new=True, generalInfo=IMPLICIT_CONFIRM)
    assert answer.status is cmp.PKIStatus.accepted, answer
    assert answer.message.header.sender_kid == reference


async def test_rfc9483_3_1_a_mac_sender_that_is_not_a_directory_name_is_bad_message_check(
    local_ca: LocalCA,
) -> None:
    """The suite's MAC case with sender rfc822Name `CN=<ref>` (and senderKID `CN=<ref>`):
    badMessageCheck, signed by the server; the credential stays usable."""
    client = await mac_client_signing_errors(local_ca)
    assert client.kid is not None
    reference = client.kid.decode()
    client.kid = f"CN={reference}".encode()
    client.sender = tlv(0x81, f"CN={reference}".encode())  # [1] rfc822Name
    await assert_new_request_refused_signed(local_ca, client, "badMessageCheck", "ir", ir_content())
    client.sender = directory_name(f"CN={reference}")
    assert (await client.send("ir", ir_content(), new=True)).status is cmp.PKIStatus.accepted


# -- RFC 9483 3.1 / 3.5: transactionID, senderNonce, messageTime ---------------------------


async def test_rfc9483_3_5_transaction_id_missing_is_bad_data_format_mis_sized_bad_request(
    local_ca: LocalCA,
) -> None:
    """Missing: badDataFormat (3.5); 8 or 100 octets: badRequest (3.1: 128 bits). The
    answer repeats no transactionID that is not of 128 bits."""
    client = await holder(local_ca)
    before = await registry_state(local_ca.registry)
    answer = await client.send("cr", ir_content(), new=True, omit={"transactionID"})
    assert_refused(answer, "badDataFormat")
    assert_signed_by(answer, client.identity)
    for octets in (8, 100):
        answer = await client.send(
            "cr", ir_content(), new=True, transactionID=secrets.token_bytes(octets)
        )
        assert_refused(answer, "badRequest")
        assert_signed_by(answer, client.identity)
        assert answer.message.header.transaction_id is None
    assert await registry_state(local_ca.registry) == before


async def test_rfc9483_3_1_message_time_is_required_unless_configured_off(
    local_ca: LocalCA,
) -> None:
    """3.1 RECOMMENDS messageTime; `cmp.require_message_time` (default true) requires it
    (badTime, as the suite expects); false serves a request without it."""
    client = await mac_client(local_ca)
    before = await registry_state(local_ca.registry)
    answer = await client.send("ir", ir_content(), new=True, omit={"messageTime"})
    assert_refused(answer, "badTime")
    assert_maced(answer, client)
    assert answer.message.header.message_time is not None
    assert await registry_state(local_ca.registry) == before
    lenient = dataclasses.replace(local_ca.settings.cmp, require_message_time=False)
    lenient_ca = dataclasses.replace(
        local_ca, settings=dataclasses.replace(local_ca.settings, cmp=lenient)
    )
    client = await mac_client(lenient_ca, server=await make_server(lenient_ca))
    answer = await client.send("ir", ir_content(), new=True, omit={"messageTime"})
    assert answer.status is cmp.PKIStatus.accepted, answer


# -- RFC 9483 3.1 generalInfo (RFC 9810 5.1.1.1, 5.1.1.2) -----------------------------------


async def test_rfc9483_3_1_an_implicit_confirm_value_other_than_null_is_bad_request(
    local_ca: LocalCA,
) -> None:
    """ImplicitConfirmValue ::= NULL: an OCTET STRING there (the suite's case) is
    badRequest; NULL or no value at all asks for it."""
    client = await holder(local_ca)
    random_value = tlv(0x04, secrets.token_bytes(16))
    await assert_new_request_refused_signed(
        local_ca, client, "badRequest", "cr", ir_content(),
        generalInfo=general_info((cmp.ID_IT_IMPLICIT_CONFIRM, random_value)),
    )  # fmt: skip
    for value in (b"\x05\x00", None):
        answer = await client.send(
            "cr", ir_content(), new=True,
            generalInfo=general_info((cmp.ID_IT_IMPLICIT_CONFIRM, value)),
        )  # fmt: skip
        assert answer.status is cmp.PKIStatus.accepted, answer
        assert answer.message.header.implicit_confirm


async def test_rfc9483_3_1_implicit_confirm_with_confirm_wait_time_is_bad_request(
    local_ca: LocalCA,
) -> None:
    """Both at once contradict each other: badRequest, before their values are judged
    (the suite sends a random implicitConfirm value and a UTCTime wait with them)."""
    client = await holder(local_ca)
    later = local_ca.clock() + timedelta(minutes=5)
    before = await registry_state(local_ca.registry)
    for implicit, wait in ((b"\x05\x00", generalized_time(later)),
                           (tlv(0x04, secrets.token_bytes(16)), utc_time(later))):  # fmt: skip
        answer = await client.send(
            "cr", ir_content(), new=True,
            generalInfo=general_info((cmp.ID_IT_IMPLICIT_CONFIRM, implicit),
                                     (cmp.ID_IT_CONFIRM_WAIT_TIME, wait)),
        )  # fmt: skip
        assert_refused(answer, "badRequest")
    assert await registry_state(local_ca.registry) == before


async def test_rfc9483_3_1_a_confirm_wait_time_as_utc_time_is_bad_data_format(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    later = local_ca.clock() + timedelta(minutes=5)
    await assert_new_request_refused_signed(
        local_ca, client, "badDataFormat", "cr", ir_content(),
        generalInfo=general_info((cmp.ID_IT_CONFIRM_WAIT_TIME, utc_time(later))),
    )  # fmt: skip


async def test_rfc9483_3_1_implicit_confirm_in_a_cert_conf_is_bad_request(
    local_ca: LocalCA,
) -> None:
    """The certificate still awaits its confirmation afterwards."""
    client = await mac_client(local_ca)
    issued = await client.send("ir", ir_content(), new=True)
    assert issued.certificate is not None, issued
    ours = client.last_nonce
    before = await registry_state(local_ca.registry)
    confirm = cert_conf_content(issued.certificate)
    answer = await client.send("certConf", confirm, generalInfo=IMPLICIT_CONFIRM)
    assert_refused(answer, "badRequest")
    assert_maced(answer, client)
    assert await registry_state(local_ca.registry) == before
    client.last_nonce = ours
    assert (await client.send("certConf", confirm)).body_type == "pkiconf"


# -- RFC 9483 3.6.4: refusals of what cannot be authenticated --------------------------------


async def test_rfc9483_3_6_4_unauthenticated_refusals_are_signed_by_the_cmp_server(
    local_ca: LocalCA,
) -> None:
    """A wrong MAC, a senderKID naming no credential, a signer not of this CA: signed by
    the CMP protection certificate (the MAC cannot be used), with messageTime, our
    senderKID, the request's transactionID and its senderNonce as recipNonce (3.1); by a
    server that has no such certificate, unprotected."""
    client = await mac_client_signing_errors(local_ca)
    secret = client.secret
    before = await registry_state(local_ca.registry)
    client.secret = b"not the secret"
    answer = await client.send("ir", ir_content(), new=True)
    assert_refused(answer, "badMessageCheck")
    assert_signed_by(answer, client.identity)
    header = answer.message.header
    assert header.message_time is not None
    assert header.transaction_id == client.transaction_id
    assert header.recip_nonce == client.last_sender_nonce
    client.secret = secret
    answer = await client.send("ir", ir_content(), new=True, senderKID=b"CN=ec-0000000000000000")
    assert_refused(answer, "badMessageCheck")
    assert_signed_by(answer, client.identity)
    outsider_key = new_key()
    outsider = CMPClient(client.server, local_ca.clock, identity=client.identity,
                         key=outsider_key, chain=[self_signed(outsider_key)],
                         sender=directory_name("CN=outsider"))  # fmt: skip
    answer = await outsider.send("cr", ir_content(), new=True)
    assert_refused(answer, "signerNotTrusted")
    assert_signed_by(answer, client.identity)
    assert await registry_state(local_ca.registry) == before
    assert (await client.send("ir", ir_content(), new=True)).status is cmp.PKIStatus.accepted
    without = await mac_client(local_ca)  # a server with no CMP protection certificate
    without.secret = b"not the secret"
    answer = await without.send("ir", ir_content(), new=True)
    assert_refused(answer, "badMessageCheck")
    assert not answer.protected
    assert answer.message.header.recip_nonce == without.last_sender_nonce


async def test_rfc9481_6_1_a_mac_without_password_based_key_derivation_is_bad_alg(
    local_ca: LocalCA,
) -> None:
    """HMAC or KMAC as the protectionAlg itself (not inside PasswordBasedMac/PBMAC1):
    badAlg, not a signature that fails (RFC 9483 3.2, 3.5)."""
    client = await mac_client_signing_errors(local_ca)
    before = await registry_state(local_ca.registry)
    for oid in (HMAC_SHA256, KMAC128):
        answer = await client.send(
            "ir", ir_content(), new=True, protectionAlg=algorithm_identifier(oid),
            protection=secrets.token_bytes(32),
        )  # fmt: skip
        assert_refused(answer, "badAlg")
        assert_signed_by(answer, client.identity)
    assert await registry_state(local_ca.registry) == before


# -- RFC 9483 3.1: the signer's senderKID; 4.1.1/4.1.3: a revoked signer ---------------------


async def test_rfc9483_3_1_a_signed_request_without_sender_kid_is_bad_message_check(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    await assert_new_request_refused_signed(
        local_ca, client, "badMessageCheck", "cr", ir_content(), omit={"senderKID"}
    )


async def test_rfc9483_4_1_1_and_4_1_3_requests_signed_by_a_revoked_certificate_are_cert_revoked(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    await local_ca.revocation.revoke(serial_of(client), CRLReason.keyCompromise, "test")
    before = await registry_state(local_ca.registry)
    csr = make_csr([("CN", "device")], key=new_key())
    for body, content in (("ir", ir_content()), ("cr", ir_content()), ("kur", ir_content()),
                          ("p10cr", csr)):  # fmt: skip
        answer = await client.send(body, content, new=True)
        assert_refused(answer, "certRevoked")
        assert_signed_by(answer, client.identity)
    assert await registry_state(local_ca.registry) == before


# -- RFC 9483 4.1.3, 4.2: the protection the body requires ----------------------------------


async def test_rfc9483_4_1_3_a_mac_protected_kur_is_wrong_integrity(local_ca: LocalCA) -> None:
    client = await mac_client(local_ca)
    before = await registry_state(local_ca.registry)
    answer = await client.send("kur", ir_content(), new=True)
    assert_refused(answer, "wrongIntegrity")
    assert_maced(answer, client)  # the MAC verified: the answer is protected by it
    assert await registry_state(local_ca.registry) == before
    assert (await client.send("ir", ir_content(), new=True)).status is cmp.PKIStatus.accepted


async def test_rfc9483_4_2_every_refusal_of_an_rr_is_an_rp(local_ca: LocalCA) -> None:
    """MAC-protected: wrongIntegrity (MACed back); unprotected, without extraCerts, the
    issuer as sender: badMessageCheck (signed by the server); no messageTime: badTime;
    signed by a revoked certificate: certRevoked. Nothing revoked."""
    client = await holder(local_ca)
    own = x509.load_der_x509_certificate(client.chain[0])
    content = rr_content(own.serial_number, own.issuer, 1)
    mac = await mac_client(local_ca, server=client.server)
    before = await registry_state(local_ca.registry)
    answer = await mac.send("rr", content, new=True)
    assert_refused(answer, "wrongIntegrity", body="rp")
    assert_maced(answer, mac)
    unprotected = CMPClient(client.server, local_ca.clock, identity=client.identity,
                            sender=client.sender)  # fmt: skip
    answer = await unprotected.send("rr", content, new=True)
    assert_refused(answer, "badMessageCheck", body="rp")
    assert_signed_by(answer, client.identity)
    answer = await client.send("rr", content, new=True, extra_certs=[])
    assert_refused(answer, "badMessageCheck", body="rp")
    assert_signed_by(answer, client.identity)
    answer = await client.send("rr", content, new=True, sender=directory_name(own.issuer))
    assert_refused(answer, "badMessageCheck", body="rp")
    assert_signed_by(answer, client.identity)
    answer = await client.send("rr", content, new=True, omit={"messageTime"})
    assert_refused(answer, "badTime", body="rp")
    assert await registry_state(local_ca.registry) == before
    other = await holder(local_ca)
    await local_ca.revocation.revoke(serial_of(other), CRLReason.keyCompromise, "test")
    revoked = x509.load_der_x509_certificate(other.chain[0])
    before = await registry_state(local_ca.registry)
    answer = await other.send("rr", rr_content(revoked.serial_number, revoked.issuer, 1), new=True)
    assert_refused(answer, "certRevoked", body="rp")
    assert_signed_by(answer, other.identity)
    assert await registry_state(local_ca.registry) == before


# -- RFC 9483 4.1.1 certConf: the transaction's protection, its transactionID ---------------


async def test_rfc9483_4_1_1_a_cert_conf_protected_otherwise_than_its_request_is_wrong_integrity(
    local_ca: LocalCA,
) -> None:
    """A signed ir, then a MAC certConf (the suite's case), and a MAC ir, then a signed
    certConf: wrongIntegrity; the right certConf still confirms."""
    signer = await holder(local_ca)
    mac = await mac_client(local_ca, server=signer.server)
    signed = await signer.send("cr", ir_content(), new=True)
    assert signed.certificate is not None, signed
    maced = await mac.send("ir", ir_content(), new=True)
    assert maced.certificate is not None, maced
    before = await registry_state(local_ca.registry)
    for client, other, issued in ((signer, mac, signed), (mac, signer, maced)):
        mac_state = (mac.transaction_id, mac.last_nonce)
        signer_state = (signer.transaction_id, signer.last_nonce)
        other.transaction_id, other.last_nonce = client.transaction_id, client.last_nonce
        assert issued.certificate is not None
        answer = await other.send("certConf", cert_conf_content(issued.certificate))
        assert_refused(answer, "wrongIntegrity")
        mac.transaction_id, mac.last_nonce = mac_state
        signer.transaction_id, signer.last_nonce = signer_state
    assert await registry_state(local_ca.registry) == before
    for client, issued in ((signer, signed), (mac, maced)):
        assert issued.certificate is not None
        confirmed = await client.send("certConf", cert_conf_content(issued.certificate))
        assert confirmed.body_type == "pkiconf", confirmed


async def test_rfc9483_3_2_a_cert_conf_under_another_mac_algorithm_is_bad_message_check(
    local_ca: LocalCA,
) -> None:
    """A PasswordBasedMac ir, then a PBMAC1 certConf with the same secret (the suite's
    STRICT_MAC_VALIDATION case): badMessageCheck; the PasswordBasedMac one confirms."""
    client = await mac_client(local_ca)
    issued = await client.send("ir", ir_content(), new=True)
    assert issued.certificate is not None, issued
    ours = client.last_nonce
    before = await registry_state(local_ca.registry)
    confirm = cert_conf_content(issued.certificate)
    answer = await client.send("certConf", confirm, protectionAlg=pbmac1())
    assert_refused(answer, "badMessageCheck")
    assert await registry_state(local_ca.registry) == before
    client.last_nonce = ours
    assert (await client.send("certConf", confirm)).body_type == "pkiconf"


async def test_rfc9483_3_1_a_cert_conf_without_transaction_id_is_bad_request(
    local_ca: LocalCA,
) -> None:
    """A certConf names the transaction it continues by its transactionID; without one it
    names none: badRequest (the suite; an ir without one is badDataFormat, 3.5)."""
    client = await mac_client(local_ca)
    issued = await client.send("ir", ir_content(), new=True)
    assert issued.certificate is not None, issued
    ours = client.last_nonce
    before = await registry_state(local_ca.registry)
    confirm = cert_conf_content(issued.certificate)
    answer = await client.send("certConf", confirm, omit={"transactionID"})
    assert_refused(answer, "badRequest")
    assert await registry_state(local_ca.registry) == before
    client.last_nonce = ours
    assert (await client.send("certConf", confirm)).body_type == "pkiconf"


# -- RFC 9481 6.1.2: PBMAC1 as clients use it, without stalling the event loop ---------------


async def test_rfc9481_6_1_2_pbmac1_of_262144_iterations_is_served_off_the_event_loop(
    local_ca: LocalCA,
) -> None:
    """The default `cmp.mac_max_iterations` (300000) takes the suite's PBMAC1; the two MACs
    (the request's, the answer's) are computed in a thread: the event loop never waits for
    as long as half of one."""
    client = await mac_client(local_ca)
    assert client.secret is not None
    algorithm = pbmac1(iterations=262_144, prf=HMAC_SHA512, scheme=HMAC_SHA512)
    started = time.perf_counter()
    cmp.mac(algorithm, client.secret, b"one MAC, timed")
    one_mac = time.perf_counter() - started
    request = client.request("ir", ir_content(), new=True, protectionAlg=algorithm,
                             generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    answer = await client.send_der(request)
    done.set()
    await ticking
    assert answer.status is cmp.PKIStatus.accepted, answer
    assert answer.message.header.protection_oid == cmp.PBMAC1
    cmp.verify_mac(answer.message, client.secret, 1, 1_000_000)
    assert max(gaps) < one_mac / 2, (max(gaps), one_mac)
