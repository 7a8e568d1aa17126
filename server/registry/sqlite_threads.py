"""A sqlite3 connection driven by a thread of its own, so that SQLite's waits (a lock, the
disk) block that thread and never the event loop.

`call(function, *args)` runs `function(connection, *args)` on the thread and returns its
outcome to the loop: one trip, whatever the function does. Calls run one at a time in the
order they were made, so a ROLLBACK sent after a cancelled BEGIN still follows it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ConnectionThread:
    def __init__(self, executor: ThreadPoolExecutor, connection: sqlite3.Connection) -> None:
        self._executor = executor
        self._connection: sqlite3.Connection | None = connection

    @classmethod
    async def open(cls, name: str, connect: Callable[[], sqlite3.Connection]) -> ConnectionThread:
        """A thread named `name` and the connection `connect` makes on it."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        try:
            connection = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, connection)

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
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: function(connection, *args, **kwargs)
        )

    async def close(self) -> None:
        """Close the connection on its thread, after the calls made before, and end the
        thread."""
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, connection.close)
        finally:
            self._executor.shutdown(wait=False)
