"""The registry's status publication tables: pre-signed OCSP responses, the processes that
follow them, CRL entries and published CRLs (migration 0002)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from server.registry.engine import Connection, Listener
from server.registry.group_commit import SharedTransaction, blind_write, blind_write_many
from server.registry.records import (
    CertificateStatus,
    CRLRow,
    OCSPResponseRow,
    StatusDelta,
    Unanswered,
    from_text,
    to_text,
)

if TYPE_CHECKING:
    from server.registry.registry import Registry

OCSP_CHANNEL = "ocsp_responses"  # notified when rows of it commit (migration 0016)

_OCSP_COLUMNS = (
    "serial, generation_id, status, revoked_at, reason, this_update, next_update, der, seq"
)
_CRL_COLUMNS = (
    "generation_id, shard, number, delta_base, base_change_id, this_update, next_update, der"
)


WATERMARK_KEPT = timedelta(days=1)  # a process silent this long is forgotten


async def write_ocsp_rows(db: Connection, rows: Sequence[OCSPResponseRow]) -> int:
    """Insert or replace rows inside the caller's transaction; returns the last seq given.
    In a group's transaction the seq its previous member gave is known already."""
    shared = db.heads if isinstance(db, SharedTransaction) else None
    if shared is not None and "ocsp_seq" in shared:
        seq = shared["ocsp_seq"]
    else:  # read to its end: no cursor left to close, one round trip less
        cursor = await db.execute("SELECT coalesce(max(seq), 0) FROM ocsp_responses")
        row = next(iter(await cursor.fetchall()), None)
        seq = row[0] if row else 0
    values = []
    for item in rows:
        seq += 1
        values.append(
            (item.serial, item.generation_id, item.status.value,
             to_text(item.revoked_at) if item.revoked_at else None, item.reason,
             to_text(item.this_update), to_text(item.next_update), item.der, seq)
        )  # fmt: skip
    await blind_write_many(
        db,
        f"INSERT INTO ocsp_responses ({_OCSP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (serial) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _OCSP_COLUMNS.split(", ")[1:]),
        values,
    )
    if shared is not None:
        shared["ocsp_seq"] = seq
    return seq


class StatusStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    # -- OCSP ------------------------------------------------------------------------------

    async def put_ocsp_responses(self, rows: Sequence[OCSPResponseRow]) -> int:
        """Store pre-signed responses; returns the seq of the last one."""
        async with self._registry.transaction() as db:
            return await write_ocsp_rows(db, rows)

    async def last_ocsp_seq(self) -> int:
        async with (
            self._registry.reading() as db,
            db.execute("SELECT coalesce(max(seq), 0) FROM ocsp_responses") as cursor,
        ):
            row = await cursor.fetchone()
        return row[0] if row else 0

    async def ocsp_responses_since(self, seq: int) -> list[OCSPResponseRow]:
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_OCSP_COLUMNS} FROM ocsp_responses WHERE seq > ? ORDER BY seq", (seq,)
            ) as cursor,
        ):
            return [_ocsp_row(row) for row in await cursor.fetchall()]

    async def ocsp_response(self, serial: str) -> OCSPResponseRow | None:
        """The stored response of one certificate (a worker's index does not hold it)."""
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_OCSP_COLUMNS} FROM ocsp_responses WHERE serial = ?", (serial,)
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return _ocsp_row(row) if row else None

    async def ocsp_responses_after(self, serial: str, limit: int) -> list[OCSPResponseRow]:
        """Up to `limit` stored responses in serial order after `serial` (a page of the
        OCSP index file: keyset paging walks the primary key, no rescan)."""
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_OCSP_COLUMNS} FROM ocsp_responses WHERE serial > ?"
                " ORDER BY serial LIMIT ?",
                (serial, limit),
            ) as cursor,
        ):
            return [_ocsp_row(row) for row in await cursor.fetchall()]

    def listen_for_ocsp_responses(self, wake: Callable[[], None]) -> Listener | None:
        """Call `wake` soon after new or changed responses commit, once started; None where
        the engine cannot tell (SQLite: poll `ocsp_responses_since`)."""
        return self._registry.engine.listen(OCSP_CHANNEL, wake, self._registry.listen_metrics)

    async def ocsp_responses_due(
        self, generation_id: int, before: datetime, limit: int
    ) -> list[OCSPResponseRow]:
        """Responses of the generation whose nextUpdate comes before `before`, soonest
        first (one seek of ocsp_responses_by_generation_next_update, migration 0028)."""
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_OCSP_COLUMNS} FROM ocsp_responses"
                " WHERE generation_id = ? AND next_update < ? ORDER BY next_update LIMIT ?",
                (generation_id, to_text(before), limit),
            ) as cursor,
        ):
            return [_ocsp_row(row) for row in await cursor.fetchall()]

    async def certificates_without_response(
        self, after: str, limit: int
    ) -> tuple[list[Unanswered], str | None]:
        """The next `limit` certificates in serial order after `after`, and of them the
        issued ones that have no pre-signed response yet, with what their response states;
        also the last serial looked at (None: no certificate after `after`). Each call
        walks `limit` rows of the primary keys, whatever is missing, so that no query holds
        the registry connection for long (one query a page, not two a certificate)."""
        async with self._registry.reading() as db:
            async with db.execute(
                "SELECT c.serial, c.generation_id, c.status,"
                " c.state = 'issued' AND c.generation_id IS NOT NULL AND o.serial IS NULL"
                " FROM (SELECT serial, generation_id, status, state FROM certificates"
                "  WHERE serial > ? ORDER BY serial LIMIT ?) c"
                " LEFT JOIN ocsp_responses o ON o.serial = c.serial",
                (after, limit),
            ) as cursor:
                rows = await cursor.fetchall()
            revoked = [row[0] for row in rows if row[3] and row[2] != "good"]
            revocations: dict[str, tuple[str, str | None]] = {}
            if revoked:  # the change that revoked or held each, the last one winning
                async with db.execute(
                    "SELECT serial, effective_at, reason FROM status_changes WHERE serial IN"
                    f" ({', '.join('?' * len(revoked))}) AND change IN ('revoke', 'hold')"
                    " ORDER BY id",
                    revoked,
                ) as cursor:
                    for serial, at, reason in await cursor.fetchall():
                        revocations[serial] = (at, reason)
        missing = []
        for row in rows:
            if not row[3]:
                continue
            at, reason = revocations.get(row[0], (None, None))
            missing.append(
                Unanswered(
                    serial=row[0],
                    generation_id=row[1],
                    status=CertificateStatus(row[2]),
                    revoked_at=from_text(at) if at else None,
                    reason=reason,
                )
            )
        return missing, (max(row[0] for row in rows) if rows else None)

    async def revocation_of(self, serial: str) -> tuple[datetime, str | None] | None:
        """(time, reason name) of the change that revoked or held the certificate, if any."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT effective_at, reason FROM status_changes WHERE serial = ?"
                " AND change IN ('revoke', 'hold') ORDER BY id DESC LIMIT 1",
                (serial,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return (from_text(row[0]), row[1]) if row else None

    # -- who has applied what --------------------------------------------------------------

    async def set_watermark(self, node: str, seq: int, at: datetime) -> None:
        """Record how far `node` got, and forget the processes silent for a day: a process
        killed on another machine never drops its own row, and restarts would otherwise
        grow the table without bound (waiters ignore them after seconds anyway).

        The write joins the process's group commit (server/registry/group_commit.py), as
        blind writes: a process's feed records its watermark after each change it applies,
        on PostgreSQL each time a commit notifies it, and a write transaction of its own
        each time would take the registry's write lock as often as the issuances do. Never
        refused as busy: a process has one watermark write at a time."""

        async def mark(db: Connection) -> None:
            await blind_write(
                db,
                "INSERT INTO status_watermarks (node, seq, seen_at) VALUES (?, ?, ?)"
                " ON CONFLICT (node) DO UPDATE SET seq = excluded.seq, seen_at = excluded.seen_at",
                (node, seq, to_text(at)),
            )
            await blind_write(
                db,
                "DELETE FROM status_watermarks WHERE seen_at < ?",
                (to_text(at - WATERMARK_KEPT),),
            )

        await self._registry.writes.run(mark, follow_up=True)

    async def drop_watermark(self, node: str) -> None:
        async with self._registry.transaction() as db:
            await db.execute("DELETE FROM status_watermarks WHERE node = ?", (node,))

    async def nodes_behind(self, seq: int, alive_since: datetime) -> list[str]:
        """Live processes (seen since `alive_since`) that have not applied `seq` yet."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT node FROM status_watermarks WHERE seq < ? AND seen_at >= ?",
                (seq, to_text(alive_since)),
            ) as cursor,
        ):
            return [row[0] for row in await cursor.fetchall()]

    # -- CRLs ------------------------------------------------------------------------------

    async def crl_snapshot(
        self, generation_id: int, expired_before: datetime
    ) -> tuple[int, list[tuple[str, bytes]]]:
        """The last status change id and, as of exactly that change (one read transaction,
        so that a CRL's `base_change_id` says which changes it reflects), the CRL entries of
        the generation's revoked and held certificates, leaving out those that expired
        before `expired_before` (RFC 5280 5.1.2.6 allows removing them); and the CA's own
        certificates a compromise made by this generation revoked (ca_revocations, K4),
        listed for as long as the generation publishes."""
        async with self._registry.snapshot() as db:
            async with db.execute("SELECT coalesce(max(id), 0) FROM status_changes") as cursor:
                row = await cursor.fetchone()
            async with db.execute(
                "SELECT serial, crl_entry FROM certificates WHERE generation_id = ?"
                " AND crl_entry IS NOT NULL AND not_after >= ?"
                " UNION ALL SELECT serial, crl_entry FROM ca_revocations"
                " WHERE listed_by_generation_id = ?",
                (generation_id, to_text(expired_before), generation_id),
            ) as cursor:
                entries = [(entry[0], entry[1]) for entry in await cursor.fetchall()]
        return (row[0] if row else 0), entries

    async def last_change_id(self) -> int:
        async with (
            self._registry.reading() as db,
            db.execute("SELECT coalesce(max(id), 0) FROM status_changes") as cursor,
        ):
            row = await cursor.fetchone()
        return row[0] if row else 0

    async def changes_after(self, base: CRLRow) -> list[StatusDelta]:
        """Certificates of the base full CRL's generation whose status changed after it,
        with their status now and whether the base or a later CRL listed them (RFC 5280
        5.2.4: a resumed one then needs removeFromCRL in a delta): revoked or held at the
        base, or held after it while a CRL was made (a CRL reflects the changes up to its
        `base_change_id`; every shard is made in the same rebuild, so the base's shard
        stands for all)."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT c.serial, c.status, c.crl_entry,"
                " (SELECT s.change FROM status_changes s WHERE s.serial = c.serial AND s.id <= ?"
                "  ORDER BY s.id DESC LIMIT 1),"
                " EXISTS (SELECT 1 FROM status_changes h WHERE h.serial = c.serial"
                "  AND h.id > ? AND h.change = 'hold' AND EXISTS (SELECT 1 FROM crls l"
                "   WHERE l.generation_id = ? AND l.shard = ? AND l.number >= ?"
                "   AND l.base_change_id >= h.id AND l.base_change_id < coalesce("
                "    (SELECT min(n.id) FROM status_changes n WHERE n.serial = h.serial"
                "     AND n.id > h.id), l.base_change_id + 1)))"
                " FROM certificates c WHERE c.generation_id = ? AND c.serial IN"
                " (SELECT serial FROM status_changes WHERE id > ? AND change != 'issue')",
                (base.base_change_id, base.base_change_id, base.generation_id, base.shard,
                 base.number, base.generation_id, base.base_change_id),
            ) as cursor,
        ):  # fmt: skip
            rows = await cursor.fetchall()
        return [
            StatusDelta(
                serial=row[0],
                status=CertificateStatus(row[1]),
                crl_entry=row[2],
                listed_since_base=row[3] in ("revoke", "hold") or bool(row[4]),
            )
            for row in rows
        ]

    async def allocate_crl_numbers(self, generation_id: int, count: int) -> int:
        """Reserve `count` consecutive cRLNumbers (RFC 5280 5.2.3: monotonically
        increasing, shared by full and delta CRLs); returns the first. They are taken above
        the highest number of every generation of the CA: its generations share one issuer
        name, and no two of its CRLs may carry the same number (a new generation's sequence
        continues the CA's)."""
        async with self._registry.transaction() as db:
            async with db.execute(
                "SELECT max(n.last_number) FROM crl_numbers n"
                " JOIN ca_generations g ON g.id = n.generation_id"
                " JOIN ca_generations mine ON mine.ca_name = g.ca_name WHERE mine.id = ?",
                (generation_id,),
            ) as cursor:
                row = await cursor.fetchone()
            first = (row[0] if row and row[0] is not None else 0) + 1
            await db.execute(
                "INSERT INTO crl_numbers (generation_id, last_number) VALUES (?, ?)"
                " ON CONFLICT (generation_id) DO UPDATE SET last_number = excluded.last_number",
                (generation_id, first + count - 1),
            )
            return first

    async def store_crls(self, rows: Sequence[CRLRow]) -> None:
        async with self._registry.transaction() as db:
            await db.executemany(
                f"INSERT INTO crls ({_CRL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.generation_id, r.shard, r.number, r.delta_base, r.base_change_id,
                     to_text(r.this_update), to_text(r.next_update), r.der)
                    for r in rows
                ],
            )  # fmt: skip

    async def latest_crl_number(self, generation_id: int, shard: int, delta: bool) -> int | None:
        kind = "delta_base IS NOT NULL" if delta else "delta_base IS NULL"
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT max(number) FROM crls WHERE generation_id = ? AND shard = ? AND {kind}",
                (generation_id, shard),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return row[0] if row else None

    async def latest_crl(self, generation_id: int, shard: int, delta: bool) -> CRLRow | None:
        kind = "delta_base IS NOT NULL" if delta else "delta_base IS NULL"
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_CRL_COLUMNS} FROM crls WHERE generation_id = ? AND shard = ? AND {kind}"
                " ORDER BY number DESC LIMIT 1",
                (generation_id, shard),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return _crl_row(row) if row else None

    async def delta_base(
        self, generation_id: int, shard: int, made_before: datetime
    ) -> CRLRow | None:
        """The full CRL that delta CRLs refer to: the newest one made before `made_before`,
        or the oldest one when all are younger."""
        select = (
            f"SELECT {_CRL_COLUMNS} FROM crls WHERE generation_id = ? AND shard = ?"
            " AND delta_base IS NULL"
        )
        async with self._registry.reading() as db:
            async with db.execute(
                select + " AND this_update <= ? ORDER BY number DESC LIMIT 1",
                (generation_id, shard, to_text(made_before)),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                async with db.execute(
                    select + " ORDER BY number LIMIT 1", (generation_id, shard)
                ) as cursor:
                    row = await cursor.fetchone()
        return _crl_row(row) if row else None


def _ocsp_row(row: Sequence) -> OCSPResponseRow:
    return OCSPResponseRow(
        serial=row[0],
        generation_id=row[1],
        status=CertificateStatus(row[2]),
        revoked_at=from_text(row[3]) if row[3] else None,
        reason=row[4],
        this_update=from_text(row[5]),
        next_update=from_text(row[6]),
        der=row[7],
        seq=row[8],
    )


def _crl_row(row: Sequence) -> CRLRow:
    return CRLRow(
        generation_id=row[0],
        shard=row[1],
        number=row[2],
        delta_base=row[3],
        base_change_id=row[4],
        this_update=from_text(row[5]),
        next_update=from_text(row[6]),
        der=row[7],
    )
