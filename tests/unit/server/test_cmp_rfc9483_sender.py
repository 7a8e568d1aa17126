"""Who sent a CMP request, and whether its header is right (RFC 9483 3.1, 3.3, 3.5, 3.6.4;
RFC 9481 for the protection algorithms), through tests/cmp_client.py against a real
CMPServer over tests/local_ca.py. Each refusal is checked for its body type, status and
failInfo, whether it went out protected, and that nothing changed in the registry."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from protocols import cmp
from protocols.der import tlv
from server.cmp import sender as sender_module
from server.registry import CertificateStatus
from tests.cmp_client import (
    ED25519,
    IMPLICIT_CONFIRM,
    NULL_DN,
    Answer,
    CMPClient,
    algorithm_identifier,
    cert_conf_content,
    cert_req_messages,
    cert_request,
    directory_name,
    enrollment_credentials,
    genm_content,
    header_der,
    mac_client,
    pbm,
    pbmac1,
    poll_req_content,
    rr_content,
    self_signed,
    signing_client,
    with_protection,
)
from tests.local_ca import LocalCA

SHA1 = "1.3.14.3.2.26"
MD5 = "1.2.840.113549.2.5"
HMAC_SHA1 = "1.3.6.1.5.5.8.1.2"
ECDSA_WITH_SHA1 = "1.2.840.10045.4.1"  # RFC 3279 2.2.3
ECDSA_WITH_SHA3_256 = "2.16.840.1.101.3.4.3.10"  # RFC 8702 era; not in RFC 9481 section 3


async def registry_state(local_ca: LocalCA) -> list[tuple[str, CertificateStatus]]:
    """Every issued certificate with its status: what a refusal must leave as it was."""
    records = await local_ca.registry.search.certificates(None, None, None, 10_000, None)
    return [(record.serial, record.status) for record in records]


def assert_refused(answer: Answer, failure: str, protected: bool, body: str = "error") -> None:
    """An error message (RFC 9483 3.6.4; for an rr an rp, 4.2) with status rejection and
    exactly ``failure``."""
    assert answer.body_type == body, answer
    assert answer.status is cmp.PKIStatus.rejection, answer
    assert answer.fail_info == {failure}, answer
    assert answer.protected is protected, answer


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def holder(local_ca: LocalCA) -> CMPClient:
    """A client that signs with a certificate of this CA (enrolled over MAC)."""
    return await signing_client(local_ca, await mac_client(local_ca))


async def test_rfc9483_3_1_a_signed_ir_naming_another_sender_is_refused(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    client.sender = directory_name("CN=someone else,O=Elsewhere")
    before = await registry_state(local_ca)
    answer = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True)
    assert_refused(answer, "badMessageCheck", protected=True)
    assert await registry_state(local_ca) == before


async def test_rfc9483_3_1_an_rr_naming_the_issuer_as_sender_revokes_nothing(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    own = x509.load_der_x509_certificate(client.chain[0])
    client.sender = directory_name(own.issuer)
    before = await registry_state(local_ca)
    answer = await client.send("rr", rr_content(own.serial_number, own.issuer, 1), new=True)
    assert_refused(answer, "badMessageCheck", protected=True, body="rp")
    assert await registry_state(local_ca) == before


async def test_rfc9483_3_1_a_sender_kid_other_than_the_certificates_key_identifier_is_refused(
    local_ca: LocalCA,
) -> None:
    client = await holder(local_ca)
    before = await registry_state(local_ca)
    request = cert_req_messages(cert_request(key=new_key()))
    answer = await client.send("cr", request, new=True, senderKID=secrets.token_bytes(20))
    assert_refused(answer, "badMessageCheck", protected=True)
    assert await registry_state(local_ca) == before
    assert (await client.send("cr", request, new=True)).status is cmp.PKIStatus.accepted


async def test_rfc9483_4_1_5_the_reference_in_sender_kid_or_as_the_senders_common_name(
    local_ca: LocalCA,
) -> None:
    """senderKID (RFC 9483 4.1.5), or the sender CN=<reference> without it or with the
    same text in it (README, CMP enrollment)."""
    for kid_too in (False, True):
        client = await mac_client(local_ca)
        assert client.kid is not None
        client.sender = directory_name(f"CN={client.kid.decode()}")
        client.kid = client.kid if kid_too else None
        request = cert_req_messages(cert_request(key=new_key()))
        answer = await client.send("ir", request, new=True, generalInfo=IMPLICIT_CONFIRM)
        assert answer.body_type == "ip" and answer.status is cmp.PKIStatus.accepted, answer
        assert answer.protected


async def test_rfc9483_4_1_5_sender_kid_and_sender_naming_two_credentials_is_refused(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    other, _ = await enrollment_credentials(local_ca).create(
        "tls-client", "CN=device", timedelta(hours=1), "op"
    )
    client.sender = directory_name(f"CN={other.id}")
    before = await registry_state(local_ca)
    request = cert_req_messages(cert_request(key=new_key()))
    answer = await client.send("ir", request, new=True)
    assert_refused(answer, "badMessageCheck", protected=False)
    assert await registry_state(local_ca) == before
    client.sender = directory_name("CN=device")  # the credential is still usable
    assert (await client.send("ir", request, new=True)).status is cmp.PKIStatus.accepted


@pytest.mark.parametrize("body", ["ir", "genm"])
async def test_rfc9483_3_1_a_first_message_with_a_recip_nonce_is_refused(
    local_ca: LocalCA, body: str
) -> None:
    client = await mac_client(local_ca)
    content = cert_req_messages(cert_request(key=new_key())) if body == "ir" else genm_content()
    before = await registry_state(local_ca)
    answer = await client.send(body, content, new=True, recipNonce=secrets.token_bytes(16))
    assert_refused(answer, "badRecipientNonce", protected=True)
    assert await registry_state(local_ca) == before
    again = await client.send(body, content, recipNonce=None)  # the same transactionID
    assert again.body_type == {"ir": "ip", "genm": "genp"}[body], again


async def test_rfc9483_3_1_transaction_id_and_sender_nonce_are_exactly_128_bits(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    request = cert_req_messages(cert_request(key=new_key()))
    before = await registry_state(local_ca)
    for octets in (15, 17, 32):
        long_or_short = secrets.token_bytes(octets)
        answer = await client.send("ir", request, new=True, transactionID=long_or_short)
        assert_refused(answer, "badRequest", protected=True)
        answer = await client.send("ir", request, new=True, senderNonce=long_or_short)
        assert_refused(answer, "badSenderNonce", protected=True)
    assert await registry_state(local_ca) == before
    assert (await client.send("ir", request, new=True)).status is cmp.PKIStatus.accepted


async def test_rfc9483_3_5_a_missing_transaction_id_is_bad_data_format(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    request = cert_req_messages(cert_request(key=new_key()))
    before = await registry_state(local_ca)
    answer = await client.send("ir", request, new=True, omit={"transactionID"})
    assert_refused(answer, "badDataFormat", protected=True)
    assert answer.message.header.transaction_id is None
    assert await registry_state(local_ca) == before


async def test_rfc9483_3_5_a_cert_conf_repeating_the_requests_sender_nonce_is_refused(
    local_ca: LocalCA,
) -> None:
    client = await mac_client(local_ca)
    issued = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True)
    assert issued.certificate is not None, issued
    ours, theirs = client.last_nonce, client.last_sender_nonce
    before = await registry_state(local_ca)
    confirm = cert_conf_content(issued.certificate)
    answer = await client.send("certConf", confirm, senderNonce=theirs)
    assert_refused(answer, "badSenderNonce", protected=True)
    assert await registry_state(local_ca) == before
    client.last_nonce = ours  # the refusal's senderNonce is not one the transaction keeps
    assert (await client.send("certConf", confirm)).body_type == "pkiconf"


async def test_rfc9483_4_4_a_poll_req_repeating_the_requests_sender_nonce_is_refused(
    local_ca: LocalCA,
) -> None:
    """RFC 9483 3.1, 3.5 for the pollReq of a request that waits for approval (4.4)."""
    profiles = dict(local_ca.settings.profiles)
    profiles["tls-client"] = dataclasses.replace(profiles["tls-client"], requires_approval=True)
    waiting_ca = dataclasses.replace(
        local_ca, settings=dataclasses.replace(local_ca.settings, profiles=profiles)
    )
    client = await mac_client(waiting_ca)
    waiting = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True)
    assert waiting.status is cmp.PKIStatus.waiting, waiting
    ours, theirs = client.last_nonce, client.last_sender_nonce
    answer = await client.send("pollReq", poll_req_content(), senderNonce=theirs)
    assert_refused(answer, "badSenderNonce", protected=True)
    client.last_nonce = ours
    assert (await client.send("pollReq", poll_req_content())).body_type == "pollRep"


async def test_rfc9481_protection_algorithms_outside_its_set_are_bad_alg(
    local_ca: LocalCA,
) -> None:
    """RFC 9481 sections 2, 3 and 6 (RFC 9483 3.5: badAlg): SHA-1 or MD5 as the owf of
    PasswordBasedMac, PBMAC1 with the DEFAULT PRF hmacWithSHA1, an unknown OID, ECDSA with
    SHA-1 or SHA3. OpenSSL's default PasswordBasedMac (owf SHA-256, HMAC-SHA1) is kept."""
    client = await mac_client(local_ca)
    signer = await holder(local_ca)
    request = cert_req_messages(cert_request(key=new_key()))
    before = await registry_state(local_ca)
    for algorithm in (pbm(owf=SHA1), pbm(owf=MD5), pbmac1(prf=None), pbmac1(scheme=HMAC_SHA1),
                      algorithm_identifier("1.2.3.4.5")):  # fmt: skip
        answer = await client.send(
            "ir", request, new=True, protectionAlg=algorithm, protection=b"\x00" * 32
        )
        assert_refused(answer, "badAlg", protected=False)
    for oid, digest in ((ECDSA_WITH_SHA1, hashes.SHA1()),
                        (ECDSA_WITH_SHA3_256, hashes.SHA3_256())):  # fmt: skip
        der = signer.request("cr", request, new=True, protectionAlg=algorithm_identifier(oid))
        signature = ec.ECDSA(digest)
        signed = with_protection(der, lambda part, s=signature: signer.key.sign(part, s))
        # signed by the CMP protection certificate: the signer has one (RFC 9483 3.6.4)
        assert_refused(await signer.send_der(signed), "badAlg", protected=True)
    assert await registry_state(local_ca) == before
    openssl_default = pbm(mac=HMAC_SHA1)
    answer = await client.send("ir", request, new=True, protectionAlg=openssl_default)
    assert answer.status is cmp.PKIStatus.accepted, answer


async def test_rfc9483_3_3_the_protecting_certificate_must_be_in_extra_certs(
    local_ca: LocalCA,
) -> None:
    """Missing: the protection cannot be checked (badMessageCheck, RFC 9483 3.5), which
    says nothing of the signer's trust; a certificate not of this CA: signerNotTrusted."""
    client = await holder(local_ca)
    request = cert_req_messages(cert_request(key=new_key()))
    before = await registry_state(local_ca)
    answer = await client.send("cr", request, new=True, extra_certs=[])
    assert_refused(answer, "badMessageCheck", protected=True)  # signed by the server (3.6.4)
    outsider = self_signed(client.key, "CN=outsider")
    client.chain, client.sender = [outsider], directory_name("CN=outsider")
    answer = await client.send("cr", request, new=True)
    assert_refused(answer, "signerNotTrusted", protected=True)
    assert await registry_state(local_ca) == before


async def test_rfc9483_3_6_4_header_errors_of_an_authenticated_request_are_protected(
    local_ca: LocalCA,
) -> None:
    """Answered protected like the request: MACed with its secret, signed by the server;
    unprotected only when the request cannot be authenticated (or its pvno is unknown)."""
    client = await mac_client(local_ca)
    signer = await holder(local_ca)
    assert client.secret is not None
    request = cert_req_messages(cert_request(key=new_key()))
    stale = local_ca.clock() - timedelta(hours=1)
    before = await registry_state(local_ca)
    answer = await client.send("ir", request, new=True, messageTime=stale)
    assert_refused(answer, "badTime", protected=True)
    cmp.verify_mac(answer.message, client.secret, 1, 1_000_000)
    assert signer.identity is not None
    answer = await signer.send("cr", request, new=True, messageTime=stale)
    assert_refused(answer, "badTime", protected=True)
    assert cmp.verify_signature(answer.message, signer.identity.chain[0])
    unknown = await client.send("ir", request, new=True, senderKID=b"ec-0000000000000000",
                                messageTime=stale)  # fmt: skip
    assert_refused(unknown, "badMessageCheck", protected=False)
    old_version = await client.send("ir", request, new=True, pvno=1)
    assert_refused(old_version, "unsupportedVersion", protected=False)
    assert await registry_state(local_ca) == before


def test_rfc9481_3_1_rsassa_pss_is_allowed_with_sha2_only() -> None:
    """protocols/cmp tells an algorithm RFC 9481 does not allow (AlgorithmNotAllowed: badAlg)
    from a protection that does not verify: RSASSA-PSS without parameters means SHA-1 (RFC
    4055 3.1); with SHA-256 and MGF1-SHA-256 it is one of section 3.1's."""
    sha256 = algorithm_identifier("2.16.840.1.101.3.4.2.1")
    mgf1 = algorithm_identifier("1.2.840.113549.1.1.8", sha256)
    pss_sha256 = algorithm_identifier(
        "1.2.840.113549.1.1.10",
        tlv(0x30, tlv(0xA0, sha256) + tlv(0xA1, mgf1) + tlv(0xA2, b"\x02\x01\x20")),
    )
    pss_sha1 = algorithm_identifier("1.2.840.113549.1.1.10", tlv(0x30, b""))
    assert cmp.protection_kind(protected_by(pss_sha256)) == "signature"
    assert cmp.protection_kind(protected_by(algorithm_identifier(ED25519))) == "signature"
    assert cmp.protection_kind(protected_by(pbm(mac=HMAC_SHA1))) == "mac"
    for refused in (pss_sha1, algorithm_identifier(ECDSA_WITH_SHA1), pbmac1(prf=None)):
        with pytest.raises(cmp.AlgorithmNotAllowed):
            cmp.protection_kind(protected_by(refused))


def protected_by(algorithm: bytes) -> cmp.PKIMessage:
    """A pkiconf whose header names ``algorithm`` as its protectionAlg (protection empty)."""
    header = header_der({"sender": NULL_DN, "recipient": NULL_DN, "protectionAlg": algorithm})
    body = tlv(0xB3, b"\x05\x00")  # pkiconf [19] NULL
    return cmp.parse_pki_message(tlv(0x30, header + body + tlv(0xA0, tlv(0x03, b"\x00"))))


def test_rfc9483_4_1_5_the_senders_common_name_is_read_as_asn1crypto_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference in a sender CN=<reference> is read by a walk of the Name's DER when
    the Name is plain: the same text as asn1crypto reads, or none, for every form; other
    forms are read by asn1crypto."""
    cn, org = tlv(0x06, b"\x55\x04\x03"), tlv(0x06, b"\x55\x04\x0a")

    def name(*rdns: list[tuple[bytes, bytes]]) -> bytes:
        sets = [tlv(0x31, b"".join(tlv(0x30, oid + value) for oid, value in rdn)) for rdn in rdns]
        return tlv(0xA4, tlv(0x30, b"".join(sets)))

    names = [
        directory_name("CN=ec-0123456789abcdef"),
        directory_name("CN=ec-0123456789abcdef,O=Org"),  # two RDNs: no reference
        directory_name("O=Org"),
        directory_name("CN=Зоя"),  # UTF8String
        NULL_DN,
        name([(cn, tlv(0x0C, b"a")), (org, tlv(0x0C, b"b"))]),  # a multi-valued RDN
        name([(cn, tlv(0x13, b"printable"))]),
        name([(cn, tlv(0x1E, "bmp".encode("utf-16-be")))]),
        name([(cn, tlv(0x02, b"\x01"))]),  # not a character string
        tlv(0x82, b"example.com"),  # a dNSName
        b"\xa4\x81" + directory_name("CN=x")[1:],  # a length not the shortest
        tlv(0xA4, b"\x30\x00\x00"),  # octets after the Name
    ]
    read = [sender_module._single_common_name(name) for name in names]
    assert read == [sender_module._single_common_name_read_whole(name) for name in names]
    assert read[:8] == ["ec-0123456789abcdef", "", "", "Зоя", "", "", "printable", "bmp"]
    monkeypatch.setattr(sender_module, "_single_common_name_read_whole", None)
    assert sender_module._single_common_name(names[0]) == read[0]  # by the walk alone
