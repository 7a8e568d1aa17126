"""What only the PostgreSQL engine does: the registry's `?` SQL translated, migrations
applied once by nodes starting together, no password in an error."""

import asyncio

import pytest

from server.registry import Registry
from server.registry.migrations import pending_migrations
from server.registry.postgres_engine import PostgresEngine, _translated
from tests.postgres import Cluster


def test_placeholders_are_numbered_outside_quotes_and_comments() -> None:
    sql = "SELECT '?', \"a?\", x FROM t WHERE a = ? AND b = 'it''s ?' AND c IN (?, ?) -- ?"
    assert _translated(sql) == (
        "SELECT '?', \"a?\", x FROM t WHERE a = $1 AND b = 'it''s ?' AND c IN ($2, $3) -- ?",
        True,
    )
    assert _translated("UPDATE t SET a = ?") == ("UPDATE t SET a = $1", False)
    assert _translated("INSERT INTO t (a) VALUES (?) RETURNING id")[1] is True


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ca:hunter2-secret@/registry?host=/nonexistent-socket-dir",
        "postgresql://ca@/registry?host=/nonexistent-socket-dir&password=hunter2-secret",
        "postgresql://ca:hunter2-secret@/registry?host=/nonexistent-socket-dir&port=x",
    ],
)
async def test_a_failure_to_connect_never_shows_the_password(url: str) -> None:
    with pytest.raises(ConnectionError) as caught:
        await PostgresEngine.open(url)
    message = str(caught.value)
    assert "hunter2-secret" not in message and "***" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_two_nodes_starting_together_apply_each_migration_once(
    postgres_cluster: Cluster,
) -> None:
    url = await postgres_cluster.create_database(template="template0")  # empty
    nodes = await asyncio.gather(*(Registry.open_url(url) for _ in range(3)))
    try:
        async with (
            nodes[0].reading() as db,
            db.execute("SELECT name FROM schema_migrations ORDER BY name") as cursor,
        ):
            applied = [row[0] async for row in cursor]
        assert applied == [name for name, _ in pending_migrations("postgresql", set())]
    finally:
        for node in nodes:
            await node.close()
