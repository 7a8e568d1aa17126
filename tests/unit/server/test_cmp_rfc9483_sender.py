"""Who sent a CMP request, and whether its header is right (RFC 9483 3.1, 3.3, 3.5, 3.6.4;
RFC 9481 for the protection algorithms), through tests/cmp_client.py against a real
CMPServer over tests/local_ca.py. Each refusal is checked for its body type, status and
failInfo, whether it went out protected, and that nothing changed in the registry."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from protocols import cmp
from server.registry import CertificateStatus
from tests.cmp_client import (
    Answer,
    CMPClient,
    cert_req_messages,
    cert_request,
    directory_name,
    mac_client,
    rr_content,
    signing_client,
)
from tests.local_ca import LocalCA


async def registry_state(local_ca: LocalCA) -> list[tuple[str, CertificateStatus]]:
    """Every issued certificate with its status: what a refusal must leave as it was."""
    records = await local_ca.registry.search.certificates(None, None, None, 10_000, None)
    return [(record.serial, record.status) for record in records]


def assert_refused(answer: Answer, failure: str, protected: bool) -> None:
    """An error message (RFC 9483 3.6.4) with status rejection and exactly ``failure``."""
    assert answer.body_type == "error", answer
    assert answer.status is cmp.PKIStatus.rejection, answer
    assert answer.fail_info == {failure}, answer
    assert answer.protected is protected, answer


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def holder(local_ca: LocalCA) -> CMPClient:
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
    assert_refused(answer, "badMessageCheck", protected=True)
    assert await registry_state(local_ca) == before
