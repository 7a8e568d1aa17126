"""A CA home and its running server, for the enrollment benchmarks (EST, CMP): `init` on
SoftHSM2 (a fresh token) or the software backend, its registry in SQLite or in a throwaway
PostgreSQL cluster, free loopback ports, `serve` with a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ports import free_port
from tests.postgres import throwaway_cluster
from tests.softhsm import make_token

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BenchCA:
    folder: Path
    env: dict[str, str]
    http: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    https: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    server: subprocess.Popen | None = None

    @property
    def home(self) -> Path:
        return self.folder / "ca"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def cli(self, *command: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "server", *command, "--home", str(self.home)],
            check=True, capture_output=True, text=True, env=self.env, cwd=ROOT,
        ).stdout  # fmt: skip

    def serve(self, workers: int) -> None:
        """Start `serve` and wait for its `serving` line."""
        self.server = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--home", str(self.home)],
            env={**self.env, "CA_SERVER__WORKERS": str(workers)}, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True,
        )  # fmt: skip
        assert self.server.stdout is not None
        if not self.server.stdout.readline().startswith("serving"):
            raise RuntimeError("the server did not start: " + self.log.read_text()[-2000:])

    def stop(self) -> None:
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(timeout=30)


def registry_url(registry: str, stack: contextlib.ExitStack) -> str | None:
    """For `registry` "postgresql", the URL of a new database in a throwaway cluster with
    fsync on, as a real one (tests/postgres.py), which lives as long as `stack`; None for
    "sqlite", the CA home's own file."""
    if registry == "sqlite":
        return None
    cluster = stack.enter_context(throwaway_cluster(durable=True))
    return asyncio.run(cluster.create_database())


def make_ca(folder: Path, backend: str, url: str | None = None, **settings: str) -> BenchCA:
    """`init` a CA home under `folder` (`backend` "pkcs11": a fresh SoftHSM2 token), its
    registry at `url` (None: SQLite in the home), with `settings` as CA_* environment
    overrides; this process's environment gets the token's variables too, for helpers that
    open the registry here."""
    ca = BenchCA(folder, dict(os.environ, **settings))
    init = ["init", "--http", ca.http, "--https", ca.https]
    if url is not None:
        init += ["--registry-url", url]
    if backend == "pkcs11":
        token = make_token(folder)
        ca.env.update(token.environment(), CA_HSM_PIN=token.pin)
        init += ["--backend", "pkcs11", "--token-label", token.label]
    ca.cli(*init)
    os.environ.update(ca.env)
    return ca
