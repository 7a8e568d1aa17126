"""What the retention duty removes from the registry (C1; server/node/retention.py), each kind
in one transaction together with its audit entry, so that a crash leaves it whole or
untouched. The candidates are read first, outside the write transaction, so that looking
through every subscriber or application never holds other writers back (SQLite has one
writer); the writes name only them and state the rule again, so nothing recorded between
the read and the write (a new certificate, a new application) is overtaken, and a second
run finds nothing left to do.

When something ended: a certificate when it expired (notAfter) or, when revoked, at its
revocation; an application when it was rejected, when its approval's code went unused
(state approved, decided), or, when issued, when its certificate ended. A submitted
application never ends by itself: an operator decides it.

- Attachments (R1): the attachment records (the documents' names and SHA-256; the CA never
  holds the documents) of an application that ended before the cutoff are deleted, and the
  application marked `attachments_removed_at`.
- Subscribers' personal data: a subscriber registered before the cutoff, all of whose
  certificates and applications ended before it, and with no identity record, notice
  acknowledgement or enrollment code for them newer than it, keeps its row (its id, kind,
  country, who registered it and when), which the certificates, applications and audit
  entries name; its names, identifiers, e-mail and address are erased and `erased_at` set.
  Its identity records (passport or other document, the proxy and power of attorney) are
  deleted, and so is what its applications and enrollment codes repeat of it: the subject,
  the request, the proxy who received the certificate, the alternative names a code
  allows (e-mail addresses, DNS names), and the operator's free-text reason of a
  rejection, which may name the person. Its certificates are no longer found by the
  holder's name on the public page (their `certificate_holder_names` rows are deleted,
  migration 0030); they are the registry of certificates and stay whole, found by serial
  or key hash (S5, S6), as does the audit trail (D3). What is added for a subscriber
  (an application, a code, an identity record, an acknowledgement) is refused in its own
  write transaction once the subscriber is erased (server/registry/subscriber_store.py
  `refuse_if_erased_in`), so nothing is added after an erasure and kept for ever.
- Confirmation cases: their files live in the home; the registry only records
  (`files_removed_at`) that they were removed, after the duty removed them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from server.registry.records import AuditEvent, to_text

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry

# A certificate `c` that ended at or before the cutoff (the parameter named first).
_CERTIFICATE_ENDED = (
    "(c.not_after <= ? OR (c.status = 'revoked' AND EXISTS (SELECT 1 FROM status_changes x"
    " WHERE x.serial = c.serial AND x.change = 'revoke' AND x.effective_at <= ?)))"
)
# An application `a` that ended at or before the cutoff (three parameters); never NULL,
# which NOT would turn into "not live" too.
_APPLICATION_ENDED = (
    "((a.state IN ('rejected', 'approved') AND a.decided_at IS NOT NULL"
    " AND a.decided_at <= ?) OR (a.state = 'issued'"
    " AND EXISTS (SELECT 1 FROM certificates c WHERE c.serial = a.serial"
    f" AND {_CERTIFICATE_ENDED})))"
)
_ATTACHMENTS_DUE = (
    "a.attachments_removed_at IS NULL AND EXISTS (SELECT 1 FROM application_attachments t"
    f" WHERE t.application_id = a.id) AND {_APPLICATION_ENDED}"
)
# A subscriber `s` whose personal data are due for erasure (nine parameters).
_SUBSCRIBER_DUE = (
    "s.erased_at IS NULL AND s.registered_at <= ?"
    " AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.subscriber_id = s.id"
    f"  AND NOT {_CERTIFICATE_ENDED})"
    " AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.subscriber_id = s.id"
    f"  AND NOT {_APPLICATION_ENDED})"
    " AND NOT EXISTS (SELECT 1 FROM identity_records i WHERE i.subscriber_id = s.id"
    "  AND i.verified_at > ?)"
    " AND NOT EXISTS (SELECT 1 FROM notice_acknowledgements n WHERE n.subscriber_id = s.id"
    "  AND n.acknowledged_at > ?)"
    " AND NOT EXISTS (SELECT 1 FROM enrollment_credentials e WHERE e.subscriber_id = s.id"
    "  AND e.expires_at > ?)"
)
_CASE_FILES_DUE = "state = 'answered' AND files_removed_at IS NULL AND files_until <= ?"

# the audit entry of a removal, made from how many were removed
Audit = Callable[[int], AuditEvent]
_CHUNK = 500  # ids a statement names


def _cutoffs(cutoff: datetime, count: int) -> tuple[str, ...]:
    return (to_text(cutoff),) * count


def _chunks(ids: list[str]) -> Iterator[tuple[list[str], str]]:
    """The ids a statement at a time (within both engines' limits on parameters), each with
    its placeholders."""
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        yield chunk, ", ".join("?" * len(chunk))


class RetentionStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def attachments_due(self, cutoff: datetime) -> int:
        """How many attachment records `remove_attachments(cutoff, ...)` would remove."""
        return await self._count(
            "SELECT COUNT(*) FROM application_attachments WHERE application_id IN"
            f" (SELECT a.id FROM applications a WHERE {_ATTACHMENTS_DUE})",
            _cutoffs(cutoff, 3),
        )

    async def remove_attachments(self, cutoff: datetime, at: datetime, audit: Audit) -> int:
        """Delete the attachment records of the applications that ended at or before
        `cutoff`, mark those applications, and append `audit(count)` when there were any;
        how many records were deleted."""
        due = await self._ids(f"SELECT a.id FROM applications a WHERE {_ATTACHMENTS_DUE}",
                              _cutoffs(cutoff, 3))  # fmt: skip
        if not due:
            return 0
        deleted = 0
        async with self._registry.transaction() as db:
            for chunk, marks in _chunks(due):
                await db.execute(
                    "UPDATE applications SET attachments_removed_at = ? WHERE id IN"
                    f" (SELECT a.id FROM applications a WHERE a.id IN ({marks})"
                    f" AND {_ATTACHMENTS_DUE})",
                    (to_text(at), *chunk, *_cutoffs(cutoff, 3)),
                )
                cursor = await db.execute(
                    "DELETE FROM application_attachments WHERE application_id IN (SELECT id"
                    f" FROM applications WHERE id IN ({marks}) AND attachments_removed_at = ?)",
                    (*chunk, to_text(at)),
                )
                deleted += cursor.rowcount
            return await self._audited(db, deleted, audit, at)

    async def subscribers_due(self, cutoff: datetime) -> int:
        """How many subscribers `erase_subscribers(cutoff, ...)` would erase."""
        return await self._count(
            f"SELECT COUNT(*) FROM subscribers s WHERE {_SUBSCRIBER_DUE}", _cutoffs(cutoff, 9)
        )

    async def erase_subscribers(self, cutoff: datetime, at: datetime, audit: Audit) -> int:
        """Erase the personal data of the subscribers due at `cutoff` (see the module), and
        append `audit(count)` when there were any; how many subscribers were erased."""
        due = await self._ids(f"SELECT s.id FROM subscribers s WHERE {_SUBSCRIBER_DUE}",
                              _cutoffs(cutoff, 9))  # fmt: skip
        if not due:
            return 0
        erased = 0
        async with self._registry.transaction() as db:
            for chunk, marks in _chunks(due):
                cursor = await db.execute(
                    "UPDATE subscribers SET name = '', surname = NULL, given_names = NULL,"
                    " email = NULL, snils = NULL, inn = NULL, ogrn = NULL, ogrnip = NULL,"
                    " region = NULL, locality = NULL, street = NULL, erased_at = ? WHERE id IN"
                    f" (SELECT s.id FROM subscribers s WHERE s.id IN ({marks})"
                    f" AND {_SUBSCRIBER_DUE})",
                    (to_text(at), *chunk, *_cutoffs(cutoff, 9)),
                )
                erased += cursor.rowcount
                # what repeats the data of those erased now
                now_erased = f"SELECT id FROM subscribers WHERE id IN ({marks}) AND erased_at = ?"
                parameters = (*chunk, to_text(at))
                await db.execute(
                    f"DELETE FROM identity_records WHERE subscriber_id IN ({now_erased})",
                    parameters,
                )
                await db.execute(
                    "UPDATE applications SET subject = '', request_der = NULL,"
                    " request_format = NULL, received_proxy = NULL, received_poa = NULL,"
                    f" reason = NULL WHERE subscriber_id IN ({now_erased})",
                    parameters,
                )
                await db.execute(
                    "UPDATE enrollment_credentials SET subject = '', alt_names = '{}'"
                    f" WHERE subscriber_id IN ({now_erased})",
                    parameters,
                )
                await db.execute(
                    "DELETE FROM certificate_holder_names WHERE serial IN (SELECT serial"
                    f" FROM certificates WHERE subscriber_id IN ({now_erased}))",
                    parameters,
                )
            return await self._audited(db, erased, audit, at)

    async def case_files_due_count(self, now: datetime) -> int:
        """How many answered confirmation cases `case_files_due(now, ...)` would name."""
        return await self._count(
            f"SELECT COUNT(*) FROM confirmation_cases WHERE {_CASE_FILES_DUE}", (to_text(now),)
        )

    async def case_files_due(self, now: datetime, limit: int) -> list[str]:
        """The answered confirmation cases whose files are kept no longer at `now` and not
        yet recorded removed, earliest first."""
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT id FROM confirmation_cases WHERE {_CASE_FILES_DUE}"
                " ORDER BY files_until, id LIMIT ?",
                (to_text(now), limit),
            ) as cursor,
        ):
            return [row[0] async for row in cursor]

    async def case_files_removed(self, case_ids: list[str], now: datetime, audit: Audit) -> int:
        """Record that the files of these cases are removed (those not recorded already),
        and append `audit(count)` when there were any; how many cases were recorded."""
        if not case_ids:
            return 0
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE confirmation_cases SET files_removed_at = ?"
                f" WHERE id IN ({', '.join('?' * len(case_ids))}) AND {_CASE_FILES_DUE}",
                (to_text(now), *case_ids, to_text(now)),
            )
            return await self._audited(db, cursor.rowcount, audit, now)

    async def case_files_recorded_removed(self, case_ids: list[str]) -> list[str]:
        """Those of `case_ids` whose files are recorded removed."""
        if not case_ids:
            return []
        db: Connection
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT id FROM confirmation_cases WHERE files_removed_at IS NOT NULL"
                f" AND id IN ({', '.join('?' * len(case_ids))})",
                case_ids,
            ) as cursor,
        ):
            return [row[0] async for row in cursor]

    async def _audited(self, db: Connection, count: int, audit: Audit, at: datetime) -> int:
        if count:
            await self._registry.append_audit_in(db, audit(count), at)
        return count

    async def _ids(self, sql: str, parameters: tuple[object, ...]) -> list[str]:
        db: Connection
        async with self._registry.reading() as db, db.execute(sql, parameters) as cursor:
            return [row[0] async for row in cursor]

    async def _count(self, sql: str, parameters: tuple[object, ...]) -> int:
        db: Connection
        async with self._registry.reading() as db, db.execute(sql, parameters) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
