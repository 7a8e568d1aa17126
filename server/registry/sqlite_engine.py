"""The registry's SQL on SQLite (the embedded default), through the standard `sqlite3`.

Two connections per process to one file in WAL mode, each driven by a thread of its own
(sqlite_threads.py), so SQLite's waits (the write lock, an fsync at COMMIT, a long read)
never stop the event loop:
- the writer, for write transactions. A write transaction is `BEGIN IMMEDIATE`: it takes
  SQLite's one write lock at its start, which is what serialises writers
  (server/registry/engine.py). Before it, the writer's thread takes a lock on a file beside
  the registry (`<registry>-writer.lock`, flock): the processes sharing the file queue on it,
  and the kernel wakes the next one the moment a COMMIT releases it, where SQLite's busy
  handler would sleep in steps of 1, 2, 5, 10... ms. A writer waits for the file lock as
  it waits for the writer of its own process, for as long as that transaction lasts (the
  kernel frees the lock of a process that dies); busy_timeout stays the backstop for a
  writer that does not take the file lock (the sqlite3 shell, an older version).
- the reader (query_only), for `reading()` and `snapshot()`: in WAL mode a read sees the
  newest commit without waiting for a write transaction, so a point read during issuance
  does not queue behind the writer's group.

A statement and the fetching of all its rows are one trip to the thread (the registry's
SQL reads in bounded batches, as on PostgreSQL, which fetches whole results too). A
`short_transaction()` goes further: only its BEGIN IMMEDIATE and its COMMIT, which may wait
for the lock or the disk, go to the writer's thread; its statements, short by contract, run
on the event loop itself, on the writer's connection, which the transaction owns.

Why not aiosqlite, used here before: it makes every statement a trip to its thread (a queue,
a wake-up, a future) and offers no way to run several statements, or a function, in one
trip. An issuance makes about 25 statements; those trips were most of the registry's cost
on the event loop, and bench_issuance doubled without them (issue #14's closing note).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from server.registry.engine import Connection, DeferredStatement, FetchedCursor, IntegrityError
from server.registry.listen_metrics import ListenMetrics
from server.registry.migrations import pending_migrations
from server.registry.sqlite_threads import ConnectionThread

BUSY_TIMEOUT_MS = 10_000


class SQLiteEngine:
    dialect = "sqlite"

    def __init__(self, writer: ConnectionThread, reader: ConnectionThread, lock_fd: int) -> None:
        self._writer = writer
        self._reader = reader
        self._lock_fd = lock_fd
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, migrate: bool = True) -> SQLiteEngine:
        """Open (creating if needed) the registry file and (unless not to `migrate`) apply
        pending migrations. A new file is made mode 0600 first: SQLite then gives its -wal
        and -shm files the same mode (C1: it holds personal data); the writer's lock file
        is made 0600 too."""
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        lock_fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        writer: ConnectionThread | None = None
        try:
            writer = await ConnectionThread.open("registry-writer", lambda: _connect(path))
            reader = await ConnectionThread.open("registry-reader", lambda: _connect(path, True))
        except BaseException:
            if writer is not None:
                await writer.close()
            os.close(lock_fd)
            raise
        engine = cls(writer, reader, lock_fd)
        if not migrate:
            return engine
        try:
            await engine._migrate()
        except BaseException:
            await engine.close()
            raise
        return engine

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()
        os.close(self._lock_fd)

    def listen(self, channel: str, wake: Callable[[], None], metrics: ListenMetrics) -> None:
        """SQLite has no notifications: followers poll (server/registry/engine.py)."""
        return None

    async def _migrate(self) -> None:
        def migrate(raw: sqlite3.Connection) -> None:
            raw.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)")
            applied = {row[0] for row in raw.execute("SELECT name FROM schema_migrations")}
            for name, script in pending_migrations(self.dialect, applied):
                # executescript commits on its own; the migration and its marker go together.
                with _file_lock(self._lock_fd):
                    raw.executescript(
                        "BEGIN IMMEDIATE;\n"
                        + script
                        + f"\nINSERT INTO schema_migrations (name) VALUES ('{name}');\nCOMMIT;"
                    )

        async with self._write_lock:
            await self._writer.call(migrate)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """The reader's connection, for a read. Reads take the reader's lock, which
        `snapshot()` holds too: a read made while a snapshot is open on the connection would
        see that snapshot's older state instead of the newest commit."""
        async with self._read_lock:
            yield _ThreadedConnection(self._reader)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Connection]:
        """Several reads of one committed state (a deferred read transaction)."""
        async with self._read_lock:
            try:
                await self._reader.call(_run_sql, "BEGIN", ())
                yield _ThreadedConnection(self._reader)
            finally:  # after a BEGIN cancelled on its way too: reads must not stay in it
                await self._reader.call(_end_read)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One `BEGIN IMMEDIATE` transaction: it commits whole or rolls back. Each of its
        statements is a trip to the writer's thread, so a long one (a registry copy's
        batch, a CRL's rows) never holds up the event loop."""
        async with self._writing():
            yield _ThreadedConnection(self._writer)

    @asynccontextmanager
    async def short_transaction(self) -> AsyncIterator[Connection]:
        """One `BEGIN IMMEDIATE` transaction of short statements (point reads and writes:
        group commit's members), which run on the event loop: only BEGIN and COMMIT go to
        the writer's thread. It commits whole or rolls back."""
        async with self._writing():
            yield _InlineConnection(self._writer.connection)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        async with self._write_lock:
            try:
                await self._writer.call(_begin_write, self._lock_fd)
                yield
                # COMMIT may fail too (a deferred constraint, busy): the lock is kept then.
                await self._writer.call(_commit, self._lock_fd)
            except sqlite3.IntegrityError as exc:
                await self._writer.call(_roll_back, self._lock_fd)
                raise IntegrityError(str(exc), _unique_column(str(exc))) from exc
            except BaseException:
                await self._writer.call(_roll_back, self._lock_fd)
                raise


def _connect(path: Path, reader: bool = False) -> sqlite3.Connection:
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA foreign_keys=ON")
    if reader:
        raw.execute("PRAGMA query_only=ON")
    return raw


# -- run on a connection's thread (or, for a short transaction's statements, the loop) -----


def _run_sql(raw: sqlite3.Connection, sql: str, parameters: Sequence[Any]) -> FetchedCursor:
    cursor = raw.execute(sql, parameters)
    try:
        rows = cursor.fetchall()
        return FetchedCursor(rows, cursor.rowcount)
    finally:
        cursor.close()


def _run_many(raw: sqlite3.Connection, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
    raw.executemany(sql, parameters).close()


def _begin_write(raw: sqlite3.Connection, lock_fd: int) -> None:
    fcntl.flock(lock_fd, fcntl.LOCK_EX)  # the other processes' writers queue here
    try:
        raw.execute("BEGIN IMMEDIATE")
    except BaseException:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        raise


def _commit(raw: sqlite3.Connection, lock_fd: int) -> None:
    raw.execute("COMMIT")
    fcntl.flock(lock_fd, fcntl.LOCK_UN)


def _roll_back(raw: sqlite3.Connection, lock_fd: int) -> None:
    """End the failed transaction, unless SQLite ended it already (some errors roll back by
    themselves), or it never began: the connection must be left outside any transaction,
    and the file lock free."""
    try:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)


def _end_read(raw: sqlite3.Connection) -> None:
    if raw.in_transaction:
        raw.execute("COMMIT")


@contextlib.contextmanager
def _file_lock(lock_fd: int) -> Generator[None, None, None]:
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)


class _ThreadedConnection:
    """Each statement one trip to the connection's thread."""

    def __init__(self, thread: ConnectionThread) -> None:
        self._thread = thread

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> DeferredStatement:
        return DeferredStatement(lambda: self._thread.call(_run_sql, sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        await self._thread.call(_run_many, sql, list(parameters))


class _InlineConnection:
    """Each statement run at once on the calling (event loop's) thread."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> DeferredStatement:
        async def run() -> FetchedCursor:
            return _run_sql(self._raw, sql, parameters)

        return DeferredStatement(run)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        _run_many(self._raw, sql, parameters)


def _unique_column(message: str) -> str | None:
    """The column of "UNIQUE constraint failed: table.column"."""
    if not message.startswith("UNIQUE constraint failed: "):
        return None
    return message.rpartition(".")[2]
