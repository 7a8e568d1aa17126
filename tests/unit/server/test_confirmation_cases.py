"""Confirmation cases (regulation 8.2, SEED-MAP V3; server/confirmation/cases.py): a case is
due 30 working days after receipt on the RA's calendar, keeps its files in the home and
their hashes in the registry, is assigned by an officer to an expert and answered by that
expert alone with a checked report, read back from its PDF with poppler's pdftotext (every
field V3 lists, in Russian; page 1 rendered to PNG for a person to look at); every other
caller is refused with nothing changed; unanswered cases past their due date are listed
and counted."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from server.accounts import Accounts, Requester, Role
from server.confirmation.cases import ConfirmationCases, SubmittedFile
from server.confirmation.report import Cause, ConfirmationReport
from server.confirmation.report_pdf import report_pdf
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.registry import Registry
from server.registry.registry_copy import row_counts
from tests.local_ca import Clock, settings_for
from tests.pdf_reading import page_one_png, pdf_text

RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday, 15:00 in Moscow
OPERATOR = Requester("api:op", Role.OPERATOR)
OFFICER = Requester("api:officer", Role.OFFICER)
AUDITOR = Requester("api:auditor", Role.AUDITOR)
ADMIN = Requester("api:admin", Role.ADMIN)
ANNA = Requester("api:anna", Role.EXPERT)
BORIS = Requester("api:boris", Role.EXPERT)
DOCUMENT = SubmittedFile("document", "договор.pdf", b"%PDF-1.7 the contract\r\n")
SIGNATURE = SubmittedFile("signature", "договор.pdf.sig", b"\x30\x82 a CMS signature")
QUESTIONS = "Подписан ли договор действительной электронной подписью?"
CHECK = ConfirmationReport(
    kind="signature",
    checked_at=RECEIVED,
    causes=(Cause("revoked-before-signing", "the signer's certificate was revoked"),),
    facts={"signer_serial": "1a2b"},
)
FINDINGS = {
    "place": "Москва, ул. Примерная, д. 1, удостоверяющий центр",
    "started_at": "2026-12-01T09:00:00+03:00",
    "finished_at": "2026-12-02T17:30:00+03:00",
    "grounds": "Обращение заявителя от 28.11.2026; Регламент УЦ, раздел 8.2",
    "expert_name": "Петрова Анна Сергеевна",
    "expert_position": "ведущий эксперт по электронной подписи",
    "methods": "Проверка подписи CMS по RFC 5652; проверка цепочки сертификатов по RFC 5280",
    "findings": "Сертификат подписанта отозван до времени подписания.",
    "conclusion": "Электронная подпись недействительна.",
}


@dataclass
class Desk:
    cases: ConfirmationCases
    registry: Registry
    clock: Clock
    metrics: CollectorRegistry
    files: Path


async def open_desk(home: Path, **env: str) -> AsyncIterator[Desk]:
    settings = settings_for(home, **env)
    registry = await open_registry(settings)
    clock, metrics = Clock(RECEIVED), CollectorRegistry()
    try:
        accounts = Accounts(registry, clock)
        for name in ("anna", "boris"):
            await accounts.create(name, Role.EXPERT, ADMIN)
        await accounts.create("clerk", Role.OPERATOR, ADMIN)
        cases = ConfirmationCases(settings, registry, clock, metrics)
        yield Desk(cases, registry, clock, metrics, home / "confirmations")
    finally:
        await registry.close()


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async for opened in open_desk(tmp_path):
        yield opened


async def refused(call: Awaitable[Any]) -> tuple[ErrorKind, str]:
    with pytest.raises(CAError) as error:
        await call
    return error.value.kind, error.value.message


async def a_case(desk: Desk) -> str:
    return (await desk.cases.register("Иванов И. И.", QUESTIONS, [DOCUMENT, SIGNATURE],
                                      CHECK, OPERATOR)).id  # fmt: skip


async def test_v3_a_case_is_due_30_working_days_after_receipt_on_the_ras_calendar(
    tmp_path: Path,
) -> None:
    """Received on Saturday 28 November 2026: the 30 working days run from Monday 30
    November over the New Year holidays (1-8 January, Labour Code art. 112) to Monday 18
    January 2027; a day off the RA's settings add (ra.holidays: 31 December) moves it to
    the 19th. Due at the end of that day, Moscow time."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async for desk in open_desk(tmp_path / "a"):
        row = await desk.cases.register("Иванов", QUESTIONS, [SIGNATURE], CHECK, OPERATOR)
        assert row.due_at == datetime(2027, 1, 18, 21, 0, tzinfo=UTC)
        assert row.files_until == datetime(2031, 11, 27, 12, 0, tzinfo=UTC)  # 1825 days
    async for desk in open_desk(tmp_path / "b", CA_RA__HOLIDAYS='["2026-12-31"]'):
        row = await desk.cases.register("Иванов", QUESTIONS, [SIGNATURE], CHECK, OPERATOR)
        assert row.due_at == datetime(2027, 1, 19, 21, 0, tzinfo=UTC)


async def test_v3_a_case_keeps_its_files_in_the_home_and_their_hashes_in_the_registry(
    desk: Desk,
) -> None:
    case_id = await a_case(desk)
    row = await desk.cases.get(case_id, AUDITOR)
    assert (row.kind, row.state, row.received_by) == ("signature", "registered", "api:op")
    assert [(f.role, f.name, f.size, f.sha256) for f in row.files] == [
        (f.role, f.name, len(f.content), hashlib.sha256(f.content).digest())
        for f in (DOCUMENT, SIGNATURE)
    ]
    assert json.loads(row.check_report) == CHECK.as_dict()
    folder = desk.files / case_id
    assert (folder / "document").read_bytes() == DOCUMENT.content
    assert (folder / "signature").read_bytes() == SIGNATURE.content
    assert stat.S_IMODE(desk.files.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "signature").stat().st_mode) == 0o600
    [entry] = [e for e in await desk.registry.search.audit_entries(100, None)
               if e.action == "confirmation.register"]  # fmt: skip
    assert (entry.actor, entry.target) == ("api:op", case_id)
    assert entry.details == {
        "kind": "signature", "verdict": "invalid", "due_at": "2027-01-18T21:00:00+00:00",
        "files": [{"role": f.role, "size": len(f.content),  # no names: they may name a person
                   "sha256": hashlib.sha256(f.content).hexdigest()}
                  for f in (DOCUMENT, SIGNATURE)],
    }  # fmt: skip


async def test_v3_a_certificate_case_takes_a_certificate_and_a_signature_case_a_signature(
    desk: Desk,
) -> None:
    certificate = SubmittedFile("certificate", "ca.cer", b"0\x82 a certificate")
    before = await row_counts(desk.registry)
    for files, check, message in (
        ([DOCUMENT], CHECK, "a signature case takes the files: signature, optionally document"),
        ([SIGNATURE, SIGNATURE], CHECK,
         "a signature case takes the files: signature, optionally document"),
        ([SIGNATURE, certificate], CHECK,
         "a signature case takes the files: signature, optionally document"),
        ([SubmittedFile("signature", "s", b"")], CHECK, "signature: the file is empty"),
        ([SubmittedFile("signature", " ", b"x")], CHECK,
         "signature: a file name of 1..255 characters"),
        ([SIGNATURE], ConfirmationReport("certificate", RECEIVED, ()),
         "a certificate case takes the files: certificate"),
    ):  # fmt: skip
        registering = desk.cases.register("Иванов", QUESTIONS, files, check, OPERATOR)
        assert await refused(registering) == (ErrorKind.MALFORMED, message)
    assert await refused(desk.cases.register(" ", QUESTIONS, [SIGNATURE], CHECK, OPERATOR)) == (
        ErrorKind.MALFORMED, "submitter: a text is required")  # fmt: skip
    assert await refused(desk.cases.register("И", "?" * 8001, [SIGNATURE], CHECK, OPERATOR)) == (
        ErrorKind.MALFORMED, "questions: longer than 8000 characters")  # fmt: skip
    assert await row_counts(desk.registry) == before
    assert not desk.files.exists() or not any(desk.files.iterdir())
    s11 = ConfirmationReport("certificate", RECEIVED, ())
    row = await desk.cases.register("Иванов", QUESTIONS, [certificate], s11, ANNA)
    assert (row.kind, [f.role for f in row.files], row.received_by) == (
        "certificate", ["certificate"], "api:anna")  # fmt: skip


async def test_v3_only_the_roles_allowed_act_and_a_refusal_changes_nothing(desk: Desk) -> None:
    case_id = await a_case(desk)
    before = await row_counts(desk.registry)
    for requester in (OFFICER, AUDITOR, ADMIN):
        assert await refused(
            desk.cases.register("Иванов", QUESTIONS, [SIGNATURE], CHECK, requester)
        ) == (ErrorKind.UNAUTHORIZED,
              "registering a confirmation case needs the expert or operator role")  # fmt: skip
    for requester in (OPERATOR, AUDITOR, ADMIN, ANNA):
        assert await refused(desk.cases.assign(case_id, "anna", requester)) == (
            ErrorKind.UNAUTHORIZED,
            "assigning a confirmation case needs the officer role",
        )
    for requester in (OPERATOR, OFFICER, AUDITOR, ADMIN):
        assert await refused(desk.cases.answer(case_id, FINDINGS, requester)) == (
            ErrorKind.UNAUTHORIZED,
            "answering a confirmation case needs the expert role",
        )
    readers = "reading confirmation cases needs the auditor, expert, officer or operator role"
    assert await refused(desk.cases.get(case_id, ADMIN)) == (ErrorKind.UNAUTHORIZED, readers)
    assert await refused(desk.cases.by_state(None, ADMIN)) == (ErrorKind.UNAUTHORIZED, readers)
    assert await refused(desk.cases.overdue(ADMIN)) == (ErrorKind.UNAUTHORIZED, readers)
    assert await refused(desk.cases.answer(case_id, FINDINGS, ANNA)) == (
        ErrorKind.REJECTED, f"case {case_id} is registered, not assigned")  # fmt: skip
    assert await refused(desk.cases.assign(case_id, "nobody", OFFICER)) == (
        ErrorKind.NOT_FOUND, "no account 'nobody'")  # fmt: skip
    assert await refused(desk.cases.assign(case_id, "clerk", OFFICER)) == (
        ErrorKind.REJECTED, "account 'clerk' is not an enabled expert")  # fmt: skip
    assert await row_counts(desk.registry) == before
    assigned = await desk.cases.assign(case_id, "anna", OFFICER)
    assert (assigned.state, assigned.expert, assigned.assigned_by) == (
        "assigned", "anna", "api:officer")  # fmt: skip
    before = await row_counts(desk.registry)
    assert await refused(desk.cases.answer(case_id, FINDINGS, BORIS)) == (
        ErrorKind.UNAUTHORIZED, f"case {case_id} is assigned to another expert")  # fmt: skip
    assert await row_counts(desk.registry) == before
    assert (await desk.cases.get(case_id, ANNA)).state == "assigned"


async def test_v3_the_experts_report_is_checked_field_by_field(desk: Desk) -> None:
    case_id = await a_case(desk)
    await desk.cases.assign(case_id, "anna", OFFICER)
    desk.clock.advance(days=5)
    before = await row_counts(desk.registry)
    without_place = {k: v for k, v in FINDINGS.items() if k != "place"}
    for fields, message in (
        (without_place, "report.place: a text is required"),
        ({**FINDINGS, "grounds": "  "}, "report.grounds: a text is required"),
        ({**FINDINGS, "methods": "м" * 8001}, "report.methods: longer than 8000 characters"),
        ({**FINDINGS, "verdict": "да"}, "report: unknown field 'verdict'"),
        ({**FINDINGS, "started_at": "1 December"},
         "report.started_at: not an RFC 3339 time with a zone"),
        ({**FINDINGS, "finished_at": "2026-12-01T08:00:00+03:00"},
         "report: started_at must not be after finished_at, nor finished_at in the future"),
        ({**FINDINGS, "finished_at": "2027-01-01T08:00:00+03:00"},
         "report: started_at must not be after finished_at, nor finished_at in the future"),
    ):  # fmt: skip
        assert await refused(desk.cases.answer(case_id, fields, ANNA)) == (
            ErrorKind.MALFORMED, message)  # fmt: skip
    assert await row_counts(desk.registry) == before


async def test_v3_the_assigned_expert_answers_once_with_every_field_of_the_report(
    desk: Desk,
) -> None:
    case_id = await a_case(desk)
    await desk.cases.assign(case_id, "boris", OFFICER)
    await desk.cases.assign(case_id, "anna", OFFICER)  # given to another expert
    desk.clock.advance(days=5)
    answered = await desk.cases.answer(case_id, FINDINGS, ANNA)
    assert (answered.state, answered.answered_at) == ("answered", desk.clock())
    assert answered.expert_report is not None
    report = json.loads(answered.expert_report)
    assert report == {
        "case": case_id,
        "kind": "signature",
        "answered_at": "2026-12-03T12:00:00Z",
        "time_and_place": {"started_at": "2026-12-01T06:00:00Z",
                           "finished_at": "2026-12-02T14:30:00Z", "place": FINDINGS["place"]},
        "grounds": FINDINGS["grounds"],
        "expert": {"account": "anna", "name": FINDINGS["expert_name"],
                   "position": FINDINGS["expert_position"]},
        "submitter": "Иванов И. И.",
        "received_at": "2026-11-28T12:00:00Z",
        "questions": QUESTIONS,
        "objects": [{"role": f.role, "name": f.name, "size": len(f.content),
                     "sha256": hashlib.sha256(f.content).hexdigest()}
                    for f in (DOCUMENT, SIGNATURE)],
        "methods": FINDINGS["methods"],
        "results": {"findings": FINDINGS["findings"], "automatic_check": CHECK.as_dict()},
        "conclusion": FINDINGS["conclusion"],
    }  # fmt: skip
    before = await row_counts(desk.registry)
    assert await refused(desk.cases.answer(case_id, FINDINGS, ANNA)) == (
        ErrorKind.REJECTED, f"case {case_id} is answered, not assigned")  # fmt: skip
    assert await refused(desk.cases.assign(case_id, "boris", OFFICER)) == (
        ErrorKind.REJECTED, f"case {case_id} is answered already")  # fmt: skip
    assert await row_counts(desk.registry) == before
    trail = await desk.registry.search.audit_entries(100, None)
    actions = [(e.action, e.actor, e.details) for e in trail if e.target == case_id]
    assert actions[1:] == [
        ("confirmation.assign", "api:officer", {"expert": "boris", "before": None}),
        ("confirmation.assign", "api:officer", {"expert": "anna", "before": "boris"}),
        ("confirmation.answer", "api:anna",
         {"report_sha256": hashlib.sha256(answered.expert_report.encode()).hexdigest()}),
    ]  # fmt: skip


async def test_v3_unanswered_cases_past_their_due_date_are_listed_and_counted(
    desk: Desk,
) -> None:
    late, answered = await a_case(desk), await a_case(desk)
    desk.clock.advance(days=3)  # Tuesday 1 December: due two working days later
    fresh = await a_case(desk)
    await desk.cases.refresh_metrics()
    assert desk.metrics.get_sample_value("ca_confirmation_cases_overdue") == 0
    desk.clock.now = datetime(2027, 1, 18, 20, 59, tzinfo=UTC)  # a minute before the end
    await desk.cases.assign(answered, "anna", OFFICER)
    await desk.cases.answer(answered, FINDINGS, ANNA)
    assert await desk.cases.overdue(OFFICER) == []
    desk.clock.now = datetime(2027, 1, 18, 21, 0, tzinfo=UTC)  # Monday 18 January is over
    assert [row.id for row in await desk.cases.overdue(AUDITOR)] == [late]
    await desk.cases.refresh_metrics()
    assert desk.metrics.get_sample_value("ca_confirmation_cases_overdue") == 1
    desk.clock.advance(days=2)  # Wednesday 20 January is over
    assert [row.id for row in await desk.cases.overdue(ANNA)] == [late, fresh]
    assert [row.id for row in await desk.cases.by_state("answered", OPERATOR)] == [answered]
    assert await refused(desk.cases.by_state("lost", OPERATOR)) == (
        ErrorKind.MALFORMED, "no confirmation case state 'lost'")  # fmt: skip


# The title and V3's fields in its order: time and place, grounds, the expert, the
# questions, the objects examined, methods, results, conclusion.
HEADINGS = (
    "Заключение эксперта по обращению о подтверждении подлинности электронной подписи",
    "1. Время и место проведения экспертизы", "2. Основания проведения экспертизы",
    "3. Сведения об эксперте", "4. Вопросы, поставленные перед экспертом",
    "5. Объекты исследования", "6. Методы исследования", "7. Результаты исследования",
    "8. Выводы", "Эксперт / Expert", "подпись / signature",
)  # fmt: skip


async def test_v3_the_report_pdf_carries_every_field_in_russian(desk: Desk, tmp_path: Path) -> None:
    case_id = await a_case(desk)
    await desk.cases.assign(case_id, "anna", OFFICER)
    desk.clock.advance(days=5)
    answered = await desk.cases.answer(case_id, FINDINGS, ANNA)
    assert answered.expert_report is not None
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report_pdf(json.loads(answered.expert_report)))
    # the same bytes each time: a signature made over one drawing holds for the next
    assert report_pdf(json.loads(answered.expert_report)) == pdf.read_bytes()
    text = pdf_text(pdf)
    at = text.index
    assert [at(heading) for heading in HEADINGS] == sorted(at(heading) for heading in HEADINGS)
    for value in (
        f"Дело / Case № {case_id}",
        "Начата / Started: 01.12.2026 06:00:00 UTC",
        "Окончена / Finished: 02.12.2026 14:30:00 UTC",
        f"Место / Place: {FINDINGS['place']}",
        FINDINGS["grounds"],
        f"Фамилия, имя, отчество / Name: {FINDINGS['expert_name']}",
        f"Должность, квалификация / Position: {FINDINGS['expert_position']}",
        "Учётная запись / Account: anna",
        "Заявитель / Submitter: Иванов И. И.",
        "Обращение поступило / Received: 28.11.2026 12:00:00 UTC",
        QUESTIONS,
        FINDINGS["methods"],
        FINDINGS["findings"],
        "Автоматическая проверка / Automatic check: подпись недействительна (invalid),"
        " проведена / checked 28.11.2026 12:00:00 UTC",
        "Причина / Cause revoked-before-signing: the signer's certificate was revoked",
        "signer_serial: 1a2b",
        FINDINGS["conclusion"],
        "Заключение составлено / Answered: 03.12.2026 12:00:00 UTC",
    ):
        assert value in text, value
    for item in (DOCUMENT, SIGNATURE):
        digest = hashlib.sha256(item.content).hexdigest()
        assert f"«{item.name}», {len(item.content)} байт, SHA-256: {digest}" in text, item.role
    assert page_one_png(pdf).stat().st_size > 0
