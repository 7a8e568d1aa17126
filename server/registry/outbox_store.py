"""The registry's reporting outbox (migration 0009): events for the state identification
system (D6, D7), written in the same transaction as the change they report.

A module that makes a reportable change adds its event with `add_event_in` inside its own
`registry.transaction()`, so the event lands exactly when the change does. The delivery
loop (server/outbox.py) reads undelivered events in `seq` order and marks them delivered
only after its sender has taken them.

Event kinds and their payloads (canonical JSON, times as `YYYY-MM-DDTHH:MM:SSZ`):
- `certificate.issued` (`certificate_issued_in`): serial (lower-case hex, the unique
  number), not_before, not_after, profile, subject (the DN as text) and issuer: the CA's
  name, its certificate's subject and serial, and its key generation (ca_generations.id);
- `subscriber.registered` (`subscriber_registered_payload`): subscriber_id and kind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from server.registry.audit_chain import canonical_details
from server.registry.group_commit import SharedTransaction, blind_write
from server.registry.records import OutboxEvent, from_text, to_text

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry

CERTIFICATE_ISSUED = "certificate.issued"
SUBSCRIBER_REGISTERED = "subscriber.registered"

_ERROR_LENGTH = 500  # of last_error: enough to tell what went wrong


async def add_event_in(db: Connection, kind: str, payload: dict[str, object], at: datetime) -> None:
    """Add an event inside the caller's registry transaction: it is recorded (and later
    delivered) exactly when that transaction commits."""
    await blind_write(
        db,
        "INSERT INTO outbox_events (kind, payload, created_at) VALUES (?, ?, ?)",
        (kind, canonical_details(payload), to_text(at)),
    )


def subscriber_registered_payload(subscriber_id: str, kind: str) -> dict[str, object]:
    """The `subscriber.registered` payload: the id the registry knows the holder by and the
    subscriber's kind (individual, legal_entity, sole_proprietor). Personal data stay in
    the subscriber tables (C1); a sender reads what its receiver needs by the id."""
    return {"subscriber_id": subscriber_id, "kind": kind}


# What `certificate_issued_in` needs of the certificate: the statement that records it
# returns them (RETURNING), so reporting it reads nothing more of it.
ISSUED_COLUMNS = "serial, not_before, not_after, profile, subject, generation_id, subscriber_id"


async def certificate_issued_in(db: Connection, certificate: Sequence[Any], at: datetime) -> None:
    """Add the `certificate.issued` event of a certificate issued in the caller's
    transaction (`certificate`: its ISSUED_COLUMNS), with its issuing CA read from the same
    transaction. A certificate no CA generation issued (a self-signed CA certificate) is
    not reported."""
    issuer = await _issuer_in(db, certificate[5])
    if issuer is None:
        return
    payload: dict[str, object] = {
        "serial": certificate[0],
        "not_before": certificate[1],
        "not_after": certificate[2],
        "profile": certificate[3],
        "subject": certificate[4],
        "issuer": {"ca": issuer[0], "subject": issuer[1], "serial": issuer[2],
                   "generation": issuer[3]},
        "subscriber_id": certificate[6],  # the registered holder (D7), None when there is none
    }  # fmt: skip
    await add_event_in(db, CERTIFICATE_ISSUED, payload, at)


async def _issuer_in(db: Connection, generation_id: int | None) -> Sequence[Any] | None:
    """(CA name, its certificate's subject and serial, generation id) of a CA generation;
    None without one. A group's transaction reads each generation once: nothing in a
    group changes one (group_commit.py), and every member of a group reports one."""
    if generation_id is None:
        return None
    shared = db.heads if isinstance(db, SharedTransaction) else None
    key = f"issuer {generation_id}"
    if shared is not None and key in shared:
        issuer: Sequence[Any] | None = shared[key]
        return issuer
    cursor = await db.execute(
        "SELECT g.ca_name, ca.subject, g.serial, g.id FROM ca_generations g"
        " JOIN certificates ca ON ca.serial = g.serial WHERE g.id = ?",
        (generation_id,),
    )
    # Read to its end: no cursor left to close, one round trip less.
    issuer = next(iter(await cursor.fetchall()), None)
    if shared is not None:
        shared[key] = issuer
    return issuer


class OutboxStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def undelivered(self, limit: int) -> list[OutboxEvent]:
        """The oldest undelivered events, in order."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT seq, kind, payload, created_at, attempts, last_error FROM outbox_events"
                " WHERE delivered_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [
            OutboxEvent(
                seq=row[0],
                kind=row[1],
                payload=json.loads(row[2]),
                created_at=from_text(row[3]),
                attempts=row[4],
                last_error=row[5],
            )
            for row in rows
        ]

    async def count_undelivered(self) -> int:
        async with (
            self._registry.reading() as db,
            db.execute("SELECT count(*) FROM outbox_events WHERE delivered_at IS NULL") as cursor,
        ):
            row = await cursor.fetchone()
        return row[0] if row else 0

    async def mark_delivered(self, seqs: Sequence[int], at: datetime) -> None:
        """The sender has taken these events: they are not handed over again."""
        async with self._registry.transaction() as db:
            await db.executemany(
                "UPDATE outbox_events SET delivered_at = ?, attempts = attempts + 1"
                " WHERE seq = ? AND delivered_at IS NULL",
                [(to_text(at), seq) for seq in seqs],
            )

    async def record_failure(self, seqs: Sequence[int], error: str) -> None:
        """A failed attempt to deliver these events: counted, with what went wrong."""
        async with self._registry.transaction() as db:
            await db.executemany(
                "UPDATE outbox_events SET attempts = attempts + 1, last_error = ?"
                " WHERE seq = ? AND delivered_at IS NULL",
                [(error[:_ERROR_LENGTH], seq) for seq in seqs],
            )
