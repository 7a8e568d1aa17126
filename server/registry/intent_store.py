"""What open intents hold (migration 0012), taken, spent and given back inside the
registry's transactions (server/registry/registry.py).

The rules, which make a crash at any point leave nothing stuck:
- an enrollment credential is claimed, and an application taken for a decision, only in
  the transaction that records the intent holding it;
- the credential is spent and the application issued only in the transaction that records
  the certificate: the registry never holds a certificate whose credential can be used
  again;
- settling an intent as never issued (its request failed, or its owner is gone) deletes it
  and gives back what it held in one transaction: a held credential always has an open
  intent that will be settled.

An intent's owner process is recorded on its `certificates` row (migration 0017), so the
sweeper knows it whatever the intent holds; an intent that holds nothing writes no
intent_holds row (one that holds something names its owner there too, as intents recorded
before 0017 and by earlier versions do). Settling deletes the intent row and its holds
together, so an intent row still in state 'intent' is an intent not settled: recording its
certificate matches it or nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from server.errors import CAError, ErrorKind
from server.registry.cmp_store import insert_opening_in
from server.registry.group_commit import blind_write
from server.registry.records import (
    HoldRefused,
    IntentHolds,
    OpenIntent,
    StrandedClaim,
    TransactionIdInUse,
    from_text,
    to_text,
)

if TYPE_CHECKING:
    from server.registry.engine import Connection


async def take_holds_in(db: Connection, actor: str, holds: IntentHolds, at: datetime) -> None:
    """Take what an intent recorded in the caller's transaction holds, and open the CMP
    transaction it goes out in when that was not opened before (its transactionID claimed
    here, so a CMP issuance adds no transaction of its own). Raises HoldRefused, or
    TransactionIdInUse (the caller's transaction then rolls back, intent and all)."""
    opening = holds.cmp.opens if holds.cmp is not None else None
    if opening is not None and not await insert_opening_in(db, opening, "open"):
        raise TransactionIdInUse("this transactionID was used before")
    if holds.credential_id is not None:
        cursor = await db.execute(
            "UPDATE enrollment_credentials SET claimed_at = ? WHERE id = ?"
            " AND used_serial IS NULL AND claimed_at IS NULL AND expires_at > ?",
            (to_text(at), holds.credential_id, to_text(at)),
        )
        if cursor.rowcount != 1:
            raise HoldRefused("credential")
    if holds.application_id is not None:
        cursor = await db.execute(
            "UPDATE applications SET decided_by = ?, decided_at = ?"
            " WHERE id = ? AND state = 'submitted' AND decided_at IS NULL",
            (actor, to_text(at), holds.application_id),
        )
        if cursor.rowcount != 1:
            raise HoldRefused("application")


async def add_hold_in(
    db: Connection, serial: str, owner: str, holds: IntentHolds, at: datetime
) -> None:
    """Record what the intent `serial` (inserted in the caller's transaction) holds, and
    its owner as migration 0012 does; no row when it holds nothing."""
    if holds.empty:
        return
    await blind_write(
        db,
        "INSERT INTO intent_holds (serial, owner, credential_id, application_id,"
        " cmp_transaction_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
        (serial, owner, holds.credential_id, holds.application_id,
         holds.cmp.transaction_id if holds.cmp else None, to_text(at)),
    )  # fmt: skip


# Whether an intent that holds something still holds it: an expression over `certificates`
# that the statement recording its certificate returns, so the check costs no statement of
# its own. Settling deletes the holds with the intent, so this only refuses an intent whose
# holds row went some other way (a hand edit); an intent that holds nothing has no row.
STILL_HELD = "EXISTS (SELECT 1 FROM intent_holds h WHERE h.serial = certificates.serial)"


async def spend_holds_in(
    db: Connection, serial: str, holds: IntentHolds, at: datetime, held: bool
) -> list[tuple[str, str]]:
    """Spend what the intent held, in the caller's transaction that records its certificate
    `serial`; `held` is STILL_HELD as that transaction read it (not read, and not looked
    at, when `holds` holds nothing). Returns (action, target) of the audit entries the
    caller writes. Raises CAError(INTERNAL) when the intent no longer holds them (it was
    settled meanwhile): the caller's transaction then rolls back and the certificate never
    leaves the CA."""
    if holds.empty:
        return []
    if not held:
        raise CAError(ErrorKind.INTERNAL, f"the intent {serial} was settled meanwhile")
    # Blind (group_commit.py): the row is this intent's alone, and checked above.
    await blind_write(db, "DELETE FROM intent_holds WHERE serial = ?", (serial,))
    spent: list[tuple[str, str]] = []
    if holds.credential_id is not None:
        await _spend_credential_in(db, holds.credential_id, serial)
        spent.append(("credential.use", holds.credential_id))
    if holds.application_id is not None:
        await db.execute(
            "UPDATE applications SET state = 'issued', decided_at = ?, serial = ?"
            " WHERE id = ? AND state = 'submitted'",
            (to_text(at), serial, holds.application_id),
        )
        # The credential a protocol request came with is spent by its approval.
        await db.execute(
            "UPDATE enrollment_credentials SET used_serial = ?"
            " WHERE id = (SELECT credential_id FROM applications WHERE id = ?)",
            (serial, holds.application_id),
        )
        spent.append(("application.approve", holds.application_id))
    if holds.cmp is not None:
        confirm = holds.cmp.confirm_within
        await db.execute(
            "UPDATE cmp_transactions SET state = ?, our_nonce = ?, serial = ?,"
            " cert_req_id = ?, confirm_by = ? WHERE transaction_id = ?",
            ("done" if confirm is None else "awaiting_confirm", holds.cmp.our_nonce, serial,
             holds.cmp.cert_req_id, to_text(at + confirm) if confirm is not None else None,
             holds.cmp.transaction_id),
        )  # fmt: skip
    return spent


async def release_in(db: Connection, serial: str) -> OpenIntent | None:
    """Delete the open intent `serial` and give back what it held, in the caller's
    transaction; None when there is no such intent (completed or settled already)."""
    intent = next(iter(await open_intents_in(db, serial)), None)
    if intent is None:
        return None
    if intent.credential_id is not None:
        await db.execute(
            "UPDATE enrollment_credentials SET claimed_at = NULL"
            " WHERE id = ? AND used_serial IS NULL",
            (intent.credential_id,),
        )
    if intent.application_id is not None:
        await db.execute(
            "UPDATE applications SET decided_by = NULL, decided_at = NULL"
            " WHERE id = ? AND state = 'submitted'",
            (intent.application_id,),
        )
    # A CMP request that issued nothing leaves its transaction done, the id used.
    await db.execute(
        "UPDATE cmp_transactions SET state = 'done' WHERE state = 'open' AND transaction_id ="
        " (SELECT cmp_transaction_id FROM intent_holds WHERE serial = ?)",
        (serial,),
    )
    await db.execute("DELETE FROM intent_holds WHERE serial = ?", (serial,))
    await db.execute("DELETE FROM certificates WHERE serial = ? AND state = 'intent'", (serial,))
    return intent


async def open_intents_in(db: Connection, serial: str | None = None) -> list[OpenIntent]:
    """Every open intent (or the one of `serial`), oldest first. Its owner is on the intent
    (migration 0017) or, for an intent recorded before or by an earlier version, on its
    holds."""
    async with db.execute(
        _open_intents_sql(serial is not None), (serial,) if serial is not None else ()
    ) as cursor:
        rows = await cursor.fetchall()
    return [OpenIntent(row[0], from_text(row[1]), row[2], row[3], row[4]) for row in rows]


def _open_intents_sql(of_one_serial: bool) -> str:
    """Read through the index of open intents (migration 0018): the sweeper asks every
    round, and the certificates table holds every certificate ever issued."""
    where = "WHERE c.state = 'intent'" + (" AND c.serial = ?" if of_one_serial else "")
    return (
        "SELECT c.serial, c.created_at, COALESCE(c.intent_owner, h.owner), h.credential_id,"
        " h.application_id"
        f" FROM certificates c LEFT JOIN intent_holds h ON h.serial = c.serial {where}"
        " ORDER BY c.created_at, c.serial"
    )


# Read through the index of claimed, unused credentials (migration 0018), every round.
_STRANDED_CLAIMS = (
    "SELECT e.id, e.profile, e.subject, e.subscriber_id, e.claimed_at"
    " FROM enrollment_credentials e WHERE e.claimed_at IS NOT NULL AND e.claimed_at <= ?"
    " AND e.used_serial IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM intent_holds h WHERE h.credential_id = e.id)"
    " AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.credential_id = e.id)"
    " ORDER BY e.claimed_at, e.id"
)


async def stranded_claims_in(db: Connection, before: datetime) -> list[StrandedClaim]:
    """Credentials claimed before `before`, unused, that neither an open intent nor an
    application holds: left by a version that claimed a credential in a transaction of its
    own (before migration 0012). These rules never leave one."""
    async with db.execute(_STRANDED_CLAIMS, (to_text(before),)) as cursor:
        rows = await cursor.fetchall()
    return [StrandedClaim(row[0], row[1], row[2], row[3], from_text(row[4])) for row in rows]


async def unclaimed_certificates_in(
    db: Connection, profile: str, since: datetime
) -> list[tuple[str, str, str | None]]:
    """(serial, subject, subscriber id) of certificates of `profile` issued at or after
    `since` that no credential and no application was spent for, oldest first."""
    async with db.execute(
        "SELECT c.serial, c.subject, c.subscriber_id FROM certificates c"
        " WHERE c.state = 'issued' AND c.profile = ? AND c.created_at >= ?"
        " AND NOT EXISTS (SELECT 1 FROM enrollment_credentials u WHERE u.used_serial = c.serial)"
        " AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.serial = c.serial)"
        " ORDER BY c.created_at, c.serial",
        (profile, to_text(since)),
    ) as cursor:
        return [(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def settle_stranded_in(db: Connection, claim: StrandedClaim, serial: str | None) -> bool:
    """Spend the stranded credential for the certificate `serial` it issued, or (None) give
    it back, if it is still stranded and `serial` is still spent by nobody (two stranded
    credentials of one subject must not both be spent on one certificate: the next sweep
    looks again); in the caller's transaction."""
    if claim not in await stranded_claims_in(db, claim.claimed_at):
        return False
    if serial is not None:
        async with db.execute(
            "SELECT EXISTS (SELECT 1 FROM enrollment_credentials WHERE used_serial = ?)"
            " OR EXISTS (SELECT 1 FROM applications WHERE serial = ?)",
            (serial, serial),
        ) as cursor:
            row = await cursor.fetchone()
        if row is not None and row[0]:
            return False
    if serial is None:
        await db.execute(
            "UPDATE enrollment_credentials SET claimed_at = NULL WHERE id = ?", (claim.id,)
        )
        return True
    await _spend_credential_in(db, claim.id, serial)
    return True


async def _spend_credential_in(db: Connection, credential_id: str, serial: str) -> None:
    """Mark the credential used for the certificate `serial`; the application it was
    handed out for (approved) is issued with it. Both are blind writes (group_commit.py):
    nothing reads what they change, and no other work of a group touches those rows (the
    credential is held by this intent alone, intent_holds.credential_id being unique;
    no group's work changes an approved application)."""
    await blind_write(
        db,
        "UPDATE enrollment_credentials SET used_serial = ? WHERE id = ?",
        (serial, credential_id),
    )
    await blind_write(
        db,
        "UPDATE applications SET state = 'issued', serial = ? WHERE state = 'approved'"
        " AND id = (SELECT application_id FROM enrollment_credentials WHERE id = ?)",
        (serial, credential_id),
    )
