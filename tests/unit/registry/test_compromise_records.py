"""The registry's side of a CA key compromise (K4), on both engines: record_compromise in
one transaction, the CA's own certificates listed in the new generation's CRL snapshot, the
refusal of a generation no longer active, and the revocation of a page of certificates in
one transaction."""

from __future__ import annotations

import dataclasses

import pytest

from server.errors import CAError, ErrorKind
from server.registry import (
    AuditEvent,
    CertificateStatus,
    StatusBasis,
    StatusChange,
    StatusChangeKind,
)
from server.registry.registry import Registry
from server.registry.registry_copy import row_counts
from tests.unit.registry.test_registry import NOW, OWNER, a_generation, a_rollover, intent

ENTRIES = [("c1", b"entry-c1"), ("c21", b"entry-c21"), ("c22", b"entry-c22")]


async def test_k4_a_compromise_is_recorded_and_listed_by_the_new_generation(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    second = await registry.record_rollover(a_rollover(first, "c2"), NOW)
    compromise = dataclasses.replace(a_rollover(first, "c3"), links=(), reason="report 7")
    new = await registry.record_compromise(compromise, ENTRIES, "revoke", NOW)
    states = {g.id: g.state for g in await registry.generations("demo")}
    assert states == {first: "compromised", second: "active", new: "active"}
    assert [link.serial for link in await registry.links("demo")] == ["c21", "c22"]
    _, listed = await registry.status.crl_snapshot(new, NOW)
    assert sorted(listed) == ENTRIES
    for other in (first, second):
        assert (await registry.status.crl_snapshot(other, NOW))[1] == []
    [entry] = [e for e in await registry.search.audit_entries(100, None)
               if e.action == "ca.generation.compromise"]  # fmt: skip
    assert (entry.actor, entry.target) == ("cli:operator", "c3")
    assert entry.details == {"ca": "demo", "generation": first, "to": new,
                             "grounds": "report 7", "revoked": ["c1", "c21", "c22"],
                             "certificates": "revoke"}  # fmt: skip
    assert (await registry.verify_audit_chain()).intact


async def test_k4_a_generation_no_longer_active_is_refused_with_nothing_recorded(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    compromise = dataclasses.replace(a_rollover(first, "c3"), links=(), reason="report 7")
    await registry.record_compromise(compromise, ENTRIES[:1], "mark", NOW)
    before = await row_counts(registry)
    again = dataclasses.replace(a_rollover(first, "c4"), links=(), reason="report 8")
    with pytest.raises(CAError) as refused:
        await registry.record_compromise(again, [("c1", b"e")], "mark", NOW)
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED,
        f"generation {first} of CA 'demo' is compromised, not active: only a live generation's"
        " key can be declared compromised; nothing was recorded",
    )
    assert await row_counts(registry) == before


async def test_k4_a_page_of_certificates_is_revoked_in_one_transaction(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    for n, serial in enumerate(("a1", "a2", "a3")):
        certificate = dataclasses.replace(intent(serial, bytes([n + 1])), generation_id=first)
        await registry.record_intent(certificate, NOW, OWNER, "test")
        await registry.complete_issue(serial, b"der", "test", NOW, AuditEvent("t", "issue", serial))
    page = await registry.unrevoked_certificates(first, "", 2, NOW)
    assert [r.serial for r in page] == ["a1", "a2"]
    assert [r.serial for r in await registry.unrevoked_certificates(first, "a2", 2, NOW)] == ["a3"]

    def revoke(serial: str) -> StatusChange:
        return StatusChange(serial, StatusChangeKind.REVOKE, "cACompromise", NOW, None,
                            "officer", NOW, StatusBasis.CA_DECISION, "report 7")  # fmt: skip

    await registry.revoke_many([(revoke("a2"), b"entry-a2", None)], AuditEvent("o", "x", "a2"))
    audit = AuditEvent("officer", "certificate.revoke.compromise", "generation 1")
    changes = [(revoke(s), f"entry-{s}".encode(), None) for s in ("a1", "a2", "a3")]
    assert await registry.revoke_many(changes, audit) == 2  # a2 was revoked meanwhile
    for serial in ("a1", "a3"):
        record = await registry.get_certificate(serial)
        assert record is not None and record.status is CertificateStatus.REVOKED
        [*_, last] = await registry.status_history(serial)
        assert (last.reason, last.basis, last.grounds) == (
            "cACompromise", StatusBasis.CA_DECISION, "report 7")  # fmt: skip
    assert len(await registry.status_history("a2")) == 2  # issue, one revocation
    _, listed = await registry.status.crl_snapshot(first, NOW)
    assert sorted(listed) == [("a1", b"entry-a1"), ("a2", b"entry-a2"), ("a3", b"entry-a3")]
    assert await registry.unrevoked_certificates(first, "", 10, NOW) == []
    actions = [e.action for e in await registry.search.audit_entries(100, None)]
    assert actions.count("certificate.revoke.compromise") == 1
