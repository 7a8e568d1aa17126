"""The requests of a CA under a parent outside for its next generation (regulation K2 for
a subordinate; server/subordinate_rollover.py; migration 0023).

A request is recorded 'pending' with its audit entry; the partial unique index
`ca_requests_one_pending` keeps it the CA's only pending one, on both engines, whoever
races to add another. Importing the parent's answer records the new generation (as a
rollover records one, server/registry/registry.py `insert_generation_in`), its parent
chain and the request 'imported' in one transaction, only while the request is pending
and the generation it was made from is still the active one; abandoning it is one
transaction too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from server.errors import CAError, ErrorKind
from server.registry.engine import Connection
from server.registry.records import (
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
        longer the CA's active one."""
        async with self._registry.transaction() as db:
            await _close(db, request, "imported", at)
            cursor = await db.execute(
                "SELECT id FROM ca_generations WHERE ca_name = ? AND state = 'active'"
                " ORDER BY id DESC LIMIT 1",
                (request.ca_name,),
            )
            active = next(iter(await cursor.fetchall()), None)
            if active is None or active[0] != request.rolled_from:
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
