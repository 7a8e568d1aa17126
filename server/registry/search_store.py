"""Read-only searches of the registry for the operator and public API: certificates by
public key hash and by criteria, the revoked certificates, the audit trail. Lists are
paged by a cursor (`after`: the last key of the previous page), which stays correct while
rows are added, unlike an offset."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from server.registry.holder_names import fold, prefix_range
from server.registry.records import (
    CERTIFICATE_COLUMNS,
    AuditEntry,
    CertificateRecord,
    CertificateStatus,
    RevokedEntry,
    certificate_from_row,
    from_text,
)

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SearchStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def certificate_by_spki(self, spki_sha256: bytes) -> CertificateRecord | None:
        """The certificate of a public key (SHA-256 of its SubjectPublicKeyInfo DER); one
        at most, as a key is certified once (S13)."""
        rows = await self._rows(
            f"SELECT {CERTIFICATE_COLUMNS} FROM certificates"
            " WHERE spki_sha256 = ? AND state = 'issued'",
            (spki_sha256,),
        )
        return certificate_from_row(rows[0]) if rows else None

    async def certificates_by_holder(
        self, name: str, prefix: bool, limit: int
    ) -> list[CertificateRecord]:
        """Issued certificates whose subject's commonName or organizationName is `name`, or
        starts with it (`prefix`), ignoring case (server/registry/holder_names.py): at most
        `limit`, by name then serial. An empty `name` finds nothing."""
        folded = fold(name)
        if not folded:
            return []
        bounds = prefix_range(folded) if prefix else (folded, None)
        where = "h.name >= ? AND h.name < ?" if prefix else "h.name = ?"
        columns = ", ".join(f"c.{column.strip()}" for column in CERTIFICATE_COLUMNS.split(","))
        # A certificate named twice (CN and O both match) comes twice: twice the limit is
        # read, and each kept once.
        rows = await self._rows(
            f"SELECT {columns} FROM certificate_holder_names h"
            " JOIN certificates c ON c.serial = h.serial"
            f" WHERE {where} AND c.state = 'issued' ORDER BY h.name, h.serial LIMIT ?",
            (*(bound for bound in bounds if bound is not None), 2 * limit),
        )
        unique = {row[0]: row for row in rows}
        return [certificate_from_row(row) for row in list(unique.values())[:limit]]

    async def certificates(
        self,
        status: CertificateStatus | None,
        profile: str | None,
        subject_contains: str | None,
        limit: int,
        after: str | None,
    ) -> list[CertificateRecord]:
        """Issued certificates in issuance order, after the one of serial `after`."""
        clauses: list[str] = ["state = 'issued'"]
        params: list[object] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status.value)
        if profile is not None:
            clauses.append("profile = ?")
            params.append(profile)
        if subject_contains:
            # lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
            clauses.append("lower(subject) LIKE lower(?) ESCAPE '\\'")
            params.append(_like_pattern(subject_contains))
        if after is not None:
            clauses.append(
                "(created_at, serial) > (SELECT created_at, serial FROM certificates"
                " WHERE serial = ?)"
            )
            params.append(after)
        rows = await self._rows(
            f"SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE {' AND '.join(clauses)}"
            " ORDER BY created_at, serial LIMIT ?",
            (*params, limit),
        )
        return [certificate_from_row(row) for row in rows]

    async def revoked(self, limit: int, after: str | None) -> list[RevokedEntry]:
        """Revoked and suspended certificates in serial order, with their last revocation
        or hold."""
        rows = await self._rows(
            "SELECT c.serial, c.status, s.effective_at, s.reason, s.invalidity_date"
            " FROM certificates c JOIN status_changes s ON s.id = (SELECT MAX(id)"
            "  FROM status_changes WHERE serial = c.serial AND change IN ('revoke', 'hold'))"
            " WHERE c.state = 'issued' AND c.status IN ('revoked', 'hold') AND c.serial > ?"
            " ORDER BY c.serial LIMIT ?",
            (after or "", limit),
        )
        return [
            RevokedEntry(
                serial=row[0],
                status=CertificateStatus(row[1]),
                revoked_at=from_text(row[2]),
                reason=row[3],
                invalidity_date=from_text(row[4]) if row[4] else None,
            )
            for row in rows
        ]

    async def audit_entries(self, limit: int, after: int | None) -> list[AuditEntry]:
        rows = await self._rows(
            "SELECT seq, at, actor, action, target, details FROM audit_log WHERE seq > ?"
            " ORDER BY seq LIMIT ?",
            (after or 0, limit),
        )
        return [
            AuditEntry(
                seq=row[0],
                at=from_text(row[1]),
                actor=row[2],
                action=row[3],
                target=row[4],
                details=json.loads(row[5]),
            )
            for row in rows
        ]

    async def _rows(self, sql: str, parameters: tuple[object, ...]) -> list[tuple]:
        db: Connection
        async with self._registry.reading() as db, db.execute(sql, parameters) as cursor:
            return [tuple(row) async for row in cursor]
