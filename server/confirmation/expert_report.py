"""The expert's report that answers a confirmation case (regulation 8.2, SEED-MAP V3): the
time and place of the examination, its grounds, the expert, the questions, the objects
examined, the methods, the results and the conclusion.

The expert writes the fields only a person can (`FIELDS`: where and when, the grounds, who
they are, the methods, what they found, the conclusion); the case gives the rest, so they
cannot differ from what was registered: the questions, the files with their SHA-256, and
the automatic check's report, which the results include whole. `assemble` makes the report
once, when the case is answered; the registry keeps it as JSON, and the PDF is drawn from
that JSON (server/confirmation/report_pdf.py), so both forms say the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from server.errors import CAError, ErrorKind
from server.registry.records import ConfirmationCaseRow, to_text

# What the expert gives, each a text of at most this many characters, all required.
FIELDS = {
    "place": 500,  # where the examination was made
    "started_at": 40,  # when it began and ended, RFC 3339 with a zone
    "finished_at": 40,
    "grounds": 4000,  # what the examination rests on: the request, the regulation
    "expert_name": 256,  # the expert's full name
    "expert_position": 500,  # position and qualification
    "methods": 8000,
    "findings": 20000,  # what the examination found, beside the automatic check
    "conclusion": 8000,  # the answer to the questions
}
TIMES = ("started_at", "finished_at")


@dataclass(frozen=True)
class ExpertFindings:
    """The expert's own part of the report, checked."""

    place: str
    started_at: datetime
    finished_at: datetime
    grounds: str
    expert_name: str
    expert_position: str
    methods: str
    findings: str
    conclusion: str


def read_findings(fields: Mapping[str, object], now: datetime) -> ExpertFindings:
    """The expert's fields, each present, a text of its length, no other; the examination
    begun before it finished, and finished by `now`. Raises CAError(MALFORMED) naming the
    first field that is not."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise CAError(ErrorKind.MALFORMED, f"report: unknown field {unknown[0]!r}")
    texts: dict[str, str] = {}
    for name, longest in FIELDS.items():
        value = fields.get(name)
        if not isinstance(value, str) or not value.strip():
            raise CAError(ErrorKind.MALFORMED, f"report.{name}: a text is required")
        if len(value) > longest:
            raise CAError(ErrorKind.MALFORMED, f"report.{name}: longer than {longest} characters")
        texts[name] = value.strip()
    started, finished = (_moment(texts[name], name) for name in TIMES)
    if not started <= finished <= now:
        raise CAError(
            ErrorKind.MALFORMED,
            "report: started_at must not be after finished_at, nor finished_at in the future",
        )
    return ExpertFindings(
        place=texts["place"],
        started_at=started,
        finished_at=finished,
        grounds=texts["grounds"],
        expert_name=texts["expert_name"],
        expert_position=texts["expert_position"],
        methods=texts["methods"],
        findings=texts["findings"],
        conclusion=texts["conclusion"],
    )


def _moment(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise CAError(ErrorKind.MALFORMED, f"report.{name}: not an RFC 3339 time with a zone")
    return moment


def assemble(
    case: ConfirmationCaseRow, expert: str, findings: ExpertFindings, answered_at: datetime
) -> dict[str, object]:
    """The whole report of `case`, answered by the account `expert` at `answered_at`, in
    the order of V3."""
    return {
        "case": case.id,
        "kind": case.kind,
        "answered_at": to_text(answered_at),
        "time_and_place": {
            "started_at": to_text(findings.started_at),
            "finished_at": to_text(findings.finished_at),
            "place": findings.place,
        },
        "grounds": findings.grounds,
        "expert": {
            "account": expert,
            "name": findings.expert_name,
            "position": findings.expert_position,
        },
        "submitter": case.submitter,
        "received_at": to_text(case.received_at),
        "questions": case.questions,
        "objects": [
            {"role": f.role, "name": f.name, "size": f.size, "sha256": f.sha256.hex()}
            for f in case.files
        ],
        "methods": findings.methods,
        "results": {
            "findings": findings.findings,
            "automatic_check": json.loads(case.check_report),
        },
        "conclusion": findings.conclusion,
    }
