"""OCSP over HTTP (RFC 6960 Appendix A, RFC 5019 section 5): `POST /ocsp` with a DER
request body, `GET /ocsp/<url-encoded base64 of the DER request>`. Every answer, errors
included, is an `application/ocsp-response`: malformedRequest for what does not parse,
internalError for an unexpected failure (RFC 6960 4.2.1), as the dedicated listener
(server/web/ocsp_listener.py) answers them."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from protocols import ocsp
from server.status.ocsp_responder import OCSPAnswer, OCSPResponder
from server.web.bodies import BodyTooLarge, read_body
from server.web.http_cache import cache_headers, not_modified
from server.web.unexpected import UNEXPECTED_KEY

MAX_REQUEST_BYTES = 16 * 1024  # a request for a few certificates is a few hundred bytes
CONTENT_TYPE = "application/ocsp-response"


def add_routes(app: web.Application, responder_of: web.AppKey[OCSPResponder]) -> None:
    async def post(request: web.Request) -> web.Response:
        try:
            body = await read_body(request, MAX_REQUEST_BYTES)
        except BodyTooLarge:
            return _reply(_malformed())
        return _reply(await _answer(request, responder_of, body))

    async def get(request: web.Request) -> web.Response:
        tail = request.raw_path.split("?", 1)[0].removeprefix("/ocsp/")
        if len(tail) > MAX_REQUEST_BYTES * 2:
            return _reply(_malformed())
        try:
            der = ocsp.decode_get_path(tail)
        except ocsp.MalformedOCSPRequest:
            return _reply(_malformed())
        answer = await _answer(request, responder_of, der)
        if not_modified(request, answer.etag, answer.last_modified):
            return web.Response(status=304, headers=answer_headers(answer))
        return _reply(answer)

    app.router.add_post("/ocsp", post)
    app.router.add_post("/ocsp/", post)
    app.router.add_get("/ocsp/{request:.+}", get)


async def _answer(
    request: web.Request, responder_of: web.AppKey[OCSPResponder], der: bytes
) -> OCSPAnswer:
    """The responder's answer; internalError (RFC 6960 4.2.1), logged and counted, when it
    fails unexpectedly: the same bytes the dedicated listener sends for it."""
    responder = request.app[responder_of]
    try:
        return await responder.answer(der)
    except Exception as failure:
        request.app[UNEXPECTED_KEY].record("ocsp", failure)
        return responder.internal_error()


def _malformed() -> OCSPAnswer:
    return OCSPAnswer(der=ocsp.error_response(ocsp.OCSPResponseStatus.malformedRequest))


def answer_headers(answer: OCSPAnswer) -> dict[str, str]:
    """The caching headers of an answer (RFC 5019 6.2); the dedicated listener
    (server/web/ocsp_listener.py) sends the same."""
    max_age = answer.max_age
    if answer.expires is not None:  # RFC 5019 6.2: never past nextUpdate
        max_age = min(max_age, int((answer.expires - datetime.now(UTC)).total_seconds()))
    return cache_headers(max_age, answer.etag, answer.last_modified, answer.expires)


def _reply(answer: OCSPAnswer) -> web.Response:
    return web.Response(body=answer.der, content_type=CONTENT_TYPE, headers=answer_headers(answer))
