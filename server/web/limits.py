"""What one client may cost a listener: connections, time, and the log.

Every listener of a worker (main HTTP, HTTPS, the dedicated OCSP listener) has one
`ListenerGuard`. It admits a connection only below `limits.max_connections` (beyond it the
client gets a 503 and the connection is closed at once), counts refusals by reason in
`ca_http_refusals_total{listener,reason}` and open connections in
`ca_http_connections_open{listener}`, and logs each kind of refusal as one line, at most
one per kind every `limits.log_interval_seconds` with the number left unsaid since: a flood
of hostile clients never floods the log, and no refusal logs a traceback.

Timeouts aiohttp does not keep (all of the OCSP listener's; a client that does not read its
answers on the main listeners) are kept by one timer per listener rather than per request:
every tick the guard asks each connection what it waits for (`Watched.watch`); one whose
answer has not changed for that wait's timeout is cut. The requests pay nothing for it.

Each listener may hold `max_connections` descriptors; `raise_open_files_limit` lifts the
process's soft limit to its hard one at start and refuses to serve when the listeners'
caps would not fit in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable, Hashable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from config.settings import LimitsSettings, Settings
from server.errors import CAError, ErrorKind

log = logging.getLogger(__name__)

# Descriptors a worker needs beside its listeners' connections: the listening sockets,
# the registry and its WAL, signer sockets, log files, the event loop's own.
RESERVED_DESCRIPTORS = 128

# RFC 9110 15.6.4: the server cannot take this connection now; sent before any request
# is read, then the connection is closed (RFC 9112 9.6).
# (Date is optional on a 5xx answer, RFC 9110 6.6.1: the bytes are made once.)
_OVER_CAPACITY_TEXT = b"too many connections\n"
OVER_CAPACITY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%b"
    % (len(_OVER_CAPACITY_TEXT), _OVER_CAPACITY_TEXT)
)

# After an answer given before the request was read whole (408, 413, 431, 400) the
# listener reads on and drops the rest this long at most (lingering close, RFC 9112 9.6),
# so the client sees the answer rather than a reset; aiohttp's default, 10 s, would let a
# stalled body hold the connection that much longer.
LINGERING_SECONDS = 2.0

REASONS = (
    "too_many_connections",
    "target_too_long",
    "field_too_long",
    "too_many_fields",
    "body_too_large",
    "bad_request",
    "header_timeout",
    "body_timeout",
    "stalled_reader",
)


class Watched(Protocol):
    """A connection whose waits the guard times."""

    def watch(self) -> tuple[Hashable, float, str] | None:
        """What it waits for now (any value that changes when it moves on), how long it may
        wait for it, and the refusal reason if it waits too long ("" for an ordinary end,
        such as an idle keep-alive connection); None while it waits only on the server."""

    def expire(self) -> None:
        """Cut the connection now."""


class ListenerMetrics:
    """The listeners' metrics, on the CA's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections_open = Gauge(
            "ca_http_connections_open",
            "Connections open on each listener of this worker.",
            ["listener"],
            registry=registry,
        )
        self.refusals = Counter(
            "ca_http_refusals",
            "Clients refused or cut off for exceeding a limit ([limits] settings), by "
            "listener and reason.",
            ["listener", "reason"],
            registry=registry,
        )


class RefusalLog:
    """One line per kind of refusal at most every `interval` seconds, with the number of
    refusals of that kind since the previous line."""

    def __init__(
        self, listener: str, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._listener = listener
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._unsaid: dict[str, int] = {}

    def note(self, reason: str, detail: str) -> None:
        now = self._clock()
        last = self._last.get(reason)
        if last is not None and now - last < self._interval:
            self._unsaid[reason] = self._unsaid.get(reason, 0) + 1
            return
        self._last[reason] = now
        unsaid = self._unsaid.pop(reason, 0)
        more = f" ({unsaid} more since the last such line)" if unsaid else ""
        log.warning("%s listener: %s: %s%s", self._listener, reason, detail, more)


class ListenerGuard:
    """The limits of one listener of this worker: admission, refusals, timeouts."""

    def __init__(
        self,
        listener: str,
        limits: LimitsSettings,
        metrics: ListenerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.listener = listener
        self.limits = limits
        self._open = metrics.connections_open.labels(listener)
        self._refusals = {reason: metrics.refusals.labels(listener, reason) for reason in REASONS}
        self._log = RefusalLog(listener, limits.log_interval_seconds, clock)
        self._clock = clock
        self._connections: set[object] = set()
        self._watched: dict[Watched, tuple[Hashable, float]] = {}
        self._ticker: asyncio.TimerHandle | None = None
        shortest = min(limits.header_timeout_seconds, limits.body_timeout_seconds)
        self.tick_seconds = max(0.05, min(1.0, shortest / 4))

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def admit(self, connection: object) -> bool:
        """True if the connection may stay; below the cap it is counted until `release`."""
        if len(self._connections) >= self.limits.max_connections:
            self.refuse("too_many_connections", f"{self.limits.max_connections} open already")
            return False
        self._connections.add(connection)
        self._open.inc()
        return True

    def release(self, connection: object) -> None:
        if connection in self._connections:
            self._connections.remove(connection)
            self._open.dec()
            self._watched.pop(connection, None)  # type: ignore[call-overload]

    def refuse(self, reason: str, detail: str) -> None:
        """Count a refusal and log it (rate-limited, no traceback)."""
        self._refusals[reason].inc()
        self._log.note(reason, detail)

    def watch(self, connection: Watched) -> None:
        """Time the waits of an admitted connection until `release`; the timer runs while
        there is a connection to watch."""
        self._watched[connection] = (None, self._clock())
        if self._ticker is None:
            loop = asyncio.get_running_loop()
            self._ticker = loop.call_later(self.tick_seconds, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = self._clock()
        expired: list[tuple[Watched, str, float]] = []
        for connection, (seen, since) in self._watched.items():
            waiting = connection.watch()
            if waiting is None:
                self._watched[connection] = (None, now)
                continue
            state, timeout, reason = waiting
            if state != seen:
                self._watched[connection] = (state, now)
            elif now - since >= timeout:
                expired.append((connection, reason, timeout))
        for connection, reason, timeout in expired:
            self._watched.pop(connection, None)
            if reason:
                self.refuse(reason, f"no progress in {timeout:g} s, connection closed")
            connection.expire()
        self._ticker = (
            loop.call_later(self.tick_seconds, self._tick, loop) if self._watched else None
        )


def listeners(settings: Settings) -> list[str]:
    """The names of this worker's listeners."""
    names = ["http"]
    if settings.server.https:
        names.append("https")
    if settings.server.ocsp:
        names.append("ocsp")
    return names


def raise_open_files_limit(settings: Settings) -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one and return it. Raises CAError
    (unavailable) when every listener's `limits.max_connections` and the descriptors a
    worker needs besides would not fit in it: the cap must refuse clients before the
    process runs out of descriptors (and with them the registry and the signers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # where the limit cannot be raised, the soft one stays: the check below says
        # whether it is enough
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    needed = len(listeners(settings)) * settings.limits.max_connections + RESERVED_DESCRIPTORS
    if needed > soft:
        raise CAError(
            ErrorKind.UNAVAILABLE,
            f"limits.max_connections = {settings.limits.max_connections} on "
            f"{len(listeners(settings))} listeners needs about {needed} open files; this "
            f"process may open {soft} (ulimit -n): lower limits.max_connections",
        )
    return soft
