"""What one client may cost the main listeners (aiohttp through server/web/bounded_http.py):
a real listener on loopback, raw sockets, small limits, and the log as the server writes
it: one line per kind of refusal, never a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from config.settings import LimitsSettings
from server.web.bodies import read_body
from server.web.bounded_http import listen
from server.web.limits import OVER_CAPACITY, ListenerGuard, ListenerMetrics
from tests.unit.web.listener_client import (
    closed_by_server,
    drip_until_closed,
    exchange,
    hold_idle,
    refusals,
    release,
    status,
    until,
)

LIMITS = LimitsSettings(
    max_target_bytes=1024,
    max_field_bytes=1000,
    max_fields=10,
    header_timeout_seconds=0.5,
    body_timeout_seconds=0.5,
    max_connections=4,
)
ORDINARY = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@dataclasses.dataclass
class Listener:
    port: int
    guard: ListenerGuard
    metrics: CollectorRegistry


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello\n")


async def big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * (32 << 20))


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await read_body(request, 1000))


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_post("/echo", echo)
    app.router.add_get("/big", big)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    metrics = CollectorRegistry()
    guard = ListenerGuard("http", LIMITS, ListenerMetrics(metrics))
    server = await listen(runner, guard, "127.0.0.1", 0)
    try:
        yield Listener(server.sockets[0].getsockname()[1], guard, metrics)
    finally:
        server.close()
        await runner.cleanup()


def no_traceback(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.exc_info or r.name.startswith("aiohttp")]


async def test_rfc9110_15_5_15_a_long_request_target_is_answered_414_without_a_traceback(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        answer = await exchange(listener.port, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n")
        assert status(answer) == 414
    assert refusals(listener.metrics, "http", "target_too_long") == 3
    lines = [r for r in caplog.records if "target_too_long" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING  # rate-limited
    assert no_traceback(caplog)


async def test_rfc6585_5_a_long_header_field_is_answered_431_without_a_traceback(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    head = b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 1500 + b"\r\n\r\n"
    answer = await exchange(listener.port, head)
    assert status(answer) == 431
    assert refusals(listener.metrics, "http", "field_too_long") == 1
    assert no_traceback(caplog)


async def test_rfc6585_5_too_many_header_fields_are_answered_431(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % n for n in range(LIMITS.max_fields + 5))
    answer = await exchange(listener.port, b"GET / HTTP/1.1\r\n" + fields + b"\r\n")
    assert status(answer) == 431
    assert refusals(listener.metrics, "http", "too_many_fields") == 1
    assert no_traceback(caplog)


async def test_rfc9112_2_2_an_unparsable_head_is_answered_400_without_a_traceback(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await exchange(listener.port, b"GET / HTTP/1.1\r\nBad Field\r\n\r\n")
    assert status(answer) == 400
    assert refusals(listener.metrics, "http", "bad_request") == 1
    assert no_traceback(caplog)


async def test_rfc9112_9_5_a_head_never_completed_is_closed_after_the_header_timeout(
    listener: Listener,
) -> None:
    """Slowloris: a byte now and then never completes the head; the listener closes it."""
    assert await drip_until_closed(listener.port, b"GET / HTTP/1.1\r\nX-Slow: ") == b""
    assert refusals(listener.metrics, "http", "header_timeout") == 1


async def test_rfc9112_9_5_an_idle_connection_is_closed_quietly(listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await closed_by_server(reader) != b""  # the answer, then the close
    writer.close()
    await until(lambda: listener.guard.open_connections == 0)
    assert refusals(listener.metrics, "http", "header_timeout") == 0


async def test_rfc9112_9_5_a_client_that_never_reads_its_answer_is_cut_off(
    listener: Listener,
) -> None:
    """aiohttp alone waits without end for a client to read; the guard cuts it."""
    _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    await until(lambda: refusals(listener.metrics, "http", "stalled_reader") == 1)
    await until(lambda: listener.guard.open_connections == 0)
    writer.close()


async def test_rfc9110_15_5_9_a_body_never_completed_is_answered_408(listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"0" * 10)
    answer = await closed_by_server(reader)
    writer.close()
    assert status(answer) == 408
    assert refusals(listener.metrics, "http", "body_timeout") == 1


async def test_rfc9110_15_6_4_connections_beyond_the_cap_get_503_and_are_closed(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    idle = await hold_idle(listener.port, 3)
    await until(lambda: listener.guard.open_connections == 3)
    assert (await exchange(listener.port, ORDINARY)).endswith(b"hello\n")  # below the cap
    idle += await hold_idle(listener.port, 1)
    await until(lambda: listener.guard.open_connections == 4)
    for _ in range(3):
        answer = await exchange(listener.port, ORDINARY)
        assert status(answer) == 503
        assert answer == OVER_CAPACITY  # Retry-After, then the close
    assert refusals(listener.metrics, "http", "too_many_connections") == 3
    release(idle)
    await until(lambda: listener.guard.open_connections == 0)
    assert (await exchange(listener.port, ORDINARY)).endswith(b"hello\n")
    lines = [r for r in caplog.records if "too_many_connections" in r.getMessage()]
    assert len(lines) == 1


async def test_rfc9112_6_3_a_client_that_leaves_mid_body_is_counted_without_a_traceback(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    """An incomplete message (RFC 9112 6.3: the connection closed before Content-Length
    octets came) is a client's doing: counted as a bad request, never an unexpected
    failure with a traceback."""
    _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n" + b"0" * 10)
    await writer.drain()
    writer.close()
    await until(lambda: refusals(listener.metrics, "http", "bad_request") == 1)
    assert no_traceback(caplog)
