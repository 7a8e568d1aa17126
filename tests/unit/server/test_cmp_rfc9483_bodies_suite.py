"""The rr, genm and certConf bodies as Siemens' conformance suite expects them (its authors
wrote RFC 9483; /work/notes on the measurement), against a real CMPServer over the local CA
(tests/cmp_client.py). Where the suite chooses among failInfos the RFC allows, the tests
name the choice; every refusal is checked for body type, status, its one failInfo bit and a
registry left as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder
from pyasn1_alt_modules import rfc5280, rfc9480

from protocols import cmp
from protocols.der import elements
from server.registry import CertificateStatus, StatusBasis
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    Answer,
    CMPClient,
    Holder,
    cert_conf_content,
    cert_req_messages,
    cert_request,
    genm_content,
    genp_items,
    integer_der,
    mac_client,
    make_holder,
    make_server,
    oid_der,
    p10cr_content,
    registry_state,
    rp_rejection,
    tlv,
)
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA

UNSPECIFIED, KEY_COMPROMISE, CERTIFICATE_HOLD, REMOVE_FROM_CRL = 0, 1, 6, 8
SHA384 = "2.16.840.1.101.3.4.2.2"
ID_EC_PUBLIC_KEY, P256, P384 = "1.2.840.10045.2.1", "1.2.840.10045.3.1.7", "1.3.132.0.34"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
F = cmp.FailureInfo


def suspending(local_ca: LocalCA) -> LocalCA:
    """The local CA with `cmp.suspend_by_revocation_request` on (S8)."""
    settings = local_ca.settings
    cmp_settings = replace(settings.cmp, suspend_by_revocation_request=True)
    return replace(local_ca, settings=replace(settings, cmp=cmp_settings))


@pytest.fixture
async def holder(local_ca: LocalCA) -> Holder:
    return await make_holder(local_ca)


@pytest.fixture
async def suspender(local_ca: LocalCA) -> Holder:
    """A holder under a CA that lets holders suspend by rr."""
    return await make_holder(suspending(local_ca))


async def rp_accepted(holder: Holder, content: bytes) -> Answer:
    answer = await holder.client.send("rr", content, new=True)
    assert (answer.body_type, answer.status, answer.fail_info) == (
        "rp", cmp.PKIStatus.accepted, frozenset(),
    ), answer  # fmt: skip
    return answer


def crl_reason(value: int) -> bytes:
    """A crlEntryDetails CRLReason Extension (RFC 5280 5.3.1)."""
    return tlv(0x30, oid_der("2.5.29.21") + tlv(0x04, bytes([0x0A, 0x01, value])))


def rr_with_version(holder: Holder, version: int) -> bytes:
    """RevReqContent whose certDetails carries version [0] before serialNumber and issuer
    (RFC 4211 5 field order), reason keyCompromise."""
    cert = holder.certificate
    template = b"\x80" + integer_der(version)[1:]  # [0] IMPLICIT Version
    template += b"\x81" + integer_der(cert.serial_number)[1:]
    template += tlv(0xA3, cert.issuer.public_bytes())
    details = tlv(0x30, template) + tlv(0x30, crl_reason(KEY_COMPROMISE))
    return tlv(0x30, tlv(0x30, details))


# -- RFC 9483 4.2: rr -----------------------------------------------------------------------


async def test_rfc9483_4_2_an_accepted_rp_says_revoked_in_its_status_string(
    holder: Holder,
) -> None:
    """4.2: statusString MAY be any text; the suite reads it for "revoked"."""
    answer = await rp_accepted(holder, holder.rr(KEY_COMPROMISE))
    assert "revoked" in answer.text
    assert await holder.status() is CertificateStatus.REVOKED


async def test_rfc4211_5_rr_template_version_other_than_2_is_rejected_bad_request(
    holder: Holder,
) -> None:
    """RFC 4211 5: version "MUST be 2 if supplied"; the suite expects badRequest."""
    for version in (0, 1, 3):
        await rp_rejection(holder, rr_with_version(holder, version), "badRequest")
    assert await holder.status() is CertificateStatus.GOOD


async def test_rfc4211_5_rr_template_version_2_is_taken(holder: Holder) -> None:
    await rp_accepted(holder, rr_with_version(holder, 2))
    assert await holder.status() is CertificateStatus.REVOKED


async def test_rfc9483_4_2_revive_of_a_certificate_not_on_hold_is_rejected_bad_cert_id(
    holder: Holder, suspender: Holder
) -> None:
    """removeFromCRL (RFC 5280 5.3.1) lifts a hold; a good certificate has none: no held
    certificate matches, badCertId as the suite expects, whether or not holds are allowed."""
    for someone in (holder, suspender):
        await rp_rejection(someone, someone.rr(REMOVE_FROM_CRL), "badCertId")
        assert await someone.status() is CertificateStatus.GOOD


async def test_rfc9483_4_2_revive_lifts_a_hold_the_holder_asked_for(suspender: Holder) -> None:
    """S8: a holder that may suspend by rr may revive by rr (removeFromCRL): the accepted rp
    says "revived"; the held certificate protects that rr (and nothing else)."""
    held = await rp_accepted(suspender, suspender.rr(CERTIFICATE_HOLD))
    assert "revoked" in held.text
    assert await suspender.status() is CertificateStatus.HOLD
    ir = cert_req_messages(cert_request(key=ec.generate_private_key(ec.SECP256R1())))
    before = await registry_state(suspender.local_ca.registry)
    refused = await suspender.client.send("ir", ir, new=True)
    assert (refused.body_type, refused.fail_info) == ("error", {"signerNotTrusted"}), refused
    assert refused.status is cmp.PKIStatus.rejection, refused
    assert await registry_state(suspender.local_ca.registry) == before
    # 4.2: "exactly one reasonCode": revoke and revive at once is refused, badRequest
    both = suspender.rr(UNSPECIFIED, extra_entry_extensions=[crl_reason(REMOVE_FROM_CRL)])
    await rp_rejection(suspender, both, "badRequest")
    assert await suspender.status() is CertificateStatus.HOLD
    revived = await rp_accepted(suspender, suspender.rr(REMOVE_FROM_CRL))
    assert "revived" in revived.text
    assert await suspender.status() is CertificateStatus.GOOD
    history = await suspender.local_ca.registry.status_history(suspender.serial)
    assert [change.basis for change in history[-2:]] == [StatusBasis.HOLDER_REQUEST] * 2


async def test_rfc9810_5_2_3_a_hold_of_a_held_certificate_is_rejected_cert_revoked(
    suspender: Holder,
) -> None:
    await rp_accepted(suspender, suspender.rr(CERTIFICATE_HOLD))
    await rp_rejection(suspender, suspender.rr(CERTIFICATE_HOLD), "certRevoked")
    assert await suspender.status() is CertificateStatus.HOLD


async def test_rfc9483_4_2_a_held_certificate_is_revoked_for_good_by_its_holder(
    suspender: Holder,
) -> None:
    await rp_accepted(suspender, suspender.rr(CERTIFICATE_HOLD))
    answer = await rp_accepted(suspender, suspender.rr(KEY_COMPROMISE))
    assert "revoked" in answer.text
    assert await suspender.status() is CertificateStatus.REVOKED


@pytest.mark.parametrize("holds_allowed", [False, True])
async def test_rfc9483_4_2_revive_of_a_hold_the_ca_decided_is_rejected_not_authorized(
    local_ca: LocalCA, holds_allowed: bool
) -> None:
    """A hold the CA decided (R8) is lifted by the CA only, whatever rr may suspend."""
    someone = await make_holder(suspending(local_ca) if holds_allowed else local_ca)
    await local_ca.revocation.suspend(
        someone.serial, "op", basis=StatusBasis.CA_DECISION, grounds="unpaid invoice"
    )
    await rp_rejection(someone, someone.rr(REMOVE_FROM_CRL), "notAuthorized")
    assert await someone.status() is CertificateStatus.HOLD


# -- RFC 9483 4.3, RFC 9810 5.3.19: genm ----------------------------------------------------


async def genp_value(client: CMPClient, info_type: str, value: bytes | None = None) -> bytes:
    """The one infoValue of the genp answering a genm of ``info_type``, of that infoType."""
    answer = await client.send("genm", genm_content((info_type, value)), new=True)
    [(answered_type, answered_value)] = genp_items(answer)
    assert answered_type == info_type and answered_value is not None, answer
    return answered_value


async def genm_refused(client: CMPClient, local_ca: LocalCA, content: bytes) -> Answer:
    before = await registry_state(local_ca.registry)
    answer = await client.send("genm", content, new=True)
    assert (answer.body_type, answer.status, answer.fail_info) == (
        "error", cmp.PKIStatus.rejection, frozenset({"badRequest"}),
    ), answer  # fmt: skip
    assert answer.protected
    assert await registry_state(local_ca.registry) == before
    return answer


def algorithms(value: bytes) -> list[tuple[str, str | None]]:
    """(algorithm, named curve or None) of each AlgorithmIdentifier of a SEQUENCE OF."""
    decoded, rest = decoder.decode(value, asn1Spec=rfc9480.SignKeyPairTypesValue())
    assert rest == b""
    found = []
    for algorithm in decoded:
        curve = None
        if str(algorithm["algorithm"]) == ID_EC_PUBLIC_KEY:
            curve = str(decoder.decode(algorithm["parameters"])[0])
        found.append((str(algorithm["algorithm"]), curve))
    return found


async def test_rfc9810_5_3_19_6_current_crl_is_the_current_full_crl(local_ca: LocalCA) -> None:
    client = await mac_client(local_ca)
    value = await genp_value(client, cmp.ID_IT_CURRENT_CRL)
    published = client.server._crls.current(0, delta=False)
    assert published is not None and value == published.der
    _, rest = decoder.decode(value, asn1Spec=rfc5280.CertificateList())
    assert rest == b""


async def test_rfc9810_5_3_19_2_signing_key_pair_types_are_the_profiles(
    local_ca: LocalCA,
) -> None:
    """The key types tls-client certifies (ec-p256, ec-p384, rsa-*): one id-ecPublicKey
    per curve, one rsaEncryption for every size (5.3.19.2: rsaEncryption stands for its
    signature algorithms)."""
    client = await mac_client(local_ca)
    value = await genp_value(client, cmp.ID_IT_SIGN_KEY_PAIR_TYPES)
    assert algorithms(value) == [
        (ID_EC_PUBLIC_KEY, P256), (ID_EC_PUBLIC_KEY, P384), (RSA_ENCRYPTION, None),
    ]  # fmt: skip


async def test_rfc9810_5_3_19_3_enc_key_pair_types_leave_out_signing_only_keys(
    local_ca: LocalCA,
) -> None:
    """Ed25519 signs only: among signKeyPairTypes, not among encKeyPairTypes."""
    profiles = dict(local_ca.settings.profiles)
    profiles["tls-client"] = replace(profiles["tls-client"], key_algorithms=("ed25519", "ec-p384"))
    ed_ca = replace(local_ca, settings=replace(local_ca.settings, profiles=profiles))
    client = await mac_client(ed_ca, server=await make_server(ed_ca))
    signing = await genp_value(client, cmp.ID_IT_SIGN_KEY_PAIR_TYPES)
    assert algorithms(signing) == [("1.3.101.112", None), (ID_EC_PUBLIC_KEY, P384)]
    encryption = await genp_value(client, cmp.ID_IT_ENC_KEY_PAIR_TYPES)
    assert algorithms(encryption) == [(ID_EC_PUBLIC_KEY, P384)]


async def test_rfc9810_5_3_19_4_preferred_symmetric_algorithm_is_aes_256_cbc(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    value = await genp_value(client, cmp.ID_IT_PREFERRED_SYMM_ALG)
    algorithm, rest = decoder.decode(value, asn1Spec=rfc5280.AlgorithmIdentifier())
    assert rest == b"" and str(algorithm["algorithm"]) == "2.16.840.1.101.3.4.1.42"


@pytest.mark.parametrize(
    "info_type",
    [cmp.ID_IT_CURRENT_CRL, cmp.ID_IT_SIGN_KEY_PAIR_TYPES, cmp.ID_IT_ENC_KEY_PAIR_TYPES,
     cmp.ID_IT_PREFERRED_SYMM_ALG],
)  # fmt: skip
async def test_rfc9810_5_3_19_a_genm_with_a_value_that_must_be_absent_is_bad_request(
    local_ca: LocalCA, info_type: str
) -> None:
    """5.3.19.2-5.3.19.6: GenMsg {id-it n}, < absent >."""
    client = await mac_client(local_ca)
    await genm_refused(client, local_ca, genm_content((info_type, tlv(0x04, b"random"))))


def lang_tags(*tags: str) -> bytes:
    return tlv(0x30, b"".join(tlv(0x0C, tag.encode()) for tag in tags))


async def test_rfc9810_5_3_19_13_supported_language_tags_answer_the_one_chosen(
    local_ca: LocalCA,
) -> None:
    """The client's tags, most preferred first; the answer holds exactly one: "en"."""
    client = await mac_client(local_ca)
    value = await genp_value(client, cmp.ID_IT_SUPP_LANG_TAGS, lang_tags("de", "en-GB"))
    tags, rest = decoder.decode(value, asn1Spec=rfc9480.SuppLangTagsValue())
    assert rest == b"" and [str(tag) for tag in tags] == ["en"]


@pytest.mark.parametrize(
    "value", [None, lang_tags("de", "fr"), tlv(0x30, b""), tlv(0x04, b"en")],
    ids=["absent", "none-supported", "empty", "not-utf8-strings"],
)  # fmt: skip
async def test_rfc9810_5_3_19_13_supported_language_tags_refused_bad_request(
    local_ca: LocalCA, value: bytes | None
) -> None:
    client = await mac_client(local_ca)
    await genm_refused(client, local_ca, genm_content((cmp.ID_IT_SUPP_LANG_TAGS, value)))


async def test_rfc9483_4_3_3_cert_req_template_names_one_rsa_key_length(
    local_ca: LocalCA,
) -> None:
    """A profile whose first key type is RSA: keySpec is exactly one id-regCtrl-rsaKeyLen
    (RFC 9810 5.3.19.16), no algId for rsaEncryption."""
    profiles = dict(local_ca.settings.profiles)
    profiles["tls-client"] = replace(profiles["tls-client"], key_algorithms=("rsa-3072", "ec-p256"))
    rsa_ca = replace(local_ca, settings=replace(local_ca.settings, profiles=profiles))
    client = await mac_client(rsa_ca, server=await make_server(rsa_ca))
    value = await genp_value(client, cmp.ID_IT_CERT_REQ_TEMPLATE)
    content, _ = decoder.decode(value, asn1Spec=rfc9480.CertReqTemplateContent())
    [control] = content["keySpec"]
    assert str(control["type"]) == str(rfc9480.id_regCtrl_rsaKeyLen)
    assert int(decoder.decode(bytes(control["value"]))[0]) == 3072


# -- RFC 9483 4.1.1, RFC 9810 5.3.18: certConf ----------------------------------------------


async def enrolled(client: CMPClient, implicit: bool = False, pvno: int = 2) -> bytes:
    """The certificate of a fresh ir (no implicitConfirm asked unless ``implicit``)."""
    request = cert_req_messages(cert_request(key=ec.generate_private_key(ec.SECP256R1())))
    info = {"generalInfo": IMPLICIT_CONFIRM} if implicit else {}
    answer = await client.send("ir", request, new=True, pvno=pvno, **info)
    assert answer.body_type == "ip" and answer.certificate is not None, answer
    return answer.certificate


async def cert_conf_refused(
    client: CMPClient, local_ca: LocalCA, content: bytes, failure: str, **fields: int
) -> Answer:
    """Sends the certConf; asserts an error with exactly ``failure`` and nothing changed.
    The client then answers the ip again (its recipNonce stays the ip's senderNonce, the
    last nonce of ours the transaction keeps)."""
    before = await registry_state(local_ca.registry)
    ours = client.last_nonce
    answer = await client.send("certConf", content, **fields)
    client.last_nonce = ours
    assert (answer.body_type, answer.status, answer.fail_info) == (
        "error", cmp.PKIStatus.rejection, frozenset({failure}),
    ), answer  # fmt: skip
    assert answer.protected
    assert await registry_state(local_ca.registry) == before
    return answer


async def status_of(local_ca: LocalCA, certificate: bytes) -> CertificateStatus:
    serial = format(x509.load_der_x509_certificate(certificate).serial_number, "x")
    record = await local_ca.registry.get_certificate(serial)
    assert record is not None
    return record.status


async def test_rfc9483_4_1_1_a_second_cert_conf_is_refused_cert_confirmed(
    local_ca: LocalCA,
) -> None:
    """RFC 9810 5.2.3 certConfirmed "certificate already confirmed", for the very same
    certConf sent again (as the suite does) and for a new one."""
    client = await mac_client(local_ca)
    certificate = await enrolled(client)
    ours = client.last_nonce
    first = client.request("certConf", cert_conf_content(certificate))
    assert (await client.send_der(first)).body_type == "pkiconf"
    client.last_nonce = ours
    before = await registry_state(local_ca.registry)
    again = await client.send_der(first)
    client.last_nonce = ours
    assert (again.body_type, again.fail_info) == ("error", {"certConfirmed"}), again
    assert again.status is cmp.PKIStatus.rejection and again.protected, again
    await cert_conf_refused(client, local_ca, cert_conf_content(certificate), "certConfirmed")
    assert await registry_state(local_ca.registry) == before
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD


async def test_rfc9483_4_1_1_a_cert_conf_after_implicit_confirm_is_refused_cert_confirmed(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    certificate = await enrolled(client, implicit=True)
    await cert_conf_refused(client, local_ca, cert_conf_content(certificate), "certConfirmed")
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD


async def test_rfc9483_4_1_1_cert_conf_is_one_cert_status_with_cert_req_id_0(
    local_ca: LocalCA,
) -> None:
    """4.1.1: one CertStatus, certReqId 0: two, or certReqId -1 after an ir, is badRequest;
    the certificate still awaits its confirmation after."""
    client = await mac_client(local_ca)
    certificate = await enrolled(client)
    await cert_conf_refused(
        client, local_ca, cert_conf_content(certificate, cert_req_id=-1), "badRequest"
    )
    one = elements(cert_conf_content(certificate))[0][1]
    await cert_conf_refused(client, local_ca, tlv(0x30, one + one), "badRequest")
    assert (await client.send("certConf", cert_conf_content(certificate))).body_type == "pkiconf"


async def test_rfc9483_4_1_4_cert_conf_of_a_p10cr_takes_minus_1_and_refuses_0(
    local_ca: LocalCA,
) -> None:
    """4.1.4: a p10cr is answered and confirmed with certReqId -1."""
    client = await mac_client(local_ca)
    answer = await client.send("p10cr", p10cr_content(make_csr([("CN", "device")])), new=True)
    assert answer.body_type == "cp" and answer.certificate is not None, answer
    zero = cert_conf_content(answer.certificate, cert_req_id=0)
    await cert_conf_refused(client, local_ca, zero, "badRequest")
    minus_one = cert_conf_content(answer.certificate, cert_req_id=-1)
    assert (await client.send("certConf", minus_one)).body_type == "pkiconf"
    assert await status_of(local_ca, answer.certificate) is CertificateStatus.GOOD


async def test_rfc9483_4_1_1_cert_conf_fail_info_goes_with_a_rejection_only(
    local_ca: LocalCA,
) -> None:
    """status accepted with a failInfo is badRequest, nothing changed; the end entity's
    rejection with a failInfo is confirmed by pkiconf and revokes the certificate."""
    client = await mac_client(local_ca)
    certificate = await enrolled(client)
    accepting = cert_conf_content(certificate, status=0, fail_info=F.badRequest)
    await cert_conf_refused(client, local_ca, accepting, "badRequest")
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD
    rejecting = cert_conf_content(certificate, status=2, fail_info=F.badCertTemplate)
    assert (await client.send("certConf", rejecting)).body_type == "pkiconf"
    assert await status_of(local_ca, certificate) is CertificateStatus.REVOKED


async def test_rfc9810_5_3_18_hash_alg_counts_at_pvno_3_only(local_ca: LocalCA) -> None:
    """cmp2000 has no hashAlg: at pvno 2 the certHash is of the certificate's signature
    algorithm (SHA-256 here), and SHA-384, with or without hashAlg, names another
    certificate (badCertId); at pvno 3 (cmp2021) hashAlg SHA-384 is taken."""
    client = await mac_client(local_ca)
    certificate = await enrolled(client, pvno=3)
    sha384 = cert_conf_content(certificate, hash_algorithm=SHA384)
    await cert_conf_refused(client, local_ca, sha384, "badCertId")
    fields = elements(elements(sha384)[0][1])  # certHash, certReqId, hashAlg [0]
    bare = tlv(0x30, tlv(0x30, b"".join(raw for tag, raw in fields if tag != 0xA0)))
    await cert_conf_refused(client, local_ca, bare, "badCertId")
    answer = await client.send("certConf", sha384, pvno=3)
    assert answer.body_type == "pkiconf", answer
    assert await status_of(local_ca, certificate) is CertificateStatus.GOOD


async def test_rfc9810_5_3_18_a_hash_alg_that_is_no_known_hash_is_bad_alg(
    local_ca: LocalCA,
) -> None:
    """RFC 9481 2: the hashes CMP uses; any other hashAlg is badAlg (RFC 9810 5.2.3), not an
    unexpected failure, and the certificate still awaits its confirmation."""
    client = await mac_client(local_ca)
    certificate = await enrolled(client, pvno=3)
    unknown = cert_conf_content(certificate, hash_algorithm=SHA384).replace(
        oid_der(SHA384), oid_der("2.16.840.1.101.3.4.2.99")
    )
    await cert_conf_refused(client, local_ca, unknown, "badAlg", pvno=3)
    confirm = cert_conf_content(certificate, hash_algorithm=SHA384)
    assert (await client.send("certConf", confirm, pvno=3)).body_type == "pkiconf"
