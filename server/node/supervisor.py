"""`serve`'s supervisor: every child process it started is restarted when it dies.

The parent of `serve` starts the signer processes and the HTTP worker processes, then
watches them (every `CHECK_EVERY_S`: cheap `waitpid` polls). A child that died is logged
once, with its exit status, and started again after a delay that doubles with each death
in a row (`supervisor.restart_delay_seconds` up to `supervisor.restart_delay_max_seconds`);
a child that stayed up for the longest delay starts over from the shortest. A restart that
fails (a signer not ready, a worker that cannot start) counts as another death in a row.
Restarts are counted in `RestartCounts` (exported by the workers as
`ca_process_restarts_total`). A signer restarts on its own socket path, where the workers'
pipelines reconnect; a worker restarts with the same arguments and takes its ports again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Protocol

from config.settings import SupervisorSettings
from hsm.signer_pool import SignerPool
from server.node.restart_counts import RestartCounts

log = logging.getLogger("server.supervisor")

CHECK_EVERY_S = 0.2


class Child(Protocol):
    """One supervised process: a signer or an HTTP worker."""

    kind: str  # one of restart_counts.KINDS
    index: int

    @property
    def pid(self) -> int | None: ...

    def exit_status(self) -> int | None:
        """Its exit status once it has exited, else None; never blocks."""
        ...

    def restart(self) -> None:
        """Start it again (blocking; run in a thread). Raises if it cannot be started."""
        ...


@dataclass
class _State:
    started_at: float = field(default_factory=time.monotonic)
    deaths_in_a_row: int = 0
    restarting: bool = False


def describe_exit(status: int) -> str:
    return f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"


class Supervisor:
    def __init__(
        self, children: list[Child], settings: SupervisorSettings, counts: RestartCounts
    ) -> None:
        self._children = children
        self._settings = settings
        self._counts = counts
        self._states = {id(child): _State() for child in children}

    def delay(self, deaths_in_a_row: int) -> float:
        """Seconds to wait before restarting a child after its n-th death in a row."""
        initial = self._settings.restart_delay_seconds
        maximum = self._settings.restart_delay_max_seconds
        return min(maximum, initial * 2 ** min(deaths_in_a_row - 1, 30))

    async def run(self, stop: asyncio.Event) -> None:
        """Watch and restart until `stop` is set; restarts under way are finished (or,
        while still waiting for their delay, given up) before this returns."""
        restarts: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                for child in self._children:
                    state = self._states[id(child)]
                    if state.restarting or (status := child.exit_status()) is None:
                        continue
                    state.restarting = True
                    if (
                        time.monotonic() - state.started_at
                        >= self._settings.restart_delay_max_seconds
                    ):
                        state.deaths_in_a_row = 0
                    state.deaths_in_a_row += 1
                    delay = self.delay(state.deaths_in_a_row)
                    log.warning(
                        "%s %d (pid %s) %s; restarting it in %.1f s",
                        child.kind, child.index, child.pid, describe_exit(status), delay,
                    )  # fmt: skip
                    task = asyncio.create_task(self._restart(child, state, delay, stop))
                    restarts.add(task)
                    task.add_done_callback(restarts.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), CHECK_EVERY_S)
        finally:
            await asyncio.gather(*restarts, return_exceptions=True)

    async def _restart(
        self, child: Child, state: _State, delay: float, stop: asyncio.Event
    ) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                # shielded: a thread cannot be cancelled, so a restart under way finishes
                await asyncio.shield(asyncio.to_thread(child.restart))
            except Exception as exc:
                state.deaths_in_a_row += 1
                delay = self.delay(state.deaths_in_a_row)
                log.warning(
                    "%s %d could not be restarted (%s); trying again in %.1f s",
                    child.kind, child.index, exc, delay,
                )  # fmt: skip
                continue
            state.started_at = time.monotonic()
            state.restarting = False
            self._counts.record(child.kind)
            log.info("%s %d restarted (pid %s)", child.kind, child.index, child.pid)
            return


class SignerChild:
    """Signer `index` of a SignerPool."""

    kind = "signer"

    def __init__(self, pool: SignerPool, index: int) -> None:
        self._pool = pool
        self.index = index

    @property
    def pid(self) -> int | None:
        return self._pool.pids[self.index]

    def exit_status(self) -> int | None:
        return self._pool.exit_status(self.index)

    def restart(self) -> None:
        self._pool.restart(self.index)


class WorkerChild:
    """An HTTP worker process, made by `make` (the first one, and again on restart)."""

    kind = "worker"

    def __init__(self, index: int, make: Callable[[], BaseProcess]) -> None:
        self.index = index
        self._make = make
        self.process = make()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def exit_status(self) -> int | None:
        return self.process.exitcode

    def restart(self) -> None:
        self.process.close()
        self.process = self._make()
        self.process.start()

    def stop(self, timeout_s: float) -> None:
        """SIGTERM (a worker stops cleanly on it), then SIGKILL after `timeout_s`."""
        if self.process.pid is None:  # a restart that failed to start it
            return
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout_s)
        if self.process.is_alive():
            log.warning("worker %d did not stop in %.0f s: killing it", self.index, timeout_s)
            self.process.kill()
            self.process.join()
