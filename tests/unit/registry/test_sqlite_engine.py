"""What only the SQLite engine has to get right."""

import asyncio
import fcntl
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from server.registry import AuditEvent, Registry
from server.registry.engine import Connection, IntegrityError
from server.registry.sqlite_engine import SQLiteEngine

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DEADLINE = 60.0  # seconds; generous for a slow, shared machine
GRACE = 0.5  # seconds a waiting writer is given to show it does not pass
APPENDS = 200  # audit entries each of two processes appends


async def test_a_commit_that_fails_rolls_back_and_leaves_the_connection_usable(
    tmp_path: Path,
) -> None:
    """A COMMIT can fail (here a deferred foreign key); the transaction must then be rolled
    back, or every later BEGIN IMMEDIATE on the connection fails."""
    registry = await Registry.open(tmp_path / "registry.sqlite3")
    try:
        with pytest.raises(IntegrityError):
            async with registry.transaction() as db:
                await db.execute("PRAGMA defer_foreign_keys = ON")
                await db.execute(
                    "INSERT INTO status_changes (serial, change, effective_at, actor,"
                    " recorded_at) VALUES ('00ff', 'issue', ?, 'test', ?)",
                    ("2026-12-05T00:00:00Z", "2026-12-05T00:00:00Z"),
                )
        async with (
            registry.transaction() as db,
            db.execute("SELECT count(*) FROM status_changes") as cursor,
        ):
            row = await cursor.fetchone()
        assert row is not None and row[0] == 0
    finally:
        await registry.close()


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    opened = await Registry.open(tmp_path / "registry.sqlite3")
    yield opened
    await opened.close()


async def test_a_read_answers_while_a_write_transaction_is_held_open(registry: Registry) -> None:
    """Reads have a connection of their own: they neither wait for the writer nor see what
    it has not committed."""
    await registry.append_audit(AuditEvent("test", "first", "01"), NOW)
    async with registry.transaction() as db:
        await registry.append_audit_in(db, AuditEvent("test", "uncommitted", "02"), NOW)
        async with asyncio.timeout(DEADLINE):
            head = await registry.audit_head()
        assert head is not None and head[0] == 1
    head = await registry.audit_head()
    assert head is not None and head[0] == 2  # the newest commit, once it is one


async def test_a_group_transaction_goes_to_the_writer_thread_only_to_begin_and_commit(
    registry: Registry,
) -> None:
    """Group commit's members run their statements on the event loop: whatever the size of
    the group, its transaction is two trips to the writer's thread (BEGIN, COMMIT)."""
    engine = registry.engine
    assert isinstance(engine, SQLiteEngine)
    trips = 0
    call = engine._writer.call

    async def counted(*args: Any) -> Any:
        nonlocal trips
        trips += 1
        return await call(*args)

    engine._writer.call = counted  # type: ignore[method-assign]

    async def audit(db: Connection) -> None:
        for n in range(10):
            await registry.append_audit_in(db, AuditEvent("test", "write", str(n)), NOW)

    await registry.writes.run(audit)
    assert trips == 2
    head = await registry.audit_head()
    assert head is not None and head[0] == 10
    assert (await registry.verify_audit_chain()).intact


async def test_a_snapshot_cancelled_as_it_begins_leaves_reads_seeing_new_commits(
    registry: Registry,
) -> None:
    """The caller is cancelled just as the reader's thread has run its BEGIN: the read
    transaction must still end, or every later read would show that moment's state."""
    engine = registry.engine
    assert isinstance(engine, SQLiteEngine)
    call = engine._reader.call

    async def cancelled_at_begin(*args: Any) -> Any:
        result = await call(*args)
        if args[1:] == ("BEGIN", ()):
            raise asyncio.CancelledError
        return result

    engine._reader.call = cancelled_at_begin  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        async with registry.snapshot():
            pytest.fail("the snapshot opened although its BEGIN was cancelled")
    for seq in (1, 2):  # a read transaction left open would keep showing the first
        await registry.append_audit(AuditEvent("test", "after", str(seq)), NOW)
        assert await registry.audit_head() == (seq, ANY)


def _hold_writer_lock(registry_path: Path) -> int:
    fd = os.open(f"{registry_path}-writer.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


async def test_a_writer_waits_for_the_lock_file_another_process_holds(
    registry: Registry, tmp_path: Path
) -> None:
    """Writers of the processes sharing the file queue on its lock file, taken before
    BEGIN IMMEDIATE; a write begun while another holds it proceeds once it is released."""
    fd = _hold_writer_lock(tmp_path / "registry.sqlite3")
    try:
        write = asyncio.ensure_future(registry.append_audit(AuditEvent("test", "w", "1"), NOW))
        done, _ = await asyncio.wait({write}, timeout=GRACE)
        assert not done
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    async with asyncio.timeout(DEADLINE):
        await write
    assert await registry.audit_head() is not None


async def test_a_transaction_cancelled_while_it_waits_to_begin_leaves_nothing_held(
    registry: Registry, tmp_path: Path
) -> None:
    fd = _hold_writer_lock(tmp_path / "registry.sqlite3")
    try:
        write = asyncio.ensure_future(registry.append_audit(AuditEvent("test", "w", "1"), NOW))
        await asyncio.wait({write}, timeout=GRACE)
        write.cancel()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    with pytest.raises(asyncio.CancelledError):
        await write
    async with asyncio.timeout(DEADLINE):
        await registry.append_audit(AuditEvent("test", "w", "2"), NOW)
    fd = _hold_writer_lock(tmp_path / "registry.sqlite3")  # free again: raises if held
    os.close(fd)
    assert await registry.audit_head() == (1, ANY)  # the cancelled one never landed


_APPENDER = """
import asyncio, sys
from datetime import UTC, datetime
from pathlib import Path
from server.registry import AuditEvent, Registry

async def main() -> None:
    registry = await Registry.open(Path(sys.argv[1]))
    try:
        for n in range(int(sys.argv[3])):
            event = AuditEvent("test", "append", f"{sys.argv[2]}-{n}")
            await registry.append_audit(event, datetime.now(UTC))
    finally:
        await registry.close()

asyncio.run(main())
"""


async def test_two_processes_writing_one_file_lose_nothing(tmp_path: Path) -> None:
    """Two processes append to one audit chain at once: every entry lands, in one chain."""
    path = tmp_path / "registry.sqlite3"
    registry = await Registry.open(path)  # migrated before the two start
    try:
        appenders = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _APPENDER, str(path), name, str(APPENDS)
            )
            for name in ("a", "b")
        ]
        async with asyncio.timeout(DEADLINE):
            assert [await process.wait() for process in appenders] == [0, 0]
        head = await registry.audit_head()
        assert head is not None and head[0] == 2 * APPENDS
        assert (await registry.verify_audit_chain()).intact
        async with registry.reading() as db, db.execute("SELECT target FROM audit_log") as c:
            targets = {row[0] for row in await c.fetchall()}
        assert targets == {f"{name}-{n}" for name in ("a", "b") for n in range(APPENDS)}
    finally:
        await registry.close()
