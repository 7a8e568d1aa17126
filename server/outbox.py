"""Delivery of the reporting outbox (D6, D7): issued certificates and registered holders,
for the state identification system.

Theory of operation. The registry writes each event in the transaction of the change it
reports (server/registry/outbox_store.py has the kinds and their payloads), so an event
exists exactly when its change does. `OutboxDelivery.run` (the builder process) takes the
oldest undelivered events in `seq` order, hands them to a `Sender`, and marks them
delivered only after the sender has returned. A sender that raises leaves them undelivered
(the attempt and its error are recorded) and they are offered again after a back-off that
doubles up to `outbox.retry_max_seconds`. A process that dies after the sender returned and
before the mark offers them again on its next start: delivery is at least once, so a
receiver drops repeats by `seq`.

Senders are chosen by `outbox.sender` from `SENDERS`. The default, `jsonl-file`, appends
one JSON object per event to a file and fsyncs it; an operator plugs in another (an ESIA
gateway client) by implementing `Sender` and naming it there and in
config.settings.OUTBOX_SENDERS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from config import Settings
from config.settings import OutboxSettings
from server.clock import Clock
from server.registry import interfaces
from server.registry.records import OutboxEvent, to_text

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, events: Sequence[OutboxEvent]) -> None:
        """Deliver the events, in the order given, durably: returning means the receiver
        has them. Raises any exception when it could not; the events are offered again."""
        ...


def event_line(event: OutboxEvent) -> str:
    """One event as canonical JSON: {"created_at", "kind", "payload", "seq"}."""
    record = {
        "seq": event.seq,
        "kind": event.kind,
        "created_at": to_text(event.created_at),
        "payload": event.payload,
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class JsonLinesFileSender:
    """Appends one JSON object per event and line (UTF-8) to a file and fsyncs it before
    returning. The file holds subjects' names, so it is made with mode 0600 in a folder
    of mode 0700. A line cut short by a crash is left on a line of its own, and the events
    it held follow again in full, since they were not marked delivered."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, events: Sequence[OutboxEvent]) -> None:
        data = "".join(event_line(event) + "\n" for event in events).encode("utf-8")
        await asyncio.to_thread(self._append, data)

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if size == 0:  # a new file: its name must survive a crash too
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)


SENDERS: Mapping[str, Callable[[Settings], Sender]] = {
    "jsonl-file": lambda settings: JsonLinesFileSender(settings.resolve(settings.outbox.path)),
}


def open_sender(settings: Settings) -> Sender:
    """The sender `outbox.sender` names (checked against OUTBOX_SENDERS when loaded)."""
    return SENDERS[settings.outbox.sender](settings)


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.pending = Gauge(
            "ca_outbox_pending_events", "Reporting events not yet delivered.", registry=r
        )
        self.delivered = Counter(
            "ca_outbox_delivered_events", "Reporting events the sender took.", registry=r
        )
        self.failures = Counter(
            "ca_outbox_delivery_failures", "Deliveries the sender failed.", registry=r
        )


class OutboxDelivery:
    def __init__(
        self,
        store: interfaces.OutboxRecords,
        sender: Sender,
        settings: OutboxSettings,
        clock: Clock,
        metrics: CollectorRegistry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._metrics = OutboxMetrics(metrics)
        self._sleep = sleep

    async def deliver_batch(self) -> int:
        """Send the oldest undelivered events (up to `outbox.batch_size`) and mark them
        delivered; returns how many. Raises what the sender raised, after recording the
        failed attempt, or the registry's error; the events stay undelivered then."""
        events = await self._store.undelivered(self._settings.batch_size)
        if not events:
            self._metrics.pending.set(0)
            return 0
        pending = await self._store.count_undelivered()
        self._metrics.pending.set(pending)
        seqs = [event.seq for event in events]
        try:
            await self._sender.send(events)
        except Exception as exc:
            self._metrics.failures.inc()
            await self._store.record_failure(seqs, f"{type(exc).__name__}: {exc}")
            raise
        # Dying here sends these events again on the next start: at least once.
        await self._store.mark_delivered(seqs, self._clock())
        self._metrics.delivered.inc(len(events))
        self._metrics.pending.set(pending - len(events))
        return len(events)

    async def run(self) -> None:
        """The builder process's delivery loop, until cancelled. Only the exception's type
        is logged (a receiver's message may quote personal data); the registry keeps the
        message with the events (`last_error`)."""
        backoff = self._settings.retry_initial_seconds
        while True:
            try:
                delivered = await self.deliver_batch()
            except Exception as exc:
                log.warning(
                    "outbox: delivery failed (%s); retrying in %.1f s",
                    type(exc).__name__,
                    backoff,
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._settings.retry_max_seconds)
                continue
            backoff = self._settings.retry_initial_seconds
            if delivered < self._settings.batch_size:
                await self._sleep(self._settings.poll_interval_seconds)
