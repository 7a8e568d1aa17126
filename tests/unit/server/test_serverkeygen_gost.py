"""EST serverkeygen of GOST R 34.10-2012 keys (RFC 7030 4.4, issue #16), on an EC CA and on a
GOST CA whose profile takes GOST keys: the client's request names the key type by its own
key (4.4.1), the CA makes a key of that size and parameter set, and returns it as PKCS#8
(RFC 5958), in clear (4.4.2, TLS protects it) or encrypted to the client's EC certificate
(4.4.1.2). The private key is read back by `openssl pkey` with gost-engine, which derives
its public key: the certificate's.

Driven through ServerKeyGeneration over tests/local_ca.py, as the EST route calls it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core, csr, keys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from hsm import gost_engine
from protocols import cms, der
from protocols.x509.ca_request import assemble_request
from protocols.x509.certificate import signature_algorithm_for
from protocols.x509.names import build_name
from server.enrollment.credentials import EnrollmentCredentials
from server.enrollment.enroll import (
    Enrollment,
    GeneratedKey,
    HolderEnrollment,
    ServerKeyGeneration,
)
from server.errors import ErrorKind
from server.node.tls import ServerIdentity
from tests.cmp_client import enrollment_credentials
from tests.csr_factory import make_csr
from tests.gost_support import (
    CA_ENVIRONMENTS,
    GOST_DEVICE_PROFILE,
    assert_gost_key_of_certificate,
    require_engine,
)
from tests.local_ca import LocalCA, opened_local_ca, ra_services
from tests.unit.server.test_enrollment import refused

ID_ASYMMETRIC_DECRYPT_KEY_IDENTIFIER = "1.2.840.113549.1.9.16.2.54"  # RFC 7030 4.4.1.2


@dataclass
class Desk:
    local_ca: LocalCA
    credentials: EnrollmentCredentials
    keygen: ServerKeyGeneration
    folder: Path

    async def code(self, subject: str) -> tuple[str, str]:
        credential, secret = await self.credentials.create(
            "gost-device", subject, timedelta(hours=1), "op"
        )
        return credential.id, secret


@pytest.fixture(params=sorted(CA_ENVIRONMENTS))
async def desk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Desk]:
    require_engine()
    async with opened_local_ca(
        tmp_path, GOST_DEVICE_PROFILE, **CA_ENVIRONMENTS[request.param]
    ) as ca:
        credentials = enrollment_credentials(ca)
        applications = ra_services(ca, credentials)[1]
        enrollment = Enrollment(ca.settings, credentials, ca.authority, applications)
        keygen = ServerKeyGeneration(enrollment, HolderEnrollment(ca.registry, ca.authority))
        yield Desk(ca, credentials, keygen, tmp_path)


def gost_template(bits: int, paramset: str, *attributes: csr.CRIAttribute) -> bytes:
    """A PKCS#10 request whose key (a new GOST key on `paramset`) names the key type wanted
    (RFC 7030 4.4.1), with an empty subject and `attributes`, signed by that key."""
    key = gost_engine.generate_private_key(bits, paramset)
    spki = key.public_key_der()
    info = csr.CertificationRequestInfo({
        "version": "v1",
        "subject": build_name([]),
        "subject_pk_info": keys.PublicKeyInfo.load(spki),
        "attributes": list(attributes),
    }).dump()  # fmt: skip
    return assemble_request(info, signature_algorithm_for(spki), key.sign(info))


def decrypt_to(identifier: bytes) -> csr.CRIAttribute:
    """AsymmetricDecryptKeyIdentifier (RFC 7030 4.4.1.2): the key, encrypted to the client
    certificate with this subjectKeyIdentifier."""
    values = der.tlv(0x31, core.OctetString(identifier).dump())  # SET OF, one value
    return csr.CRIAttribute(
        {"type": ID_ASYMMETRIC_DECRYPT_KEY_IDENTIFIER, "values": core.Any.load(values)}
    )


@pytest.mark.parametrize(("bits", "paramset"), [(256, "A"), (256, "TCA"), (512, "C")])
async def test_rfc7030_4_4_1_a_gost_request_gets_a_gost_key_of_its_parameter_set(
    desk: Desk, bits: int, paramset: str
) -> None:
    code = await desk.code("CN=gost-keygen,O=Plant")
    key, issued = await desk.keygen.generate(
        *code, gost_template(bits, paramset), "est:test", "gost-device"
    )
    assert isinstance(key, GeneratedKey) and not key.encrypted
    assert_gost_key_of_certificate(desk.folder, key.der, issued.der, bits, paramset)
    certificate = x509.load_der_x509_certificate(issued.der)
    assert certificate.subject.rfc4514_string() == "CN=gost-keygen,O=Plant"  # the code's (D2)


async def test_rfc7030_4_4_2_a_gost_key_encrypted_to_the_clients_ec_certificate(
    desk: Desk,
) -> None:
    """4.4.1.2 / 4.4.2: an EnvelopedData for the client's EC certificate, around a
    SignedData of this server, around an AsymmetricKeyPackage holding the GOST key."""
    local_ca = desk.local_ca
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = await local_ca.authority.issue(
        "tls-client", make_csr([("CN", "holder")], key=client_key), "test"
    )
    ski = (
        x509.load_der_x509_certificate(client.der)
        .extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        .value.digest
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = await local_ca.authority.issue(
        "tls-server", make_csr([("CN", "est.test")], key=server_key, dns=("est.test",)), "test"
    )
    signer = ServerIdentity([server.der], server_key)
    code = await desk.code("CN=holder")
    key, issued = await desk.keygen.generate(
        *code, gost_template(256, "TCA", decrypt_to(ski)), "est:test", "gost-device",
        client_certificate=client.der, package_signer=signer,
    )  # fmt: skip
    assert key.encrypted
    content_type, signed = cms.open_envelope(key.der, client_key, ski)
    assert content_type == cms.ID_SIGNED_DATA
    package = asn1_cms.SignedData.load(signed)["encap_content_info"]["content"].native
    (pkcs8,) = cms.parse_asymmetric_key_package(package)
    assert_gost_key_of_certificate(desk.folder, pkcs8, issued.der, 256, "TCA")


async def test_rfc7030_4_4_1_2_a_key_is_not_encrypted_to_a_gost_certificate(
    desk: Desk,
) -> None:
    """No key package is made for a GOST recipient (protocols/cms encrypts to RSA and EC
    keys): refused before any key or certificate is made."""
    code = await desk.code("CN=gost-holder")
    _, holder = await desk.keygen.generate(
        *code, gost_template(256, "A"), "est:test", "gost-device"
    )
    ski = (
        x509.load_der_x509_certificate(holder.der)
        .extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        .value.digest
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    signer = ServerIdentity([holder.der], server_key)  # never used: refused before signing
    code = await desk.code("CN=gost-holder")
    before = await desk.local_ca.registry.audit_head()
    asking = desk.keygen.generate(
        *code, gost_template(256, "A", decrypt_to(ski)), "est:test", "gost-device",
        client_certificate=holder.der, package_signer=signer,
    )  # fmt: skip
    error = await refused(asking)
    assert (error.kind, error.message) == (
        ErrorKind.REJECTED, "a key can be encrypted to RSA or EC keys only"
    )  # fmt: skip
    assert await desk.local_ca.registry.audit_head() == before
