"""What only the SQLite engine has to get right."""

from pathlib import Path

import pytest

from server.registry import Registry
from server.registry.engine import IntegrityError


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
