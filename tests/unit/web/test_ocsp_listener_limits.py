"""What one client may cost the dedicated OCSP listener (server/web/ocsp_listener.py with
its guard, server/web/limits.py): a real listener on loopback, raw sockets, small limits."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp
from prometheus_client import CollectorRegistry

from config.settings import LimitsSettings
from hsm.backend import KeyRef
from hsm.software import SoftwareBackend
from protocols import ocsp
from server.authority import Authority
from server.generations.ca_certificate import create_generation
from server.generations.responder import issue_ocsp_responder
from server.registry import Registry
from server.status.metrics import StatusMetrics
from server.status.ocsp_responder import OCSPResponder
from server.status.publication import StatusPublication
from server.web.limits import OVER_CAPACITY, ListenerGuard, ListenerMetrics
from server.web.ocsp_listener import SLICE_BYTES, OCSPProtocol, RenderedAnswers
from server.web.unexpected import UnexpectedErrors
from tests.csr_factory import make_csr
from tests.local_ca import BackendSigner, Clock, settings_for
from tests.unit.web.listener_client import (
    DEADLINE,
    closed_by_server,
    drip_until_closed,
    exchange,
    hold_idle,
    refusals,
    release,
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
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    (tmp_path / "keys").mkdir(mode=0o700)
    backend = SoftwareBackend(tmp_path / "keys", b"test passphrase")
    clock = Clock(datetime(2026, 12, 5, tzinfo=UTC))
    responder = OCSPResponder(settings, registry, BackendSigner(backend), clock, StatusMetrics())
    metrics = CollectorRegistry()
    guard = ListenerGuard("ocsp", limits, ListenerMetrics(metrics))
    unexpected = UnexpectedErrors(metrics)
    rendered = RenderedAnswers(responder)
    protocols: list[OCSPProtocol] = []

    def connection() -> OCSPProtocol:
        protocols.append(OCSPProtocol(responder, rendered, guard, unexpected))
        return protocols[-1]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(connection, "127.0.0.1", 0)
    try:
        yield Listener(server.sockets[0].getsockname()[1], guard, metrics, protocols)
    finally:
        server.close()
        await registry.close()
        backend.close()


async def test_rfc9110_15_5_15_a_long_request_target_is_answered_414_and_closed(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await exchange(listener.port, b"GET /ocsp/" + b"A" * 2000 + b" HTTP/1.1\r\n\r\n")
    assert status(answer) == 414
    assert b"Connection: close\r\n" in answer and b"Content-Type: text/plain\r\n" in answer
    assert b"\r\nDate: " in answer  # RFC 9110 6.6.1
    assert answer.endswith(b"\r\n\r\nrequest-target too long\n")
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
    assert answer.endswith(b"\r\n\r\nheader fields too large\n")
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
    assert answer.endswith(b"\r\n\r\nrequest too large\n")
    assert refusals(listener.metrics, "ocsp", "field_too_long") == 1


async def test_rfc9110_15_5_14_a_body_that_never_ends_is_answered_413(listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"POST /ocsp HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n" + b"0" * 40000)
    assert status(await closed_by_server(reader)) == 413
    writer.close()
    assert refusals(listener.metrics, "ocsp", "body_too_large") == 1


async def test_rfc9112_9_6_a_client_still_sending_a_refused_body_reads_the_answer_whole(
    listener: Listener,
) -> None:
    """Lingering close: the listener half-closes after the 413 and drops the rest of the
    body, so the client reads the answer and then the end, not a reset."""
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"POST /ocsp HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n")

    async def pour() -> None:
        with contextlib.suppress(ConnectionError):
            while not writer.is_closing():
                writer.write(b"0" * 4096)
                await writer.drain()
                await asyncio.sleep(0)

    pouring = asyncio.ensure_future(pour())
    try:
        answer = await asyncio.wait_for(reader.read(), DEADLINE)  # a reset raises here
    finally:
        pouring.cancel()
        writer.close()
    assert status(answer) == 413
    assert answer.endswith(b"\r\n\r\nrequest too large\n")
    assert refusals(listener.metrics, "ocsp", "body_too_large") == 1
    await until(lambda: listener.guard.open_connections == 0)


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
    assert await drip_until_closed(listener.port, b"GET /ocsp/x HTTP/1.1\r\nX-Slow: ") == b""
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
    idle = await hold_idle(listener.port, 4)
    await until(lambda: listener.guard.open_connections == 4)
    for _ in range(3):
        answer = await exchange(listener.port, ORDINARY)
        assert answer == OVER_CAPACITY
    assert refusals(listener.metrics, "ocsp", "too_many_connections") == 3
    release(idle)
    await until(lambda: listener.guard.open_connections == 0)
    answer = await exchange(listener.port, b"GET /elsewhere HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status(answer) == 404
    lines = [r for r in caplog.records if "too_many_connections" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING  # one line per interval


class HeldSigner:
    """The test CA's signer, holding every signature until the test releases it: nonce
    answers stay in the making as long as it likes."""

    def __init__(self, signer: BackendSigner) -> None:
        self._signer = signer
        self.held: list[tuple[KeyRef, bytes, asyncio.Future[bytes]]] = []

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.held.append((key, data, future))
        return future

    def release(self) -> None:
        held, self.held = self.held, []
        for key, data, future in held:
            if not future.cancelled():
                future.set_result(self._signer.backend.sign_many(key, [data])[0])


@dataclasses.dataclass
class SigningListener:
    port: int
    signer: HeldSigner
    protocols: list[OCSPProtocol]
    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes

    def nonce_post(self, nonce: bytes) -> bytes:
        """POST /ocsp of a request with this nonce about the certificate (RFC 8954)."""
        builder = x509_ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            self.issuer_name_hash, self.issuer_key_hash, self.serial, hashes.SHA1()
        )
        der = (
            builder.add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
            .public_bytes(Encoding.DER)
        )
        head = b"POST /ocsp HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(der)
        return head + der


@pytest.fixture
async def signing_listener(tmp_path: Path) -> AsyncIterator[SigningListener]:
    settings = settings_for(tmp_path)
    clock = Clock(datetime(2026, 12, 5, tzinfo=UTC))
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    (tmp_path / "keys").mkdir(mode=0o700)
    backend = SoftwareBackend(tmp_path / "keys", b"test passphrase")
    direct = BackendSigner(backend)
    generation = await create_generation(
        settings, registry, backend, Authority(settings, registry, direct, clock), clock(), "t"
    )
    await issue_ocsp_responder(
        settings, backend, Authority(settings, registry, direct, clock), generation, clock(), "t"
    )
    signer = HeldSigner(direct)
    status = StatusPublication(settings, registry, direct, clock, serving=True, builder=True)
    await status.ocsp.load_issuers()
    await status.ocsp.sign_missing()
    issued = await Authority(settings, registry, direct, clock, status).issue(
        "tls-client", make_csr([("CN", "held")]), "t"
    )
    live = StatusPublication(settings, registry, signer, clock, serving=True)
    await live.ocsp.load_issuers()
    ca = asn1_x509.Certificate.load(generation.certificate_der)
    cert_id = ocsp.cert_id_for(ca.subject.dump(), ca.public_key.dump(), int(issued.serial, 16))
    metrics = CollectorRegistry()
    guard = ListenerGuard("ocsp", LIMITS, ListenerMetrics(metrics))
    unexpected = UnexpectedErrors(metrics)
    rendered = RenderedAnswers(live.ocsp)
    protocols: list[OCSPProtocol] = []

    def connection() -> OCSPProtocol:
        protocols.append(OCSPProtocol(live.ocsp, rendered, guard, unexpected))
        return protocols[-1]

    server = await asyncio.get_running_loop().create_server(connection, "127.0.0.1", 0)
    try:
        yield SigningListener(server.sockets[0].getsockname()[1], signer, protocols,
                              cert_id.serial, cert_id.issuer_name_hash,
                              cert_id.issuer_key_hash)  # fmt: skip
    finally:
        server.close()
        await registry.close()
        backend.close()


async def test_rfc9112_9_3_2_answers_in_the_making_stop_the_reading_at_the_bound(
    signing_listener: SigningListener,
) -> None:
    """Pipelined nonce requests whose signatures do not come: the answers waiting for them
    stay at `max_pending_answers` (plus the requests of one slice of a read), the rest of
    the requests wait unread; as signatures come, every request is answered in order."""
    count = 300
    listener = signing_listener
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"".join(listener.nonce_post(b"%08d" % n) for n in range(count)))
    await until(lambda: bool(listener.protocols) and listener.protocols[0]._reading_paused)
    protocol = listener.protocols[0]
    per_slice = SLICE_BYTES // len(listener.nonce_post(b"00000000")) + 1
    assert LIMITS.max_pending_answers <= len(protocol._pending)
    bound = LIMITS.max_pending_answers + per_slice
    assert len(protocol._pending) <= bound
    # Each answer reads the registry before it asks for a signature: on a slow machine the
    # last ones of the slice reach the signer a little after the reading paused.
    await until(lambda: len(listener.signer.held) == len(protocol._pending))
    assert LIMITS.max_pending_answers <= len(protocol._pending) <= bound

    async def sign_as_asked() -> None:
        while True:
            listener.signer.release()
            await asyncio.sleep(0.01)

    signing = asyncio.ensure_future(sign_as_asked())
    try:
        nonces = []
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            nonces.append(ocsp.parse_ocsp_response(body)[2])
    finally:
        signing.cancel()
        writer.close()
    assert nonces == [b"%08d" % n for n in range(count)]


async def test_rfc6585_5_an_unfinished_field_is_refused_near_one_field_not_all_of_them(
    listener: Listener,
) -> None:
    """The parser holds an unfinished field whole and copies it on every read: a head with
    no end is refused once it is larger than the request-target and two fields at their
    largest, not only near the size of every field at its largest."""
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    unfinished = b"X-Endless: " + b"a" * (3 * LIMITS.max_field_bytes)
    writer.write(b"GET /ocsp/x HTTP/1.1\r\n" + unfinished)
    answer = await closed_by_server(reader)
    writer.close()
    assert status(answer) == 431
    assert answer.endswith(b"\r\n\r\nrequest too large\n")
    assert refusals(listener.metrics, "ocsp", "field_too_long") == 1
