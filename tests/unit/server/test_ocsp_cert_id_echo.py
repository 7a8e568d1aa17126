"""Each OCSP answer repeats the CertID exactly as its request encoded it (RFC 6960 4.2.1):
OpenSSL sends hashAlgorithm with NULL parameters, Bouncy Castle without, and a client looks
for its own CertID in the response (issue 12, section 6). Asked in turn for one certificate,
both forms get their own pre-signed response, on the responder's look-up path and its
signing path alike, for known and unknown serials."""

from __future__ import annotations

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509

from protocols import ocsp
from protocols.der import tlv
from server.registry import CAGeneration
from server.status.ocsp_responder import OCSPResponder
from server.status.publication import StatusPublication
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA

NULL, ABSENT = True, False


def request_der(cert_id_der: bytes) -> bytes:
    """OCSPRequest { TBSRequest { requestList { Request { reqCert } } } }, no extensions."""
    return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, cert_id_der))))


def answered_cert_id(response_der: bytes) -> bytes:
    response = asn1_ocsp.OCSPResponse.load(response_der)
    assert response["response_status"].native == "successful"
    data = response["response_bytes"]["response"].parsed["tbs_response_data"]
    [single] = data["responses"]
    return bytes(single["cert_id"].dump())


class Asker:
    def __init__(self, responder: OCSPResponder, generation: CAGeneration) -> None:
        self.responder = responder
        ca = asn1_x509.Certificate.load(generation.certificate_der)
        self.name, self.spki = ca.subject.dump(), ca.public_key.dump()

    def cert_id(self, serial: int, algorithm: str, null: bool) -> bytes:
        return ocsp.cert_id_for(self.name, self.spki, serial, algorithm, null).der

    async def echo(self, cert_id_der: bytes) -> bytes:
        """The CertID of the answer, checked to be the request's, byte for byte."""
        der = request_der(cert_id_der)
        answer = await self.responder.answer(der)
        assert answered_cert_id(answer.der) == cert_id_der
        request = self.responder.parse(der)
        assert request is not None
        held = self.responder.from_memory(request)  # the listeners' look-up path
        if held is not None:
            assert held.der == answer.der
        return answer.der


@pytest.fixture
async def asker(local_ca: LocalCA) -> Asker:
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, serving=True, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    await status.ocsp.sign_missing()
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    return Asker(status.ocsp, generation)


async def issued(local_ca: LocalCA, asker: Asker) -> int:
    certificate = await local_ca.authority.issue("tls-client", make_csr([("CN", "echo")]), "t")
    await asker.responder.sign_missing()  # its pre-signed SHA-1 response
    return int(certificate.serial, 16)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
@pytest.mark.parametrize(
    "order", [(ABSENT, NULL), (NULL, ABSENT)], ids=["absent-then-null", "null-then-absent"]
)
async def test_rfc6960_4_2_1_certid_echoed_as_requested(
    local_ca: LocalCA, asker: Asker, algorithm: str, order: tuple[bool, bool]
) -> None:
    serial = await issued(local_ca, asker)
    first, second = (asker.cert_id(serial, algorithm, null) for null in order)
    answers = [await asker.echo(first), await asker.echo(second)]
    signatures = local_ca.signer.calls
    assert [await asker.echo(first), await asker.echo(second)] == answers  # kept, both
    assert local_ca.signer.calls == signatures


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_rfc6960_4_2_1_unknown_certid_echoed_as_requested(
    local_ca: LocalCA, asker: Asker, algorithm: str
) -> None:
    never = 0x5EC0_DE_0F_0_1
    for null in (NULL, ABSENT, NULL):
        await asker.echo(asker.cert_id(never, algorithm, null))


async def test_rfc6960_4_2_1_other_certid_forms_are_echoed_and_not_kept(
    local_ca: LocalCA, asker: Asker
) -> None:
    """Parameters other than NULL (RFC 5754 2 allows none) are answered as sent, signed
    each time: a certificate keeps at most two responses per hash algorithm."""
    serial = await issued(local_ca, asker)
    usual = asker.cert_id(serial, "sha256", NULL)
    odd = usual.replace(b"\x05\x00", b"\x04\x00", 1)  # an empty OCTET STRING as parameters
    assert odd != usual
    await asker.echo(odd)
    signatures = local_ca.signer.calls
    await asker.echo(odd)
    assert local_ca.signer.calls == signatures + 1
