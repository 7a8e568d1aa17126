"""Applications (enrollment requests awaiting a decision): read by the staff, approved or
rejected by an officer through `ca.applications`."""

from __future__ import annotations

from aiohttp import web

from server.accounts import Role
from server.errors import CAError, ErrorKind
from server.registry.application_store import ApplicationRow
from server.web.api.common import STAFF, Call, Param, Route, json_response, time_text

OFFICER = frozenset({Role.OFFICER})
_ID = Param("id", "path", {"type": "string"}, "the application id (ap-...)")


def application_view(row: ApplicationRow) -> dict[str, object]:
    return {
        "id": row.id,
        "profile": row.profile,
        "subject": row.subject,
        "state": row.state,
        "submitted_by": row.submitted_by,
        "submitted_at": time_text(row.submitted_at),
        "decided_by": row.decided_by,
        "decided_at": time_text(row.decided_at),
        "reason": row.reason,
        "serial": row.serial,
        "subscriber_id": row.subscriber_id,
        "due_at": time_text(row.due_at),
    }


async def listing(call: Call) -> web.Response:
    rows = await call.ca.applications.by_state(call.query("state") or None, call.limit())
    return json_response({"applications": [application_view(row) for row in rows]})


async def one(call: Call) -> web.Response:
    application_id = call.path("id")
    row = await call.ca.applications.get(application_id)
    if row is None:
        raise CAError(ErrorKind.NOT_FOUND, f"no application {application_id}")
    return json_response(application_view(row))


async def approve(call: Call) -> web.Response:
    """An application with a request is issued; one without gets an enrollment credential
    for its holder, whose secret is in this answer only."""
    approval = await call.ca.applications.approve(call.path("id"), call.requester.actor)
    credential = approval.credential
    return json_response(
        {
            "application": application_view(approval.application),
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
    return json_response(application_view(row))


ROUTES = (
    Route("GET", "/applications", listing, STAFF, "applications, oldest first",
          {200: "ApplicationList", 400: "Error"},
          params=(Param("state", "query", {"type": "string"}, "all when absent"),
                  Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
                        "default 100"))),
    Route("GET", "/applications/{id}", one, STAFF, "one application",
          {200: "Application", 404: "Error"}, params=(_ID,)),
    Route("POST", "/applications/{id}/approve", approve, OFFICER,
          "approve: issue, or make the holder an enrollment credential",
          {200: "Approval", 404: "Error", 409: "Error"}, params=(_ID,)),
    Route("POST", "/applications/{id}/reject", reject, OFFICER, "reject, with a reason",
          {200: "Application", 400: "Error", 404: "Error", 409: "Error"},
          body="RejectRequest", params=(_ID,)),
)  # fmt: skip
