"""CRLs over HTTP (RFC 5280 4.2.1.13, RFC 8398-style plain HTTP distribution points):
`GET /crl/<name>.crl` and `/crl/<name>-delta.crl`, DER, with validators for caches; every
live CA generation's under its own name (server/status/distribution_points.py), and the
CRL of a root CA kept in the home (server/hierarchy/root_publication.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from server.hierarchy.root_publication import RootPublication
from server.status.crl_publisher import CRLPublisher
from server.web.http_cache import cache_headers, not_modified

CONTENT_TYPE = "application/pkix-crl"


def add_routes(
    app: web.Application, publisher_of: web.AppKey[CRLPublisher], roots: RootPublication
) -> None:
    async def get(request: web.Request) -> web.Response:
        file_name = request.match_info["file"]
        published = request.app[publisher_of].named(file_name) or await roots.crl(file_name)
        if published is None:
            raise web.HTTPNotFound(text="no such CRL\n")
        max_age = int((published.next_update - datetime.now(UTC)).total_seconds())
        headers = cache_headers(
            max_age, published.etag, published.this_update, published.next_update
        )
        if not_modified(request, published.etag, published.this_update):
            return web.Response(status=304, headers=headers)
        return web.Response(body=published.der, content_type=CONTENT_TYPE, headers=headers)

    app.router.add_get("/crl/{file}", get)
