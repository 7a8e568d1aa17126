"""The CMP server's own protection certificate (server/cmp/identity.py): what it carries
(RFC 9810 4.5 / RFC 9480 2.2 extended key usages, RFC 9483 4.1.6 cmKGA), that signed
answers carry it first in extraCerts (RFC 9483 3.3), that central key generation signs the
key package with it and uses it as the key-agreement originator (4.1.6, 4.1.6.2), and that
it is issued when missing and renewed before it expires, like the OCSP responder's."""

from __future__ import annotations

import logging
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder, encoder
from pyasn1_alt_modules import rfc9480

from config import SettingsError
from protocols import cmp, cms
from protocols.crl import CRLReason
from server.cmp.identity import (
    CMP_SERVER_PROFILE,
    ID_KP_CM_KGA,
    ID_KP_CMC_CA,
    ID_KP_CMC_RA,
    RELOAD_EVERY_S,
    CMPIdentities,
    key_path,
)
from server.node.tls import ServerIdentity
from server.registry import CertificateStatus
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    CMPClient,
    cert_req_messages,
    cert_request,
    directory_name,
    key_agreement_client,
    mac_client,
    signing_client,
)
from tests.lint import lint_certificate
from tests.local_ca import LocalCA, settings_for

SECRET = "home secret"


def identities(local_ca: LocalCA) -> CMPIdentities:
    return CMPIdentities(local_ca.settings, local_ca.registry, local_ca.authority,
                         local_ca.clock, lambda: SECRET)  # fmt: skip


async def cmp_identity(local_ca: LocalCA) -> ServerIdentity:
    """The CA's CMP protection identity, issued as the duty holder does at first start."""
    keeper = identities(local_ca)
    assert await keeper.renew_if_due() is not None
    identity = await keeper.current()
    assert identity is not None
    return identity


def ski(certificate_der: bytes) -> bytes:
    certificate = x509.load_der_x509_certificate(certificate_der)
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


async def chain_of(keeper: CMPIdentities) -> list[bytes]:
    identity = await keeper.current()
    assert identity is not None
    return identity.chain


async def certificate_count(local_ca: LocalCA) -> int:
    return len(await local_ca.registry.search.certificates(None, None, None, 1000, None))


async def test_rfc9810_4_5_rfc9483_4_1_6_the_cmp_protection_certificate_carries_cmc_ca_and_cm_kga(
    local_ca: LocalCA,
) -> None:
    """id-kp-cmcCA (RFC 6402 2.10: the CMP protection certificate of a CA) and id-kp-cmKGA
    (RFC 9480 2.10, RFC 9483 4.1.6: the key packages' signer); not id-kp-cmcRA (this is
    the CA, not an RA); keyUsage digitalSignature and keyAgreement (4.1.6.2); an end-entity
    certificate of the active CA generation that lints clean (pkilint)."""
    identity = await cmp_identity(local_ca)
    leaf = x509.load_der_x509_certificate(identity.chain[0])
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    assert identity.chain == [identity.chain[0], generation.certificate_der]
    purposes = {oid.dotted_string for oid in leaf.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value}  # fmt: skip
    assert purposes == {ID_KP_CMC_CA, ID_KP_CM_KGA}
    assert ID_KP_CMC_RA not in purposes
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement
    assert not usage.key_cert_sign and not usage.key_encipherment
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    leaf.verify_directly_issued_by(x509.load_der_x509_certificate(generation.certificate_der))
    [common_name] = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert common_name.value == "Demo CA CMP Server"
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=30)
    assert identity.private_key.public_key() == leaf.public_key()
    assert lint_certificate(identity.chain[0]) == []
    [record] = await local_ca.registry.search.certificates(
        CertificateStatus.GOOD, CMP_SERVER_PROFILE, None, 10, None
    )
    assert record.der == identity.chain[0]
    path = key_path(local_ca.settings, record.serial)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()  # under the home's secret


async def test_rfc9483_3_3_a_signed_answer_carries_the_cmp_protection_certificate_first(
    local_ca: LocalCA,
) -> None:
    """A cr signed by a holder: the cp is signed by the CMP protection key, extraCerts
    holds that certificate first, then its chain (the CA certificate); sender and
    senderKID name it (RFC 9483 3.1)."""
    identity = await cmp_identity(local_ca)
    client = await signing_client(local_ca, await mac_client(local_ca, identity=identity))
    answer = await client.send(
        "cr", cert_req_messages(cert_request(key=ec.generate_private_key(ec.SECP256R1()))),
        new=True, generalInfo=IMPLICIT_CONFIRM,
    )  # fmt: skip
    assert (answer.body_type, answer.status) == ("cp", cmp.PKIStatus.accepted), answer
    message = answer.message
    assert list(message.extra_certs[:2]) == identity.chain
    assert cmp.verify_signature(message, identity.chain[0])
    leaf = x509.load_der_x509_certificate(identity.chain[0])
    assert message.header.sender == directory_name(leaf.subject)
    assert message.header.sender_kid == ski(identity.chain[0])


async def central_request(client: CMPClient) -> bytes:
    """An ir whose template has no public key: the CA makes the key (RFC 9483 4.1.6)."""
    return client.request("ir", cert_req_messages(cert_request(pop="none")), new=True,
                          pvno=3, generalInfo=IMPLICIT_CONFIRM)  # fmt: skip


def enveloped_of(answer_der: bytes) -> bytes:
    """The ContentInfo of the EnvelopedData in the ip's certifiedKeyPair privateKey."""
    message, _ = decoder.decode(answer_der, asn1Spec=rfc9480.PKIMessage())
    pair = message["body"]["ip"]["response"][0]["certifiedKeyPair"]
    enveloped = bytes(encoder.encode(pair["privateKey"]["envelopedData"]))
    enveloped = b"\x30" + enveloped[1:]  # [0] IMPLICIT EnvelopedData -> SEQUENCE
    return bytes(asn1_cms.ContentInfo(
        {"content_type": "enveloped_data", "content": asn1_cms.EnvelopedData.load(enveloped)}
    ).dump())  # fmt: skip


def check_key_package(signed: bytes, identity: ServerIdentity, certificate_der: bytes) -> None:
    """RFC 9483 4.1.6: SignedData v3 whose one SignerInfo names the KGA certificate by
    subjectKeyIdentifier, signed by its key, that certificate and its chain in certificates; the
    package's key is the issued certificate's."""
    signed_data = asn1_cms.SignedData.load(signed)
    assert signed_data["version"].native == "v3"
    [signer] = signed_data["signer_infos"]
    assert signer["version"].native == "v3"
    assert signer["sid"].name == "subject_key_identifier"
    assert signer["sid"].chosen.native == ski(identity.chain[0])
    attributes = signer["signed_attrs"].untag().dump()
    identity.private_key.public_key().verify(
        signer["signature"].native, b"\x31" + attributes[1:], ec.ECDSA(hashes.SHA256())
    )
    # the KGA certificate with its chain (a DER SET OF: sorted, RFC 5652 5.1)
    held = {choice.chosen.dump() for choice in signed_data["certificates"]}
    assert held == set(identity.chain)
    package = signed_data["encap_content_info"]["content"].native
    (pkcs8,) = cms.parse_asymmetric_key_package(package)
    key = serialization.load_der_private_key(pkcs8, None)
    assert key.public_key() == x509.load_der_x509_certificate(certificate_der).public_key()


async def test_rfc9483_4_1_6_2_key_agreement_originator_is_the_cmp_protection_certificate(
    local_ca: LocalCA,
) -> None:
    """A signed request from an EC key: the EnvelopedData has one KeyAgreeRecipientInfo
    whose originator is the subjectKeyIdentifier of our CMP protection certificate (static-
    static ECDH, RFC 6278), with a ukm; the client opens it with its own key and that
    certificate; the key package is signed by the KGA (the same certificate, cmKGA)."""
    identity = await cmp_identity(local_ca)
    # RFC 9483 4.1.6.2: a protecting certificate with keyAgreement
    client = await key_agreement_client(local_ca, await mac_client(local_ca, identity=identity))
    answer = await client.send_der(await central_request(client))
    assert (answer.body_type, answer.status) == ("ip", cmp.PKIStatus.accepted), answer
    assert answer.message.extra_certs[0] == identity.chain[0]
    content_info = enveloped_of(answer.der)
    enveloped = asn1_cms.ContentInfo.load(content_info)["content"]
    [recipient] = enveloped["recipient_infos"]
    assert recipient.name == "kari"
    kari = recipient.chosen
    assert kari["originator"].name == "subject_key_identifier"
    assert kari["originator"].chosen.native == ski(identity.chain[0])
    assert len(kari["ukm"].native) == 32
    [encrypted] = kari["recipient_encrypted_keys"]
    assert encrypted["rid"].chosen["subject_key_identifier"].native == ski(client.chain[0])
    content_type, signed = cms.open_envelope(
        content_info, client.key, originator_certificate_der=identity.chain[0]
    )
    assert content_type == cms.ID_SIGNED_DATA
    assert answer.certificate is not None
    check_key_package(signed, identity, answer.certificate)


async def test_rfc9483_4_1_6_3_the_password_key_package_is_signed_by_the_kga_certificate(
    local_ca: LocalCA,
) -> None:
    """A MAC-protected request: the key goes under the shared secret, the SignedData is
    signed by the CMP protection (KGA) certificate, named by key identifier."""
    identity = await cmp_identity(local_ca)
    client = await mac_client(local_ca, identity=identity)
    answer = await client.send_der(await central_request(client))
    assert (answer.body_type, answer.status) == ("ip", cmp.PKIStatus.accepted), answer
    assert client.secret is not None and answer.certificate is not None
    content_type, signed = cms.open_password_envelope(enveloped_of(answer.der), client.secret)
    assert content_type == cms.ID_SIGNED_DATA
    check_key_package(signed, identity, answer.certificate)


async def test_rfc9483_4_1_6_2_a_protecting_key_on_another_curve_is_refused_bad_alg(
    local_ca: LocalCA,
) -> None:
    """Static-static ECDH needs both keys on one curve: a request protected by a P-384
    certificate, ours being P-256, is refused badAlg before anything is issued, and its
    transactionID stays unused."""
    identity = await cmp_identity(local_ca)
    enrol = await mac_client(local_ca, identity=identity)
    key = ec.generate_private_key(ec.SECP384R1())
    enrolled = await enrol.send("ir", cert_req_messages(cert_request(key=key)), new=True,
                                generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert enrolled.certificate is not None, enrolled
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    subject = x509.load_der_x509_certificate(enrolled.certificate).subject
    client = CMPClient(enrol.server, local_ca.clock, profile=enrol.profile, key=key,
                       identity=identity, chain=[enrolled.certificate,
                                                 generation.certificate_der],
                       sender=directory_name(subject))  # fmt: skip
    before = await certificate_count(local_ca)
    request = await central_request(client)
    answer = await client.send_der(request)
    assert (answer.body_type, answer.status, answer.fail_info) == (
        "ip",
        cmp.PKIStatus.rejection,
        frozenset({"badAlg"}),
    ), answer  # refused in kind (RFC 9483 3.6.2)
    assert "RFC 9483 4.1.6.2" in answer.text
    assert await certificate_count(local_ca) == before
    assert await local_ca.registry.cmp.get(client.transaction_id) is None


async def test_rfc9483_3_3_renewed_before_it_expires_and_taken_up_by_every_process(
    local_ca: LocalCA,
) -> None:
    """Like the OCSP responder's: nothing is due while more than
    `cmp.protection_renew_before_days` remain; then a new certificate is issued, and
    another process (its own CMPIdentities) signs with it once it reads the registry
    again."""
    keeper = identities(local_ca)
    first_serial = await keeper.renew_if_due()
    assert first_serial is not None
    other = identities(local_ca)  # another worker
    first = await other.current()
    assert first is not None
    local_ca.clock.advance(days=19)
    assert await keeper.renew_if_due() is None
    local_ca.clock.advance(days=2)  # 9 days left: within renew_before_days (10)
    assert await chain_of(other) == first.chain  # read again now: still the only one
    renewed = await keeper.renew_if_due()
    assert renewed is not None and renewed != first_serial
    current = await keeper.current()
    assert current is not None and current.chain[0] != first.chain[0]
    assert await chain_of(other) == first.chain  # held for a while ...
    local_ca.clock.advance(seconds=RELOAD_EVERY_S)
    assert await chain_of(other) == current.chain  # ... then taken up


async def test_rfc9483_3_3_a_renewal_removes_the_keys_of_expired_cmp_certificates(
    local_ca: LocalCA,
) -> None:
    """<home>/cmp-keys does not grow by one key per renewal for ever: a renewal removes
    the key files of certificates that have expired, and keeps the one still valid."""
    keeper = identities(local_ca)
    first = await keeper.renew_if_due()
    local_ca.clock.advance(days=21)
    second = await keeper.renew_if_due()
    assert first is not None and second is not None
    assert key_path(local_ca.settings, first).exists()  # still valid for 9 days
    local_ca.clock.advance(days=21)
    third = await keeper.renew_if_due()
    assert third is not None
    assert not key_path(local_ca.settings, first).exists()  # expired: removed
    assert key_path(local_ca.settings, second).exists()
    assert key_path(local_ca.settings, third).exists()
    current = await keeper.current()
    assert current is not None
    assert format(x509.load_der_x509_certificate(current.chain[0]).serial_number, "x") == third


async def test_rfc9483_3_3_a_revoked_cmp_protection_certificate_is_replaced(
    local_ca: LocalCA,
) -> None:
    """An operator who revokes it (a leaked key) gets a new one at the next check: a
    revoked certificate never signs answers again."""
    keeper = identities(local_ca)
    serial = await keeper.renew_if_due()
    assert serial is not None
    await local_ca.revocation.revoke(serial, CRLReason.keyCompromise, "op")
    assert await keeper.renew_if_due() not in (None, serial)
    current = await keeper.current()
    assert current is not None
    assert format(x509.load_der_x509_certificate(current.chain[0]).serial_number, "x") != serial


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CA_CMP__PROTECTION_VALIDITY_DAYS", "0", "cmp.protection_validity_days"),
        ("CA_CMP__PROTECTION_RENEW_BEFORE_DAYS", "30", "cmp.protection_renew_before_days"),
        ("CA_CMP__PROTECTION_RENEW_BEFORE_DAYS", "0", "cmp.protection_renew_before_days"),
    ],
)
def test_rfc9483_3_3_renewal_settings_that_would_never_renew_in_time_are_refused(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    """A renewal due at or past the whole validity (or never) is refused at start, naming
    the key."""
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        settings_for(tmp_path, **{variable: value})


class UnreachableRegistry:
    """The registry as CMPIdentities reads it, gone away (its driver raises)."""

    async def active_generation(self, ca_name: str) -> None:
        raise OSError("the registry went away")


async def test_rfc9483_3_2_an_unreachable_registry_keeps_the_identity_held_while_valid(
    local_ca: LocalCA,
) -> None:
    """Reading again after RELOAD_EVERY_S fails: answers go on being signed by the one
    held; once it has expired, there is none (signed requests then get systemUnavail)."""
    keeper = identities(local_ca)
    await keeper.renew_if_due()
    held = await chain_of(keeper)
    keeper._registry = UnreachableRegistry()  # type: ignore[assignment]
    local_ca.clock.advance(seconds=RELOAD_EVERY_S)
    assert await chain_of(keeper) == held
    local_ca.clock.advance(days=31)
    assert await keeper.current() is None


class UnsignableAuthority:
    """The authority as CMPIdentities asks it, with its signing pipeline down."""

    async def generation(self) -> None:
        raise OSError("the signing pipeline is down")


async def test_rfc9483_3_3_a_failing_renewal_is_logged_once_until_it_works_again(
    local_ca: LocalCA, caplog: pytest.LogCaptureFixture
) -> None:
    """The duty loop's rounds never raise; a renewal failing round after round is logged
    once (with its traceback), and its recovery once."""
    keeper = identities(local_ca)
    authority = keeper._authority
    keeper._authority = UnsignableAuthority()  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="server.cmp.identity"):
        for _ in range(3):
            await keeper.check()
        failures = [r for r in caplog.records if "renewal failed" in r.getMessage()]
        assert len(failures) == 1 and failures[0].exc_info is not None
        assert await keeper.current() is None
        keeper._authority = authority
        await keeper.check()
        await keeper.check()
    assert [r.getMessage() for r in caplog.records].count(
        "CMP protection certificate renewal works again"
    ) == 1
    assert await keeper.current() is not None


async def test_rfc9483_4_1_6_2_rfc6278_3_the_static_envelope_opens_only_with_its_originator(
    local_ca: LocalCA,
) -> None:
    """The recipient needs the originator's certificate (the one the originator field
    names) to agree on the key; another certificate, or none, does not open it; an
    originator on another curve than the recipient is refused when enveloping."""
    identity = await cmp_identity(local_ca)
    client = await signing_client(local_ca, await mac_client(local_ca, identity=identity))
    originator = (identity.private_key, identity.chain[0])
    content_info = cms.envelope(cms.ID_DATA, b"key", client.chain[0], None, originator)
    assert cms.open_envelope(content_info, client.key, None, identity.chain[0]) == (
        cms.ID_DATA, b"key",
    )  # fmt: skip
    with pytest.raises(ValueError, match="the certificate is needed"):
        cms.open_envelope(content_info, client.key)
    with pytest.raises(ValueError, match="not the one the envelope names"):
        cms.open_envelope(content_info, client.key, None, client.chain[0])
    other_curve = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="not of the originator's key"):
        cms.envelope(cms.ID_DATA, b"key", client.chain[0], None, (other_curve, identity.chain[0]))
