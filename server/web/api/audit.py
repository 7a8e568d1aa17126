"""The audit trail, for auditors and admins: its entries in order, and the check of its
hash chain and checkpoints. Neither role reads personal data: entries of older versions
that named a subject show it withheld."""

from __future__ import annotations

from aiohttp import web

from server.accounts import Role
from server.web.api.common import Call, Route, json_response, page_params, time_text
from server.web.api.withholding import withheld_details

READERS = frozenset({Role.AUDITOR, Role.ADMIN})


async def entries(call: Call) -> web.Response:
    limit = call.limit()
    rows = await call.services.search.audit_entries(
        limit, call.query_int("after", None, 0, 2**63 - 1)
    )
    page = [
        {
            "seq": row.seq,
            "at": time_text(row.at),
            "actor": row.actor,
            "action": row.action,
            "target": row.target,
            "details": withheld_details(row.details),
        }
        for row in rows
    ]
    return json_response({"entries": page, "next": rows[-1].seq if len(rows) == limit else None})


async def verify(call: Call) -> web.Response:
    report = await call.ca.audit.verify()
    newest = report.newest
    return json_response(
        {
            "entries": report.entries,
            "intact": report.intact,
            "first_broken_seq": report.first_broken_seq,
            "problem": report.problem,
            "checkpoint": None
            if newest is None
            else {"number": report.newest_number, "at": newest.at, "seq": newest.seq},
            "unanchored": report.unanchored,
        }
    )


ROUTES = (
    Route("GET", "/audit", entries, READERS, "audit entries in order",
          {200: "AuditList", 400: "Error"},
          params=page_params({"type": "integer", "minimum": 0})),
    Route("GET", "/audit/verify", verify, READERS,
          "check the audit trail's hash chain and checkpoints",
          {200: "AuditReport"}),
)  # fmt: skip
