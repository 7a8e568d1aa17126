"""The aiohttp application: only translation between HTTP and the CA's services.

`/healthz` (readiness, server/node/health.py: 503 with a one-line reason when the registry
does not answer, no signer can sign, no live process holds the background duties or the
active CA key's lifetime has ended; `ok; warning: ...` inside the key's rollover window),
`/livez` (liveness: 200 whenever this process's event loop answers), `/metrics`
(Prometheus text format, from the CA's own CollectorRegistry), `/ca/<name>.crt` (a CA
generation's certificate, DER, for AIA caIssuers, named as in
server/status/distribution_points.py), `/ocsp` (server/web/ocsp.py) and `/crl/<name>.crl`
(server/web/crl.py); `/` and `/search`, the public pages (server/web/pages).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.context import CA
from server.errors import CAError
from server.node.tls import ServerIdentity
from server.status.crl_publisher import CRLPublisher
from server.status.distribution_points import generation_named
from server.status.ocsp_responder import OCSPResponder
from server.web import api, cmp, crl, est, ocsp, pages
from server.web.identity import SERVER_IDENTITY_KEY
from server.web.unexpected import UNEXPECTED_KEY, unexpected_errors

CA_KEY = web.AppKey("ca", CA)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OCSP_KEY = web.AppKey("ocsp", OCSPResponder)
CRL_KEY = web.AppKey("crl", CRLPublisher)


def build_app(ca: CA, identity: ServerIdentity | None = None) -> web.Application:
    """The HTTP application; `identity` (the HTTPS listener's) signs encrypted keys."""
    app = web.Application(middlewares=[unexpected_as_500])
    app[CA_KEY] = ca
    app[UNEXPECTED_KEY] = unexpected_errors(ca.metrics)
    if identity is not None:
        app[SERVER_IDENTITY_KEY] = identity
    app[OCSP_KEY] = ca.status.ocsp
    app[CRL_KEY] = ca.status.crls
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ca/{name}.crt", ca_certificate)
    ocsp.add_routes(app, OCSP_KEY)
    crl.add_routes(app, CRL_KEY, ca.roots)
    est.add_routes(app, CA_KEY)
    cmp.add_routes(app, CA_KEY)
    api.add_routes(app, CA_KEY)
    pages.add_routes(app, CA_KEY)
    return app


@web.middleware
async def unexpected_as_500(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The plain routes' answer to a failure nobody expected (health, metrics, CA
    certificates, CRLs): 500 with a short text and no detail, logged once with its
    traceback and counted as `http`. EST, CMP, OCSP and the API answer their own in their
    protocol's words before it gets here."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as failure:
        request.app[UNEXPECTED_KEY].record("http", failure, request.path)
        return web.Response(status=500, text="internal error\n")


async def healthz(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    if ca.health is None:  # not a serving process (tests): the registry and the CA key
        try:
            await ca.authority.generation()
        except CAError as exc:
            return web.Response(status=503, text=f"unhealthy: {exc}\n")
        return web.Response(text="ok\n")
    readiness = await ca.health.readiness()
    if readiness.problem is not None:
        return web.Response(status=503, text=f"unhealthy: {readiness.problem}\n")
    if readiness.warning is not None:
        return web.Response(text=f"ok; warning: {readiness.warning}\n")
    return web.Response(text="ok\n")


async def livez(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    await ca.applications.refresh_metrics()
    await ca.confirmation_cases.refresh_metrics()
    await ca.key_lifetimes.refresh_metrics()
    await ca.roots.refresh_metrics()
    body = generate_latest(ca.metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def ca_certificate(request: web.Request) -> web.Response:
    ca = request.app[CA_KEY]
    generations = await ca.registry.generations(ca.settings.ca.name)
    name = request.match_info["name"]
    generation = generation_named(generations, name)
    der = generation.certificate_der if generation else await ca.roots.certificate(name)
    if der is None:
        raise web.HTTPNotFound(text="no such CA\n")
    return web.Response(
        body=der,
        content_type="application/pkix-cert",
        headers={"Cache-Control": "max-age=3600, public"},
    )
