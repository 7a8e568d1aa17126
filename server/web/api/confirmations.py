"""Confirmation cases (regulation 8.2, V3) through `ca.confirmation_cases`: an operator (or
an expert) registers a request with its files, which the automatic check examines at once;
an officer assigns it to an expert; the expert answers with a report, read back as JSON or
PDF. The check is `ca.confirmations` (server/confirmation/checker.py); the case is
registered with its report whatever the verdict. Who may do what is the service's
(server/confirmation/cases.py); the routes list the same roles.

The request comes as multipart/form-data (RFC 7578): a `signature` file and perhaps the
signed `document` (S10), or a `certificate` file (S11), with the texts `submitter` and
`questions`; its whole body is bounded by `confirmation.max_upload_bytes` (413 beyond).
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from server.accounts import Role
from server.confirmation.cases import ANSWERERS, ASSIGNERS, READERS, REGISTRARS, SubmittedFile
from server.confirmation.report import ConfirmationReport
from server.confirmation.report_pdf import report_pdf
from server.errors import CAError, ErrorKind
from server.registry.records import ConfirmationCaseRow
from server.web.api.common import (
    Call,
    Param,
    Route,
    check,
    error_response,
    json_response,
    time_text,
)
from server.web.api.subscribers import PERSONAL_DATA
from server.web.api.withholding import WITHHELD
from server.web.bodies import BodyTooLarge, read_body
from server.web.form_data import FormField, form_fields

# who reads what a case holds (the submitter, the files, the reports): the staff who may
# read personal data, and the experts who answer cases
CASE_CONTENT = PERSONAL_DATA | {Role.EXPERT}
FORM_DATA = "multipart/form-data"
FILES = ("signature", "document", "certificate")
_ID = Param("id", "path", {"type": "string"}, "the case id (cc-...)")


def case_view(row: ConfirmationCaseRow, call: Call) -> dict[str, object]:
    """The case; for staff who may not read personal data (the auditor) the submitter, the
    questions and the files' names withheld, and of the check only its verdict and causes
    (its facts name the signer)."""
    personal = call.caller is not None and call.caller.role in CASE_CONTENT
    check = json.loads(row.check_report)
    if not personal:
        check = {key: check[key] for key in ("kind", "verdict", "checked_at", "causes")}
    return {
        "id": row.id,
        "kind": row.kind,
        "state": row.state,
        "submitter": row.submitter if personal else WITHHELD,
        "questions": row.questions if personal else WITHHELD,
        "received_by": row.received_by,
        "received_at": time_text(row.received_at),
        "due_at": time_text(row.due_at),
        "overdue": row.state != "answered" and row.due_at <= call.ca.clock(),
        "files_until": time_text(row.files_until),
        "files": [
            {
                "role": f.role,
                "name": f.name if personal else WITHHELD,
                "size": f.size,
                "sha256": f.sha256.hex(),
            }
            for f in row.files
        ],
        "check": check,
        "expert": row.expert,
        "assigned_by": row.assigned_by,
        "assigned_at": time_text(row.assigned_at),
        "answered_at": time_text(row.answered_at),
    }


async def automatic_check(call: Call, files: dict[str, bytes]) -> ConfirmationReport:
    """The automatic check of the files (server/confirmation/checker.py)."""
    checker = call.ca.confirmations
    if "certificate" in files:
        return await checker.check_certificate(files["certificate"])
    return await checker.check_signature(files.get("document"), files["signature"])


def _texts_and_files(
    fields: dict[str, FormField], call: Call
) -> tuple[dict[str, str], dict[str, FormField]]:
    """The form's texts and files, checked against the published schema (a file stands
    there as an empty text). Raises CAError(MALFORMED)."""
    texts, files = {}, {}
    for name, field in fields.items():
        if name in FILES:
            files[name] = field
            continue
        try:
            texts[name] = field.content.decode("utf-8")
        except UnicodeDecodeError:
            raise CAError(ErrorKind.MALFORMED, f"body.{name}: not UTF-8 text") from None
    assert call.body_schema is not None
    check(call.body_schema, {**texts, **dict.fromkeys(files, "")}, "body")
    if ("certificate" in files) == ("signature" in files):
        raise CAError(
            ErrorKind.MALFORMED,
            "body: a signature file (and perhaps the document), or a certificate file",
        )
    return texts, files


async def register(call: Call) -> web.StreamResponse:
    limit = call.ca.settings.confirmation.max_upload_bytes
    try:
        body = await read_body(call.request, limit)
    except BodyTooLarge:
        return error_response(413, ErrorKind.MALFORMED, f"the request is larger than {limit} bytes")
    fields = form_fields(call.request.headers.get("Content-Type", ""), body)
    texts, files = _texts_and_files(fields, call)
    submitted = [SubmittedFile(name, f.filename or name, f.content) for name, f in files.items()]
    cases = call.ca.confirmation_cases
    kind = "certificate" if "certificate" in files else "signature"
    cases.refuse_malformed(kind, texts["submitter"], texts["questions"], submitted, call.requester)
    report = await automatic_check(call, {name: f.content for name, f in files.items()})
    row = await cases.register(
        texts["submitter"], texts["questions"], submitted, report, call.requester
    )
    return json_response({"case": case_view(row, call), "check": report.as_dict()}, status=201)


async def listing(call: Call) -> web.Response:
    overdue = call.query("overdue")
    if overdue not in (None, "true", "false"):
        raise CAError(ErrorKind.MALFORMED, "overdue must be true or false")
    cases = call.ca.confirmation_cases
    if overdue == "true":
        if call.query("state") is not None:
            raise CAError(ErrorKind.MALFORMED, "state and overdue=true: one or the other")
        rows = await cases.overdue(call.requester, call.limit())
    else:
        rows = await cases.by_state(call.query("state") or None, call.requester, call.limit())
    return json_response({"cases": [case_view(row, call) for row in rows]})


async def one(call: Call) -> web.Response:
    row = await call.ca.confirmation_cases.get(call.path("id"), call.requester)
    return json_response(case_view(row, call))


async def assign(call: Call) -> web.Response:
    body = await call.body()
    row = await call.ca.confirmation_cases.assign(call.path("id"), body["expert"], call.requester)
    return json_response(case_view(row, call))


async def answer(call: Call) -> web.Response:
    body = await call.body()
    row = await call.ca.confirmation_cases.answer(call.path("id"), body, call.requester)
    assert row.expert_report is not None  # just answered
    return json_response({"case": case_view(row, call), "report": json.loads(row.expert_report)})


async def _report(call: Call) -> dict[str, object]:
    row = await call.ca.confirmation_cases.get(call.path("id"), call.requester)
    if row.expert_report is None:
        raise CAError(ErrorKind.NOT_FOUND, f"confirmation case {row.id} has no report yet")
    report: dict[str, object] = json.loads(row.expert_report)
    return report


async def report_json(call: Call) -> web.Response:
    return json_response(await _report(call))


async def report_as_pdf(call: Call) -> web.Response:
    """The report as PDF. Drawing one takes a fraction of a second: not in the event loop."""
    report = await _report(call)
    document = await asyncio.to_thread(report_pdf, report)
    return web.Response(
        body=document,
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{call.path("id")}-report.pdf"'},
    )


async def report_signature(call: Call) -> web.Response:
    """The report's PDF signed by the CA's confirmation certificate: a detached CMS
    SignedData (RFC 5652, CAdES-BES) over exactly the bytes `report.pdf` gives (the PDF is
    drawn the same each time from the kept report)."""
    report = await _report(call)
    document = await asyncio.to_thread(report_pdf, report)
    signature = await call.ca.report_signer.sign(document)
    return web.Response(
        body=signature,
        content_type="application/pkcs7-signature",
        headers={"Content-Disposition": f'attachment; filename="{call.path("id")}-report.pdf.p7s"'},
    )


_LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "default 100")

ROUTES = (
    Route("GET", "/confirmations", listing, READERS,
          "confirmation cases, oldest first; with overdue=true those past their due date,"
          " earliest due first", {200: "ConfirmationCaseList", 400: "Error"},
          params=(Param("state", "query", {"type": "string",
                                           "enum": ["registered", "assigned", "answered"]},
                        "all when absent"),
                  Param("overdue", "query", {"type": "string", "enum": ["true", "false"]},
                        "only unanswered cases past their due date (not with state)"),
                  _LIMIT)),
    Route("POST", "/confirmations", register, REGISTRARS,
          "register a request to confirm a signature (S10) or a certificate (S11), checked"
          " at once", {201: "ConfirmationRegistered", 400: "Error", 413: "Error"},
          body="ConfirmationRequest", body_media=FORM_DATA),
    Route("GET", "/confirmations/{id}", one, READERS, "one confirmation case",
          {200: "ConfirmationCase", 404: "Error"}, params=(_ID,)),
    Route("POST", "/confirmations/{id}/assign", assign, ASSIGNERS,
          "assign the case to an expert (again, until it is answered)",
          {200: "ConfirmationCase", 400: "Error", 404: "Error", 409: "Error"},
          body="AssignRequest", params=(_ID,)),
    Route("POST", "/confirmations/{id}/report", answer, ANSWERERS,
          "answer the case with the expert's report (the assigned expert only)",
          {200: "ConfirmationAnswer", 400: "Error", 404: "Error", 409: "Error"},
          body="ExpertReportRequest", params=(_ID,)),
    Route("GET", "/confirmations/{id}/report", report_json, CASE_CONTENT,
          "the expert's report (V3)", {200: "ExpertReport", 404: "Error"}, params=(_ID,)),
    Route("GET", "/confirmations/{id}/report.pdf", report_as_pdf, CASE_CONTENT,
          "the expert's report (V3), PDF", {200: "application/pdf", 404: "Error"},
          params=(_ID,)),
    Route("GET", "/confirmations/{id}/report.p7s", report_signature, CASE_CONTENT,
          "the report's PDF signed by the CA's confirmation certificate: detached CMS (RFC 5652)",
          {200: "application/pkcs7-signature", 404: "Error", 503: "Error"}, params=(_ID,)),
)  # fmt: skip
