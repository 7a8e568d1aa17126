"""One-time enrollment credentials, made by an operator (as `python -m server enroll-code`
makes them): the secret is in this answer and nowhere else, ever."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from protocols.x509 import names
from server.accounts import Role
from server.request_checks import SubjectAltNames
from server.web.api.common import Call, Route, json_response, time_text

OPERATOR = frozenset({Role.OPERATOR})
DEFAULT_VALID_HOURS = 72.0


async def create(call: Call) -> web.Response:
    body = await call.body()
    credential, secret = await call.ca.credentials.create(
        body["profile"],
        body["subject"],
        timedelta(hours=body.get("valid_hours", DEFAULT_VALID_HOURS)),
        call.requester.actor,
        SubjectAltNames(
            dns=body.get("dns", []), ips=body.get("ip", []), emails=body.get("email", [])
        ),
    )
    answer = {
        "id": credential.id,
        "secret": secret,
        "profile": credential.profile,
        "subject": names.format_dn(credential.subject),
        "expires_at": time_text(credential.expires_at),
    }
    return json_response(answer, status=201)


ROUTES = (
    Route("POST", "/credentials", create, OPERATOR, "a one-time enrollment credential",
          {201: "Credential", 400: "Error", 409: "Error"}, body="CredentialRequest"),
)  # fmt: skip
