"""Request bodies read whole, up to a limit of size and of time."""

from __future__ import annotations

import asyncio

from aiohttp import web

from server.web.bounded_http import BoundedRequestHandler


class BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"body larger than {size} bytes")
        self.size = size


async def read_body(request: web.Request, limit: int, drain: int = 1 << 20) -> bytes:
    """The whole body, or BodyTooLarge past `limit` bytes. A refused body is read on (up to
    `drain` bytes) and dropped, so the answer is not lost to a connection reset while the
    client is still sending. (StreamReader.read(n) returns what has arrived, not n bytes:
    a body in several TCP segments would otherwise be cut short.)

    On a listener with limits (server/web/bounded_http.py) a body still incomplete
    `limits.body_timeout_seconds` after its head is answered 408 (RFC 9110 15.5.9,
    web.HTTPRequestTimeout) and the connection closed; a client that leaves mid-body is
    counted as a bad request (web.HTTPBadRequest), not logged as an unexpected failure."""
    protocol = request.protocol
    if not isinstance(protocol, BoundedRequestHandler):
        return await _read(request, limit, drain)
    timeout = protocol.guard.limits.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await _read(request, limit, drain)
    except ConnectionError:  # the client went away mid-body: nobody to answer, no failure
        protocol.guard.refuse("bad_request", "the client left before its body was complete")
        gone = web.HTTPBadRequest(text="incomplete body\n")
        gone.force_close()
        raise gone from None
    except TimeoutError:
        protocol.guard.refuse("body_timeout", f"no complete body in {timeout:g} s, 408")
        refusal = web.HTTPRequestTimeout(text="request body not received in time\n")
        refusal.force_close()
        raise refusal from None


async def _read(request: web.Request, limit: int, drain: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            while size < limit + drain and (rest := await request.content.readany()):
                size += len(rest)
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)
