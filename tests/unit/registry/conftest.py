"""Every registry test runs on both engines: a real SQLite file and a database of a
throwaway PostgreSQL cluster (tests/postgres.py)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.registry import Registry
from tests.postgres import Cluster


@pytest.fixture(params=["sqlite", "postgresql"])
async def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty registry on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    return await cluster.create_database()


@pytest.fixture
async def registry(registry_url: str) -> AsyncIterator[Registry]:
    registry = await Registry.open_url(registry_url)
    yield registry
    await registry.close()
