"""The registry: CA generations, certificates and their status history, and the audit trail,
with a store per capability (status, credentials, applications, ...).

Every state change runs in one transaction together with its audit entry: it lands whole
or not at all. The SQL is the same on every engine (server/registry/engine.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from hsm.backend import KeyAlgorithm, KeyRef
from server.errors import CAError, ErrorKind
from server.registry.account_store import AccountStore
from server.registry.application_store import ApplicationStore
from server.registry.audit_chain import (
    GENESIS,
    ChainReport,
    canonical_details,
    entry_hash,
    verify_chain,
)
from server.registry.ca_request_store import CARequestStore
from server.registry.cmp_store import CMPStore
from server.registry.confirmation_store import ConfirmationStore
from server.registry.credential_store import CredentialStore
from server.registry.engine import Connection, Engine, Row
from server.registry.group_commit import (
    MAX_GROUP,
    MAX_QUEUE,
    GroupCommit,
    SharedTransaction,
    blind_write,
)
from server.registry.holder_names import name_earlier_certificates, record_holder_names_in
from server.registry.intent_store import (
    STILL_HELD,
    add_hold_in,
    open_intents_in,
    release_in,
    settle_stranded_in,
    spend_holds_in,
    stranded_claims_in,
    take_holds_in,
    unclaimed_certificates_in,
)
from server.registry.lease_store import LeaseStore
from server.registry.listen_metrics import ListenMetrics
from server.registry.outbox_store import ISSUED_COLUMNS, OutboxStore, certificate_issued_in
from server.registry.records import (
    CERTIFICATE_COLUMNS,
    COMPROMISE_REFUSED,
    NO_HOLDS,
    AuditEvent,
    CAGeneration,
    CALink,
    CertificateIntent,
    CertificateRecord,
    CertificateStatus,
    ConfirmationSigner,
    IntentHolds,
    OCSPResponseRow,
    OpenIntent,
    Rollover,
    StatusBasis,
    StatusChange,
    StatusChangeKind,
    StrandedClaim,
    certificate_from_row,
    from_text,
    to_text,
)
from server.registry.retention_store import RetentionStore
from server.registry.retirement_store import RetirementStore
from server.registry.root_store import RootStore
from server.registry.search_store import SearchStore
from server.registry.sqlite_engine import SQLiteEngine
from server.registry.status_store import StatusStore, write_ocsp_rows
from server.registry.subscriber_store import SubscriberStore
from server.registry.write_metrics import WriteMetrics

ROLLOVER_REFUSED = (
    "generation {old} is no longer the active generation of CA {ca!r}: another rollover came"
    " first; nothing was recorded"
)
# The generations with their CA certificates and, in the same statement (one round trip
# per read: issuance reads the active generation at each request), the chain above those a
# parent CA outside certified: `_generations_of` folds the rows.
_GENERATIONS_WITH_CHAINS = (
    "SELECT g.id, g.ca_name, g.key_uri, g.key_algorithm, g.serial, g.key_id, g.not_before, "
    "g.not_after, g.state, c.der, NOT EXISTS (SELECT 1 FROM ca_generations o"
    " WHERE o.ca_name = g.ca_name AND o.id < g.id), h.der"
    " FROM ca_generations g JOIN certificates c ON c.serial = g.serial"
    " LEFT JOIN ca_chains h ON h.generation_id = g.id"
)


class Registry:
    """The registry's rules in SQL, run by an engine (server/registry/engine.py)."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_write_group: int = MAX_GROUP,
        max_write_queue: int = MAX_QUEUE,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        """`max_write_group`, `max_write_queue`: group commit's bounds (the settings
        registry.max_write_group, registry.max_write_queue); its metrics go to `metrics`."""
        self.engine = engine
        # issuance's writes, shared by concurrent requests
        self.writes = GroupCommit(
            engine,
            max_group=max_write_group,
            max_queue=max_write_queue,
            metrics=WriteMetrics(metrics),
        )
        self.listen_metrics = ListenMetrics(metrics)  # series from the first `listen`
        self.status = StatusStore(self)
        self.credentials = CredentialStore(self)
        self.applications = ApplicationStore(self)
        self.cmp = CMPStore(self)
        self.subscribers = SubscriberStore(self)
        self.search = SearchStore(self)
        self.outbox = OutboxStore(self)
        self.leases = LeaseStore(self)
        self.accounts = AccountStore(self)
        self.retirement = RetirementStore(self)
        self.roots = RootStore(self)
        self.ca_requests = CARequestStore(self)
        self.confirmation_cases = ConfirmationStore(self)
        self.retention = RetentionStore(self)

    @classmethod
    async def open(cls, path: Path) -> Registry:
        """Open (creating if needed) the registry file and apply pending migrations."""
        registry = cls(await SQLiteEngine.open(path))
        await name_earlier_certificates(registry.engine)
        return registry

    @classmethod
    async def open_url(
        cls,
        url: str,
        pool_size: int = 10,
        *,
        max_write_group: int = MAX_GROUP,
        max_write_queue: int = MAX_QUEUE,
        metrics: CollectorRegistry | None = None,
        migrate: bool = True,
    ) -> Registry:
        """Open the registry a URL names (config/registry_url.py), applying pending
        migrations (unless not to `migrate`: to look at a database before making it a
        registry): `sqlite:////absolute/path` (the path follows the third slash; relative
        paths are resolved against the CA home by the settings, never here) or
        `postgresql://...` (server/registry/postgres_engine.py, at most `pool_size`
        connections); the other arguments are the constructor's. Raises ValueError for any
        other URL, without repeating it."""
        engine: Engine
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if not path.is_absolute():
                raise ValueError("a registry URL's sqlite path must be absolute: sqlite:////<path>")
            engine = await SQLiteEngine.open(path, migrate=migrate)
        elif url.startswith(("postgresql://", "postgres://")):
            from server.registry.postgres_engine import PostgresEngine

            engine = await PostgresEngine.open(url, pool_size=pool_size, migrate=migrate)
        else:
            raise ValueError("a registry URL starts with sqlite:/// or postgresql://")
        registry = cls(
            engine, max_write_group=max_write_group, max_write_queue=max_write_queue,
            metrics=metrics,
        )  # fmt: skip
        if migrate:  # once after migration 0030, then a read that finds nothing
            await name_earlier_certificates(engine)
        return registry

    async def close(self) -> None:
        await self.writes.close()
        await self.engine.close()

    def reading(self) -> AbstractAsyncContextManager[Connection]:
        return self.engine.reading()

    def snapshot(self) -> AbstractAsyncContextManager[Connection]:
        return self.engine.snapshot()

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        return self.engine.transaction()

    async def append_audit_in(self, db: Connection, event: AuditEvent, at: datetime) -> None:
        """Append an audit entry inside the caller's transaction (the registry's modules).
        In a group's transaction the head its previous member wrote is known already."""
        shared = db.heads if isinstance(db, SharedTransaction) else None
        last = shared["audit"] if shared and "audit" in shared else await _audit_head_in(db)
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
        at_text = to_text(at)
        details = canonical_details(event.details)
        digest = entry_hash(
            prev_hash, seq, at_text, event.actor, event.action, event.target, details
        )
        await blind_write(
            db,
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at_text, event.actor, event.action, event.target, details, prev_hash, digest),
        )
        if shared is not None:
            shared["audit"] = (seq, digest)

    # -- certificates ---------------------------------------------------------------------

    async def record_intent(
        self,
        intent: CertificateIntent,
        at: datetime,
        owner: str,
        actor: str,
        holds: IntentHolds = NO_HOLDS,
    ) -> None:
        """Record the to-be-signed certificate, owned by the process `owner` (recorded on the
        intent, for the intent sweeper), and take what it holds
        (server/registry/intent_store.py), in one transaction. Raises CAError(DUPLICATE)
        when the public key is already certified (S13) or the serial is taken; HoldRefused
        when what it holds is not free. Nothing is recorded then. The transaction is shared
        with concurrent writes (server/registry/group_commit.py); RegistryBusy when too many
        wait."""

        async def record(db: Connection) -> None:
            await take_holds_in(db, actor, holds, at)  # a used credential: refused as such
            await self._insert_intent(db, intent, at, owner)
            await add_hold_in(db, intent.serial, owner, holds, at)

        await self.writes.run(record)

    async def _insert_intent(
        self, db: Connection, intent: CertificateIntent, at: datetime, owner: str | None
    ) -> None:
        # ON CONFLICT, not a caught error: on PostgreSQL a failed statement spoils the rest
        # of its transaction, and the holder is looked up after.
        cursor = await db.execute(
            "INSERT INTO certificates (serial, generation_id, profile, subject, spki_sha256,"
            " not_before, not_after, state, tbs, created_at, subscriber_id, intent_owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'intent', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (intent.serial, intent.generation_id, intent.profile, intent.subject,
             intent.spki_sha256, to_text(intent.not_before), to_text(intent.not_after),
             intent.tbs, to_text(at), intent.subscriber_id, owner),
        )  # fmt: skip
        if cursor.rowcount == 1:
            return
        async with db.execute(
            "SELECT serial FROM certificates WHERE spki_sha256 = ?", (intent.spki_sha256,)
        ) as cursor:
            holder = await cursor.fetchone()
        if holder:
            raise CAError(
                ErrorKind.DUPLICATE,
                f"this public key is already certified (serial {holder[0]}); "
                "a new certificate needs a new key",
            )
        raise CAError(ErrorKind.DUPLICATE, "serial number already used")

    async def discard_intent(self, serial: str) -> None:
        """Remove an intent whose signing failed and give back what it held, so a failed
        issuance leaves no row and holds nothing (in a transaction shared with concurrent
        writes). Nothing happens when the intent is not open (never recorded, completed)."""

        async def release(db: Connection) -> None:
            await release_in(db, serial)

        await self.writes.run(release, follow_up=True)

    async def settle_intent(self, serial: str, audit: AuditEvent, at: datetime) -> bool:
        """Settle an open intent as never issued (its certificate, signed or not, never
        left the CA): deleted, what it held given back, `audit` appended, in one
        transaction. False when it is no longer open (completed or settled meanwhile)."""
        async with self.transaction() as db:
            if await release_in(db, serial) is None:
                return False
            await self.append_audit_in(db, audit, at)
            return True

    async def open_intents(self) -> list[OpenIntent]:
        """Intents whose certificate is not recorded yet, oldest first."""
        async with self.reading() as db:
            return await open_intents_in(db)

    async def stranded_claims(
        self, before: datetime
    ) -> list[tuple[StrandedClaim, list[tuple[str, str, str | None]]]]:
        """Credentials claimed before `before` and held by nothing (server/registry/
        intent_store.py), each with the certificates of its profile issued since its
        claim that nothing was spent for: (serial, subject, subscriber id)."""
        async with self.reading() as db:
            claims = await stranded_claims_in(db, before)
            return [
                (claim, await unclaimed_certificates_in(db, claim.profile, claim.claimed_at))
                for claim in claims
            ]

    async def settle_stranded_claim(
        self, claim: StrandedClaim, serial: str | None, audit: AuditEvent, at: datetime
    ) -> bool:
        """Spend a stranded credential for the certificate `serial` it issued, or (None)
        give it back, with `audit`, in one transaction; False when it is no longer
        stranded."""
        async with self.transaction() as db:
            if not await settle_stranded_in(db, claim, serial):
                return False
            await self.append_audit_in(db, audit, at)
            return True

    async def complete_issue(
        self,
        serial: str,
        der: bytes,
        actor: str,
        at: datetime,
        audit: AuditEvent,
        responder_key: KeyRef | None = None,
        ocsp: OCSPResponseRow | None = None,
        holds: IntentHolds = NO_HOLDS,
    ) -> int:
        """Replace the intent by the signed certificate, with its first status row, audit
        entry and (`ocsp`) its pre-signed OCSP response, in one transaction; returns the
        response's seq (0 without one). With `responder_key`, the certificate is recorded
        as its generation's OCSP responder certificate, signing with that key; otherwise it
        is a holder's, and its `certificate.issued` report (D6) joins the outbox. The CA's
        own certificates (self-signed, OCSP responder) are not reported: no holder has them.
        What the intent held is spent in the same transaction (`holds`: the credential
        used, the application issued, the CMP transaction awaiting certConf). The
        transaction is shared with concurrent writes (server/registry/group_commit.py)."""

        async def complete(db: Connection) -> int:
            issued = await self._complete(db, serial, der, actor, at, audit, not holds.empty)
            held = holds.empty or bool(issued[-1])  # the last column: STILL_HELD
            for action, target in await spend_holds_in(db, serial, holds, at, held):
                spent = AuditEvent(audit.actor, action, target, {"serial": serial})
                await self.append_audit_in(db, spent, at)
            if responder_key is None:
                await certificate_issued_in(db, issued, at)
            seq = await write_ocsp_rows(db, [ocsp]) if ocsp is not None else 0
            if responder_key is not None:
                await db.execute(
                    "INSERT INTO ocsp_responders (serial, generation_id, key_uri, key_algorithm,"
                    " not_after) SELECT serial, generation_id, ?, ?, not_after"
                    " FROM certificates WHERE serial = ?",
                    (responder_key.uri, responder_key.algorithm.value, serial),
                )
            return seq

        return await self.writes.run(complete, follow_up=True)

    async def _complete(
        self,
        db: Connection,
        serial: str,
        der: bytes,
        actor: str,
        at: datetime,
        audit: AuditEvent,
        holds_something: bool = False,
    ) -> Row:
        """Record the certificate of the intent `serial`; returns its ISSUED_COLUMNS and,
        with `holds_something`, last whether the intent still held what it took
        (intent_store.STILL_HELD). Raises CAError(INTERNAL) when no such intent is open
        (never recorded, or settled meanwhile: settling deletes it); nothing is written."""
        still_held = f", {STILL_HELD}" if holds_something else ""
        cursor = await db.execute(
            "UPDATE certificates SET state = 'issued', der = ?, intent_owner = NULL"
            f" WHERE serial = ? AND state = 'intent' RETURNING {ISSUED_COLUMNS}{still_held}",
            (der, serial),
        )
        # Read to its end: no cursor left to close.
        issued = next(iter(await cursor.fetchall()), None)
        if issued is None:
            raise CAError(ErrorKind.INTERNAL, f"no pending intent for serial {serial}")
        await record_holder_names_in(db, serial, issued[4])  # ISSUED_COLUMNS: subject
        await blind_write(
            db,
            "INSERT INTO status_changes (serial, change, effective_at, actor, recorded_at)"
            " VALUES (?, 'issue', ?, ?, ?)",
            (serial, to_text(at), actor, to_text(at)),
        )
        await self.append_audit_in(db, audit, at)
        return issued

    async def get_certificate(self, serial: str) -> CertificateRecord | None:
        async with (
            self.reading() as db,
            db.execute(
                f"SELECT {CERTIFICATE_COLUMNS} FROM certificates"
                " WHERE serial = ? AND state = 'issued'",
                (serial,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return certificate_from_row(row) if row else None

    async def change_status(
        self,
        change: StatusChange,
        allowed_from: Sequence[CertificateStatus],
        new_status: CertificateStatus,
        audit: AuditEvent,
        crl_entry: bytes | None = None,
        ocsp: OCSPResponseRow | None = None,
    ) -> CertificateRecord:
        """Move a certificate to `new_status` if its current status is in `allowed_from`;
        the status row, the audit entry, the certificate's CRL entry (None when good) and
        its new pre-signed OCSP response land in the same transaction. The check is made
        inside the transaction, so two concurrent revocations cannot both succeed."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT status FROM certificates WHERE serial = ? AND state = 'issued'",
                (change.serial,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise CAError(ErrorKind.NOT_FOUND, f"no certificate with serial {change.serial}")
            current = CertificateStatus(row[0])
            if current not in allowed_from:
                kind = (
                    ErrorKind.ALREADY_REVOKED
                    if current is CertificateStatus.REVOKED
                    else ErrorKind.REJECTED
                )
                raise CAError(kind, f"certificate {change.serial} is {current.value}")
            await db.execute(
                "UPDATE certificates SET status = ?, crl_entry = ? WHERE serial = ?",
                (new_status.value, crl_entry, change.serial),
            )
            if ocsp is not None:
                await write_ocsp_rows(db, [ocsp])
            await db.execute(
                "INSERT INTO status_changes (serial, change, reason, effective_at,"
                " invalidity_date, actor, recorded_at, basis, grounds)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (change.serial, change.change.value, change.reason, to_text(change.effective_at),
                 to_text(change.invalidity_date) if change.invalidity_date else None,
                 change.actor, to_text(change.recorded_at),
                 change.basis.value if change.basis else None, change.grounds),
            )  # fmt: skip
            await self.append_audit_in(db, audit, change.recorded_at)
            async with db.execute(
                f"SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE serial = ?", (change.serial,)
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None  # updated in this very transaction
            return certificate_from_row(row)

    async def unrevoked_certificates(
        self, generation_id: int, after: str, limit: int, now: datetime
    ) -> list[CertificateRecord]:
        """A page of the generation's issued certificates that are good or held and not
        expired at `now`, by serial after `after` ("" for the first page)."""
        async with (
            self.reading() as db,
            db.execute(
                f"SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE generation_id = ?"
                " AND state = 'issued' AND status IN ('good', 'hold') AND not_after > ?"
                " AND serial > ? ORDER BY serial LIMIT ?",
                (generation_id, to_text(now), after, limit),
            ) as cursor,
        ):
            return [certificate_from_row(row) async for row in cursor]

    async def revoke_many(
        self,
        changes: Sequence[tuple[StatusChange, bytes, OCSPResponseRow | None]],
        audit: AuditEvent,
    ) -> int:
        """Revoke a page of certificates in one transaction (a CA key compromise, K4): for
        each (change, CRL entry, pre-signed OCSP response) the status, the entry, the
        response and the status change, and one audit entry for the page; a certificate
        revoked meanwhile is left as it is. Returns how many were revoked."""
        async with self.transaction() as db:
            revoked = []
            for change, entry, ocsp in changes:
                cursor = await db.execute(
                    "UPDATE certificates SET status = 'revoked', crl_entry = ?"
                    " WHERE serial = ? AND status IN ('good', 'hold') RETURNING serial",
                    (entry, change.serial),
                )
                if await cursor.fetchall():
                    revoked.append((change, ocsp))
            responses = [ocsp for _, ocsp in revoked if ocsp is not None]
            if responses:
                await write_ocsp_rows(db, responses)
            for change, _ in revoked:
                await blind_write(
                    db,
                    "INSERT INTO status_changes (serial, change, reason, effective_at,"
                    " invalidity_date, actor, recorded_at, basis, grounds)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (change.serial, change.change.value, change.reason,
                     to_text(change.effective_at), None, change.actor,
                     to_text(change.recorded_at),
                     change.basis.value if change.basis else None, change.grounds),
                )  # fmt: skip
            if revoked:
                await self.append_audit_in(db, audit, revoked[0][0].recorded_at)
            return len(revoked)

    async def status_history(self, serial: str) -> list[StatusChange]:
        async with (
            self.reading() as db,
            db.execute(
                "SELECT serial, change, reason, effective_at, invalidity_date, actor, recorded_at,"
                " basis, grounds FROM status_changes WHERE serial = ? ORDER BY id",
                (serial,),
            ) as cursor,
        ):
            return [
                StatusChange(
                    serial=row[0],
                    change=StatusChangeKind(row[1]),
                    reason=row[2],
                    effective_at=from_text(row[3]),
                    invalidity_date=from_text(row[4]) if row[4] else None,
                    actor=row[5],
                    recorded_at=from_text(row[6]),
                    basis=StatusBasis(row[7]) if row[7] else None,
                    grounds=row[8],
                )
                async for row in cursor
            ]

    # -- CA generations -------------------------------------------------------------------

    async def record_ca_generation(
        self,
        ca_name: str,
        key_uri: str,
        key_algorithm: str,
        key_id: bytes,
        intent: CertificateIntent,
        der: bytes,
        at: datetime,
        audit: AuditEvent,
        parent_chain: Sequence[bytes] = (),
    ) -> int:
        """Record a CA certificate and its generation in one transaction: self-signed, or
        signed by a parent CA outside whose chain `parent_chain` is (its issuer first, the
        root last; `import-ca-cert`)."""
        async with self.transaction() as db:
            await self._insert_intent(db, intent, at, None)
            await self._complete(db, intent.serial, der, "init", at, audit)
            cursor = await db.execute(
                "INSERT INTO ca_generations (ca_name, key_uri, key_algorithm, serial, key_id,"
                " not_before, not_after, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?) RETURNING id",
                (ca_name, key_uri, key_algorithm, intent.serial, key_id,
                 to_text(intent.not_before), to_text(intent.not_after), to_text(at)),
            )  # fmt: skip
            row = await cursor.fetchone()
            assert row is not None
            for position, chain_der in enumerate(parent_chain, start=1):
                await db.execute(
                    "INSERT INTO ca_chains (generation_id, position, der) VALUES (?, ?, ?)",
                    (row[0], position, chain_der),
                )
            return int(row[0])

    async def record_rollover(self, rollover: Rollover, at: datetime) -> int:
        """Record a rollover (server/generations/rollover.py) in one transaction: the new generation
        and its CA certificate, its OCSP responder certificate, the link certificates and
        the audit entry `ca.generation.rollover` {from, to, reason}; returns the new
        generation's id. Raises CAError(REJECTED) with ROLLOVER_REFUSED, nothing recorded,
        when `rollover.rolled_from` is no longer the CA's active generation: another
        rollover came first. Write transactions are serialised on both engines (SQLite's
        one writer, PostgreSQL's advisory lock), so the read of the active generation in
        this one cannot be overtaken before it commits."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "SELECT id FROM ca_generations WHERE ca_name = ? AND state = 'active'"
                " ORDER BY id DESC LIMIT 1",
                (rollover.ca_name,),
            )
            active = next(iter(await cursor.fetchall()), None)
            if active is None or active[0] != rollover.rolled_from:
                message = ROLLOVER_REFUSED.format(old=rollover.rolled_from, ca=rollover.ca_name)
                raise CAError(ErrorKind.REJECTED, message)
            audit = {"ca": rollover.ca_name, "from": rollover.rolled_from,
                     "reason": rollover.reason,
                     "links": [link.serial for link in rollover.links]}  # fmt: skip
            action = "ca.generation.rollover"
            return await self.insert_generation_in(db, rollover, at, action, audit)

    async def insert_generation_in(
        self,
        db: Connection,
        rollover: Rollover,
        at: datetime,
        action: str,
        details: dict[str, object],
    ) -> int:
        """Insert a new generation made from `rollover` (its CA certificate, its responder,
        its links and its parent chain) with the audit entry `action` {**details, to}, in
        the caller's transaction (the registry's modules); returns its id."""
        certificate = rollover.certificate
        await self._insert_intent(db, certificate, at, None)
        cursor = await db.execute(
            "INSERT INTO ca_generations (ca_name, key_uri, key_algorithm, serial, key_id,"
            " not_before, not_after, state, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?) RETURNING id",
            (rollover.ca_name, rollover.key_uri, rollover.key_algorithm, certificate.serial,
             rollover.key_id, to_text(certificate.not_before),
             to_text(certificate.not_after), to_text(at)),
        )  # fmt: skip
        row = next(iter(await cursor.fetchall()))
        new_id = int(row[0])
        audit = AuditEvent(rollover.actor, action, certificate.serial,
                           {**details, "to": new_id})  # fmt: skip
        await self._complete(db, certificate.serial, rollover.certificate_der,
                             rollover.actor, at, audit)  # fmt: skip
        responder = dataclasses.replace(rollover.responder, generation_id=new_id)
        await self._insert_intent(db, responder, at, None)
        issued = AuditEvent(rollover.actor, "certificate.issue", responder.serial,
                            {"profile": responder.profile, "subscriber": None})  # fmt: skip
        await self._complete(db, responder.serial, rollover.responder_der, rollover.actor,
                             at, issued)  # fmt: skip
        await blind_write(
            db,
            "INSERT INTO ocsp_responders (serial, generation_id, key_uri, key_algorithm,"
            " not_after) VALUES (?, ?, ?, ?, ?)",
            (responder.serial, new_id, rollover.responder_key_uri, rollover.key_algorithm,
             to_text(responder.not_after)),
        )  # fmt: skip
        for link in rollover.links:
            await blind_write(
                db,
                "INSERT INTO ca_links (serial, kind, issuer_generation_id,"
                " subject_generation_id, not_before, not_after, der, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (link.serial, link.kind, link.issuer_generation_id or new_id,
                 link.subject_generation_id or new_id, to_text(link.not_before),
                 to_text(link.not_after), link.der, to_text(at)),
            )  # fmt: skip
        for position, chain_der in enumerate(rollover.parent_chain, start=1):
            await blind_write(
                db,
                "INSERT INTO ca_chains (generation_id, position, der) VALUES (?, ?, ?)",
                (new_id, position, chain_der),
            )
        return new_id

    async def record_compromise(
        self,
        compromise: Rollover,
        revoked: Sequence[tuple[str, bytes]],
        certificates: str,
        at: datetime,
    ) -> int:
        """Record a CA key compromise (server/generations/compromise.py, regulation K4) in
        one transaction: the new generation with its CA and responder certificates (no
        links), generation `compromise.rolled_from` becomes 'compromised', the CA's own
        certificates `revoked` (serial, CRL entry) are listed in the new generation's CRLs
        (ca_revocations), and the audit entry `ca.generation.compromise` {ca, generation,
        to, grounds, revoked, certificates}; returns the new generation's id. Raises
        CAError(REJECTED) with COMPROMISE_REFUSED, nothing recorded, when that generation
        is no longer active (another compromise or a retirement came first)."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "SELECT state FROM ca_generations WHERE id = ? AND ca_name = ?",
                (compromise.rolled_from, compromise.ca_name),
            )
            row = next(iter(await cursor.fetchall()), None)
            if row is None or row[0] != "active":
                state = row[0] if row else "unknown"
                message = COMPROMISE_REFUSED.format(
                    generation=compromise.rolled_from, ca=compromise.ca_name, state=state
                )
                raise CAError(ErrorKind.REJECTED, message)
            details = {"ca": compromise.ca_name, "generation": compromise.rolled_from,
                       "grounds": compromise.reason, "revoked": [s for s, _ in revoked],
                       "certificates": certificates}  # fmt: skip
            new_id = await self.insert_generation_in(
                db, compromise, at, "ca.generation.compromise", details
            )
            await blind_write(
                db,
                "UPDATE ca_generations SET state = 'compromised' WHERE id = ?",
                (compromise.rolled_from,),
            )
            for serial, entry in revoked:
                await blind_write(
                    db,
                    "INSERT INTO ca_revocations (serial, generation_id, listed_by_generation_id,"
                    " crl_entry, revoked_at) VALUES (?, ?, ?, ?, ?)",
                    (serial, compromise.rolled_from, new_id, entry, to_text(at)),
                )
            return new_id

    async def links(self, ca_name: str) -> list[CALink]:
        """The CA's link certificates (RFC 9810 4.4), oldest first."""
        async with (
            self.reading() as db,
            db.execute(
                "SELECT l.serial, l.kind, l.issuer_generation_id, l.subject_generation_id,"
                " l.not_before, l.not_after, l.der FROM ca_links l JOIN ca_generations g"
                " ON g.id = l.subject_generation_id WHERE g.ca_name = ?"
                " ORDER BY l.created_at, l.kind",
                (ca_name,),
            ) as cursor,
        ):
            return [
                CALink(serial=row[0], kind=row[1], issuer_generation_id=row[2],
                       subject_generation_id=row[3], not_before=from_text(row[4]),
                       not_after=from_text(row[5]), der=bytes(row[6]))
                async for row in cursor
            ]  # fmt: skip

    async def ca_revocations(self, ca_name: str) -> dict[str, datetime]:
        """When each of the CA's own certificates a compromise revoked (its generations' CA
        certificates and links, K4) was revoked, by serial."""
        async with (
            self.reading() as db,
            db.execute(
                "SELECT r.serial, r.revoked_at FROM ca_revocations r JOIN ca_generations g"
                " ON g.id = r.generation_id WHERE g.ca_name = ?",
                (ca_name,),
            ) as cursor,
        ):
            return {row[0]: from_text(row[1]) async for row in cursor}

    async def active_generation(self, ca_name: str) -> CAGeneration | None:
        async with self.reading() as db:
            cursor = await db.execute(
                f"{_GENERATIONS_WITH_CHAINS} WHERE g.id = (SELECT id FROM ca_generations"
                " WHERE ca_name = ? AND state = 'active' ORDER BY id DESC LIMIT 1)"
                " ORDER BY h.position",
                (ca_name,),
            )
            generations = _generations_of(await cursor.fetchall())
        return generations[0] if generations else None

    async def generations(self, ca_name: str) -> list[CAGeneration]:
        async with self.reading() as db:
            cursor = await db.execute(
                f"{_GENERATIONS_WITH_CHAINS} WHERE g.ca_name = ? ORDER BY g.id, h.position",
                (ca_name,),
            )
            return _generations_of(await cursor.fetchall())

    async def ocsp_responder(self, generation_id: int) -> tuple[str, KeyRef] | None:
        """(serial, key) of the generation's newest OCSP responder certificate."""
        async with (
            self.reading() as db,
            db.execute(
                "SELECT serial, key_uri, key_algorithm FROM ocsp_responders"
                " WHERE generation_id = ? ORDER BY not_after DESC LIMIT 1",
                (generation_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return (row[0], KeyRef(row[1], KeyAlgorithm(row[2]))) if row else None

    async def record_confirmation_signer(self, serial: str, key: KeyRef) -> None:
        """Record the issued certificate `serial` as its generation's confirmation
        certificate (issue #17), certifying `key`."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO confirmation_signers (serial, generation_id, key_uri,"
                " key_algorithm, not_after) SELECT serial, generation_id, ?, ?, not_after"
                " FROM certificates WHERE serial = ? AND state = 'issued'",
                (key.uri, key.algorithm.value, serial),
            )

    async def confirmation_signer(self, generation_id: int) -> ConfirmationSigner | None:
        """The generation's confirmation certificate that ends last among those not revoked
        or on hold; None when it has none."""
        async with (
            self.reading() as db,
            db.execute(
                "SELECT s.serial, s.generation_id, s.key_uri, s.key_algorithm, s.not_after,"
                " c.der FROM confirmation_signers s JOIN certificates c ON c.serial = s.serial"
                " WHERE s.generation_id = ? AND c.status = 'good'"
                " ORDER BY s.not_after DESC LIMIT 1",
                (generation_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        return ConfirmationSigner(row[0], row[1], row[2], row[3], from_text(row[4]),
                                  bytes(row[5]))  # fmt: skip

    async def ca_own_certificate(self, serial: str) -> str | None:
        """What the CA's own certificate of this serial is: "the CA certificate of
        generation N" (any generation, any CA), "a link certificate" or "an OCSP responder
        certificate"; None for
        any other certificate (the server's TLS certificate among them)."""
        async with (
            self.reading() as db,
            db.execute(
                "SELECT 'ca', id FROM ca_generations WHERE serial = ?"
                " UNION ALL SELECT 'ocsp', generation_id FROM ocsp_responders WHERE serial = ?"
                " UNION ALL SELECT 'link', subject_generation_id FROM ca_links WHERE serial = ?",
                (serial, serial, serial),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        if row[0] == "ca":
            return f"the CA certificate of generation {row[1]}"
        if row[0] == "link":
            return f"a link certificate of generation {row[1]} (RFC 9810 4.4)"
        return f"an OCSP responder certificate of generation {row[1]}"

    # -- audit ----------------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent, at: datetime) -> None:
        async with self.transaction() as db:
            await self.append_audit_in(db, event, at)

    async def audit_head(self) -> tuple[int, bytes] | None:
        """(seq, hash) of the newest audit entry; None while the trail is empty."""
        async with self.reading() as db:
            return await _audit_head_in(db)

    async def audit_hashes(self, seqs: Sequence[int]) -> dict[int, bytes]:
        """The hashes of those of the audit entries `seqs` the table holds, by seq."""
        wanted = sorted(set(seqs))
        found: dict[int, bytes] = {}
        for start in range(0, len(wanted), 500):  # SQLite's bound on host parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            async with (
                self.reading() as db,
                db.execute(
                    f"SELECT seq, hash FROM audit_log WHERE seq IN ({marks})", chunk
                ) as cursor,
            ):
                found.update({row[0]: bytes(row[1]) async for row in cursor})
        return found

    async def verify_audit_chain(self) -> ChainReport:
        async with (
            self.reading() as db,
            db.execute(
                "SELECT seq, at, actor, action, target, details, prev_hash, hash"
                " FROM audit_log ORDER BY seq"
            ) as cursor,
        ):
            rows = [tuple(row) async for row in cursor]
        return verify_chain(rows)  # type: ignore[arg-type]


def _generation(row: Sequence) -> CAGeneration:
    return CAGeneration(
        id=row[0],
        ca_name=row[1],
        key_uri=row[2],
        key_algorithm=row[3],
        serial=row[4],
        key_id=row[5],
        not_before=from_text(row[6]),
        not_after=from_text(row[7]),
        state=row[8],
        certificate_der=row[9],
        first=bool(row[10]),
    )


def _generations_of(rows: Sequence[Sequence]) -> list[CAGeneration]:
    """Generations read with `_GENERATIONS_WITH_CHAINS`, in the rows' order: one row per
    certificate of a generation's parent chain (a parent CA outside certified it), or one
    with no chain certificate (NULL) for a generation without one."""
    generations: list[CAGeneration] = []
    chains: dict[int, list[bytes]] = {}
    for row in rows:
        if not generations or generations[-1].id != row[0]:
            generations.append(_generation(row))
        if row[11] is not None:
            chains.setdefault(row[0], []).append(bytes(row[11]))
    return [
        dataclasses.replace(g, parent_chain=tuple(chains[g.id])) if g.id in chains else g
        for g in generations
    ]


async def _audit_head_in(db: Connection) -> tuple[int, bytes] | None:
    """(seq, hash) of the newest audit entry; None while the trail is empty."""
    # Read to its end: no cursor left to close, one round trip less on every audit entry.
    cursor = await db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    row = next(iter(await cursor.fetchall()), None)
    return (row[0], bytes(row[1])) if row else None
