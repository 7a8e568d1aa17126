"""Group commit (server/registry/group_commit.py) on both engines (a real SQLite file, a
throwaway PostgreSQL cluster: conftest.py): concurrent writes share transactions, and each
request's rows still land whole or not at all."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config.settings import RegistrySettings, Settings
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.node.process_identity import this_process
from server.registry import AuditEvent, CertificateIntent, Registry, RegistryBusy
from server.registry.engine import Connection, Engine
from server.registry.group_commit import GroupCommit, blind_write
from server.registry.records import CredentialRow, IntentHolds, to_text

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OWNER = this_process()


class CountingConnection:
    """A real connection that notes each statement it runs in `statements`: its SQL and
    how many rows of parameters it ran with."""

    def __init__(self, db: Connection, statements: list[tuple[str, int]]) -> None:
        self._db = db
        self._statements = statements

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        self._statements.append((sql, 1))
        return self._db.execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        rows = list(parameters)
        self._statements.append((sql, len(rows)))
        return await self._db.executemany(sql, rows)


class CountingEngine:
    """A real engine whose short write transactions (group commit's) are counted, and
    their statements noted; `fail_commit` makes each one fail at its end (after its work,
    before COMMIT), as a lost disk or connection would."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect
        self.transactions = 0
        self.statements: list[tuple[str, int]] = []
        self.fail_commit: Exception | None = None

    def reading(self):
        return self._engine.reading()

    def snapshot(self):
        return self._engine.snapshot()

    def transaction(self):
        return self._engine.transaction()

    @asynccontextmanager
    async def short_transaction(self) -> AsyncIterator[Connection]:
        self.transactions += 1
        async with self._engine.short_transaction() as db:
            yield CountingConnection(db, self.statements)
            if self.fail_commit is not None:
                raise self.fail_commit  # the engine rolls the whole transaction back

    async def close(self) -> None:
        await self._engine.close()


@pytest.fixture
async def engine(registry_url: str):
    opened = await Registry.open_url(registry_url)
    engine = CountingEngine(opened.engine)
    yield engine
    await opened.close()


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def registry(engine: CountingEngine, metrics: CollectorRegistry) -> Registry:
    return Registry(engine, metrics=metrics)


def retries(metrics: CollectorRegistry) -> float | None:
    return metrics.get_sample_value("ca_registry_write_group_retries_total")


def intent(serial: str, key: bytes) -> CertificateIntent:
    return CertificateIntent(
        serial=serial,
        generation_id=None,
        profile="tls-client",
        subject=f"CN={serial}",
        spki_sha256=key.ljust(32, b"\0"),
        not_before=NOW,
        not_after=NOW + timedelta(days=30),
        tbs=b"tbs-" + serial.encode(),
    )


async def issue(registry: Registry, serial: str) -> None:
    await registry.record_intent(intent(serial, serial.encode()), NOW, OWNER, "test")
    audit = AuditEvent("test", "certificate.issue", serial)
    await registry.complete_issue(serial, b"der-" + serial.encode(), "test", NOW, audit)


async def test_concurrent_issuances_share_transactions(
    registry: Registry, engine: CountingEngine
) -> None:
    serials = [f"{n:02x}" for n in range(1, 41)]
    await asyncio.gather(*(issue(registry, serial) for serial in serials))
    assert engine.transactions < len(serials)  # two per issuance without group commit
    for serial in serials:
        record = await registry.get_certificate(serial)
        assert record is not None and record.der == b"der-" + serial.encode()
    assert await registry.open_intents() == []
    assert (await registry.verify_audit_chain()).intact


def blocking_until(
    entered: asyncio.Event, release: asyncio.Event
) -> Callable[[Connection], Awaitable[None]]:
    """Work that holds its group's transaction open from `entered` until `release`."""

    async def work(db: Connection) -> None:
        entered.set()
        await release.wait()

    return work


def audit(registry: Registry, n: int) -> Callable[[Connection], Awaitable[int]]:
    """Work that appends audit entry `n` and returns `n`."""

    async def work(db: Connection) -> int:
        await registry.append_audit_in(db, AuditEvent("test", "write", str(n)), NOW)
        return n

    return work


def runs_of(engine: CountingEngine, sql_start: str) -> list[int]:
    """How many rows each run of the statements beginning with `sql_start` ran with."""
    return [rows for sql, rows in engine.statements if sql.startswith(sql_start)]


async def test_a_group_where_nobody_fails_runs_each_blind_write_once_for_all(
    registry: Registry, engine: CountingEngine, metrics: CollectorRegistry
) -> None:
    serials = [f"{n:02x}" for n in range(1, 7)]
    await asyncio.gather(
        *(registry.record_intent(intent(s, s.encode()), NOW, OWNER, "test") for s in serials)
    )
    await asyncio.gather(
        *(
            registry.complete_issue(
                s, b"der-" + s.encode(), "test", NOW, AuditEvent("test", "certificate.issue", s)
            )
            for s in serials
        )
    )
    assert engine.transactions == 2  # a group of six each time
    assert runs_of(engine, "SAVEPOINT") == [] and retries(metrics) == 0
    assert runs_of(engine, "INSERT INTO status_changes") == [6]
    assert runs_of(engine, "INSERT INTO audit_log") == [6]
    # Intents that hold nothing have their owner on the intent: no intent_holds row.
    assert runs_of(engine, "INSERT INTO intent_holds") == []
    assert runs_of(engine, "DELETE FROM intent_holds") == []
    assert runs_of(engine, "UPDATE certificates") == [1] * 6  # checked: one each
    for serial in serials:
        assert await registry.get_certificate(serial) is not None
    assert await registry.open_intents() == []
    assert (await registry.verify_audit_chain()).intact


async def test_the_credentials_a_group_spends_are_marked_used_in_one_batch(
    registry: Registry, engine: CountingEngine
) -> None:
    serials = ["0a", "0b", "0c"]
    for serial in serials:
        expires = NOW + timedelta(hours=1)
        credential = CredentialRow(
            f"code-{serial}", b"hash", b"salt", "tls-client", f"CN={serial}", expires, None, None
        )
        assert await registry.credentials.add(credential, "test", NOW, [])
    holds = {serial: IntentHolds(credential_id=f"code-{serial}") for serial in serials}
    await asyncio.gather(
        *(
            registry.record_intent(intent(s, s.encode()), NOW, OWNER, "est", holds[s])
            for s in serials
        )
    )
    audit = AuditEvent("test", "certificate.issue", "")
    await asyncio.gather(
        *(registry.complete_issue(s, b"der", "est", NOW, audit, holds=holds[s]) for s in serials)
    )
    assert engine.transactions == 2
    assert runs_of(engine, "INSERT INTO intent_holds") == [3]
    assert runs_of(engine, "DELETE FROM intent_holds") == [3]
    assert runs_of(engine, "UPDATE enrollment_credentials SET used_serial") == [3]
    assert runs_of(engine, "UPDATE applications SET state = 'issued'") == [3]
    for serial in serials:
        credential = await registry.credentials.get(f"code-{serial}")
        assert credential is not None and credential.used_serial == serial
    assert (await registry.verify_audit_chain()).intact


async def test_each_issuance_of_a_group_is_reported_with_its_issuer_read_once(
    registry: Registry, engine: CountingEngine
) -> None:
    ca = CertificateIntent("ca", None, "ca", "CN=CA", b"ca".ljust(32, b"\0"), NOW,
                           NOW + timedelta(days=3650), b"tbs-ca")  # fmt: skip
    generation = await registry.record_ca_generation(
        "test", "key:ca", "ecdsa-p256", b"kid", ca, b"der-ca", NOW,
        AuditEvent("init", "ca.generation", "ca"),
    )  # fmt: skip
    serials = ["0a", "0b", "0c"]
    for serial in serials:
        await registry.record_intent(
            replace(intent(serial, serial.encode()), generation_id=generation), NOW, OWNER, "t"
        )
    engine.statements.clear()
    await asyncio.gather(
        *(
            registry.complete_issue(
                s, b"der-" + s.encode(), "test", NOW, AuditEvent("test", "certificate.issue", s)
            )
            for s in serials
        )
    )
    issuer_reads = [sql for sql, _ in engine.statements if "JOIN certificates ca" in sql]
    assert len(issuer_reads) == 1  # one group, one read
    events = await registry.outbox.undelivered(10)
    assert [event.payload for event in events] == [
        {
            "serial": serial,
            "not_before": "2026-11-28T12:00:00Z",
            "not_after": "2026-12-28T12:00:00Z",
            "profile": "tls-client",
            "subject": f"CN={serial}",
            "issuer": {"ca": "test", "subject": "CN=CA", "serial": "ca", "generation": generation},
            "subscriber_id": None,
        }
        for serial in serials
    ]


async def test_a_process_watermark_joins_the_group_it_meets(
    registry: Registry, engine: CountingEngine
) -> None:
    """A feed's watermark, written after each change it applies, takes no write
    transaction (and on PostgreSQL no write lock) of its own."""
    await asyncio.gather(
        registry.record_intent(intent("0a", b"a"), NOW, OWNER, "test"),
        registry.status.set_watermark("this-process", 7, NOW),
        registry.record_intent(intent("0b", b"b"), NOW, OWNER, "test"),
    )
    assert engine.transactions == 1
    assert runs_of(engine, "INSERT INTO status_watermarks") == [1]
    assert await registry.status.nodes_behind(8, NOW) == ["this-process"]
    assert [i.serial for i in await registry.open_intents()] == ["0a", "0b"]


async def test_a_blind_write_a_constraint_refuses_fails_its_own_member_only(
    registry: Registry, engine: CountingEngine
) -> None:
    await issue(registry, "01")  # audit entry 1
    before = engine.transactions

    async def audit_entry_one_again(db: Connection) -> None:
        await blind_write(
            db,
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)"
            " VALUES (1, ?, 'test', 'again', '01', '{}', ?, ?)",
            (to_text(NOW), b"", b""),
        )

    outcomes = await asyncio.gather(
        registry.record_intent(intent("0a", b"a"), NOW, OWNER, "test"),
        registry.writes.run(audit_entry_one_again),
        registry.record_intent(intent("0c", b"c"), NOW, OWNER, "test"),
        return_exceptions=True,
    )
    # The fast try's batch was refused: the group ran again, with savepoints.
    assert engine.transactions == before + 2
    assert runs_of(engine, "SAVEPOINT")
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], Exception)
    assert [i.serial for i in await registry.open_intents()] == ["0a", "0c"]
    head = await registry.audit_head()
    assert head is not None and head[0] == 1
    assert (await registry.verify_audit_chain()).intact


async def test_a_failing_member_of_a_group_leaves_no_row_and_the_others_land(
    registry: Registry, engine: CountingEngine, metrics: CollectorRegistry
) -> None:
    await issue(registry, "01")
    before = engine.transactions

    async def audited_then_failing(db: Connection) -> None:
        await registry.append_audit_in(db, AuditEvent("test", "never", "0d"), NOW)
        raise RuntimeError("an unexpected failure after a write")

    async def audited(db: Connection) -> None:
        await registry.append_audit_in(db, AuditEvent("test", "after", "0e"), NOW)

    outcomes = await asyncio.gather(
        registry.record_intent(intent("0a", b"a"), NOW, OWNER, "test"),
        registry.record_intent(intent("0b", b"01"), NOW, OWNER, "test"),  # 01's key
        registry.writes.run(audited_then_failing),
        registry.record_intent(intent("0c", b"c"), NOW, OWNER, "test"),
        registry.writes.run(audited),
        return_exceptions=True,
    )

    # One group: its fast try, rolled back at the first failure, then its exact run.
    assert engine.transactions == before + 2 and retries(metrics) == 1
    assert outcomes[0] is None and outcomes[3] is None and outcomes[4] is None
    assert isinstance(outcomes[1], CAError) and outcomes[1].kind is ErrorKind.DUPLICATE
    assert isinstance(outcomes[2], RuntimeError)
    assert [i.serial for i in await registry.open_intents()] == ["0a", "0c"]
    head = await registry.audit_head()
    assert head is not None and head[0] == 2  # 01's issue, "after": "never" rolled back
    assert (await registry.verify_audit_chain()).intact


async def test_a_failed_commit_fails_every_member_alike_and_leaves_no_row(
    registry: Registry, engine: CountingEngine
) -> None:
    engine.fail_commit = OSError("the disk went away at COMMIT")
    outcomes = await asyncio.gather(
        *(
            registry.record_intent(intent(f"0{n}", bytes([n])), NOW, OWNER, "test")
            for n in range(5)
        ),
        registry.record_intent(intent("10", b"\x01"), NOW, OWNER, "test"),  # 01's key: its own
        return_exceptions=True,
    )
    assert engine.transactions == 2  # the fast try failed on the duplicate; no third
    assert all(outcome is engine.fail_commit for outcome in outcomes[:5])
    assert isinstance(outcomes[5], CAError) and outcomes[5].kind is ErrorKind.DUPLICATE
    engine.fail_commit = None
    assert await registry.open_intents() == []
    assert await registry.audit_head() is None


async def test_a_full_queue_refuses_new_writes_busy_and_groups_are_bounded(
    registry: Registry, engine: CountingEngine
) -> None:
    writes = GroupCommit(engine, max_group=2, max_queue=3)
    entered, release = asyncio.Event(), asyncio.Event()
    blocking = blocking_until(entered, release)

    first = asyncio.ensure_future(writes.run(blocking))
    async with asyncio.timeout(30):
        await entered.wait()
    queued = [asyncio.ensure_future(writes.run(audit(registry, n))) for n in range(3)]
    await asyncio.sleep(0)  # let them queue
    assert writes.waiting == 3
    with pytest.raises(RegistryBusy) as busy:
        await writes.run(audit(registry, 99))
    assert busy.value.kind is ErrorKind.BUSY  # answered as the signing pipeline's busy
    follow_up = asyncio.ensure_future(writes.run(audit(registry, 4), follow_up=True))  # admitted
    release.set()
    async with asyncio.timeout(30):
        assert await asyncio.gather(first, *queued, follow_up) == [None, 0, 1, 2, 4]
    # The blocking one alone, then the four queued in groups of at most two.
    assert engine.transactions == 1 + 2
    head = await registry.audit_head()
    assert head is not None and head[0] == 4


async def test_a_lone_write_commits_at_once_in_its_own_transaction(
    registry: Registry, engine: CountingEngine
) -> None:
    async with asyncio.timeout(30):
        await issue(registry, "01")
    assert engine.transactions == 2
    assert await registry.get_certificate("01") is not None


async def test_the_settings_bound_groups_and_the_queue_and_the_metrics_show_it(
    registry_url: str, tmp_path: Path
) -> None:
    bounds = RegistrySettings(url=registry_url, max_write_group=2, max_write_queue=3)
    metrics = CollectorRegistry()
    registry = await open_registry(Settings(home=tmp_path, registry=bounds), metrics=metrics)
    entered, release = asyncio.Event(), asyncio.Event()
    blocking = blocking_until(entered, release)

    try:
        first = asyncio.ensure_future(registry.writes.run(blocking))
        async with asyncio.timeout(30):
            await entered.wait()
        queued = [asyncio.ensure_future(registry.writes.run(audit(registry, n))) for n in range(3)]
        await asyncio.sleep(0)  # let them queue
        assert metrics.get_sample_value("ca_registry_write_queue") == 3
        with pytest.raises(RegistryBusy):  # max_write_queue
            await registry.writes.run(audit(registry, 99))
        release.set()
        async with asyncio.timeout(30):
            assert await asyncio.gather(first, *queued) == [None, 0, 1, 2]
    finally:
        await registry.close()
    # max_write_group: the blocking one alone, then the three queued as two and one.
    sample = metrics.get_sample_value
    assert sample("ca_registry_write_group_size_count") == 3
    assert sample("ca_registry_write_group_size_sum") == 4
    assert sample("ca_registry_write_group_size_bucket", {"le": "1.0"}) == 2
    assert sample("ca_registry_write_group_seconds_count") == 3
    assert sample("ca_registry_write_group_retries_total") == 0
    assert sample("ca_registry_write_queue") == 0
