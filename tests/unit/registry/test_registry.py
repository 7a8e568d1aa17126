"""The registry on both engines (tests/unit/registry/conftest.py): intents, uniqueness,
status changes, audit chain, migrations."""

import asyncio
import contextlib
import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hsm.backend import KeyAlgorithm, KeyRef
from server.errors import CAError, ErrorKind
from server.node.intent_sweeper import IntentSweeper
from server.node.process_identity import this_process
from server.registry import (
    AuditEvent,
    CALink,
    CertificateIntent,
    CertificateStatus,
    CMPDelivery,
    IntentHolds,
    Registry,
    Rollover,
    StatusChange,
    StatusChangeKind,
    intent_store,
)
from server.registry.engine import IntegrityError
from server.registry.migrations import pending_migrations
from server.registry.records import CMPOpening, CredentialRow, from_text, to_text
from server.registry.registry_copy import row_counts
from server.registry.subscriber_store import SubscriberRow
from tests.local_ca import settings_for

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OWNER = this_process()


def intent(serial: str, key: bytes) -> CertificateIntent:
    return CertificateIntent(
        serial=serial,
        generation_id=None,
        profile="tls-client",
        subject="CN=test",
        spki_sha256=key.ljust(32, b"\0"),
        not_before=NOW,
        not_after=NOW + timedelta(days=30),
        tbs=b"tbs-" + serial.encode(),
    )


async def issued(registry: Registry, serial: str, key: bytes) -> None:
    await registry.record_intent(intent(serial, key), NOW, OWNER, "test")
    await registry.complete_issue(
        serial, b"der-" + serial.encode(), "test", NOW, AuditEvent("test", "issue", serial)
    )


def change(serial: str, kind: StatusChangeKind, reason: str | None = None) -> StatusChange:
    return StatusChange(serial, kind, reason, NOW, None, "officer", NOW)


async def test_an_intent_is_invisible_until_completed(registry: Registry) -> None:
    await registry.record_intent(intent("01", b"k1"), NOW, OWNER, "test")
    assert await registry.get_certificate("01") is None
    await registry.complete_issue("01", b"der", "test", NOW, AuditEvent("test", "issue", "01"))
    record = await registry.get_certificate("01")
    assert record is not None and record.der == b"der" and record.status is CertificateStatus.GOOD
    history = await registry.status_history("01")
    assert [c.change for c in history] == [StatusChangeKind.ISSUE]


async def test_public_key_is_unique_across_certificates(registry: Registry) -> None:
    await issued(registry, "01", b"same-key")
    with pytest.raises(CAError) as caught:
        await registry.record_intent(intent("02", b"same-key"), NOW, OWNER, "test")
    assert caught.value.kind is ErrorKind.DUPLICATE
    assert "01" in caught.value.message


async def test_a_pending_intent_also_holds_its_key(registry: Registry) -> None:
    await registry.record_intent(intent("01", b"k"), NOW, OWNER, "test")
    with pytest.raises(CAError, match="already certified"):
        await registry.record_intent(intent("02", b"k"), NOW, OWNER, "test")


async def test_serial_is_unique(registry: Registry) -> None:
    await issued(registry, "01", b"k1")
    with pytest.raises(CAError) as caught:
        await registry.record_intent(intent("01", b"k2"), NOW, OWNER, "test")
    assert caught.value.kind is ErrorKind.DUPLICATE


async def count(registry: Registry, table: str) -> int:
    async with registry.reading() as db, db.execute(f"SELECT count(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_discarded_intent_leaves_no_row(registry: Registry) -> None:
    await registry.record_intent(intent("01", b"k"), NOW, OWNER, "test")
    await registry.discard_intent("01")
    assert await count(registry, "certificates") == 0
    await issued(registry, "02", b"k")  # the key is free again


async def test_completing_an_unknown_intent_fails_and_writes_nothing(
    registry: Registry,
) -> None:
    with pytest.raises(CAError) as caught:
        await registry.complete_issue("77", b"x", "t", NOW, AuditEvent("t", "issue", "77"))
    assert caught.value.kind is ErrorKind.INTERNAL
    assert (await registry.verify_audit_chain()).entries == 0


async def test_completing_an_intent_that_holds_nothing_any_more_fails_and_writes_nothing(
    registry: Registry,
) -> None:
    """An intent whose hold is gone while the intent stays (settling deletes both, so only
    a hand edit leaves this) is not completed: its certificate never leaves the CA."""
    holds = await credential_hold(registry, "code-01")
    await registry.record_intent(intent("01", b"k"), NOW, OWNER, "test", holds)
    await run(registry, "DELETE FROM intent_holds WHERE serial = ?", ("01",))
    with pytest.raises(CAError) as caught:
        await registry.complete_issue(
            "01", b"x", "t", NOW, AuditEvent("t", "issue", "01"), holds=holds
        )
    assert caught.value.kind is ErrorKind.INTERNAL
    assert caught.value.message == "the intent 01 was settled meanwhile"
    assert [i.serial for i in await registry.open_intents()] == ["01"]
    assert await count(registry, "status_changes") == 0
    assert (await registry.verify_audit_chain()).entries == 0
    credential = await registry.credentials.get("code-01")
    assert credential is not None and credential.used_serial is None


async def credential_hold(registry: Registry, credential_id: str) -> IntentHolds:
    """Holds of an intent taking a new, free enrollment credential `credential_id`."""
    expires = NOW + timedelta(hours=1)
    credential = CredentialRow(
        credential_id, b"hash", b"salt", "tls-client", "CN=test", expires, None, None
    )
    assert await registry.credentials.add(credential, "test", NOW, [])
    return IntentHolds(credential_id=credential_id)


async def intent_owner(registry: Registry, serial: str) -> str | None:
    async with (
        registry.reading() as db,
        db.execute("SELECT intent_owner FROM certificates WHERE serial = ?", (serial,)) as cursor,
    ):
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def test_an_intent_that_holds_nothing_writes_no_holds_row_and_keeps_its_owner(
    registry: Registry,
) -> None:
    """The owner is recorded on the intent (migration 0017), whatever it holds, and
    cleared with its certificate; only what an intent holds writes an intent_holds row."""
    await registry.record_intent(intent("01", b"k1"), NOW, "owner-1", "test")
    holds = await credential_hold(registry, "code-02")
    await registry.record_intent(intent("02", b"k2"), NOW, "owner-2", "test", holds)
    assert await count(registry, "intent_holds") == 1
    opened = await registry.open_intents()
    assert [(i.serial, i.owner, i.credential_id) for i in opened] == [
        ("01", "owner-1", None), ("02", "owner-2", "code-02"),
    ]  # fmt: skip
    await registry.complete_issue("01", b"der", "test", NOW, AuditEvent("test", "issue", "01"))
    await registry.complete_issue(
        "02", b"der", "test", NOW, AuditEvent("test", "issue", "02"), holds=holds
    )
    assert await count(registry, "intent_holds") == 0
    assert await registry.open_intents() == []
    assert [await intent_owner(registry, serial) for serial in ("01", "02")] == [None, None]
    credential = await registry.credentials.get("code-02")
    assert credential is not None and credential.used_serial == "02"


async def test_the_sweeper_settles_a_gone_owners_intent_that_holds_nothing(
    registry: Registry, gone_owner: str, tmp_path: Path
) -> None:
    """The intent's own row tells the sweeper its owner, and, once settled, tells its
    completion that it is gone: the certificate never leaves the CA and nothing is
    written. A live owner's intent stays."""
    await registry.record_intent(intent("01", b"k1"), NOW, gone_owner, "test")
    await registry.record_intent(intent("02", b"k2"), NOW, OWNER, "test")
    assert await count(registry, "intent_holds") == 0
    sweeper = IntentSweeper(settings_for(tmp_path), registry, lambda: NOW)
    assert await sweeper.sweep() == 1
    assert [i.serial for i in await registry.open_intents()] == ["02"]
    (settled,) = await registry.search.audit_entries(10, None)
    assert (settled.action, settled.target) == ("intent.settle", "01")
    assert (settled.details["why"], settled.details["owner"]) == ("owner gone", gone_owner)
    with pytest.raises(CAError) as caught:
        await registry.complete_issue("01", b"x", "t", NOW, AuditEvent("t", "issue", "01"))
    assert caught.value.kind is ErrorKind.INTERNAL
    assert await registry.get_certificate("01") is None
    assert await count(registry, "certificates") == 1
    assert await count(registry, "status_changes") == 0
    assert (await registry.verify_audit_chain()).entries == 1
    await registry.complete_issue("02", b"der", "t", NOW, AuditEvent("t", "issue", "02"))
    assert await registry.get_certificate("02") is not None


async def test_status_change_is_checked_inside_the_transaction(registry: Registry) -> None:
    await issued(registry, "01", b"k")
    audit = AuditEvent("officer", "certificate.revoke", "01")
    good = (CertificateStatus.GOOD,)
    record = await registry.change_status(
        change("01", StatusChangeKind.REVOKE, "keyCompromise"), good, CertificateStatus.REVOKED,
        audit,
    )  # fmt: skip
    assert record.status is CertificateStatus.REVOKED
    with pytest.raises(CAError) as caught:
        await registry.change_status(
            change("01", StatusChangeKind.REVOKE), good, CertificateStatus.REVOKED, audit
        )
    assert caught.value.kind is ErrorKind.ALREADY_REVOKED
    history = await registry.status_history("01")
    assert [(c.change, c.reason) for c in history] == [
        (StatusChangeKind.ISSUE, None),
        (StatusChangeKind.REVOKE, "keyCompromise"),
    ]


async def test_status_change_of_unknown_serial(registry: Registry) -> None:
    with pytest.raises(CAError) as caught:
        await registry.change_status(
            change("99", StatusChangeKind.REVOKE),
            (CertificateStatus.GOOD,),
            CertificateStatus.REVOKED,
            AuditEvent("o", "revoke", "99"),
        )
    assert caught.value.kind is ErrorKind.NOT_FOUND


async def run(registry: Registry, sql: str, parameters: tuple[object, ...] = ()) -> None:
    async with registry.transaction() as db:
        await db.execute(sql, parameters)


async def test_audit_chain_detects_an_edited_entry(registry: Registry) -> None:
    for n in range(3):
        await issued(registry, f"0{n}", bytes([n]))
    report = await registry.verify_audit_chain()
    assert report.intact and report.entries == 3
    with pytest.raises(IntegrityError, match="append-only"):
        await run(registry, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(IntegrityError, match="append-only"):
        await run(registry, "DELETE FROM audit_log WHERE seq = 2")
    # Someone with the database in hand can drop the trigger; the chain still tells.
    on_table = " ON audit_log" if registry.engine.dialect == "postgresql" else ""
    await run(registry, f"DROP TRIGGER audit_log_no_update{on_table}")
    await run(registry, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    report = await registry.verify_audit_chain()
    assert not report.intact and report.first_broken_seq == 2


async def test_reopening_applies_no_migration_twice(registry_url: str) -> None:
    first = await Registry.open_url(registry_url)
    await issued(first, "01", b"k")
    await first.close()
    second = await Registry.open_url(registry_url)
    try:
        assert (await second.get_certificate("01")) is not None
    finally:
        await second.close()


async def test_pruning_cmp_transactions_keeps_recent_unfinished_and_held_ones(
    registry: Registry,
) -> None:
    """CMPStore.prune (the CMP sweeper's): done and expired transactions begun before
    the cut go; later ones, unfinished ones, and a done one an open intent still holds
    (intent_holds references it) stay."""
    store = registry.cmp
    old, later = NOW - timedelta(days=4), NOW - timedelta(days=2)
    ids = {name: name.encode().ljust(16, b"\0") for name in
           ("done", "expired", "awaiting", "waiting", "open", "held", "recent")}  # fmt: skip
    for name, transaction_id in ids.items():
        assert await store.open(
            CMPOpening(transaction_id, "r", later if name == "recent" else old, None)
        )
    for name in ("done", "held", "recent"):
        await store.discard(ids[name])
    for name, state in (("expired", "expired"), ("awaiting", "awaiting_confirm"),
                        ("waiting", "waiting")):  # fmt: skip
        assert await store.finish(ids[name], "open", state)
    holds = IntentHolds(cmp=CMPDelivery(ids["held"], 0, b"n" * 16, None))
    await registry.record_intent(intent("0a", b"held-key"), NOW, OWNER, "test", holds)
    assert await store.prune(NOW - timedelta(days=3)) == 2
    assert await store.get(ids["done"]) is None and await store.get(ids["expired"]) is None
    for name in ("awaiting", "waiting", "open", "held", "recent"):
        assert await store.get(ids[name]) is not None, name
    assert await store.prune(NOW - timedelta(days=3)) == 0


def subscriber(subscriber_id: str, snils: str) -> SubscriberRow:
    return SubscriberRow(subscriber_id, "individual", "Ivanov Ivan", "Ivanov", "Ivan", None, snils,
                         None, None, None, "RU", None, None, None, "operator", NOW)  # fmt: skip


async def test_a_unique_violation_names_its_column_and_not_the_value(registry: Registry) -> None:
    """subscriber_store tells which identifier is taken by the column; the value, personal
    data perhaps, stays out of the error."""
    await registry.subscribers.add(subscriber("s1", "112-233-445 95"), AuditEvent("o", "add", "s1"))
    with pytest.raises(CAError, match="SNILS") as caught:
        await registry.subscribers.add(
            subscriber("s2", "112-233-445 95"), AuditEvent("o", "add", "s2")
        )
    assert caught.value.kind is ErrorKind.DUPLICATE
    insert = (
        "INSERT INTO accounts (id, name, role, created_at, created_by)"
        " VALUES (?, 'mallory-7731', 'admin', ?, 'test')"
    )
    await run(registry, insert, ("a1", to_text(NOW)))
    with pytest.raises(IntegrityError) as refused:
        await run(registry, insert, ("a2", to_text(NOW)))
    assert refused.value.column == "name" and "mallory-7731" not in str(refused.value)
    assert await count(registry, "subscribers") == 1 and await count(registry, "accounts") == 1


async def test_times_are_timestamps_on_postgresql_and_read_back_as_on_sqlite(
    registry: Registry,
) -> None:
    await issued(registry, "01", b"k")
    revoked_at = NOW + timedelta(hours=1, seconds=7)
    await registry.change_status(
        StatusChange("01", StatusChangeKind.REVOKE, None, revoked_at, None, "o", revoked_at),
        (CertificateStatus.GOOD,), CertificateStatus.REVOKED, AuditEvent("o", "revoke", "01"),
    )  # fmt: skip
    if registry.engine.dialect == "postgresql":
        kind = (
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'status_changes' AND column_name = 'effective_at'"
        )
        expected = "timestamp with time zone"
    else:
        kind, expected = "SELECT typeof(effective_at) FROM status_changes LIMIT 1", "text"
    async with registry.reading() as db, db.execute(kind) as cursor:
        assert tuple(await cursor.fetchone() or ()) == (expected,)
    async with (
        registry.reading() as db,
        db.execute("SELECT effective_at FROM status_changes WHERE change = 'revoke'") as cursor,
    ):
        assert tuple(await cursor.fetchone() or ()) == ("2026-11-28T13:00:07Z",)
    assert [c.effective_at for c in await registry.status_history("01")] == [NOW, revoked_at]
    assert (await registry.verify_audit_chain()).intact  # its hashes cover to_text(at)


async def test_a_home_migrated_when_times_were_declared_text_keeps_working(
    tmp_path: Path,
) -> None:
    """Homes made before time columns were declared TIMESTAMP_TEXT (0001_initial.sql) have
    TEXT there; both give TEXT affinity, so such a home reads and writes as a new one."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)")
        for name, script in pending_migrations("sqlite", set()):
            old.executescript(script.replace("TIMESTAMP_TEXT", "TEXT"))
            old.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
        old.execute(
            "INSERT INTO certificates (serial, profile, subject, spki_sha256, not_before,"
            " not_after, state, tbs, der, created_at) VALUES ('0a', 'tls-client', 'CN=old',"
            " x'01', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', 'issued', x'00', x'30',"
            " '2026-12-31T00:00:00Z')"
        )
        declared = old.execute(
            "SELECT type FROM pragma_table_info('certificates') WHERE name = 'not_after'"
        ).fetchone()
    assert declared == ("TEXT",)
    registry = await Registry.open_url(f"sqlite:///{path}")
    try:
        old_record = await registry.get_certificate("0a")
        assert old_record is not None
        assert old_record.not_after == datetime(2027, 1, 1, tzinfo=UTC)
        await issued(registry, "0b", b"new")
        found = await registry.search.certificates(None, None, None, 10, None)
        assert [c.serial for c in found] == ["0b", "0a"]  # by created_at: the old row is younger
        assert (await registry.verify_audit_chain()).intact
    finally:
        await registry.close()


async def test_intents_recorded_before_migration_0017_keep_their_owners(
    tmp_path: Path,
) -> None:
    """An intent open across the upgrade (or recorded by a node of an earlier version) has
    its owner on its intent_holds row only: it is still read, so the intent is still
    settled as soon as its owner is gone."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)")
        for name, script in pending_migrations("sqlite", set()):
            if name >= "0017":
                break
            old.executescript(script)
            old.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
        for serial in ("0a", "0b"):
            old.execute(
                "INSERT INTO certificates (serial, profile, subject, spki_sha256, not_before,"
                " not_after, state, tbs, created_at) VALUES (?, 'tls-client', 'CN=old', ?,"
                " '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', 'intent', x'00',"
                " '2026-12-31T00:00:00Z')",
                (serial, serial.encode()),
            )
        old.execute(
            "INSERT INTO intent_holds (serial, owner, recorded_at)"
            " VALUES ('0a', 'old-owner', '2026-12-31T00:00:00Z')"
        )
    registry = await Registry.open_url(f"sqlite:///{path}")
    try:
        opened = await registry.open_intents()
        assert [(i.serial, i.owner) for i in opened] == [("0a", "old-owner"), ("0b", None)]
        assert await registry.settle_intent("0a", AuditEvent("t", "intent.settle", "0a"), NOW)
        assert [i.serial for i in await registry.open_intents()] == ["0b"]
        assert await count(registry, "intent_holds") == 0
    finally:
        await registry.close()


async def test_a_subject_search_ignores_case_on_both_engines(registry: Registry) -> None:
    await issued(registry, "01", b"k")  # CN=test
    found = await registry.search.certificates(None, None, "cn=TEST", 10, None)
    assert [c.serial for c in found] == ["01"]
    assert await registry.search.certificates(None, None, "cn=t_st", 10, None) == []


async def test_watermarks_of_processes_silent_for_a_day_are_forgotten(registry: Registry) -> None:
    """A process killed on another machine never drops its own watermark row."""
    then = datetime(2026, 12, 1, tzinfo=UTC)
    await registry.status.set_watermark("gone-elsewhere", 1, then)
    await registry.status.set_watermark("live", 1, then + timedelta(hours=23))
    assert await count(registry, "status_watermarks") == 2
    await registry.status.set_watermark("live", 2, then + timedelta(days=1, seconds=1))
    assert await count(registry, "status_watermarks") == 1
    assert await registry.status.nodes_behind(3, then - timedelta(days=1)) == ["live"]


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 5, 9, 7, 3, tzinfo=UTC),
        datetime(2026, 12, 5, 9, 7, 3, 999_999, tzinfo=UTC),
        datetime(2027, 1, 1, 2, 30, tzinfo=timezone(timedelta(hours=3))),  # 2026 in UTC
        datetime(2050, 6, 30, 23, 59, 59, tzinfo=timezone(timedelta(0))),  # UTC, not `UTC`
    ],
)
def test_to_text_writes_what_strftime_wrote_and_from_text_reads_it(moment: datetime) -> None:
    text = to_text(moment)
    assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert from_text(text) == moment.astimezone(UTC).replace(microsecond=0)


async def test_credentials_are_read_by_several_ids_at_once_on_both_engines(
    registry: Registry,
) -> None:
    """CMP reads the credential a senderKID names and the one a sender's name names in
    one read: those that exist, whichever exist."""
    for credential_id in ("ec-a", "ec-b"):
        row = CredentialRow(
            credential_id, b"hash", b"salt", "tls-client", "CN=x", NOW + timedelta(hours=1),
            None, None,
        )  # fmt: skip
        assert await registry.credentials.add(row, "test", NOW, [])
    found = await registry.credentials.get_each(["ec-a", "ec-none", "ec-b"])
    assert sorted(row.id for row in found) == ["ec-a", "ec-b"]
    assert [row.id for row in await registry.credentials.get_each(["ec-b"])] == ["ec-b"]
    assert await registry.credentials.get_each(["ec-none"]) == []


async def test_the_sweepers_reads_use_indexes_of_the_rows_in_flight(tmp_path: Path) -> None:
    """The sweeper asks for open intents and stranded claims every round; in a registry of a
    million certificates a scan of either table stalled the duty holder's reader (about
    0.13 s per 300,000 rows). Each read goes through an index of the rows in flight
    (migration 0018)."""
    path = tmp_path / "registry.sqlite3"
    registry = await Registry.open_url(f"sqlite:///{path}")
    await registry.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        for sql, index in (
            (intent_store._open_intents_sql(False), "certificates_open_intents"),
            (intent_store._STRANDED_CLAIMS, "enrollment_credentials_claimed"),
        ):
            plan = db.execute(f"EXPLAIN QUERY PLAN {sql}", ("x",) * sql.count("?")).fetchall()
            assert f"USING INDEX {index}" in str(plan), plan


async def a_generation(registry: Registry, ca_name: str, serial: str) -> int:
    ca = CertificateIntent(serial, None, "ca", "CN=CA", serial.encode().ljust(32, b"\0"), NOW,
                           NOW + timedelta(days=3650), b"tbs-" + serial.encode())  # fmt: skip
    return await registry.record_ca_generation(
        ca_name, f"key:{serial}", "ecdsa-p256", serial.encode(), ca, b"der-" + serial.encode(),
        NOW, AuditEvent("init", "ca.generation.create", serial),
    )  # fmt: skip


async def test_rfc5280_5_2_3_a_new_generation_continues_its_cas_crl_numbers(
    registry: Registry,
) -> None:
    """A CA's generations share one issuer name: each allocation is above every number of
    the CA's generations, so no two of its CRLs share one; another CA counts on its own."""
    first = await a_generation(registry, "demo", "c1")
    assert await registry.status.allocate_crl_numbers(first, 3) == 1
    second = await a_generation(registry, "demo", "c2")
    other = await a_generation(registry, "other", "c3")
    assert await registry.status.allocate_crl_numbers(second, 2) == 4
    assert await registry.status.allocate_crl_numbers(first, 2) == 6
    assert await registry.status.allocate_crl_numbers(second, 1) == 8
    assert await registry.status.allocate_crl_numbers(other, 2) == 1


async def test_only_a_cas_first_generation_is_first(registry: Registry) -> None:
    """Its first generation publishes under the CA's plain name (distribution_points.py)."""
    for ca_name, serial in (("demo", "c1"), ("other", "c2"), ("demo", "c3"), ("demo", "c4")):
        await a_generation(registry, ca_name, serial)
    firsts = {
        name: [(g.serial, g.first) for g in await registry.generations(name)]
        for name in ("demo", "other")
    }
    assert firsts == {
        "demo": [("c1", True), ("c3", False), ("c4", False)],
        "other": [("c2", True)],
    }
    active = await registry.active_generation("demo")
    assert active is not None and (active.serial, active.first) == ("c4", False)


def a_rollover(rolled_from: int, serial: str) -> Rollover:
    """A rollover from generation `rolled_from` to a new one whose CA certificate is
    `serial` (the bytes stand for DER: the registry does not read them)."""
    ca = CertificateIntent(serial, None, "ca", "CN=CA", serial.encode().ljust(32, b"\0"), NOW,
                           NOW + timedelta(days=3650), b"tbs-" + serial.encode())  # fmt: skip
    responder = CertificateIntent(f"{serial}0", 0, "ocsp-responder", "CN=CA OCSP Responder",
                                  f"{serial}0".encode().ljust(32, b"\0"), NOW,
                                  NOW + timedelta(days=30), b"tbs-r")  # fmt: skip
    links = (
        CALink(f"{serial}1", "new_with_old", rolled_from, 0, NOW, NOW + timedelta(days=9), b"nwo"),
        CALink(f"{serial}2", "old_with_new", 0, rolled_from, NOW, NOW + timedelta(days=9), b"own"),
    )
    return Rollover("demo", rolled_from, f"key:{serial}", "ec-p256", serial.encode(), ca,
                    b"der-" + serial.encode(), responder, b"der-r", f"key:{serial}-ocsp", links,
                    "cli:operator", "scheduled")  # fmt: skip


async def test_rfc9810_4_4_a_rollover_records_its_generation_responder_links_and_audit(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    new = await registry.record_rollover(a_rollover(first, "c2"), NOW)
    active = await registry.active_generation("demo")
    assert active is not None
    assert (active.id, active.serial, active.key_uri) == (new, "c2", "key:c2")
    assert [link.serial for link in await registry.links("demo")] == ["c21", "c22"]
    assert [(link.issuer_generation_id, link.subject_generation_id)
            for link in await registry.links("demo")] == [(first, new), (new, first)]  # fmt: skip
    responder = await registry.ocsp_responder(new)
    assert responder is not None and responder[0] == "c20"
    record = await registry.get_certificate("c20")
    assert record is not None and record.generation_id == new
    [entry] = [e for e in await registry.search.audit_entries(100, None)
               if e.action == "ca.generation.rollover"]  # fmt: skip
    assert entry.details == {"ca": "demo", "from": first, "to": new, "reason": "scheduled",
                             "links": ["c21", "c22"]}  # fmt: skip
    assert (await registry.verify_audit_chain()).intact


async def test_k2_of_two_rollovers_racing_from_one_generation_one_is_refused(
    registry: Registry,
) -> None:
    """Both start while generation 1 is active; one lands whole, the other is refused by
    name and leaves nothing."""
    first = await a_generation(registry, "demo", "c1")
    before = await row_counts(registry)
    results = await asyncio.gather(
        registry.record_rollover(a_rollover(first, "c2"), NOW),
        registry.record_rollover(a_rollover(first, "c3"), NOW),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, CAError)]
    assert len(refused) == 1 and refused[0].kind is ErrorKind.REJECTED
    assert refused[0].message == (
        "generation 1 is no longer the active generation of CA 'demo': another rollover came"
        " first; nothing was recorded"
    )
    [won] = [r for r in results if isinstance(r, int)]
    assert [g.id for g in await registry.generations("demo")] == [first, won]
    after = await row_counts(registry)
    grown = {table: after[table] - before.get(table, 0) for table in after
             if after[table] != before.get(table, 0)}  # fmt: skip
    assert grown == {"audit_log": 2, "ca_generations": 1, "ca_links": 2, "certificates": 2,
                     "certificate_holder_names": 2, "ocsp_responders": 1,
                     "status_changes": 2}  # fmt: skip


async def an_ec_generation(registry: Registry, serial: str) -> int:
    ca = CertificateIntent(serial, None, "ca", "CN=CA", serial.encode().ljust(32, b"\0"), NOW,
                           NOW + timedelta(days=3650), b"tbs-" + serial.encode())  # fmt: skip
    return await registry.record_ca_generation(
        "demo", f"key:{serial}", "ec-p256", serial.encode(), ca, b"der-" + serial.encode(),
        NOW, AuditEvent("init", "ca.generation.create", serial),
    )  # fmt: skip


async def test_k3_a_generation_is_retired_only_once_every_certificate_it_signed_expired(
    registry: Registry,
) -> None:
    """On both engines, in the one guarded statement: a certificate of the generation (valid
    through its notAfter, RFC 5280 4.1.2.5) and the link it signed (NewWithOld, NOW+9 days)
    each keep it; the issuing generation is never retired."""
    first = await an_ec_generation(registry, "c1")
    leaf = dataclasses.replace(intent("e1", b"e1"), generation_id=first)  # ends NOW+30 days
    await registry.record_intent(leaf, NOW, OWNER, "test")
    new = await registry.record_rollover(a_rollover(first, "c2"), NOW)
    retire = registry.retirement.retire
    assert not await retire("demo", first, NOW + timedelta(days=9, seconds=1))
    assert not await retire("demo", first, NOW + timedelta(days=30))
    assert not await retire("other", first, NOW + timedelta(days=30, seconds=1))
    assert not await retire("demo", new, NOW + timedelta(days=9000))
    assert [g.state for g in await registry.generations("demo")] == ["active", "active"]
    assert await retire("demo", first, NOW + timedelta(days=30, seconds=1))
    assert [g.state for g in await registry.generations("demo")] == ["retired", "active"]
    assert not await retire("demo", first, NOW + timedelta(days=31))  # once


async def test_k3_the_link_a_generation_signed_keeps_it_until_the_link_expires(
    registry: Registry,
) -> None:
    first = await an_ec_generation(registry, "c1")
    await registry.record_rollover(a_rollover(first, "c2"), NOW)
    assert not await registry.retirement.retire("demo", first, NOW + timedelta(days=9))
    assert await registry.retirement.retire("demo", first, NOW + timedelta(days=9, seconds=1))


async def test_k3_a_retired_generations_keys_are_listed_until_recorded_destroyed_with_audit(
    registry: Registry,
) -> None:
    first = await an_ec_generation(registry, "c1")
    second = await registry.record_rollover(a_rollover(first, "c2"), NOW)
    third = await registry.record_rollover(a_rollover(second, "c3"), NOW)
    later = NOW + timedelta(days=31)
    assert await registry.retirement.keys_to_destroy("demo") == []
    assert await registry.retirement.retire("demo", first, later)
    assert await registry.retirement.retire("demo", second, later)
    assert not await registry.retirement.retire("demo", third, later)
    algorithm = KeyAlgorithm.EC_P256
    assert await registry.retirement.keys_to_destroy("demo") == [
        (first, [KeyRef("key:c1", algorithm)]),  # init made no responder here
        (second, [KeyRef("key:c2", algorithm), KeyRef("key:c2-ocsp", algorithm)]),
    ]
    audit = AuditEvent("ca:retirement", "ca.generation.retire", str(first),
                       {"generation": first, "keys_destroyed": ["key:c1"]})  # fmt: skip
    await registry.retirement.keys_destroyed(first, audit, later)
    assert [g for g, _ in await registry.retirement.keys_to_destroy("demo")] == [second]
    [entry] = [e for e in await registry.search.audit_entries(100, None)
               if e.action == "ca.generation.retire"]  # fmt: skip
    assert (entry.actor, entry.target) == ("ca:retirement", str(first))
    assert entry.details == {"generation": first, "keys_destroyed": ["key:c1"]}
    assert (await registry.verify_audit_chain()).intact


async def test_k3_the_retirement_reads_use_indexes(tmp_path: Path) -> None:
    """The duty's check is one seek per table, not a read of every certificate of the
    generation (migration 0020)."""
    path = tmp_path / "registry.sqlite3"
    registry = await Registry.open_url(f"sqlite:///{path}")
    await registry.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        plan = str(db.execute(
            "EXPLAIN QUERY PLAN SELECT 1 FROM certificates WHERE generation_id = ?"
            " AND not_after >= ?", (1, "x")).fetchall())  # fmt: skip
        assert "USING COVERING INDEX certificates_by_generation_expiry" in plan, plan
        plan = str(db.execute(
            "EXPLAIN QUERY PLAN SELECT 1 FROM ca_links WHERE issuer_generation_id = ?"
            " AND not_after >= ?", (1, "x")).fetchall())  # fmt: skip
        assert "USING COVERING INDEX ca_links_by_issuer_expiry" in plan, plan
