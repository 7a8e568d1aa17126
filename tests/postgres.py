"""A throwaway PostgreSQL cluster for the tests: `initdb` and `postgres` from Debian's
postgresql package (/usr/lib/postgresql/<version>/bin; scripts/setup.sh installs it), in a
temp directory, listening only on a unix socket in that directory (no TCP). One cluster per
test session, stopped at its end whatever happened (by the kernel if the tests are killed);
a fresh database per test, copied from a template that already holds the registry's schema.

initdb refuses to run as root, and pytest runs as root in CI: then the cluster runs as the
unprivileged `nobody`, owning its directory. The tests connect as the cluster's
superuser over the socket (trust authentication: only the socket's directory reaches it).
"""

from __future__ import annotations

import asyncio
import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
            "PostgreSQL's initdb and postgres are missing (/usr/lib/postgresql/*/bin): "
            "run scripts/setup.sh, which installs Debian's postgresql package",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _cluster_owner(directory: Path) -> dict[str, Any]:
    """subprocess arguments that run the cluster's programs as an unprivileged user."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _die_with_the_tests() -> None:
    """In the server's process before it starts (after its user is set, which would clear
    it): the kernel stops the server (SIGQUIT, immediate shutdown) when the test process
    ends, even killed, so no cluster outlives the tests."""
    if _prctl(PR_SET_PDEATHSIG, signal.SIGQUIT) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


PR_SET_PDEATHSIG = 1
# Looked up here, not in the child between fork and exec, where loading a library could
# wait forever on a lock another thread of the tests held at the fork.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _until_ready(bin_dir: Path, directory: Path, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-q", "-h", str(directory), "-U", SUPERUSER],
            check=False,
        )
        if ready.returncode == 0:
            return
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the test PostgreSQL did not start: {log.read_text()}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as cluster:
        yield cluster


@contextmanager
def throwaway_cluster(durable: bool = False) -> Iterator[Cluster]:
    """A cluster that lives as long as the context. `durable`: with fsync, as a real one
    (the benchmarks); without, the tests run faster and lose nothing they need."""
    bin_dir = _binaries()
    directory = Path(tempfile.mkdtemp(prefix="pg-"))
    data, log = directory / "data", directory / "log"
    owner = _cluster_owner(directory)
    server: subprocess.Popen | None = None
    speed = [] if durable else ["-c", "fsync=off", "-c", "full_page_writes=off"]
    try:
        initdb = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, text=True, timeout=120, check=False, **owner,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stdout}{initdb.stderr}")
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-c", "listen_addresses=",
                 "-c", f"unix_socket_directories={directory}", *speed,
                 "-c", "max_connections=200"],
                stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_the_tests,
                **owner,
            )  # fmt: skip
        _until_ready(bin_dir, directory, server, log)
        cluster = Cluster(directory)
        # In a thread of its own: the fixture may be set up from inside a running loop.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, _make_template(cluster)).result()
        yield cluster
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # fast shutdown
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
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
