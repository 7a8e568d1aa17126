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
from typing import TYPE_CHECKING

from server.registry.audit_chain import canonical_details
from server.registry.group_commit import blind_write
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


async def certificate_issued_in(db: Connection, serial: str, at: datetime) -> None:
    """Add the `certificate.issued` event of the certificate `serial`, issued in the caller's
    transaction, with its issuing CA read from the same transaction. A certificate no CA
    generation issued (a self-signed CA certificate) is not reported."""
    cursor = await db.execute(
        "SELECT c.serial, c.not_before, c.not_after, c.profile, c.subject,"
        " g.ca_name, ca.subject, g.serial, g.id, c.subscriber_id"
        " FROM certificates c JOIN ca_generations g ON g.id = c.generation_id"
        " JOIN certificates ca ON ca.serial = g.serial WHERE c.serial = ?",
        (serial,),
    )
    # Read to its end: no cursor left to close, one round trip less on every issuance.
    row = next(iter(await cursor.fetchall()), None)
    if row is None:
        return
    payload: dict[str, object] = {
        "serial": row[0],
        "not_before": row[1],
        "not_after": row[2],
        "profile": row[3],
        "subject": row[4],
        "issuer": {"ca": row[5], "subject": row[6], "serial": row[7], "generation": row[8]},
        "subscriber_id": row[9],  # the registered holder (D7), None when there is none
    }
    await add_event_in(db, CERTIFICATE_ISSUED, payload, at)


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
