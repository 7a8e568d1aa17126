"""Duty loops (server/node/periodic.py): a failed round is logged once with its text and
the loop goes on; nothing but cancellation ends it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.node.periodic import every


async def test_a_failed_round_is_logged_and_the_next_round_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.periodic")
    rounds: list[int] = []
    third = asyncio.Event()

    async def check() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("the registry is away")
        if len(rounds) == 3:
            third.set()

    loop = asyncio.create_task(every(0.001, check, log, "the test's check failed"))
    await asyncio.wait_for(third.wait(), timeout=5)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    [record] = [r for r in caplog.records if r.name == "test.periodic"]
    assert (record.levelno, record.getMessage()) == (logging.ERROR, "the test's check failed")
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert rounds[:3] == [0, 1, 2]
