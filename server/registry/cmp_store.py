"""The registry's CMP transactions (migrations 0006, 0013, 0014, 0015)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from server.registry.records import CMPOpening, CMPTransaction, from_text, to_text

if TYPE_CHECKING:
    from server.registry.engine import Connection
    from server.registry.registry import Registry


_COLUMNS = (
    "transaction_id, requester, state, our_nonce, serial, cert_req_id, confirm_by,"
    " reply_kind, implicit_confirm, application_id, their_nonce, protection"
)


class CMPStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def open(self, opening: CMPOpening) -> bool:
        """Start a transaction in a transaction of its own (a request that may wait for
        approval; an issuance opens it with its intent, server/registry/intent_store.py);
        False when the transactionID was used before (RFC 4210 5.1.1: transactionIdInUse),
        whatever became of it. The transaction is shared with concurrent writes
        (server/registry/group_commit.py): RegistryBusy when too many wait."""

        async def open_in(db: Connection) -> bool:
            return await insert_opening_in(db, opening, "open")

        return await self._registry.writes.run(open_in)

    async def refused(self, opening: CMPOpening) -> None:
        """A request refused before its transaction was recorded with an intent: its
        transactionID stays used (done), and nothing else is kept. Nothing changes when the
        transaction is recorded already (its intent settled it, or another request holds
        the id). Shared with concurrent writes, and never refused as busy: it settles an
        admitted request."""

        async def refused_in(db: Connection) -> None:
            await insert_opening_in(db, opening, "done")

        await self._registry.writes.run(refused_in, follow_up=True)

    async def certified_before(self, request_sha256: bytes, transaction_id: bytes) -> bool:
        """Whether another transaction than `transaction_id` asked the very same request
        and a certificate was issued for it."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT 1 FROM cmp_transactions WHERE request_sha256 = ?"
                " AND transaction_id != ? AND serial IS NOT NULL LIMIT 1",
                (request_sha256, transaction_id),
            ) as cursor,
        ):
            return await cursor.fetchone() is not None

    async def awaiting_confirmation(self, requester: str, reply_kind: str, at: datetime) -> bool:
        """Whether a certificate `requester` was answered with in a `reply_kind` still awaits
        certConf at `at` (its deadline not yet passed)."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT 1 FROM cmp_transactions WHERE state = 'awaiting_confirm'"
                " AND confirm_by > ? AND requester = ? AND reply_kind = ? LIMIT 1",
                (to_text(at), requester, reply_kind),
            ) as cursor,
        ):
            return await cursor.fetchone() is not None

    async def discard(self, transaction_id: bytes) -> None:
        """The request failed before anything was issued: the transaction leaves no trace
        but its id, which stays used. One whose certificate was recorded (it failed after
        that) keeps waiting for certConf. Shared with concurrent writes, and never
        refused as busy: the transaction was admitted when it was opened."""

        async def discard_in(db: Connection) -> None:
            await db.execute(
                "UPDATE cmp_transactions SET state = 'done' WHERE transaction_id = ?"
                " AND state = 'open'",
                (transaction_id,),
            )

        await self._registry.writes.run(discard_in, follow_up=True)

    async def issued(
        self,
        transaction_id: bytes,
        serial: str,
        cert_req_id: int,
        our_nonce: bytes,
        confirm_by: datetime | None,
    ) -> None:
        """A certificate went out: done with implicit confirmation, else awaiting certConf."""
        state = "done" if confirm_by is None else "awaiting_confirm"
        await self._set(transaction_id, state, our_nonce, serial, cert_req_id, confirm_by)

    async def wait(
        self,
        transaction_id: bytes,
        application_id: str,
        reply_kind: str,
        cert_req_id: int,
        implicit_confirm: bool,
        our_nonce: bytes,
    ) -> None:
        """The request became an application: the client polls (RFC 9483 4.4)."""

        async def write(db: Connection) -> None:
            await db.execute(
                "UPDATE cmp_transactions SET state = 'waiting', application_id = ?,"
                " reply_kind = ?, cert_req_id = ?, implicit_confirm = ?, our_nonce = ?"
                " WHERE transaction_id = ?",
                (application_id, reply_kind, cert_req_id, int(implicit_confirm), our_nonce,
                 transaction_id),
            )  # fmt: skip

        await self._registry.writes.run(write, follow_up=True)

    async def answered(self, transaction_id: bytes, our_nonce: bytes) -> None:
        """Another answer went out (pollRep): its senderNonce is the next recipNonce."""

        async def write(db: Connection) -> None:
            await db.execute(
                "UPDATE cmp_transactions SET our_nonce = ? WHERE transaction_id = ?",
                (our_nonce, transaction_id),
            )

        await self._registry.writes.run(write, follow_up=True)

    async def received(self, transaction_id: bytes, their_nonce: bytes) -> None:
        """The client's senderNonce in a message of a transaction that goes on: the next
        message must bring another (RFC 9483 3.1)."""

        async def write(db: Connection) -> None:
            await db.execute(
                "UPDATE cmp_transactions SET their_nonce = ? WHERE transaction_id = ?",
                (their_nonce, transaction_id),
            )

        await self._registry.writes.run(write)

    async def get(self, transaction_id: bytes) -> CMPTransaction | None:
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_COLUMNS} FROM cmp_transactions WHERE transaction_id = ?",
                (transaction_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _transaction(row)

    async def finish(self, transaction_id: bytes, from_state: str, to_state: str) -> bool:
        """Move a transaction on, only from `from_state` (two certConfs cannot both win)."""

        async def write(db: Connection) -> bool:
            cursor = await db.execute(
                "UPDATE cmp_transactions SET state = ? WHERE transaction_id = ? AND state = ?",
                (to_state, transaction_id, from_state),
            )
            return cursor.rowcount == 1

        return await self._registry.writes.run(write)

    async def unconfirmed_before(self, at: datetime) -> list[CMPTransaction]:
        async with (
            self._registry.reading() as db,
            db.execute(
                f"SELECT {_COLUMNS} FROM cmp_transactions"
                " WHERE state = 'awaiting_confirm' AND confirm_by <= ?",
                (to_text(at),),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [_transaction(row) for row in rows]

    async def prune(self, before: datetime) -> int:
        """Forget the finished transactions (done, expired) begun before `before`; those
        still open, waiting or awaiting certConf stay, and so does one an issuance intent
        still holds (migration 0012; its intent settles it). Their transactionIDs are free
        again and their requests no longer duplicateCertReq (certified_before): `before`
        must lie further back than a request can be replayed
        (cmp.transaction_retention_days)."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM cmp_transactions WHERE state IN ('done', 'expired')"
                " AND created_at < ? AND transaction_id NOT IN (SELECT cmp_transaction_id"
                " FROM intent_holds WHERE cmp_transaction_id IS NOT NULL)",
                (to_text(before),),
            )
            return cursor.rowcount

    async def _set(
        self,
        transaction_id: bytes,
        state: str,
        our_nonce: bytes | None,
        serial: str | None,
        cert_req_id: int | None,
        confirm_by: datetime | None,
    ) -> None:
        async def write(db: Connection) -> None:
            await db.execute(
                "UPDATE cmp_transactions SET state = ?, our_nonce = ?, serial = ?,"
                " cert_req_id = ?, confirm_by = ? WHERE transaction_id = ?",
                (state, our_nonce, serial, cert_req_id,
                 to_text(confirm_by) if confirm_by else None, transaction_id),
            )  # fmt: skip

        await self._registry.writes.run(write, follow_up=True)


async def insert_opening_in(db: Connection, opening: CMPOpening, state: str) -> bool:
    """Insert the transaction's row in `state`, in the caller's transaction; False when
    its transactionID was used before."""
    cursor = await db.execute(
        "INSERT INTO cmp_transactions (transaction_id, requester, state, created_at,"
        " their_nonce, protection, reply_kind, request_sha256)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (opening.transaction_id, opening.requester, state, to_text(opening.at),
         opening.their_nonce, opening.protection, opening.reply_kind, opening.request_sha256),
    )  # fmt: skip
    return cursor.rowcount == 1


def _transaction(row: Sequence[Any]) -> CMPTransaction:
    return CMPTransaction(
        transaction_id=row[0],
        requester=row[1],
        state=row[2],
        our_nonce=row[3],
        serial=row[4],
        cert_req_id=row[5],
        confirm_by=from_text(row[6]) if row[6] else None,
        reply_kind=row[7],
        implicit_confirm=bool(row[8]),
        application_id=row[9],
        their_nonce=row[10],
        protection=row[11],
    )
