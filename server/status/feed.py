"""Status changes across processes and nodes: every server process follows the registry's
OCSP response changes, and a status change waits until every live process has applied it.

Each process reads `ocsp_responses` rows newer than the last it applied (their `seq` is
handed out in commit order: server/registry/engine.py), applies them to its OCSP responder,
tells its CRL publisher, and records how far it got in `status_watermarks`, with a
heartbeat at least every `HEARTBEAT`. It reads when woken and at the latest every
`ocsp.poll_interval_ms`: on PostgreSQL a trigger notifies every commit that writes
`ocsp_responses` and each process LISTENs (server/registry/notifications.py), so nodes
sharing the registry wake at once; the poll is the fallback (SQLite, a listening connection
lost, a notification missed).

The bound: a change committed anywhere is served by every live process within one poll
interval plus one read of the registry (with LISTEN up, within the notification's delivery
and that read: milliseconds). A revocation, suspension or resumption, wherever it is made
(a server process of any node, the CLI), returns only once every process seen alive within
`ALIVE_WITHIN` has applied it, and otherwise fails after `ocsp.propagation_timeout_seconds`
naming those that did not (the change stays recorded): no relying party gets "good" from a
live process after a revocation was acknowledged. Liveness compares a process's heartbeat,
written with its node's clock, with the waiter's clock, so the nodes' clocks must agree to
well within `ALIVE_WITHIN` (NTP); a process of another machine is never taken as gone by
its pid (server/node/process_identity.py), only by the age of its heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from server.clock import Clock
from server.errors import CAError, ErrorKind
from server.node.process_identity import OwnerState, owner_state, this_process
from server.registry import interfaces
from server.status.ocsp_responder import OCSPResponder

log = logging.getLogger("server.status_feed")

HEARTBEAT = timedelta(seconds=1)
ALIVE_WITHIN = timedelta(seconds=5)  # a process silent for longer is taken as gone


def node_name() -> str:
    """This process as watermarks and leases name it: host, boot, pid and start time, so
    that a process known to be gone is told from a live one (server/node/process_identity.py)."""
    return this_process()


class StatusFeed:
    def __init__(
        self,
        registry: interfaces.FeedStatus,
        responder: OCSPResponder,
        poll_interval_s: float,
        clock: Clock,
        on_change: Callable[[], None] | None = None,
        node: str | None = None,
    ) -> None:
        self._store = registry.status
        self._responder = responder
        self._interval = poll_interval_s
        self._clock = clock
        self._on_change = on_change
        self.node = node or node_name()
        self._marked_seq = -1
        self._marked_at: datetime | None = None
        self._woken = asyncio.Event()

    async def catch_up(self) -> None:
        """Apply what changed in the registry since this process last looked."""
        rows = await self._store.ocsp_responses_since(self._responder.seq)
        if rows:
            self._responder.apply(rows)
            if self._on_change is not None:
                self._on_change()

    async def poll(self) -> None:
        """Catch up and record how far this process got (serving processes)."""
        await self.catch_up()
        await self.mark()

    async def mark(self) -> None:
        """Record this process's watermark (at least once per heartbeat)."""
        now = self._clock()
        seq = self._responder.seq
        fresh = self._marked_at is not None and now - self._marked_at < HEARTBEAT
        if seq == self._marked_seq and fresh:
            return
        await self._store.set_watermark(self.node, seq, now)
        self._marked_seq, self._marked_at = seq, now

    async def run(self) -> None:
        """Poll when the registry notifies a change (where it can) and at the latest every
        poll interval; between polls, keep the heartbeat (`mark`) at least every
        `HEARTBEAT`, so a process polling seldom is not taken as gone."""
        listener = self._store.listen_for_ocsp_responses(self._woken.set)
        if listener is not None:
            await listener.start()
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        failing = False
        try:
            while True:
                if self._woken.is_set() or loop.time() >= next_poll:
                    self._woken.clear()  # a change committed during the poll wakes the next
                    next_poll = loop.time() + self._interval
                    step = self.poll
                else:
                    step = self.mark
                try:
                    await step()
                except Exception:  # keep following; the next poll retries
                    if not failing:  # once per outage, not every poll interval
                        log.exception("status feed poll failed; retrying")
                    failing = True
                else:
                    if failing:
                        log.info("status feed: polling again")
                    failing = False
                wait_s = min(next_poll - loop.time(), HEARTBEAT.total_seconds())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), max(wait_s, 0.0))
        finally:
            if listener is not None:
                await listener.close()

    async def leave(self) -> None:
        await self._store.drop_watermark(self.node)


async def wait_until_applied(
    registry: interfaces.FeedStatus, seq: int, timeout_s: float, clock: Clock
) -> None:
    """Return once every live server process has applied change `seq`.

    Raises CAError(UNAVAILABLE) naming the processes that did not within `timeout_s`: the
    change is recorded, but the caller must not claim it is published everywhere."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        behind = await _live_nodes_behind(registry, seq, clock)
        if not behind:
            return
        if loop.time() >= deadline:
            raise CAError(
                ErrorKind.UNAVAILABLE,
                f"recorded, but not yet applied by server process(es) {', '.join(behind)}",
            )
        await asyncio.sleep(0.01)


async def _live_nodes_behind(registry: interfaces.FeedStatus, seq: int, clock: Clock) -> list[str]:
    """Processes seen in the last ALIVE_WITHIN that have not applied `seq`, but for those
    known to be gone (a killed worker's heartbeat is still fresh for a few seconds): their
    watermarks are dropped, so that a change made right after a crash is not held up."""
    behind = []
    for node in await registry.status.nodes_behind(seq, clock() - ALIVE_WITHIN):
        if owner_state(node) is OwnerState.GONE:
            await registry.status.drop_watermark(node)
        else:
            behind.append(node)
    return behind
