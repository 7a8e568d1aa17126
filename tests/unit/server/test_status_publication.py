"""Status publication in one process and across two, on a real registry file, with the
clock injected: OCSP answers, refresh before nextUpdate, CRL deltas with removeFromCRL,
and a status change waiting for every live server process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp

from config import load_settings
from hsm.backend import HSMError, KeyRef
from hsm.pipeline import SignerBusy
from protocols import crl as crl_codec
from protocols import ocsp
from protocols.crl import CRLReason
from server.authority import Authority
from server.errors import CAError, ErrorKind
from server.generations.responder import issue_ocsp_responder
from server.registry import CAGeneration, Registry
from server.signing import CertificateSigner
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA


@dataclass
class Node:
    """One process's view: its own registry connection and status publication."""

    registry: Registry
    status: StatusPublication
    authority: Authority
    revocation: Revocation
    ca_der: bytes

    async def issue(self, name: str) -> str:
        return (await self.authority.issue("tls-client", make_csr([("CN", name)]), "t")).serial

    def request(self, serial: str, nonce: bytes | None = None) -> bytes:
        ca = asn1_x509.Certificate.load(self.ca_der)
        cert_id = ocsp.cert_id_for(ca.subject.dump(), ca.public_key.dump(), int(serial, 16))
        builder = x509_ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            cert_id.issuer_name_hash, cert_id.issuer_key_hash, cert_id.serial, hashes.SHA1()
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.build().public_bytes(Encoding.DER)

    async def ask(self, serial: str, nonce: bytes | None = None) -> ocsp.ParsedSingle:
        answer = await self.status.ocsp.answer(self.request(serial, nonce))
        status, singles, echoed = ocsp.parse_ocsp_response(answer.der)
        assert status is ocsp.OCSPResponseStatus.successful
        assert echoed == nonce
        return singles[0]


async def node(
    ca: LocalCA,
    registry: Registry,
    serving: bool,
    builder: bool,
    signer: CertificateSigner | None = None,
) -> Node:
    signer = signer or ca.signer
    status = StatusPublication(ca.settings, registry, signer, ca.clock, serving=serving,
                               builder=builder)  # fmt: skip
    await status.ocsp.load_issuers()
    if serving and builder:
        await status.ocsp.sign_missing()
    generation = await registry.active_generation(ca.settings.ca.name)
    assert generation is not None
    return Node(
        registry=registry,
        status=status,
        authority=Authority(ca.settings, registry, signer, ca.clock, status),
        revocation=Revocation(registry, ca.clock, status),
        ca_der=generation.certificate_der,
    )


@pytest.fixture
async def one(local_ca: LocalCA) -> Node:
    return await node(local_ca, local_ca.registry, serving=True, builder=True)


async def test_statuses_follow_changes_in_the_same_process(one: Node) -> None:
    serial = await one.issue("a")
    assert (await one.ask(serial)).status is ocsp.CertStatus.GOOD
    await one.revocation.suspend(serial, "o")
    held = await one.ask(serial)
    assert (held.status, held.revocation_reason) == (ocsp.CertStatus.REVOKED, 6)
    await one.revocation.resume(serial, "o")
    assert (await one.ask(serial, nonce=b"n" * 16)).status is ocsp.CertStatus.GOOD
    await one.revocation.revoke(serial, CRLReason.keyCompromise, "o")
    revoked = await one.ask(serial)
    assert (revoked.status, revoked.revocation_reason) == (ocsp.CertStatus.REVOKED, 1)
    assert (await one.ask(format(0xDEAD, "x"))).status is ocsp.CertStatus.UNKNOWN


async def test_responses_are_refreshed_before_next_update(one: Node, local_ca: LocalCA) -> None:
    serial = await one.issue("a")
    first = await one.ask(serial)
    local_ca.clock.advance(hours=17)  # nextUpdate is 24 h out; refresh 8 h before it
    assert await one.status.ocsp.refresh_due() >= 1
    refreshed = await one.ask(serial)
    assert refreshed.this_update == first.this_update + timedelta(hours=17)
    local_ca.clock.advance(hours=30)  # no refresh ran: the responder re-signs, never stale
    late = await one.ask(serial)
    assert late.next_update is not None and late.next_update > local_ca.clock.now


async def test_delta_crl_lists_a_resumed_certificate_as_remove_from_crl(
    one: Node, local_ca: LocalCA
) -> None:
    held, revoked = await one.issue("held"), await one.issue("revoked")
    await one.revocation.suspend(held, "o")
    await one.status.crls.rebuild()
    base = one.status.crls.current(0, delta=False)
    assert base is not None and int(held, 16) in crl_codec.parse_crl(base.der).entries
    local_ca.clock.advance(hours=25)  # that full CRL becomes the base of the deltas
    await one.revocation.resume(held, "o")
    await one.revocation.revoke(revoked, CRLReason.superseded, "o")
    await one.status.crls.rebuild()
    full = crl_codec.parse_crl(one.status.crls.current(0, delta=False).der)  # type: ignore[union-attr]
    delta = crl_codec.parse_crl(one.status.crls.current(0, delta=True).der)  # type: ignore[union-attr]
    assert int(held, 16) not in full.entries and int(revoked, 16) in full.entries
    assert delta.delta_base == base.number
    assert delta.entries[int(held, 16)][1] == crl_codec.CRLReason.removeFromCRL
    assert delta.entries[int(revoked, 16)][1] == crl_codec.CRLReason.superseded
    assert base.number < full.crl_number < delta.crl_number


async def test_expired_entries_leave_the_crl(one: Node, local_ca: LocalCA) -> None:
    serial = await one.issue("short")
    await one.revocation.revoke(serial, CRLReason.superseded, "o")
    await one.status.crls.rebuild()
    assert int(serial, 16) in crl_codec.parse_crl(one.status.crls.current(0, False).der).entries  # type: ignore[union-attr]
    local_ca.clock.advance(days=398)
    await one.status.crls.rebuild()
    assert int(serial, 16) not in crl_codec.parse_crl(one.status.crls.current(0, False).der).entries  # type: ignore[union-attr]


@pytest.fixture
async def two(local_ca: LocalCA) -> AsyncIterator[tuple[Node, Node]]:
    """A serving process (following the registry) and a CLI-like process."""
    other = await Registry.open(local_ca.settings.resolve("registry.sqlite3"))
    server = await node(local_ca, local_ca.registry, serving=True, builder=True)
    cli = await node(local_ca, other, serving=False, builder=False)
    try:
        yield server, cli
    finally:
        await other.close()


async def test_a_change_returns_once_the_serving_process_applied_it(
    two: tuple[Node, Node],
) -> None:
    server, cli = two
    serial = await cli.issue("a")
    assert (await server.ask(serial)).status is ocsp.CertStatus.GOOD  # found in the registry
    await server.status.feed.mark()
    follow = asyncio.create_task(server.status.feed.run())
    try:
        await cli.revocation.revoke(serial, CRLReason.keyCompromise, "o")
        # Right when the change returns, the serving process answers "revoked".
        assert (await server.ask(serial)).status is ocsp.CertStatus.REVOKED
    finally:
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow


async def test_a_live_process_that_does_not_apply_makes_the_change_report_it(
    two: tuple[Node, Node], local_ca: LocalCA
) -> None:
    server, cli = two
    serial = await cli.issue("a")
    await server.status.feed.mark()  # alive, but it will not poll
    quick = load_settings(local_ca.settings.home, {"CA_OCSP__PROPAGATION_TIMEOUT_SECONDS": "0.2"})
    impatient = StatusPublication(quick, cli.registry, local_ca.signer, local_ca.clock)
    await impatient.ocsp.load_issuers()
    revocation = Revocation(cli.registry, local_ca.clock, impatient)
    with pytest.raises(CAError) as caught:
        await revocation.revoke(serial, CRLReason.keyCompromise, "o")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert server.status.feed.node in caught.value.message
    # The change itself is recorded; once the process polls, it serves it.
    await server.status.feed.poll()
    assert (await server.ask(serial)).status is ocsp.CertStatus.REVOKED


async def test_unknown_answers_are_remembered_briefly(one: Node, local_ca: LocalCA) -> None:
    never = format(0xBAD5E71A1, "x")
    assert (await one.ask(never)).status is ocsp.CertStatus.UNKNOWN
    signatures = local_ca.signer.calls
    assert (await one.ask(never)).status is ocsp.CertStatus.UNKNOWN
    assert local_ca.signer.calls == signatures  # the same answer, not a new signature
    local_ca.clock.advance(seconds=61)  # ocsp.unknown_max_age_seconds = 60
    assert (await one.ask(never)).status is ocsp.CertStatus.UNKNOWN
    assert local_ca.signer.calls == signatures + 1


async def test_nonce_answers_are_signed_from_memory_without_a_task(one: Node) -> None:
    """RFC 8954: the nonce is echoed in a response signed for this request; a certificate
    whose status is in memory needs no registry read (the listener chains the future)."""
    responder = one.status.ocsp
    serial = await one.issue("fresh")
    await one.revocation.suspend(serial, "o")
    request = responder.parse(one.request(serial, nonce=b"n" * 32))
    assert request is not None
    answer = responder.fresh_from_memory(request)
    assert answer is not None
    status, singles, echoed = ocsp.parse_ocsp_response((await answer.wait()).der)
    assert (status, echoed) == (ocsp.OCSPResponseStatus.successful, b"n" * 32)
    assert (singles[0].status, singles[0].revocation_reason) == (ocsp.CertStatus.REVOKED, 6)
    never = responder.parse(one.request(format(0xDEAD, "x"), nonce=b"m"))
    assert never is not None and responder.fresh_from_memory(never) is None  # registry first
    assert (await one.ask(format(0xDEAD, "x"), nonce=b"m")).status is ocsp.CertStatus.UNKNOWN


async def test_live_answers_follow_changes_within_one_second(one: Node) -> None:
    """Live SingleResponses are remembered for the current second (the clock stands still
    here): a status change in that second is still answered at once."""
    serial = await one.issue("busy")
    assert (await one.ask(serial, nonce=b"1")).status is ocsp.CertStatus.GOOD
    assert (await one.ask(serial, nonce=b"2")).status is ocsp.CertStatus.GOOD
    await one.revocation.suspend(serial, "o")
    held = await one.ask(serial, nonce=b"3")
    assert (held.status, held.revocation_reason) == (ocsp.CertStatus.REVOKED, 6)
    await one.revocation.resume(serial, "o")
    assert (await one.ask(serial, nonce=b"4")).status is ocsp.CertStatus.GOOD


class SwitchableSigner:
    """The test CA's signer, or a pipeline that is full (SignerBusy at once) or whose
    signer fails (the future fails with HSMError)."""

    def __init__(self, signer: CertificateSigner) -> None:
        self.signer, self.failure = signer, ""

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        if self.failure == "busy":
            raise SignerBusy("signing queue is full")
        if self.failure == "fails":
            future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            future.set_exception(HSMError("token removed"))
            return future
        return self.signer.submit(key, data)

    def submit_verified(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        return self.signer.submit_verified(key, data)


@pytest.mark.parametrize("failure", ["busy", "fails"])
async def test_a_busy_or_failing_pipeline_answers_try_later(
    local_ca: LocalCA, failure: str
) -> None:
    """RFC 6960 4.2.1: tryLater, and the pre-signed answers still come from memory."""
    signer = SwitchableSigner(local_ca.signer)
    one = await node(local_ca, local_ca.registry, serving=True, builder=True, signer=signer)
    serial = await one.issue("busy")
    signer.failure = failure
    answer = await one.status.ocsp.answer(one.request(serial, nonce=b"n"))
    assert ocsp.parse_ocsp_response(answer.der)[0] is ocsp.OCSPResponseStatus.tryLater
    assert answer.max_age == 0
    assert (await one.ask(serial)).status is ocsp.CertStatus.GOOD


async def test_the_responder_certificate_is_renewed_and_responses_re_signed(
    local_ca: LocalCA,
) -> None:
    async def renew(generation: CAGeneration) -> None:
        await issue_ocsp_responder(
            local_ca.settings, local_ca.backend, local_ca.authority, generation,
            local_ca.clock(), "test",
        )  # fmt: skip

    status = StatusPublication(
        local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
        serving=True, builder=True, renew_responder=renew,
    )  # fmt: skip
    await status.ocsp.load_issuers()
    await status.ocsp.sign_missing()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer,
                          local_ca.clock, status)  # fmt: skip
    generation = await authority.generation()
    me = Node(local_ca.registry, status, authority, Revocation(local_ca.registry, local_ca.clock,
              status), generation.certificate_der)  # fmt: skip
    serial = await me.issue("a")

    async def responder_of_answer() -> bytes:
        ca = asn1_x509.Certificate.load(me.ca_der)
        cert_id = ocsp.cert_id_for(ca.subject.dump(), ca.public_key.dump(), int(serial, 16))
        request = x509_ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            cert_id.issuer_name_hash, cert_id.issuer_key_hash, cert_id.serial, hashes.SHA1()
        )
        answer = await status.ocsp.answer(request.build().public_bytes(Encoding.DER))
        response = x509_ocsp.load_der_ocsp_response(answer.der)
        responder = response.certificates[0]
        responder.public_key().verify(  # type: ignore[call-arg, union-attr]
            response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
        )
        return responder.fingerprint(hashes.SHA256())

    first = await responder_of_answer()
    await status.maintain_ocsp()
    assert await responder_of_answer() == first  # not due yet
    local_ca.clock.advance(days=21)  # 30-day responder, renewed 10 days before its end
    await status.maintain_ocsp()
    assert await responder_of_answer() != first
    responders = await local_ca.registry.search.certificates(
        None, "ocsp-responder", None, 100, None
    )
    assert len(responders) == 2


async def test_partitioned_crls_each_list_their_own_shard(local_ca: LocalCA) -> None:
    settings = load_settings(local_ca.settings.home, {"CA_CRL__SHARDS": "3"})
    status = StatusPublication(settings, local_ca.registry, local_ca.signer, local_ca.clock,
                               builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(settings, local_ca.registry, local_ca.signer, local_ca.clock, status)
    revocation = Revocation(local_ca.registry, local_ca.clock, status)
    serials = []
    for n in range(12):
        issued = await authority.issue("tls-client", make_csr([("CN", f"c{n}")]), "t")
        certificate = x509.load_der_x509_certificate(issued.der)
        shard = crl_codec.crl_shard(certificate.serial_number, 3)
        cdp = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert cdp[0].full_name[0].value == f"http://127.0.0.1:8080/crl/demo-s{shard}.crl"
        await revocation.revoke(issued.serial, CRLReason.superseded, "o")
        serials.append((certificate.serial_number, shard))
    await status.crls.rebuild()
    for shard in range(3):
        published = status.crls.current(shard, delta=False)
        assert published is not None
        listed = set(crl_codec.parse_crl(published.der).entries)
        assert listed == {serial for serial, s in serials if s == shard}
        idp = x509.load_der_x509_crl(published.der).extensions.get_extension_for_class(
            x509.IssuingDistributionPoint
        )
        assert idp.critical
        assert idp.value.full_name[0].value.endswith(f"/crl/demo-s{shard}.crl")


async def test_only_the_builder_signs_missing_responses_at_start(local_ca: LocalCA) -> None:
    serials = [
        (await local_ca.authority.issue("tls-client", make_csr([("CN", f"s{n}")]), "t")).serial
        for n in range(30)
    ]  # issued without publication: no responses stored yet
    follower = await node(local_ca, local_ca.registry, serving=True, builder=False)
    assert await local_ca.registry.status.last_ocsp_seq() == 0
    builder = await node(local_ca, local_ca.registry, serving=True, builder=True)
    rows = await local_ca.registry.status.ocsp_responses_since(0)
    assert set(serials) <= {row.serial for row in rows}  # (and the responder's own)
    await follower.status.feed.catch_up()
    for serial in serials[:3]:
        assert (await follower.ask(serial)).status is ocsp.CertStatus.GOOD
        assert (await builder.ask(serial)).status is ocsp.CertStatus.GOOD
