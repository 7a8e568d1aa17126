"""A parent CA outside made with `cryptography` (a self-signed root, an intermediate under
it), and a local CA (tests/local_ca.py) whose first generation that parent certified, as
`init --csr` and `import-ca-cert` make it (issue 15, Hierarchy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from hsm.software import SoftwareBackend
from server.authority import Authority
from server.context import open_registry
from server.generations.parent import import_ca_certificate, request_ca_certificate
from server.generations.responder import issue_ocsp_responder
from server.status.revocation import Revocation
from tests.local_ca import BackendSigner, Clock, LocalCA, settings_for

YEAR = timedelta(days=365)
LOCAL_NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # tests/local_ca.py's clock


def head_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Head"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class Parent:
    """A CA of the parent's hierarchy: its key and certificate, valid around `now`."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    now: datetime

    def sign(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        *,
        ca: bool = True,
        cert_sign: bool = True,
        not_after: datetime | None = None,
        digital_signature: bool = False,
    ) -> x509.Certificate:
        """`digital_signature`: keyUsage digitalSignature too, as this CA's requests ask
        (its CMP messages, such as its revocation request, are signed with the key)."""
        end = not_after or self.now + YEAR
        return _certificate(self.key, self.certificate.subject, subject, public_key, ca,
                            cert_sign, self.now, end, digital_signature)  # fmt: skip


def _certificate(
    signer: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca: bool,
    cert_sign: bool,
    now: datetime,
    not_after: datetime,
    digital_signature: bool = False,
) -> x509.Certificate:
    usage = x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=cert_sign, crl_sign=True, encipher_only=False,
                          decipher_only=False)  # fmt: skip
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(signer, hashes.SHA256())
    )


def new_root(now: datetime) -> Parent:
    key = ec.generate_private_key(ec.SECP256R1())
    name = head_name("Head Root")
    certificate = _certificate(key, name, name, key.public_key(), True, True, now, now + YEAR)
    return Parent(key, certificate, now)


def new_intermediate(root: Parent) -> Parent:
    key = ec.generate_private_key(ec.SECP256R1())
    return Parent(key, root.sign(head_name("Head Issuing"), key.public_key()), root.now)


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


@dataclass
class SubordinateCA:
    local_ca: LocalCA
    root: Parent
    intermediate: Parent


@asynccontextmanager
async def opened_subordinate_ca(folder: Path) -> AsyncIterator[SubordinateCA]:
    """tests/local_ca.py's CA, its generation certified by an intermediate of a parent."""
    settings = settings_for(folder, CA_CA__SUBJECT='"CN=Sub CA,O=Test,C=RU"')
    clock = Clock(LOCAL_NOW)
    registry = await open_registry(settings)
    (folder / "keys").mkdir(mode=0o700)
    backend = SoftwareBackend(folder / "keys", b"test passphrase")
    signer = BackendSigner(backend)
    authority = Authority(settings, registry, signer, clock)
    root = new_root(clock())
    intermediate = new_intermediate(root)
    made = request_ca_certificate(settings, backend)
    request = x509.load_der_x509_csr(made.csr_der)
    public_key = request.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    certificate = intermediate.sign(request.subject, public_key).public_bytes(Encoding.DER)
    chain = [c.certificate.public_bytes(Encoding.DER) for c in (root, intermediate)]
    spki_der = backend.public_key_der(made.key)
    generation = await import_ca_certificate(
        settings, registry, made.key, spki_der, certificate, chain, clock(), "t"
    )
    await issue_ocsp_responder(settings, backend, authority, generation, clock(), "t")
    try:
        local_ca = LocalCA(settings, registry, backend, signer, authority,
                           Revocation(registry, clock), clock)  # fmt: skip
        yield SubordinateCA(local_ca, root, intermediate)
    finally:
        await registry.close()
        backend.close()
