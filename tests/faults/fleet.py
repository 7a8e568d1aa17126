"""A `python -m server serve` under test with its child processes: find, kill and wait for
them, read /healthz and /metrics, and see who holds the duty lease. Waits poll with a
deadline, never sleep a fixed time."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

from config import load_settings
from server.context import open_registry
from server.node.duties import DUTIES
from tests.integration.conftest import CAHome
from tests.integration.server_process import Response, ServerProcess, http

DEADLINE_S = 90.0  # generous: the machine is shared; a wait fails rather than hangs
T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, deadline_s: float = DEADLINE_S) -> T:
    """Poll `condition` until it returns something true; that value."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline_s:.0f} s: {what}")
        time.sleep(0.05)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state


class Fleet:
    def __init__(self, home: CAHome, env: dict[str, str]) -> None:
        self.home = home
        self.server = ServerProcess(home, env)
        self.url = self.server.url

    def children(self, kind: str) -> list[int]:
        """Live child processes of serve: `signer` or `worker` (not multiprocessing's
        resource tracker)."""
        marker = {"signer": "hsm.signer_process", "worker": "spawn_main"}[kind]
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _parent(int(entry.name)) == self.server.process.pid:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and marker in _cmdline(int(entry.name)):
                    found.append(int(entry.name))
        return sorted(found)

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def health(self) -> Response:
        return http(self.url + "/healthz")

    def metric(self, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(http(self.url + "/metrics").body.decode()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return sample.value
        return None

    def duty_holder(self) -> int | None:
        """The pid of the process holding the duty lease (None when it lapsed)."""
        return asyncio.run(self._duty_holder())

    async def _duty_holder(self) -> int | None:
        registry = await open_registry(load_settings(self.home.path))
        try:
            lease = await registry.leases.current(DUTIES, datetime.now(UTC))
        finally:
            await registry.close()
        return None if lease is None else int(lease.holder.split("/")[2])  # host/boot/pid/...

    def stop(self) -> str:
        """SIGTERM, a clean exit asserted; what serve logged."""
        self.server.stop()
        assert self.server.process.stderr is not None
        return self.server.process.stderr.read()
