"""What tables a registry holds, read from the engine's own catalogue: their columns,
primary keys and foreign keys (for `registry copy`, server/registry/registry_copy.py).

The one place the registry's SQL differs by engine on purpose: SQLite describes itself
through `pragma_*` table functions, PostgreSQL through `information_schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.registry.engine import Connection

MIGRATIONS_TABLE = "schema_migrations"  # the engine's own: each side keeps its own


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # in the table's order
    key: tuple[str, ...]  # the primary key's columns, in the key's order
    nullable: frozenset[str]
    references: Mapping[str, str]  # column -> the table its foreign key refers to


async def read_tables(db: Connection, dialect: str) -> dict[str, Table]:
    """Every table of the registry but the migrations' own, by name."""
    describe = _sqlite_table if dialect == "sqlite" else _postgresql_table
    names = await _rows(db, _TABLE_NAMES[dialect], ())
    return {name: await describe(db, name) for (name,) in sorted(names) if name != MIGRATIONS_TABLE}


_TABLE_NAMES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'"
    " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    "postgresql": "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
}


async def _sqlite_table(db: Connection, name: str) -> Table:
    columns = await _rows(
        db, 'SELECT name, "notnull", pk FROM pragma_table_info(?) ORDER BY cid', (name,)
    )
    keys = await _rows(db, 'SELECT "from", "table" FROM pragma_foreign_key_list(?)', (name,))
    return Table(
        name=name,
        columns=tuple(column for column, _, _ in columns),
        key=tuple(column for column, _, pk in sorted(columns, key=lambda c: c[2]) if pk),
        nullable=frozenset(column for column, not_null, pk in columns if not not_null and not pk),
        references=dict(keys),
    )


async def _postgresql_table(db: Connection, name: str) -> Table:
    columns = await _rows(
        db,
        "SELECT column_name, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (name,),
    )
    key = await _rows(
        db,
        "SELECT k.column_name FROM information_schema.table_constraints c"
        " JOIN information_schema.key_column_usage k ON k.constraint_schema ="
        " c.constraint_schema AND k.constraint_name = c.constraint_name"
        " WHERE c.table_schema = current_schema() AND c.table_name = ?"
        " AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position",
        (name,),
    )
    references = await _rows(
        db,
        "SELECT k.column_name, u.table_name FROM information_schema.table_constraints c"
        " JOIN information_schema.key_column_usage k ON k.constraint_schema ="
        " c.constraint_schema AND k.constraint_name = c.constraint_name"
        " JOIN information_schema.constraint_column_usage u ON u.constraint_schema ="
        " c.constraint_schema AND u.constraint_name = c.constraint_name"
        " WHERE c.table_schema = current_schema() AND c.table_name = ?"
        " AND c.constraint_type = 'FOREIGN KEY'",
        (name,),
    )
    return Table(
        name=name,
        columns=tuple(column for column, _ in columns),
        key=tuple(column for (column,) in key),
        nullable=frozenset(column for column, nullable in columns if nullable == "YES"),
        references=dict(references),
    )


async def _rows(db: Connection, sql: str, parameters: tuple[str, ...]) -> list[tuple]:
    async with db.execute(sql, parameters) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]
