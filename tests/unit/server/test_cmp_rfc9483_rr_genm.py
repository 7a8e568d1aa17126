"""RFC 9483 4.2 (revocation request) and 4.3 (support messages) against a real CMPServer
over the local CA (tests/cmp_client.py). Every refusal is checked for its body type, status
and failInfo bits, and for a registry left as it was (nothing revoked)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder
from pyasn1_alt_modules import rfc5280, rfc9480

from protocols import cmp
from protocols.der import elements
from server.registry import CertificateStatus
from tests.cmp_client import (
    Answer,
    CMPClient,
    Holder,
    extension_der,
    genm_content,
    genp_items,
    mac_client,
    make_holder,
    oid_der,
    registry_state,
    rp_rejection,
    rr_content,
    signing_client,
    spki_of,
    tlv,
)
from tests.local_ca import LocalCA

ID_IT_ROOT_CA_CERT = "1.3.6.1.5.5.7.4.20"
KEY_COMPROMISE = 1


@pytest.fixture
async def holder(local_ca: LocalCA) -> Holder:
    return await make_holder(local_ca)


async def rejected_in_kind(holder: Holder, content: bytes, failure: str) -> Answer:
    """Sends the rr; asserts an rp rejection with exactly ``failure``, nothing changed and
    the certificate still good."""
    answer = await rp_rejection(holder, content, failure)
    assert await holder.status() is CertificateStatus.GOOD
    return answer


# -- RFC 9483 4.2 ---------------------------------------------------------------------------


async def test_rfc9483_4_2_rr_with_issuer_serial_and_reason_revokes(holder: Holder) -> None:
    cert = holder.certificate
    answer = await holder.client.send(
        "rr", rr_content(cert.serial_number, cert.issuer, KEY_COMPROMISE), new=True
    )
    assert (answer.body_type, answer.status, answer.fail_info) == (
        "rp", cmp.PKIStatus.accepted, frozenset(),
    )  # fmt: skip
    assert await holder.status() is CertificateStatus.REVOKED


async def test_rfc9483_4_2_rr_without_crl_entry_details_revokes_as_unspecified(
    holder: Holder,
) -> None:
    """4.2 reads a reason that is not known as unspecified; `openssl cmp` leaves
    crlEntryDetails out without -revreason, and is served."""
    cert = holder.certificate
    answer = await holder.client.send("rr", rr_content(cert.serial_number, cert.issuer), new=True)
    assert answer.status is cmp.PKIStatus.accepted, answer
    assert await holder.status() is CertificateStatus.REVOKED


async def test_rfc9483_4_2_rr_without_issuer_is_rejected_add_info_not_available(
    holder: Holder,
) -> None:
    """RFC 9810 5.2.3 addInfoNotAvailable, as Siemens' suite expects ("Missing Issuer")."""
    content = rr_content(holder.certificate.serial_number, None, KEY_COMPROMISE)
    await rejected_in_kind(holder, content, "addInfoNotAvailable")


async def test_rfc9483_4_2_rr_without_serial_is_rejected_add_info_not_available(
    holder: Holder,
) -> None:
    content = rr_content(None, holder.certificate.issuer, KEY_COMPROMISE)
    await rejected_in_kind(holder, content, "addInfoNotAvailable")


def _extra_fields() -> dict[str, bytes]:
    """CertTemplate fields beyond serialNumber and issuer, DER as RFC 4211 5 tags them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=device").public_bytes()
    ku = extension_der(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                     False), critical=True)  # fmt: skip
    return {
        "validity": tlv(0xA4, tlv(0xA1, tlv(0x18, b"20300101000000Z"))),
        "subject": tlv(0xA5, name),
        "publicKey": b"\xa6" + spki_of(key)[1:],
        "extensions": tlv(0xA9, ku),
    }


@pytest.mark.parametrize("field", ["validity", "subject", "publicKey", "extensions"])
async def test_rfc9483_4_2_rr_cert_details_with_another_field_is_rejected_bad_cert_id(
    holder: Holder, field: str
) -> None:
    """4.2: certDetails is serialNumber and issuer; one saying more names no certificate
    revoked here, RFC 9810 5.2.3 badCertId (as the suite expects)."""
    cert = holder.certificate
    content = rr_content(cert.serial_number, cert.issuer, KEY_COMPROMISE,
                         extra_template=_extra_fields()[field])  # fmt: skip
    answer = await rejected_in_kind(holder, content, "badCertId")
    assert field in answer.text


def _crl_reason(value: int) -> bytes:
    return tlv(0x30, oid_der("2.5.29.21") + tlv(0x04, bytes([0x0A, 0x01, value])))


async def test_rfc9483_4_2_rr_with_two_crl_reasons_is_rejected_bad_request(
    holder: Holder,
) -> None:
    cert = holder.certificate
    content = rr_content(cert.serial_number, cert.issuer, KEY_COMPROMISE,
                         extra_entry_extensions=[_crl_reason(4)])  # fmt: skip
    await rejected_in_kind(holder, content, "badRequest")


async def test_rfc9483_4_2_rr_with_an_unsupported_crl_entry_extension_is_rejected_bad_request(
    holder: Holder,
) -> None:
    """invalidityDate (RFC 5280 5.3.2) is not among what 4.2 lets the holder ask for."""
    cert = holder.certificate
    invalidity = tlv(0x30, oid_der("2.5.29.24") + tlv(0x04, tlv(0x18, b"20261101000000Z")))
    content = rr_content(cert.serial_number, cert.issuer, KEY_COMPROMISE,
                         extra_entry_extensions=[invalidity])  # fmt: skip
    answer = await rejected_in_kind(holder, content, "badRequest")
    assert "2.5.29.24" in answer.text


@pytest.mark.parametrize("reason", [7, 11, 99])
async def test_rfc9483_4_2_rr_with_an_unknown_reason_is_rejected_bad_data_format(
    holder: Holder, reason: int
) -> None:
    """RFC 5280 5.3.1: 0-10 without 7; RFC 9810 5.2.3 badDataFormat, as the suite expects.
    removeFromCRL (8) asks for a revive (test_cmp_rfc9483_bodies_suite.py)."""
    cert = holder.certificate
    await rejected_in_kind(holder, rr_content(cert.serial_number, cert.issuer, reason),
                           "badDataFormat")  # fmt: skip


async def test_rfc9483_4_2_rr_with_a_reason_that_is_not_enumerated_is_rejected_bad_data_format(
    holder: Holder,
) -> None:
    cert = holder.certificate
    not_enumerated = tlv(0x30, oid_der("2.5.29.21") + tlv(0x04, bytes.fromhex("020101")))
    content = rr_content(cert.serial_number, cert.issuer,
                         extra_entry_extensions=[not_enumerated])  # fmt: skip
    await rejected_in_kind(holder, content, "badDataFormat")


async def test_rfc9483_4_2_rr_for_another_issuer_is_rejected_bad_cert_id(holder: Holder) -> None:
    """RFC 9810 5.2.3 badCertId: no certificate here matches another CA's name."""
    other = x509.Name.from_rfc4514_string("CN=Another CA")
    content = rr_content(holder.certificate.serial_number, other, KEY_COMPROMISE)
    await rejected_in_kind(holder, content, "badCertId")


async def test_rfc9483_4_2_rr_for_another_certificate_of_ours_is_rejected_not_authorized(
    holder: Holder, local_ca: LocalCA
) -> None:
    other = await signing_client(local_ca, await mac_client(local_ca, server=holder.client.server))
    other_cert = x509.load_der_x509_certificate(other.chain[0])
    content = rr_content(other_cert.serial_number, other_cert.issuer, KEY_COMPROMISE)
    await rejected_in_kind(holder, content, "notAuthorized")
    record = await local_ca.registry.get_certificate(format(other_cert.serial_number, "x"))
    assert record is not None and record.status is CertificateStatus.GOOD


async def test_rfc9483_4_2_rr_with_two_rev_details_is_rejected_one_status_each(
    holder: Holder,
) -> None:
    """4.2: exactly one RevDetails; RFC 9810 5.3.10: one PKIStatusInfo per RevDetails."""
    cert = holder.certificate
    one = elements(rr_content(cert.serial_number, cert.issuer, KEY_COMPROMISE))[0][1]
    answer = await rejected_in_kind(holder, tlv(0x30, one + one), "badRequest")
    statuses = answer.decoded["body"]["rp"]["status"]
    assert [int(s["status"]) for s in statuses] == [cmp.PKIStatus.rejection] * 2


async def test_rfc9483_4_2_rr_protected_by_a_mac_is_rejected_wrong_integrity(
    holder: Holder, local_ca: LocalCA
) -> None:
    """4.2: the rr is protected with the key of the certificate it revokes; a MAC is the
    wrong kind of protection (wrongIntegrity, RFC 9810 5.2.3)."""
    mac = await mac_client(local_ca, server=holder.client.server)
    cert = holder.certificate
    before = await registry_state(local_ca.registry)
    answer = await mac.send("rr", rr_content(cert.serial_number, cert.issuer, 1), new=True)
    assert (answer.body_type, answer.status, answer.fail_info) == (
        "rp", cmp.PKIStatus.rejection, frozenset({"wrongIntegrity"}),
    )  # fmt: skip
    assert await registry_state(local_ca.registry) == before


# -- RFC 9483 4.3 ---------------------------------------------------------------------------


async def refused_as_error(client: CMPClient, local_ca: LocalCA, content: bytes) -> Answer:
    before = await registry_state(local_ca.registry)
    answer = await client.send("genm", content, new=True)
    assert answer.body_type == "error", answer
    assert answer.protected  # the request was authenticated (RFC 9483 3.6.4)
    assert (answer.status, answer.fail_info) == (
        cmp.PKIStatus.rejection, frozenset({"badRequest"}),
    )  # fmt: skip
    assert await registry_state(local_ca.registry) == before
    return answer


async def test_rfc9483_4_3_a_genm_with_two_info_types_is_refused_bad_request(
    local_ca: LocalCA,
) -> None:
    """4.3.1-4.3.4: the genm "MUST contain exactly one element of type InfoTypeAndValue"."""
    client = await mac_client(local_ca)
    content = genm_content((cmp.ID_IT_CA_CERTS, None), (cmp.ID_IT_CERT_REQ_TEMPLATE, None))
    await refused_as_error(client, local_ca, content)


@pytest.mark.parametrize("info_type", [cmp.ID_IT_CA_CERTS, cmp.ID_IT_CERT_REQ_TEMPLATE])
async def test_rfc9483_4_3_1_and_4_3_3_a_genm_with_an_info_value_is_refused_bad_request(
    local_ca: LocalCA, info_type: str
) -> None:
    """4.3.1 caCerts and 4.3.3 certReqTemplate: the infoValue "MUST be absent"."""
    client = await mac_client(local_ca)
    await refused_as_error(client, local_ca, genm_content((info_type, b"\x05\x00")))


async def test_rfc9483_4_3_4_crl_status_list_without_its_value_is_refused_bad_request(
    local_ca: LocalCA,
) -> None:
    """4.3.4: the crlStatusList infoValue (the CRLs the client has) is REQUIRED."""
    client = await mac_client(local_ca)
    await refused_as_error(client, local_ca, genm_content((cmp.ID_IT_CRL_STATUS_LIST, None)))


async def test_rfc9483_4_3_1_ca_certs_gets_the_ca_certificates(local_ca: LocalCA) -> None:
    client = await mac_client(local_ca)
    answer = await client.send("genm", genm_content((cmp.ID_IT_CA_CERTS, None)), new=True)
    [(info_type, value)] = genp_items(answer)
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    assert info_type == cmp.ID_IT_CA_CERTS
    assert value == tlv(0x30, generation.certificate_der)


@pytest.mark.parametrize("with_root", [False, True])
async def test_rfc9483_4_3_2_before_a_rollover_root_ca_cert_is_answered_without_value(
    local_ca: LocalCA, with_root: bool
) -> None:
    """4.3.2: genm id-it-rootCaCert (the client's root, or absent) -> genp
    id-it-rootCaKeyUpdate, its value absent when there is no update: no rollover yet (the
    answers after one: test_root_distribution.py)."""
    client = await mac_client(local_ca)
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    assert await local_ca.registry.links(local_ca.settings.ca.name) == []  # no rollover
    root = generation.certificate_der if with_root else None
    answer = await client.send("genm", genm_content((ID_IT_ROOT_CA_CERT, root)), new=True)
    assert genp_items(answer) == [(cmp.ID_IT_ROOT_CA_KEY_UPDATE, None)]


async def test_rfc9483_4_3_2_root_ca_cert_value_that_is_no_certificate_is_refused(
    local_ca: LocalCA,
) -> None:
    """RootCaCertValue ::= CMPCertificate."""
    client = await mac_client(local_ca)
    await refused_as_error(client, local_ca, genm_content((ID_IT_ROOT_CA_CERT, b"\x05\x00")))


async def test_rfc9483_4_3_3_cert_req_template_is_the_profiles(local_ca: LocalCA) -> None:
    """4.3.3: certTemplate without publicKey, holding the profile's keyUsage and
    extKeyUsage; keySpec exactly one control, the profile's first key type (Siemens' suite
    requires one): id-regCtrl-algId id-ecPublicKey with its curve for ec-p256."""
    client = await mac_client(local_ca)  # tls-client
    answer = await client.send("genm", genm_content((cmp.ID_IT_CERT_REQ_TEMPLATE, None)), new=True)
    [(info_type, value)] = genp_items(answer)
    assert info_type == cmp.ID_IT_CERT_REQ_TEMPLATE and value is not None
    content, rest = decoder.decode(value, asn1Spec=rfc9480.CertReqTemplateContent())
    assert rest == b""
    template = content["certTemplate"]
    for absent in ("publicKey", "serialNumber", "signingAlg", "issuerUID", "subjectUID"):
        assert not template[absent].isValue, absent
    assert sorted(str(e["extnID"]) for e in template["extensions"]) == [
        "2.5.29.15", "2.5.29.37",
    ]  # fmt: skip
    assert local_ca.settings.profile("tls-client").key_algorithms[0] == "ec-p256"
    [control] = content["keySpec"]
    assert str(control["type"]) == str(rfc9480.id_regCtrl_algId)
    algorithm, _ = decoder.decode(bytes(control["value"]), asn1Spec=rfc5280.AlgorithmIdentifier())
    assert str(algorithm["algorithm"]) == "1.2.840.10045.2.1"  # id-ecPublicKey
    assert str(decoder.decode(algorithm["parameters"])[0]) == "1.2.840.10045.3.1.7"  # P-256
