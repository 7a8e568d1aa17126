"""Confirmation cases (regulation 8.2; seed S10, S11, U7, V3): a request to confirm an
electronic signature in a document, or the CA's signature in a certificate, answered by an
expert's report within `confirmation.due_working_days` (30) working days.

A case goes registered -> assigned -> answered:
- register (an operator, or an expert): who asked (free text, U7), the questions, the
  files, and the automatic check's report, which the caller made (the checker of
  server/confirmation/checker.py) and passes in. The files are kept in the home
  (server/confirmation/case_files.py), the registry records their names, sizes and SHA-256
  with the report; the due date counts working days on the RA's calendar (holidays and
  transfers of `ra.*`, server/ra/working_days.py) from the day after receipt.
- assign (an officer): to an enabled account of the expert role; again, to another expert,
  until it is answered.
- answer (the assigned expert only): the expert's report (server/confirmation/expert_report.py),
  once.
The operator, the officer, the auditor and the expert read cases. Unanswered cases past
their due date are listed and counted in `ca_confirmation_cases_overdue`. Every change
has its audit entry, with the files' hashes and never their content.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge

from config import Settings
from server.accounts import Requester, Role, account_actor
from server.clock import Clock
from server.confirmation.case_files import CaseFiles
from server.confirmation.expert_report import assemble, read_findings
from server.confirmation.report import ConfirmationReport
from server.errors import CAError, ErrorKind
from server.ra.working_days import WorkingCalendar
from server.registry import AuditEvent, interfaces
from server.registry.records import ConfirmationCaseRow, ConfirmationFile

STATES = ("registered", "assigned", "answered")
# What each kind of case is given: the roles of its files, those required first.
FILE_ROLES = {"signature": (("signature",), ("document",)), "certificate": (("certificate",), ())}
MAX_SUBMITTER = 1000
MAX_QUESTIONS = 8000
MAX_FILE_NAME = 255

# Who may do what.
REGISTRARS = frozenset({Role.OPERATOR, Role.EXPERT})
ASSIGNERS = frozenset({Role.OFFICER})
ANSWERERS = frozenset({Role.EXPERT})  # and of them, only the one assigned
READERS = frozenset({Role.OPERATOR, Role.OFFICER, Role.AUDITOR, Role.EXPERT})


@dataclass(frozen=True)
class SubmittedFile:
    role: str  # document, signature, certificate
    name: str  # as the submitter named it
    content: bytes


class CasesRegistry(interfaces.ConfirmationCases, interfaces.Accounts, Protocol):
    """The registry as confirmation cases use it."""


def _allowed(requester: Requester, roles: frozenset[Role], what: str) -> None:
    if requester.role not in roles:
        *others, last = sorted(role.value for role in roles)
        names = f"{', '.join(others)} or {last}" if others else last
        raise CAError(ErrorKind.UNAUTHORIZED, f"{what} needs the {names} role")


class ConfirmationCases:
    def __init__(
        self,
        settings: Settings,
        registry: CasesRegistry,
        clock: Clock,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings.confirmation
        self._store = registry.confirmation_cases
        self._accounts = registry.accounts
        self._clock = clock
        self._files = CaseFiles(settings.resolve(settings.confirmation.files))
        ra = settings.ra
        self._calendar = WorkingCalendar.from_settings(
            ra.holidays, ra.working_weekends, ra.time_zone
        )
        self._overdue = Gauge(
            "ca_confirmation_cases_overdue",
            "Confirmation cases not answered by their due date (V3), as of the last scrape",
            registry=metrics,
        )

    def due_date(self, received_at: datetime) -> datetime:
        """When a case received at `received_at` becomes overdue: the end of the
        `due_working_days`-th working day after the day of receipt."""
        return self._calendar.add_working_days(received_at, self._settings.due_working_days)

    def refuse_malformed(
        self,
        kind: str,
        submitter: str,
        questions: str,
        files: Sequence[SubmittedFile],
        requester: Requester,
    ) -> None:
        """What `register` refuses before anything is done, so a caller asks it before the
        automatic check (which may fetch CRLs): raises CAError UNAUTHORIZED or MALFORMED as
        `register` does."""
        _allowed(requester, REGISTRARS, "registering a confirmation case")
        _text(submitter.strip(), "submitter", MAX_SUBMITTER)
        _text(questions.strip(), "questions", MAX_QUESTIONS)
        _check_files(kind, files)

    async def register(
        self,
        submitter: str,
        questions: str,
        files: Sequence[SubmittedFile],
        check: ConfirmationReport,
        requester: Requester,
    ) -> ConfirmationCaseRow:
        """A new case of `check.kind` with its files (for a signature: the signature and
        perhaps the document; for a certificate: the certificate), kept in the home.

        Raises CAError: UNAUTHORIZED (neither an operator nor an expert), MALFORMED (a
        missing or empty submitter or questions, too long, files not those of the kind),
        UNAVAILABLE (the files cannot be written)."""
        self.refuse_malformed(check.kind, submitter, questions, files, requester)
        submitter, questions = submitter.strip(), questions.strip()
        now = self._clock()
        row = ConfirmationCaseRow(
            id=f"cc-{secrets.token_hex(8)}",
            kind=check.kind,
            submitter=submitter,
            questions=questions,
            received_by=requester.actor,
            received_at=now,
            due_at=self.due_date(now),
            files_until=now + timedelta(days=self._settings.files_kept_days),
            state="registered",
            check_report=json.dumps(check.as_dict(), ensure_ascii=False, sort_keys=True),
            files=tuple(
                ConfirmationFile(f.role, f.name, len(f.content),
                                 hashlib.sha256(f.content).digest())
                for f in sorted(files, key=lambda f: f.role)
            ),
        )  # fmt: skip
        audit = AuditEvent(requester.actor, "confirmation.register", row.id, {
            "kind": row.kind,
            "verdict": check.verdict,
            "due_at": row.due_at.isoformat(),
            # names as the submitter gave them may name a person: the audit trail keeps
            # none (server/web/api/withholding.py), only what identifies the files
            "files": [{"role": f.role, "size": f.size, "sha256": f.sha256.hex()}
                      for f in row.files],
        })  # fmt: skip
        await self._files.keep(row.id, ((f.role, f.content) for f in files))
        try:
            await self._store.add(row, audit)
        except BaseException:
            await self._files.discard(row.id)
            raise
        return row

    async def assign(self, case_id: str, expert: str, requester: Requester) -> ConfirmationCaseRow:
        """Give the case to the expert account named `expert`. Raises CAError: UNAUTHORIZED
        (not an officer), NOT_FOUND (no such case or account), REJECTED (the account is
        not an enabled expert; the case is answered)."""
        _allowed(requester, ASSIGNERS, "assigning a confirmation case")
        case = await self._existing(case_id)
        account = await self._accounts.by_name(expert)
        if account is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no account {expert!r}")
        if account.role != Role.EXPERT.value or account.disabled_at is not None:
            raise CAError(ErrorKind.REJECTED, f"account {expert!r} is not an enabled expert")
        now = self._clock()
        audit = AuditEvent(requester.actor, "confirmation.assign", case.id,
                           {"expert": expert, "before": case.expert})  # fmt: skip
        if not await self._store.assign(case.id, expert, requester.actor, now, audit):
            raise CAError(ErrorKind.REJECTED, f"case {case.id} is answered already")
        return await self._existing(case.id)

    async def answer(
        self, case_id: str, fields: dict[str, object], requester: Requester
    ) -> ConfirmationCaseRow:
        """Answer the case with the expert's report (the fields of
        server/confirmation/expert_report.py). Raises CAError: UNAUTHORIZED (not the expert
        the case is assigned to), NOT_FOUND, REJECTED (not assigned, or answered already),
        MALFORMED (a field missing or wrong)."""
        _allowed(requester, ANSWERERS, "answering a confirmation case")
        case = await self._existing(case_id)
        if case.state != "assigned" or case.expert is None:
            raise CAError(ErrorKind.REJECTED, f"case {case.id} is {case.state}, not assigned")
        if requester.actor != account_actor(case.expert):
            raise CAError(ErrorKind.UNAUTHORIZED, f"case {case.id} is assigned to another expert")
        now = self._clock()
        report = json.dumps(assemble(case, case.expert, read_findings(fields, now), now),
                            ensure_ascii=False)  # fmt: skip
        digest = hashlib.sha256(report.encode("utf-8")).hexdigest()
        audit = AuditEvent(requester.actor, "confirmation.answer", case.id,
                           {"report_sha256": digest})  # fmt: skip
        if not await self._store.answer(case.id, case.expert, report, now, audit):
            raise CAError(ErrorKind.REJECTED, f"case {case.id} is answered already")
        return await self._existing(case.id)

    async def get(self, case_id: str, requester: Requester) -> ConfirmationCaseRow:
        """Raises CAError: UNAUTHORIZED, NOT_FOUND."""
        _allowed(requester, READERS, "reading confirmation cases")
        return await self._existing(case_id)

    async def by_state(
        self, state: str | None, requester: Requester, limit: int = 100
    ) -> list[ConfirmationCaseRow]:
        """The cases in `state` (all when None), oldest first. Raises CAError:
        UNAUTHORIZED, MALFORMED (no such state)."""
        _allowed(requester, READERS, "reading confirmation cases")
        if state is not None and state not in STATES:
            raise CAError(ErrorKind.MALFORMED, f"no confirmation case state {state!r}")
        return await self._store.by_state(state, limit)

    async def overdue(self, requester: Requester, limit: int = 100) -> list[ConfirmationCaseRow]:
        """Unanswered cases past their due date, earliest due first. Raises
        CAError(UNAUTHORIZED)."""
        _allowed(requester, READERS, "reading confirmation cases")
        return await self._store.overdue(self._clock(), limit)

    async def count_overdue(self) -> int:
        return await self._store.count_overdue(self._clock())

    async def refresh_metrics(self) -> None:
        """Count the overdue cases into their gauge (before each scrape)."""
        self._overdue.set(await self.count_overdue())

    async def _existing(self, case_id: str) -> ConfirmationCaseRow:
        case = await self._store.get(case_id)
        if case is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no confirmation case {case_id}")
        return case


def _text(value: str, name: str, longest: int) -> None:
    if not value:
        raise CAError(ErrorKind.MALFORMED, f"{name}: a text is required")
    if len(value) > longest:
        raise CAError(ErrorKind.MALFORMED, f"{name}: longer than {longest} characters")


def _check_files(kind: str, files: Sequence[SubmittedFile]) -> None:
    """Raises CAError(MALFORMED) unless `files` are those of a `kind` case, each once,
    named, and not empty."""
    if kind not in FILE_ROLES:
        raise CAError(ErrorKind.MALFORMED, f"no confirmation case kind {kind!r}")
    required, optional = FILE_ROLES[kind]
    roles = [f.role for f in files]
    if sorted(set(roles)) != sorted(roles) or not set(required) <= set(roles) <= {
        *required,
        *optional,
    }:
        expected = " and ".join(required) + "".join(f", optionally {o}" for o in optional)
        raise CAError(ErrorKind.MALFORMED, f"a {kind} case takes the files: {expected}")
    for f in files:
        if not f.content:
            raise CAError(ErrorKind.MALFORMED, f"{f.role}: the file is empty")
        if not f.name.strip() or len(f.name) > MAX_FILE_NAME:
            raise CAError(
                ErrorKind.MALFORMED, f"{f.role}: a file name of 1..{MAX_FILE_NAME} characters"
            )
