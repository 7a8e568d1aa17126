"""The two OCSP front ends, /ocsp on the main listener (server/web/ocsp.py) and the
dedicated listener (server/web/ocsp_listener.py), answer the same unexpected failure with
the same bytes: HTTP 200 `application/ocsp-response`, responseStatus internalError
(RFC 6960 4.2.1), logged once with its traceback and counted. The failure is injected
through a fake responder of our own (STYLE.md rule 8), where each front end meets it: in
the awaited answer, or in the listener's synchronous look-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from config.settings import LimitsSettings
from protocols import ocsp
from server.status.ocsp_responder import OCSPAnswer, OCSPResponder
from server.web import ocsp as ocsp_route
from server.web.limits import ListenerGuard, ListenerMetrics
from server.web.ocsp_listener import OCSPProtocol, RenderedAnswers
from server.web.unexpected import UNEXPECTED_KEY, UnexpectedErrors
from tests.unit.web.api_home import ClientFactory
from tests.unit.web.edge import tracebacks

REQUEST = b"0\x03\x02\x01\x00"  # what the fake reads it as does not matter
INTERNAL_ERROR = ocsp.error_response(ocsp.OCSPResponseStatus.internalError)


class FailingResponder:
    """The responder's interface as the front ends use it; it fails in `fail_in`."""

    version = 0

    def __init__(self, fail_in: str) -> None:
        self.fail_in = fail_in

    def _fail(self, where: str) -> None:
        if where == self.fail_in:
            raise RuntimeError(f"broken in {where}")

    def parse(self, request_der: bytes) -> object:
        return request_der

    def from_memory(self, request: object) -> None:
        self._fail("from_memory")

    def fresh_from_memory(self, request: object) -> None:
        return None

    async def answer_request(self, request: object) -> OCSPAnswer:
        self._fail("answer")
        raise AssertionError("unreachable")

    async def answer(self, request_der: bytes) -> OCSPAnswer:
        self._fail("answer")
        raise AssertionError("unreachable")

    def internal_error(self) -> OCSPAnswer:
        return OCSPAnswer(der=INTERNAL_ERROR)


def counted(metrics: CollectorRegistry) -> float | None:
    return metrics.get_sample_value("ca_unexpected_errors_total", {"protocol": "ocsp"})


async def main_listener(
    responder: FailingResponder, aiohttp_client: ClientFactory, metrics: CollectorRegistry
) -> bytes:
    key = web.AppKey("ocsp", OCSPResponder)
    app = web.Application()
    app[key] = responder  # type: ignore[assignment]
    app[UNEXPECTED_KEY] = UnexpectedErrors(metrics)
    ocsp_route.add_routes(app, key)
    client = await aiohttp_client(app)
    response = await client.post("/ocsp", data=REQUEST,
                                 headers={"Content-Type": "application/ocsp-request"})  # fmt: skip
    assert response.status == 200
    assert response.content_type == "application/ocsp-response"
    assert response.headers["Cache-Control"] == "no-store"
    return bytes(await response.read())


@pytest.fixture
async def listener_port(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    servers: list[asyncio.Server] = []

    async def start(responder: FailingResponder, metrics: CollectorRegistry) -> int:
        unexpected = UnexpectedErrors(metrics)
        guard = ListenerGuard("ocsp", LimitsSettings(), ListenerMetrics(metrics))
        rendered = RenderedAnswers(responder)  # type: ignore[arg-type]
        server = await asyncio.get_running_loop().create_server(
            lambda: OCSPProtocol(responder, rendered, guard, unexpected),  # type: ignore[arg-type]
            "127.0.0.1", 0,
        )  # fmt: skip
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def dedicated_listener(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"POST /ocsp HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
    writer.write(head % len(REQUEST) + REQUEST)
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: application/ocsp-response" in head
    assert b"Cache-Control: no-store" in head
    return body


@pytest.mark.parametrize("fail_in", ["answer", "from_memory"])
async def test_rfc6960_4_2_1_both_front_ends_send_the_same_internal_error(
    fail_in: str,
    aiohttp_client: ClientFactory,
    listener_port: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    main_metrics, listener_metrics = CollectorRegistry(), CollectorRegistry()
    from_main = await main_listener(FailingResponder("answer"), aiohttp_client, main_metrics)
    port = await listener_port(FailingResponder(fail_in), listener_metrics)
    from_listener = await dedicated_listener(port)
    assert from_main == from_listener == INTERNAL_ERROR
    assert counted(main_metrics) == counted(listener_metrics) == 1
    logged = tracebacks(caplog)
    assert [str(record.exc_info[1]) for record in logged if record.exc_info] == [
        "broken in answer",
        f"broken in {fail_in}",
    ]
    assert all(record.getMessage().startswith("ocsp: unexpected error") for record in logged)
