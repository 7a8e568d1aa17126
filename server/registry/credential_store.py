"""The registry's enrollment credentials (migration 0003)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from server.registry.records import AuditEvent, CredentialRow, from_text, to_text
from server.registry.subscriber_store import refuse_if_erased_in

if TYPE_CHECKING:
    from server.registry.registry import Registry


class CredentialStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def add(
        self, row: CredentialRow, created_by: str, at: datetime, audits: Sequence[AuditEvent]
    ) -> bool:
        """Store a new credential. One for an application approves that application in the
        same transaction, and only if it is submitted and nobody is deciding it: False
        (and nothing stored) otherwise. Raises CAError(REJECTED) when its subscriber's
        personal data were erased since the caller read them: nothing is stored then."""
        async with self._registry.transaction() as db:
            if row.subscriber_id is not None:
                await refuse_if_erased_in(db, row.subscriber_id)
            if row.application_id is not None:
                cursor = await db.execute(
                    "UPDATE applications SET state = 'approved', decided_by = ?,"
                    " decided_at = ? WHERE id = ? AND state = 'submitted'"
                    " AND decided_at IS NULL AND request_der IS NULL",
                    (created_by, to_text(at), row.application_id),
                )
                if cursor.rowcount != 1:
                    return False
            await db.execute(
                "INSERT INTO enrollment_credentials (id, secret_hash, salt, profile, subject,"
                " alt_names, created_by, created_at, expires_at, subscriber_id, application_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.secret_hash, row.salt, row.profile, row.subject, row.alt_names,
                 created_by, to_text(at), to_text(row.expires_at), row.subscriber_id,
                 row.application_id),
            )  # fmt: skip
            for audit in audits:
                await self._registry.append_audit_in(db, audit, at)
        return True

    async def get(self, credential_id: str) -> CredentialRow | None:
        rows = await self._select("WHERE id = ?", (credential_id,))
        return rows[0] if rows else None

    async def get_each(self, credential_ids: Sequence[str]) -> list[CredentialRow]:
        """The credentials of those ids that exist, in one read."""
        marks = ", ".join("?" * len(credential_ids))
        return await self._select(f"WHERE id IN ({marks})", tuple(credential_ids))

    async def listing(self, unused_only: bool, limit: int) -> list[CredentialRow]:
        """The newest credentials first; `unused_only`: not yet enrolled with."""
        where = "WHERE used_serial IS NULL" if unused_only else ""
        return await self._select(f"{where} ORDER BY created_at DESC, id LIMIT ?", (limit,))

    async def _select(self, where: str, parameters: tuple[object, ...]) -> list[CredentialRow]:
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT id, secret_hash, salt, profile, subject, expires_at, claimed_at,"
                " used_serial, alt_names, subscriber_id, application_id"
                f" FROM enrollment_credentials {where}",
                parameters,
            ) as cursor,
        ):
            return [_row(row) for row in await cursor.fetchall()]


def _row(row: Sequence[Any]) -> CredentialRow:
    return CredentialRow(
        id=row[0],
        secret_hash=row[1],
        salt=row[2],
        profile=row[3],
        subject=row[4],
        expires_at=from_text(row[5]),
        claimed_at=from_text(row[6]) if row[6] else None,
        used_serial=row[7],
        alt_names=row[8],
        subscriber_id=row[9],
        application_id=row[10],
    )
