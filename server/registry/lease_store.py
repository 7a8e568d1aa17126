"""The registry's expiring leases (migration 0011): who holds a once-per-deployment duty.

`acquire` is one statement (an upsert whose update applies only when the caller already
holds the lease or the lease has expired), so two processes, or two nodes sharing one
database, never both hold a lease: the statement that changes the row decides (on
PostgreSQL too, where a concurrent insert of the same name waits for the first and then
meets its row). The database compares the times: `to_text` text on SQLite, which sorts as
time, timestamps on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from server.registry.records import from_text, to_text

if TYPE_CHECKING:
    from server.registry.registry import Registry


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires_at: datetime
    acquired_at: datetime


class LeaseStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def acquire(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew lease `name` for `holder` until `until`. True when `holder` holds
        it afterwards; False when another holder's lease has not expired at `now`."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO duty_leases (name, holder, expires_at, acquired_at)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET"
                "  acquired_at = CASE WHEN duty_leases.holder = excluded.holder"
                "   THEN duty_leases.acquired_at ELSE excluded.acquired_at END,"
                "  holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE duty_leases.holder = excluded.holder OR duty_leases.expires_at <= ?",
                (name, holder, to_text(until), to_text(now), to_text(now)),
            )
            return cursor.rowcount == 1

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean stop), if `holder` holds it."""
        async with self._registry.transaction() as db:
            await db.execute(
                "DELETE FROM duty_leases WHERE name = ? AND holder = ?", (name, holder)
            )

    async def current(self, name: str, now: datetime) -> Lease | None:
        """The lease `name` if some holder holds it at `now` (not expired), else None."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT holder, expires_at, acquired_at FROM duty_leases"
                " WHERE name = ? AND expires_at > ?",
                (name, to_text(now)),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        return Lease(name, row[0], from_text(row[1]), from_text(row[2]))
