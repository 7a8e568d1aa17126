"""The registry's confirmation cases (migration 0026): requests an expert answers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from server.registry.records import (
    AuditEvent,
    ConfirmationCaseRow,
    ConfirmationFile,
    from_text,
    to_text,
)

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry

_COLUMNS = (
    "id, kind, submitter, questions, received_by, received_at, due_at, files_until, state,"
    " check_report, expert, assigned_by, assigned_at, expert_report, answered_at"
)
_SELECTED = f"{_COLUMNS}, files_removed_at"
_WAITING = "state IN ('registered', 'assigned')"


def _time(text: str | None) -> datetime | None:
    return from_text(text) if text else None


class ConfirmationStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def add(self, row: ConfirmationCaseRow, audit: AuditEvent) -> None:
        """Store a new registered case with its files' names, sizes and hashes."""
        async with self._registry.transaction() as db:
            await db.execute(
                f"INSERT INTO confirmation_cases ({_COLUMNS}) VALUES ({', '.join('?' * 15)})",
                (row.id, row.kind, row.submitter, row.questions, row.received_by,
                 to_text(row.received_at), to_text(row.due_at), to_text(row.files_until),
                 row.state, row.check_report, None, None, None, None, None),
            )  # fmt: skip
            await db.executemany(
                "INSERT INTO confirmation_files (case_id, role, name, size, sha256)"
                " VALUES (?, ?, ?, ?, ?)",
                [(row.id, f.role, f.name, f.size, f.sha256) for f in row.files],
            )
            await self._registry.append_audit_in(db, audit, row.received_at)

    async def assign(
        self, case_id: str, expert: str, actor: str, at: datetime, audit: AuditEvent
    ) -> bool:
        """Give an unanswered case to `expert` (again, to another, when assigned already).
        False when it is answered."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE confirmation_cases SET state = 'assigned', expert = ?, assigned_by = ?,"
                f" assigned_at = ? WHERE id = ? AND {_WAITING}",
                (expert, actor, to_text(at), case_id),
            )
            if cursor.rowcount != 1:
                return False
            await self._registry.append_audit_in(db, audit, at)
            return True

    async def answer(
        self, case_id: str, expert: str, report: str, at: datetime, audit: AuditEvent
    ) -> bool:
        """Record the expert's report, once, and only from the expert it is assigned to:
        False otherwise."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE confirmation_cases SET state = 'answered', expert_report = ?,"
                " answered_at = ? WHERE id = ? AND state = 'assigned' AND expert = ?",
                (report, to_text(at), case_id, expert),
            )
            if cursor.rowcount != 1:
                return False
            await self._registry.append_audit_in(db, audit, at)
            return True

    async def get(self, case_id: str) -> ConfirmationCaseRow | None:
        rows = await self._select("WHERE id = ?", (case_id,))
        return rows[0] if rows else None

    async def by_state(self, state: str | None, limit: int) -> list[ConfirmationCaseRow]:
        """The cases in `state` (all when None), oldest first."""
        if state is None:
            return await self._select("ORDER BY received_at, id LIMIT ?", (limit,))
        return await self._select(
            "WHERE state = ? ORDER BY received_at, id LIMIT ?", (state, limit)
        )

    async def overdue(self, now: datetime, limit: int) -> list[ConfirmationCaseRow]:
        """Unanswered cases past their due date, earliest due first."""
        return await self._select(
            f"WHERE {_WAITING} AND due_at <= ? ORDER BY due_at, id LIMIT ?", (to_text(now), limit)
        )

    async def count_overdue(self, now: datetime) -> int:
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT COUNT(*) FROM confirmation_cases WHERE {_WAITING} AND due_at <= ?",
                (to_text(now),),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _select(
        self, where: str, parameters: tuple[object, ...]
    ) -> list[ConfirmationCaseRow]:
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(f"SELECT {_SELECTED} FROM confirmation_cases {where}", parameters) as cursor,
        ):
            rows = await cursor.fetchall()
            files: dict[str, list[ConfirmationFile]] = {}
            ids = [row[0] for row in rows]
            if ids:
                async with db.execute(
                    "SELECT case_id, role, name, size, sha256 FROM confirmation_files"
                    f" WHERE case_id IN ({', '.join('?' * len(ids))}) ORDER BY role",
                    ids,
                ) as cursor:
                    async for case_id, role, name, size, digest in cursor:
                        files.setdefault(case_id, []).append(
                            ConfirmationFile(role, name, int(size), bytes(digest))
                        )
        return [
            ConfirmationCaseRow(
                id=row[0],
                kind=row[1],
                submitter=row[2],
                questions=row[3],
                received_by=row[4],
                received_at=from_text(row[5]),
                due_at=from_text(row[6]),
                files_until=from_text(row[7]),
                state=row[8],
                check_report=row[9],
                expert=row[10],
                assigned_by=row[11],
                assigned_at=_time(row[12]),
                expert_report=row[13],
                answered_at=_time(row[14]),
                files_removed_at=_time(row[15]),
                files=tuple(files.get(row[0], ())),
            )
            for row in rows
        ]
