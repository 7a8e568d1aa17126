"""What the registry's SQL needs from a database engine, whichever it is.

The registry's modules write one SQL for both engines (`?` placeholders, times as
`to_text` strings, `INSERT ... ON CONFLICT`, `RETURNING`); an engine runs it:
`server/registry/sqlite_engine.py` (sqlite3, the embedded default) or
`server/registry/postgres_engine.py` (asyncpg, several nodes). Only those two modules
import a driver.

The contract every engine keeps (ARCHITECTURE.md, "The registry"):
- `transaction()` is one write transaction that commits whole or rolls back, and write
  transactions are serialised from their start to their commit (SQLite's single writer;
  on PostgreSQL an advisory lock taken at BEGIN). So every number a transaction hands out
  by reading the newest and adding one (the audit chain's seq, an OCSP response's seq,
  cRLNumber, status change ids) is handed out in commit order: a follower reading
  "everything after N" never skips a row that committed late.
- `short_transaction()` is such a transaction whose statements are all short (point reads
  and writes by key: group commit's members, server/registry/group_commit.py), so an
  engine may run them on the event loop itself: SQLite does, and only BEGIN and COMMIT,
  which may wait for the lock or the disk, leave it. Anything long (a copy, a CRL's rows,
  bulk OCSP rows) uses `transaction()`.
- `snapshot()` is a read that sees one committed state across several statements.
- `reading()` is a single-statement read.
- `listen(channel, wake, metrics)` calls `wake` soon after a transaction that notified `channel`
  (a trigger, migration 0016) commits: PostgreSQL's LISTEN/NOTIFY; None on SQLite, whose
  followers only poll. A wake-up is a hint to read the feed, never its content: a follower
  must still poll, at its own pace, to cover notifications lost with a connection.
- A write a constraint refuses raises `IntegrityError` out of `transaction()`, rolled back.
  Inside a transaction, SQL that expects a conflict says so (`ON CONFLICT`) instead of
  catching it: on PostgreSQL a failed statement spoils the rest of its transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from server.registry.listen_metrics import ListenMetrics

Row = Sequence[Any]


class IntegrityError(Exception):
    """A constraint refused a write; the transaction was rolled back. `column` names the
    column of a broken unique constraint when the engine says which."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class Cursor(Protocol):
    """The outcome of one statement: its rows and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Row | None: ...

    async def fetchall(self) -> Iterable[Row]: ...

    def __aiter__(self) -> AsyncIterator[Row]: ...


class FetchedCursor:
    """A Cursor over rows already fetched whole (both engines fetch a statement's rows in
    the one trip or round trip that runs it), and how many rows it changed."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    async def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> list[Row]:
        return self._rows

    def __aiter__(self) -> AsyncIterator[Row]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Row]:
        for row in self._rows:
            yield row


class DeferredStatement:
    """A Statement that calls `run` when it is awaited or entered: how both engines give
    `execute`'s result (`await db.execute(...)`, `async with db.execute(...) as cursor`)."""

    def __init__(self, run: Callable[[], Awaitable[FetchedCursor]]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, FetchedCursor]:
        return self._run().__await__()

    async def __aenter__(self) -> FetchedCursor:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


class Statement(Protocol):
    """A statement run when awaited, or entered as `async with ... as cursor`."""

    def __await__(self) -> Any: ...

    async def __aenter__(self) -> Cursor: ...

    async def __aexit__(self, *exc: object) -> Any: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


class Listener(Protocol):
    """A LISTEN kept up in the background between `start` and `close`."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Engine(Protocol):
    dialect: str  # "sqlite" or "postgresql"

    def reading(self) -> AbstractAsyncContextManager[Connection]: ...

    def snapshot(self) -> AbstractAsyncContextManager[Connection]: ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    def short_transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    def listen(
        self, channel: str, wake: Callable[[], None], metrics: ListenMetrics
    ) -> Listener | None: ...

    async def close(self) -> None: ...
