"""CMP over HTTP (RFC 6712, RFC 9811): only translation between HTTP and the CMP server.

    POST /.well-known/cmp            the profile `cmp.default_profile`
    POST /.well-known/cmp/p/<label>  the profile `cmp.labels` gives the label (RFC 9811 3.3)

A PKIMessage comes in and goes out as `application/pkixcmp` with 200, refusals included:
they are CMP error messages (RFC 6712 3.3), undecodable input (badDataFormat) and
unexpected failures (systemFailure, logged and counted by server/web/unexpected.py) too.
Plain HTTP is allowed, as CMP protects its own messages (RFC 6712 4); the HTTPS listener
serves the same paths. Signed answers and key packages are signed with the CMP server's own
protection certificate (server/cmp/identity.py), not the TLS identity, whether HTTPS is on
or not.
"""

from __future__ import annotations

from aiohttp import web

from server.context import CA
from server.web.bodies import BodyTooLarge, read_body
from server.web.unexpected import UNEXPECTED_KEY

PREFIX = "/.well-known/cmp"
CONTENT_TYPE = "application/pkixcmp"


def add_routes(app: web.Application, ca_key: web.AppKey[CA]) -> None:
    async def handle(request: web.Request) -> web.Response:
        ca = request.app[ca_key]
        settings = ca.settings.cmp
        label = request.match_info.get("label")
        if label is None:
            profile = settings.default_profile
        elif label in settings.labels:
            profile = settings.labels[label]
        else:
            raise web.HTTPNotFound(text="no such CMP label\n")
        if request.content_type != CONTENT_TYPE:
            raise web.HTTPUnsupportedMediaType(text=f"expected {CONTENT_TYPE}\n")
        try:
            body = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge as exc:
            raise web.HTTPRequestEntityTooLarge(
                max_size=settings.max_body_bytes, actual_size=exc.size
            ) from None
        unexpected = request.app[UNEXPECTED_KEY]
        answer = await ca.cmp.handle(
            body, profile, await ca.cmp_identity.current(),
            lambda failure: unexpected.record("cmp", failure),
        )  # fmt: skip
        return web.Response(body=answer, headers={"Content-Type": CONTENT_TYPE,
                                                  "Cache-Control": "no-store"})  # fmt: skip

    app.router.add_post(PREFIX, handle)
    app.router.add_post(PREFIX + "/p/{label}", handle)
