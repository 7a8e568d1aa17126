"""CA homes made by `python -m server init`, with the software backend and with a real
SoftHSM2 token through PKCS#11, their registry on SQLite (in the home) or in a database of
a throwaway PostgreSQL cluster (tests/postgres.py)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.cli import run_cli
from tests.postgres import Cluster
from tests.softhsm import make_token

ENGINES = ("sqlite", "postgresql")  # where a home's registry lives (registry.url)


@dataclass
class CAHome:
    path: Path
    env: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str | Path, check: bool = True):
        return run_cli(args[0], "--home", self.path, *args[1:], env=self.env, check=check)


def new_registry_url(request: pytest.FixtureRequest, engine: str) -> str | None:
    """A new, empty registry on `engine`: None for SQLite (the home's own file, the
    default), else the URL of a fresh database of the session's PostgreSQL cluster."""
    if engine == "sqlite":
        return None
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    with ThreadPoolExecutor(1) as thread:  # asyncio.run, whether or not a loop runs here
        return thread.submit(asyncio.run, cluster.create_database()).result()


def init_home(path: Path, request: pytest.FixtureRequest, engine: str, *args: str | Path) -> CAHome:
    """`init` a software-backend home at `path` with its registry on `engine`."""
    url = new_registry_url(request, engine)
    run_cli("init", "--home", path, *args, *(("--registry-url", url) if url else ()))
    return CAHome(path)


@pytest.fixture(scope="module")
def soft_ca(tmp_path_factory: pytest.TempPathFactory) -> CAHome:
    home = CAHome(tmp_path_factory.mktemp("soft") / "ca")
    run_cli("init", "--home", home.path, "--subject", "CN=Test Soft CA,O=Test,C=RU")
    return home


@pytest.fixture(scope="module")
def pkcs11_ca(tmp_path_factory: pytest.TempPathFactory) -> CAHome:
    folder = tmp_path_factory.mktemp("pkcs11")
    token = make_token(folder, label="ca")
    env = {**token.environment(), "CA_HSM_PIN": token.pin}
    home = CAHome(folder / "ca", env)
    run_cli(
        "init", "--home", home.path, "--backend", "pkcs11", "--token-label", token.label,
        "--module", token.module, "--subject", "CN=Test HSM CA,O=Test,C=RU", env=env,
    )  # fmt: skip
    return home
