"""The in-process CA of tests/local_ca.py as a fixture, and an empty registry on each engine
for the commands that make or change a CA home."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.local_ca import LocalCA, opened_local_ca
from tests.postgres import Cluster


@pytest.fixture
async def local_ca(tmp_path: Path) -> AsyncIterator[LocalCA]:
    async with opened_local_ca(tmp_path) as ca:
        yield ca


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_registry(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new registry on each engine, outside the home (so removing the home cannot undo
    what `init` recorded in it)."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()
        return f"sqlite:///{tmp_path / 'db' / 'registry.sqlite3'}"
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    return await cluster.create_database()
