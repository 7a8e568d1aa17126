"""The rollover of a CA under a parent outside (regulation K2; issue 15, "for a subordinate,
a new CSR to the parent"): the request for the next generation (a new key, a PKCS#10
request, recorded pending), the import of the parent's answer (the new generation with its
chain, OCSP responder and CMP protection certificate; issuance moves to it, the old one
stays live), and the refusals, each by its exact text with nothing changed. The parent is
made with `cryptography` (tests/subordinate_ca.py), the CA is tests/local_ca.py's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from prometheus_client import CollectorRegistry

from protocols.x509 import extensions as ext
from server.enrollment import root_distribution
from server.errors import CAError, ErrorKind
from server.generations.rollover import RolledOver, rollover
from server.generations.subordinate_rollover import (
    ImportedGeneration,
    NextRequest,
    abandon_next_request,
    import_next_generation,
    request_next_generation,
)
from server.node.key_lifetime import rollover_due
from server.node.scheduled_rollover import SCHEDULED, SCHEDULED_ACTOR, ScheduledRollover
from server.registry import CAGeneration
from server.registry.registry_copy import row_counts
from tests.csr_factory import make_csr
from tests.lint import lint_certificate
from tests.local_ca import LocalCA, settings_for
from tests.subordinate_ca import Parent, SubordinateCA, opened_subordinate_ca
from tests.unit.server.test_ca_certificate_content import RUSSIAN_ENV

SECRET = "test home secret"


@pytest.fixture
async def sub_ca(tmp_path: Path) -> AsyncIterator[SubordinateCA]:
    async with opened_subordinate_ca(tmp_path) as ca:
        yield ca


async def request(local_ca: LocalCA, reason: str = "scheduled") -> NextRequest:
    return await request_next_generation(local_ca.settings, local_ca.registry, local_ca.backend,
                                         local_ca.clock(), "cli:operator", reason)  # fmt: skip


def certified(parent: Parent, made: NextRequest) -> bytes:
    """The parent's certificate for the request."""
    csr = x509.load_der_x509_csr(made.csr_der)
    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    return parent.sign(csr.subject, public_key).public_bytes(Encoding.DER)


def chain_of(sub_ca: SubordinateCA) -> list[bytes]:
    return [p.certificate.public_bytes(Encoding.DER) for p in (sub_ca.intermediate, sub_ca.root)]


async def import_answer(
    sub_ca: SubordinateCA, certificate: bytes, chain: list[bytes]
) -> ImportedGeneration:
    local_ca = sub_ca.local_ca
    return await import_next_generation(local_ca.settings, local_ca.registry, local_ca.backend,
                                        local_ca.authority, certificate, chain, local_ca.clock(),
                                        SECRET, "cli:operator")  # fmt: skip


def key_files(local_ca: LocalCA) -> list[str]:
    return sorted(p.name for p in (local_ca.settings.home / "keys").iterdir())


async def test_k2_request_makes_a_new_key_and_a_request_with_the_cas_subject(
    sub_ca: SubordinateCA,
) -> None:
    local_ca = sub_ca.local_ca
    keys = key_files(local_ca)
    current = await local_ca.registry.active_generation("demo")
    assert current is not None
    # with the Russian profile's content, which the parent's tools complete (RFC 9215 5.4)
    russian = settings_for(local_ca.settings.home, CA_CA__SUBJECT='"CN=Sub CA,O=Test,C=RU"',
                           **RUSSIAN_ENV)  # fmt: skip
    made = await request_next_generation(russian, local_ca.registry, local_ca.backend,
                                         local_ca.clock(), "cli:operator", "scheduled")  # fmt: skip
    assert len(key_files(local_ca)) == len(keys) + 1
    csr = x509.load_der_x509_csr(made.csr_der)
    assert csr.is_signature_valid
    assert csr.subject == x509.load_der_x509_certificate(current.certificate_der).subject
    spki = csr.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert spki == local_ca.backend.public_key_der(made.key)
    # RFC 2986 5.4.2: what a CA certificate of ours carries, but what only the issuer says
    requested = csr.extensions
    assert requested.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = requested.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    key_id = requested.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert key_id == ext.key_identifier(spki)
    oids = {e.oid.dotted_string for e in requested}
    assert ext.ID_SUBJECT_SIGN_TOOL in oids
    assert x509.AuthorityKeyIdentifier.oid.dotted_string not in oids
    assert ext.ID_ISSUER_SIGN_TOOL not in oids
    pending = await local_ca.registry.ca_requests.pending("demo")
    assert pending is not None
    assert (pending.id, pending.rolled_from, pending.key_uri, pending.csr_der) == (
        made.id, current.id, made.key.uri, made.csr_der)  # fmt: skip
    [entry] = [e for e in await local_ca.registry.search.audit_entries(100, None)
               if e.action == "ca.generation.request"]  # fmt: skip
    assert (entry.actor, entry.target, entry.details["reason"]) == (
        "cli:operator", f"request {made.id}", "scheduled")  # fmt: skip
    assert [g.id for g in await local_ca.registry.generations("demo")] == [current.id]


async def test_k2_a_second_request_while_one_is_pending_is_refused_and_makes_no_key(
    sub_ca: SubordinateCA,
) -> None:
    local_ca = sub_ca.local_ca
    await request(local_ca)
    keys, rows = key_files(local_ca), await row_counts(local_ca.registry)
    with pytest.raises(CAError) as refused:
        await request(local_ca)
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED,
        "CA 'demo' has a request for its next generation pending already: import the "
        "parent's certificate for it (import-ca-cert), write its CSR again (rollover --csr "
        "FILE) or abandon it (rollover --abandon); nothing was made",
    )
    assert key_files(local_ca) == keys
    assert await row_counts(local_ca.registry) == rows


async def test_k2_a_self_signed_ca_makes_no_request(local_ca: LocalCA) -> None:
    """A self-signed CA rolls over with link certificates (server/generations/rollover.py)."""
    keys, rows = key_files(local_ca), await row_counts(local_ca.registry)
    with pytest.raises(CAError) as refused:
        await request(local_ca)
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED,
        "generation 1 of CA 'demo' is self-signed: it rolls over to a new self-signed "
        "certificate with link certificates (rollover without --csr), not by a request to a "
        "parent; nothing was made",
    )
    assert key_files(local_ca) == keys
    assert await row_counts(local_ca.registry) == rows


async def test_k2_k3_import_moves_issuance_to_the_new_generation_and_keeps_the_old_live(
    sub_ca: SubordinateCA,
) -> None:
    local_ca = sub_ca.local_ca
    old_leaf = await local_ca.authority.issue("tls-client", make_csr([("CN", "old")]), "t")
    made = await request(local_ca, reason="key usage ends")
    local_ca.clock.advance(days=2)  # the parent took its time
    certificate = certified(sub_ca.intermediate, made)
    done = await import_answer(sub_ca, certificate, chain_of(sub_ca))

    assert (done.old.id, done.new.id) == (1, 2)
    assert done.new.certificate_der == certificate
    assert done.new.parent_chain == tuple(chain_of(sub_ca))
    assert done.new.key_uri == made.key.uri
    generations = await local_ca.registry.generations("demo")
    assert [(g.id, g.state) for g in generations] == [(1, "active"), (2, "active")]
    active = await local_ca.registry.active_generation("demo")
    assert active is not None and active.id == 2
    requests = await local_ca.registry.ca_requests.requests("demo")
    assert [(r.state, r.generation_id) for r in requests] == [("imported", 2)]
    [entry] = [e for e in await local_ca.registry.search.audit_entries(100, None)
               if e.action == "ca.generation.rollover"]  # fmt: skip
    assert entry.details == {"ca": "demo", "from": 1, "to": 2, "reason": "key usage ends",
                             "request": made.id}  # fmt: skip

    # RFC 6960 4.2.2.2: the new generation's own responder, signed by the new key
    responder = await local_ca.registry.ocsp_responder(2)
    assert responder is not None and responder[0] == done.responder_serial
    record = await local_ca.registry.get_certificate(done.responder_serial)
    assert record is not None and record.der is not None
    responder_certificate = x509.load_der_x509_certificate(record.der)
    responder_certificate.verify_directly_issued_by(x509.load_der_x509_certificate(certificate))
    assert lint_certificate(record.der) == []
    cmp_record = await local_ca.registry.get_certificate(done.cmp_serial)
    assert cmp_record is not None and cmp_record.generation_id == 2

    new_leaf = await local_ca.authority.issue("tls-client", make_csr([("CN", "new")]), "t")
    issued = x509.load_der_x509_certificate(new_leaf.der)
    issued.verify_directly_issued_by(x509.load_der_x509_certificate(certificate))
    aki = issued.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == done.new.key_id
    assert new_leaf.issuer_chain == tuple(chain_of(sub_ca))
    old = await local_ca.registry.get_certificate(old_leaf.serial)
    assert old is not None and old.generation_id == 1  # K3: nothing issued before changes
    # RFC 7030 4.1.3: both live generations, then the parent's chain once
    handed = await root_distribution.ca_certificates(local_ca.registry, "demo", local_ca.clock())
    assert handed == [generations[0].certificate_der, certificate, *chain_of(sub_ca)]


def _import_refusals() -> list[tuple[str, str]]:
    return [
        ("another key", "the certificate does not certify this CA's pending key"),
        ("not a CA", "the certificate is not a CA certificate (basicConstraints cA)"),
        ("no root", "the chain does not hold the issuer 'CN=Head Root,O=Head,C=RU' of "
         "'CN=Head Issuing,O=Head,C=RU'"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "error"), _import_refusals(), ids=[c for c, _ in _import_refusals()]
)
async def test_rfc5280_6_1_a_refused_import_changes_nothing(
    sub_ca: SubordinateCA, case: str, error: str
) -> None:
    local_ca = sub_ca.local_ca
    made = await request(local_ca)
    csr = x509.load_der_x509_csr(made.csr_der)
    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    chain = chain_of(sub_ca)
    if case == "another key":
        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        certificate = sub_ca.intermediate.sign(csr.subject, other)
    elif case == "not a CA":
        certificate = sub_ca.intermediate.sign(csr.subject, public_key, ca=False)
    else:
        certificate = sub_ca.intermediate.sign(csr.subject, public_key)
        chain = chain[:1]
    keys, rows = key_files(local_ca), await row_counts(local_ca.registry)
    with pytest.raises(CAError) as refused:
        await import_answer(sub_ca, certificate.public_bytes(Encoding.DER), chain)
    assert (refused.value.kind, refused.value.message) == (ErrorKind.REJECTED, error)
    assert key_files(local_ca) == keys
    assert await row_counts(local_ca.registry) == rows
    pending = await local_ca.registry.ca_requests.pending("demo")
    assert pending is not None and pending.id == made.id


async def test_k2_an_import_without_a_pending_request_is_refused(sub_ca: SubordinateCA) -> None:
    local_ca = sub_ca.local_ca
    generation = await local_ca.registry.active_generation("demo")
    assert generation is not None
    rows = await row_counts(local_ca.registry)
    with pytest.raises(CAError) as refused:
        await import_answer(sub_ca, generation.certificate_der, chain_of(sub_ca))
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED,
        "CA 'demo' has no pending request for a new generation (rollover --csr FILE makes "
        "one); nothing was changed",
    )
    assert await row_counts(local_ca.registry) == rows


async def test_k2_an_abandoned_request_loses_its_key_and_makes_room_for_another(
    sub_ca: SubordinateCA,
) -> None:
    local_ca = sub_ca.local_ca
    keys = key_files(local_ca)
    made = await request(local_ca)
    abandoned = await abandon_next_request(local_ca.settings, local_ca.registry,
                                           local_ca.backend, local_ca.clock(),
                                           "cli:operator")  # fmt: skip
    assert abandoned.id == made.id
    assert key_files(local_ca) == keys
    assert await local_ca.registry.ca_requests.pending("demo") is None
    again = await request(local_ca)
    assert again.id != made.id


def duty(local_ca: LocalCA, metrics: CollectorRegistry) -> ScheduledRollover:
    """The duty over the CA, rolling over (or requesting) as server/context.py has it."""

    async def roll(generation: CAGeneration) -> RolledOver | NextRequest:
        if generation.parent_chain:
            return await request_next_generation(local_ca.settings, local_ca.registry,
                                                 local_ca.backend, local_ca.clock(),
                                                 SCHEDULED_ACTOR, SCHEDULED,
                                                 rolled_from=generation.id)  # fmt: skip
        return await rollover(local_ca.settings, local_ca.registry, local_ca.backend,
                              local_ca.authority, local_ca.clock(), SECRET, SCHEDULED_ACTOR,
                              SCHEDULED, rolled_from=generation.id)  # fmt: skip

    return ScheduledRollover(local_ca.settings.ca, local_ca.registry, roll, local_ca.clock,
                             metrics)  # fmt: skip


async def test_k2_duty_makes_exactly_one_request_when_a_subordinates_rollover_is_due(
    sub_ca: SubordinateCA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.rollover")
    local_ca = sub_ca.local_ca
    first = await local_ca.registry.active_generation("demo")
    assert first is not None
    metrics = CollectorRegistry()
    scheduled = duty(local_ca, metrics)
    due = rollover_due(local_ca.settings.ca, first)
    local_ca.clock.now = due - timedelta(seconds=1)
    assert await scheduled.rollover_if_due() is None
    assert await local_ca.registry.ca_requests.requests("demo") == []

    local_ca.clock.now = due
    made = await scheduled.rollover_if_due()
    assert isinstance(made, NextRequest)
    for _ in range(3):  # the next hourly checks, or a retry after a crash
        local_ca.clock.advance(hours=1)
        assert await scheduled.rollover_if_due() is None
    [pending] = await local_ca.registry.ca_requests.requests("demo")
    assert (pending.id, pending.state, pending.actor, pending.reason) == (
        made.id, "pending", "ca:scheduled-rollover", "scheduled")  # fmt: skip
    assert [g.id for g in await local_ca.registry.generations("demo")] == [1]
    assert metrics.get_sample_value("ca_generation_requests_total", {"reason": "scheduled"}) == 1
    assert metrics.get_sample_value("ca_rollovers_total", {"reason": "scheduled"}) is None
    [record] = [r for r in caplog.records if r.name == "server.rollover"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"scheduled rollover (K2): CA 'demo' generation 1 (key usable until "
        f"{first.not_after:%Y-%m-%d}) was certified by a parent CA outside: request {made.id} "
        "for its next generation made; write it with `python -m server rollover --home HOME "
        "--csr FILE`, have the parent certify it, then `python -m server import-ca-cert "
        "--home HOME --cert FILE --chain FILE`"
    )

    # the parent's answer imported: generation 2 issues and is not due
    csr = x509.load_der_x509_csr(made.csr_der)
    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    answer = sub_ca.intermediate.sign(csr.subject, public_key,
                                      not_after=local_ca.clock() + timedelta(days=730))  # fmt: skip
    await import_answer(sub_ca, answer.public_bytes(Encoding.DER), chain_of(sub_ca))
    assert await scheduled.rollover_if_due() is None
    assert [g.id for g in await local_ca.registry.generations("demo")] == [1, 2]
    assert len(await local_ca.registry.ca_requests.requests("demo")) == 1
