"""Who calls, and whether that caller may: the gate every API route passes.

The caller is the account of the bearer token in `Authorization` (RFC 6750 2.1) or, when
there is no such header, the account bound to the TLS client certificate (which the TLS
layer has checked against the CA). A route with no roles is public. Otherwise no
credential, or one that matches no enabled account, is 401 with a Bearer challenge
(RFC 6750 3); an account whose role the route does not list is 403.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.accounts import Account, Accounts
from server.errors import CAError, ErrorKind
from server.web.api.common import Call, Route, Schema, Services, error_response, refusal

log = logging.getLogger(__name__)

_CHALLENGE = 'Bearer realm="api"'


def client_certificate(request: web.Request) -> bytes | None:
    """The TLS client certificate (DER), verified against the CA by the TLS layer."""
    ssl_object: ssl.SSLObject | None = (
        request.transport.get_extra_info("ssl_object") if request.transport else None
    )
    return ssl_object.getpeercert(binary_form=True) if ssl_object else None


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, "" for another or a malformed header,
    None without the header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else ""


async def authenticate(request: web.Request, accounts: Accounts) -> Account | None:
    """The enabled account the request's credential belongs to, or None."""
    token = bearer_token(request)
    if token is not None:
        return await accounts.authenticate_token(token) if token else None
    der = client_certificate(request)
    return await accounts.authenticate_certificate(der) if der else None


def unauthenticated(request: web.Request) -> web.Response:
    challenge = _CHALLENGE
    if request.headers.get("Authorization") is not None:
        challenge += ', error="invalid_token"'
    return error_response(
        401,
        ErrorKind.UNAUTHORIZED,
        "a valid bearer token or client certificate is needed",
        {"WWW-Authenticate": challenge},
    )


def guarded(
    route: Route, services: Services, body_schema: Schema | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of a route: authentication, the role check, the route's own
    handler, and the core's errors as JSON. Any other exception is logged with a request
    id and answered 500 with that id only."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            caller = None
            if route.roles:
                caller = await authenticate(request, services.accounts)
                if caller is None:
                    services.refused_sign_ins.inc()
                    if request.headers.get("Authorization") is not None or client_certificate(
                        request
                    ):  # a credential that matches no enabled account: worth a look
                        log.warning(
                            "API sign-in refused: %s %s from %s",
                            request.method, route.path, request.remote,
                        )  # fmt: skip
                    return unauthenticated(request)
                if caller.role not in route.roles:
                    return error_response(
                        403, ErrorKind.UNAUTHORIZED, f"the {caller.role} role may not do this"
                    )
            return await route.handler(Call(request, services, caller, body_schema))
        except CAError as exc:
            return refusal(exc)
        except web.HTTPException:
            raise
        except Exception as failure:
            request_id = services.unexpected.record("api", failure, f"{route.method} {route.path}")
            return error_response(500, ErrorKind.INTERNAL, f"internal error (request {request_id})")

    return handle
