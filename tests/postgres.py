"""A throwaway PostgreSQL cluster for the tests: `initdb` and `pg_ctl` from Debian's
postgresql package (/usr/lib/postgresql/<version>/bin; scripts/setup.sh installs it), in a
temp directory, listening only on a unix socket in that directory (no TCP). One cluster per
test session, stopped at its end whatever happened; a fresh database per test, copied from a
template that already holds the registry's schema.

initdb refuses to run as root, and pytest runs as root in CI: then the cluster runs as the
unprivileged `nobody` (setpriv), owning its directory. The tests connect as the cluster's
superuser over the socket (trust authentication: only the socket's directory reaches it).
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

SUPERUSER = "postgres"
TEMPLATE = "registry_template"


@dataclass(frozen=True)
class Cluster:
    socket_dir: Path

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    async def create_database(self, template: str = TEMPLATE) -> str:
        """A new empty database copied from `template`; returns its URL."""
        name = f"test_{os.getpid()}_{next(_numbers)}"
        connection = await asyncpg.connect(self.url("postgres"))
        try:
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await connection.close()
        return self.url(name)


_numbers = itertools.count()


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL's initdb and pg_ctl are missing (/usr/lib/postgresql/*/bin): "
            "run scripts/setup.sh, which installs Debian's postgresql package",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _as_cluster_owner(directory: Path) -> list[str]:
    """The command prefix that runs the cluster's programs as an unprivileged user."""
    if os.geteuid() != 0:
        return []
    nobody = pwd.getpwnam("nobody")
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    bin_dir = _binaries()
    directory = Path(tempfile.mkdtemp(prefix="pg-"))
    data, log = directory / "data", directory / "log"
    prefix = _as_cluster_owner(directory)
    started = False
    try:
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER,
              "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])  # fmt: skip
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{directory}'"
            " -c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log),
              "-o", options, "-w", "-t", "120", "start"])  # fmt: skip
        started = True
        cluster = Cluster(directory)
        # In a thread of its own: the fixture may be set up from inside a running loop.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, _make_template(cluster)).result()
        yield cluster
    finally:
        if started:
            _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                  "stop"])  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


async def _make_template(cluster: Cluster) -> None:
    """The template every test's database copies: the registry's migrations applied."""
    from server.registry.postgres_engine import PostgresEngine

    url = await cluster.create_database(template="template0")
    name = url.partition("@/")[2].partition("?")[0]
    engine = await PostgresEngine.open(url)
    await engine.close()
    connection = await asyncpg.connect(cluster.url("postgres"))
    try:
        await connection.execute(f'ALTER DATABASE "{name}" RENAME TO "{TEMPLATE}"')
    finally:
        await connection.close()


@pytest.fixture
async def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of a fresh database holding the registry's schema, for one test."""
    return await postgres_cluster.create_database()
