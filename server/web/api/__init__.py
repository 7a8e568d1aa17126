"""The `/api/v1/` JSON API: operator and public registry operations, with the OpenAPI 3.1
document at `/api/v1/openapi.json`.

Each module holds a table `ROUTES` of `common.Route`: method, path, handler, the roles that
may call it (none: public), and the document's schema names of its bodies. To add one
(e.g. `subscribers.py`): write its handlers `async def h(call: Call) -> web.Response` and
its `ROUTES`, put the JSON Schemas of its bodies in `openapi.SCHEMAS`, and list the module
in `MODULES` below. Routes are added in table order: a literal path such as
`/applications/overdue` goes before the template it would match, `/applications/{id}`.
The API is a sub-application, so any error, ours or aiohttp's (no such path, method not
allowed), leaves as the JSON `Error` of the document.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from server.accounts import Accounts
from server.context import CA
from server.errors import ErrorKind
from server.web.api import (
    accounts,
    applications,
    audit,
    certificates,
    confirmations,
    credentials,
    generations,
    openapi,
    public,
    subscribers,
)
from server.web.api.auth import guarded
from server.web.api.common import PREFIX, Route, Services, error_response
from server.web.unexpected import UNEXPECTED_KEY

MODULES = (
    public,
    certificates,
    generations,
    subscribers,
    applications,
    credentials,
    confirmations,
    accounts,
    audit,
)


def routes() -> list[Route]:
    """Every route of the API, the document's own included."""
    table = [route for module in MODULES for route in module.ROUTES]
    return [*table, openapi.document_route(table)]


def add_routes(app: web.Application, ca_key: web.AppKey[CA]) -> None:
    """Mount the API on `app`, whose `ca_key` holds the CA already."""
    ca = app[ca_key]
    services = Services(
        ca, Accounts(ca.registry, ca.clock), ca.registry.search, _refusals(ca.metrics),
        app[UNEXPECTED_KEY],
    )  # fmt: skip
    api = web.Application(middlewares=[_json_errors])
    for route in routes():
        body_schema = openapi.SCHEMAS[route.body] if route.body else None
        api.router.add_route(route.method, route.path, guarded(route, services, body_schema))
    app.add_subapp(PREFIX, api)


_REFUSALS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def _refusals(metrics: CollectorRegistry) -> Counter:
    """The CA's counter of refused sign-ins, made once however many listeners (HTTP,
    HTTPS) mount the API."""
    counter = _REFUSALS.get(metrics)
    if counter is None:
        counter = _REFUSALS[metrics] = Counter(
            "ca_api_sign_in_refusals",
            "API requests refused for a missing, unknown or disabled credential (401)",
            registry=metrics,
        )
    return counter


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405, ...) as the document's Error."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = ErrorKind.NOT_FOUND if exc.status == 404 else ErrorKind.MALFORMED
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, kind, exc.reason.lower(), headers)
