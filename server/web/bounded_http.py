"""The main listeners (HTTP, HTTPS) with the limits of `[limits]` (server/web/limits.py).

aiohttp bounds most of it itself once told: the request-target (`max_line_size`), each
header field (`max_field_size`) and their number (`max_headers`), and its keep-alive timer,
which closes a connection that has not completed a request head `keepalive_timeout`
seconds after it opened or after its previous answer (slowloris and idle connections
alike). Request bodies are timed where handlers read them (server/web/bodies.py).

What it does not do, `BoundedRequestHandler` adds:
- a cap on connections: over `limits.max_connections` a connection gets a 503 and is closed
  before aiohttp sees it;
- the answers to a request head it could not parse: aiohttp answers every such head 400 and
  logs the parser's exception with its traceback to `aiohttp.server`, unauthenticated and
  unbounded. `handle_error`, the public hook that makes that answer, here answers a long
  request-target 414 (RFC 9110 15.5.15), a long or extra header field 431 (RFC 6585 5),
  anything else 400, always closing the connection, and counts and logs it through the
  listener's guard: one rate-limited line, no traceback. Failures of handlers (500) go on
  to aiohttp's own handling;
- counting and logging header timeouts (slowloris) where its keep-alive timer cuts a
  connection that had begun a head;
- cutting a connection whose client does not read its answer (aiohttp would wait for it
  without end), through the guard's timer.

It is a subclass of aiohttp's RequestHandler (the protocol of one connection), not of the
Application, because `handle_error` is where aiohttp knows why a head was refused. The
listening socket is made with `loop.create_server` and this factory instead of
`web.TCPSite`, whose factory is always aiohttp's own; connections still register with the
runner's `web.Server`, so `runner.cleanup()` closes them as before.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from server.web.limits import LINGERING_SECONDS, OVER_CAPACITY, ListenerGuard

TOO_MANY_FIELDS = "Too many headers received"  # aiohttp's message for max_headers


class BoundedRequestHandler(RequestHandler):
    """aiohttp's connection protocol, admitted by a guard and refusing heads in words."""

    def __init__(self, manager: web.Server, guard: ListenerGuard, **kwargs: Any) -> None:
        limits = guard.limits
        super().__init__(
            manager,
            max_line_size=limits.max_target_bytes,
            max_field_size=limits.max_field_bytes,
            max_headers=limits.max_fields,
            keepalive_timeout=limits.header_timeout_seconds,
            lingering_time=min(LINGERING_SECONDS, limits.body_timeout_seconds),
            **kwargs,
        )
        self.guard = guard
        self._admitted = False
        self._heard = False  # bytes arrived since the last answer began

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.guard.admit(self):
            transport.write(OVER_CAPACITY)  # type: ignore[attr-defined]
            transport.close()
            return
        self._admitted = True
        # aiohttp's handlers wait (drain) while the transport holds this much unsent
        transport.set_write_buffer_limits(high=self.guard.limits.write_buffer_bytes)  # type: ignore[attr-defined]
        super().connection_made(transport)
        self.guard.watch(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self.guard.release(self)
        super().connection_lost(exc)

    # the listener's guard (server/web/limits.py): aiohttp waits for the client to read an
    # answer without end; the guard cuts it when no byte of it leaves for as long as a head
    # may take.
    def watch(self) -> tuple[int, float, str] | None:
        transport = self.transport
        unsent = transport.get_write_buffer_size() if transport is not None else 0
        return (unsent, self.keepalive_timeout, "stalled_reader") if unsent else None

    def expire(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # close() would wait for the client to read

    def data_received(self, data: bytes) -> None:
        self._heard = True
        super().data_received(data)

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        self._heard = False
        return await super().finish_response(request, resp, start_time)

    def _process_keepalive(self) -> None:
        """aiohttp's keep-alive timer (a private method; its only seam): when it closes a
        connection that had begun a request head, that is a header timeout (slowloris),
        counted and logged; an idle keep-alive connection closes silently."""
        was_open = self.transport is not None
        super()._process_keepalive()
        if was_open and self.transport is None and self._heard:
            self.guard.refuse(
                "header_timeout",
                f"no complete request head in {self.keepalive_timeout:g} s, connection closed",
            )

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        status, reason, text = self._refusal(exc)
        self.guard.refuse(reason, f"{status} to {request.remote}")
        response = web.Response(status=status, text=text)
        response.force_close()  # RFC 9112 9.6: the rest of the stream cannot be trusted
        return response

    def _refusal(self, exc: HttpProcessingError) -> tuple[int, str, str]:
        if isinstance(exc, LineTooLong):
            # aiohttp tells which line was too long only by the limit it passed; the two
            # limits differ (LimitsSettings.check).
            if exc.args[1] == self.max_line_size:
                return 414, "target_too_long", "request-target too long\n"
            return 431, "field_too_long", "header field too long\n"
        if exc.message == TOO_MANY_FIELDS:
            return 431, "too_many_fields", "too many header fields\n"
        return 400, "bad_request", "bad HTTP request\n"


async def listen(
    runner: web.AppRunner,
    guard: ListenerGuard,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
) -> asyncio.AbstractServer:
    """Serve the runner's application on host:port through `BoundedRequestHandler`s.
    The caller closes the returned server before `runner.cleanup()`."""
    loop = asyncio.get_running_loop()
    server = runner.server
    assert server is not None, "runner.setup() first"

    def connection() -> BoundedRequestHandler:
        return BoundedRequestHandler(server, guard, loop=loop, access_log=None)

    return await loop.create_server(
        connection,
        host,
        port,
        ssl=ssl_context,
        reuse_port=reuse_port,
        ssl_handshake_timeout=guard.limits.header_timeout_seconds if ssl_context else None,
    )
