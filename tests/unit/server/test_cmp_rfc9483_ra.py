"""RA mode (RFC 9483 section 5.2.2): nested messages from a trusted RA, driven by the test
client (tests/cmp_client.py), since openssl 3.0 cannot send them. The RA holds a
certificate of the local CA whose fingerprint the settings list in [cmp.ras]; end entities
enrol with a one-time MAC credential or a certificate of this CA. Every refusal is checked
for its exact answer and for nothing having changed: no certificate issued, no CMP
transaction opened, the end entity's credential still usable."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from pyasn1.codec.der import encoder

from config.settings import SettingsError
from protocols import cmp, cms
from protocols.cmp.nested import (
    ID_IT_ORIG_PKI_MESSAGE,
    NestedFormatError,
    inner_messages,
    nested_body,
    orig_pki_messages,
)
from protocols.crl import CRLReason
from protocols.der import tlv
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    CMPClient,
    cert_req_messages,
    cert_request,
    header_of,
    inner_answers,
    mac_client,
    nested_content,
    oid_der,
    ra_client,
    registry_state,
    signing_client,
    spki_of,
)
from tests.csr_factory import make_csr
from tests.fuzz.mutations import FUZZ_SLOW, hostile
from tests.local_ca import LocalCA


async def counts(local_ca: LocalCA) -> tuple[int, int]:
    """(certificates recorded, CMP transactions opened)."""
    found = []
    async with local_ca.registry.reading() as db:
        for table in ("certificates", "cmp_transactions"):
            row = await (await db.execute(f"SELECT COUNT(*) FROM {table}")).fetchone()
            found.append(row[0])
    return found[0], found[1]


def ir(ee: CMPClient, pop: str = "signature", key: object = None, **fields: object) -> bytes:
    """An ir of ``ee`` (not sent), implicit confirmation asked, a fresh transaction."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    body = cert_req_messages(cert_request(key=key, pop=pop))
    return ee.request("ir", body, new=True, generalInfo=IMPLICIT_CONFIRM, **fields)


def wrap_copying(ra: CMPClient, inner: bytes, **fields: object) -> bytes:
    """RFC 9483 5.2.2.1: the RA's nested message around ``inner``, its transactionID and
    senderNonce copied (``fields`` override them)."""
    header = header_of(inner)
    values: dict[str, object] = {
        "transactionID": header.transaction_id, "senderNonce": header.sender_nonce,
    }  # fmt: skip
    values.update(fields)
    return ra.request("nested", nested_content(inner), new=True, **values)


def assert_refused(answer: object, failure: str) -> None:
    assert answer.body_type == "error", answer  # type: ignore[attr-defined]
    assert answer.status is cmp.PKIStatus.rejection, answer  # type: ignore[attr-defined]
    assert answer.fail_info == {failure}, answer  # type: ignore[attr-defined]


async def assert_served_through(ra: CMPClient, inner: bytes) -> None:
    """The end entity's request, as it was, is served when the trusted RA adds its
    protection correctly: the refusal used up neither its credential nor its transactionID,
    and it was the fault refused, not the RA or the request."""
    answer = await ra.send_der(wrap_copying(ra, inner))
    assert answer.body_type == "ip" and answer.status is cmp.PKIStatus.accepted, answer


# --- 5.2.2.1 added protection -------------------------------------------------------------


async def test_rfc9483_5_2_2_1_added_protection_served_and_answered_as_to_the_end_entity(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    inner = ir(ee)
    answer = await ra.send_der(wrap_copying(ra, inner))
    # the answer to the original request, unwrapped, MAC-protected for the end entity
    assert answer.body_type == "ip" and answer.status is cmp.PKIStatus.accepted, answer
    assert answer.certificate is not None
    header = answer.message.header
    assert header.transaction_id == header_of(inner).transaction_id
    assert header.recip_nonce == header_of(inner).sender_nonce
    assert header.protection_oid == cmp.PASSWORD_BASED_MAC
    assert header.sender_kid == ee.kid


async def test_rfc9483_5_2_2_1_only_transaction_id_copied_is_bad_sender_nonce(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    inner = ir(ee)
    before = await counts(trusting)
    answer = await ra.send_der(wrap_copying(ra, inner, senderNonce=secrets.token_bytes(16)))
    assert_refused(answer, "badSenderNonce")
    assert answer.protected  # the RA is authenticated: its error is signed (3.6.4)
    assert await counts(trusting) == before
    await assert_served_through(ra, inner)


async def test_rfc9483_5_2_2_1_only_sender_nonce_copied_is_bad_request(local_ca: LocalCA) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    inner = ir(ee)
    before = await counts(trusting)
    answer = await ra.send_der(wrap_copying(ra, inner, transactionID=secrets.token_bytes(16)))
    assert_refused(answer, "badRequest")
    assert await counts(trusting) == before
    await assert_served_through(ra, inner)


async def test_rfc9483_5_2_2_1_bad_inner_protection_is_bad_message_check(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    inner = ir(ee, protection=b"\x00" * 32)
    before = await counts(trusting)
    answer = await ra.send_der(wrap_copying(ra, inner))
    assert_refused(answer, "badMessageCheck")
    assert await counts(trusting) == before


async def test_rfc9483_4_1_6_central_key_generation_through_added_protection_for_the_ee(
    local_ca: LocalCA,
) -> None:
    """RFC 9483 4.1.6 and 5.2.3: the end entity's request for a key the CA makes reaches
    the CA unchanged under the RA's added protection, so the key is enveloped under the end
    entity's own shared secret (4.1.6.3), not for the RA."""
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    body = cert_req_messages(cert_request(key=None, pop="none"))  # no public key: make one
    inner = ee.request("ir", body, new=True, generalInfo=IMPLICIT_CONFIRM)
    answer = await ra.send_der(wrap_copying(ra, inner))
    assert answer.body_type == "ip" and answer.status is cmp.PKIStatus.accepted, answer
    assert answer.message.header.pvno == 3
    pair = answer.decoded["body"]["ip"]["response"][0]["certifiedKeyPair"]
    enveloped = bytes(encoder.encode(pair["privateKey"]["envelopedData"]))
    enveloped = b"\x30" + enveloped[1:]  # [0] IMPLICIT EnvelopedData -> SEQUENCE
    content_info = asn1_cms.ContentInfo(
        {"content_type": "enveloped_data", "content": asn1_cms.EnvelopedData.load(enveloped)}
    ).dump()
    assert ee.secret is not None
    content_type, _signed = cms.open_password_envelope(content_info, ee.secret)
    assert content_type == cms.ID_SIGNED_DATA


async def test_rfc9810_5_1_3_4_nested_codec_refuses_what_is_not_nested_content(
    local_ca: LocalCA,
) -> None:
    with pytest.raises(ValueError):
        nested_body([])
    ee = await mac_client(local_ca)
    genm = cmp.parse_pki_message(ee.request("genm", tlv(0x30, b"")))
    with pytest.raises(NestedFormatError):
        inner_messages(genm, 10)


# --- raVerified and replaced protection (RFC 4211 4; RFC 9483 5.2.3.1, 5.2.3.2) ------------


def with_originals(*originals: bytes) -> bytes:
    """generalInfo: implicitConfirm and id-it-origPKIMessage holding ``originals`` (RFC
    9810 5.1.1.3: PKIMessages)."""
    orig_info = tlv(0x30, oid_der(ID_IT_ORIG_PKI_MESSAGE) + nested_content(*originals))
    return tlv(0x30, IMPLICIT_CONFIRM[2:] + orig_info)


def ra_ir(ra: CMPClient, key: object, pop: str = "raVerified", **fields: Any) -> bytes:
    """The RA's own ir for an end entity's key and subject (replaced protection, RFC 9483
    5.2.3.1), signed by the RA's certificate."""
    body = cert_req_messages(cert_request(subject="CN=device 7", key=key, pop=pop))
    fields.setdefault("generalInfo", IMPLICIT_CONFIRM)
    return ra.request("ir", body, new=True, **fields)


async def issuing_actor(local_ca: LocalCA, certificate: bytes) -> tuple[str, str]:
    """(the actor the audit log records for the certificate's issuance, its profile)."""
    serial = format(x509.load_der_x509_certificate(certificate).serial_number, "x")
    async with local_ca.registry.reading() as db:
        actor = await (
            await db.execute("SELECT actor FROM audit_log WHERE target = ?", (serial,))
        ).fetchone()
        profile = await (
            await db.execute("SELECT profile FROM certificates WHERE serial = ?", (serial,))
        ).fetchone()
    return actor[0], profile[0]


def assert_refused_in_kind(answer: Any, kind: str, failure: str) -> None:
    assert answer.body_type == kind, answer
    assert answer.status is cmp.PKIStatus.rejection, answer
    assert answer.fail_info == {failure}, answer
    assert answer.certificate is None, answer


async def test_rfc9483_5_2_3_2_raverified_under_added_protection_is_not_authorized(
    local_ca: LocalCA,
) -> None:
    """RFC 9483 5.2.2.1 keeps the end entity's message unchanged: raVerified in it was set
    by the end entity, which cannot vouch for itself (5.2.3.2), though the RA is trusted."""
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    before = await registry_state(trusting.registry)
    answer = await ra.send_der(wrap_copying(ra, ir(ee, pop="raVerified")))
    assert_refused_in_kind(answer, "ip", "notAuthorized")
    assert answer.message.header.sender_kid == ee.kid  # the end entity's answer (5.2.2.1)
    assert await registry_state(trusting.registry) == before
    await assert_served_through(ra, ir(ee))  # its credential is still usable


async def test_rfc9483_5_2_3_2_raverified_inside_a_batch_is_not_authorized_in_its_answer(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    first, second = [await mac_client(trusting, server=ra.server) for _ in range(2)]
    before = await counts(trusting)
    answer = await ra.send("nested", nested_content(ir(first), ir(second, pop="raVerified")),
                           new=True)  # fmt: skip
    answers = inner_answers(answer)
    assert answers[0].status is cmp.PKIStatus.accepted and answers[0].certificate, answers
    assert_refused_in_kind(answers[1], "ip", "notAuthorized")
    assert (await counts(trusting))[0] == before[0] + 1  # the first one only


async def test_rfc9483_5_2_3_2_raverified_sent_directly_by_an_end_entity_is_not_authorized(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    holder = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    before = await registry_state(trusting.registry)
    for client in (ee, holder):  # MAC-protected, and signed by a certificate not an RA's
        answer = await client.send_der(ir(client, pop="raVerified"))
        assert_refused_in_kind(answer, "ip", "notAuthorized")
    assert await registry_state(trusting.registry) == before
    answer = await ee.send_der(ir(ee))  # a signature POP: the credential still serves
    assert answer.status is cmp.PKIStatus.accepted, answer


async def test_rfc9483_5_2_3_2_raverified_in_the_trusted_ras_own_request_is_served(
    local_ca: LocalCA,
) -> None:
    """Replaced protection: the RA verified the POP and signs the request as its own. The
    certificate is the template's subject and key, under the path's profile, and the RA is
    recorded as the one who asked."""
    ra, trusting = await ra_client(local_ca)
    key = ec.generate_private_key(ec.SECP256R1())
    answer = await ra.send_der(ra_ir(ra, key))
    assert answer.body_type == "ip" and answer.status is cmp.PKIStatus.accepted, answer
    assert answer.certificate is not None
    issued = x509.load_der_x509_certificate(answer.certificate)
    assert issued.subject.rfc4514_string() == "CN=device 7"
    assert spki_of(issued.public_key()) == spki_of(key)
    assert await issuing_actor(trusting, answer.certificate) == ("cmp-ra:test-ra", ra.profile)


async def test_rfc9483_5_2_3_1_trusted_ras_own_cr_and_p10cr_with_their_pop_are_served(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    key = ec.generate_private_key(ec.SECP256R1())
    body = cert_req_messages(cert_request(subject="CN=device 8", key=key))
    csr = make_csr([("CN", "device 9")], key=ec.generate_private_key(ec.SECP256R1()))
    for kind, content, subject in (("cr", body, "CN=device 8"), ("p10cr", csr, "CN=device 9")):
        answer = await ra.send(kind, content, new=True, generalInfo=IMPLICIT_CONFIRM)
        assert answer.body_type == "cp" and answer.status is cmp.PKIStatus.accepted, answer
        assert answer.certificate is not None
        issued = x509.load_der_x509_certificate(answer.certificate)
        assert issued.subject.rfc4514_string() == subject
        assert (await issuing_actor(trusting, answer.certificate))[0] == "cmp-ra:test-ra"


async def test_rfc9483_4_1_6_2_central_key_asked_by_the_ras_own_request_is_for_the_ra(
    local_ca: LocalCA,
) -> None:
    """Replaced protection and central key generation: the RA asked, so the key package is
    enveloped to the RA's certificate (4.1.6.2, which needs keyAgreement in it), for the
    template's subject."""
    ra, _trusting = await ra_client(local_ca, key_agreement=True)
    body = cert_req_messages(cert_request(subject="CN=device 10", key=None, pop="none"))
    answer = await ra.send("ir", body, new=True, generalInfo=IMPLICIT_CONFIRM)
    assert answer.body_type == "ip" and answer.status is cmp.PKIStatus.accepted, answer
    assert answer.certificate is not None
    issued = x509.load_der_x509_certificate(answer.certificate)
    assert issued.subject.rfc4514_string() == "CN=device 10"
    pair = answer.decoded["body"]["ip"]["response"][0]["certifiedKeyPair"]
    enveloped = bytes(encoder.encode(pair["privateKey"]["envelopedData"]))
    enveloped = b"\x30" + enveloped[1:]  # [0] IMPLICIT EnvelopedData -> SEQUENCE
    content_info = asn1_cms.ContentInfo(
        {"content_type": "enveloped_data", "content": asn1_cms.EnvelopedData.load(enveloped)}
    ).dump()
    assert ra.identity is not None
    content_type, _signed = cms.open_envelope(content_info, ra.key, None, ra.identity.chain[0])
    assert content_type == cms.ID_SIGNED_DATA


async def test_rfc9483_5_2_3_1_orig_pki_message_of_the_end_entity_is_served(
    local_ca: LocalCA,
) -> None:
    """The end entity's original, MAC-protected or signed by a certificate of ours that
    verifies, rides along with the RA's own request."""
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    holder = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    key = ec.generate_private_key(ec.SECP256R1())
    info = with_originals(ir(ee, key=key), ir(holder, key=key))
    answer = await ra.send_der(ra_ir(ra, key, generalInfo=info))
    assert answer.body_type == "ip" and answer.status is cmp.PKIStatus.accepted, answer


async def test_rfc9483_5_2_3_1_orig_pki_message_signed_by_ours_not_verifying_is_bad_message_check(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    holder = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    key = ec.generate_private_key(ec.SECP256R1())
    forged = ir(holder, key=key, protection=b"\x30\x06\x02\x01\x01\x02\x01\x01")
    before = await registry_state(trusting.registry)
    answer = await ra.send_der(ra_ir(ra, key, generalInfo=with_originals(forged)))
    assert_refused(answer, "badMessageCheck")
    assert "origPKIMessage" in answer.text and answer.protected
    assert await registry_state(trusting.registry) == before
    good = with_originals(ir(holder, key=key))
    answer = await ra.send_der(ra_ir(ra, key, generalInfo=good))
    assert answer.status is cmp.PKIStatus.accepted, answer


async def test_rfc9483_5_2_3_1_orig_pki_message_not_pki_messages_is_bad_data_format(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    key = ec.generate_private_key(ec.SECP256R1())
    before = await registry_state(trusting.registry)
    for value in (tlv(0x04, b"ir"), tlv(0x30, b""), tlv(0x30, tlv(0x30, tlv(0x02, b"\x01")))):
        info = tlv(0x30, tlv(0x30, oid_der(ID_IT_ORIG_PKI_MESSAGE) + value))
        answer = await ra.send_der(ra_ir(ra, key, generalInfo=info))
        assert_refused(answer, "badDataFormat")
        assert "origPKIMessage" in answer.text
    assert await registry_state(trusting.registry) == before


async def test_rfc9483_5_2_3_1_orig_pki_message_from_an_end_entity_is_not_authorized(
    local_ca: LocalCA,
) -> None:
    """Only an RA that replaced the protection carries originals; an end entity's request
    carrying one (its own, here) is refused rather than served."""
    ra, trusting = await ra_client(local_ca)
    holder = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    key = ec.generate_private_key(ec.SECP256R1())
    before = await registry_state(trusting.registry)
    original = ir(holder, key=key)
    body = cert_req_messages(cert_request(key=key))
    answer = await holder.send("ir", body, new=True, generalInfo=with_originals(original))
    assert_refused(answer, "notAuthorized")
    assert await registry_state(trusting.registry) == before


async def test_rfc9810_5_3_11_ccr_forwarded_by_an_ra_is_not_authorized(
    local_ca: LocalCA,
) -> None:
    """A ccr is a CA's request (RFC 9810 5.3.11): an RA's end entity has none to forward,
    under added protection or in a batch."""
    ra, trusting = await ra_client(local_ca)
    holder = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    key = ec.generate_private_key(ec.SECP256R1())
    ccr = holder.request("ccr", cert_req_messages(cert_request(key=key)), new=True)
    ee = await mac_client(trusting, server=ra.server)
    before = await registry_state(trusting.registry)
    assert_refused(await ra.send_der(wrap_copying(ra, ccr)), "notAuthorized")
    answer = await ra.send("nested", nested_content(ir(ee), ccr), new=True)
    assert_refused(answer, "notAuthorized")
    assert await registry_state(trusting.registry) == before


async def test_rfc9483_5_2_3_raverified_in_a_kur_is_bad_pop_even_from_a_trusted_ra(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    holder = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    body = cert_req_messages(cert_request(key=ec.generate_private_key(ec.SECP256R1()),
                                          subject=None, pop="raVerified"))  # fmt: skip
    inner = holder.request("kur", body, new=True, generalInfo=IMPLICIT_CONFIRM)
    before = await counts(trusting)
    answer = await ra.send_der(wrap_copying(ra, inner))
    assert answer.status is cmp.PKIStatus.rejection and answer.fail_info == {"badPOP"}, answer
    assert (await counts(trusting))[0] == before[0]


# --- 5.2.2.2 batches ----------------------------------------------------------------------


async def test_rfc9483_5_2_2_2_batch_answered_in_one_nested_message_in_order(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    first = await mac_client(trusting, server=ra.server)
    holder = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    third = await mac_client(trusting, server=ra.server)
    key = ec.generate_private_key(ec.SECP256R1())
    cr = holder.request("cr", cert_req_messages(cert_request(key=key)), new=True,
                        generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    inners = [ir(first), cr, ir(third)]
    request = ra.request("nested", nested_content(*inners), new=True)
    answer = await ra.send_der(request)
    assert answer.body_type == "nested" and answer.protected, answer
    outer = answer.message.header
    assert outer.transaction_id == header_of(request).transaction_id
    assert outer.recip_nonce == header_of(request).sender_nonce
    # signed by this server: its certificate first in extraCerts (RFC 9483 3.3)
    assert answer.message.extra_certs[0] == ra.identity.chain[0]  # type: ignore[union-attr]
    assert cmp.verify_signature(answer.message, answer.message.extra_certs[0])
    answers = inner_answers(answer)
    assert [a.body_type for a in answers] == ["ip", "cp", "ip"], answers
    assert all(a.status is cmp.PKIStatus.accepted and a.certificate for a in answers), answers
    for inner, inner_answer in zip(inners, answers, strict=True):
        assert inner_answer.message.header.transaction_id == header_of(inner).transaction_id
        assert inner_answer.message.header.recip_nonce == header_of(inner).sender_nonce
    assert answers[0].message.header.sender_kid == first.kid  # MAC for the MAC request
    assert cmp.verify_signature(answers[1].message, answers[1].message.extra_certs[0])


async def test_rfc9483_5_2_2_2_one_bad_inner_protection_refuses_the_whole_batch(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ees = [await mac_client(trusting, server=ra.server) for _ in range(3)]
    inners = [ir(ees[0]), ir(ees[1]), ir(ees[2], protection=b"\x01" * 32)]
    before = await counts(trusting)
    answer = await ra.send("nested", nested_content(*inners), new=True)
    assert_refused(answer, "badMessageCheck")
    assert await counts(trusting) == before
    await assert_served_through(ra, inners[0])


@pytest.mark.parametrize(
    ("field", "failure"),
    [("transactionID", "badRequest"), ("senderNonce", "badSenderNonce")],
)
async def test_rfc9483_5_2_2_2_batch_reusing_a_requests_transaction_id_or_nonce_is_refused(
    local_ca: LocalCA, field: str, failure: str
) -> None:
    """The nested message's transactionID (badRequest) or senderNonce (badSenderNonce) must
    not be one of its inner requests'; a fresh one is served."""
    ra, trusting = await ra_client(local_ca)
    ees = [await mac_client(trusting, server=ra.server) for _ in range(2)]
    inners = [ir(ee) for ee in ees]
    header = header_of(inners[1])
    reused = header.transaction_id if field == "transactionID" else header.sender_nonce
    before = await counts(trusting)
    answer = await ra.send("nested", nested_content(*inners), new=True, **{field: reused})
    assert_refused(answer, failure)
    assert await counts(trusting) == before
    answer = await ra.send("nested", nested_content(*inners), new=True)  # a fresh one: served
    assert [a.status for a in inner_answers(answer)] == [cmp.PKIStatus.accepted] * 2, answer


async def test_rfc9483_5_2_2_2_two_requests_of_one_transaction_is_transaction_id_in_use(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ees = [await mac_client(trusting, server=ra.server) for _ in range(2)]
    first = ir(ees[0])
    second = ir(ees[1], transactionID=header_of(first).transaction_id)
    before = await counts(trusting)
    answer = await ra.send("nested", nested_content(first, second), new=True)
    assert_refused(answer, "transactionIdInUse")
    assert await counts(trusting) == before
    await assert_served_through(ra, first)


async def test_rfc9483_5_2_2_2_more_than_max_batch_messages_is_bad_request(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    limit = trusting.settings.cmp.max_batch_messages
    ee = await mac_client(trusting, server=ra.server)
    inners = [ir(ee) for _ in range(limit + 1)]
    before = await counts(trusting)
    answer = await ra.send("nested", nested_content(*inners), new=True)
    assert_refused(answer, "badRequest")
    assert f"at most {limit}" in answer.text
    assert await counts(trusting) == before


# --- refusals of the nested message itself -------------------------------------------------


async def test_rfc9810_5_1_3_4_empty_nested_content_is_refused(local_ca: LocalCA) -> None:
    ra, trusting = await ra_client(local_ca)
    before = await counts(trusting)
    answer = await ra.send("nested", nested_content(), new=True)
    assert_refused(answer, "badRequest")  # PKIMessages is SIZE (1..MAX)
    assert await counts(trusting) == before
    inner = ir(await mac_client(trusting, server=ra.server))
    answer = await ra.send("nested", nested_content(inner), new=True)  # a batch of one: served
    assert [a.status for a in inner_answers(answer)] == [cmp.PKIStatus.accepted], answer


async def test_rfc9483_5_2_2_nested_within_nested_is_bad_request(local_ca: LocalCA) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    inner = ir(ee)
    middle = wrap_copying(ra, inner)
    before = await counts(trusting)
    answer = await ra.send("nested", nested_content(middle), new=True)
    assert_refused(answer, "badRequest")
    assert await counts(trusting) == before
    await assert_served_through(ra, inner)


async def test_rfc9483_5_2_2_nested_from_a_signer_not_trusted_as_ra_is_not_authorized(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    # a good certificate of this CA, but not listed in [cmp.ras]
    impostor = await signing_client(trusting, await mac_client(trusting, server=ra.server))
    inner = ir(ee)
    before = await counts(trusting)
    answer = await impostor.send_der(wrap_copying(impostor, inner))
    assert_refused(answer, "notAuthorized")
    assert answer.protected
    assert await counts(trusting) == before
    await assert_served_through(ra, inner)  # the same request, from the trusted RA


async def test_rfc9483_5_2_2_nested_with_a_bad_ra_signature_is_bad_message_check(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    inner = ir(ee)
    bad = wrap_copying(ra, inner, protection=b"\x30\x06\x02\x01\x01\x02\x01\x01")
    before = await counts(trusting)
    answer = await ra.send_der(bad)
    assert_refused(answer, "badMessageCheck")
    # the RA is not authenticated: signed by the CMP protection certificate (3.6.4)
    assert ra.identity is not None
    assert cmp.verify_signature(answer.message, ra.identity.chain[0])
    assert await counts(trusting) == before
    await assert_served_through(ra, inner)


async def test_rfc9483_5_2_2_nested_under_mac_protection_is_wrong_integrity(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    ee = await mac_client(trusting, server=ra.server)
    other = await mac_client(trusting, server=ra.server)
    inner = ir(ee)
    before = await counts(trusting)
    answer = await other.send_der(wrap_copying(other, inner))
    assert_refused(answer, "wrongIntegrity")
    assert answer.message.header.protection_oid == cmp.PASSWORD_BASED_MAC
    assert await counts(trusting) == before
    await assert_served_through(ra, inner)


async def test_rfc9483_5_2_2_ra_certificate_revoked_is_no_longer_trusted(
    local_ca: LocalCA,
) -> None:
    ra, trusting = await ra_client(local_ca)
    await assert_served_through(ra, ir(await mac_client(trusting, server=ra.server)))
    serial = format(x509.load_der_x509_certificate(ra.chain[0]).serial_number, "x")
    await trusting.revocation.revoke(serial, CRLReason.keyCompromise, "test")
    ee = await mac_client(trusting, server=ra.server)
    before = await counts(trusting)
    answer = await ra.send_der(wrap_copying(ra, ir(ee, pop="raVerified")))
    assert_refused(answer, "signerNotTrusted")
    assert ra.identity is not None  # signed by the CMP protection certificate (3.6.4)
    assert cmp.verify_signature(answer.message, ra.identity.chain[0])
    assert await counts(trusting) == before


def test_rfc9483_5_2_2_ras_setting_takes_only_sha256_fingerprints(local_ca: LocalCA) -> None:
    good = replace(local_ca.settings.cmp, ras={"ra": "ab:" * 31 + "ab"})
    good.check()
    for bad in ("ab" * 20, "zz" * 32, ""):
        try:
            replace(local_ca.settings.cmp, ras={"ra": bad}).check()
        except SettingsError as exc:
            assert "cmp.ras.ra" in str(exc)
        else:
            raise AssertionError(f"{bad!r} taken as a fingerprint")


def _nested_seeds() -> list[bytes]:
    """Nested messages as the test RA sends them (no server needed to build them)."""
    moment = datetime(2026, 11, 28, tzinfo=UTC)
    no_server: Any = None  # the messages are only built, never sent
    ra = CMPClient(no_server, lambda: moment, secret=b"s", kid=b"ra")
    inner = ir(ra)
    orig = tlv(0x30, tlv(0x30, oid_der(ID_IT_ORIG_PKI_MESSAGE) + nested_content(inner)))
    return [
        wrap_copying(ra, inner),
        ra.request("nested", nested_content(inner, ir(ra), ir(ra)), new=True),
        ra.request("nested", nested_content(wrap_copying(ra, inner)), new=True),
        ra.request("ir", cert_req_messages(cert_request(key=None, pop="none")), generalInfo=orig),
    ]


def test_rfc9810_5_1_3_4_any_mutated_nested_message_is_inner_messages_or_refused() -> None:
    @FUZZ_SLOW
    @given(hostile(_nested_seeds()))
    def check(data: bytes) -> None:
        try:
            message = cmp.parse_pki_message(data)
        except cmp.CMPFormatError:
            return
        try:
            originals = orig_pki_messages(message, 3)
        except NestedFormatError:
            originals = None
        assert originals is None or all(part[:1] == b"\x30" for part in originals)
        try:
            found = inner_messages(message, 3)
        except NestedFormatError:
            return
        assert 1 <= len(found) <= 3 and all(part[:1] == b"\x30" for part in found)

    check()
