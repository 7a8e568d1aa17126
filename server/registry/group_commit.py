"""Group commit: concurrent requests share write transactions, as signatures share batches.

Why: write transactions are serialised from BEGIN to COMMIT (server/registry/engine.py),
so with one transaction per request the registry commits one request after another, each
paying its BEGIN, its COMMIT (a WAL append and fsync; on PostgreSQL, a round trip and a
flush) and, on SQLite, a hop to the connection's thread for each. Under load the event
loop then sits idle waiting for that one writer. Issuance makes two such transactions per
certificate (record the intent, then the certificate), so it was bounded by the writer,
not by the CPU.

Theory of operation (the model is hsm/pipeline.py):
- A caller hands `run` its work, a coroutine function of the transaction's connection, and
  awaits its outcome. Work waits in one FIFO queue bounded by `max_queue`; beyond it `run`
  raises RegistryBusy at once (HTTP 503, CMP systemUnavail, like the pipeline's busy).
  The follow-up of work admitted before (completing or discarding an issuance's intent)
  is never refused: refusing it would strand what the request holds, and there is at most
  one per admitted request.
- One committer task takes whatever is queued, up to `max_group`, as soon as something is
  queued: there is no artificial delay when idle (a lone request is a group of one), and
  the requests that arrive while a group commits form the next group.
- The group is one `short_transaction()` (server/registry/engine.py): members' work is
  point reads and writes, which SQLite then runs on the event loop, with no thread hop but
  the BEGIN and the COMMIT; work that needs long statements uses a transaction of its own.
  The loop is then busy with a group's statements for about 60 us per member (2 ms for a
  group of 32, measured on a 2-core machine), where it paid a thread hop per statement.
- The group is one transaction, tried first the fast way, then, only if a member failed,
  the exact way:
  - fast: the members' work runs one after the other with no savepoint, and their blind
    writes (`blind_write`: writes whose outcome nothing in the group reads) wait, to run
    at the group's end as one batch per statement (asyncpg and sqlite3 `executemany`:
    on PostgreSQL one round trip for the whole group, where each was a round trip per
    member). If a member raises, or a batch does (a constraint refused a row), the whole
    transaction rolls back at once and the group runs again the exact way: nothing of the
    fast try is kept, every member's work runs again (work is statements on `db` and
    nothing else, so running it twice is running it once);
  - exact: each member's work runs in its own SAVEPOINT, and its writes run at once: a
    member that raises (a duplicate key: CAError(DUPLICATE); a hold refused:
    HoldRefused; anything unexpected) is rolled back to its savepoint, so its work leaves
    no row, and its error reaches its own caller only; the others go on and commit.
    Savepoints nest instead of being released (COMMIT releases them all): one statement
    per member, not two.
  So a group where nobody fails costs its members' reads and checked writes plus one
  batch per blind statement; a failure costs the group one more try. A group of one runs
  the fast way only: its transaction is its own, so its failure is just its failure.
- Members see the transaction as a SharedTransaction: the connection, plus the newest
  values the group has written to the registry's read-then-write counters (the audit
  chain's head, the OCSP responses' seq), so the second member on needs not read them
  again. They are exact because write transactions are serialised (nobody else writes
  while the group holds the transaction) and those counters have one writer each
  (Registry.append_audit_in, write_ocsp_rows); a member rolled back restores them.
- If the transaction itself fails (BEGIN, a savepoint statement, COMMIT), nothing of the
  group is written and every member not already failed gets that same error; a fast try
  whose COMMIT fails is not tried again.
- A caller cancelled while its work waits is skipped. Once its work ran, it commits (or
  not) with its group whatever became of the caller: a caller that cleans up after a
  cancellation settles by key, as Registry.discard_intent does, and finds what landed.

So each request still has "its own transaction" as far as its rows go (it lands whole or
not at all, and nothing another member does can make it fail), while N concurrent requests
cost about N / group size transactions.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from server.errors import CAError, ErrorKind
from server.registry.engine import Connection, Engine
from server.registry.write_metrics import WriteMetrics

T = TypeVar("T")

# The defaults of registry.max_write_group and registry.max_write_queue (config/settings.py)
MAX_GROUP = 64  # members of one transaction: long enough to share, short enough to wait
MAX_QUEUE = 4096  # members waiting for a group; more are refused as busy


class RegistryBusy(CAError):
    """The registry's write queue is full; try again later. A CAError of kind BUSY, so every
    protocol answers it as it answers the signing pipeline's busy (HTTP 503, CMP
    systemUnavail)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.BUSY, message)


class SharedTransaction:
    """A group's transaction as its members' work sees it (a Connection), with `heads`:
    the newest value the group wrote to each read-then-write counter, by name (and what
    a member read that no group's work changes, such as a CA generation's names). While
    `batching`, blind writes wait in it for `run_batches` (the fast try)."""

    def __init__(self, db: Connection, *, batching: bool = False) -> None:
        self._db = db
        self.heads: dict[str, Any] = {}
        self._batches: dict[str, list[Sequence[Any]]] | None = {} if batching else None

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self._db.execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        return await self._db.executemany(sql, parameters)

    def batched(self, sql: str, parameters: Iterable[Sequence[Any]]) -> bool:
        """Keep a blind write for the group's batches; False when not batching."""
        if self._batches is None:
            return False
        self._batches.setdefault(sql, []).extend(parameters)
        return True

    async def run_batches(self) -> None:
        """Run the blind writes kept, one batch per statement, in the order each statement
        was first kept (a statement's rows in the members' order)."""
        if self._batches:
            for sql, rows in self._batches.items():
                await self._db.executemany(sql, rows)
            self._batches.clear()


async def blind_write(db: Connection, sql: str, parameters: Sequence[Any]) -> None:
    """Run a blind write: a statement whose outcome nothing reads (no row count, no
    RETURNING), to rows no other work of a group reads or writes (new rows; rows that
    only the caller's request holds), so its effect does not depend on when in the
    transaction it runs. In a group's fast try it waits to run with the same statement
    of the other members, one batch at the group's end (module docstring); elsewhere it
    runs at once. A constraint it breaks is then found at the batch, and the group runs
    again the exact way, where it fails its own member only."""
    await blind_write_many(db, sql, (parameters,))


async def blind_write_many(db: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`blind_write` once per row of parameters."""
    if not rows or (isinstance(db, SharedTransaction) and db.batched(sql, rows)):
        return
    if len(rows) == 1:
        await db.execute(sql, rows[0])
    else:
        await db.executemany(sql, rows)


class _TryAgainExactly(Exception):
    """A member of a fast try failed: the try rolls back, and the group runs again."""


class _Member(Generic[T]):
    __slots__ = ("future", "work")

    def __init__(
        self, work: Callable[[Connection], Awaitable[T]], future: asyncio.Future[T]
    ) -> None:
        self.work = work
        self.future = future


class GroupCommit:
    """Runs each caller's work in a write transaction shared with concurrent callers."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_group: int = MAX_GROUP,
        max_queue: int = MAX_QUEUE,
        metrics: WriteMetrics | None = None,
    ) -> None:
        if max_group < 1 or max_queue < 1:
            raise ValueError("max_group and max_queue must be >= 1")
        self._engine = engine
        self._max_group = max_group
        self._max_queue = max_queue
        self._queue: deque[_Member[Any]] = deque()
        self._committer: asyncio.Task[None] | None = None
        self._metrics = metrics if metrics is not None else WriteMetrics()
        self._metrics.waiting.set_function(lambda: len(self._queue))

    @property
    def waiting(self) -> int:
        """Members queued for a group that has not begun."""
        return len(self._queue)

    async def run(
        self, work: Callable[[Connection], Awaitable[T]], *, follow_up: bool = False
    ) -> T:
        """The outcome of `work(db)`, run in a write transaction shared with concurrent
        callers, committed before this returns. `work` does nothing but statements on
        `db`: it runs twice when its group's fast try fails (module docstring). Raises
        what `work` raised (its own writes rolled back), the transaction's error when the
        group could not commit (nothing of it written), RegistryBusy when `max_queue`
        members wait already (never for a `follow_up` of admitted work)."""
        if len(self._queue) >= self._max_queue and not follow_up:
            raise RegistryBusy("the registry is busy; try again shortly")
        loop = asyncio.get_running_loop()
        member = _Member(work, loop.create_future())
        self._queue.append(member)
        if self._committer is None:
            self._committer = loop.create_task(self._commit_groups())
        return await member.future

    async def close(self) -> None:
        """Let the queued work commit; called before the engine closes."""
        if self._committer is not None:
            await asyncio.shield(self._committer)

    async def _commit_groups(self) -> None:
        try:
            while self._queue:
                group: list[_Member[Any]] = []
                while self._queue and len(group) < self._max_group:
                    member = self._queue.popleft()
                    if not member.future.done():  # a caller that gave up is not run
                        group.append(member)
                if group:
                    await self._commit(group)
        finally:
            self._committer = None

    async def _commit(self, group: list[_Member[Any]]) -> None:
        outcomes: list[tuple[_Member[Any], Any]] = []
        failures: list[tuple[_Member[Any], Exception]] = []
        self._metrics.group_size.observe(len(group))
        started = time.perf_counter()
        try:
            try:
                await self._try_fast(group, outcomes)
            except _TryAgainExactly:
                self._metrics.retries.inc()
                outcomes.clear()
                await self._run_exactly(group, outcomes, failures)
        except Exception as exc:  # the group is not written: all of it fails alike
            failed = {id(member) for member, _ in failures}
            failures += [(member, exc) for member in group if id(member) not in failed]
            outcomes.clear()
        except BaseException:  # the committer itself is cancelled: nobody's work landed
            for member in group:
                member.future.cancel()
            raise
        self._metrics.group_seconds.observe(time.perf_counter() - started)
        for member, result in outcomes:
            if not member.future.done():
                member.future.set_result(result)
        for member, error in failures:
            if not member.future.done():
                member.future.set_exception(error)

    async def _try_fast(
        self, group: list[_Member[Any]], outcomes: list[tuple[_Member[Any], Any]]
    ) -> None:
        """The group without savepoints, its blind writes batched (module docstring).
        Raises _TryAgainExactly, everything rolled back, when a member of a group of
        several or a batch failed; a lone member's failure is its transaction's."""
        async with self._engine.short_transaction() as connection:
            db = SharedTransaction(connection, batching=True)
            if len(group) == 1:
                outcomes.append((group[0], await group[0].work(db)))
                await db.run_batches()
                return
            try:
                for member in group:
                    outcomes.append((member, await member.work(db)))
                await db.run_batches()
            except Exception as exc:
                raise _TryAgainExactly() from exc

    async def _run_exactly(
        self,
        group: list[_Member[Any]],
        outcomes: list[tuple[_Member[Any], Any]],
        failures: list[tuple[_Member[Any], Exception]],
    ) -> None:
        """The group with a savepoint per member, its writes run at once."""
        async with self._engine.short_transaction() as connection:
            db = SharedTransaction(connection)
            for member in group:
                await _run_member(db, member, outcomes, failures)


async def _run_member(
    db: SharedTransaction,
    member: _Member[Any],
    outcomes: list[tuple[_Member[Any], Any]],
    failures: list[tuple[_Member[Any], Exception]],
) -> None:
    """One member's work in its own savepoint: rolled back alone when it raises."""
    await db.execute("SAVEPOINT group_member")
    heads = dict(db.heads)
    try:
        result = await member.work(db)
    except Exception as exc:
        await db.execute("ROLLBACK TO SAVEPOINT group_member")  # the latest of that name
        db.heads = heads
        failures.append((member, exc))
        return
    outcomes.append((member, result))
