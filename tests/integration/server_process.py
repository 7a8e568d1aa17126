"""A `python -m server serve` child process on a free loopback port, for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from tests.integration.cli import ROOT
from tests.integration.conftest import CAHome
from tests.ports import free_port


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return Response(answer.status, answer.read(), dict(answer.headers))
    except urllib.error.HTTPError as exc:
        return Response(exc.code, exc.read(), dict(exc.headers))


class ServerProcess:
    def __init__(
        self, ca: CAHome, extra_env: dict[str, str] | None = None, own_group: bool = False
    ) -> None:
        """`own_group`: serve and every process it starts are a process group of their
        own, which `kill_group` kills at once (a crash of the whole server)."""
        self.port = free_port()
        self.tls_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_url = f"https://127.0.0.1:{self.tls_port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--home", str(ca.path),
             "--http", f"127.0.0.1:{self.port}", "--https", f"127.0.0.1:{self.tls_port}"],
            cwd=ROOT, env={**os.environ, **ca.env, **(extra_env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=own_group,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once every worker listens
        if not line.startswith("serving CA"):
            self.process.kill()
            raise AssertionError(line + (self.process.stderr.read() if self.process.stderr else ""))

    def kill_group(self) -> None:
        """kill -9 of serve's whole process group (made with `own_group`)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        assert code == 0, self.process.stderr.read() if self.process.stderr else code
