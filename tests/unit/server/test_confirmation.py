"""The confirmation checks (S10, S11, V1, V2) on signatures `openssl cms -sign` makes with
certificates this CA issued: each case gives its verdict and names its cause.

openssl writes signingTime from the machine's clock, so the CA's clock is set around the
real time: a certificate is issued, suspended or revoked before or after `openssl` signs."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from protocols.crl import CRLReason
from server.confirmation.checker import Confirmations
from server.confirmation.report import ConfirmationReport
from server.serials import serial_text
from tests.csr_factory import make_csr, new_key
from tests.document_signing import DOCUMENT_SIGNER_PROFILE
from tests.local_ca import LocalCA, opened_local_ca, second_generation

DOCUMENT = "Договор № 17 от 6 декабря 2026 г.\n".encode()
PROFILES = (
    DOCUMENT_SIGNER_PROFILE
    + """
[profiles.one-day-signer]
description = "document signing for a day (test)"
requires_registered_subscriber = false
validity_days = 1
key_algorithms = ["ec-p256"]
key_usage = ["digital_signature"]
subject_attributes = ["CN"]
required_attributes = ["CN"]

[profiles.encipher-only]
description = "a key for encryption only (test)"
requires_registered_subscriber = false
validity_days = 30
key_algorithms = ["rsa-2048"]
key_usage = ["key_encipherment"]
subject_attributes = ["CN"]
required_attributes = ["CN"]
"""
)


class Holder:
    """A key and its certificate in files, as `openssl cms -sign` takes them."""

    def __init__(self, folder: Path, name: str, key, certificate_der: bytes) -> None:
        self.key_file = folder / f"{name}.key"
        self.cert_file = folder / f"{name}.crt"
        self.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))  # fmt: skip
        certificate = x509.load_der_x509_certificate(certificate_der)
        self.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self.der = certificate_der
        self.serial = serial_text(certificate.serial_number)
        self.folder = folder

    def sign(self, document: bytes = DOCUMENT, *options: str) -> bytes:
        """`openssl cms -sign` over `document`: detached DER unless `options` say otherwise."""
        data = self.folder / "document.bin"
        data.write_bytes(document)
        out = self.folder / "signature.p7s"
        subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", str(data), "-signer",
                        str(self.cert_file), "-inkey", str(self.key_file), "-outform", "DER",
                        "-out", str(out), *options],
                       check=True, capture_output=True, timeout=30)  # fmt: skip
        return out.read_bytes()


@pytest.fixture
async def ca(tmp_path: Path):
    async with opened_local_ca(tmp_path, PROFILES) as local_ca:
        local_ca.clock.now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        yield local_ca


def confirmations(ca: LocalCA, trusted: list[tuple[str, bytes]] | None = None) -> Confirmations:
    return Confirmations(ca.registry, ca.settings.ca.name, trusted or [], ca.clock)


async def holder(
    ca: LocalCA, tmp_path: Path, profile: str = "document-signer", key_kind: str = "ec-p256"
) -> Holder:
    key = new_key(key_kind)
    issued = await ca.authority.issue(profile, make_csr([("CN", f"{profile} holder")], key), "t")
    return Holder(tmp_path, profile, key, issued.der)


def made_outside(subject: x509.Name, issuer: x509.Name, key, signing_key) -> bytes:
    """A certificate this CA did not issue, valid around now (DER)."""
    now = datetime.now(UTC)
    builder = x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
    builder = builder.public_key(key.public_key()).serial_number(x509.random_serial_number())
    builder = builder.not_valid_before(now - timedelta(days=1)).not_valid_after(
        now + timedelta(days=1)
    )
    return builder.sign(signing_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def codes(report: ConfirmationReport) -> list[str]:
    return [cause["code"] for cause in report.as_dict()["causes"]]  # type: ignore[index]


def later(ca: LocalCA) -> None:
    """The check runs a minute after the real time openssl signed at."""
    ca.clock.now = datetime.now(UTC) + timedelta(minutes=1)


async def test_rfc5652_5_6_a_detached_signature_of_this_cas_certificate_is_valid(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    signature = signer.sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert report.verdict == "valid", report.as_dict()
    facts = report.as_dict()
    (signed_by,) = facts["signers"]  # type: ignore[misc]
    assert signed_by["certificate"]["serial"] == signer.serial
    assert signed_by["time_source"] == "signingTime"
    assert signed_by["chain"][0]["source"] == "this CA, generation 1"
    assert signed_by["status_at_signing"]["status"] == "good"
    assert signed_by["status_at_signing"]["profile"] == "document-signer"
    assert facts["attached"] is False


async def test_rfc5652_5_2_an_attached_signature_is_checked_over_its_own_content(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    signature = signer.sign(DOCUMENT, "-nodetach")
    later(ca)
    report = await confirmations(ca).check_signature(None, signature)
    assert report.verdict == "valid", report.as_dict()
    assert report.as_dict()["attached"] is True


async def test_v2_a_changed_document_is_bad_digest(ca: LocalCA, tmp_path: Path) -> None:
    signature = (await holder(ca, tmp_path)).sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT + b" ", signature)
    assert (report.verdict, codes(report)) == ("invalid", ["bad_digest"])


async def test_v2_a_damaged_signature_value_is_bad_signature(ca: LocalCA, tmp_path: Path) -> None:
    signature = (await holder(ca, tmp_path)).sign()
    info = cms.ContentInfo.load(signature)
    signer_info = info["content"]["signer_infos"][0]
    value = bytearray(signer_info["signature"].native)
    value[10] ^= 0x01
    signer_info["signature"] = cms.OctetString(bytes(value))
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, info.dump(force=True))
    assert (report.verdict, codes(report)) == ("invalid", ["bad_signature"])


async def test_v2_a_certificate_of_no_trusted_ca_is_untrusted_chain(
    ca: LocalCA, tmp_path: Path
) -> None:
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-made")])
    signer = Holder(tmp_path, "stranger", key, made_outside(name, name, key, key))
    signature = signer.sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["untrusted_chain"])
    nocerts = signer.sign(DOCUMENT, "-nocerts")
    report = await confirmations(ca).check_signature(DOCUMENT, nocerts)
    assert (report.verdict, codes(report)) == ("invalid", ["unknown_signer"])


async def test_rfc5652_5_3_a_signature_without_certificates_finds_the_signer_in_the_registry(
    ca: LocalCA, tmp_path: Path
) -> None:
    signature = (await holder(ca, tmp_path)).sign(DOCUMENT, "-nocerts")
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert report.verdict == "valid", report.as_dict()


async def test_v1_revoked_before_signing_is_invalid(ca: LocalCA, tmp_path: Path) -> None:
    signer = await holder(ca, tmp_path)
    ca.clock.advance(minutes=30)
    await ca.revocation.revoke(signer.serial, CRLReason.superseded, "t")
    signature = signer.sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["revoked_before_signing"])
    assert report.as_dict()["signers"][0]["status_at_signing"]["reason"] == "superseded"  # type: ignore[index]


async def test_rfc5280_5_3_2_a_key_compromise_counts_from_its_invalidity_date(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    signature = signer.sign()
    ca.clock.now = datetime.now(UTC) + timedelta(hours=1)
    compromised = datetime.now(UTC) - timedelta(minutes=10)
    await ca.revocation.revoke(signer.serial, CRLReason.keyCompromise, "t", compromised)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["revoked_before_signing"])


async def test_v1_revoked_after_the_claimed_signing_time_is_indeterminate_without_a_timestamp(
    ca: LocalCA, tmp_path: Path
) -> None:
    """RFC 5652 11.3: signingTime is the time the signer "purportedly" signed; a holder of
    a revoked key could write an earlier one. Only a signature timestamp proves it
    (tests/unit/server/test_confirmation_timestamp.py: then valid)."""
    signer = await holder(ca, tmp_path)
    signature = signer.sign()
    ca.clock.now = datetime.now(UTC) + timedelta(hours=1)
    await ca.revocation.revoke(signer.serial, CRLReason.superseded, "t")
    ca.clock.advance(minutes=1)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("indeterminate", ["signing_time_unproven"])
    signed_by = report.as_dict()["signers"][0]  # type: ignore[index]
    assert signed_by["status_at_signing"]["status"] == "good"
    assert signed_by["status_now"]["status"] == "revoked"


async def test_v1_suspended_at_signing_is_invalid(ca: LocalCA, tmp_path: Path) -> None:
    signer = await holder(ca, tmp_path)
    ca.clock.advance(minutes=30)
    await ca.revocation.suspend(signer.serial, "t")
    signature = signer.sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["suspended_at_signing"])


async def test_v1_expired_at_signing_is_invalid(ca: LocalCA, tmp_path: Path) -> None:
    ca.clock.now = datetime.now(UTC) - timedelta(days=2)  # after the CA's key came into use
    signer = await holder(ca, tmp_path, "one-day-signer")
    signature = signer.sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["expired_at_signing"])


async def test_rfc5280_4_2_1_3_a_key_for_encipherment_only_is_wrong_key_usage(
    ca: LocalCA, tmp_path: Path
) -> None:
    signature = (await holder(ca, tmp_path, "encipher-only", "rsa-2048")).sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["wrong_key_usage"])


async def test_rfc5280_4_2_1_12_a_tls_client_certificate_is_wrong_extended_key_usage(
    ca: LocalCA, tmp_path: Path
) -> None:
    signature = (await holder(ca, tmp_path, "tls-client")).sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["wrong_extended_key_usage"])


async def test_rfc5035_cades_signing_certificate_v2_is_checked(ca: LocalCA, tmp_path: Path) -> None:
    signature = (await holder(ca, tmp_path)).sign(DOCUMENT, "-cades")
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert report.verdict == "valid", report.as_dict()
    assert report.as_dict()["signers"][0]["signing_certificate_attribute"] == "match"  # type: ignore[index]


async def test_s10_a_certificate_of_an_older_generation_chains_to_that_generation(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    await second_generation(ca)
    signature = signer.sign()
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert report.verdict == "valid", report.as_dict()
    assert report.as_dict()["signers"][0]["chain"][0]["source"] == "this CA, generation 1"  # type: ignore[index]


async def test_s10_another_cas_certificate_chains_only_to_a_ca_the_operator_trusts(
    ca: LocalCA, tmp_path: Path
) -> None:
    """Its CRL is at a closed port: the status unknown (tests/unit/server/test_confirmation_crl.py
    checks the CRLs of another CA)."""
    (tmp_path / "other").mkdir()
    closed = {"CA_CA__BASE_URL": '"http://127.0.0.1:9"'}
    async with opened_local_ca(tmp_path / "other", PROFILES, **closed) as other:
        other.clock.now = ca.clock.now
        signer = await holder(other, tmp_path)
        other_ca = (await other.registry.active_generation(other.settings.ca.name)).certificate_der  # type: ignore[union-attr]
    signature = signer.sign()
    later(ca)
    untrusted = await confirmations(ca).check_signature(DOCUMENT, signature)
    assert codes(untrusted) == ["untrusted_chain"]
    report = await confirmations(ca, [("other.pem", other_ca)]).check_signature(DOCUMENT, signature)
    assert (report.verdict, codes(report)) == ("indeterminate", ["status_unknown"])
    assert report.as_dict()["signers"][0]["chain"][0]["source"] == "trusted CA (other.pem)"  # type: ignore[index]


async def test_v2_bytes_that_are_not_cms_are_named(ca: LocalCA) -> None:
    report = await confirmations(ca).check_signature(DOCUMENT, b"not a signature")
    assert (report.verdict, codes(report)) == ("invalid", ["not_signed_data"])


async def test_rfc5652_5_2_a_detached_signature_without_its_document_is_named(
    ca: LocalCA, tmp_path: Path
) -> None:
    signature = (await holder(ca, tmp_path)).sign()
    report = await confirmations(ca).check_signature(None, signature)
    assert (report.verdict, codes(report)) == ("invalid", ["no_document"])


async def test_s11_a_certificate_of_this_ca_is_authentic_with_its_status(
    ca: LocalCA, tmp_path: Path
) -> None:
    signer = await holder(ca, tmp_path)
    later(ca)
    report = await confirmations(ca).check_certificate(signer.cert_file.read_bytes())
    assert report.verdict == "valid", report.as_dict()
    assert report.as_dict()["issued_by"]["source"] == "this CA, generation 1"  # type: ignore[index]
    await ca.revocation.revoke(signer.serial, CRLReason.superseded, "t")
    revoked = await confirmations(ca).check_certificate(signer.der)
    assert (revoked.verdict, codes(revoked)) == ("invalid", ["revoked"])


async def test_s11_a_certificate_another_key_signed_in_this_cas_name_is_not_this_cas(
    ca: LocalCA, tmp_path: Path
) -> None:
    generation = await ca.registry.active_generation(ca.settings.ca.name)
    assert generation is not None
    ours = x509.load_der_x509_certificate(generation.certificate_der)
    forged = made_outside(
        x509.Name.from_rfc4514_string("CN=forged"), ours.subject, new_key(), new_key()
    )
    report = await confirmations(ca).check_certificate(forged)
    assert (report.verdict, codes(report)) == ("invalid", ["not_issued_by_this_ca"])


async def test_s11_the_cas_own_certificate_of_each_generation_is_authentic(ca: LocalCA) -> None:
    await second_generation(ca)
    for generation in await ca.registry.generations(ca.settings.ca.name):
        report = await confirmations(ca).check_certificate(generation.certificate_der)
        assert report.verdict == "valid", report.as_dict()
        assert report.as_dict()["issued_by"]["source"] == f"this CA, generation {generation.id}"  # type: ignore[index]


async def test_v2_a_signature_of_more_signers_than_checked_is_refused_whole(
    ca: LocalCA, tmp_path: Path
) -> None:
    """Each SignerInfo hashes the whole document: a signature of 17 is refused at once."""
    info = cms.ContentInfo.load((await holder(ca, tmp_path)).sign())
    signer_info = info["content"]["signer_infos"][0]
    info["content"]["signer_infos"] = cms.SignerInfos([signer_info] * 17)
    later(ca)
    report = await confirmations(ca).check_signature(DOCUMENT, info.dump(force=True))
    assert (report.verdict, codes(report)) == ("invalid", ["too_many_signers"])


async def test_rfc5280_4_2_a_certificate_with_an_extension_twice_is_not_a_certificate(
    ca: LocalCA, tmp_path: Path
) -> None:
    """RFC 5280 4.2: "A certificate MUST NOT include more than one instance of a particular
    extension": refused by name, not an internal error."""
    certificate = asn1_x509.Certificate.load((await holder(ca, tmp_path)).der)
    extensions = certificate["tbs_certificate"]["extensions"]
    extensions.append(extensions[0])
    report = await confirmations(ca).check_certificate(certificate.dump(force=True))
    assert (report.verdict, codes(report)) == ("invalid", ["not_a_certificate"])
