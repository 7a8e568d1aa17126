"""protocols.cms.signed_check: what a CMS SignedData proves (RFC 5652 5.3-5.6, 11), checked on
signatures made by a writer that is not ours.

Vectors and their origin, all made at test time in a session directory (nothing committed):

- self-signed certificates from `openssl req -x509` for an EC P-256, an RSA-2048, an
  Ed25519 key, and GOST R 34.10-2012 256-bit (CryptoPro-A) and 512-bit (TC26-A) keys
  through gost-engine (tests/gost_support.py's OPENSSL_CONF);
- signatures from `openssl cms -sign` (OpenSSL 3.0): detached and attached (-nodetach),
  -stream (BER, indefinite lengths), -outform DER and PEM, -noattr, -keyid, -nocerts,
  -cades, two -signer, -md sha384/sha512, and RSA-PSS (-keyopt rsa_padding_mode:pss);
- OpenSSL 3.0 cannot make an Ed25519 CMS signature ("invalid digest", see test_cms.py), so
  the Ed25519 SignedData is built by protocols.cms.signed with a signature by
  `cryptography` (RFC 8419: SHA-512 messageDigest, pure Ed25519 over the attributes);
- the signingCertificate mismatch is a second certificate that openssl makes for the same
  key, subject and serial number: the sid names it as well as the one signed, the key
  verifies the signature, and only the ESS hash tells them apart (RFC 5035 section 1's
  certificate substitution).
"""

from __future__ import annotations

import base64
import random
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from hsm import gost_engine
from protocols.cms import ID_DATA, signed_attributes, signed_data
from protocols.cms.signed_check import (
    NotSignedData,
    SignedDocument,
    SignerCheck,
    check_signers,
    read_signed_data,
)
from tests import gost_support

DOCUMENT = b"A contract to confirm.\r\nSecond line, binary: \x00\xff\n"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSASSA_PSS = "1.2.840.113549.1.1.10"
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
SHA256, SHA384, SHA512 = (f"2.16.840.1.101.3.4.2.{n}" for n in (1, 2, 3))
STREEBOG256, STREEBOG512 = "1.2.643.7.1.1.2.2", "1.2.643.7.1.1.2.3"
GOST_KEY_256, GOST_KEY_512 = "1.2.643.7.1.1.1.1", "1.2.643.7.1.1.1.2"
GOST = ("gost256", "gost512")
NULL = b"\x05\x00"

# key kind -> `openssl req` key options
KEYS = {
    "ec": ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
    "rsa": ("-newkey", "rsa:2048"),
    "ed25519": ("-newkey", "ed25519"),
    "gost256": ("-newkey", "gost2012_256", "-pkeyopt", "paramset:A", "-md_gost12_256"),
    "gost512": ("-newkey", "gost2012_512", "-pkeyopt", "paramset:A", "-md_gost12_512"),
}
# signer kind -> (key, extra `cms -sign` options, digestAlgorithm, signatureAlgorithm written)
SIGNERS = {
    "ec": ("ec", (), SHA256, ECDSA_WITH_SHA256),
    "rsa": ("rsa", (), SHA256, RSA_ENCRYPTION),
    "rsa-pss": ("rsa", ("-keyopt", "rsa_padding_mode:pss"), SHA256, RSASSA_PSS),
    "gost256": ("gost256", (), STREEBOG256, GOST_KEY_256),
    "gost512": ("gost512", (), STREEBOG512, GOST_KEY_512),
}


@dataclass
class Material:
    """The session's keys and certificates, and `openssl cms -sign` over DOCUMENT."""

    folder: Path
    gost: str | None  # why GOST cannot be used here, None when it can

    def run(self, kind: str, *args: str | Path) -> None:
        if kind in GOST:
            gost_support.openssl(self.folder, *map(str, args))
        else:
            subprocess.run(["openssl", *map(str, args)], cwd=self.folder, check=True,
                           capture_output=True)  # fmt: skip

    def certificate(self, key: str, name: str | None = None) -> bytes:
        return gost_support.pem_der(self.folder / f"{name or key}.pem")

    def sign(self, signer: str, *options: str, outform: str = "DER") -> bytes:
        """A signature over DOCUMENT by `signer` (a SIGNERS kind), -binary, detached unless
        options say otherwise."""
        if signer in GOST:
            gost_support.require_engine()  # skips, saying why, only without the engine
        key, extra, _, _ = SIGNERS[signer]
        out = self.folder / "signature.out"
        self.run(key, "cms", "-sign", "-binary", "-in", "document", "-signer", f"{key}.pem",
                 "-inkey", f"{key}.key", *extra, *options,
                 "-outform", outform, "-out", out)  # fmt: skip
        return out.read_bytes()


@pytest.fixture(scope="session")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    folder = tmp_path_factory.mktemp("cms-signed-check")
    (folder / "document").write_bytes(DOCUMENT)
    made = Material(folder, gost_engine.available())
    for key, options in KEYS.items():
        if key in GOST and made.gost is not None:
            continue
        made.run(key, "req", "-x509", *options, "-nodes", "-keyout", f"{key}.key",
                 "-out", f"{key}.pem", "-subj", f"/CN=signer {key}/O=Example", "-days", "30",
                 "-addext", "subjectKeyIdentifier=hash")  # fmt: skip
    # the same EC key, subject and serial in two certificates that differ in their validity
    for name, days in (("twin-a", "30"), ("twin-b", "31")):
        made.run("ec", "req", "-x509", "-new", "-key", "ec.key", "-out", f"{name}.pem",
                 "-subj", "/CN=twin", "-set_serial", "4242", "-days", days)  # fmt: skip
    return made


def only(checks: list[SignerCheck]) -> SignerCheck:
    assert len(checks) == 1
    return checks[0]


def signature_octets(signature_der: bytes, index: int = 0) -> bytes:
    signed = asn1_cms.ContentInfo.load(signature_der)["content"]
    return bytes(signed["signer_infos"][index]["signature"].native)


def assert_all_valid(check: SignerCheck) -> None:
    assert check.unsupported is None
    assert check.certificate_der is not None
    assert (check.content_type_valid, check.message_digest_valid, check.signature_valid) == (
        True,
        True,
        True,
    )


# --- RFC 5652 5.6: good signatures, every algorithm and form ------------------------------


@pytest.mark.parametrize("signer", SIGNERS)
def test_rfc5652_5_6_detached_signature_verifies(material: Material, signer: str) -> None:
    _, _, digest, signature_algorithm = SIGNERS[signer]
    started = datetime.now(UTC).replace(microsecond=0)
    signed = read_signed_data(material.sign(signer))
    assert signed.content is None
    assert signed.content_type == ID_DATA
    check = only(check_signers(signed, DOCUMENT))
    assert_all_valid(check)
    assert check.certificate_der == material.certificate(SIGNERS[signer][0])
    assert (check.digest_algorithm, check.signature_algorithm) == (digest, signature_algorithm)
    assert check.signed_attributes is True
    assert check.signing_certificate == "absent"
    # RFC 5652 11.3: openssl writes the signing time, UTCTime, to the second
    assert check.signing_time is not None
    assert started <= check.signing_time <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize("signer", SIGNERS)
def test_rfc5652_11_2_tampered_document_fails_message_digest(
    material: Material, signer: str
) -> None:
    """The attributes still verify; only their messageDigest is not the document's."""
    signed = read_signed_data(material.sign(signer))
    check = only(check_signers(signed, DOCUMENT + b" "))
    assert (check.message_digest_valid, check.signature_valid) == (False, True)
    assert check.content_type_valid is True


@pytest.mark.parametrize("signer", SIGNERS)
def test_rfc5652_5_6_tampered_signature_value_fails(material: Material, signer: str) -> None:
    signature = material.sign(signer)
    value = signature_octets(signature)
    tampered = value[:10] + bytes([value[10] ^ 0x01]) + value[11:]
    check = only(check_signers(read_signed_data(signature.replace(value, tampered)), DOCUMENT))
    assert (check.message_digest_valid, check.signature_valid) == (True, False)


@pytest.mark.parametrize("signer", ["ec", "rsa", "gost256"])
def test_rfc5652_5_2_attached_content_is_checked(material: Material, signer: str) -> None:
    signed = read_signed_data(material.sign(signer, "-nodetach"))
    assert signed.content == DOCUMENT
    assert_all_valid(only(check_signers(signed, None)))
    # a document given is what is checked, not the encapsulated content
    assert only(check_signers(signed, b"another document")).message_digest_valid is False


@pytest.mark.parametrize("signer", ["ec", "rsa-pss", "gost512"])
def test_rfc5652_5_1_pem_signature_is_read(material: Material, signer: str) -> None:
    pem = material.sign(signer, "-nodetach", outform="PEM")
    assert pem.startswith(b"-----BEGIN CMS-----")
    assert_all_valid(only(check_signers(read_signed_data(pem), None)))
    # the older label, as `openssl smime` and others write it
    pkcs7 = pem.replace(b"BEGIN CMS", b"BEGIN PKCS7").replace(b"END CMS", b"END PKCS7")
    assert_all_valid(only(check_signers(read_signed_data(pkcs7), None)))


@pytest.mark.parametrize("signer", ["ec", "rsa", "gost256"])
def test_rfc5652_5_1_ber_streamed_signature_is_read(material: Material, signer: str) -> None:
    """-stream writes indefinite lengths and the content as a constructed OCTET STRING."""
    ber = material.sign(signer, "-nodetach", "-stream")
    assert ber[1] == 0x80  # the ContentInfo SEQUENCE has an indefinite length
    signed = read_signed_data(ber)
    assert signed.content == DOCUMENT
    assert_all_valid(only(check_signers(signed, None)))
    assert only(check_signers(signed, DOCUMENT + b"!")).message_digest_valid is False


@pytest.mark.parametrize(("signer", "md", "digest"), [
    ("ec", "sha384", SHA384), ("ec", "sha512", SHA512),
    ("rsa", "sha384", SHA384), ("rsa", "sha512", SHA512), ("rsa-pss", "sha512", SHA512),
])  # fmt: skip
def test_rfc5754_other_sha2_digests(material: Material, signer: str, md: str, digest: str) -> None:
    check = only(check_signers(read_signed_data(material.sign(signer, "-md", md)), DOCUMENT))
    assert_all_valid(check)
    assert check.digest_algorithm == digest
    assert only(check_signers(read_signed_data(material.sign(signer, "-md", md)), b"x")) \
        .message_digest_valid is False  # fmt: skip


# --- RFC 5652 5.4: no signed attributes -----------------------------------------------------


@pytest.mark.parametrize("signer", SIGNERS)
def test_rfc5652_5_4_without_signed_attributes_signs_the_content(
    material: Material, signer: str
) -> None:
    signed = read_signed_data(material.sign(signer, "-noattr"))
    good = only(check_signers(signed, DOCUMENT))
    assert good.signed_attributes is False
    assert (good.content_type_valid, good.message_digest_valid, good.signature_valid) == (
        None,
        None,
        True,
    )
    assert (good.signing_time, good.signing_certificate) == (None, "absent")
    tampered = only(check_signers(signed, DOCUMENT + b" "))
    assert (tampered.message_digest_valid, tampered.signature_valid) == (None, False)


# --- RFC 5652 5.3: which certificate the sid names -------------------------------------------


@pytest.mark.parametrize("signer", ["ec", "gost256"])
def test_rfc5652_5_3_issuer_and_serial_number(material: Material, signer: str) -> None:
    check = only(check_signers(read_signed_data(material.sign(signer)), DOCUMENT))
    certificate = asn1_x509.Certificate.load(material.certificate(signer))
    assert check.issuer_der == certificate.issuer.dump()
    assert check.serial_number == certificate.serial_number
    assert check.subject_key_identifier is None


@pytest.mark.parametrize("signer", ["ec", "rsa", "gost512"])
def test_rfc5652_5_3_subject_key_identifier(material: Material, signer: str) -> None:
    check = only(check_signers(read_signed_data(material.sign(signer, "-keyid")), DOCUMENT))
    certificate = asn1_x509.Certificate.load(material.certificate(signer))
    assert check.subject_key_identifier == certificate.key_identifier
    assert (check.issuer_der, check.serial_number) == (None, None)
    assert check.certificate_der == material.certificate(signer)
    assert_all_valid(check)


@pytest.mark.parametrize("signer", ["ec", "gost256"])
def test_rfc5652_5_1_no_certificates_in_the_signature(material: Material, signer: str) -> None:
    """Without the certificate the signature cannot be verified; the digest still can."""
    signed = read_signed_data(material.sign(signer, "-nocerts"))
    assert signed.certificates == ()
    alone = only(check_signers(signed, DOCUMENT))
    assert (alone.certificate_der, alone.signature_valid, alone.message_digest_valid) == (
        None,
        None,
        True,
    )
    other = material.certificate("rsa")
    assert only(check_signers(signed, DOCUMENT, [other])).certificate_der is None
    given = only(check_signers(signed, DOCUMENT, [other, material.certificate(signer)]))
    assert given.certificate_der == material.certificate(signer)
    assert_all_valid(given)


def test_rfc5652_5_1_two_signers(material: Material) -> None:
    signature = material.sign("ec", "-signer", "rsa.pem", "-inkey", "rsa.key")
    signed = read_signed_data(signature)
    assert set(signed.certificates) == {material.certificate("ec"), material.certificate("rsa")}
    checks = check_signers(signed, DOCUMENT)
    assert [check.index for check in checks] == [0, 1]
    assert {check.certificate_der for check in checks} == set(signed.certificates)
    for check in checks:
        assert_all_valid(check)
    # one signer's signature damaged: only that one fails
    value = signature_octets(signature, 1)
    damaged = read_signed_data(signature.replace(value, value[:-1] + bytes([value[-1] ^ 1])))
    assert [check.signature_valid for check in check_signers(damaged, DOCUMENT)] == [True, False]


# --- RFC 5652 11.1: contentType ---------------------------------------------------------------


def test_rfc5652_11_1_content_type_is_the_econtent_type(material: Material) -> None:
    signature = material.sign("ec", "-nodetach", "-econtent_type", "1.2.3.4")
    signed = read_signed_data(signature)
    assert signed.content_type == "1.2.3.4"
    assert_all_valid(only(check_signers(signed, None)))
    # eContentType is not signed: changed, the signed contentType no longer matches it
    info = asn1_cms.ContentInfo.load(signature)
    info["content"]["encap_content_info"]["content_type"] = ID_DATA
    changed = only(check_signers(read_signed_data(info.dump(force=True)), None))
    assert (changed.content_type_valid, changed.message_digest_valid) == (False, True)
    assert changed.signature_valid is True


def test_rfc5652_5_3_content_of_another_type_needs_signed_attributes(material: Material) -> None:
    """5.3: "If the content type is not id-data, signedAttrs MUST be present"."""
    signature = material.sign("ec", "-nodetach", "-noattr", "-econtent_type", "1.2.3.4")
    check = only(check_signers(read_signed_data(signature), None))
    assert (check.signed_attributes, check.content_type_valid) == (False, False)
    assert check.signature_valid is True  # the value verifies: the structure is what is wrong


# --- RFC 5652 5.3: signatureAlgorithm as other writers put it ----------------------------------
# signatureAlgorithm is not signed: rewriting it gives what another writer would have sent
# with the same signature value.


def with_signature_algorithm(signature: bytes, oid: str, parameters: bytes | None) -> bytes:
    info = asn1_cms.ContentInfo.load(signature)
    algorithm = {"algorithm": oid}
    if parameters is not None:
        algorithm["parameters"] = core.Any.load(parameters)
    info["content"]["signer_infos"][0]["signature_algorithm"] = algorithm
    rewritten = info.dump(force=True)
    written = asn1_cms.ContentInfo.load(rewritten)["content"]["signer_infos"][0]
    assert written["signature_algorithm"]["parameters"].dump() == (parameters or b"")
    return rewritten


@pytest.mark.parametrize(("signer", "oid", "parameters"), [
    ("rsa", "1.2.840.113549.1.1.11", NULL),  # sha256WithRSAEncryption (RFC 5754 3.2)
    ("ec", "1.2.840.10045.2.1", None),  # id-ecPublicKey: ECDSA with the digestAlgorithm's hash
    ("gost256", "1.2.643.7.1.1.3.2", NULL),  # id-tc26-signwithdigest-gost3410-12-256
    ("gost256", "1.2.643.7.1.1.3.2", None),
    ("gost256", GOST_KEY_256, None),
    ("gost512", "1.2.643.7.1.1.3.3", None),
])  # fmt: skip
def test_rfc5652_5_3_signature_algorithm_forms(
    material: Material, signer: str, oid: str, parameters: bytes | None
) -> None:
    signature = with_signature_algorithm(material.sign(signer), oid, parameters)
    check = only(check_signers(read_signed_data(signature), DOCUMENT))
    assert check.signature_algorithm == oid
    assert_all_valid(check)


@pytest.mark.parametrize(("signer", "oid", "parameters", "reason"), [
    ("ec", "1.2.840.10045.4.3.3", None,
     "signature algorithm 1.2.840.10045.4.3.3 with digest sha256"),
    ("gost256", GOST_KEY_512, NULL, "GOST R 34.10-2012 512 with streebog256"),
    ("gost256", GOST_KEY_256, bytes.fromhex("0403010203"),
     "GOST R 34.10-2012 with parameters other than NULL or absent"),
    ("rsa-pss", RSASSA_PSS, None, "RSASSA-PSS without parameters (SHA-1) is not supported"),
])  # fmt: skip
def test_rfc5652_5_3_mismatched_algorithm_pair_is_unsupported(
    material: Material, signer: str, oid: str, parameters: bytes | None, reason: str
) -> None:
    signature = with_signature_algorithm(material.sign(signer), oid, parameters)
    check = only(check_signers(read_signed_data(signature), DOCUMENT))
    assert check.unsupported == reason
    assert check.signature_valid is None


# --- RFC 8419: Ed25519 ---------------------------------------------------------------------------


def test_rfc8419_ed25519_signed_attributes(material: Material) -> None:
    key = load_pem_private_key((material.folder / "ed25519.key").read_bytes(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    attributes = signed_attributes(ID_DATA, DOCUMENT, "sha512")  # RFC 8419 3.1
    certificate = material.certificate("ed25519")
    signature = signed_data(ID_DATA, DOCUMENT, attributes, certificate, "ed25519",
                            key.sign(attributes))  # fmt: skip
    check = only(check_signers(read_signed_data(signature), None))
    assert_all_valid(check)
    assert (check.digest_algorithm, check.signature_algorithm) == (SHA512, "1.3.101.112")
    assert only(check_signers(read_signed_data(signature), b"x")).message_digest_valid is False


# --- RFC 5035 / RFC 2634: ESS signingCertificate(V2) -------------------------------------------


@pytest.mark.parametrize("signer", ["ec", "rsa", "gost256", "gost512"])
def test_rfc5035_3_signing_certificate_v2_matches(material: Material, signer: str) -> None:
    """-cades adds signingCertificateV2: SHA-256, or Streebog-256 with GOST (ru-profile 5.2)."""
    check = only(check_signers(read_signed_data(material.sign(signer, "-cades")), DOCUMENT))
    assert_all_valid(check)
    assert check.signing_certificate == "match"


@pytest.mark.parametrize(("signer", "reason"), [
    ("ec", "signature algorithm 1.2.840.10045.4.1 is not supported"),  # ecdsa-with-SHA1
    ("rsa", "RSA PKCS #1 v1.5 with sha1 is not supported"),
])  # fmt: skip
def test_rfc2634_5_4_signing_certificate_v1_with_sha1(
    material: Material, signer: str, reason: str
) -> None:
    """With -md sha1 openssl writes ESS signingCertificate (v1, SHA-1 certHash); the SHA-1
    signature itself is not verified here (protocols.cmp.crmf takes SHA-2 only)."""
    check = only(check_signers(read_signed_data(material.sign(signer, "-md", "sha1", "-cades")),
                               DOCUMENT))  # fmt: skip
    assert check.signing_certificate == "match"
    assert check.unsupported == reason
    assert (check.content_type_valid, check.message_digest_valid, check.signature_valid) == (
        None,
        None,
        None,
    )


def test_rfc5035_3_signing_certificate_v2_names_another_certificate(material: Material) -> None:
    """The signature is twin-a's; twin-b has the same key, issuer and serial, so the sid
    names it and the key verifies: the ESS hash is what says it is not the one signed."""
    signature = material.sign("ec", "-cades", "-nocerts", "-signer", "twin-a.pem",
                              "-inkey", "ec.key")  # fmt: skip
    # `sign` adds ec.pem as the first signer; the twin's SignerInfo is the one with serial 4242
    signed = read_signed_data(signature)
    twin_a, twin_b = material.certificate("ec", "twin-a"), material.certificate("ec", "twin-b")
    assert twin_a != twin_b
    checks = {c.serial_number: c for c in check_signers(signed, DOCUMENT, [twin_b])}
    substituted = checks[4242]
    assert substituted.certificate_der == twin_b
    assert (substituted.signature_valid, substituted.message_digest_valid) == (True, True)
    assert substituted.signing_certificate == "mismatch"
    right = {c.serial_number: c for c in check_signers(signed, DOCUMENT, [twin_a])}[4242]
    assert (right.certificate_der, right.signing_certificate) == (twin_a, "match")
    # not found: nothing to compare the hash with
    unknown = {c.serial_number: c for c in check_signers(signed, DOCUMENT)}[4242]
    assert (unknown.certificate_der, unknown.signing_certificate) == (None, "mismatch")


# --- algorithms this module does not know --------------------------------------------------------


def test_rfc5652_5_3_unknown_algorithms_are_unsupported(material: Material) -> None:
    signature = material.sign("ec")
    for field, oid, reason in (
        ("digest_algorithm", "1.2.840.113549.2.5", "digest algorithm 1.2.840.113549.2.5 is not "
         "supported"),
        ("signature_algorithm", "2.16.840.1.101.3.4.3.2", "signature algorithm "
         "2.16.840.1.101.3.4.3.2 is not supported"),
    ):  # fmt: skip
        info = asn1_cms.ContentInfo.load(signature)
        info["content"]["signer_infos"][0][field] = {"algorithm": oid}
        check = only(check_signers(read_signed_data(info.dump(force=True)), DOCUMENT))
        assert check.unsupported == reason
        assert (check.content_type_valid, check.message_digest_valid, check.signature_valid) == (
            None,
            None,
            None,
        )
        assert check.certificate_der == material.certificate("ec")
        assert check.signing_time is not None


# --- certificates and CRLs carried ------------------------------------------------------------


def test_rfc5652_10_2_1_crls_are_carried_as_der(material: Material) -> None:
    key = load_pem_private_key((material.folder / "ec.key").read_bytes(), None)
    issuer = x509.load_der_x509_certificate(material.certificate("ec")).subject
    now = datetime.now(UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    crl_der = crl.public_bytes(Encoding.DER)
    info = asn1_cms.ContentInfo.load(material.sign("ec"))
    info["content"]["crls"] = [
        asn1_cms.RevocationInfoChoice(name="crl", value=asn1_crl.CertificateList.load(crl_der))
    ]
    signed = read_signed_data(info.dump(force=True))
    assert signed.crls == (crl_der,)
    assert signed.certificates == (material.certificate("ec"),)


# --- refusals: NotSignedData ------------------------------------------------------------------


def test_rfc5652_5_6_neither_document_nor_content(material: Material) -> None:
    signed = read_signed_data(material.sign("ec"))
    with pytest.raises(NotSignedData) as refused:
        check_signers(signed, None)
    assert str(refused.value) == "a detached signature and no document to check it over"


@pytest.mark.parametrize(("octets", "reason"), [
    (b"", "no octets"),
    (b"\x30\x03\x02\x01",
     "not a CMS SignedData: Insufficient data - 3 bytes requested but only 2 available"),
    (b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
     "PEM of 'CERTIFICATE', not CMS or PKCS7"),
    (bytes.fromhex("300f06092a864886f70d010701a0020400"),
     "a ContentInfo of 1.2.840.113549.1.7.1, not SignedData"),
])  # fmt: skip
def test_rfc5652_3_not_signed_data(octets: bytes, reason: str) -> None:
    with pytest.raises(NotSignedData) as refused:
        read_signed_data(octets)
    assert str(refused.value) == reason


def test_rfc5652_5_2_certificates_only_signed_data_has_no_signers(material: Material) -> None:
    """`openssl crl2pkcs7 -nocrl` writes a degenerate SignedData: certificates, no signer."""
    material.run("ec", "crl2pkcs7", "-nocrl", "-certfile", "ec.pem", "-outform", "DER",
                 "-out", "certs-only.p7b")  # fmt: skip
    signed = read_signed_data((material.folder / "certs-only.p7b").read_bytes())
    assert (signed.signer_infos, signed.certificates) == ((), (material.certificate("ec"),))
    assert check_signers(signed, DOCUMENT) == []


def test_rfc5652_11_3_garbage_signing_time_is_refused(material: Material) -> None:
    signature = material.sign("ec")
    info = asn1_cms.ContentInfo.load(signature)
    attribute = next(a for a in info["content"]["signer_infos"][0]["signed_attrs"]
                     if a["type"].native == "signing_time")  # fmt: skip
    time = attribute["values"][0].chosen.dump()
    garbage = time[:2] + b"not a time!!!"[: len(time) - 2]
    with pytest.raises(NotSignedData) as refused:
        read_signed_data(signature.replace(time, garbage))
    assert str(refused.value).startswith("not a CMS SignedData: ")


def test_rfc5652_5_1_fuzzed_input_raises_only_not_signed_data(material: Material) -> None:
    """Every prefix, random byte changes and random bytes: NotSignedData or a check."""
    rng = random.Random(5652)
    signature = material.sign("ec", "-nodetach", "-cades")
    candidates = [signature[:n] for n in range(len(signature))]
    for _ in range(600):
        damaged = bytearray(signature)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        candidates.append(bytes(damaged))
    # garbage inside the signed attributes only: their values, lengths and tags
    attributes = asn1_cms.ContentInfo.load(signature)["content"]["signer_infos"][0]["signed_attrs"]
    start = signature.index(attributes.dump())
    for _ in range(600):
        damaged = bytearray(signature)
        damaged[start + rng.randrange(len(attributes.dump()))] = rng.randrange(256)
        candidates.append(bytes(damaged))
    candidates += [rng.randbytes(rng.randint(1, 400)) for _ in range(300)]
    candidates.append(b"-----BEGIN CMS-----\n" + base64.encodebytes(signature[:-9]) + b"-----")
    outcomes = {"refused": 0, "checked": 0, "invalid": 0}
    for octets in candidates:
        try:
            signed = read_signed_data(octets)
        except NotSignedData:
            outcomes["refused"] += 1
            continue
        for check in check_signers(signed, DOCUMENT, [material.certificate("ec")]):
            assert check.signing_certificate in {"absent", "match", "mismatch"}
            outcomes["invalid"] += check.signature_valid is False
        outcomes["checked"] += 1
    print(outcomes)
    assert outcomes["refused"] > len(signature)  # every truncation at least
    assert outcomes["invalid"] > 0


def test_signed_document_keeps_its_interface() -> None:
    """The fields server/confirmation/ is written against, content_type defaulting to id-data."""
    document = SignedDocument(content=None, certificates=(), crls=(), signer_infos=())
    assert document.content_type == ID_DATA
