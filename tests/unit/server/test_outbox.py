"""The reporting outbox (D6, D7): events written with the change they report, delivered at
least once and in order (server/outbox.py, server/registry/outbox_store.py), on a real
registry. Senders are fakes of our own `Sender` interface; sleeping is injected."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry

from config import SettingsError
from config.settings import OUTBOX_SENDERS
from server.authority import Authority
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.outbox import SENDERS, JsonLinesFileSender, OutboxDelivery, Sender, open_sender
from server.registry import Registry
from server.registry.outbox_store import (
    CERTIFICATE_ISSUED,
    SUBSCRIBER_REGISTERED,
    add_event_in,
    subscriber_registered_payload,
)
from server.registry.records import OutboxEvent, to_text
from tests.csr_factory import make_csr, new_key
from tests.local_ca import BackendSigner, LocalCA, settings_for
from tests.wrong_signer import OtherKeyBackend

# A certificate with no personal identifiers: one issued without the registration authority
# (a profile with them needs it: server/ra/registered_issuance.py).
HOLDER = [("CN", "Иванов Иван Иванович")]


class RecordingSleep:
    """An injected sleep: remembers each wait and stops the loop after `calls` of them."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) == self.calls:
            raise asyncio.CancelledError


class FlakySender:
    """Fails its first `failures` sends, then appends to a JSON-lines file."""

    def __init__(self, path: Path, failures: int) -> None:
        self.file, self.failures = JsonLinesFileSender(path), failures

    async def send(self, events: Sequence[OutboxEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("receiver down")
        await self.file.send(events)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def delivery(
    ca: LocalCA, sender: Sender, registry: Registry | None = None, batch_size: int = 100
) -> OutboxDelivery:
    outbox = dataclasses.replace(ca.settings.outbox, batch_size=batch_size)
    store = (registry or ca.registry).outbox
    return OutboxDelivery(store, sender, outbox, ca.clock, CollectorRegistry())


async def add_subscribers(ca: LocalCA, count: int) -> None:
    for number in range(count):
        async with ca.registry.transaction() as db:
            payload = subscriber_registered_payload(f"s{number}", "individual")
            await add_event_in(db, SUBSCRIBER_REGISTERED, payload, ca.clock())


# -- written with the change ------------------------------------------------------------------


async def test_an_issued_certificate_leaves_one_event_with_its_data(local_ca: LocalCA) -> None:
    assert await local_ca.registry.outbox.undelivered(10) == []  # CA and responder: not reported
    issued = await local_ca.authority.issue("tls-client", make_csr(HOLDER), "test")
    [event] = await local_ca.registry.outbox.undelivered(10)
    certificate = x509.load_der_x509_certificate(issued.der)
    generation = await local_ca.authority.generation()
    ca_record = await local_ca.registry.get_certificate(generation.serial)
    record = await local_ca.registry.get_certificate(issued.serial)
    assert ca_record is not None and record is not None
    assert event.kind == CERTIFICATE_ISSUED
    assert event.created_at == local_ca.clock()
    assert event.payload == {
        "serial": issued.serial,
        "not_before": to_text(certificate.not_valid_before_utc),
        "not_after": to_text(certificate.not_valid_after_utc),
        "profile": "tls-client",
        "subject": record.subject,
        "issuer": {
            "ca": local_ca.settings.ca.name,
            "subject": ca_record.subject,
            "serial": generation.serial,
            "generation": generation.id,
        },
        "subscriber_id": None,  # issued without the registration authority
    }


async def test_a_failed_issuance_leaves_no_event(local_ca: LocalCA) -> None:
    wrong = BackendSigner(OtherKeyBackend(local_ca.backend))  # fails verify-after-sign
    failing = Authority(local_ca.settings, local_ca.registry, wrong, local_ca.clock)
    with pytest.raises(CAError) as caught:
        await failing.issue("tls-client", make_csr(HOLDER), "test")
    assert caught.value.kind is ErrorKind.INTERNAL
    key = new_key()
    await local_ca.authority.issue("tls-client", make_csr(HOLDER, key), "test")
    with pytest.raises(CAError) as caught:
        await local_ca.authority.issue("tls-client", make_csr(HOLDER, key), "test")
    assert caught.value.kind is ErrorKind.DUPLICATE
    assert len(await local_ca.registry.outbox.undelivered(10)) == 1


async def test_an_event_is_rolled_back_with_its_transaction(local_ca: LocalCA) -> None:
    with pytest.raises(RuntimeError):
        async with local_ca.registry.transaction() as db:
            payload = subscriber_registered_payload("s1", "individual")
            await add_event_in(db, SUBSCRIBER_REGISTERED, payload, local_ca.clock())
            raise RuntimeError("the registration failed")
    assert await local_ca.registry.outbox.undelivered(10) == []


# -- delivered --------------------------------------------------------------------------------


async def test_the_jsonl_file_sender_writes_one_parseable_line_per_event(
    local_ca: LocalCA,
) -> None:
    issued = await local_ca.authority.issue("tls-client", make_csr(HOLDER), "test")
    await add_subscribers(local_ca, 1)
    sender = open_sender(local_ca.settings)
    assert isinstance(sender, JsonLinesFileSender)
    assert await delivery(local_ca, sender).deliver_batch() == 2
    assert stat.S_IMODE(sender.path.stat().st_mode) == 0o600
    first, second = lines(sender.path)
    assert first["kind"] == CERTIFICATE_ISSUED and first["payload"]["serial"] == issued.serial
    assert first["payload"]["subject"].startswith("CN=Иванов")  # UTF-8, not escaped
    assert second == {
        "seq": first["seq"] + 1,
        "kind": SUBSCRIBER_REGISTERED,
        "created_at": to_text(local_ca.clock()),
        "payload": {"subscriber_id": "s0", "kind": "individual"},
    }
    assert await local_ca.registry.outbox.undelivered(10) == []


async def test_a_line_cut_short_by_a_crash_stays_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"seq":1,"kind":"subscr', encoding="utf-8")
    event = OutboxEvent(
        1, SUBSCRIBER_REGISTERED, {"subscriber_id": "s"}, datetime(2026, 1, 1, tzinfo=UTC)
    )
    await JsonLinesFileSender(path).send([event])
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[1])["seq"] == 1


async def test_events_are_delivered_in_order_across_batches(local_ca: LocalCA) -> None:
    await add_subscribers(local_ca, 5)
    path = local_ca.settings.resolve("out.jsonl")
    outbox = delivery(local_ca, JsonLinesFileSender(path), batch_size=2)
    assert [await outbox.deliver_batch() for _ in range(4)] == [2, 2, 1, 0]
    delivered = lines(path)
    assert [line["payload"]["subscriber_id"] for line in delivered] == [f"s{n}" for n in range(5)]
    seqs = [line["seq"] for line in delivered]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


async def test_a_failed_send_is_recorded_retried_and_delivered_once(local_ca: LocalCA) -> None:
    await add_subscribers(local_ca, 1)
    path = local_ca.settings.resolve("out.jsonl")
    seen: list[list[OutboxEvent]] = []

    class Sleep(RecordingSleep):
        async def __call__(self, seconds: float) -> None:
            seen.append(await local_ca.registry.outbox.undelivered(10))
            await super().__call__(seconds)

    metrics = CollectorRegistry()
    sleep = Sleep(calls=2)
    outbox = OutboxDelivery(
        local_ca.registry.outbox, FlakySender(path, failures=1), local_ca.settings.outbox,
        local_ca.clock, metrics, sleep,
    )  # fmt: skip
    with pytest.raises(asyncio.CancelledError):
        await outbox.run()
    [failed] = seen[0]
    assert failed.attempts == 1 and failed.last_error == "OSError: receiver down"
    assert seen[1] == []
    assert [line["seq"] for line in lines(path)] == [failed.seq]
    settings = local_ca.settings.outbox
    assert sleep.delays == [settings.retry_initial_seconds, settings.poll_interval_seconds]
    assert metrics.get_sample_value("ca_outbox_delivery_failures_total") == 1
    assert metrics.get_sample_value("ca_outbox_delivered_events_total") == 1
    assert metrics.get_sample_value("ca_outbox_pending_events") == 0


async def test_retries_back_off_doubling_up_to_the_limit(local_ca: LocalCA) -> None:
    await add_subscribers(local_ca, 1)
    sleep = RecordingSleep(calls=10)
    outbox = OutboxDelivery(
        local_ca.registry.outbox, FlakySender(local_ca.settings.resolve("out.jsonl"), 10),
        local_ca.settings.outbox, local_ca.clock, CollectorRegistry(), sleep,
    )  # fmt: skip
    with pytest.raises(asyncio.CancelledError):
        await outbox.run()
    assert sleep.delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    [event] = await local_ca.registry.outbox.undelivered(10)
    assert event.attempts == 10


# -- at least once: a crash between send and mark sends again ----------------------------------


class CrashAfterSending:
    """Writes the events, then the process 'dies': its registry connection is gone before
    the delivery can mark them."""

    def __init__(self, path: Path, registry: Registry) -> None:
        self.file, self.registry = JsonLinesFileSender(path), registry

    async def send(self, events: Sequence[OutboxEvent]) -> None:
        await self.file.send(events)
        await self.registry.close()


async def test_a_crash_before_marking_delivers_the_events_again(local_ca: LocalCA) -> None:
    await add_subscribers(local_ca, 2)
    path = local_ca.settings.resolve("out.jsonl")
    dying = await open_registry(local_ca.settings)
    with pytest.raises(ValueError):  # the registry's connection is closed
        await delivery(local_ca, CrashAfterSending(path, dying), dying).deliver_batch()
    assert await delivery(local_ca, JsonLinesFileSender(path)).deliver_batch() == 2
    assert [line["seq"] for line in lines(path)] == [1, 2, 1, 2]  # receivers drop repeats


class SendThenHang:
    """Writes the events, then never returns: the task is cancelled (shutdown) first."""

    def __init__(self, path: Path) -> None:
        self.file, self.written = JsonLinesFileSender(path), asyncio.Event()

    async def send(self, events: Sequence[OutboxEvent]) -> None:
        await self.file.send(events)
        self.written.set()
        await asyncio.Event().wait()


async def test_a_delivery_cancelled_before_marking_delivers_again(local_ca: LocalCA) -> None:
    await add_subscribers(local_ca, 1)
    path = local_ca.settings.resolve("out.jsonl")
    sender = SendThenHang(path)
    task = asyncio.create_task(delivery(local_ca, sender).run())
    await sender.written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(await local_ca.registry.outbox.undelivered(10)) == 1
    assert await delivery(local_ca, JsonLinesFileSender(path)).deliver_batch() == 1
    assert [line["seq"] for line in lines(path)] == [1, 1]


# -- settings ---------------------------------------------------------------------------------


def test_every_sender_setting_has_a_sender(tmp_path: Path) -> None:
    assert set(SENDERS) == set(OUTBOX_SENDERS)
    settings = settings_for(tmp_path)
    assert settings.outbox.enabled and settings.outbox.sender == "jsonl-file"
    assert settings.resolve(settings.outbox.path) == tmp_path / "outbox" / "events.jsonl"
    with pytest.raises(SettingsError, match=r"outbox\.sender"):
        settings_for(tmp_path, CA_OUTBOX__SENDER="esia")
