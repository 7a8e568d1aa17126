"""The in-process CA of tests/local_ca.py as a fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.local_ca import LocalCA, opened_local_ca


@pytest.fixture
async def local_ca(tmp_path: Path) -> AsyncIterator[LocalCA]:
    async with opened_local_ca(tmp_path) as ca:
        yield ca
