"""Exact answers to enrolment requests (RFC 9483 3.6.2, 4.1.1, 4.1.3, 4.1.6; RFC 9810
5.2.3, 5.3.4; RFC 4211 5): a refused request body is answered in kind (ip/cp/kup with status
rejection and its failInfo) and changes nothing; a template is honoured or the answer says
what changed; the issued certificate's chain travels in extraCerts.

Driven by tests/cmp_client.py against a real CMPServer over tests/local_ca.py."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from hashlib import sha256
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder, encoder
from pyasn1_alt_modules import rfc9480

from protocols import cmp, cms, gost
from protocols.der import tlv
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    Answer,
    CMPClient,
    algorithm_identifier,
    cert_conf_content,
    cert_req_id_of,
    cert_req_messages,
    cert_request,
    enrollment_credentials,
    extension_der,
    genm_content,
    genp_items,
    integer_der,
    key_agreement_client,
    mac_client,
    make_server,
    oid_der,
    poll_req_content,
    server_identity,
    signing_client,
    spki_of,
    validity_field,
)
from tests.csr_factory import make_csr
from tests.gost_support import (
    CA_ENVIRONMENTS,
    GOST_DEVICE_PROFILE,
    assert_gost_key_of_certificate,
    require_engine,
)
from tests.local_ca import LocalCA, opened_local_ca, ra_services

DEVICE = [("CN", "device")]  # the subject of the PKCS#10 requests here
EC_P256 = algorithm_identifier("1.2.840.10045.2.1", oid_der("1.2.840.10045.3.1.7"))
ED25519 = algorithm_identifier("1.3.101.112")


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def algorithm_only(algorithm: bytes) -> bytes:
    """SubjectPublicKeyInfo naming only the algorithm: an empty subjectPublicKey (4.1.6)."""
    return tlv(0x30, algorithm + tlv(0x03, b"\x00"))


async def audit_head(local_ca: LocalCA) -> object:
    """Every issuance appends to the audit trail: an unchanged head, nothing issued."""
    return await local_ca.registry.audit_head()


async def ir(client: CMPClient, *requests: bytes, **options: object) -> Answer:
    return await client.send("ir", cert_req_messages(*requests), new=True, **options)


async def assert_code_still_enrols(client: CMPClient) -> None:
    answer = await ir(client, cert_request(key=key()), generalInfo=IMPLICIT_CONFIRM)
    assert (answer.body_type, answer.status) == ("ip", 0), answer


def assert_rejected_in_kind(answer: Answer, body_type: str, failure: str) -> None:
    """RFC 9810 5.3.4 / RFC 9483 4.1.1: status rejection, the failInfo, no certificate."""
    assert answer.body_type == body_type, answer
    assert answer.status is not None and answer.status.name == "rejection", answer
    assert answer.fail_info == {failure}, answer
    assert answer.certificate is None
    assert answer.protected


# -- RFC 9483 3.6.2: refusals of the body in kind, nothing changed ----------------------------


async def test_rfc9483_3_6_2_a_bad_pop_is_an_ip_rejection_and_spends_nothing(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    signer, other = key(), key()
    answer = await ir(client, cert_request(key=signer, spki=spki_of(other)))
    assert_rejected_in_kind(answer, "ip", "badPOP")
    assert await audit_head(local_ca) == before
    assert (
        await local_ca.registry.search.certificate_by_spki(sha256(spki_of(other)).digest()) is None
    )
    await assert_code_still_enrols(client)


async def test_rfc9483_3_6_2_a_subject_the_code_does_not_allow_is_an_ip_rejection(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    answer = await ir(client, cert_request(key=key(), subject="CN=someone-else"))
    assert_rejected_in_kind(answer, "ip", "badCertTemplate")
    assert "subject" in answer.text
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9483_3_6_2_a_key_already_certified_is_an_ip_rejection(
    local_ca: LocalCA,
) -> None:
    first = await mac_client(local_ca)
    second = await mac_client(local_ca, server=first.server)
    reused = key()
    done = await ir(first, cert_request(key=reused), generalInfo=IMPLICIT_CONFIRM)
    assert done.status is not None and done.status.name == "accepted", done
    before = await audit_head(local_ca)
    answer = await ir(second, cert_request(key=reused), generalInfo=IMPLICIT_CONFIRM)
    assert_rejected_in_kind(answer, "ip", "badCertTemplate")
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(second)


async def test_rfc9483_3_6_2_a_p10cr_whose_signature_fails_is_a_cp_rejection(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    csr = bytearray(make_csr([("CN", "device")]))
    csr[-1] ^= 0x01  # the PKCS#10 signature no longer verifies
    answer = await client.send("p10cr", bytes(csr), new=True)
    assert_rejected_in_kind(answer, "cp", "badPOP")
    assert cert_req_id_of(answer) == -1  # RFC 9483 4.1.4
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9483_3_6_2_a_template_refused_in_kind_leaves_the_transaction_id_unused(
    local_ca: LocalCA,
) -> None:
    """Refused before anything is recorded: the transactionID can still start one."""
    client = await mac_client(local_ca)
    refused = await ir(client, cert_request(cert_req_id=1, key=key()))
    assert refused.body_type == "ip" and refused.fail_info == {"badRequest"}
    client.last_nonce = None  # a first message again: no recipNonce (RFC 9483 3.1)
    answer = await client.send(  # the same transactionID, now a good request
        "ir", cert_req_messages(cert_request(key=key())), generalInfo=IMPLICIT_CONFIRM
    )
    assert answer.status is not None and answer.status.name == "accepted", answer
    # Once used, the header is refused before the body (RFC 9483 3.5): an error message.
    second = await mac_client(local_ca, server=client.server)
    second.transaction_id = client.transaction_id
    again = await second.send("ir", cert_req_messages(cert_request(key=key())))
    assert (again.body_type, again.fail_info) == ("error", {"transactionIdInUse"}), again


# -- RFC 9483 4.1.1: certReqId 0, a named subject --------------------------------------------


async def test_rfc9483_4_1_1_a_cert_req_id_other_than_0_is_rejected_bad_request(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    answer = await ir(client, cert_request(cert_req_id=5, key=key()))
    assert_rejected_in_kind(answer, "ip", "badRequest")
    assert cert_req_id_of(answer) == 5  # named as the client named it
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9483_4_1_1_two_requests_with_one_cert_req_id_are_rejected_bad_request(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    answer = await ir(client, cert_request(key=key()), cert_request(key=key()))
    assert_rejected_in_kind(answer, "ip", "badRequest")
    assert "twice" in answer.text
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9483_4_1_1_a_signed_cr_naming_nobody_is_rejected(local_ca: LocalCA) -> None:
    """Refused but where a one-time code names the subject (D2), by design: an ir naming
    nobody under a code is served with the code's subject."""
    client = await mac_client(local_ca, identity=await server_identity(local_ca))
    answer = await ir(client, cert_request(key=key(), subject=None), generalInfo=IMPLICIT_CONFIRM)
    assert answer.status is not None and answer.status.name == "accepted", answer
    assert answer.certificate is not None
    certificate = x509.load_der_x509_certificate(answer.certificate)
    assert certificate.subject.rfc4514_string() == "CN=device"
    fresh = await mac_client(local_ca, server=client.server, identity=client.identity)
    holder = await signing_client(local_ca, fresh)
    before = await audit_head(local_ca)
    for subject in (None, x509.Name([])):  # no subject; a NULL-DN without subjectAltName
        answer = await holder.send(
            "cr", cert_req_messages(cert_request(key=key(), subject=subject)), new=True
        )
        assert_rejected_in_kind(answer, "cp", "badCertTemplate")
    assert await audit_head(local_ca) == before
    # A NULL-DN with a subjectAltName names the EE: served (the subject is the holder's, D2)
    san = extension_der(x509.SubjectAlternativeName([x509.DNSName("device.example")]))
    named = cert_request(key=key(), subject=x509.Name([]), extensions=[san])
    answer = await holder.send("cr", cert_req_messages(named), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert answer.status is not None and answer.status.name == "accepted", answer


# -- RFC 9810 5.2.3 / RFC 4211 5: the template honoured or the answer says so -----------------


async def test_rfc9810_5_2_3_ca_true_on_an_end_entity_profile_is_rejected_not_authorized(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    ca = extension_der(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    answer = await ir(client, cert_request(key=key(), extensions=[ca]))
    assert_rejected_in_kind(answer, "ip", "notAuthorized")  # server/cmp/templates.py
    assert "cA=TRUE" in answer.text
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9810_5_2_3_an_unknown_critical_extension_is_rejected_bad_cert_template(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    unknown = tlv(0x30, oid_der("1.3.6.1.4.1.99999.1") + b"\x01\x01\xff" + tlv(0x04, b"\x05\x00"))
    answer = await ir(client, cert_request(key=key(), extensions=[unknown]))
    assert_rejected_in_kind(answer, "ip", "badCertTemplate")
    assert "1.3.6.1.4.1.99999.1" in answer.text
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9810_5_2_3_key_usage_and_eku_not_granted_are_granted_with_mods(
    local_ca: LocalCA,
) -> None:
    """The profile's own usages asked for (as OpenSSL may send them): a plain accepted;
    others: grantedWithMods naming each, with the certificate as issued."""
    client = await mac_client(local_ca)
    granted = [
        extension_der(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        )),
        extension_der(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])),
        extension_der(x509.BasicConstraints(ca=False, path_length=None)),
    ]  # fmt: skip
    answer = await ir(client, cert_request(key=key(), extensions=granted),
                      generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert answer.status is not None and answer.status.name == "accepted", answer
    assert answer.text == ""
    client = await mac_client(local_ca, server=client.server)
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    eku = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING])
    requested = [extension_der(usage, critical=True), extension_der(eku)]
    answer = await ir(client, cert_request(key=key(), extensions=requested))
    assert answer.body_type == "ip"
    assert answer.status is not None and answer.status.name == "grantedWithMods", answer
    assert answer.fail_info == set()
    assert "keyUsage set by the profile to digital_signature" in answer.text
    assert "extendedKeyUsage set by the profile to client_auth" in answer.text
    assert answer.certificate is not None  # the certificate as issued, the profile's usages
    issued = x509.load_der_x509_certificate(answer.certificate)
    assert issued.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    confirmed = await client.send("certConf", cert_conf_content(answer.certificate))
    assert confirmed.body_type == "pkiconf", confirmed


async def test_rfc9810_5_2_3_a_certificate_approved_later_says_what_was_changed(
    local_ca: LocalCA,
) -> None:
    """RFC 9483 4.4: the final ip of a request that waited for approval compares the kept
    template with the certificate too."""
    profiles = dict(local_ca.settings.profiles)
    profiles["tls-client"] = dataclasses.replace(profiles["tls-client"], requires_approval=True)
    approving = dataclasses.replace(
        local_ca, settings=dataclasses.replace(local_ca.settings, profiles=profiles)
    )
    client = await mac_client(approving, server=await make_server(approving))
    eku = extension_der(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]))
    waiting = await ir(client, cert_request(key=key(), extensions=[eku]),
                       generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert waiting.status is not None and waiting.status.name == "waiting", waiting
    applications = ra_services(approving, enrollment_credentials(approving))[1]
    (application,) = await applications.by_state("submitted")
    await applications.approve(application.id, "op")
    answer = await client.send("pollReq", poll_req_content(0))
    assert answer.body_type == "ip", answer
    assert answer.status is not None and answer.status.name == "grantedWithMods", answer
    assert "extendedKeyUsage set by the profile to client_auth" in answer.text


async def test_rfc9810_5_2_3_an_unknown_non_critical_extension_is_granted_with_mods(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    unknown = tlv(0x30, oid_der("1.3.6.1.4.1.99999.2") + tlv(0x04, b"\x05\x00"))
    answer = await ir(client, cert_request(key=key(), extensions=[unknown]),
                      generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert answer.status is not None and answer.status.name == "grantedWithMods", answer
    assert "1.3.6.1.4.1.99999.2 not included" in answer.text


async def test_rfc4211_5_a_requested_validity_the_ca_does_not_give_is_granted_with_mods(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    now = local_ca.clock()
    validity = validity_field(now + timedelta(days=30), now + timedelta(days=3650))
    answer = await ir(client, cert_request(key=key(), leading_fields=validity),
                      generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert answer.status is not None and answer.status.name == "grantedWithMods", answer
    assert answer.certificate is not None
    issued = x509.load_der_x509_certificate(answer.certificate)
    assert f"notAfter set to {issued.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}" in answer.text
    assert "notBefore set to" in answer.text


async def test_rfc4211_5_a_serial_number_in_the_template_is_rejected_bad_cert_template(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    serial = b"\x81" + integer_der(12345)[1:]  # [1] IMPLICIT INTEGER: assigned by the CA
    answer = await ir(client, cert_request(key=key(), leading_fields=serial))
    assert_rejected_in_kind(answer, "ip", "badCertTemplate")
    assert "serialNumber" in answer.text
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9483_4_1_4_a_p10cr_asking_for_ca_true_is_a_cp_rejection(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    before = await audit_head(local_ca)
    csr = make_csr(DEVICE, extensions=((x509.BasicConstraints(ca=True, path_length=0), True),))
    answer = await client.send("p10cr", csr, new=True)
    assert_rejected_in_kind(answer, "cp", "notAuthorized")
    assert await audit_head(local_ca) == before
    await assert_code_still_enrols(client)


async def test_rfc9483_4_1_4_a_p10cr_extended_key_usage_not_granted_is_granted_with_mods(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    server_auth = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    csr = make_csr(DEVICE, extensions=((server_auth, False),))
    answer = await client.send("p10cr", csr, new=True, generalInfo=IMPLICIT_CONFIRM)
    assert answer.body_type == "cp"
    assert answer.status is not None and answer.status.name == "grantedWithMods", answer
    assert "extendedKeyUsage set by the profile to client_auth" in answer.text


# -- RFC 9483 4.1.1: the issued certificate's chain in extraCerts ----------------------------


async def test_rfc9483_4_1_1_a_mac_protected_ip_carries_the_issued_chain_in_extra_certs(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    answer = await ir(client, cert_request(key=key()), generalInfo=IMPLICIT_CONFIRM)
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    assert answer.message.extra_certs == (generation.certificate_der,)
    # Signed: the protection certificate and its chain first (RFC 9483 3.3), then the
    # issued certificate's chain, nothing twice.
    identity = await server_identity(local_ca)
    holder = await signing_client(local_ca, await mac_client(local_ca, identity=identity))
    signed = await holder.send(
        "cr", cert_req_messages(cert_request(key=key())), new=True, generalInfo=IMPLICIT_CONFIRM
    )
    assert signed.status is not None and signed.status.name == "accepted", signed
    assert signed.message.extra_certs == tuple(identity.chain)


# -- RFC 9483 4.1.6: central key generation from an algorithm-only template ------------------


async def test_rfc9483_4_1_6_a_kur_with_an_algorithm_only_template_gets_a_new_key(
    local_ca: LocalCA,
) -> None:
    identity = await server_identity(local_ca)
    # RFC 9483 4.1.6.2: a protecting certificate with keyAgreement
    holder = await key_agreement_client(local_ca, await mac_client(local_ca, identity=identity))
    template = cert_request(spki=algorithm_only(EC_P256), pop="none")
    answer = await holder.send(
        "kur", cert_req_messages(template), new=True, generalInfo=IMPLICIT_CONFIRM
    )
    assert answer.body_type == "kup", answer
    assert answer.status is not None and answer.status.name == "accepted", answer
    assert answer.certificate is not None
    issued = x509.load_der_x509_certificate(answer.certificate)
    old = x509.load_der_x509_certificate(holder.chain[0])
    assert issued.subject == old.subject and issued.public_key() != old.public_key()
    assert isinstance(issued.public_key(), ec.EllipticCurvePublicKey)
    pair = answer.decoded["body"]["kup"]["response"][0]["certifiedKeyPair"]
    enveloped = bytes(encoder.encode(pair["privateKey"]["envelopedData"]))
    content_info = asn1_cms.ContentInfo({
        "content_type": "enveloped_data",
        "content": asn1_cms.EnvelopedData.load(b"\x30" + enveloped[1:]),
    }).dump()  # fmt: skip
    # RFC 9483 4.1.6.2: static-static ECDH, the originator our CMP protection certificate
    content_type, signed = cms.open_envelope(content_info, holder.key, None, identity.chain[0])
    assert content_type == cms.ID_SIGNED_DATA
    package = asn1_cms.SignedData.load(signed)["encap_content_info"]["content"].native
    (pkcs8,) = cms.parse_asymmetric_key_package(package)
    private_key = serialization.load_der_private_key(pkcs8, None)
    assert private_key.public_key() == issued.public_key()  # the key of the new certificate


async def test_rfc9483_4_1_6_an_algorithm_the_profile_does_not_take_is_an_ip_rejection(
    local_ca: LocalCA,
) -> None:
    identity = await server_identity(local_ca)
    client = await mac_client(local_ca, identity=identity)
    before = await audit_head(local_ca)
    answer = await ir(client, cert_request(spki=algorithm_only(ED25519), pop="none"))
    assert_rejected_in_kind(answer, "ip", "badAlg")
    assert await audit_head(local_ca) == before
    # The code still enrols, here for a key of the algorithm named (P-256) made by the CA
    template = cert_request(spki=algorithm_only(EC_P256), pop="none")
    answer = await ir(client, template, generalInfo=IMPLICIT_CONFIRM)
    assert answer.status is not None and answer.status.name == "accepted", answer
    assert answer.certificate is not None
    public = x509.load_der_x509_certificate(answer.certificate).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"


# -- RFC 9483 4.1.6 with GOST R 34.10-2012 keys (RFC 9215), on an EC CA and on a GOST CA --------


@pytest.fixture(params=sorted(CA_ENVIRONMENTS))
async def gost_device_ca(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalCA]:
    """A CA whose profile gost-device takes GOST keys of CryptoPro-A, TC26-A (256-bit) and
    TC26-C (512-bit), and P-256."""
    require_engine()
    environment = CA_ENVIRONMENTS[request.param]
    async with opened_local_ca(tmp_path, GOST_DEVICE_PROFILE, **environment) as ca:
        yield ca


def gost_algorithm(bits: int, parameter_set: str, digest: str | None = None) -> bytes:
    """id-tc26-gost3410-12-256/512 with GostR3410-2012-PublicKeyParameters { the set's OID,
    ``digest`` (a digestParamSet OID) when given } (RFC 9215 4.2)."""
    parameters = oid_der(parameter_set) + (oid_der(digest) if digest else b"")
    return algorithm_identifier(gost.KEY_OIDS[bits], tlv(0x30, parameters))


def central_key(answer: Answer, secret: bytes) -> bytes:
    """The PKCS#8 key of an ip/cp/kup under the MAC secret (RFC 9483 4.1.6.3): EnvelopedData
    (PWRI) of a SignedData of an AsymmetricKeyPackage."""
    pair = answer.decoded["body"][answer.body_type]["response"][0]["certifiedKeyPair"]
    enveloped = bytes(encoder.encode(pair["privateKey"]["envelopedData"]))
    content_info = asn1_cms.ContentInfo({
        "content_type": "enveloped_data",
        "content": asn1_cms.EnvelopedData.load(b"\x30" + enveloped[1:]),
    }).dump()  # fmt: skip
    content_type, signed = cms.open_password_envelope(content_info, secret)
    assert content_type == cms.ID_SIGNED_DATA
    package = asn1_cms.SignedData.load(signed)["encap_content_info"]["content"].native
    (pkcs8,) = cms.parse_asymmetric_key_package(package)
    return pkcs8


@pytest.mark.parametrize(
    ("bits", "paramset", "algorithm"),
    [
        (256, "A", gost_algorithm(256, "1.2.643.2.2.35.1", "1.2.643.7.1.1.2.2")),
        (256, "A", gost_algorithm(256, "1.2.643.2.2.35.1")),  # without digestParamSet
        (256, "TCA", gost_algorithm(256, "1.2.643.7.1.2.1.1.1")),
        (512, "C", gost_algorithm(512, "1.2.643.7.1.2.1.2.3")),
    ],
    ids=["cryptopro-a", "cryptopro-a-without-digest", "tc26-a", "512-tc26-c"],
)
async def test_rfc9483_4_1_6_3_a_gost_algorithm_only_template_gets_a_gost_key_of_that_set(
    gost_device_ca: LocalCA, tmp_path: Path, bits: int, paramset: str, algorithm: bytes
) -> None:
    identity = await server_identity(gost_device_ca)
    client = await mac_client(gost_device_ca, profile="gost-device", identity=identity)
    template = cert_request(spki=algorithm_only(algorithm), pop="none")
    answer = await ir(client, template, generalInfo=IMPLICIT_CONFIRM)
    assert answer.status is not None and answer.status.name == "accepted", answer
    assert answer.certificate is not None
    assert client.secret is not None
    pkcs8 = central_key(answer, client.secret)
    assert_gost_key_of_certificate(tmp_path, pkcs8, answer.certificate, bits, paramset)


async def test_rfc9483_4_3_3_the_template_names_a_gost_key_that_central_generation_makes(
    gost_device_ca: LocalCA, tmp_path: Path
) -> None:
    """The keySpec of the profile's certReqTemplate, its first key type (CryptoPro-A),
    sent back as an algorithm-only template, gets a key of that type."""
    identity = await server_identity(gost_device_ca)
    client = await mac_client(gost_device_ca, profile="gost-device", identity=identity)
    genp = await client.send("genm", genm_content((cmp.ID_IT_CERT_REQ_TEMPLATE, None)), new=True)
    [(_, value)] = genp_items(genp)
    assert value is not None
    content, _ = decoder.decode(value, asn1Spec=rfc9480.CertReqTemplateContent())
    [control] = content["keySpec"]
    assert str(control["type"]) == str(rfc9480.id_regCtrl_algId)
    algorithm = bytes(control["value"])
    assert algorithm == gost_algorithm(256, "1.2.643.2.2.35.1", "1.2.643.7.1.1.2.2")
    template = cert_request(spki=algorithm_only(algorithm), pop="none")
    answer = await ir(client, template, generalInfo=IMPLICIT_CONFIRM)
    assert answer.certificate is not None and client.secret is not None, answer
    pkcs8 = central_key(answer, client.secret)
    assert_gost_key_of_certificate(tmp_path, pkcs8, answer.certificate, 256, "A")


@pytest.mark.parametrize(
    "algorithm",
    [
        gost_algorithm(256, "1.2.643.7.1.2.1.1.2"),  # TC26-B: a set the profile does not take
        gost_algorithm(512, "1.2.643.7.1.2.1.1.1"),  # a 256-bit set for a 512-bit key
        algorithm_identifier(gost.KEY_OIDS[256]),  # no parameter set (RFC 9215 requires one)
    ],
    ids=["tc26-b", "256-bit-set-for-512", "no-parameters"],
)
async def test_rfc9483_4_1_6_a_gost_key_the_profile_does_not_take_is_an_ip_rejection(
    gost_device_ca: LocalCA, algorithm: bytes
) -> None:
    identity = await server_identity(gost_device_ca)
    client = await mac_client(gost_device_ca, profile="gost-device", identity=identity)
    before = await audit_head(gost_device_ca)
    answer = await ir(client, cert_request(spki=algorithm_only(algorithm), pop="none"))
    assert_rejected_in_kind(answer, "ip", "badAlg")
    assert answer.text == "the profile does not take that key type"
    assert await audit_head(gost_device_ca) == before
