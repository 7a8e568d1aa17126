"""A sqlite3 connection driven by a thread of its own, so that SQLite's waits (a lock, the
disk) block that thread and never the event loop.

`call(function, *args)` runs `function(connection, *args)` on the thread and returns its
outcome to the loop: one trip, whatever the function does. Calls run one at a time in the
order they were made, so a ROLLBACK sent after a cancelled BEGIN still follows it. A call
whose caller was cancelled before the thread reached it is passed over; one the thread has
begun runs to its end, its outcome dropped.

The trip is a queue of jobs to the thread and `call_soon_threadsafe` back, each job's
outcome set on an asyncio future. A one-worker ThreadPoolExecutor did the same through a
concurrent.futures.Future (with its Condition) chained to an asyncio one: about 22 µs of
CPU per trip against 9, and a worker makes a trip or more per enrollment (the enrollment
code's read, group commit's BEGIN and COMMIT).

The thread is a daemon: `close()` ends it after the calls made before; a process that
exits without closing its registry leaves SQLite's journal to undo what was not committed,
as a crash would.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class _Job(Generic[T]):
    """One call: what to run, and the future of the caller waiting for it on `loop`."""

    __slots__ = ("future", "given_up", "loop", "work")

    def __init__(self, work: Callable[[], T], loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.loop = loop
        self.future: asyncio.Future[T] = loop.create_future()
        self.given_up = False  # set by the loop when the caller is cancelled


class ConnectionThread:
    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._connection: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, name: str, connect: Callable[[], sqlite3.Connection]) -> ConnectionThread:
        """A thread named `name` and the connection `connect` makes on it."""
        thread = cls(name)
        thread._thread.start()
        try:
            thread._connection = await thread._run(connect)
        except BaseException:
            thread._jobs.put(None)
            raise
        return thread

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection itself, for whoever holds it exclusively (a short transaction).
        Raises ValueError once closed."""
        if self._connection is None:
            raise ValueError("the registry's connection is closed")
        return self._connection

    async def call(
        self,
        function: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`function(connection, *args)` run on the thread. Raises what it raised, and
        ValueError once the connection is closed."""
        connection = self.connection
        return await self._run(lambda: function(connection, *args, **kwargs))

    async def close(self) -> None:
        """Close the connection on its thread, after the calls made before, and end the
        thread."""
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            await self._run(connection.close)
        finally:
            self._jobs.put(None)

    async def _run(self, work: Callable[[], T]) -> T:
        job = _Job(work, asyncio.get_running_loop())
        self._jobs.put(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.given_up = True
            raise

    def _serve(self) -> None:
        """The thread: each job in turn, until the None that `close` sends."""
        while (job := self._jobs.get()) is not None:
            if job.given_up:
                continue
            try:
                outcome = job.work()
            except BaseException as exc:  # the caller's to handle, as it would be inline
                _answer(job, None, exc)
            else:
                _answer(job, outcome, None)


def _answer(job: _Job[T], outcome: T | None, error: BaseException | None) -> None:
    """Hand the outcome to the caller's loop (nobody waits any more once it is closed)."""
    with contextlib.suppress(RuntimeError):  # the loop is closed
        job.loop.call_soon_threadsafe(_settle, job.future, outcome, error)


def _settle(future: asyncio.Future[T], outcome: T | None, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)  # type: ignore[arg-type]
