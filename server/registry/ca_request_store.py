"""The requests of a CA under a parent outside for its next generation (regulation K2 for
a subordinate; server/generations/subordinate_rollover.py; migration 0023).

A request is recorded 'pending' with its audit entry; the partial unique index
`ca_requests_one_pending` keeps it the CA's only pending one, on both engines, whoever
races to add another. Importing the parent's answer records the new generation (as a
rollover records one, server/registry/registry.py `insert_generation_in`), its parent
chain and the request 'imported' in one transaction, only while the request is pending
and the generation it was made from is still the active one; abandoning it is one
transaction too.

The compromise of a generation of such a CA (server/generations/subordinate_compromise.py, K4) is
one transaction too: the pending request, if any, abandoned; the generation 'compromised'; the
request for the new key recorded pending, made from the CA's newest generation; their
audit entries. A request made from a generation no longer active is therefore a
compromise's (every compromise abandons what was pending), or one made while the CA waits
after it (server/generations/subordinate_rollover.py makes it from the newest generation then); its
import needs that no generation was made after that one, instead of that one being the
newest active.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from server.errors import CAError, ErrorKind
from server.registry.engine import Connection
from server.registry.records import (
    COMPROMISE_REFUSED,
    REQUEST_CLOSED,
    REQUEST_PENDING,
    AuditEvent,
    GenerationRequest,
    Rollover,
    from_text,
    to_text,
)

if TYPE_CHECKING:
    from server.registry.registry import Registry

_COLUMNS = (
    "id, ca_name, rolled_from, key_uri, key_algorithm, csr_der, created_at, actor, reason,"
    " state, generation_id"
)
ROLLED_FROM_GONE = (
    "generation {old} is no longer the active generation of CA {ca!r}: the request was made "
    "from it; nothing was recorded"
)


class CARequestStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def add(self, request: GenerationRequest, at: datetime) -> int:
        """Record `request` pending (its `id` and `state` are ignored) with the audit entry
        `ca.generation.request`; returns its id. Raises CAError(REJECTED) with
        REQUEST_PENDING, nothing recorded, when the CA has a pending request."""
        async with self._registry.transaction() as db:
            return await self._add_in(db, request, at)

    async def _add_in(self, db: Connection, request: GenerationRequest, at: datetime) -> int:
        cursor = await db.execute(
            "INSERT INTO ca_requests (ca_name, rolled_from, key_uri, key_algorithm, csr_der,"
            " created_at, actor, reason, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')"
            " ON CONFLICT DO NOTHING RETURNING id",
            (request.ca_name, request.rolled_from, request.key_uri, request.key_algorithm,
             request.csr_der, to_text(at), request.actor, request.reason),
        )  # fmt: skip
        row = next(iter(await cursor.fetchall()), None)
        if row is None:
            raise CAError(ErrorKind.REJECTED, REQUEST_PENDING.format(ca=request.ca_name))
        request_id = int(row[0])
        audit = AuditEvent(request.actor, "ca.generation.request", f"request {request_id}",
                           {"ca": request.ca_name, "from": request.rolled_from,
                            "key": request.key_uri, "algorithm": request.key_algorithm,
                            "reason": request.reason})  # fmt: skip
        await self._registry.append_audit_in(db, audit, at)
        return request_id

    async def pending(self, ca_name: str) -> GenerationRequest | None:
        """The CA's pending request, if it has one."""
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_COLUMNS} FROM ca_requests WHERE ca_name = ? AND state = 'pending'",
                (ca_name,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return _request(row) if row else None

    async def requests(self, ca_name: str) -> list[GenerationRequest]:
        """Every request of the CA, oldest first."""
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_COLUMNS} FROM ca_requests WHERE ca_name = ? ORDER BY id", (ca_name,)
            ) as cursor,
        ):
            return [_request(row) async for row in cursor]

    async def imported(self, request: GenerationRequest, generation: Rollover, at: datetime) -> int:
        """Record the generation the parent's certificate for `request` makes (its CA and
        responder certificates and parent chain, `generation`) with the audit entry
        `ca.generation.rollover` {ca, from, reason, request, to}, and the request
        'imported', in one transaction; returns the new generation's id. Raises
        CAError(REJECTED), nothing recorded, with REQUEST_CLOSED when the request is no
        longer pending, or ROLLED_FROM_GONE when the generation it was made from is no
        longer the CA's active one or, for a request made at a compromise (that generation
        no longer active: see the module), when a generation was made after it."""
        async with self._registry.transaction() as db:
            await _close(db, request, "imported", at)
            cursor = await db.execute(
                "SELECT id, state FROM ca_generations WHERE ca_name = ? ORDER BY id DESC",
                (request.ca_name,),
            )
            rows = [(int(row[0]), row[1]) for row in await cursor.fetchall()]
            states = dict(rows)
            if states.get(request.rolled_from) == "active":  # a rollover's request
                current = next((g for g, state in rows if state == "active"), None)
            else:  # a compromise's: the newest generation, whatever its state now
                current = rows[0][0] if rows else None
            if request.rolled_from not in states or current != request.rolled_from:
                message = ROLLED_FROM_GONE.format(old=request.rolled_from, ca=request.ca_name)
                raise CAError(ErrorKind.REJECTED, message)
            details = {"ca": request.ca_name, "from": request.rolled_from,
                       "reason": request.reason, "request": request.id}  # fmt: skip
            new_id = await self._registry.insert_generation_in(
                db, generation, at, "ca.generation.rollover", details
            )
            await db.execute(
                "UPDATE ca_requests SET generation_id = ? WHERE id = ?", (new_id, request.id)
            )
            return new_id

    async def compromised(
        self,
        generation_id: int,
        request: GenerationRequest,
        abandoned: GenerationRequest | None,
        grounds: str,
        certificates: str,
        at: datetime,
    ) -> int:
        """Record the compromise of generation `generation_id` of a CA under a parent
        outside (K4) in one transaction: `abandoned`, the request pending until now if any,
        'abandoned' (audit entry `ca.generation.request.abandon`); the generation
        'compromised'; `request` (its `id` and `state` ignored), for the new key, pending
        (audit entry `ca.generation.request`); and the audit entry
        `ca.generation.compromise` {ca, generation, grounds, request, certificates} with
        the request's actor. Returns the request's id. Raises CAError(REJECTED), nothing
        recorded: COMPROMISE_REFUSED when the generation is no longer active,
        REQUEST_CLOSED when `abandoned` is no longer pending, REQUEST_PENDING when another
        request is."""
        ca = request.ca_name
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "SELECT state FROM ca_generations WHERE id = ? AND ca_name = ?",
                (generation_id, ca),
            )
            row = next(iter(await cursor.fetchall()), None)
            if row is None or row[0] != "active":
                state = row[0] if row else "unknown"
                message = COMPROMISE_REFUSED.format(generation=generation_id, ca=ca, state=state)
                raise CAError(ErrorKind.REJECTED, message)
            if abandoned is not None:
                await _close(db, abandoned, "abandoned", at)
                audit = AuditEvent(request.actor, "ca.generation.request.abandon",
                                   f"request {abandoned.id}",
                                   {"ca": ca, "key": abandoned.key_uri})  # fmt: skip
                await self._registry.append_audit_in(db, audit, at)
            await db.execute(
                "UPDATE ca_generations SET state = 'compromised' WHERE id = ?", (generation_id,)
            )
            request_id = await self._add_in(db, request, at)
            details = {"ca": ca, "generation": generation_id, "grounds": grounds,
                       "request": request_id, "certificates": certificates}  # fmt: skip
            audit = AuditEvent(request.actor, "ca.generation.compromise",
                               f"generation {generation_id}", details)  # fmt: skip
            await self._registry.append_audit_in(db, audit, at)
            return request_id

    async def abandon(self, request: GenerationRequest, actor: str, at: datetime) -> None:
        """Mark `request` abandoned with the audit entry `ca.generation.request.abandon`.
        Raises CAError(REJECTED) with REQUEST_CLOSED when it is no longer pending."""
        async with self._registry.transaction() as db:
            await _close(db, request, "abandoned", at)
            audit = AuditEvent(actor, "ca.generation.request.abandon", f"request {request.id}",
                               {"ca": request.ca_name, "key": request.key_uri})  # fmt: skip
            await self._registry.append_audit_in(db, audit, at)


async def _close(db: Connection, request: GenerationRequest, state: str, at: datetime) -> None:
    cursor = await db.execute(
        "UPDATE ca_requests SET state = ?, closed_at = ? WHERE id = ? AND state = 'pending'",
        (state, to_text(at), request.id),
    )
    if cursor.rowcount != 1:
        message = REQUEST_CLOSED.format(id=request.id, ca=request.ca_name)
        raise CAError(ErrorKind.REJECTED, message)


def _request(row: Sequence) -> GenerationRequest:
    return GenerationRequest(
        id=row[0],
        ca_name=row[1],
        rolled_from=row[2],
        key_uri=row[3],
        key_algorithm=row[4],
        csr_der=bytes(row[5]),
        created_at=from_text(row[6]),
        actor=row[7],
        reason=row[8],
        state=row[9],
        generation_id=row[10],
    )
