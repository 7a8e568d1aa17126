"""The aiohttp application: only translation between HTTP and the CA's services.

This issue's endpoints: `/healthz` (liveness: the registry answers and the CA has an active
key), `/metrics` (Prometheus text format, from the CA's own CollectorRegistry) and
`/ca/<name>.crt` (the CA certificate, DER, for AIA caIssuers).
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.context import CA
from server.errors import CAError

CA_KEY = web.AppKey("ca", CA)


def build_app(ca: CA) -> web.Application:
    app = web.Application()
    app[CA_KEY] = ca
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ca/{name}.crt", ca_certificate)
    return app


async def healthz(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    try:
        await ca.authority.generation()
    except CAError as exc:
        return web.Response(status=503, text=f"unhealthy: {exc}\n")
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[CA_KEY].metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def ca_certificate(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    if request.match_info["name"] != ca.settings.ca.name:
        raise web.HTTPNotFound(text="no such CA\n")
    generation = await ca.authority.generation()
    return web.Response(
        body=generation.certificate_der,
        content_type="application/pkix-cert",
        headers={"Cache-Control": "max-age=3600, public"},
    )
