"""Raw HTTP/1.1 over loopback sockets, for the tests of what a listener lets one client
cost: a head sent as written, an answer read up to the close, deadlines instead of sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

DEADLINE = 20.0  # generous: the machine is shared


async def exchange(port: int, data: bytes) -> bytes:
    """Send `data`, then read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), DEADLINE)
    finally:
        writer.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before closing (an empty read or a reset is the close)."""
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE)
    except ConnectionResetError:
        return b""


async def drip_until_closed(port: int, head: bytes) -> bytes:
    """Slowloris: send `head`, then one byte now and then, never completing the head; what
    the server sent before it closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)

    async def drip() -> None:
        while not writer.is_closing():
            writer.write(b"a")
            await asyncio.sleep(0.05)

    dripping = asyncio.ensure_future(drip())
    try:
        return await closed_by_server(reader)
    finally:
        dripping.cancel()
        writer.close()


async def hold_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
    """Open `count` connections that send nothing; their writers, to close them later."""
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    return [writer for _, writer in held]


def release(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()


async def stream_until_refused(port: int, head: bytes, filler: bytes, most: int) -> int:
    """Send `head`, then `filler` again and again, up to `most` bytes; how many were sent
    when the server stopped the connection (`most` if it never did)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            writer.write(head)
            while sent < most:
                writer.write(filler)
                await asyncio.wait_for(writer.drain(), DEADLINE)
                sent += len(filler)
    finally:
        writer.close()
    return sent


async def until(condition: Callable[[], bool], deadline: float = DEADLINE) -> None:
    """Poll `condition` until it holds; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.02)


def status(answer: bytes) -> int:
    """The status code of the first answer in `answer` (0 if there is none)."""
    line = answer.split(b"\r\n", 1)[0].split(b" ")
    return int(line[1]) if len(line) > 2 and line[0].startswith(b"HTTP/1.") else 0


def refusals(registry: CollectorRegistry, listener: str, reason: str) -> float:
    value = registry.get_sample_value(
        "ca_http_refusals_total", {"listener": listener, "reason": reason}
    )
    return value or 0.0
