"""The root CA kept in the home above the issuing CA (migrations 0024, 0025;
server/hierarchy/offline_root.py): the roots (the first and each one a `root rollover`
made), what each signed, their CRLs and the link certificates between them.

Every write carries its audit entry in the same transaction. A root CRL's number is taken
by the insert itself (RFC 5280 5.2.3: increasing): a number not above the newest of any
root's is refused (the roots share one issuer name, so one sequence, as the CA's
generations do), so two commands signing at once cannot publish one number twice or go
back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from server.errors import CAError, ErrorKind
from server.registry.engine import Connection, Row
from server.registry.records import (
    AuditEvent,
    RootCA,
    RootCRL,
    RootLink,
    from_text,
    to_text,
)

if TYPE_CHECKING:
    from server.registry.registry import Registry

_ROOT_COLUMNS = "name, key_id, key_uri, key_algorithm, certificate, not_after, succeeds"
_CRL_COLUMNS = "number, this_update, next_update, der"
_LINK_COLUMNS = "serial, kind, issuer_root, subject_root, not_before, not_after, der"


def _root(row: Row) -> RootCA:
    name, key_id, key_uri, key_algorithm, certificate, not_after, succeeds = row
    return RootCA(name, bytes(key_id), key_uri, key_algorithm, bytes(certificate),
                  from_text(not_after), succeeds)  # fmt: skip


def _link(row: Row) -> RootLink:
    serial, kind, issuer, subject, not_before, not_after, der = row
    return RootLink(str(serial), kind, issuer, subject, from_text(not_before),
                    from_text(not_after), bytes(der))  # fmt: skip


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
            if not await self._insert_root(db, root, at):
                raise CAError(ErrorKind.REJECTED, f"the registry holds a root CA {root.name!r}")
            await self._insert_crl(db, root.name, crl)
            await self._registry.append_audit_in(db, audit, at)

    async def record_root_rollover(
        self, root: RootCA, crl: RootCRL, links: Sequence[RootLink], audit: AuditEvent,
        at: datetime,
    ) -> None:  # fmt: skip
        """A new root that succeeds `root.succeeds`, with its first CRL and the link
        certificates between them, in one transaction. Raises CAError(REJECTED) when that
        root was succeeded already (another rollover came first); nothing changed."""
        async with self._registry.transaction() as db:
            if not await self._insert_root(db, root, at):
                raise CAError(ErrorKind.REJECTED, f"root CA {root.succeeds!r} was rolled over "
                              "by another command meanwhile: nothing was recorded")  # fmt: skip
            for link in links:
                await db.execute(
                    f"INSERT INTO root_links ({_LINK_COLUMNS}, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (link.serial, link.kind, link.issuer_root, link.subject_root,
                     to_text(link.not_before), to_text(link.not_after), link.der, to_text(at)),
                )  # fmt: skip
            await self._insert_crl(db, root.name, crl)
            await self._registry.append_audit_in(db, audit, at)

    async def _insert_root(self, db: Connection, root: RootCA, at: datetime) -> bool:
        """Insert `root`; False when its name or key is taken or its predecessor was
        succeeded already (nothing inserted)."""
        cursor = await db.execute(
            f"INSERT INTO root_cas ({_ROOT_COLUMNS}, created_at)"
            " SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS"
            " (SELECT 1 FROM root_cas WHERE succeeds = ?) ON CONFLICT DO NOTHING",
            (root.name, root.key_id, root.key_uri, root.key_algorithm, root.certificate_der,
             to_text(root.not_after), root.succeeds, to_text(at), root.succeeds),
        )  # fmt: skip
        return cursor.rowcount == 1

    async def links(self) -> list[RootLink]:
        """The link certificates between the roots, oldest first, NewWithOld before
        OldWithNew of each rollover."""
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_LINK_COLUMNS} FROM root_links ORDER BY created_at, kind, serial"
            ) as cursor,
        ):
            return [_link(row) async for row in cursor]

    async def last_crl_number(self) -> int:
        """The newest cRLNumber any root used (0: none)."""
        async with (
            self._registry.reading() as db,
            db.execute("SELECT MAX(number) FROM root_crls") as cursor,
        ):
            row = await cursor.fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def root_cas(self) -> list[RootCA]:
        """Every root, without its CRLs: what signing and distribution need (one read)."""
        async with (
            self._registry.reading() as db,
            db.execute(f"SELECT {_ROOT_COLUMNS} FROM root_cas ORDER BY created_at, name") as cursor,
        ):
            return [_root(row) async for row in cursor]

    async def roots(self) -> list[tuple[RootCA, RootCRL | None]]:
        """Every root with its newest CRL: what the server publishes."""
        async with self._registry.reading() as db:
            async with db.execute(
                f"SELECT {_ROOT_COLUMNS} FROM root_cas ORDER BY created_at, name"
            ) as cursor:
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

    async def record_crls(
        self, crls: Sequence[tuple[str, RootCRL, AuditEvent]], at: datetime
    ) -> None:
        """Publish new CRLs of several roots, in the order given, each with its audit
        entry, in one transaction. Raises CAError(REJECTED) when a number is not above every
        root CRL's (another command came first); nothing changed."""
        async with self._registry.transaction() as db:
            for name, crl, audit in crls:
                await self._insert_crl(db, name, crl)
                await self._registry.append_audit_in(db, audit, at)

    async def _insert_crl(self, db: Connection, name: str, crl: RootCRL) -> None:
        cursor = await db.execute(
            "INSERT INTO root_crls (root_name, number, this_update, next_update, der)"
            " SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM root_crls"
            "  WHERE number >= ?)",
            (name, crl.number, to_text(crl.this_update), to_text(crl.next_update), crl.der,
             crl.number),
        )  # fmt: skip
        if cursor.rowcount != 1:
            raise CAError(ErrorKind.REJECTED, f"root CRL number {crl.number} is taken: "
                          "another command signed one meanwhile; run it again")  # fmt: skip
