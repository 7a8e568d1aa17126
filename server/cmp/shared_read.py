"""One registry read shared by the concurrent CMP answers that need it.

Why: every ip/cp/kup names the CA in its header and carries the issuing generation's
certificate (RFC 9483 3.1, 4.1.1), read from the registry; under load, sixteen answers in
flight made sixteen reads of the same rows, each a hop to the driver's thread behind the
writer's lock. A caller that comes while a read is in flight takes that read's value: it is
a value the registry held while the caller waited, as good as a read of its own begun a
moment earlier (the argument of Authority.generation). Nothing is kept once the read is
done, so a new generation is seen by the next read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._reading: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        """The value of the read in flight, or of a new one. A cancelled caller leaves the
        read to the others (shielded)."""
        reading = self._reading
        if reading is None:
            reading = asyncio.ensure_future(self._read())
            self._reading = reading
            reading.add_done_callback(self._done)
        return await asyncio.shield(reading)

    def _done(self, reading: asyncio.Future[T]) -> None:
        if self._reading is reading:
            self._reading = None
        if not reading.cancelled():
            reading.exception()  # retrieved here too, should every caller have left
