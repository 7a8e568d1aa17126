"""The root CA kept in the home above the issuing CA (migration 0024;
server/hierarchy/offline_root.py): the root itself, what it signed, and its CRLs.

Every write carries its audit entry in the same transaction. A root CRL's number is taken
by the insert itself (RFC 5280 5.2.3: increasing): `record_crl` refuses a number not above
the newest, so two commands signing at once cannot publish one number twice or go back.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from server.errors import CAError, ErrorKind
from server.registry.engine import Connection, Row
from server.registry.records import AuditEvent, RootCA, RootCRL, from_text, to_text

if TYPE_CHECKING:
    from server.registry.registry import Registry

_ROOT_COLUMNS = "name, key_id, key_uri, key_algorithm, certificate, not_after"
_CRL_COLUMNS = "number, this_update, next_update, der"


def _root(row: Row) -> RootCA:
    name, key_id, key_uri, key_algorithm, certificate, not_after = row
    return RootCA(name, bytes(key_id), key_uri, key_algorithm, bytes(certificate),
                  from_text(not_after))  # fmt: skip


def _crl(row: Row) -> RootCRL:
    number, this_update, next_update, der = row
    return RootCRL(number, from_text(this_update), from_text(next_update), bytes(der))


class RootStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def record_root(
        self, root: RootCA, crl: RootCRL, audit: AuditEvent, at: datetime
    ) -> None:
        """A new root with its first CRL. Raises CAError(REJECTED) when one of that name
        exists."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                f"INSERT INTO root_cas ({_ROOT_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (root.name, root.key_id, root.key_uri, root.key_algorithm,
                 root.certificate_der, to_text(root.not_after), to_text(at)),
            )  # fmt: skip
            if cursor.rowcount != 1:
                raise CAError(ErrorKind.REJECTED, f"the registry holds a root CA {root.name!r}")
            await self._insert_crl(db, root.name, crl)
            await self._registry.append_audit_in(db, audit, at)

    async def root(self, name: str) -> RootCA | None:
        async with (
            self._registry.reading() as db,
            db.execute(f"SELECT {_ROOT_COLUMNS} FROM root_cas WHERE name = ?", (name,)) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _root(row)

    async def roots(self) -> list[tuple[RootCA, RootCRL | None]]:
        """Every root with its newest CRL: what the server publishes."""
        async with self._registry.reading() as db:
            async with db.execute(f"SELECT {_ROOT_COLUMNS} FROM root_cas ORDER BY name") as cursor:
                roots = [_root(row) async for row in cursor]
            found = []
            for root in roots:
                async with db.execute(
                    f"SELECT {_CRL_COLUMNS} FROM root_crls WHERE root_name = ?"
                    " ORDER BY number DESC LIMIT 1",
                    (root.name,),
                ) as cursor:
                    row = await cursor.fetchone()
                found.append((root, None if row is None else _crl(row)))
        return found

    async def latest_crl(self, name: str) -> RootCRL | None:
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_CRL_COLUMNS} FROM root_crls WHERE root_name = ?"
                " ORDER BY number DESC LIMIT 1",
                (name,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _crl(row)

    async def record_issued(
        self, name: str, serial: str, subject: str, not_after: datetime, der: bytes,
        audit: AuditEvent, at: datetime,
    ) -> None:  # fmt: skip
        """A certificate the root signed (an issuing CA's), with its audit entry."""
        async with self._registry.transaction() as db:
            await db.execute(
                "INSERT INTO root_issued (serial, root_name, subject, not_after, der, issued_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (serial, name, subject, to_text(not_after), der, to_text(at)),
            )
            await self._registry.append_audit_in(db, audit, at)

    async def issued(self, name: str) -> list[tuple[str, bytes, bool]]:
        """(serial, certificate, revoked) of everything the root signed, oldest first."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT serial, der, crl_entry IS NOT NULL FROM root_issued"
                " WHERE root_name = ? ORDER BY issued_at, serial",
                (name,),
            ) as cursor,
        ):
            return [(str(row[0]), bytes(row[1]), bool(row[2])) async for row in cursor]

    async def revoked_entries(self, name: str) -> list[bytes]:
        """The CRL entries of what the root revoked, for its next CRL."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT crl_entry FROM root_issued WHERE root_name = ? AND crl_entry IS NOT NULL"
                " ORDER BY serial",
                (name,),
            ) as cursor,
        ):
            return [bytes(row[0]) async for row in cursor]

    async def record_revocation(
        self, name: str, serial: str, crl_entry: bytes, crl: RootCRL, audit: AuditEvent,
        at: datetime,
    ) -> None:  # fmt: skip
        """Revoke what the root signed and publish the CRL that lists it, in one
        transaction. Raises CAError(NOT_FOUND) for a serial the root did not sign,
        CAError(REJECTED) for one revoked already or a CRL number taken; nothing changed."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE root_issued SET crl_entry = ?, revoked_at = ?"
                " WHERE root_name = ? AND serial = ? AND crl_entry IS NULL",
                (crl_entry, to_text(at), name, serial),
            )
            if cursor.rowcount != 1:
                async with db.execute(
                    "SELECT 1 FROM root_issued WHERE root_name = ? AND serial = ?", (name, serial)
                ) as found:
                    known = await found.fetchone() is not None
                if not known:
                    raise CAError(
                        ErrorKind.NOT_FOUND, f"root {name!r} signed no certificate {serial}"
                    )
                raise CAError(ErrorKind.REJECTED, f"certificate {serial} is revoked already")
            await self._insert_crl(db, name, crl)
            await self._registry.append_audit_in(db, audit, at)

    async def record_crl(self, name: str, crl: RootCRL, audit: AuditEvent, at: datetime) -> None:
        """Publish a new root CRL. Raises CAError(REJECTED) when its number is not above
        the newest's (another command came first); nothing changed."""
        async with self._registry.transaction() as db:
            await self._insert_crl(db, name, crl)
            await self._registry.append_audit_in(db, audit, at)

    async def _insert_crl(self, db: Connection, name: str, crl: RootCRL) -> None:
        cursor = await db.execute(
            "INSERT INTO root_crls (root_name, number, this_update, next_update, der)"
            " SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM root_crls"
            "  WHERE root_name = ? AND number >= ?)",
            (name, crl.number, to_text(crl.this_update), to_text(crl.next_update), crl.der,
             name, crl.number),
        )  # fmt: skip
        if cursor.rowcount != 1:
            raise CAError(ErrorKind.REJECTED, f"root CRL number {crl.number} is taken: "
                          "another command signed one meanwhile; run it again")  # fmt: skip
