"""The registry's applications (migration 0004): requests waiting for an operator."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from server.registry.intent_store import take_holds_in
from server.registry.records import ApplicationRow, AuditEvent, IntentHolds, from_text, to_text
from server.registry.subscriber_store import refuse_if_erased_in

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry

_COLUMNS = (
    "id, profile, subject, request_der, request_format, request_sha256, credential_id, state,"
    " submitted_by, submitted_at, decided_by, decided_at, reason, serial, subscriber_id,"
    " complete_at, due_at, register_check, received_by, received_proxy, received_poa,"
    " received_at"
)
_SELECTED = f"{_COLUMNS}, attachments_removed_at"


def _time(value: datetime | None) -> str | None:
    return to_text(value) if value is not None else None


class ApplicationStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def add(self, row: ApplicationRow, audit: AuditEvent) -> None:
        """Store a new application. One that came with a protocol request holds its
        credential from this transaction on (claimed here). Raises HoldRefused when the
        credential is expired, used or held; CAError(REJECTED) when the subscriber's personal
        data were erased since the caller read it (after the state registers' answer, say):
        nothing is stored then."""
        async with self._registry.transaction() as db:
            if row.subscriber_id is not None:
                await refuse_if_erased_in(db, row.subscriber_id)
            if row.credential_id is not None:
                holds = IntentHolds(credential_id=row.credential_id)
                await take_holds_in(db, row.submitted_by, holds, row.submitted_at)
            await db.execute(
                f"INSERT INTO applications ({_COLUMNS}) VALUES"
                f" ({', '.join('?' * 22)})",
                (row.id, row.profile, row.subject, row.request_der, row.request_format,
                 row.request_sha256,
                 row.credential_id, row.state, row.submitted_by, to_text(row.submitted_at),
                 row.decided_by, _time(row.decided_at), row.reason, None, row.subscriber_id,
                 _time(row.complete_at),
                 _time(row.due_at), row.register_check, None, None, None, None),
            )  # fmt: skip
            await db.executemany(
                "INSERT INTO application_attachments (application_id, name, sha256)"
                " VALUES (?, ?, ?)",
                [(row.id, name, digest) for name, digest in row.attachments],
            )
            await self._registry.append_audit_in(db, audit, row.submitted_at)

    async def complete(
        self, application_id: str, at: datetime, due_at: datetime, audit: AuditEvent
    ) -> bool:
        """Mark a submitted application complete: its due date starts. False if it is not
        submitted or complete already."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE applications SET complete_at = ?, due_at = ?"
                " WHERE id = ? AND state = 'submitted' AND complete_at IS NULL",
                (to_text(at), to_text(due_at), application_id),
            )
            if cursor.rowcount != 1:
                return False
            await self._registry.append_audit_in(db, audit, at)
            return True

    async def handed_over(
        self,
        application_id: str,
        received_by: str,
        proxy: str | None,
        poa: str | None,
        at: datetime,
        audit: AuditEvent,
    ) -> bool:
        """Record who received the issued certificate (P2), once. False otherwise."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE applications SET received_by = ?, received_proxy = ?, received_poa = ?,"
                " received_at = ? WHERE id = ? AND state = 'issued' AND received_at IS NULL",
                (received_by, proxy, poa, to_text(at), application_id),
            )
            if cursor.rowcount != 1:
                return False
            await self._registry.append_audit_in(db, audit, at)
            return True

    async def overdue(self, now: datetime, limit: int) -> list[ApplicationRow]:
        """Complete applications still waiting (submitted or approved) past their due date."""
        return await self._select(
            "WHERE state IN ('submitted', 'approved') AND due_at <= ? ORDER BY due_at LIMIT ?",
            (to_text(now), limit),
        )

    async def count_overdue(self, now: datetime) -> int:
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT COUNT(*) FROM applications"
                " WHERE state IN ('submitted', 'approved') AND due_at <= ?",
                (to_text(now),),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

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

    async def _select(self, where: str, parameters: tuple[object, ...]) -> list[ApplicationRow]:
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(f"SELECT {_SELECTED} FROM applications {where}", parameters) as cursor,
        ):
            rows = await cursor.fetchall()
            attachments: dict[str, list[tuple[str, bytes]]] = {}
            ids = [row[0] for row in rows]
            if ids:
                async with db.execute(
                    "SELECT application_id, name, sha256 FROM application_attachments"
                    f" WHERE application_id IN ({', '.join('?' * len(ids))}) ORDER BY name",
                    ids,
                ) as cursor:
                    async for application_id, name, digest in cursor:
                        attachments.setdefault(application_id, []).append((name, digest))
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
                subscriber_id=row[14],
                complete_at=from_text(row[15]) if row[15] else None,
                due_at=from_text(row[16]) if row[16] else None,
                register_check=row[17],
                received_by=row[18],
                received_proxy=row[19],
                received_poa=row[20],
                received_at=from_text(row[21]) if row[21] else None,
                attachments=tuple(attachments.get(row[0], ())),
                attachments_removed_at=from_text(row[22]) if row[22] else None,
            )
            for row in rows
        ]
