"""A background check run again and again: the shape of every duty loop (the scheduled
rollover, generation retirement, CMP protection certificate renewal, OCSP upkeep). A
failed round is logged with its traceback and the next round tries again, so one bad
moment of the registry or the backend never ends a duty nobody would restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(
    seconds: float, check: Callable[[], Awaitable[object]], log: logging.Logger, failure: str
) -> None:
    """Await `check` now and every `seconds` until cancelled; a failure is logged as
    `failure` (with its traceback) and not raised."""
    while True:
        try:
            await check()
        except Exception:  # any failure of the registry or the backend: the next round
            log.exception(failure)
        await asyncio.sleep(seconds)
