"""The registry's API accounts (migration 0008). A row never carries a token's hash out of
the store: callers find an account by it, and learn only whether one is set."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from server.errors import CAError, ErrorKind
from server.registry.engine import IntegrityError
from server.registry.records import AccountRow, AuditEvent, from_text, to_text

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry

_COLUMNS = (
    "id, name, role, token_sha256 IS NOT NULL, client_cert_sha256, created_at, created_by,"
    " disabled_at"
)


class AccountStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def add(self, row: AccountRow, token_sha256: bytes, audit: AuditEvent) -> None:
        """Raises CAError(DUPLICATE) when the name is taken."""
        try:
            async with self._registry.transaction() as db:
                await db.execute(
                    "INSERT INTO accounts (id, name, role, token_sha256, client_cert_sha256,"
                    " created_at, created_by, disabled_at) VALUES (?, ?, ?, ?, NULL, ?, ?, NULL)",
                    (row.id, row.name, row.role, token_sha256, to_text(row.created_at),
                     row.created_by),
                )  # fmt: skip
                await self._registry.append_audit_in(db, audit, row.created_at)
        except IntegrityError:
            raise CAError(ErrorKind.DUPLICATE, f"an account named {row.name!r} exists") from None

    async def by_name(self, name: str) -> AccountRow | None:
        rows = await self._select("WHERE name = ?", (name,))
        return rows[0] if rows else None

    async def by_token(self, token_sha256: bytes) -> AccountRow | None:
        rows = await self._select("WHERE token_sha256 = ?", (token_sha256,))
        return rows[0] if rows else None

    async def by_certificate(self, cert_sha256: bytes) -> AccountRow | None:
        rows = await self._select("WHERE client_cert_sha256 = ?", (cert_sha256,))
        return rows[0] if rows else None

    async def all(self) -> list[AccountRow]:
        return await self._select("ORDER BY name", ())

    async def set_token(
        self, account_id: str, token_sha256: bytes, at: datetime, audit: AuditEvent
    ) -> bool:
        """Replace the token of an enabled account (the old one stops working at once);
        False when the account is disabled."""
        return await self._update("token_sha256 = ?", (token_sha256,), account_id, at, audit)

    async def bind_certificate(
        self, account_id: str, cert_sha256: bytes, at: datetime, audit: AuditEvent
    ) -> bool:
        """Bind a client certificate to an enabled account, replacing any bound before;
        False when the account is disabled. Raises CAError(DUPLICATE) when the certificate
        is bound to another account."""
        try:
            return await self._update(
                "client_cert_sha256 = ?", (cert_sha256,), account_id, at, audit
            )
        except IntegrityError:
            raise CAError(
                ErrorKind.DUPLICATE, "this certificate is bound to another account"
            ) from None

    async def disable(self, account_id: str, at: datetime, audit: AuditEvent) -> bool:
        """False when it is disabled already."""
        return await self._update("disabled_at = ?", (to_text(at),), account_id, at, audit)

    async def _update(
        self,
        assignment: str,
        values: tuple[object, ...],
        account_id: str,
        at: datetime,
        audit: AuditEvent,
    ) -> bool:
        """Change an enabled account, with its audit entry; False when it is disabled."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                f"UPDATE accounts SET {assignment} WHERE id = ? AND disabled_at IS NULL",
                (*values, account_id),
            )
            if cursor.rowcount != 1:
                return False
            await self._registry.append_audit_in(db, audit, at)
            return True

    async def _select(self, where: str, parameters: tuple[object, ...]) -> list[AccountRow]:
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(f"SELECT {_COLUMNS} FROM accounts {where}", parameters) as cursor,
        ):
            rows = await cursor.fetchall()
        return [
            AccountRow(
                id=row[0],
                name=row[1],
                role=row[2],
                has_token=bool(row[3]),
                client_cert_sha256=row[4],
                created_at=from_text(row[5]),
                created_by=row[6],
                disabled_at=from_text(row[7]) if row[7] else None,
            )
            for row in rows
        ]
