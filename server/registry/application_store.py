"""The registry's applications (migration 0004): requests waiting for an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from server.registry.records import AuditEvent, from_text, to_text

if TYPE_CHECKING:
    import aiosqlite

    from server.registry.sqlite import SQLiteRegistry

_COLUMNS = (
    "id, profile, subject, request_der, request_format, request_sha256, credential_id, state,"
    " submitted_by, submitted_at, decided_by, decided_at, reason, serial"
)


@dataclass(frozen=True)
class ApplicationRow:
    id: str
    profile: str
    subject: str
    request_der: bytes
    request_format: str  # pkcs10, cmp
    request_sha256: bytes
    credential_id: str
    state: str  # submitted, rejected, issued
    submitted_by: str
    submitted_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    serial: str | None = None


class SQLiteApplicationStore:
    def __init__(self, registry: SQLiteRegistry) -> None:
        self._registry = registry

    async def add(self, row: ApplicationRow, audit: AuditEvent) -> None:
        async with self._registry.transaction() as db:
            await db.execute(
                f"INSERT INTO applications ({_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.profile, row.subject, row.request_der, row.request_format,
                 row.request_sha256,
                 row.credential_id, row.state, row.submitted_by, to_text(row.submitted_at),
                 None, None, None, None),
            )  # fmt: skip
            await self._registry.append_audit_in(db, audit, row.submitted_at)

    async def get(self, application_id: str) -> ApplicationRow | None:
        rows = await self._select("WHERE id = ?", (application_id,))
        return rows[0] if rows else None

    async def find(self, credential_id: str, request_sha256: bytes) -> ApplicationRow | None:
        """The application a client's repeated request belongs to."""
        rows = await self._select(
            "WHERE credential_id = ? AND request_sha256 = ?", (credential_id, request_sha256)
        )
        return rows[0] if rows else None

    async def by_state(self, state: str | None, limit: int) -> list[ApplicationRow]:
        if state is None:
            return await self._select("ORDER BY submitted_at LIMIT ?", (limit,))
        return await self._select("WHERE state = ? ORDER BY submitted_at LIMIT ?", (state, limit))

    async def claim_decision(self, application_id: str, actor: str, at: datetime) -> bool:
        """Hold a submitted application for one operator's approval, so that no other
        decision (a second approval, a rejection) runs beside it. False when it is decided
        or being decided. Ends with `issued` or `release_decision`; one left by a crash
        stays held, visible in `by_state`, and is never issued twice."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE applications SET decided_by = ?, decided_at = ?"
                " WHERE id = ? AND state = 'submitted' AND decided_at IS NULL",
                (actor, to_text(at), application_id),
            )
            return cursor.rowcount == 1

    async def release_decision(self, application_id: str) -> None:
        async with self._registry.transaction() as db:
            await db.execute(
                "UPDATE applications SET decided_by = NULL, decided_at = NULL"
                " WHERE id = ? AND state = 'submitted'",
                (application_id,),
            )

    async def reject(
        self, application_id: str, actor: str, at: datetime, reason: str, audit: AuditEvent
    ) -> bool:
        """Only a submitted application nobody is deciding is rejected; False otherwise."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE applications SET state = 'rejected', decided_by = ?, decided_at = ?,"
                " reason = ? WHERE id = ? AND state = 'submitted' AND decided_at IS NULL",
                (actor, to_text(at), reason, application_id),
            )
            if cursor.rowcount != 1:
                return False
            await self._registry.append_audit_in(db, audit, at)
            return True

    async def issued(
        self, application: ApplicationRow, serial: str, at: datetime, audit: AuditEvent
    ) -> None:
        """The certificate is issued: the application held by `claim_decision` is done and
        its credential spent, in one transaction."""
        async with self._registry.transaction() as db:
            await db.execute(
                "UPDATE applications SET state = 'issued', decided_at = ?, serial = ?"
                " WHERE id = ? AND state = 'submitted'",
                (to_text(at), serial, application.id),
            )
            await db.execute(
                "UPDATE enrollment_credentials SET used_serial = ? WHERE id = ?",
                (serial, application.credential_id),
            )
            await self._registry.append_audit_in(db, audit, at)

    async def _select(self, where: str, parameters: tuple[object, ...]) -> list[ApplicationRow]:
        db: aiosqlite.Connection
        async with (
            self._registry.reading() as db,
            db.execute(f"SELECT {_COLUMNS} FROM applications {where}", parameters) as cursor,
        ):
            rows = await cursor.fetchall()
        return [
            ApplicationRow(
                id=row[0],
                profile=row[1],
                subject=row[2],
                request_der=row[3],
                request_format=row[4],
                request_sha256=row[5],
                credential_id=row[6],
                state=row[7],
                submitted_by=row[8],
                submitted_at=from_text(row[9]),
                decided_by=row[10],
                decided_at=from_text(row[11]) if row[11] else None,
                reason=row[12],
                serial=row[13],
            )
            for row in rows
        ]
