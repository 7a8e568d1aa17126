"""The SQLite connection's thread (server/registry/sqlite_threads.py): calls run one at a
time in the order made, a call given up before the thread reaches it never runs, errors
come back to the caller, and closing ends the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from server.registry.sqlite_threads import ConnectionThread


async def opened(tmp_path: Path, name: str = "test-thread") -> ConnectionThread:
    path = tmp_path / "t.db"
    return await ConnectionThread.open(name, lambda: sqlite3.connect(path, check_same_thread=False))


async def test_calls_run_on_the_thread_in_the_order_made(tmp_path: Path) -> None:
    thread = await opened(tmp_path)
    ran: list[tuple[int, str]] = []

    def note(connection: sqlite3.Connection, n: int) -> int:
        ran.append((n, threading.current_thread().name))
        return connection.execute("SELECT ?", (n,)).fetchone()[0]

    assert await asyncio.gather(*(thread.call(note, n) for n in range(50))) == list(range(50))
    assert ran == [(n, "test-thread") for n in range(50)]
    await thread.close()


async def test_a_call_given_up_before_the_thread_reaches_it_never_runs(tmp_path: Path) -> None:
    thread = await opened(tmp_path)
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def hold(connection: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)
        ran.append("held")

    holding = asyncio.ensure_future(thread.call(hold))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
    given_up = asyncio.ensure_future(thread.call(lambda connection: ran.append("given up")))
    after = asyncio.ensure_future(thread.call(lambda connection: ran.append("after")))
    await asyncio.sleep(0)  # both queued behind `hold`
    given_up.cancel()
    await asyncio.sleep(0)  # its caller has taken the cancellation
    release.set()
    await holding
    await after
    assert ran == ["held", "after"]
    with pytest.raises(asyncio.CancelledError):
        await given_up
    await thread.close()


async def test_an_error_comes_back_and_close_ends_the_thread(tmp_path: Path) -> None:
    thread = await opened(tmp_path, "test-thread-closing")
    with pytest.raises(sqlite3.OperationalError, match="syntax"):
        await thread.call(lambda connection: connection.execute("NOT SQL"))
    worker = next(t for t in threading.enumerate() if t.name == "test-thread-closing")
    await thread.close()
    worker.join(5)
    assert not worker.is_alive()
    with pytest.raises(ValueError, match="closed"):
        await thread.call(lambda connection: None)
