"""A whole registry copied into an empty one, on any engines (`registry copy`).

Every table (but each side's own migrations table), every row, every value unchanged:
- parents before children, by the tables' foreign keys (server/registry/catalogue.py); a
  reference that cannot come first (applications and enrollment credentials refer to each
  other) is written NULL, and set once every row is in;
- rows read by primary key in batches of `batch_rows` from one snapshot of the source, so
  memory stays bounded whatever the registry's size and the copy is consistent even while
  the source serves;
- the target written in one transaction after checking it is empty: the copy lands whole
  or not at all; on PostgreSQL its identity sequences then move past the copied ids.

The checks after it (server/cli/registry.py) read with `row_counts` and `ocsp_answers`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from server.errors import CAError, ErrorKind
from server.registry.catalogue import Table, read_tables
from server.registry.engine import Connection
from server.registry.registry import Registry

BATCH_ROWS = 500
_OCSP_ANSWER = "status, revoked_at, reason, this_update, next_update, der"


async def copy_registry(
    source: Registry, target: Registry, batch_rows: int = BATCH_ROWS
) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`; the rows copied per table.
    Raises CAError(REJECTED) when the target holds rows or lacks a table or column of the
    source (then nothing is written)."""
    async with source.snapshot() as reading, target.transaction() as writing:
        tables = await read_tables(reading, source.engine.dialect)
        target_tables = await read_tables(writing, target.engine.dialect)
        await _refuse_unfit_target(writing, tables, target_tables)
        copied: dict[str, int] = {}
        deferred: list[tuple[Table, tuple[str, ...]]] = []
        for table, later in _copy_order(tables):
            copied[table.name] = await _copy_rows(reading, writing, table, later, batch_rows)
            if later:
                deferred.append((table, later))
        for table, later in deferred:
            await _set_deferred(reading, writing, table, later, batch_rows)
        if target.engine.dialect == "postgresql":
            for table in tables.values():
                await _advance_sequences(writing, table)
    return copied


async def row_counts(registry: Registry) -> dict[str, int]:
    """The number of rows of every table (but the migrations'), in one snapshot."""
    async with registry.snapshot() as db:
        counts = {}
        for name in await read_tables(db, registry.engine.dialect):
            async with db.execute(f"SELECT count(*) FROM {name}") as cursor:
                row = await cursor.fetchone()
            counts[name] = int(row[0]) if row else 0
        return counts


async def sample_serials(registry: Registry, size: int) -> list[str]:
    """Up to `size` distinct serials with a pre-signed OCSP response (all of them when there
    are no more), spread over the serials' range: serials are random, and each probe is one
    index lookup whatever the registry's size."""
    async with registry.snapshot() as db:
        async with db.execute("SELECT count(*) FROM ocsp_responses") as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] <= size:
            async with db.execute("SELECT serial FROM ocsp_responses ORDER BY serial") as cursor:
                return [serial for (serial,) in await cursor.fetchall()]
        async with db.execute("SELECT min(serial), max(serial) FROM ocsp_responses") as cursor:
            bounds = await cursor.fetchone()
        assert bounds is not None
        low, high = (int(serial[:8].ljust(8, "0"), 16) for serial in bounds)
        serials: list[str] = []
        for step in range(size):
            probe = format(low + step * (high - low) // size, "08x")
            async with db.execute(
                "SELECT serial FROM ocsp_responses WHERE serial >= ? AND serial > ?"
                " ORDER BY serial LIMIT 1",
                (probe, serials[-1] if serials else ""),
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                serials.append(row[0])
        return serials


async def ocsp_answers(registry: Registry, serials: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """The stored pre-signed OCSP answer of each serial that has one: its status, times,
    reason and DER, as the responder serves them."""
    answers = {}
    async with registry.snapshot() as db:
        for serial in serials:
            async with db.execute(
                f"SELECT {_OCSP_ANSWER} FROM ocsp_responses WHERE serial = ?", (serial,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                answers[serial] = tuple(row)
    return answers


async def _refuse_unfit_target(
    db: Connection, tables: dict[str, Table], target: dict[str, Table]
) -> None:
    for table in tables.values():
        columns = target[table.name].columns if table.name in target else ()
        if set(columns) != set(table.columns):
            raise CAError(
                ErrorKind.REJECTED,
                f"the target registry's table {table.name} differs from the source's "
                "(a different version of the CA?)",
            )
    for name in target:
        async with db.execute(f"SELECT 1 FROM {name} LIMIT 1") as cursor:
            if await cursor.fetchone() is not None:
                raise CAError(
                    ErrorKind.REJECTED,
                    f"the target registry is not empty (table {name} has rows):"
                    " copy into a new, empty database",
                )


def _copy_order(tables: dict[str, Table]) -> list[tuple[Table, tuple[str, ...]]]:
    """Each table with the references to write later: those to tables not copied yet."""
    remaining = dict(tables)
    order = []
    while remaining:
        ready = [t for t in remaining.values() if not _waits_for(t, remaining, itself=False)]
        if not ready:  # a cycle: break it where the waiting references may be NULL for now
            ready = [
                t
                for t in remaining.values()
                if all(column in t.nullable for column in _waits_for(t, remaining))
            ][:1]
            if not ready:
                raise CAError(ErrorKind.INTERNAL, "the registry's tables refer to each other"
                              " through required columns: no order copies them")  # fmt: skip
        table = ready[0]
        order.append((table, _waits_for(table, remaining)))
        del remaining[table.name]
    return order


def _waits_for(table: Table, remaining: dict[str, Table], itself: bool = True) -> tuple[str, ...]:
    """The columns of `table` referring to tables not copied yet (`itself` included)."""
    return tuple(
        column
        for column, other in table.references.items()
        if other in remaining and (itself or other != table.name)
    )


async def _copy_rows(
    reading: Connection, writing: Connection, table: Table, later: Sequence[str], batch: int
) -> int:
    columns = ", ".join(table.columns)
    placeholders = ", ".join("?" for _ in table.columns)
    insert = f"INSERT INTO {table.name} ({columns}) VALUES ({placeholders})"
    blank = [i for i, column in enumerate(table.columns) if column in later]
    count = 0
    async for rows in _batches(reading, table, table.columns, batch):
        values = [[None if i in blank else v for i, v in enumerate(row)] for row in rows]
        await writing.executemany(insert, values)
        count += len(rows)
    return count


async def _set_deferred(
    reading: Connection, writing: Connection, table: Table, later: Sequence[str], batch: int
) -> None:
    update = (
        f"UPDATE {table.name} SET {', '.join(f'{c} = ?' for c in later)}"
        f" WHERE {' AND '.join(f'{k} = ?' for k in table.key)}"
    )
    async for rows in _batches(reading, table, (*later, *table.key), batch):
        changed = [row for row in rows if any(v is not None for v in row[: len(later)])]
        if changed:
            await writing.executemany(update, changed)


async def _batches(
    db: Connection, table: Table, columns: Sequence[str], size: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The rows of `table` (`columns`, then its key) in key order, `size` at a time."""
    if not table.key:
        raise CAError(ErrorKind.INTERNAL, f"table {table.name} has no primary key to copy by")
    key = ", ".join(table.key)
    chosen = f"SELECT {', '.join(columns)}, {key} FROM {table.name}"
    after = f"({key}) > ({', '.join('?' for _ in table.key)})"
    last: tuple[Any, ...] | None = None
    while True:
        sql = f"{chosen}{'' if last is None else f' WHERE {after}'} ORDER BY {key} LIMIT ?"
        async with db.execute(sql, (*(last or ()), size)) as cursor:
            rows = [tuple(row) for row in await cursor.fetchall()]
        if not rows:
            return
        yield [row[: len(columns)] for row in rows]
        last = rows[-1][len(columns) :]


async def _advance_sequences(db: Connection, table: Table) -> None:
    """Identity (serial) columns continue after the copied ids, not from 1."""
    for column in table.key:
        async with db.execute("SELECT pg_get_serial_sequence(?, ?)", (table.name, column)) as c:
            row = await c.fetchone()
        if row is None or row[0] is None:
            continue
        await db.execute(
            f"SELECT setval(?, coalesce(max({column}), 0) + 1, false) FROM {table.name}",
            (row[0],),
        )
