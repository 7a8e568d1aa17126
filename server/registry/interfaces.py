"""The registry as its callers use it: one Protocol per use, whichever engine runs it.

A module outside `server/registry/` never names the concrete `Registry` or a store: it
types what it is given with the uses below, and when it needs several it declares its own
Protocol combining them (server/authority.py: `class IssuanceRegistry(interfaces.Issuance,
interfaces.Generations, interfaces.IssuanceApplications, Protocol)`), so each caller
states exactly what it depends on. Only the composition root (server/context.py) holds the
concrete `Registry`. Rows and enums are in server/registry/records.py.

Each use covers the methods its callers call, no more. The uses are declared here, once,
rather than in each caller, because most have several callers (a certificate is looked up
by ten modules), and because here mypy proves, at the bottom of this module, that the
concrete `Registry` satisfies every one of them.

A use backed by one of the registry's stores (applications, credentials, ...) is a
property naming the store, typed with the store's Protocol (`...Records`) or with the part
of it some callers read (`...Lookup`): callers reach it as `registry.applications.get(...)`,
as they always have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from hsm.backend import KeyRef
from server.registry.engine import Listener
from server.registry.records import (
    NO_HOLDS,
    AccountRow,
    ApplicationRow,
    AuditEntry,
    AuditEvent,
    CAGeneration,
    CALink,
    CertificateIntent,
    CertificateRecord,
    CertificateStatus,
    ChainReport,
    CMPOpening,
    CMPTransaction,
    ConfirmationCaseRow,
    ConfirmationSigner,
    CredentialRow,
    CRLRow,
    GenerationRequest,
    IdentityRow,
    IntentHolds,
    Lease,
    OCSPResponseRow,
    OpenIntent,
    OutboxEvent,
    RevokedEntry,
    Rollover,
    RootCA,
    RootCRL,
    RootLink,
    StatusChange,
    StatusDelta,
    StrandedClaim,
    SubscriberRow,
    Unanswered,
)

# --- uses of the registry itself ------------------------------------------------------


class Issuance(Protocol):
    """Issuance (server/authority.py): record the intent, then the certificate, or drop
    the intent when signing failed."""

    async def record_intent(
        self,
        intent: CertificateIntent,
        at: datetime,
        owner: str,
        actor: str,
        holds: IntentHolds = NO_HOLDS,
    ) -> None: ...

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
    ) -> int: ...

    async def discard_intent(self, serial: str) -> None: ...


class Intents(Protocol):
    """Intents a crash left behind, as the sweeper settles them (server/node/intent_sweeper.py)."""

    async def open_intents(self) -> list[OpenIntent]: ...

    async def settle_intent(self, serial: str, audit: AuditEvent, at: datetime) -> bool: ...

    async def stranded_claims(
        self, before: datetime
    ) -> list[tuple[StrandedClaim, list[tuple[str, str, str | None]]]]: ...

    async def settle_stranded_claim(
        self, claim: StrandedClaim, serial: str | None, audit: AuditEvent, at: datetime
    ) -> bool: ...


class Certificates(Protocol):
    """A certificate, looked up by serial."""

    async def get_certificate(self, serial: str) -> CertificateRecord | None: ...


class StatusHistory(Protocol):
    """Every status change of a certificate, oldest first."""

    async def status_history(self, serial: str) -> list[StatusChange]: ...


class StatusChanges(Protocol):
    """Revocation, hold and release (server/status/revocation.py)."""

    async def change_status(
        self,
        change: StatusChange,
        allowed_from: Sequence[CertificateStatus],
        new_status: CertificateStatus,
        audit: AuditEvent,
        crl_entry: bytes | None = None,
        ocsp: OCSPResponseRow | None = None,
    ) -> CertificateRecord: ...

    async def ca_own_certificate(self, serial: str) -> str | None: ...


class Generations(Protocol):
    """The CA's key generations."""

    async def active_generation(self, ca_name: str) -> CAGeneration | None: ...

    async def generations(self, ca_name: str) -> list[CAGeneration]: ...

    async def links(self, ca_name: str) -> list[CALink]: ...


class CARevocations(Protocol):
    """The CA's own certificates revoked by a compromise (K4)."""

    async def ca_revocations(self, ca_name: str) -> dict[str, datetime]: ...


class RetirementRecords(Protocol):
    """The retirement of CA generations and the destruction of their keys (regulation K3;
    server/registry/retirement_store.py)."""

    async def retire(self, ca_name: str, generation_id: int, now: datetime) -> bool: ...

    async def keys_to_destroy(self, ca_name: str) -> list[tuple[int, list[KeyRef]]]: ...

    async def keys_destroyed(self, generation_id: int, audit: AuditEvent, at: datetime) -> None: ...


class RetiringGenerations(Generations, Protocol):
    """What the retirement duty reads and records."""

    @property
    def retirement(self) -> RetirementRecords: ...


class RetentionRecords(Protocol):
    """What the retention duty removes when its period ended (C1;
    server/registry/retention_store.py): each removal with its audit entry, made from the
    count, in one transaction."""

    async def attachments_due(self, cutoff: datetime) -> int: ...

    async def remove_attachments(
        self, cutoff: datetime, at: datetime, audit: Callable[[int], AuditEvent]
    ) -> int: ...

    async def subscribers_due(self, cutoff: datetime) -> int: ...

    async def erase_subscribers(
        self, cutoff: datetime, at: datetime, audit: Callable[[int], AuditEvent]
    ) -> int: ...

    async def case_files_due(self, now: datetime, limit: int) -> list[str]: ...

    async def case_files_due_count(self, now: datetime) -> int: ...

    async def case_files_removed(
        self, case_ids: list[str], now: datetime, audit: Callable[[int], AuditEvent]
    ) -> int: ...

    async def case_files_recorded_removed(self, case_ids: list[str]) -> list[str]: ...


class Retention(Protocol):
    """What the retention duty reads and records."""

    @property
    def retention(self) -> RetentionRecords: ...


class RootRecords(Protocol):
    """The root CA kept in the home above the issuing CA (server/registry/root_store.py)."""

    async def record_root(
        self, root: RootCA, crl: RootCRL, audit: AuditEvent, at: datetime
    ) -> None: ...

    async def record_root_rollover(
        self, root: RootCA, crl: RootCRL, links: Sequence[RootLink], audit: AuditEvent,
        at: datetime,
    ) -> None: ...  # fmt: skip

    async def root_cas(self) -> list[RootCA]: ...

    async def roots(self) -> list[tuple[RootCA, RootCRL | None]]: ...

    async def links(self) -> list[RootLink]: ...

    async def last_crl_number(self) -> int: ...

    async def latest_crl(self, name: str) -> RootCRL | None: ...

    async def record_issued(
        self, name: str, serial: str, subject: str, not_after: datetime, der: bytes,
        audit: AuditEvent, at: datetime,
    ) -> None: ...  # fmt: skip

    async def issued(self, name: str) -> list[tuple[str, bytes, bool]]: ...

    async def revoked_entries(self, name: str) -> list[bytes]: ...

    async def record_revocation(
        self, name: str, serial: str, crl_entry: bytes, crl: RootCRL, audit: AuditEvent,
        at: datetime,
    ) -> None: ...  # fmt: skip

    async def record_crls(
        self, crls: Sequence[tuple[str, RootCRL, AuditEvent]], at: datetime
    ) -> None: ...


class Roots(Protocol):
    """Where the home's root CA is kept."""

    @property
    def roots(self) -> RootRecords: ...


class OCSPResponders(Protocol):
    """The delegated OCSP responder a CA generation signs its answers with."""

    async def ocsp_responder(self, generation_id: int) -> tuple[str, KeyRef] | None: ...


class ConfirmationSigners(Protocol):
    """The key and certificate confirmation reports are signed with (issue #17)."""

    async def record_confirmation_signer(self, serial: str, key: KeyRef) -> None: ...

    async def confirmation_signer(self, generation_id: int) -> ConfirmationSigner | None: ...


class GenerationRecording(Protocol):
    """A new CA generation, recorded with its certificate (server/generations/)."""

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
    ) -> int: ...

    async def record_rollover(self, rollover: Rollover, at: datetime) -> int: ...

    async def record_compromise(
        self,
        compromise: Rollover,
        revoked: Sequence[tuple[str, bytes]],
        certificates: str,
        at: datetime,
    ) -> int: ...


class GenerationRequestRecords(Protocol):
    """The requests of a CA under a parent outside for its next generation
    (server/generations/subordinate_rollover.py; server/registry/ca_request_store.py)."""

    async def add(self, request: GenerationRequest, at: datetime) -> int: ...

    async def pending(self, ca_name: str) -> GenerationRequest | None: ...

    async def requests(self, ca_name: str) -> list[GenerationRequest]: ...

    async def imported(
        self, request: GenerationRequest, generation: Rollover, at: datetime
    ) -> int: ...

    async def abandon(self, request: GenerationRequest, actor: str, at: datetime) -> None: ...

    async def compromised(
        self,
        generation_id: int,
        request: GenerationRequest,
        abandoned: GenerationRequest | None,
        grounds: str,
        certificates: str,
        at: datetime,
    ) -> int: ...


class GenerationRequests(Protocol):
    """What a CA under a parent outside records of its next generation's request."""

    @property
    def ca_requests(self) -> GenerationRequestRecords: ...


class BulkRevocation(Protocol):
    """The certificates of a compromised CA key, revoked (or marked, in the audit trail)
    page by page (K4)."""

    async def unrevoked_certificates(
        self, generation_id: int, after: str, limit: int, now: datetime
    ) -> list[CertificateRecord]: ...

    async def revoke_many(
        self,
        changes: Sequence[tuple[StatusChange, bytes, OCSPResponseRow | None]],
        audit: AuditEvent,
    ) -> int: ...

    async def append_audit(self, event: AuditEvent, at: datetime) -> None: ...


class Audit(Protocol):
    """The audit chain's head, hashes and verification (server/audit_checkpoints.py)."""

    async def audit_head(self) -> tuple[int, bytes] | None: ...

    async def audit_hashes(self, seqs: Sequence[int]) -> dict[int, bytes]: ...

    async def verify_audit_chain(self) -> ChainReport: ...


# --- the stores, and the uses that reach them ------------------------------------------


class ApplicationLookup(Protocol):
    async def get(self, application_id: str) -> ApplicationRow | None: ...


class ApplicationRecords(ApplicationLookup, Protocol):
    async def add(self, row: ApplicationRow, audit: AuditEvent) -> None: ...

    async def complete(
        self, application_id: str, at: datetime, due_at: datetime, audit: AuditEvent
    ) -> bool: ...

    async def handed_over(
        self,
        application_id: str,
        received_by: str,
        proxy: str | None,
        poa: str | None,
        at: datetime,
        audit: AuditEvent,
    ) -> bool: ...

    async def overdue(self, now: datetime, limit: int) -> list[ApplicationRow]: ...

    async def count_overdue(self, now: datetime) -> int: ...

    async def find(self, credential_id: str, request_sha256: bytes) -> ApplicationRow | None: ...

    async def by_state(self, state: str | None, limit: int) -> list[ApplicationRow]: ...

    async def reject(
        self, application_id: str, actor: str, at: datetime, reason: str, audit: AuditEvent
    ) -> bool: ...


class Applications(Protocol):
    """Applications waiting for an operator (server/ra/applications.py)."""

    @property
    def applications(self) -> ApplicationRecords: ...


class IssuanceApplications(Protocol):
    """The application an issuance completes (server/authority.py)."""

    @property
    def applications(self) -> ApplicationLookup: ...


class ConfirmationCaseRecords(Protocol):
    async def add(self, row: ConfirmationCaseRow, audit: AuditEvent) -> None: ...

    async def assign(
        self, case_id: str, expert: str, actor: str, at: datetime, audit: AuditEvent
    ) -> bool: ...

    async def answer(
        self, case_id: str, expert: str, report: str, at: datetime, audit: AuditEvent
    ) -> bool: ...

    async def get(self, case_id: str) -> ConfirmationCaseRow | None: ...

    async def by_state(self, state: str | None, limit: int) -> list[ConfirmationCaseRow]: ...

    async def overdue(self, now: datetime, limit: int) -> list[ConfirmationCaseRow]: ...

    async def count_overdue(self, now: datetime) -> int: ...


class ConfirmationCases(Protocol):
    """Confirmation cases an expert answers (server/confirmation/cases.py)."""

    @property
    def confirmation_cases(self) -> ConfirmationCaseRecords: ...


class CredentialRecords(Protocol):
    async def add(
        self, row: CredentialRow, created_by: str, at: datetime, audits: Sequence[AuditEvent]
    ) -> bool: ...

    async def get(self, credential_id: str) -> CredentialRow | None: ...

    async def get_each(self, credential_ids: Sequence[str]) -> list[CredentialRow]: ...

    async def listing(self, unused_only: bool, limit: int) -> list[CredentialRow]: ...


class Credentials(Protocol):
    """Enrollment credentials (server/enrollment/credentials.py)."""

    @property
    def credentials(self) -> CredentialRecords: ...


class SubscriberRecords(Protocol):
    async def add(self, row: SubscriberRow, audit: AuditEvent) -> None: ...

    async def get(self, subscriber_id: str) -> SubscriberRow | None: ...

    async def listing(self, after: str, limit: int) -> list[SubscriberRow]: ...

    async def add_identity(self, row: IdentityRow, audit: AuditEvent) -> None: ...

    async def identities(self, subscriber_id: str) -> list[IdentityRow]: ...

    async def acknowledge(
        self, subscriber_id: str, version: str, by: str, at: datetime, audit: AuditEvent
    ) -> None: ...

    async def acknowledged(self, subscriber_id: str, version: str) -> datetime | None: ...


class Subscribers(Protocol):
    """Subscribers and their identity records (server/ra/subscribers.py)."""

    @property
    def subscribers(self) -> SubscriberRecords: ...


class AccountRecords(Protocol):
    async def add(self, row: AccountRow, token_sha256: bytes, audit: AuditEvent) -> None: ...

    async def by_name(self, name: str) -> AccountRow | None: ...

    async def by_token(self, token_sha256: bytes) -> AccountRow | None: ...

    async def by_certificate(self, cert_sha256: bytes) -> AccountRow | None: ...

    async def all(self) -> list[AccountRow]: ...

    async def set_token(
        self, account_id: str, token_sha256: bytes, at: datetime, audit: AuditEvent
    ) -> bool: ...

    async def bind_certificate(
        self, account_id: str, cert_sha256: bytes, at: datetime, audit: AuditEvent
    ) -> bool: ...

    async def disable(self, account_id: str, at: datetime, audit: AuditEvent) -> bool: ...


class Accounts(Protocol):
    """API accounts (server/accounts.py)."""

    @property
    def accounts(self) -> AccountRecords: ...


class CMPTransactionLookup(Protocol):
    async def received(self, transaction_id: bytes, their_nonce: bytes) -> None: ...

    async def get(self, transaction_id: bytes) -> CMPTransaction | None: ...


class CMPRecords(CMPTransactionLookup, Protocol):
    async def open(self, opening: CMPOpening) -> bool: ...

    async def refused(self, opening: CMPOpening) -> None: ...

    async def certified_before(self, request_sha256: bytes, transaction_id: bytes) -> bool: ...

    async def awaiting_confirmation(
        self, requester: str, reply_kind: str, at: datetime
    ) -> bool: ...

    async def discard(self, transaction_id: bytes) -> None: ...

    async def issued(
        self,
        transaction_id: bytes,
        serial: str,
        cert_req_id: int,
        our_nonce: bytes,
        confirm_by: datetime | None,
    ) -> None: ...

    async def wait(
        self,
        transaction_id: bytes,
        application_id: str,
        reply_kind: str,
        cert_req_id: int,
        implicit_confirm: bool,
        our_nonce: bytes,
    ) -> None: ...

    async def answered(self, transaction_id: bytes, our_nonce: bytes) -> None: ...

    async def finish(self, transaction_id: bytes, from_state: str, to_state: str) -> bool: ...

    async def unconfirmed_before(self, at: datetime) -> list[CMPTransaction]: ...

    async def prune(self, before: datetime) -> int: ...


class CMPTransactions(Protocol):
    """CMP transactions (server/cmp/server.py)."""

    @property
    def cmp(self) -> CMPRecords: ...


class CMPTransactionChecks(Protocol):
    """The transaction a continuing CMP message belongs to (server/cmp/sender.py)."""

    @property
    def cmp(self) -> CMPTransactionLookup: ...


class SearchQueries(Protocol):
    """Read-only searches, paged by a cursor (the API is given the store)."""

    async def certificate_by_spki(self, spki_sha256: bytes) -> CertificateRecord | None: ...

    async def certificates_by_holder(
        self, name: str, prefix: bool, limit: int
    ) -> list[CertificateRecord]: ...

    async def certificates(
        self,
        status: CertificateStatus | None,
        profile: str | None,
        subject_contains: str | None,
        limit: int,
        after: str | None,
    ) -> list[CertificateRecord]: ...

    async def revoked(self, limit: int, after: str | None) -> list[RevokedEntry]: ...

    async def audit_entries(self, limit: int, after: int | None) -> list[AuditEntry]: ...


class Search(Protocol):
    """Searches (the API, the CLI, CMP's identity lookups)."""

    @property
    def search(self) -> SearchQueries: ...


class OCSPRecords(Protocol):
    """Pre-signed OCSP responses (server/status/ocsp_responder.py)."""

    async def put_ocsp_responses(self, rows: Sequence[OCSPResponseRow]) -> int: ...

    async def last_ocsp_seq(self) -> int: ...

    async def ocsp_responses_since(self, seq: int) -> list[OCSPResponseRow]: ...

    async def ocsp_responses_due(
        self, generation_id: int, before: datetime, limit: int
    ) -> list[OCSPResponseRow]: ...

    async def ocsp_response(self, serial: str) -> OCSPResponseRow | None: ...

    async def ocsp_responses_after(self, serial: str, limit: int) -> list[OCSPResponseRow]: ...

    async def certificates_without_response(
        self, after: str, limit: int
    ) -> tuple[list[Unanswered], str | None]: ...

    async def revocation_of(self, serial: str) -> tuple[datetime, str | None] | None: ...


class CRLRecords(Protocol):
    """CRL numbers, the status changes since a base CRL, the CRLs
    (server/status/crl_publisher.py)."""

    async def crl_snapshot(
        self, generation_id: int, expired_before: datetime
    ) -> tuple[int, list[tuple[str, bytes]]]: ...

    async def last_change_id(self) -> int: ...

    async def changes_after(self, base: CRLRow) -> list[StatusDelta]: ...

    async def allocate_crl_numbers(self, generation_id: int, count: int) -> int: ...

    async def store_crls(self, rows: Sequence[CRLRow]) -> None: ...

    async def latest_crl_number(
        self, generation_id: int, shard: int, delta: bool
    ) -> int | None: ...

    async def latest_crl(self, generation_id: int, shard: int, delta: bool) -> CRLRow | None: ...

    async def delta_base(
        self, generation_id: int, shard: int, made_before: datetime
    ) -> CRLRow | None: ...


class FeedRecords(Protocol):
    """New OCSP responses and every node's watermark in them (server/status/feed.py)."""

    async def ocsp_responses_since(self, seq: int) -> list[OCSPResponseRow]: ...

    async def set_watermark(self, node: str, seq: int, at: datetime) -> None: ...

    async def drop_watermark(self, node: str) -> None: ...

    async def nodes_behind(self, seq: int, alive_since: datetime) -> list[str]: ...

    def listen_for_ocsp_responses(self, wake: Callable[[], None]) -> Listener | None: ...


class StatusRecords(OCSPRecords, CRLRecords, FeedRecords, Protocol):
    """All of status publication's records (server/status/publication.py builds all three users)."""


class Status(Protocol):
    """Status publication as a whole (server/status/publication.py)."""

    @property
    def status(self) -> StatusRecords: ...


class OCSPStatus(Protocol):
    @property
    def status(self) -> OCSPRecords: ...


class CRLStatus(Protocol):
    @property
    def status(self) -> CRLRecords: ...


class FeedStatus(Protocol):
    @property
    def status(self) -> FeedRecords: ...


class OutboxRecords(Protocol):
    """The reporting outbox as delivery sees it (server/outbox.py), given the store."""

    async def undelivered(self, limit: int) -> list[OutboxEvent]: ...

    async def count_undelivered(self) -> int: ...

    async def mark_delivered(self, seqs: Sequence[int], at: datetime) -> None: ...

    async def record_failure(self, seqs: Sequence[int], error: str) -> None: ...


class LeaseLookup(Protocol):
    async def current(self, name: str, now: datetime) -> Lease | None: ...


class LeaseRecords(LeaseLookup, Protocol):
    """Expiring leases on once-per-deployment duties (server/node/duties.py, given the store)."""

    async def acquire(self, name: str, holder: str, now: datetime, until: datetime) -> bool: ...

    async def release(self, name: str, holder: str) -> None: ...


class LeaseHolders(Protocol):
    """Who holds a lease now (server/node/health.py)."""

    @property
    def leases(self) -> LeaseLookup: ...


if TYPE_CHECKING:
    from server.registry.registry import Registry

    def _registry_serves_every_use(
        registry: Registry,
    ) -> tuple[
        Issuance,
        Intents,
        Certificates,
        StatusHistory,
        StatusChanges,
        Generations,
        OCSPResponders,
        ConfirmationSigners,
        GenerationRecording,
        Audit,
        Applications,
        IssuanceApplications,
        Credentials,
        Subscribers,
        Accounts,
        CMPTransactions,
        CMPTransactionChecks,
        Search,
        Status,
        OCSPStatus,
        CRLStatus,
        FeedStatus,
        LeaseHolders,
        OutboxRecords,
        LeaseRecords,
        SearchQueries,
        GenerationRequests,
        ConfirmationCases,
        Retention,
    ]:
        """Never called: mypy checks here that the concrete registry serves every use."""
        r = registry
        return (*(r,) * 23, r.outbox, r.leases, r.search, r, r, r)
