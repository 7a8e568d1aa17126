"""The registry's SQL on PostgreSQL through asyncpg (several nodes share one registry).

The registry's SQL is written once (`?` placeholders, times as `records.to_text` strings);
`_Connection` runs it unchanged: placeholders become `$n`, rows index like SQLite's tuples,
and `timestamptz` columns take and give `to_text` strings (`_prepare_connection`), so the
stores and the audit chain's hashes see the very text they would see on SQLite.

Concurrency (server/registry/engine.py, ARCHITECTURE.md "The registry"): every write
transaction takes `pg_advisory_xact_lock(WRITE_LOCK)` right after BEGIN and holds it to its
COMMIT or ROLLBACK. Write transactions are therefore serialised from begin to commit across
every connection of every node, as SQLite's single writer serialises them. That is what
keeps each number handed out by "read the newest, add one" (the audit chain's seq, an OCSP
response's seq, cRLNumber) or by an identity column (status change ids, outbox seqs)
in commit order: a transaction that begins later also commits later, so a follower reading
"everything after N" never skips a row whose transaction committed late, and two nodes
never hand out the same number. Migrations take the same lock, so two nodes starting
together do not both migrate. Reads take no lock.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import asyncpg

from server.registry.engine import Connection, DeferredStatement, FetchedCursor, IntegrityError
from server.registry.listen_metrics import ListenMetrics
from server.registry.migrations import pending_migrations
from server.registry.notifications import Listening
from server.registry.records import to_text

# The key of the one advisory lock every write transaction (and migration) holds; any
# constant works as long as every node uses the same one ("ca-regis" in ASCII).
WRITE_LOCK = 0x63612D7265676973

DEFAULT_POOL_SIZE = 10


class PostgresEngine:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url

    @classmethod
    async def open(
        cls, url: str, pool_size: int = DEFAULT_POOL_SIZE, *, migrate: bool = True
    ) -> PostgresEngine:
        """Connect a pool of at most `pool_size` connections to the database `url` names
        and (unless not to `migrate`) apply pending migrations. A failure names the URL
        without its password."""
        if pool_size < 1:
            raise ValueError("the PostgreSQL pool needs at least one connection")
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                init=_prepare_connection,
                reset=_keep_session,
                server_settings={"timezone": "UTC"},
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise ConnectionError(
                f"cannot open the registry at {redacted(url)}: {_scrubbed(exc, url)}"
            ) from None
        engine = cls(pool, url)
        if not migrate:
            return engine
        try:
            await engine._migrate()
        except BaseException:
            await pool.close()
            raise
        return engine

    async def close(self) -> None:
        await self._pool.close()

    def listen(self, channel: str, wake: Callable[[], None], metrics: ListenMetrics) -> Listening:
        """LISTEN `channel` on a connection of its own, outside the pool (notifications.py)."""
        return Listening(self._url, channel, wake, metrics)

    async def _migrate(self) -> None:
        """Apply pending migrations in one transaction under the write lock: a node that
        starts while another migrates waits, then finds nothing left to do."""
        async with self._pool.acquire() as raw, raw.transaction():
            await raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            await raw.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)"
            )
            applied = {row[0] for row in await raw.fetch("SELECT name FROM schema_migrations")}
            for name, script in pending_migrations(self.dialect, applied):
                await raw.execute(script)
                await raw.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """A pooled connection in autocommit: each statement reads the newest commit."""
        async with self._pool.acquire() as raw:
            yield _Connection(raw)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Connection]:
        """Several reads of one committed state (REPEATABLE READ, READ ONLY)."""
        async with (
            self._pool.acquire() as raw,
            raw.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield _Connection(raw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One write transaction, serialised with every other from BEGIN to COMMIT by the
        advisory lock (module docstring); it commits whole or rolls back."""
        async with self._pool.acquire() as raw:
            await raw.execute(_BEGIN_WRITE)  # BEGIN and the lock in one round trip
            try:
                yield _Connection(raw)
                await raw.execute("COMMIT")
            except asyncpg.IntegrityConstraintViolationError as exc:
                await _rollback(raw)
                # The message names the constraint; the detail, which quotes the refused
                # value (personal data perhaps), only gives the column. str(exc) has both.
                message = getattr(exc, "message", None) or "a constraint refused the write"
                raise IntegrityError(message, _unique_column(exc)) from None
            except BaseException:
                await _rollback(raw)
                raise

    def short_transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction of short statements: on PostgreSQL, any transaction."""
        return self.transaction()


_BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"


async def _rollback(raw: asyncpg.Connection) -> None:
    """End a failed write transaction, if the connection still has one to end."""
    if not raw.is_closed() and raw.is_in_transaction():
        await raw.execute("ROLLBACK")


async def _keep_session(raw: asyncpg.Connection) -> None:
    """A connection returned to the pool keeps its session: the engine changes nothing
    in it beyond a transaction (asyncpg itself still rolls back one left open), so the
    default reset (RESET ALL, UNLISTEN, ...: a round trip per use) has nothing to undo."""


async def _run(raw: asyncpg.Connection, sql: str, parameters: Sequence[Any]) -> FetchedCursor:
    query, returns_rows = _translated(sql)
    if returns_rows:
        rows = await raw.fetch(query, *parameters)
        return FetchedCursor(rows, len(rows))
    status = await raw.execute(query, *parameters)
    return FetchedCursor([], _rowcount(status))


class _Connection:
    """The registry's SQL on one asyncpg connection (server/registry/engine.py)."""

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> DeferredStatement:
        return DeferredStatement(lambda: _run(self._raw, sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        await self._raw.executemany(_translated(sql)[0], list(parameters))


_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.IGNORECASE)
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?")


@lru_cache(maxsize=1024)
def _translated(sql: str) -> tuple[str, bool]:
    """(the statement with `?` numbered `$1`, `$2`..., whether it returns rows). A `?` in
    a quoted string, a quoted name or a comment is left alone."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _TOKENS.sub(number, sql), _RETURNS_ROWS.search(sql) is not None


def _rowcount(status: str) -> int:
    """The row count of a command tag ("UPDATE 3", "INSERT 0 1"); 0 for other commands."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


_UNIQUE_DETAIL = re.compile(r"^Key \((?:[^,)]+, )*([^,)]+)\)=")


def _unique_column(exc: asyncpg.IntegrityConstraintViolationError) -> str | None:
    """The (last) column of a broken unique constraint, from "Key (col)=(value) already
    exists.", as SQLite names it in "UNIQUE constraint failed: table.col"."""
    if not isinstance(exc, asyncpg.UniqueViolationError):
        return None
    match = _UNIQUE_DETAIL.match(getattr(exc, "detail", None) or "")
    return match.group(1) if match else None


# -- times -------------------------------------------------------------------------------


def _encode_time(value: str | datetime) -> str:
    """A `to_text` string (which PostgreSQL reads as ISO 8601 UTC) or a datetime."""
    return value if isinstance(value, str) else value.isoformat()


def _decode_time(text: str) -> str:
    """PostgreSQL's ISO output in the session's UTC ("2026-11-28 12:00:00+00") as the
    `to_text` form ("2026-11-28T12:00:00Z") the stores and the audit chain use."""
    if len(text) == 22 and text.endswith("+00"):
        return f"{text[:10]}T{text[11:19]}Z"
    return to_text(datetime.fromisoformat(text))


async def _prepare_connection(raw: asyncpg.Connection) -> None:
    await raw.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_time,
        decoder=_decode_time,
        format="text",
    )


# -- no password in a message ------------------------------------------------------------


def redacted(url: str) -> str:
    """The URL with its passwords (in the user part, or a `password` parameter) as `***`."""
    message = url
    for secret in _passwords(url):
        message = message.replace(secret, "***")
    return message


def _passwords(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [value for key, value in parse_qsl(parts.query) if key == "password" and value]
    if parts.password:
        found.append(parts.password)
    # Longest first, so that a password containing another is replaced whole.
    return sorted({*found, *(quote(p, safe="") for p in found)}, key=len, reverse=True)


def _scrubbed(exc: BaseException, url: str) -> str:
    """The error's message without the URL's passwords (a driver may quote the DSN)."""
    message = str(exc) or type(exc).__name__
    for secret in _passwords(url):
        message = message.replace(secret, "***")
    return message
