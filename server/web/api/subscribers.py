"""Subscribers of the registration authority (server/ra/subscribers.py): an operator registers
them, records how their identity was established and that they acknowledged the
conditions notice, and makes them one-time enrollment credentials whose certificate gets
the registered subject.

Every answer here carries personal data (SNILS, INN, document numbers): only the roles in
`PERSONAL_DATA` may read them, and nothing of them is logged.
"""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import date, timedelta

from aiohttp import web

from protocols.x509 import names
from server.accounts import Role
from server.errors import CAError, ErrorKind
from server.ra.subscribers import NewIdentity, NewSubscriber, Presence
from server.registry.records import IdentityRow, SubscriberRow
from server.request_checks import SubjectAltNames
from server.web.api.common import Call, Param, Route, json_response, page_params, time_text
from server.web.api.credentials import DEFAULT_VALID_HOURS

OPERATOR = frozenset({Role.OPERATOR})
#: Who may read personal data (SNILS, INN, document numbers, identity records).
PERSONAL_DATA = frozenset({Role.OPERATOR, Role.OFFICER})

_ID = Param("id", "path", {"type": "string"}, "the subscriber id (sb-...)")
_NEW_SUBSCRIBER_FIELDS = tuple(f.name for f in fields(NewSubscriber))
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def subscriber_view(row: SubscriberRow) -> dict[str, object]:
    return {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "surname": row.surname,
        "given_names": row.given_names,
        "email": row.email,
        "snils": row.snils,
        "inn": row.inn,
        "ogrn": row.ogrn,
        "ogrnip": row.ogrnip,
        "country": row.country,
        "region": row.region,
        "locality": row.locality,
        "street": row.street,
        "registered_by": row.registered_by,
        "registered_at": time_text(row.registered_at),
        "erased_at": time_text(row.erased_at),
    }


def identity_view(row: IdentityRow) -> dict[str, object]:
    return {
        "id": row.id,
        "subscriber_id": row.subscriber_id,
        "document_type": row.document_type,
        "document_number": row.document_number,
        "document_issuer": row.document_issuer,
        "document_date": row.document_date.isoformat(),
        "presence": row.presence,
        "proxy_name": row.proxy_name,
        "poa_number": row.poa_number,
        "poa_date": row.poa_date.isoformat() if row.poa_date else None,
        "verified_by": row.verified_by,
        "verified_at": time_text(row.verified_at),
    }


def parse_date(text: str | None, name: str) -> date | None:
    """A calendar date YYYY-MM-DD. Raises CAError(MALFORMED) naming the field."""
    if text is None:
        return None
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise CAError(ErrorKind.MALFORMED, f"{name}: not a date YYYY-MM-DD") from None


async def register(call: Call) -> web.Response:
    body = await call.body()
    data = NewSubscriber(**{name: body[name] for name in _NEW_SUBSCRIBER_FIELDS if name in body})
    row = await call.ca.subscribers.register(data, call.requester.actor)
    return json_response(subscriber_view(row), status=201)


async def listing(call: Call) -> web.Response:
    limit = call.limit()
    rows = await call.ca.subscribers.listing(call.query("after") or "", limit)
    next_after = rows[-1].id if len(rows) == limit else None
    return json_response({"subscribers": [subscriber_view(r) for r in rows], "next": next_after})


async def detail(call: Call) -> web.Response:
    """The subscriber, its identity records, the current notice's acknowledgement, and
    whether a certificate may be issued for it now (`Subscribers.ready`)."""
    subscribers, subscriber_id = call.ca.subscribers, call.path("id")
    row = await subscribers.get(subscriber_id)
    identities = await subscribers.identities(subscriber_id)
    version, acknowledged_at = await subscribers.notice_status(subscriber_id)
    try:
        await subscribers.ready(subscriber_id)
        not_ready = None
    except CAError as exc:
        if exc.kind is not ErrorKind.REJECTED:
            raise
        not_ready = exc.message
    return json_response(
        {
            **subscriber_view(row),
            "identities": [identity_view(i) for i in identities],
            "notice_version": version,
            "notice_acknowledged_at": time_text(acknowledged_at),
            "ready": not_ready is None,
            "not_ready_reason": not_ready,
        }
    )


async def identify(call: Call) -> web.Response:
    body = await call.body()
    document_date = parse_date(body["document_date"], "document_date")
    assert document_date is not None
    data = NewIdentity(
        document_type=body["document_type"],
        document_number=body["document_number"],
        document_issuer=body["document_issuer"],
        document_date=document_date,
        presence=body.get("presence", Presence.IN_PERSON),
        proxy_name=body.get("proxy_name"),
        poa_number=body.get("poa_number"),
        poa_date=parse_date(body.get("poa_date"), "poa_date"),
    )
    row = await call.ca.subscribers.add_identity(call.path("id"), data, call.requester.actor)
    return json_response(identity_view(row), status=201)


async def acknowledge(call: Call) -> web.Response:
    subscriber_id = call.path("id")
    version = await call.ca.subscribers.acknowledge_notice(subscriber_id, call.requester.actor)
    return json_response({"subscriber_id": subscriber_id, "notice_version": version})


async def credential(call: Call) -> web.Response:
    """A one-time enrollment credential for the subscriber's registered subject (D2); the
    secret is in this answer and nowhere else."""
    body = await call.body()
    made, secret = await call.ca.subscribers.enrollment_credential(
        call.path("id"),
        body["profile"],
        timedelta(hours=body.get("valid_hours", DEFAULT_VALID_HOURS)),
        call.requester.actor,
        SubjectAltNames(
            dns=body.get("dns", []), ips=body.get("ip", []), emails=body.get("email", [])
        ),
    )
    answer = {
        "id": made.id,
        "secret": secret,
        "profile": made.profile,
        "subject": names.format_dn(made.subject),
        "expires_at": time_text(made.expires_at),
    }
    return json_response(answer, status=201)


ROUTES = (
    Route("POST", "/subscribers", register, OPERATOR,
          "register a subscriber; a bad identifier is refused naming the field",
          {201: "Subscriber", 400: "Error", 409: "Error"}, body="SubscriberRequest"),
    Route("GET", "/subscribers", listing, PERSONAL_DATA, "subscribers, by id",
          {200: "SubscriberList", 400: "Error"},
          params=page_params({"type": "string"})),
    Route("GET", "/subscribers/{id}", detail, PERSONAL_DATA,
          "one subscriber with its identity records and notice acknowledgement",
          {200: "SubscriberDetail", 404: "Error"}, params=(_ID,)),
    Route("POST", "/subscribers/{id}/identity", identify, OPERATOR,
          "record how the subscriber's identity was established (P3)",
          {201: "IdentityRecord", 400: "Error", 404: "Error"},
          body="IdentityRequest", params=(_ID,)),
    Route("POST", "/subscribers/{id}/acknowledgement", acknowledge, OPERATOR,
          "record that the subscriber acknowledged the current conditions notice (D1)",
          {200: "NoticeAcknowledgement", 404: "Error"}, params=(_ID,)),
    Route("POST", "/subscribers/{id}/credentials", credential, OPERATOR,
          "a one-time enrollment credential for the registered subject; the subscriber"
          " must have an identity record and the notice acknowledged",
          {201: "Credential", 400: "Error", 404: "Error", 409: "Error"},
          body="SubscriberCredentialRequest", params=(_ID,)),
)  # fmt: skip
