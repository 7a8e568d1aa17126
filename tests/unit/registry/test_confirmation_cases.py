"""The registry's side of confirmation cases (regulation 8.2, V3; migration 0026), on both
engines: a case with its files' names, sizes and hashes and its audit entry; assigned while
unanswered; answered once, by the expert it is assigned to; overdue while unanswered past
its due date; and the accounts' new `expert` role."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

import pytest

from server.errors import CAError
from server.registry import AuditEvent
from server.registry.records import AccountRow, ConfirmationCaseRow, ConfirmationFile
from server.registry.registry import Registry
from server.registry.registry_copy import row_counts
from tests.unit.registry.test_registry import NOW

FILES = (
    ConfirmationFile("document", "договор.pdf", 5, hashlib.sha256(b"hello").digest()),
    ConfirmationFile("signature", "договор.pdf.sig", 3, hashlib.sha256(b"sig").digest()),
)


def a_case(case_id: str = "cc-1", due_in_days: int = 40) -> ConfirmationCaseRow:
    return ConfirmationCaseRow(
        id=case_id, kind="signature", submitter="Иванов И. И.", questions="Подлинна ли подпись?",
        received_by="api:op", received_at=NOW, due_at=NOW + timedelta(days=due_in_days),
        files_until=NOW + timedelta(days=1825), state="registered",
        check_report='{"verdict": "valid"}', files=FILES,
    )  # fmt: skip


async def entries(registry: Registry, action: str) -> list[AuditEvent]:
    return [
        AuditEvent(e.actor, e.action, e.target, e.details)
        for e in await registry.search.audit_entries(100, None)
        if e.action == action
    ]


async def test_v3_a_case_is_stored_with_its_files_hashes_and_its_audit_entry(
    registry: Registry,
) -> None:
    audit = AuditEvent("api:op", "confirmation.register", "cc-1", {"files": ["document"]})
    await registry.confirmation_cases.add(a_case(), audit)
    assert await registry.confirmation_cases.get("cc-1") == a_case()
    assert await registry.confirmation_cases.get("cc-2") is None
    assert await registry.confirmation_cases.by_state("registered", 10) == [a_case()]
    assert await registry.confirmation_cases.by_state("answered", 10) == []
    assert await entries(registry, "confirmation.register") == [audit]


async def test_v3_a_case_is_assigned_until_answered_and_answered_once_by_its_expert(
    registry: Registry,
) -> None:
    store = registry.confirmation_cases
    await store.add(a_case(), AuditEvent("api:op", "confirmation.register", "cc-1"))
    later = NOW + timedelta(hours=1)
    assign = AuditEvent("api:officer", "confirmation.assign", "cc-1", {"expert": "anna"})
    assert await store.assign("cc-1", "anna", "api:officer", later, assign)
    assert await store.assign("cc-1", "boris", "api:officer", later, assign)  # reassigned
    before = await row_counts(registry)
    answer = AuditEvent("api:anna", "confirmation.answer", "cc-1")
    assert not await store.answer("cc-1", "anna", "{}", later, answer)  # boris has it now
    assert await row_counts(registry) == before
    assert await store.answer("cc-1", "boris", '{"conclusion": "да"}', later, answer)
    answered = await store.get("cc-1")
    assert answered == dataclasses.replace(
        a_case(), state="answered", expert="boris", assigned_by="api:officer",
        assigned_at=later, expert_report='{"conclusion": "да"}', answered_at=later,
    )  # fmt: skip
    before = await row_counts(registry)
    assert not await store.answer("cc-1", "boris", "{}", later, answer)
    assert not await store.assign("cc-1", "anna", "api:officer", later, assign)
    assert await row_counts(registry) == before
    assert await store.get("cc-1") == answered


async def test_v3_unanswered_cases_past_their_due_date_are_overdue(registry: Registry) -> None:
    store = registry.confirmation_cases
    for case_id, days in (("cc-late", 1), ("cc-later", 2), ("cc-answered", 1), ("cc-new", 30)):
        await store.add(a_case(case_id, days), AuditEvent("op", "confirmation.register", case_id))
    audit = AuditEvent("officer", "confirmation.assign", "cc-answered")
    await store.assign("cc-answered", "anna", "officer", NOW, audit)
    await store.answer("cc-answered", "anna", "{}", NOW, audit)
    await store.assign("cc-later", "anna", "officer", NOW, audit)
    now = NOW + timedelta(days=3)
    assert [row.id for row in await store.overdue(now, 10)] == ["cc-late", "cc-later"]
    assert [row.id for row in await store.overdue(now, 1)] == ["cc-late"]
    assert await store.count_overdue(now) == 2
    assert await store.count_overdue(NOW) == 0


async def test_v3_the_accounts_take_the_expert_role_and_no_unknown_one(registry: Registry) -> None:
    expert = AccountRow("ac-1", "anna", "expert", NOW, "cli:admin", has_token=True)
    made = AuditEvent("cli:admin", "account.create", "anna")
    await registry.accounts.add(expert, b"t" * 32, made)
    assert await registry.accounts.by_name("anna") == expert
    assert await registry.accounts.by_token(b"t" * 32) == expert
    before = await row_counts(registry)
    stranger = AccountRow("ac-2", "boris", "judge", NOW, "cli:admin")
    with pytest.raises(CAError):
        await registry.accounts.add(stranger, b"u" * 32, AuditEvent("cli:admin", "a", "boris"))
    assert await row_counts(registry) == before
