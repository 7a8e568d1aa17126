"""What every module of the API shares: the route table's shape, the call a handler gets,
JSON in and out, and the one table from the core's error kinds to HTTP statuses.

A request body is checked against the very JSON Schema the OpenAPI document publishes for
it, by a small checker of the keywords those schemas use (`SUPPORTED`); the document
refuses, when it is built, a request schema using any other keyword, so what is published
is what is enforced.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from server.accounts import Account, Accounts, Requester, Role
from server.context import CA
from server.errors import CAError, ErrorKind
from server.registry import interfaces
from server.registry.records import to_text
from server.web.bodies import BodyTooLarge, read_body
from server.web.unexpected import UnexpectedErrors

PREFIX = "/api/v1"
MAX_BODY_BYTES = 65536
MAX_PAGE = 1000
JSON_CT = "application/json"

STAFF = frozenset({Role.OPERATOR, Role.OFFICER, Role.AUDITOR})
PUBLIC: frozenset[Role] = frozenset()

# One table from the core's refusals to HTTP statuses. UNAUTHORIZED from a service means
# an authenticated caller may not do this: 403 (no or a bad credential is 401, in auth.py).
STATUS = {
    ErrorKind.MALFORMED: 400,
    ErrorKind.BAD_POP: 400,
    ErrorKind.UNAUTHORIZED: 403,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.REJECTED: 409,
    ErrorKind.ALREADY_REVOKED: 409,
    ErrorKind.DUPLICATE: 409,
    ErrorKind.EXPIRED: 409,
    ErrorKind.PENDING: 409,
    ErrorKind.BUSY: 503,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}

Handler = Callable[["Call"], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # path, query
    schema: Schema
    description: str = ""
    required: bool = False  # path parameters always are


def page_params(after: Schema) -> tuple[Param, Param]:
    """`limit` and `after` (the `next` of the previous page) of a paged list."""
    return (
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
              "default 100"),
        Param("after", "query", after, "the `next` of the previous page"),
    )  # fmt: skip


@dataclass(frozen=True)
class Route:
    """One operation: `path` is under PREFIX in OpenAPI template form, `roles` may call it
    (none: public), `responses` maps a status to a component schema of the document (a
    JSON body) or to a media type (a name with "/": a download). A body other than JSON
    (`body_media`) is read by the handler, which checks its fields against `body` itself."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[Role]
    summary: str
    responses: Mapping[int, str]
    body: str | None = None
    params: tuple[Param, ...] = ()
    body_media: str = JSON_CT  # the request body's media type (multipart/form-data: files)


@dataclass(frozen=True)
class Services:
    """What handlers use beyond the CA's own services, built once per application."""

    ca: CA
    accounts: Accounts
    search: interfaces.SearchQueries
    refused_sign_ins: Counter  # ca_api_sign_in_refusals_total
    unexpected: UnexpectedErrors


@dataclass(frozen=True)
class Call:
    request: web.Request
    services: Services
    caller: Account | None
    body_schema: Schema | None = field(default=None, repr=False)

    @property
    def ca(self) -> CA:
        return self.services.ca

    @property
    def requester(self) -> Requester:
        assert self.caller is not None, "a public route has no requester"
        return Requester(actor=self.caller.actor, role=self.caller.role)

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    def limit(self, default: int = 100) -> int:
        """The `limit` of a paged list. Raises CAError(MALFORMED)."""
        value = self.query_int("limit", None, 1, MAX_PAGE)
        return default if value is None else value

    def query_int(self, name: str, default: int | None, low: int, high: int) -> int | None:
        """Raises CAError(MALFORMED) for a value that is not an integer in [low, high]."""
        text = self.query(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise CAError(ErrorKind.MALFORMED, f"{name} must be an integer") from None
        if not low <= value <= high:
            raise CAError(ErrorKind.MALFORMED, f"{name} must be {low}..{high}")
        return value

    async def body(self) -> dict[str, Any]:
        """The JSON object of the request, checked against the route's request schema.
        Raises CAError(MALFORMED)."""
        try:
            raw = await read_body(self.request, MAX_BODY_BYTES)
        except BodyTooLarge:
            raise CAError(
                ErrorKind.MALFORMED, f"the body is larger than {MAX_BODY_BYTES} bytes"
            ) from None
        value = json_body(raw)
        assert self.body_schema is not None, "the route declares no request body"
        check(self.body_schema, value, "body")
        return value


def json_body(raw: bytes) -> Any:
    """The JSON value (RFC 8259) of a request body; an empty body is null. Raises
    CAError(MALFORMED) for anything else, whatever the octets."""
    try:
        return json.loads(raw or b"null")
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the
        # interpreter's stack (60,000 '['); RFC 8259 9 lets a parser limit the depth
        raise CAError(ErrorKind.MALFORMED, "the body is not JSON") from None


def json_response(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def error_response(
    status: int, kind: ErrorKind, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": kind.value, "message": message}, status=status, headers=headers
    )


def refusal(error: CAError) -> web.Response:
    status = STATUS[error.kind]
    message = error.message if status != 500 else "internal error"
    return error_response(status, error.kind, message)


def time_text(moment: datetime | None) -> str | None:
    return to_text(moment) if moment is not None else None


def parse_time(text: str, name: str) -> datetime:
    """An RFC 3339 time (a time without zone is refused). Raises CAError(MALFORMED)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise CAError(ErrorKind.MALFORMED, f"{name} is not an RFC 3339 time with a zone")
    return moment


# -- the request schemas' checker ---------------------------------------------------------

SUPPORTED = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum",
    "minLength", "maxLength", "maxItems", "minimum", "maximum", "description", "format",
})  # fmt: skip
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def unsupported_keywords(schema: Schema) -> set[str]:
    """The keywords of `schema` (and of its sub-schemas) that `check` does not enforce."""
    found = set(schema) - SUPPORTED
    if not isinstance(schema.get("type", ""), str):
        found.add("type (a list)")
    for sub in schema.get("properties", {}).values():
        found |= unsupported_keywords(sub)
    if isinstance(schema.get("items"), dict):
        found |= unsupported_keywords(schema["items"])
    if schema.get("additionalProperties") not in (None, False):
        found.add("additionalProperties")
    return found


def check(schema: Schema, value: object, where: str) -> None:
    """Raises CAError(MALFORMED) naming where `value` breaks `schema` (`format` is left to
    the handler, which parses the value anyway)."""

    def refuse(what: str) -> CAError:
        return CAError(ErrorKind.MALFORMED, f"{where}: {what}")

    kind = schema.get("type")
    if kind is not None:
        wrong_bool = isinstance(value, bool) and kind in ("integer", "number")
        if wrong_bool or not isinstance(value, _TYPES[kind]):
            raise refuse(f"expected {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
    if "enum" in schema and value not in schema["enum"]:
        raise refuse(f"one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise refuse("too short" if value else "must not be empty")
        if len(value) > schema.get("maxLength", len(value)):
            raise refuse(f"longer than {schema['maxLength']} characters")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        raise refuse(f"out of range {schema.get('minimum')}..{schema.get('maximum')}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            raise refuse(f"more than {schema['maxItems']} items")
        for index, item in enumerate(value):
            check(schema.get("items", {}), item, f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise refuse(f"{name} is missing")
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(properties))
            if unknown:
                raise refuse(f"unknown field {unknown[0]!r}")
        for name, item in value.items():
            if name in properties:
                check(properties[name], item, f"{where}.{name}")
