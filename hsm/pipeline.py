"""The signing pipeline: `await pipeline.sign(key, data)` is the only way anything is signed.

Theory of operation (see ARCHITECTURE.md, "The signing pipeline"):
- Callers append requests to one bounded FIFO queue and await a future. When
  `max_queue` requests are waiting, `sign` raises SignerBusy at once.
- Each connection to a signer process has one worker task. An idle worker takes whatever
  is queued, up to `max_batch`, as soon as something is queued: at low load a request
  leaves at once; under load requests pile up during a round trip and the next batch is
  large. Only when another batch is already in flight to the same signer (whose socket
  would hold this batch anyway) and the queue holds less than `max_batch` does a worker
  linger, at most until the oldest waiting request is `max_delay_s` old, to fill its
  batch.
- Each signer gets `connections_per_signer` connections (default 2), so that while the
  signer signs one batch the next one is already waiting in its socket: the signer never
  idles while this loop resolves futures and encodes the next frame. Measured with one
  software P-256 signer: about 22,000/s with one connection, 25,000/s with two, against
  26,000/s for the backend called directly.
- A batch is grouped by key and sent as one frame (`hsm.wire`): one round trip per batch.
  The reply carries one result per message, so one bad key or message fails only its own
  requests (HSMError with the signer's text).
- `submit_verified` asks for a signature the signer verified itself, right after its
  backend made it, with the key's public key (a certificate's verify-after-sign, moved off
  this process's busy event loop). The signer sends such a signature with the SHA-256 of
  the message it verified it over, and it is handed to the caller only if that digest is
  the digest of the bytes this caller submitted: a mix-up anywhere between the signer and
  the caller (batching, result order, framing) fails that caller with WrongSignature, as a
  signature that did not verify does, instead of handing it a signature over other bytes.
- A connection that fails (the signer died, closed or answered garbage) puts its batch
  back at the head of the queue once, reconnects, and if it cannot, is marked down. When
  no connection is up, waiting and new requests fail with SignerUnavailable, never hang.
- A connection closed by its signer while idle (the signer was killed between batches) is
  noticed within `reconnect_delay_s` by a watcher and marked down too, so `signers_up`
  and `/healthz` tell the truth without waiting for the next request. A connection that
  is down tries to reconnect to the same socket path every `reconnect_delay_s`: a signer
  restarted there by `serve`'s supervisor is taken up again without a restart here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from prometheus_client import CollectorRegistry

from hsm import wire
from hsm.backend import HSMError, KeyRef
from hsm.pipeline_metrics import PipelineMetrics

log = logging.getLogger("hsm.pipeline")


class SignerBusy(HSMError):
    """The signing queue is full; try again later (HTTP 503, OCSP tryLater, CMP
    systemUnavail)."""


class SignerUnavailable(HSMError):
    """No signer process could take the request, or one failed while holding it."""


class WrongSignature(HSMError):
    """A signature asked for verified is not the key's over exactly the submitted bytes:
    it did not verify in the signer, or the signer's answer is for another message."""


class _Request:
    __slots__ = ("data", "enqueued", "future", "key", "mode", "retried")

    def __init__(
        self, key: KeyRef, data: bytes, mode: wire.Mode, future: asyncio.Future[bytes], t: float
    ) -> None:
        self.key = key
        self.data = data
        self.mode = mode
        self.future = future
        self.enqueued = t
        self.retried = False


class _Connection:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.up = False
        self.idle: asyncio.Future[None] | None = None  # while its worker waits for work

    def closed_by_peer(self) -> bool:
        """The signer closed this connection (EOF read by the transport), or it is closing."""
        return (self.reader is not None and self.reader.at_eof()) or (
            self.writer is not None and self.writer.is_closing()
        )

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_unix_connection(str(self.path))

    def drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class SigningPipeline:
    """Batches sign requests to signer processes reached over Unix sockets."""

    def __init__(
        self,
        socket_paths: Sequence[Path | str],
        *,
        max_batch: int = 64,
        max_delay_s: float = 0.002,
        max_queue: int = 10000,
        metrics: CollectorRegistry | None = None,
        connections_per_signer: int = 2,
        reply_timeout_s: float = 30.0,
        reconnect_delay_s: float = 0.5,
    ) -> None:
        if not socket_paths:
            raise ValueError("a signing pipeline needs at least one signer socket")
        if max_batch < 1 or max_queue < 1 or connections_per_signer < 1:
            raise ValueError("max_batch, max_queue and connections_per_signer must be >= 1")
        self._conns = [
            _Connection(Path(p)) for p in socket_paths for _ in range(connections_per_signer)
        ]
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._max_queue = max_queue
        self._reply_timeout = reply_timeout_s
        self._reconnect_delay = reconnect_delay_s
        self._queue: deque[_Request] = deque()
        self._idle: list[asyncio.Future[None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._up = 0
        self._in_flight: dict[Path, int] = {c.path: 0 for c in self._conns}
        self._started = False
        self._closed = False
        self.metrics = PipelineMetrics(metrics)
        self.metrics.track_queue(self._queue.__len__)

    async def start(self) -> None:
        """Connect to every signer. Raises SignerUnavailable if none can be reached."""
        results = await asyncio.gather(*(c.open() for c in self._conns), return_exceptions=True)
        for conn, result in zip(self._conns, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("signer %s unreachable: %s", conn.path, result)
            else:
                self._set_up(conn, True)
        if self._up == 0:
            for conn in self._conns:
                conn.drop()
            raise SignerUnavailable("no signer process is reachable")
        self._started = True
        self._tasks = [asyncio.create_task(self._work(c)) for c in self._conns]
        self._tasks.append(asyncio.create_task(self._watch()))

    async def close(self) -> None:
        """Stop the workers; requests still waiting fail with SignerUnavailable."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_queue("the signing pipeline is closed")
        for conn in self._conns:
            conn.drop()

    async def __aenter__(self) -> SigningPipeline:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def signers_up(self) -> int:
        """Signer processes with at least one connection up."""
        return len({c.path for c in self._conns if c.up})

    async def sign(self, key: KeyRef, data: bytes) -> bytes:
        """The signature of `data` with `key` (scheme per hsm.backend).

        Raises SignerBusy if the queue is full, SignerUnavailable if no signer is up or the
        pipeline is closed, HSMError if the signer could not sign.
        """
        return await self.submit(key, data)

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        """`sign` without a coroutine: the future of the signature, for callers on the hot
        path (the OCSP listener) that chain a callback instead of running a task per
        request. Raises SignerBusy or SignerUnavailable at once; the future fails with
        HSMError if the signer could not sign."""
        return self._enqueue(key, data, wire.Mode.SIGN)

    def submit_verified(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        """`submit` for a signature the signer verified over `data` with `key`'s public key
        before sending it, matched here to `data` by its digest. Raises as `submit` does;
        the future fails with WrongSignature if the signature did not verify or the answer
        is not for `data`, with HSMError if the signer could not sign."""
        return self._enqueue(key, data, wire.Mode.SIGN_VERIFIED)

    def _enqueue(self, key: KeyRef, data: bytes, mode: wire.Mode) -> asyncio.Future[bytes]:
        if self._up == 0 or self._closed or not self._started:
            self.metrics.failures.labels("unavailable").inc()
            raise SignerUnavailable("no signer process is available")
        queue = self._queue
        if len(queue) >= self._max_queue:
            self.metrics.busy_rejections.inc()
            raise SignerBusy(f"signing queue is full ({self._max_queue} requests waiting)")
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        queue.append(_Request(key, data, mode, future, time.perf_counter()))
        if self._idle:
            self._wake_one()
        return future

    # --- workers -------------------------------------------------------------------------

    async def _work(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not conn.up:
                await self._reconnect(conn)
                continue
            if not self._queue:
                waiter: asyncio.Future[None] = loop.create_future()
                self._idle.append(waiter)
                conn.idle = waiter
                try:
                    await waiter
                finally:
                    conn.idle = None
                    with contextlib.suppress(ValueError):
                        self._idle.remove(waiter)
                continue
            if (
                self._in_flight[conn.path]
                and self._max_delay > 0
                and len(self._queue) < self._max_batch
            ):
                linger = self._queue[0].enqueued + self._max_delay - time.perf_counter()
                if linger > 0:
                    await asyncio.sleep(linger)
                    continue
            queue, batch = self._queue, list[_Request]()
            while queue and len(batch) < self._max_batch:
                request = queue.popleft()
                if not request.future.done():  # a caller that gave up is not signed for
                    batch.append(request)
            if not batch:
                continue
            try:
                await self._dispatch(conn, batch)
            except Exception as exc:  # a bug must fail its batch, not stop this worker
                log.exception("signing pipeline: batch of %d failed", len(batch))
                for request in batch:
                    if not request.future.done():
                        self.metrics.failures.labels("internal").inc()
                        request.future.set_exception(
                            HSMError(f"signing pipeline error ({type(exc).__name__})")
                        )

    async def _dispatch(self, conn: _Connection, batch: list[_Request]) -> None:
        groups: dict[tuple[KeyRef, wire.Mode], list[_Request]] = {}
        for request in batch:
            groups.setdefault((request.key, request.mode), []).append(request)
        ordered = batch if len(groups) == 1 else [r for g in groups.values() for r in g]
        frame = wire.encode_request(
            [(k.uri, str(k.algorithm), mode, [r.data for r in g])
             for (k, mode), g in groups.items()]
        )  # fmt: skip
        metrics = self.metrics
        start = time.perf_counter()
        observe_wait = metrics.wait_seconds.observe
        for request in ordered:
            observe_wait(start - request.enqueued)
        metrics.batch_size.observe(len(ordered))
        self._in_flight[conn.path] += 1
        try:
            reply = await self._round_trip(conn, frame)
        except (OSError, EOFError, TimeoutError, wire.FrameError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning("signer %s failed with a batch of %d: %s", conn.path, len(batch), reason)
            conn.drop()
            self._requeue_or_fail(ordered, f"signer {conn.path.name} failed ({reason})")
            await self._reconnect(conn, first=True)
            return
        finally:
            self._in_flight[conn.path] -= 1
        metrics.signer_latency_seconds.observe(time.perf_counter() - start)
        self._resolve(ordered, reply)

    async def _round_trip(self, conn: _Connection, frame: bytes) -> list[wire.Result] | str:
        assert conn.reader is not None and conn.writer is not None
        async with asyncio.timeout(self._reply_timeout):
            conn.writer.write(frame)
            await conn.writer.drain()
            header = await conn.reader.readexactly(4)
            payload = await conn.reader.readexactly(wire.frame_length(header))
        return wire.decode_reply(payload)

    def _resolve(self, ordered: list[_Request], reply: list[wire.Result] | str) -> None:
        if isinstance(reply, str) or len(reply) != len(ordered):
            text = reply if isinstance(reply, str) else "signer returned a wrong result count"
            self.metrics.failures.labels("signer").inc(len(ordered))
            for request in ordered:
                if not request.future.done():
                    request.future.set_exception(HSMError(text))
            return
        signed = 0
        for request, (status, octets) in zip(ordered, reply, strict=True):
            if request.future.done():
                continue
            if status is wire.Status.SIGNED and request.mode is wire.Mode.SIGN:
                request.future.set_result(octets)
                signed += 1
            elif status is wire.Status.VERIFIED and request.mode is wire.Mode.SIGN_VERIFIED:
                signature = _matched(request.data, octets)
                if signature is None:
                    self.metrics.failures.labels("wrong").inc()
                    request.future.set_exception(
                        WrongSignature("the signer's answer is for another message")
                    )
                else:
                    request.future.set_result(signature)
                    signed += 1
            elif status is wire.Status.ERROR:
                self.metrics.failures.labels("signer").inc()
                request.future.set_exception(HSMError(octets.decode("utf-8", "replace")))
            else:  # WRONG, logged by the signer; or an answer of the other mode
                self.metrics.failures.labels("wrong").inc()
                if status is wire.Status.WRONG:
                    text = "the signer made a signature that does not verify"
                else:
                    text = f"the signer answered {status.name} to a {request.mode.name} request"
                    log.error("signing pipeline: %s", text)
                request.future.set_exception(WrongSignature(text))
        self.metrics.signatures.inc(signed)

    def _requeue_or_fail(self, ordered: list[_Request], reason: str) -> None:
        """A batch lost with its connection goes back to the head of the queue once: the
        signer may have died before signing it, and another signer can take it."""
        for request in reversed(ordered):
            if request.future.done():
                continue
            if request.retried:
                self.metrics.failures.labels("unavailable").inc()
                request.future.set_exception(SignerUnavailable(reason))
            else:
                request.retried = True
                self._queue.appendleft(request)
        if self._queue and self._idle:
            self._wake_one()

    async def _reconnect(self, conn: _Connection, first: bool = False) -> None:
        """One connection attempt; on failure mark the connection down and back off."""
        if not first:
            await asyncio.sleep(self._reconnect_delay)
        try:
            await conn.open()
        except OSError:
            self._set_up(conn, False)
            return
        self._set_up(conn, True)

    async def _watch(self) -> None:
        """Mark down idle connections their signer closed, and wake their workers to
        reconnect (a busy connection finds out from its round trip)."""
        while True:
            await asyncio.sleep(self._reconnect_delay)
            for conn in self._conns:
                idle = conn.idle
                if conn.up and idle is not None and not idle.done() and conn.closed_by_peer():
                    conn.drop()
                    self._set_up(conn, False)
                    idle.set_result(None)

    def _set_up(self, conn: _Connection, up: bool) -> None:
        """Mark a connection up or down; a signer going down (its last connection) or
        coming back (its first) is logged once."""
        if conn.up != up:
            signer_was_up = any(c.up for c in self._conns if c.path == conn.path)
            conn.up = up
            self._up += 1 if up else -1
            self.metrics.connections_up.set(self._up)
            self.metrics.signers_up.set(self.signers_up)
            signer_is_up = any(c.up for c in self._conns if c.path == conn.path)
            if signer_was_up and not signer_is_up:
                log.warning("signer %s is down", conn.path)
            elif signer_is_up and not signer_was_up and self._started:
                log.info("signer %s is up again", conn.path)
        if self._up == 0 and self._started:
            self._fail_queue("no signer process is reachable")

    def _wake_one(self) -> None:
        while self._idle:
            waiter = self._idle.pop()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _fail_queue(self, reason: str) -> None:
        while self._queue:
            request = self._queue.popleft()
            if not request.future.done():
                self.metrics.failures.labels("unavailable").inc()
                request.future.set_exception(SignerUnavailable(reason))


def _matched(data: bytes, verified: bytes) -> bytes | None:
    """The signature of a VERIFIED result (digest, then signature) if its digest is that of
    `data`, the bytes this request submitted; else None, logged (a mix-up between the
    signer and this caller: another request's signature must never reach this one)."""
    digest, signature = verified[: wire.DIGEST_SIZE], verified[wire.DIGEST_SIZE :]
    if digest != hashlib.sha256(data).digest():
        log.error("signer's verified answer is for another message than the one sent")
        return None
    return signature
