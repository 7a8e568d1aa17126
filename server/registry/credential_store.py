"""The registry's enrollment credentials (migration 0003)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from server.registry.records import AuditEvent, from_text, to_text

if TYPE_CHECKING:
    from server.registry.sqlite import SQLiteRegistry


@dataclass(frozen=True)
class CredentialRow:
    id: str
    secret_hash: bytes
    salt: bytes
    profile: str
    subject: str
    expires_at: datetime
    claimed_at: datetime | None
    used_serial: str | None
    alt_names: str = "{}"  # JSON {"dns": [...], "ip": [...], "email": [...]}


class SQLiteCredentialStore:
    def __init__(self, registry: SQLiteRegistry) -> None:
        self._registry = registry

    async def add(
        self, row: CredentialRow, created_by: str, at: datetime, audit: AuditEvent
    ) -> None:
        async with self._registry.transaction() as db:
            await db.execute(
                "INSERT INTO enrollment_credentials (id, secret_hash, salt, profile, subject,"
                " alt_names, created_by, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.secret_hash, row.salt, row.profile, row.subject, row.alt_names,
                 created_by, to_text(at), to_text(row.expires_at)),
            )  # fmt: skip
            await self._registry.append_audit_in(db, audit, at)

    async def get(self, credential_id: str) -> CredentialRow | None:
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT id, secret_hash, salt, profile, subject, expires_at, claimed_at,"
                " used_serial, alt_names FROM enrollment_credentials WHERE id = ?",
                (credential_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
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
        )

    async def claim(self, credential_id: str, at: datetime) -> bool:
        """Take the credential for one enrollment: only if unexpired and neither used nor
        held by another enrollment. A claim ends with `consume` or `release`; one left by a
        crash keeps the credential spent (never usable twice)."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE enrollment_credentials SET claimed_at = ? WHERE id = ?"
                " AND used_serial IS NULL AND claimed_at IS NULL AND expires_at > ?",
                (to_text(at), credential_id, to_text(at)),
            )
            return cursor.rowcount == 1

    async def release(self, credential_id: str) -> None:
        async with self._registry.transaction() as db:
            await db.execute(
                "UPDATE enrollment_credentials SET claimed_at = NULL"
                " WHERE id = ? AND used_serial IS NULL",
                (credential_id,),
            )

    async def consume(
        self, credential_id: str, serial: str, at: datetime, audit: AuditEvent
    ) -> None:
        async with self._registry.transaction() as db:
            await db.execute(
                "UPDATE enrollment_credentials SET used_serial = ? WHERE id = ?",
                (serial, credential_id),
            )
            await self._registry.append_audit_in(db, audit, at)
