"""Verify-after-sign's part in the worker (server/signing.py verify_issued_by): a
certificate leaves the CA only when it names the CA, carries the signature algorithm
issuance signed with, and carries exactly the TBS and the signature the pipeline verified
(the signer's verification under the CA's key is tested in tests/unit/hsm/
test_verified_signing.py, and issuance's refusal of a wrong signature in test_authority)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from hsm.pipeline import SigningPipeline
from protocols.x509.certificate import signature_algorithm_for
from server.authority import Authority
from server.errors import CAError, ErrorKind
from server.signing import verify_issued_by
from tests.csr_factory import make_csr
from tests.in_process_signer import mixed_up_signer, signer_server
from tests.local_ca import LocalCA
from tests.unit.server.test_authority import rows
from tests.wrong_signer import OtherKeyBackend

NOW = datetime(2026, 12, 5, tzinfo=UTC)
KEYS = {
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}
HASHES = {"ec-p256": hashes.SHA256(), "ec-p384": hashes.SHA384(), "rsa-2048": hashes.SHA256()}


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _certificate(
    issuer: str, subject_key, signing_key, algorithm, subject: str = "leaf"
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
    )
    return builder.sign(signing_key, algorithm)


def _ca(kind: str):
    key = KEYS[kind]()
    return key, _certificate("CA", key, key, HASHES.get(kind), subject="CA")


def _check(leaf: x509.Certificate, ca: x509.Certificate) -> None:
    """verify_issued_by of `leaf` as the pipeline would have handed its signature over."""
    der = leaf.public_bytes(Encoding.DER)
    verify_issued_by(der, ca, _algorithm(ca), leaf.tbs_certificate_bytes, leaf.signature)


def _algorithm(ca: x509.Certificate) -> str:
    """The signature algorithm issuance signs with under the CA's key."""
    spki = ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return signature_algorithm_for(spki)


@pytest.mark.parametrize("kind", list(KEYS))
def test_a_certificate_the_ca_key_signed_passes(kind: str) -> None:
    key, ca = _ca(kind)
    leaf = _certificate("CA", KEYS["ec-p256"](), key, HASHES.get(kind))
    _check(leaf, ca)


@pytest.mark.parametrize("kind", list(KEYS))
def test_a_certificate_that_is_not_the_one_verified_is_refused(kind: str) -> None:
    """The certificate's signature or TBS is not the one the pipeline verified."""
    key, ca = _ca(kind)
    leaf = _certificate("CA", KEYS["ec-p256"](), key, HASHES.get(kind))
    other = _certificate("CA", KEYS["ec-p256"](), key, HASHES.get(kind))  # another TBS
    der = leaf.public_bytes(Encoding.DER)
    for tbs, signature in (
        (leaf.tbs_certificate_bytes, other.signature),
        (other.tbs_certificate_bytes, leaf.signature),
    ):
        with pytest.raises(CAError) as refused:
            verify_issued_by(der, ca, _algorithm(ca), tbs, signature)
        assert refused.value.kind is ErrorKind.INTERNAL
    with pytest.raises(CAError) as refused:
        verify_issued_by(der[:-1], ca, _algorithm(ca), leaf.tbs_certificate_bytes, leaf.signature)
    assert refused.value.kind is ErrorKind.INTERNAL


@pytest.mark.parametrize(
    ("kind", "issuer", "algorithm"),
    [
        ("ec-p256", "another CA", hashes.SHA256()),  # the CA's signature, another issuer named
        ("ec-p256", "CA", hashes.SHA512()),  # not a signature algorithm issuance uses
        ("rsa-2048", "CA", hashes.SHA384()),
        ("ec-p256", "CA", hashes.SHA384()),  # an algorithm of the key, not issuance's for it
    ],
)
def test_a_certificate_naming_another_issuer_or_algorithm_is_refused(
    kind: str, issuer: str, algorithm: hashes.HashAlgorithm
) -> None:
    key, ca = _ca(kind)
    leaf = _certificate(issuer, KEYS["ec-p256"](), key, algorithm)
    with pytest.raises(CAError) as refused:
        _check(leaf, ca)
    assert refused.value.kind is ErrorKind.INTERNAL


# -- issuance through a real pipeline ------------------------------------------------------


@pytest.fixture
def socket_path() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="vas-", dir="/tmp"))  # a short Unix socket path
    yield folder / "signer.sock"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("fault", ["signed with another key", "signed other bytes"])
async def test_issuance_refuses_a_signature_the_pipeline_did_not_verify_and_leaves_no_row(
    local_ca: LocalCA, socket_path: Path, fault: str
) -> None:
    """Through a real SigningPipeline and the signer's own code: a backend that signs
    with another key (the signer's verification fails), or a signer that received other
    bytes than were sent (its verification passes, the digest does not match). Issuance is
    refused as INTERNAL, and nothing is recorded."""
    if fault == "signed with another key":
        server = signer_server(OtherKeyBackend(local_ca.backend), socket_path)
    else:
        server = mixed_up_signer(local_ca.backend, socket_path, alter=lambda m: m[:-1] + b"\0")
    before = rows(local_ca)
    async with server, SigningPipeline([socket_path]) as pipeline:
        authority = Authority(local_ca.settings, local_ca.registry, pipeline, local_ca.clock)
        with pytest.raises(CAError) as refused:
            await authority.issue("tls-client", make_csr([("CN", "x")]), "t")
        assert refused.value.kind is ErrorKind.INTERNAL
        assert str(refused.value) == "the signature made for this request is wrong"
    assert rows(local_ca) == before
    assert await local_ca.registry.open_intents() == []


async def test_issuance_through_a_real_pipeline_passes(local_ca: LocalCA, socket_path: Path):
    async with (
        signer_server(local_ca.backend, socket_path),
        SigningPipeline([socket_path]) as pipeline,
    ):
        authority = Authority(local_ca.settings, local_ca.registry, pipeline, local_ca.clock)
        issued = await authority.issue("tls-client", make_csr([("CN", "x")]), "t")
    ca = x509.load_der_x509_certificate(issued.issuer_der or b"")
    x509.load_der_x509_certificate(issued.der).verify_directly_issued_by(ca)
