"""The registry's subscribers, their identity records and notice acknowledgements
(migration 0007)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from server.errors import CAError, ErrorKind
from server.registry.engine import IntegrityError
from server.registry.outbox_store import (
    SUBSCRIBER_REGISTERED,
    add_event_in,
    subscriber_registered_payload,
)
from server.registry.records import (
    AuditEvent,
    IdentityRow,
    SubscriberRow,
    erased_refusal,
    from_text,
    to_text,
)

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry


_SUBSCRIBER_FIELDS = [f.name for f in fields(SubscriberRow)]
_SUBSCRIBER_COLUMNS = ", ".join(_SUBSCRIBER_FIELDS)
_IDENTITY_COLUMNS = ", ".join(f.name for f in fields(IdentityRow))
_UNIQUE = {"snils": "SNILS", "ogrn": "OGRN", "ogrnip": "OGRNIP"}


def _stored(value: object) -> object:
    if isinstance(value, datetime):
        return to_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


async def refuse_if_erased_in(db: Connection, subscriber_id: str) -> None:
    """Raise `erased_refusal` when the subscriber's personal data were erased (C1), read in
    the caller's write transaction: write transactions are serialised on both engines
    (BEGIN IMMEDIATE; PostgreSQL's advisory lock), so no erasure falls between this read
    and the caller's write, which would otherwise keep what the erasure removes for ever
    (server/registry/retention_store.py erases only subscribers not erased yet)."""
    async with db.execute(
        "SELECT 1 FROM subscribers WHERE id = ? AND erased_at IS NOT NULL", (subscriber_id,)
    ) as cursor:
        if await cursor.fetchone() is not None:
            raise erased_refusal(subscriber_id)


class SubscriberStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def add(self, row: SubscriberRow, audit: AuditEvent) -> None:
        """Register, with the outbox's `subscriber.registered` report (D7) in the same
        transaction. Raises CAError(DUPLICATE) naming the identifier another subscriber
        has."""
        marks = ", ".join("?" * len(fields(SubscriberRow)))
        try:
            async with self._registry.transaction() as db:
                await db.execute(
                    f"INSERT INTO subscribers ({_SUBSCRIBER_COLUMNS}) VALUES ({marks})",
                    tuple(_stored(v) for v in astuple(row)),
                )
                payload = subscriber_registered_payload(row.id, row.kind)
                await add_event_in(db, SUBSCRIBER_REGISTERED, payload, row.registered_at)
                await self._registry.append_audit_in(db, audit, row.registered_at)
        except IntegrityError as exc:
            name = _UNIQUE.get(exc.column or "")
            if name is None:
                raise
            raise CAError(
                ErrorKind.DUPLICATE, f"a subscriber with this {name} is registered already"
            ) from None

    async def get(self, subscriber_id: str) -> SubscriberRow | None:
        rows = await self._subscribers("WHERE id = ?", (subscriber_id,))
        return rows[0] if rows else None

    async def listing(self, after: str, limit: int) -> list[SubscriberRow]:
        return await self._subscribers("WHERE id > ? ORDER BY id LIMIT ?", (after, limit))

    async def add_identity(self, row: IdentityRow, audit: AuditEvent) -> None:
        """Raises CAError(REJECTED) when the subscriber's personal data were erased."""
        marks = ", ".join("?" * len(fields(IdentityRow)))
        async with self._registry.transaction() as db:
            await refuse_if_erased_in(db, row.subscriber_id)
            await db.execute(
                f"INSERT INTO identity_records ({_IDENTITY_COLUMNS}) VALUES ({marks})",
                tuple(_stored(v) for v in astuple(row)),
            )
            await self._registry.append_audit_in(db, audit, row.verified_at)

    async def identities(self, subscriber_id: str) -> list[IdentityRow]:
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_IDENTITY_COLUMNS} FROM identity_records WHERE subscriber_id = ?"
                " ORDER BY verified_at",
                (subscriber_id,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [_identity(row) for row in rows]

    async def acknowledge(
        self, subscriber_id: str, version: str, by: str, at: datetime, audit: AuditEvent
    ) -> None:
        """Record the acknowledgement of a notice version (again: the first one stays).
        Raises CAError(REJECTED) when the subscriber's personal data were erased."""
        async with self._registry.transaction() as db:
            await refuse_if_erased_in(db, subscriber_id)
            await db.execute(
                "INSERT INTO notice_acknowledgements (subscriber_id, notice_version,"
                " acknowledged_at, recorded_by) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (subscriber_id, version, to_text(at), by),
            )
            await self._registry.append_audit_in(db, audit, at)

    async def acknowledged(self, subscriber_id: str, version: str) -> datetime | None:
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT acknowledged_at FROM notice_acknowledgements"
                " WHERE subscriber_id = ? AND notice_version = ?",
                (subscriber_id, version),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return from_text(row[0]) if row else None

    async def _subscribers(self, where: str, parameters: tuple[object, ...]) -> list[SubscriberRow]:
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(f"SELECT {_SUBSCRIBER_COLUMNS} FROM subscribers {where}", parameters) as cur,
        ):
            rows = await cur.fetchall()
        return [_subscriber(row) for row in rows]


def _subscriber(row: Sequence[Any]) -> SubscriberRow:
    values: dict[str, Any] = dict(zip(_SUBSCRIBER_FIELDS, row, strict=True))
    values["registered_at"] = from_text(values["registered_at"])
    values["erased_at"] = from_text(values["erased_at"]) if values["erased_at"] else None
    return SubscriberRow(**values)


def _identity(row: Sequence[Any]) -> IdentityRow:
    return IdentityRow(
        id=row[0],
        subscriber_id=row[1],
        document_type=row[2],
        document_number=row[3],
        document_issuer=row[4],
        document_date=date.fromisoformat(row[5]),
        presence=row[6],
        proxy_name=row[7],
        poa_number=row[8],
        poa_date=date.fromisoformat(row[9]) if row[9] else None,
        verified_by=row[10],
        verified_at=from_text(row[11]),
    )
