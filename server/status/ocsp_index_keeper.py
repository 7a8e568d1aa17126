"""Keeps a node's OCSP index file (server/status/ocsp_index.py) current, and every serving
process of the node answering from the newest good one.

One serving process of the node writes the file: the one holding an exclusive lock on
`<file>.lock` (flock; the kernel releases it when the holder dies, and another process
takes it at its next look). It writes the file anew from the registry when there is none,
when it is damaged, or when the responses changed since it (held in each process's memory)
outnumber `ocsp.index_rewrite_rows` or an eighth of the file. Every serving process looks
at the file's identity (inode, time, size) each poll and takes up a newer good file once it
has applied every change the file reflects. A file that is missing, does not check out, or
is too far behind the registry at start is not served: the process answers from memory and
the registry until the writer has written a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from server.registry import interfaces
from server.status.ocsp_index import IndexCorrupt, IndexWriter, OCSPIndex
from server.status.ocsp_responder import OCSPResponder

log = logging.getLogger("server.ocsp_index")

PAGE = 5000  # responses read from the registry at a time when writing the file
RETRY_AFTER_S = 10.0  # after writing the file failed
# No change for QUIET_S with at least QUIET_HELD changes held in memory: write them to the
# file (a restart then finds it current); fewer are not worth writing the whole file for.
QUIET_S = 10.0
QUIET_HELD = 1000
LOCK_EVERY_S = 1.0  # how often a process that does not write the file tries the lock
Identity = tuple[int, int, int]


class OCSPIndexKeeper:
    def __init__(
        self,
        path: Path,
        registry: interfaces.OCSPStatus,
        responder: OCSPResponder,
        catch_up: Callable[[], Awaitable[None]],
        rewrite_rows: int,
    ) -> None:
        """`catch_up` applies the registry's changes this process has not yet applied
        (the status feed's)."""
        self._path = path
        self._store = registry.status
        self._responder = responder
        self._catch_up = catch_up
        self._rewrite_rows = rewrite_rows
        self._lock: IO[bytes] | None = None
        self._seen: Identity | None = None  # the file on disk last looked at
        self._waiting: OCSPIndex | None = None  # newer than what this process applied
        self._damaged = False  # the file on disk must not be served: write it anew
        self._writing: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._last_seq = -1
        self._changed_at = 0.0
        self._lock_tried_at = 0.0
        responder.on_corrupt_index = self._corrupt

    @property
    def writer(self) -> bool:
        return self._lock is not None

    async def start(self) -> None:
        """Before this process follows changes: answer from the file, if it is good and
        not too far behind the registry (its changes would all be held in memory)."""
        self._take_lock()
        index = self._open()
        if index is None:
            return
        behind = await self._store.last_ocsp_seq() - index.seq  # changes, at most
        if behind < 0 or behind > self._rewrite_after(index):
            # ahead of the registry: written from another one (a restore); far behind: its
            # changes would all be held in memory
            log.warning("OCSP index file %s is %d changes behind the registry: written anew",
                        self._path, behind)  # fmt: skip
            index.close()
            self._damaged = True
            return
        self._responder.start_from(index)
        log.info("answering from the OCSP index file %s: %d responses up to change %d",
                 self._path, index.count, index.seq)  # fmt: skip

    async def check(self) -> None:
        """Take up a newer file; the writer writes one when it is due. Called each poll."""
        now = asyncio.get_running_loop().time()
        if self._lock is None and now - self._lock_tried_at >= LOCK_EVERY_S:
            self._lock_tried_at = now
            self._take_lock()
        identity = _identity(self._path)
        if identity != self._seen:
            index = self._open()
            if index is not None and (self._responder.index is None
                                      or index.seq >= self._responder.index.seq):  # fmt: skip
                self._replace_waiting(index)
        if self._waiting is not None:
            if self._waiting.seq > self._responder.seq:
                await self._catch_up()
            if self._responder.use_index(self._waiting):
                self._waiting = None
        if self._responder.seq != self._last_seq:
            self._last_seq, self._changed_at = self._responder.seq, now
        if self.writer and self._writing is None and now >= self._retry_at and self._due(now):
            self._writing = asyncio.create_task(self._write())

    async def stop(self) -> None:
        if self._writing is not None:
            self._writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writing
            self._writing = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def written(self) -> None:
        """Wait for the file being written, if one is (tests, benchmarks)."""
        if self._writing is not None:
            await asyncio.shield(self._writing)

    def _due(self, now: float) -> bool:
        """No good file; or many changes held in memory; or some, and a quiet moment."""
        index = self._responder.index
        if self._damaged or index is None:
            return True
        held = self._responder.changed_since_index
        quiet = now - self._changed_at >= QUIET_S and index.seq < self._last_seq
        return held > self._rewrite_after(index) or (quiet and held >= QUIET_HELD)

    def _rewrite_after(self, index: OCSPIndex) -> int:
        return max(self._rewrite_rows, index.count // 8)

    def _replace_waiting(self, index: OCSPIndex) -> None:
        if self._waiting is not None and self._waiting is not self._responder.index:
            self._waiting.close()
        self._waiting = index

    def _open(self) -> OCSPIndex | None:
        """The file on disk, checked; None (logged once per file) when missing or bad."""
        identity = _identity(self._path)
        self._seen = identity
        if identity is None:
            self._damaged = True
            return None
        try:
            index = OCSPIndex(self._path)
        except (IndexCorrupt, OSError, ValueError) as exc:
            log.error("OCSP index file not served: %s", exc)
            self._damaged = True
            return None
        self._seen = index.identity
        self._damaged = False
        return index

    def _corrupt(self, index: OCSPIndex) -> None:
        """A record of the file did not check out: this process stopped using it; have it
        written anew (the writer does when the file on disk is gone or damaged)."""
        self._damaged = True
        if _identity(self._path) == index.identity:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()

    def _take_lock(self) -> None:
        file = open(self._path.with_name(self._path.name + ".lock"), "ab")  # noqa: SIM115
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.close()
            return
        self._lock = file

    async def _write(self) -> None:
        """Write the file from the registry: every stored response, a page at a time,
        under the seq read first (a row changed meanwhile is in the file in a version at
        least as new; memory holds the newer ones)."""
        writer: IndexWriter | None = None
        try:
            seq = await self._store.last_ocsp_seq()
            writer = await asyncio.to_thread(IndexWriter, self._path)
            after, count = "", 0
            while rows := await self._store.ocsp_responses_after(after, PAGE):
                await asyncio.to_thread(writer.add, rows)
                after, count = rows[-1].serial, count + len(rows)
            await asyncio.to_thread(writer.finish, seq)
            writer = None
            self._damaged = False
            log.info("OCSP index file %s written: %d responses up to change %d", self._path,
                     count, seq)  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception:  # a later check tries again
            log.exception("writing the OCSP index file %s failed", self._path)
            self._retry_at = asyncio.get_running_loop().time() + RETRY_AFTER_S
        finally:
            if writer is not None:
                writer.abort()
            self._writing = None


def _identity(path: Path) -> Identity | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)
