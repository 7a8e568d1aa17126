"""Certificates for the CA's staff: search, one certificate with its status history (who
changed what), and revocation, suspension and resumption through `ca.revocation`."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from aiohttp import web

from protocols.crl import CRLReason
from server.accounts import Role
from server.errors import CAError, ErrorKind
from server.paper.pdf import paper_copy
from server.registry import CertificateRecord, CertificateStatus, StatusBasis
from server.serials import parse_serial
from server.status.revocation import parse_reason
from server.web.api.applications import sees_personal_data
from server.web.api.common import (
    STAFF,
    Call,
    Param,
    Route,
    json_response,
    page_params,
    parse_time,
    time_text,
)
from server.web.api.openapi import SERIAL, STATUS
from server.web.api.public import certificate_of, public_certificate
from server.web.api.subscribers import PERSONAL_DATA
from server.web.api.withholding import withheld_subject

OFFICER = frozenset({Role.OFFICER})


class _Why(TypedDict):
    basis: StatusBasis | None
    grounds: str


_SERIAL = Param("serial", "path", {"type": "string"}, "hexadecimal")
_CHANGED = {200: "Certificate", 400: "Error", 404: "Error", 409: "Error"}


def staff_certificate(record: CertificateRecord, personal: bool = True) -> dict[str, object]:
    """The certificate for the staff; `personal` False (the auditor): the personal
    identifiers of its subject withheld, and no PEM (it holds them all, and the e-mail
    addresses of its subjectAltName)."""
    public = public_certificate(record)
    if not personal:
        public = {**public, "subject": withheld_subject(record.subject), "pem": None}
    return {
        **public,
        "profile": record.profile,
        "spki_sha256": record.spki_sha256.hex(),
        "created_at": time_text(record.created_at),
        "subscriber_id": record.subscriber_id,
    }


async def search(call: Call) -> web.Response:
    status_text, after = call.query("status"), call.query("after")
    try:
        status = CertificateStatus(status_text) if status_text else None
    except ValueError:
        raise CAError(ErrorKind.MALFORMED, "status must be good, revoked or hold") from None
    limit = call.limit()
    records = await call.services.search.certificates(
        status,
        call.query("profile") or None,
        call.query("subject") or None,
        limit,
        parse_serial(after) if after else None,
    )
    next_after = records[-1].serial if len(records) == limit else None
    return json_response(
        {
            "certificates": [staff_certificate(r, sees_personal_data(call)) for r in records],
            "next": next_after,
        }
    )


async def detail(call: Call) -> web.Response:
    record = await certificate_of(call)
    history = await call.ca.registry.status_history(record.serial)
    changes = [
        {
            "change": change.change.value,
            "reason": change.reason,
            "effective_at": time_text(change.effective_at),
            "invalidity_date": time_text(change.invalidity_date),
            "actor": change.actor,
            "basis": change.basis.value if change.basis else None,
            "grounds": change.grounds,
        }
        for change in history
    ]
    view = staff_certificate(record, sees_personal_data(call))
    return json_response({**view, "history": changes})


async def paper(call: Call) -> web.Response:
    """The certificate's paper copy (regulation 8.3), PDF. Drawing one takes a fifth of a
    second of pure Python: it is done beside the event loop."""
    record = await certificate_of(call)
    assert record.der is not None
    document = await asyncio.to_thread(paper_copy, record.der, call.ca.clock())
    return web.Response(
        body=document,
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{record.serial}-paper.pdf"'},
    )


async def revoke(call: Call) -> web.Response:
    body = await call.body()
    reason = parse_reason(body["reason"])
    if reason in (CRLReason.certificateHold, CRLReason.removeFromCRL):
        raise CAError(ErrorKind.MALFORMED, "use suspend and resume for a hold")
    invalidity = body.get("invalidity_date")
    record = await call.ca.revocation.revoke(
        call.path("serial"),
        reason,
        call.requester.actor,
        parse_time(invalidity, "invalidity_date") if invalidity else None,
        **_why(body),
    )
    return json_response(staff_certificate(record))


async def suspend(call: Call) -> web.Response:
    body = await call.body()
    record = await call.ca.revocation.suspend(
        call.path("serial"), call.requester.actor, **_why(body)
    )
    return json_response(staff_certificate(record))


async def resume(call: Call) -> web.Response:
    body = await call.body()
    record = await call.ca.revocation.resume(
        call.path("serial"), call.requester.actor, **_why(body)
    )
    return json_response(staff_certificate(record))


def _why(body: dict[str, Any]) -> _Why:
    """The basis and grounds of a status change (R8), as the body states them."""
    basis = body.get("basis")
    return {"basis": StatusBasis(basis) if basis else None, "grounds": body["grounds"]}


ROUTES = (
    Route("GET", "/certificates", search, STAFF, "search certificates",
          {200: "CertificateList", 400: "Error"},
          params=(Param("status", "query", STATUS),
                  Param("profile", "query", {"type": "string"}),
                  Param("subject", "query", {"type": "string"}, "a part of the subject DN"),
                  *page_params(SERIAL))),
    Route("GET", "/certificates/{serial}", detail, STAFF,
          "a certificate and its status history", {200: "CertificateDetail", 400: "Error",
                                                   404: "Error"},
          params=(_SERIAL,)),
    # The paper copy holds the holder's personal identifiers: not for the auditor.
    Route("GET", "/certificates/{serial}/paper", paper, PERSONAL_DATA,
          "the certificate's paper copy (regulation 8.3), PDF",
          {200: "application/pdf", 400: "Error", 404: "Error"}, params=(_SERIAL,)),
    Route("POST", "/certificates/{serial}/revoke", revoke, OFFICER, "revoke for good",
          _CHANGED, body="RevokeRequest", params=(_SERIAL,)),
    Route("POST", "/certificates/{serial}/suspend", suspend, OFFICER,
          "suspend (certificateHold)", _CHANGED, body="StatusRequest", params=(_SERIAL,)),
    Route("POST", "/certificates/{serial}/resume", resume, OFFICER, "lift a suspension",
          _CHANGED, body="StatusRequest", params=(_SERIAL,)),
)  # fmt: skip
