"""A dedicated OCSP listener (`server.ocsp`), for relying parties' request rates.

The same answers as `/ocsp` on the main listener (server/web/ocsp.py, RFC 6960 Appendix A,
RFC 5019 5), without aiohttp's per-request machinery: an asyncio protocol with the llhttp
parser (httptools) that only knows `POST /ocsp` and `GET /ocsp/<base64>`. A request for one
certificate without nonce is answered from memory in the callback that completes it, no
task, no await; one with a nonce, or for several certificates, all in memory, waits on the
signing pipeline's future (`OCSPResponder.fresh_from_memory`, a `LiveAnswer`); only what
needs the registry runs `OCSPResponder.answer_request` in a task. Answers leave in request order
(HTTP/1.1 pipelining). Measured here: a fixed answer on this design served
about 95,000 requests/s on one core against about 16,000 for a minimal aiohttp handler.

What one client may cost is bounded by `[limits]` through the listener's guard
(server/web/limits.py), at the price of a few attribute checks per request and read: a
connection over `max_connections` gets 503; a request-target over `max_target_bytes` 414, a
header field value over `max_field_bytes` 431, and a request still incomplete past the
largest the limits allow (every field at its largest, and a 16 KiB body) 431, or 413 once
its body began; each is then closed (RFC 9112 9.6). The listener keeps no header but
If-None-Match, so it does not count fields. The guard's timer cuts a connection whose
request is not under way `header_timeout_seconds` after it opened or its previous request
(slowloris; an idle keep-alive connection is closed quietly), whose body is not complete
`body_timeout_seconds` after it began, or whose answers stay unread as long. Answers wait
for a client that does not read them only up to a bound: reading stops while the transport
holds more than `write_buffer_bytes` unsent (`pause_writing`) or `max_pending_answers` are
in the making, and requests received but not yet parsed wait as bytes, at most one read.
Measured here against the listener without them: about 0.15 us more per request of HTTP
handling (2.2 to 2.4 us, pipelined GETs fed in process), and with wrk against the
dedicated listener the server's CPU per pre-signed GET answer 6.00 against 6.02 us (medians
of 7 rounds), throughput within the machine's noise.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from datetime import UTC, datetime

import httptools

from protocols import ocsp
from server.status.ocsp_responder import LiveAnswer, OCSPAnswer, OCSPResponder
from server.web.http_cache import http_date
from server.web.limits import LINGERING_SECONDS, OVER_CAPACITY, ListenerGuard
from server.web.ocsp import CONTENT_TYPE, answer_headers
from server.web.unexpected import UnexpectedErrors

MAX_REQUEST_BYTES = 16 * 1024
# An answer not yet sent: rendered already, signed for this request, or from a task.
_Pending = bytes | LiveAnswer | asyncio.Future[OCSPAnswer]
CACHED_REQUESTS = 200_000  # rendered answers kept for repeated requests
# ... and the bytes they may take (keys and answers): a POST key is its whole body (up to
# MAX_REQUEST_BYTES), so the count alone would let a client make it gigabytes
CACHED_BYTES = 64 << 20
# A read larger than this is parsed in slices of it, so that reading can stop between them
# when answers pile up: what one read adds to them is bounded by the requests in a slice.
SLICE_BYTES = 4096
# Lingering close (RFC 9112 9.6): after a refusal the listener half-closes, then reads and
# drops what the client still sends, for at most the body timeout (and LINGERING_SECONDS)
# and LINGER_BYTES, so the client reads the answer rather than a reset.
LINGER_BYTES = 1 << 20


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that is refused."""


def _head(status: str, headers: dict[str, str], length: int, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {length}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def render(answer: OCSPAnswer, if_none_match: bytes | None, keep_alive: bool) -> bytes:
    """The HTTP response bytes of an answer (headers as server/web/ocsp.py sends them)."""
    if answer.max_age <= 0 and answer.etag is None:  # a live answer: `no-store`, no ETag
        return _uncacheable_head(keep_alive) % len(answer.der) + answer.der
    headers = {"Content-Type": CONTENT_TYPE, **answer_headers(answer)}
    if answer.etag and if_none_match is not None and f'"{answer.etag}"'.encode() in if_none_match:
        return _head("304 Not Modified", headers, 0, keep_alive)
    return _head("200 OK", headers, len(answer.der), keep_alive) + answer.der


@functools.cache
def _uncacheable_head(keep_alive: bool) -> bytes:
    """The head of every answer that may not be kept (nonce answers, errors), with `%d`
    for its length: the same bytes `render` writes for them, made once."""
    headers = {"Content-Type": CONTENT_TYPE, **answer_headers(OCSPAnswer(der=b""))}
    return _head("200 OK", headers, 0, keep_alive).replace(
        b"Content-Length: 0\r\n", b"Content-Length: %d\r\n"
    )


class RenderedAnswers:
    """Rendered HTTP answers to repeated requests (the same GET path or POST body): while
    no held response changed (`OCSPResponder.version`), a repeat costs a dictionary look-up
    and a new max-age, not a parse, a look-up and a render. Pre-signed answers only."""

    def __init__(self, responder: OCSPResponder) -> None:
        self._responder = responder
        self._items: dict[bytes, tuple[int, bytes, bytes, float]] = {}
        self._bytes = 0

    def get(self, key: bytes) -> bytes | None:
        item = self._items.get(key)
        if item is None or item[0] != self._responder.version:
            return None
        _, before, after, expires = item
        max_age = int(expires - time.time())
        if max_age <= 0:
            return None
        return b"%b%d%b" % (before, max_age, after)

    def put(self, key: bytes, answer: OCSPAnswer) -> None:
        if answer.etag is None or answer.expires is None or answer.last_modified is None:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(key) + len(old[1]) + len(old[2])
        before = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nCache-Control: max-age="
        )
        after = (
            f', public, no-transform, must-revalidate\r\nETag: "{answer.etag}"\r\n'
            f"Last-Modified: {http_date(answer.last_modified)}\r\n"
            f"Expires: {http_date(answer.expires)}\r\n"
            f"Content-Length: {len(answer.der)}\r\n\r\n"
        ).encode("latin-1") + answer.der
        size = len(key) + len(before) + len(after)
        if len(self._items) >= CACHED_REQUESTS or self._bytes + size > CACHED_BYTES:
            self._items.clear()
            self._bytes = 0
        self._items[key] = (self._responder.version, before, after, answer.expires.timestamp())
        self._bytes += size


def _plain(status: str, text: str, keep_alive: bool) -> bytes:
    """A short text answer (the listener's refusals); with Date, which an origin server
    with a clock must send on a 4xx answer (RFC 9110 6.6.1)."""
    body = text.encode()
    headers = {"Content-Type": "text/plain", "Date": http_date(datetime.now(UTC))}
    return _head(status, headers, len(body), keep_alive) + body


class OCSPProtocol(asyncio.Protocol):
    def __init__(
        self,
        responder: OCSPResponder,
        rendered: RenderedAnswers,
        guard: ListenerGuard,
        unexpected: UnexpectedErrors,
    ) -> None:
        self._responder = responder
        self._rendered = rendered
        self._guard = guard
        self._unexpected = unexpected
        limits = guard.limits
        self._max_target = limits.max_target_bytes
        self._max_field = limits.max_field_bytes
        # the largest request the limits allow: every field at its largest, and a body
        self._max_request = (
            limits.max_target_bytes + limits.max_fields * limits.max_field_bytes + MAX_REQUEST_BYTES
        )
        # the largest head before a body begins: the parser holds an unfinished field whole
        # (and copies it on every read), so a head is bounded near one field, not near all
        # of them; a relying party's request has a few short fields
        self._max_head = limits.max_target_bytes + 2 * limits.max_field_bytes
        self._max_pending = limits.max_pending_answers
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        # Answers not yet sent, in request order: the answer (rendered already, or to come),
        # the request's If-None-Match, and whether the connection stays open after it.
        self._pending: deque[tuple[_Pending, bytes | None, bool]] = deque()
        # Bounds: bytes received since the last complete request (a request begun in a read
        # that completed another is counted from the next read); requests completed (the
        # guard's timer sees progress); whether reading stopped, and why.
        self._since = 0
        self._completed = 0
        self._writing_paused = False
        self._reading_paused = False
        self._unparsed = b""
        self._refusal: bytes | None = None
        self._closing = False
        self._lingered: int | None = None  # bytes dropped since the half-close, if any
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._if_none_match: bytes | None = None
        self._header_name = b""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit(self):
            transport.write(OVER_CAPACITY)  # type: ignore[attr-defined]
            transport.close()
            self._closing = True
            return
        transport.set_write_buffer_limits(high=self._guard.limits.write_buffer_bytes)  # type: ignore[attr-defined]
        self._transport = transport  # type: ignore[assignment]
        self._guard.watch(self)

    def data_received(self, data: bytes) -> None:
        # (after a refusal `_closing` is set and reading paused until the answer is sent;
        # then the rest of the request is dropped, `_linger`)
        if self._lingered is not None:
            self._lingered += len(data)
            if self._lingered > LINGER_BYTES:
                self.expire()
            return
        self._since += len(data)  # set to 0 by every request this read completes
        if len(data) > SLICE_BYTES:
            self._parse_slices(memoryview(data))
        else:
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError:
                self._parse_failed()
        limit = self._max_request if self._size else self._max_head
        if self._since > limit and not self._closing:
            self._too_large()  # a field or a body that never ends is held until it does

    def _too_large(self) -> None:
        """A request larger than the largest the limits allow: 413 once its body began
        (RFC 9110 15.5.14), else a head too large, 431 (RFC 6585 5); then the connection
        closes."""
        if self._size:
            reason, status, limit = "body_too_large", "413 Content Too Large", self._max_request
        else:
            reason, status = "field_too_long", "431 Request Header Fields Too Large"
            limit = self._max_head
        self._guard.refuse(reason, f"a request over {limit} bytes")
        self._closing = True
        self._pause_reading()
        self._reply(_plain(status, "request too large\n", False), True)

    def _parse_failed(self) -> None:
        """The parser stopped: a refusal made in a callback, or HTTP it cannot parse."""
        self._closing = True
        self._pause_reading()
        if self._refusal is None:
            self._guard.refuse("bad_request", "unparsable HTTP, 400")
            self._refusal = _plain("400 Bad Request", "bad HTTP request\n", False)
        self._reply(self._refusal, True)

    def _parse_slices(self, view: memoryview) -> None:
        """Parse a large read in slices; when reading stops (answers pile up), keep the rest
        for when it resumes."""
        for start in range(0, len(view), SLICE_BYTES):
            if self._reading_paused:
                self._unparsed = bytes(view[start:])
                return
            try:
                self._parser.feed_data(view[start : start + SLICE_BYTES])
            except httptools.HttpParserError:
                self._parse_failed()
                return

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()  # stops the reads to come, not this one

    def _resume_reading(self) -> None:
        """Parse what was kept and read again once answers no longer pile up."""
        if self._closing or self._writing_paused or len(self._pending) > self._max_pending // 2:
            return
        self._reading_paused = False
        unparsed, self._unparsed = self._unparsed, b""
        if unparsed:
            self._parse_slices(memoryview(unparsed))
        if not self._reading_paused and not self._closing and self._transport is not None:
            self._transport.resume_reading()

    def pause_writing(self) -> None:
        """The transport holds `write_buffer_bytes` unsent: read no more for now."""
        self._writing_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._reading_paused:
            self._resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.release(self)
        for item, _, _ in self._pending:
            if isinstance(item, LiveAnswer):
                item.signature.cancel()  # the pipeline skips it if not yet signed
            elif not isinstance(item, bytes):
                item.cancel()
        self._transport = None

    # the listener's guard (server/web/limits.py)
    def watch(self) -> tuple[tuple[int, int, bool], float, str] | None:
        if self._pending or self._transport is None:
            return None  # answers in the making: the server's own wait
        unsent = self._transport.get_write_buffer_size()
        state = (self._completed, unsent, self._size > 0)
        limits = self._guard.limits
        if unsent:
            return state, limits.header_timeout_seconds, "stalled_reader"
        if self._lingered is not None:  # the answer is sent: the linger ends quietly
            return (-1, 0, False), min(LINGERING_SECONDS, limits.body_timeout_seconds), ""
        if self._size:
            return state, limits.body_timeout_seconds, "body_timeout"
        # a head begun (slowloris), or an idle keep-alive connection (closed quietly)
        return state, limits.header_timeout_seconds, "header_timeout" if self._since else ""

    def expire(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()  # unsent answers are dropped: the client did not read

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._max_target:  # RFC 9112 3, RFC 9110 15.5.15
            self._refuse("414 URI Too Long", "request-target too long\n", "target_too_long")

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(value) > self._max_field:  # RFC 6585 5
            self._refuse("431 Request Header Fields Too Large", "header fields too large\n",
                         "field_too_long")  # fmt: skip
        if name.lower() == b"if-none-match":
            self._if_none_match = value

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= MAX_REQUEST_BYTES:
            self._body.append(body)

    def _refuse(self, status: str, text: str, reason: str) -> None:
        """Answer `status` and close (RFC 9112 9.6), count and log `reason`; stops the
        parser (raised in its callback, it surfaces as an HttpParserError)."""
        self._guard.refuse(reason, status[:3])
        self._refusal = _plain(status, text, False)
        raise _Refused

    def on_message_complete(self) -> None:
        """Answer the request; an unexpected failure is internalError (RFC 6960 4.2.1), the
        bytes the main listener's /ocsp sends for it, logged and counted once."""
        self._since = 0
        self._completed += 1
        try:
            self._answer()
        except Exception as failure:
            keep_alive = self._parser.should_keep_alive()
            self._reset()
            answer = self._internal_error(failure)
            self._reply(render(answer, None, keep_alive), not keep_alive)

    def _answer(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        method = self._parser.get_method()
        url = self._url
        if_none_match = self._if_none_match
        key = None
        if method == b"GET":
            key = url
        elif method == b"POST" and self._size <= MAX_REQUEST_BYTES:
            key = url + b" " + b"".join(self._body)  # a URL holds no space
        if key is not None and keep_alive and if_none_match is None and not self._pending:
            rendered = self._rendered.get(key)
            if rendered is not None:
                self._reset()
                self._send(rendered, False)
                return
        path = url.split(b"?", 1)[0].decode("latin-1")
        if method == b"POST" and path in ("/ocsp", "/ocsp/"):
            der = b"".join(self._body) if self._size <= MAX_REQUEST_BYTES else None
            if_none_match = None
        elif method == b"GET" and path.startswith("/ocsp/"):
            try:
                der = ocsp.decode_get_path(path.removeprefix("/ocsp/"))
            except ocsp.MalformedOCSPRequest:
                der = None
        else:
            self._reset()
            text = "only OCSP is served here\n"
            self._reply(_plain("404 Not Found", text, keep_alive), not keep_alive)
            return
        self._reset()
        request = self._responder.parse(der) if der is not None else None
        if request is None:
            self._reply(render(self._responder.malformed(), None, keep_alive), not keep_alive)
            return
        quick = self._responder.from_memory(request) if not self._pending else None
        if quick is not None:
            if key is not None:
                self._rendered.put(key, quick)
            self._reply(render(quick, if_none_match, keep_alive), not keep_alive)
            return
        live = self._responder.fresh_from_memory(request)
        if live is not None:
            self._queue((live, None, keep_alive))
            live.signature.add_done_callback(self._flush)
            return
        answer = asyncio.ensure_future(self._responder.answer_request(request))
        self._queue((answer, if_none_match, keep_alive))
        answer.add_done_callback(self._flush)

    def _reply(self, data: bytes, close: bool) -> None:
        if self._pending:  # answers leave in request order
            self._queue((data, None, not close))
            return
        self._send(data, close)

    def _queue(self, entry: tuple[_Pending, bytes | None, bool]) -> None:
        """An answer waits its turn; with `max_pending_answers` waiting, reading stops until
        they leave (`_flush`)."""
        self._pending.append(entry)
        if len(self._pending) >= self._max_pending:
            self._pause_reading()

    def _flush(self, _: object = None) -> None:
        while self._pending:
            item, if_none_match, keep_alive = self._pending[0]
            if isinstance(item, bytes):
                data = item
            elif isinstance(item, LiveAnswer):
                if not item.signature.done():
                    break
                data = render(self._live_outcome(item), None, keep_alive)
            elif item.cancelled():  # the connection is gone: nothing to send
                self._pending.popleft()
                continue
            elif item.done():
                data = render(self._outcome(item), if_none_match, keep_alive)
            else:
                break
            self._pending.popleft()
            self._send(data, not keep_alive)
        if self._reading_paused:
            self._resume_reading()

    def _outcome(self, done: asyncio.Future[OCSPAnswer]) -> OCSPAnswer:
        """The answer; internalError if making it failed."""
        failure = done.exception()
        if failure is not None:
            return self._internal_error(failure)
        return done.result()

    def _live_outcome(self, live: LiveAnswer) -> OCSPAnswer:
        """The signed answer; internalError if making it failed."""
        try:
            return live.result()
        except Exception as failure:
            return self._internal_error(failure)

    def _internal_error(self, failure: BaseException) -> OCSPAnswer:
        self._unexpected.record("ocsp", failure)
        return self._responder.internal_error()

    def _send(self, data: bytes, close: bool = False) -> None:
        if self._transport is None:
            return
        self._transport.write(data)
        if close and self._closing and self._transport.can_write_eof():
            self._linger()
        elif close:
            self._transport.close()

    def _linger(self) -> None:
        """A refusal is sent: half-close (the client reads the answer, then the end), and
        drop what still comes until the client closes or the guard's timer ends it."""
        assert self._transport is not None
        self._lingered = 0
        self._transport.write_eof()
        self._transport.resume_reading()
