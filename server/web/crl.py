"""CRLs over HTTP (RFC 5280 4.2.1.13, RFC 8398-style plain HTTP distribution points):
`GET /crl/<name>.crl` and `/crl/<name>-delta.crl`, DER, with validators for caches."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from config import Settings
from server.status.crl_publisher import CRLPublisher
from server.status.distribution_points import parse_crl_file_name
from server.web.http_cache import cache_headers, not_modified

CONTENT_TYPE = "application/pkix-crl"


def add_routes(
    app: web.Application, settings: Settings, publisher_of: web.AppKey[CRLPublisher]
) -> None:
    async def get(request: web.Request) -> web.Response:
        name = parse_crl_file_name(request.match_info["file"], settings.ca.name,
                                   settings.crl.shards)  # fmt: skip
        published = request.app[publisher_of].current(name.shard, name.delta) if name else None
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
