"""The public pages (S6, S12, U8; issue #18), served to anyone, no credential:

    GET /          the CA's certificates of every generation with their SHA-256
                   thumbprints, the CRL and OCSP URLs, the EST and CMP endpoints, how to
                   enroll with openssl and curl, the search form
    GET /search    ?by=name|serial|key&q=...&match=exact|prefix: issued certificates found
                   by the holder's name (CN or O), serial or key hash (at most 20),
                   limited per client address (429 with Retry-After beyond it; behind
                   a trusted reverse proxy, the address it forwards)

Both take `?lang=ru|en`, else Accept-Language, else Russian (language.py). Plain HTML
(render.py) under a Content-Security-Policy that allows nothing but its own inline style.
The handlers only translate: the directory and the search are server/enrollment's.
Unexpected failures are the plain routes' 500 (server/web/app.py's middleware).
"""

from __future__ import annotations

import time

from aiohttp import web

from server.context import CA
from server.enrollment.ca_directory import ca_directory
from server.enrollment.public_search import SearchBy, find_certificates
from server.errors import CAError, ErrorKind
from server.web.pages import render
from server.web.pages.language import chosen_language
from server.web.pages.rate_limit import ClientRateLimit, client_address, client_of
from server.web.pages.texts import text

# Ten searches at once, then one every six seconds, per client (an IPv4 address, an IPv6
# /64); 4,096 clients remembered (about 1 MB at most). All clients together: a hundred at
# once, then five a second, so that many addresses cannot page through the registry either.
SEARCH_BURST = 10
SEARCH_PER_SECOND = 1 / 6
SEARCH_CLIENTS = 4096
ALL_SEARCHES_BURST = 100
ALL_SEARCHES_PER_SECOND = 5.0

SEARCH_LIMIT_KEY = web.AppKey("public_search_limit", ClientRateLimit)
ALL_SEARCHES_LIMIT_KEY = web.AppKey("public_search_ceiling", ClientRateLimit)
_HEADERS = {
    "Content-Security-Policy": render.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept-Language",
}


def add_routes(app: web.Application, ca_key: web.AppKey[CA]) -> None:
    """The pages' routes, the search limit per client in `app[SEARCH_LIMIT_KEY]` and for
    all of them in `app[ALL_SEARCHES_LIMIT_KEY]`."""
    app[SEARCH_LIMIT_KEY] = ClientRateLimit(SEARCH_PER_SECOND, SEARCH_BURST, SEARCH_CLIENTS)
    app[ALL_SEARCHES_LIMIT_KEY] = ClientRateLimit(ALL_SEARCHES_PER_SECOND, ALL_SEARCHES_BURST, 1)

    async def index(request: web.Request) -> web.Response:
        ca, language = request.app[ca_key], _language(request)
        directory = await ca_directory(ca.registry, ca.roots, ca.settings, ca.clock())
        page = render.index_page(language, ca.settings.ca.name, directory)
        return _html(page, language, 200, "max-age=60")

    async def search(request: web.Request) -> web.Response:
        ca, language = request.app[ca_key], _language(request)
        name = ca.settings.ca.name
        by = _search_by(request.query.get("by"))
        query, prefix = request.query.get("q", ""), request.query.get("match") == "prefix"
        if "q" not in request.query:  # the form alone
            return _html(render.search_page(language, name, by, "", prefix, None), language)
        now = time.monotonic()
        client = client_address(
            request.remote or "",
            request.headers.getall("X-Forwarded-For", []),
            ca.settings.server.trusted_proxies,
        )
        wait = request.app[SEARCH_LIMIT_KEY].take(client_of(client), now)
        wait = wait or request.app[ALL_SEARCHES_LIMIT_KEY].take("", now)
        if wait:
            page = render.refusal_page(language, name, text(language, "too_many", seconds=wait))
            answer = _html(page, language, 429)
            answer.headers["Retry-After"] = str(wait)
            return answer
        try:
            found = await find_certificates(ca.registry, by, query, prefix)
        except CAError as exc:
            if exc.kind is not ErrorKind.MALFORMED:
                raise
            problem = text(language, "malformed", reason=exc.message)
            page = render.search_page(language, name, by, query, prefix, None, problem)
            return _html(page, language, 400)
        return _html(render.search_page(language, name, by, query, prefix, found), language)

    app.router.add_get("/", index)
    app.router.add_get("/search", search)


def _language(request: web.Request) -> str:
    return chosen_language(request.query.get("lang"), request.headers.get("Accept-Language"))


def _search_by(value: str | None) -> SearchBy:
    try:
        return SearchBy(value or SearchBy.NAME)
    except ValueError:
        return SearchBy.NAME


def _html(page: str, language: str, status: int = 200, cache: str = "no-store") -> web.Response:
    headers = {**_HEADERS, "Content-Language": language, "Cache-Control": cache}
    return web.Response(text=page, content_type="text/html", charset="utf-8", status=status,
                        headers=headers)  # fmt: skip
