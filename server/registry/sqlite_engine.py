"""The registry's SQL on SQLite through aiosqlite (the embedded default).

One connection per process in WAL mode, so several worker processes can share the file.
A write transaction is `BEGIN IMMEDIATE`: it takes SQLite's one write lock at its start,
which is what serialises writers (server/registry/engine.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from server.registry.engine import Connection, IntegrityError
from server.registry.migrations import pending_migrations


class SQLiteEngine:
    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SQLiteEngine:
        """Open (creating if needed) the registry file and apply pending migrations. A new
        file is made mode 0600 first: SQLite then gives its -wal and -shm files the same
        mode (C1: it holds personal data)."""
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        connection = await aiosqlite.connect(path, isolation_level=None)
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.execute("PRAGMA busy_timeout=10000")
        engine = cls(connection)
        await engine._migrate()
        return engine

    async def close(self) -> None:
        await self._db.close()

    def listen(self, channel: str, wake: Callable[[], None]) -> None:
        """SQLite has no notifications: followers poll (server/registry/engine.py)."""
        return None

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)"
        )
        async with self._db.execute("SELECT name FROM schema_migrations") as cursor:
            applied = {row[0] async for row in cursor}
        for name, script in pending_migrations(self.dialect, applied):
            # executescript commits on its own; the migration and its marker go together.
            await self._db.executescript(
                "BEGIN IMMEDIATE;\n"
                + script
                + f"\nINSERT INTO schema_migrations (name) VALUES ('{name}');\nCOMMIT;"
            )

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """The connection for a read. Reads take the same lock as transactions: a read left
        open on the connection while a transaction begins would make SQLite refuse that
        transaction at once (SQLITE_BUSY) whenever another process wrote in between."""
        async with self._lock:
            yield self._db

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Connection]:
        """Several reads of one committed state (a deferred read transaction)."""
        async with self._lock:
            await self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                await self._db.execute("COMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One `BEGIN IMMEDIATE` transaction: it commits whole or rolls back."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                await self._db.execute("COMMIT")  # may fail too: a deferred constraint, busy
            except sqlite3.IntegrityError as exc:
                await self._roll_back()
                raise IntegrityError(str(exc), _unique_column(str(exc))) from exc
            except BaseException:
                await self._roll_back()
                raise

    async def _roll_back(self) -> None:
        """End the failed transaction, unless SQLite ended it already (some errors roll
        back by themselves): the connection must be left outside any transaction."""
        if self._db.in_transaction:
            await self._db.execute("ROLLBACK")


def _unique_column(message: str) -> str | None:
    """The column of "UNIQUE constraint failed: table.column"."""
    if not message.startswith("UNIQUE constraint failed: "):
        return None
    return message.rpartition(".")[2]
