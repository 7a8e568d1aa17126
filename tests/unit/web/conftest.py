"""Fixtures of the API tests: a CA home made and seeded once per session
(tests/unit/web/api_home.py), copied for each test and served through `build_app` and
pytest-aiohttp's client."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.unit.web.api_home import ClientFactory, Seed, Served, seed_home, serve

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    home = tmp_path_factory.mktemp("api") / "ca"
    subprocess.run(
        [sys.executable, "-m", "server", "init", "--home", str(home)],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    # In a thread of its own: asyncio.run must not meet the event loop of a test.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, seed_home(home)).result()


@pytest.fixture
def seed(pristine: Seed, tmp_path: Path) -> Seed:
    """The pristine home copied for one test. The registry names the CA's keys by absolute
    path, which the software backend only opens inside its key folder: the copy signs with
    the pristine home's keys (reading them only)."""
    home = tmp_path / "ca"
    shutil.copytree(pristine.home, home, ignore=shutil.ignore_patterns("keys"))
    settings = home / "settings.toml"
    text = settings.read_text(encoding="utf-8")
    assert text.count('key_dir = "keys"') == 1
    keys = json.dumps(str(pristine.home / "keys"))
    settings.write_text(text.replace('key_dir = "keys"', f"key_dir = {keys}"), encoding="utf-8")
    return dataclasses.replace(pristine, home=home)


@pytest.fixture
async def served(seed: Seed, aiohttp_client: ClientFactory) -> AsyncIterator[Served]:
    """The API of a CA that does not sign (reads, accounts, credentials, rejections)."""
    async with serve(seed, aiohttp_client, signing=False) as running:
        yield running


@pytest.fixture
async def signing(seed: Seed, aiohttp_client: ClientFactory) -> AsyncIterator[Served]:
    """The API of a CA that signs (revocation, approval)."""
    async with serve(seed, aiohttp_client, signing=True) as running:
        yield running
