"""A registry saved whole, from one consistent snapshot, as a new SQLite file (`backup`).

- SQLite: SQLite's online backup API (`sqlite3.Connection.backup`), in a thread of its
  own. It copies every page in one step, inside one read transaction: in WAL mode that
  read sees the newest commit and never waits for, or stops, the writers of a running
  server, so the file is the registry as one moment left it. The copy is then taken out
  of WAL mode, so it is one self-contained file.
- PostgreSQL: `copy_registry` into a new SQLite registry, the equivalent of `pg_dump`
  chosen here. It reads every table from one snapshot (a REPEATABLE READ transaction) while
  the servers write, needs no PostgreSQL client programs of the server's exact version,
  and gives the same archive member whatever the engine: `restore` loads it into SQLite or
  PostgreSQL with the same `copy_registry`, and proves it with the same checks. What it
  does not carry is what `pg_dump` would: the database's roles, grants and settings, which
  are the database administrator's, not the CA's.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from server.errors import CAError, ErrorKind
from server.registry.registry import Registry
from server.registry.registry_copy import copy_registry, row_counts

BUSY_TIMEOUT_MS = 10_000


async def save_sqlite_file(source: Path, target: Path) -> dict[str, int]:
    """The SQLite registry file `source` copied, as of one moment, into the new file
    `target` (mode 0600); the rows it holds per table. Raises CAError(UNAVAILABLE) when
    `source` is missing or cannot be read, FileExistsError when `target` exists."""
    if not source.is_file():
        raise CAError(ErrorKind.UNAVAILABLE, f"no registry file at {source}")
    await asyncio.to_thread(_online_backup, source, target)
    copy = await Registry.open_url(f"sqlite:///{target.absolute()}", migrate=False)
    try:
        return await row_counts(copy)
    finally:
        await _close(copy, target)


async def save_into_sqlite(source: Registry, target: Path) -> dict[str, int]:
    """Every row of `source` (any engine) copied from one snapshot into a new SQLite
    registry at `target`; the rows it holds per table."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    copy = await Registry.open_url(f"sqlite:///{target.absolute()}")
    try:
        await copy_registry(source, copy)
        return await row_counts(copy)
    finally:
        await _close(copy, target)


async def _close(registry: Registry, path: Path) -> None:
    """Close the saved registry and leave it one file: no lock file, no write-ahead log."""
    await registry.close()
    Path(f"{path}-writer.lock").unlink(missing_ok=True)
    await asyncio.to_thread(_out_of_wal_mode, path)


def _online_backup(source: Path, target: Path) -> None:
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    reading = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        reading.execute("PRAGMA query_only=1")
        writing = sqlite3.connect(target)
        try:
            try:
                reading.backup(writing)  # pages=-1: every page in one step, one snapshot
            except sqlite3.Error as exc:
                raise CAError(
                    ErrorKind.UNAVAILABLE, f"the registry {source} cannot be read: {exc}"
                ) from None
        finally:
            writing.close()
    finally:
        reading.close()


def _out_of_wal_mode(path: Path) -> None:
    """The file alone holds the registry: its write-ahead log checkpointed and removed."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
    finally:
        db.close()
