"""Applications (enrollment requests awaiting a decision) through `ca.applications`: an
operator submits one for a registered subscriber, says when its documents are complete and
who received the certificate; the staff read them and the overdue ones; an officer
approves or rejects.

The staff who may not read personal data (the auditor) see an application with the
personal identifiers of its subject (server/web/api/withholding.py) and the proxy's name
and power of attorney withheld.
"""

from __future__ import annotations

import re

from aiohttp import web

from server.accounts import Role
from server.errors import CAError, ErrorKind
from server.registry.records import ApplicationRow
from server.web.api.common import STAFF, Call, Param, Route, json_response, time_text
from server.web.api.subscribers import PERSONAL_DATA
from server.web.api.withholding import withheld_subject

OFFICER = frozenset({Role.OFFICER})
OPERATOR = frozenset({Role.OPERATOR})
_ID = Param("id", "path", {"type": "string"}, "the application id (ap-...)")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def sees_personal_data(call: Call) -> bool:
    return call.caller is not None and call.caller.role in PERSONAL_DATA


def application_view(row: ApplicationRow, personal: bool) -> dict[str, object]:
    """The application; `personal` False: with personal data withheld."""
    return {
        "id": row.id,
        "profile": row.profile,
        "subject": row.subject if personal else withheld_subject(row.subject),
        "state": row.state,
        "submitted_by": row.submitted_by,
        "submitted_at": time_text(row.submitted_at),
        "decided_by": row.decided_by,
        "decided_at": time_text(row.decided_at),
        "reason": row.reason,
        "serial": row.serial,
        "subscriber_id": row.subscriber_id,
        "due_at": time_text(row.due_at),
        "complete_at": time_text(row.complete_at),
        "register_check": row.register_check,
        "attachments_removed_at": time_text(row.attachments_removed_at),
        "attachments": [  # by name, as the registry reads them back
            {"name": name, "sha256": digest.hex()} for name, digest in sorted(row.attachments)
        ],
        "received_by": row.received_by,
        "received_proxy": row.received_proxy if personal else None,
        "received_poa": row.received_poa if personal else None,
        "received_at": time_text(row.received_at),
    }


def parse_attachments(items: list[dict[str, str]]) -> list[tuple[str, bytes]]:
    """(name, SHA-256) of each attachment. Raises CAError(MALFORMED) naming the item."""
    parsed = []
    for index, item in enumerate(items):
        if not _HEX_SHA256.fullmatch(item["sha256"]):
            raise CAError(
                ErrorKind.MALFORMED, f"attachments[{index}].sha256: not 64 hexadecimal digits"
            )
        parsed.append((item["name"], bytes.fromhex(item["sha256"])))
    return parsed


async def listing(call: Call) -> web.Response:
    rows = await call.ca.applications.by_state(call.query("state") or None, call.limit())
    personal = sees_personal_data(call)
    return json_response({"applications": [application_view(row, personal) for row in rows]})


async def overdue(call: Call) -> web.Response:
    """Complete applications still undecided or not enrolled for after their due date (P4)."""
    rows = await call.ca.applications.overdue(call.limit())
    personal = sees_personal_data(call)
    return json_response({"applications": [application_view(row, personal) for row in rows]})


async def one(call: Call) -> web.Response:
    application_id = call.path("id")
    row = await call.ca.applications.get(application_id)
    if row is None:
        raise CAError(ErrorKind.NOT_FOUND, f"no application {application_id}")
    return json_response(application_view(row, sees_personal_data(call)))


async def submit(call: Call) -> web.Response:
    """An operator's application for a registered subscriber, with its documents' names
    and SHA-256, and possibly the holder's PKCS#10 request (PEM)."""
    body = await call.body()
    csr = body.get("csr")
    row = await call.ca.applications.submit(
        body["subscriber_id"],
        body["profile"],
        call.requester.actor,
        parse_attachments(body.get("attachments", [])),
        request_der=csr.encode() if csr is not None else None,
        complete=body.get("complete", True),
    )
    return json_response(application_view(row, personal=True), status=201)


async def complete(call: Call) -> web.Response:
    row = await call.ca.applications.complete(call.path("id"), call.requester.actor)
    return json_response(application_view(row, personal=True))


async def handover(call: Call) -> web.Response:
    body = await call.body()
    row = await call.ca.applications.handed_over(
        call.path("id"),
        body["received_by"],
        call.requester.actor,
        proxy_name=body.get("proxy_name"),
        power_of_attorney=body.get("power_of_attorney"),
    )
    return json_response(application_view(row, personal=True))


async def approve(call: Call) -> web.Response:
    """An application with a request is issued; one without gets an enrollment credential
    for its holder, whose secret is in this answer only."""
    approval = await call.ca.applications.approve(call.path("id"), call.requester.actor)
    credential = approval.credential
    return json_response(
        {
            "application": application_view(approval.application, personal=True),
            "serial": approval.issued.serial if approval.issued else None,
            "credential": {
                "id": credential.id,
                "secret": approval.secret,
                "expires_at": time_text(credential.expires_at),
            }
            if credential is not None
            else None,
        }
    )


async def reject(call: Call) -> web.Response:
    body = await call.body()
    application_id = call.path("id")
    await call.ca.applications.reject(application_id, call.requester.actor, body["reason"])
    row = await call.ca.applications.get(application_id)
    assert row is not None  # just rejected
    return json_response(application_view(row, personal=True))


_LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "default 100")

# /applications/overdue comes before /applications/{id}, so that it wins whatever order
# the router tries them in.
ROUTES = (
    Route("GET", "/applications", listing, STAFF, "applications, oldest first",
          {200: "ApplicationList", 400: "Error"},
          params=(Param("state", "query", {"type": "string"}, "all when absent"), _LIMIT)),
    Route("POST", "/applications", submit, OPERATOR,
          "an operator's application for a registered subscriber",
          {201: "Application", 400: "Error", 404: "Error", 409: "Error"},
          body="ApplicationRequest"),
    Route("GET", "/applications/overdue", overdue, STAFF,
          "complete applications past their due date (P4), earliest due first",
          {200: "ApplicationList", 400: "Error"}, params=(_LIMIT,)),
    Route("GET", "/applications/{id}", one, STAFF, "one application",
          {200: "Application", 404: "Error"}, params=(_ID,)),
    Route("POST", "/applications/{id}/approve", approve, OFFICER,
          "approve: issue, or make the holder an enrollment credential",
          {200: "Approval", 404: "Error", 409: "Error"}, params=(_ID,)),
    Route("POST", "/applications/{id}/reject", reject, OFFICER, "reject, with a reason",
          {200: "Application", 400: "Error", 404: "Error", 409: "Error"},
          body="RejectRequest", params=(_ID,)),
    Route("POST", "/applications/{id}/complete", complete, OPERATOR,
          "every document is in: the due date starts (P4)",
          {200: "Application", 404: "Error", 409: "Error"}, params=(_ID,)),
    Route("POST", "/applications/{id}/handover", handover, OPERATOR,
          "who received the issued certificate: the holder, or a proxy (P2)",
          {200: "Application", 400: "Error", 404: "Error", 409: "Error"},
          body="HandoverRequest", params=(_ID,)),
)  # fmt: skip
