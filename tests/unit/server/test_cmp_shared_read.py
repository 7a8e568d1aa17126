"""server/cmp/shared_read.py: concurrent callers share the read in flight, and only it."""

from __future__ import annotations

import asyncio

import pytest

from server.cmp.shared_read import SharedRead


class Rows:
    """A registry stand-in whose reads wait for `release` and count themselves."""

    def __init__(self) -> None:
        self.reads = 0
        self.value = "first"
        self.release = asyncio.Event()
        self.failure: Exception | None = None

    async def read(self) -> str:
        self.reads += 1
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return self.value


async def test_callers_during_a_read_share_it_and_a_later_caller_reads_again() -> None:
    rows = Rows()
    shared = SharedRead(rows.read)
    callers = [asyncio.create_task(shared()) for _ in range(5)]
    await asyncio.sleep(0)
    rows.release.set()
    assert await asyncio.gather(*callers) == ["first"] * 5
    assert rows.reads == 1
    rows.value = "second"  # a new generation, committed after that read
    assert await shared() == "second"
    assert rows.reads == 2


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    rows = Rows()
    shared = SharedRead(rows.read)
    leaving, staying = asyncio.create_task(shared()), asyncio.create_task(shared())
    await asyncio.sleep(0)
    leaving.cancel()
    rows.release.set()
    assert await staying == "first"
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_failed_read_fails_its_callers_and_the_next_caller_reads_again() -> None:
    rows = Rows()
    shared = SharedRead(rows.read)
    rows.failure = ConnectionError("gone")
    callers = [asyncio.create_task(shared()) for _ in range(2)]
    await asyncio.sleep(0)
    rows.release.set()
    for caller in callers:
        with pytest.raises(ConnectionError):
            await caller
    rows.failure = None
    assert await shared() == "first"
    assert rows.reads == 2
