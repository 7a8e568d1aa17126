"""PostgreSQL notifications: a follower of a registry feed wakes when a row commits.

LISTEN holds a connection of its own for as long as it listens (a pooled connection goes
back to the pool between statements and would drop it), so `Listening` opens a dedicated
asyncpg connection and keeps it up: each notification on its channel calls `wake`, and so
does every (re)connection, since notifications sent while no connection listened are lost.
A connection that closes, or that does not answer a probe within `PROBE_S`, is replaced
after `RECONNECT_S`; meanwhile the follower's own poll carries on (server/status/feed.py),
which is why a lost notification delays a follower by at most its poll interval and never
makes it skip a row. One warning is logged per loss, one line per recovery; the metrics
`ca_registry_listen_up` and `ca_registry_listen_reconnects_total` say the same
(server/registry/listen_metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from server.registry.listen_metrics import ListenMetrics

log = logging.getLogger("server.registry.notifications")

PROBE_S = 5.0  # a listening connection silent this long is asked `SELECT 1`
RECONNECT_S = 1.0  # wait before opening a new listening connection


class Listening:
    """LISTEN `channel` on a dedicated connection to `url` while started."""

    def __init__(
        self, url: str, channel: str, wake: Callable[[], None], metrics: ListenMetrics
    ) -> None:
        self._url = url
        self._channel = channel
        self._wake = wake
        self._up = metrics.up.labels(channel)
        self._reconnects = metrics.reconnects.labels(channel)
        self._up.set(0)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()  # set while a connection listens

    async def start(self) -> None:
        """Begin listening in the background (a failure to connect is retried there)."""
        if self._task is None:
            self._task = asyncio.create_task(self._keep_listening())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep_listening(self) -> None:
        lost_before = False
        while True:
            try:
                connection = await asyncpg.connect(self._url)
            except Exception as exc:  # any failure of the driver or the network
                if not lost_before:
                    log.warning("LISTEN %s: cannot connect (%s); polling only",
                                self._channel, type(exc).__name__)  # fmt: skip
                    lost_before = True
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                await self._listen_on(connection, recovered=lost_before)
            except Exception as exc:
                log.warning("LISTEN %s: connection lost (%s); polling only until it is back",
                            self._channel, type(exc).__name__)  # fmt: skip
            finally:
                self.connected.clear()
                self._up.set(0)
                connection.terminate()
            lost_before = True
            await asyncio.sleep(RECONNECT_S)

    async def _listen_on(self, connection: asyncpg.Connection, recovered: bool) -> None:
        """Listen until the connection closes or stops answering (raises then)."""
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _connection: closed.set())
        await connection.add_listener(self._channel, lambda *_notification: self._wake())
        self.connected.set()
        self._up.set(1)
        if recovered:
            self._reconnects.inc()
            log.info("LISTEN %s: listening again", self._channel)
        self._wake()  # what committed while nobody listened
        while not closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), PROBE_S)
                break
            await asyncio.wait_for(connection.execute("SELECT 1"), PROBE_S)
        raise ConnectionError("the listening connection closed")
