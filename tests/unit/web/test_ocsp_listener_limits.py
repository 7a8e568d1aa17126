"""What one client may cost the dedicated OCSP listener (server/web/ocsp_listener.py with
its guard, server/web/limits.py): a real listener on loopback, raw sockets, small limits."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from config.settings import LimitsSettings
from hsm.software import SoftwareBackend
from server.ocsp_responder import OCSPResponder
from server.registry import SQLiteRegistry
from server.status_metrics import StatusMetrics
from server.web.limits import ListenerGuard, ListenerMetrics
from server.web.ocsp_listener import OCSPProtocol, RenderedAnswers
from tests.local_ca import BackendSigner, Clock, settings_for
from tests.unit.web.listener_client import (
    DEADLINE,
    closed_by_server,
    exchange,
    refusals,
    status,
    stream_until_refused,
    until,
)

LIMITS = LimitsSettings(
    max_target_bytes=1024,
    max_field_bytes=1000,
    max_fields=10,
    header_timeout_seconds=0.5,
    body_timeout_seconds=0.5,
    max_connections=4,
    max_pending_answers=8,
    write_buffer_bytes=16384,
)
# A request the listener answers itself (404: only OCSP is served here), with no signing.
ORDINARY = b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"


@dataclasses.dataclass
class Listener:
    port: int
    guard: ListenerGuard
    metrics: CollectorRegistry
    protocols: list[OCSPProtocol]


@pytest.fixture
async def listener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Listener]:
    limits = getattr(request, "param", LIMITS)
    settings = settings_for(tmp_path)
    registry = await SQLiteRegistry.open(tmp_path / "registry.sqlite3")
    (tmp_path / "keys").mkdir(mode=0o700)
    backend = SoftwareBackend(tmp_path / "keys", b"test passphrase")
    clock = Clock(datetime(2026, 12, 5, tzinfo=UTC))
    responder = OCSPResponder(settings, registry, BackendSigner(backend), clock, StatusMetrics())
    metrics = CollectorRegistry()
    guard = ListenerGuard("ocsp", limits, ListenerMetrics(metrics))
    rendered = RenderedAnswers(responder)
    protocols: list[OCSPProtocol] = []

    def connection() -> OCSPProtocol:
        protocols.append(OCSPProtocol(responder, rendered, guard))
        return protocols[-1]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(connection, "127.0.0.1", 0)
    guard.start(loop)
    try:
        yield Listener(server.sockets[0].getsockname()[1], guard, metrics, protocols)
    finally:
        guard.close()
        server.close()
        await registry.close()
        backend.close()


async def test_rfc9110_15_5_15_a_long_request_target_is_answered_414_and_closed(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await exchange(listener.port, b"GET /ocsp/" + b"A" * 2000 + b" HTTP/1.1\r\n\r\n")
    assert status(answer) == 414
    assert b"Connection: close\r\n" in answer
    assert refusals(listener.metrics, "ocsp", "target_too_long") == 1
    assert not [r for r in caplog.records if r.exc_info]


async def test_rfc9112_3_an_endless_request_target_is_cut_off_at_the_limit(
    listener: Listener,
) -> None:
    """One connection sending a 200 MB URL cost 51 s of CPU and 350 MB: now the listener
    stops at the limit; what it keeps of the URL is bounded by the limit and one read."""
    sent = await stream_until_refused(listener.port, b"GET /", b"A" * 65536, 200 << 20)
    assert sent < 64 << 20  # the rest never left: loopback socket buffers hold a few MB
    assert len(listener.protocols[0]._url) <= LIMITS.max_target_bytes + 256 * 1024


async def test_rfc6585_5_a_long_header_field_is_answered_431_and_closed(
    listener: Listener,
) -> None:
    head = b"GET /ocsp/x HTTP/1.1\r\nX-Long: " + b"a" * 1500 + b"\r\n\r\n"
    answer = await exchange(listener.port, head)
    assert status(answer) == 431
    assert refusals(listener.metrics, "ocsp", "field_too_long") == 1


async def test_rfc6585_5_a_head_larger_than_the_limits_allow_is_answered_431(
    listener: Listener,
) -> None:
    """Many fields, each within its limit, and no end of the head: the listener keeps none
    of them but If-None-Match (one read at a time), and refuses a request larger than the
    largest the limits allow."""
    fields = b"".join(b"X-%d: %b\r\n" % (n, b"a" * 900) for n in range(40))
    answer = await exchange(listener.port, b"GET /ocsp/x HTTP/1.1\r\n" + fields)
    assert status(answer) == 431


async def test_rfc9110_15_5_14_a_body_that_never_ends_is_answered_413(listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"POST /ocsp HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n" + b"0" * 40000)
    assert status(await closed_by_server(reader)) == 413
    writer.close()
    assert refusals(listener.metrics, "ocsp", "body_too_large") == 1


async def test_rfc6585_5_a_header_field_that_never_ends_is_cut_off(listener: Listener) -> None:
    head = b"GET /ocsp/x HTTP/1.1\r\nX-Endless: "
    sent = await stream_until_refused(listener.port, head, b"a" * 65536, 200 << 20)
    assert sent < 64 << 20


@pytest.mark.parametrize(
    "listener", [dataclasses.replace(LIMITS, header_timeout_seconds=60)], indirect=True
)
async def test_rfc9112_9_3_2_a_client_that_does_not_read_its_answers_stops_being_read(
    listener: Listener,
) -> None:
    """Pipelined requests whose answers are never read: the answers waiting in the listener
    stay under the write-buffer bound (plus the answers to one slice of requests), and all
    of them arrive, in order, once the client reads."""
    count = 100_000  # about 3.7 MB of requests asking for about 15 MB of answers
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(ORDINARY * count)
    await until(lambda: bool(listener.protocols) and listener.protocols[0]._transport is not None)
    transport = listener.protocols[0]._transport
    assert transport is not None
    bound = LIMITS.write_buffer_bytes + 256 * 1024
    largest = 0

    def stalled() -> bool:
        nonlocal largest
        largest = max(largest, transport.get_write_buffer_size())
        return listener.protocols[0]._reading_paused and transport.get_write_buffer_size() > 0

    await until(stalled)
    for _ in range(50):  # and it stays so while nothing is read
        await asyncio.sleep(0.01)
        largest = max(largest, transport.get_write_buffer_size())
    assert largest <= bound
    status, received, tail = b"HTTP/1.1 404 ", 0, b""
    while received < count:
        chunk = tail + await asyncio.wait_for(reader.read(1 << 20), DEADLINE)
        assert chunk != tail, "the listener closed before answering every request"
        received += chunk.count(status)
        tail = chunk[-len(status) + 1 :]
    writer.close()


async def test_rfc9112_9_5_a_client_that_never_reads_is_cut_off_after_the_timeout(
    listener: Listener,
) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(ORDINARY * 100_000)
    await until(lambda: refusals(listener.metrics, "ocsp", "stalled_reader") == 1)
    await until(lambda: listener.guard.open_connections == 0)
    writer.close()


async def test_rfc9112_9_5_a_head_never_completed_is_closed_after_the_header_timeout(
    listener: Listener,
) -> None:
    """Slowloris: a byte now and then never completes the head; the listener closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"GET /ocsp/x HTTP/1.1\r\nX-Slow: ")

    async def drip() -> None:
        while not writer.is_closing():
            writer.write(b"a")
            await asyncio.sleep(0.05)

    dripping = asyncio.ensure_future(drip())
    try:
        assert await closed_by_server(reader) == b""
    finally:
        dripping.cancel()
        writer.close()
    assert refusals(listener.metrics, "ocsp", "header_timeout") == 1


async def test_rfc9112_9_5_an_idle_connection_is_closed_quietly(listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(ORDINARY)
    assert (await reader.readline()).startswith(b"HTTP/1.1 404 ")
    await closed_by_server(reader)
    writer.close()
    await until(lambda: listener.guard.open_connections == 0)
    assert refusals(listener.metrics, "ocsp", "header_timeout") == 0


async def test_rfc9112_9_5_a_body_never_completed_is_closed_after_the_body_timeout(
    listener: Listener,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"POST /ocsp HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"0" * 10)
    assert await closed_by_server(reader) == b""
    writer.close()
    assert refusals(listener.metrics, "ocsp", "body_timeout") == 1


async def test_rfc9110_15_6_4_connections_beyond_the_cap_get_503_and_are_closed(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", listener.port) for _ in range(4)]
    await until(lambda: listener.guard.open_connections == 4)
    for _ in range(3):
        answer = await exchange(listener.port, ORDINARY)
        assert status(answer) == 503
    assert refusals(listener.metrics, "ocsp", "too_many_connections") == 3
    for _, writer in idle:
        writer.close()
    await until(lambda: listener.guard.open_connections == 0)
    answer = await exchange(listener.port, b"GET /elsewhere HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status(answer) == 404
    lines = [r for r in caplog.records if "too_many_connections" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING  # one line per interval
