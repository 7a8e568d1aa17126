"""Request bodies read whole, up to a limit."""

from __future__ import annotations

from aiohttp import web


class BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"body larger than {size} bytes")
        self.size = size


async def read_body(request: web.Request, limit: int, drain: int = 1 << 20) -> bytes:
    """The whole body, or BodyTooLarge past `limit` bytes. A refused body is read on (up to
    `drain` bytes) and dropped, so the answer is not lost to a connection reset while the
    client is still sending. (StreamReader.read(n) returns what has arrived, not n bytes:
    a body in several TCP segments would otherwise be cut short.)"""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            while size < limit + drain and (rest := await request.content.readany()):
                size += len(rest)
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)
