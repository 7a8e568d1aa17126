"""Typed rows and enums of the registry, shared by its implementations and its users.

This module and server/registry/interfaces.py are what code outside the registry may
import of it (tests/unit/test_layers.py): the stores beside them hold only SQL."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from server.errors import CAError, ErrorKind


class CertificateStatus(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    HOLD = "hold"  # suspended: revoked with reason certificateHold (RFC 5280 5.3.1)


class StatusChangeKind(enum.StrEnum):
    ISSUE = "issue"
    REVOKE = "revoke"
    HOLD = "hold"
    RELEASE = "release"


@dataclass(frozen=True)
class CAGeneration:
    id: int
    ca_name: str
    key_uri: str
    key_algorithm: str
    serial: str
    key_id: bytes
    not_before: datetime
    not_after: datetime
    state: str
    certificate_der: bytes
    first: bool  # the CA's first generation: it publishes under the CA's plain name
    # signed by a parent CA outside (import-ca-cert): the chain above its certificate, the
    # issuer first and the parent's self-signed root last; empty for a self-signed one
    parent_chain: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class RootCA:
    """A root CA kept in the home above the issuing CA (server/hierarchy/offline_root.py):
    its key, in the root's own backend, and its self-signed certificate."""

    name: str
    key_id: bytes
    key_uri: str
    key_algorithm: str
    certificate_der: bytes
    not_after: datetime
    succeeds: str | None = None  # the root whose key this one replaced (`root rollover`)


@dataclass(frozen=True)
class RootLink:
    """A link certificate of the home root's key update (RFC 9810 4.4): `kind`
    "new_with_old" (the key of `subject_root` signed by that of `issuer_root`, the older)
    or "old_with_new" (the reverse)."""

    serial: str
    kind: str
    issuer_root: str
    subject_root: str
    not_before: datetime
    not_after: datetime
    der: bytes


@dataclass(frozen=True)
class RootCRL:
    number: int
    this_update: datetime
    next_update: datetime
    der: bytes


@dataclass(frozen=True)
class CALink:
    """A link certificate of a root CA key update (RFC 9810 4.4): `kind` "new_with_old"
    (the key of `subject_generation_id` signed by that of `issuer_generation_id`, the
    older) or "old_with_new" (the reverse)."""

    serial: str
    kind: str
    issuer_generation_id: int
    subject_generation_id: int
    not_before: datetime
    not_after: datetime
    der: bytes


# a compromise (K4) of a generation that is not active: the registry's and the CA's refusal
COMPROMISE_REFUSED = (
    "generation {generation} of CA {ca!r} is {state}, not active: only a live generation's key"
    " can be declared compromised; nothing was recorded"
)


@dataclass(frozen=True)
class Rollover:
    """What a rollover records in one transaction (server/generations/rollover.py): the new
    generation (its key, its self-signed certificate NewWithNew), its OCSP responder certificate and
    key, and the links, which name the new generation as 0 (its id is known only once it
    is recorded)."""

    ca_name: str
    rolled_from: int
    key_uri: str
    key_algorithm: str
    key_id: bytes
    certificate: CertificateIntent
    certificate_der: bytes
    responder: CertificateIntent  # generation_id 0: the new generation
    responder_der: bytes
    responder_key_uri: str
    links: tuple[CALink, ...]
    actor: str
    reason: str
    # certified by a parent CA outside (server/generations/subordinate_rollover.py): the chain above
    # the new CA certificate, its issuer first and the parent's root last
    parent_chain: tuple[bytes, ...] = ()


# a second request for a CA's next generation while one is pending (migration 0023)
REQUEST_PENDING = (
    "CA {ca!r} has a request for its next generation pending already: import the parent's "
    "certificate for it (import-ca-cert), write its CSR again (rollover --csr FILE) or "
    "abandon it (rollover --abandon); nothing was made"
)
# an import or abandonment of a request no longer pending
REQUEST_CLOSED = (
    "request {id} of CA {ca!r} for its next generation is no longer pending (imported or "
    "abandoned meanwhile); nothing was recorded"
)


@dataclass(frozen=True)
class GenerationRequest:
    """A request of a CA under a parent outside for its next generation (migration 0023):
    the key made for it, its PKCS#10 request, and `state` 'pending', 'imported' (the
    parent's certificate made generation `generation_id`) or 'abandoned'."""

    id: int
    ca_name: str
    rolled_from: int
    key_uri: str
    key_algorithm: str
    csr_der: bytes
    created_at: datetime
    actor: str
    reason: str
    state: str
    generation_id: int | None = None


@dataclass(frozen=True)
class CertificateIntent:
    """What is recorded before the signature is asked for."""

    serial: str
    generation_id: int | None
    profile: str
    subject: str
    spki_sha256: bytes
    not_before: datetime
    not_after: datetime
    tbs: bytes
    subscriber_id: str | None = None  # the registered holder (server/ra/subscribers.py)


@dataclass(frozen=True)
class CMPOpening:
    """A CMP transaction as its first request opens it: the client's senderNonce (its next
    message must bring another, RFC 9483 3.1), how the request was protected (the next
    message must be protected alike), the kind of answer it gets (ip, cp, kup) and the
    digest of what it asks (migration 0014)."""

    transaction_id: bytes
    requester: str
    at: datetime
    their_nonce: bytes | None
    protection: str | None = None
    reply_kind: str | None = None
    request_sha256: bytes | None = None


class TransactionIdInUse(Exception):
    """A CMP transactionID was used before (RFC 4210 5.1.1: transactionIdInUse), whatever
    became of its transaction."""


@dataclass(frozen=True)
class CMPDelivery:
    """The CMP transaction a certificate goes out in (RFC 4210 5.1.1): recorded with the
    certificate, so that a certificate never sits in the registry without the transaction
    that waits for its certConf (RFC 9483 4.1.1).

    `opens`: the transaction is opened in the transaction that records the intent (its
    transactionID claimed there, TransactionIdInUse if it was used before), not in one of
    its own; None when it was opened before (a request that may wait for approval)."""

    transaction_id: bytes
    cert_req_id: int
    our_nonce: bytes  # the senderNonce of the ip/cp/kup: the certConf's recipNonce
    confirm_within: timedelta | None  # None: implicitly confirmed (RFC 4210 5.1.1.1)
    opens: CMPOpening | None = None


@dataclass(frozen=True)
class IntentHolds:
    """What an issuance takes in the transaction that records its intent, and spends in
    the one that records its certificate; settling the intent as never issued gives it
    back. Taking fails with HoldRefused, and then no intent is recorded."""

    credential_id: str | None = None  # unexpired, unused and free; spent on issue
    application_id: str | None = None  # submitted, nobody deciding it; issued on issue
    cmp: CMPDelivery | None = None  # moved on with the certificate; closed on settling

    @property
    def empty(self) -> bool:
        """Whether the intent holds nothing (then no intent_holds row records it)."""
        return self.credential_id is None and self.application_id is None and self.cmp is None


NO_HOLDS = IntentHolds()  # an issuance that holds nothing (the CLI's, the CA's own)


class HoldRefused(Exception):
    """An intent could not take what it holds: the credential is expired, used or held by
    another enrollment, or the application is decided or being decided."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the {what} is not free")
        self.what = what  # "credential", "application"


@dataclass(frozen=True)
class OpenIntent:
    """An intent whose certificate is not recorded yet: in flight, or left by a crash."""

    serial: str
    recorded_at: datetime
    owner: str | None  # None: recorded before intents had owners (migration 0012)
    credential_id: str | None
    application_id: str | None


@dataclass(frozen=True)
class StrandedClaim:
    """A credential claimed by an enrollment that recorded no intent holding it: what a
    crash left under the rules before migration 0012 (server/node/intent_sweeper.py)."""

    id: str
    profile: str
    subject: str
    subscriber_id: str | None
    claimed_at: datetime


@dataclass(frozen=True)
class CertificateRecord:
    serial: str
    generation_id: int | None
    profile: str
    subject: str
    spki_sha256: bytes
    not_before: datetime
    not_after: datetime
    state: str
    status: CertificateStatus
    der: bytes | None
    created_at: datetime
    subscriber_id: str | None = None  # the registered holder, if any


@dataclass(frozen=True)
class ConfirmationSigner:
    """A CA generation's confirmation certificate (issue #17) and the key in the signing
    backend it certifies, as `hsm.backend.KeyRef` names it (uri, algorithm)."""

    serial: str
    generation_id: int
    key_uri: str
    key_algorithm: str
    not_after: datetime
    der: bytes


class StatusBasis(enum.StrEnum):
    """Why a status changed (R8): the holder asked (S7, S8, U9), or the CA decided on its
    own (compromise, false documents, unpaid service...)."""

    HOLDER_REQUEST = "holder_request"
    CA_DECISION = "ca_decision"


@dataclass(frozen=True)
class StatusChange:
    serial: str
    change: StatusChangeKind
    reason: str | None
    effective_at: datetime
    invalidity_date: datetime | None
    actor: str
    recorded_at: datetime
    basis: StatusBasis | None = None
    grounds: str | None = None  # the document or fact the change rests on


@dataclass(frozen=True)
class AuditEvent:
    """One audit entry to append; the registry adds sequence, time and hash chain."""

    actor: str
    action: str
    target: str
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Unanswered:
    """An issued certificate without a pre-signed response, and the status it has."""

    serial: str
    generation_id: int
    status: CertificateStatus
    revoked_at: datetime | None
    reason: str | None  # the CRLReason's name, as status_changes records it


@dataclass(frozen=True)
class OCSPResponseRow:
    """A pre-signed OCSP response (SHA-1 CertID) and the status it states."""

    serial: str
    generation_id: int
    status: CertificateStatus
    revoked_at: datetime | None
    reason: int | None  # CRLReason (RFC 5280 5.3.1); 6 = certificateHold
    this_update: datetime
    next_update: datetime
    der: bytes
    seq: int = 0  # assigned by the registry when written


@dataclass(frozen=True)
class CRLRow:
    generation_id: int
    shard: int
    number: int
    delta_base: int | None  # the base CRL number of a delta CRL, None for a full CRL
    base_change_id: int  # the last status change the CRL reflects
    this_update: datetime
    next_update: datetime
    der: bytes


@dataclass(frozen=True)
class StatusDelta:
    """A certificate whose status changed after a base CRL: what a delta CRL lists."""

    serial: str
    status: CertificateStatus  # now
    crl_entry: bytes | None  # now (None when good)
    listed_since_base: bool  # the base CRL or a later one listed it (revoked or held)


# The rows of the registry's stores: applications, credentials, subscribers, accounts,
# CMP transactions, the outbox, leases and searches.


@dataclass(frozen=True)
class ChainReport:
    entries: int
    intact: bool
    first_broken_seq: int | None = None


@dataclass(frozen=True)
class AccountRow:
    id: str
    name: str
    role: str  # operator, officer, auditor, admin, expert
    created_at: datetime
    created_by: str
    has_token: bool = False
    client_cert_sha256: bytes | None = None
    disabled_at: datetime | None = None


@dataclass(frozen=True)
class ApplicationRow:
    id: str
    profile: str
    subject: str
    request_der: bytes | None  # None: an operator's application, enrolled for once approved
    request_format: str | None  # pkcs10, cmp
    request_sha256: bytes | None
    credential_id: str | None  # the credential the request came with
    state: str  # submitted, approved, rejected, issued
    submitted_by: str
    submitted_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    serial: str | None = None
    subscriber_id: str | None = None
    complete_at: datetime | None = None
    due_at: datetime | None = None
    register_check: str = ""
    received_by: str | None = None  # holder, proxy (P2)
    received_proxy: str | None = None
    received_poa: str | None = None
    received_at: datetime | None = None
    attachments: tuple[tuple[str, bytes], ...] = ()  # (name, SHA-256)
    attachments_removed_at: datetime | None = None  # retention ended (server/node/retention.py)


@dataclass(frozen=True)
class ConfirmationFile:
    """A file of a confirmation case as the registry knows it: never its content."""

    role: str  # document, signature (S10); certificate (S11)
    name: str  # as the submitter named it
    size: int
    sha256: bytes


@dataclass(frozen=True)
class ConfirmationCaseRow:
    """A confirmation case (regulation 8.2, V3; migration 0026)."""

    id: str
    kind: str  # signature (S10), certificate (S11)
    submitter: str
    questions: str
    received_by: str
    received_at: datetime
    due_at: datetime
    files_until: datetime
    state: str  # registered, assigned, answered
    check_report: str  # the automatic check's report, JSON
    files: tuple[ConfirmationFile, ...] = ()
    expert: str | None = None  # the assigned expert's account name
    assigned_by: str | None = None
    assigned_at: datetime | None = None
    expert_report: str | None = None  # JSON
    answered_at: datetime | None = None
    files_removed_at: datetime | None = None  # their retention ended (server/node/retention.py)


@dataclass(frozen=True)
class CredentialRow:
    id: str
    secret_hash: bytes
    salt: bytes
    profile: str
    subject: str
    expires_at: datetime
    claimed_at: datetime | None
    used_serial: str | None
    alt_names: str = "{}"  # JSON {"dns": [...], "ip": [...], "email": [...]}
    subscriber_id: str | None = None
    application_id: str | None = None  # handed out by approving this application


@dataclass(frozen=True)
class CMPTransaction:
    transaction_id: bytes
    requester: str
    state: str  # open, waiting, awaiting_confirm, done, expired
    our_nonce: bytes | None
    serial: str | None
    cert_req_id: int | None
    confirm_by: datetime | None
    reply_kind: str | None
    implicit_confirm: bool
    application_id: str | None
    their_nonce: bytes | None = None  # the client's last senderNonce, when one is awaited
    protection: str | None = None  # the opening request's: "signature" or its MAC's OID


@dataclass(frozen=True)
class SubscriberRow:
    id: str
    kind: str  # individual, legal_entity, sole_proprietor
    name: str
    surname: str | None
    given_names: str | None
    email: str | None
    snils: str | None
    inn: str | None
    ogrn: str | None
    ogrnip: str | None
    country: str
    region: str | None
    locality: str | None
    street: str | None
    registered_by: str
    registered_at: datetime
    # C1: when the retention duty erased the personal data (server/node/retention.py); the
    # row stays, by id, for the certificates, applications and audit entries naming it
    erased_at: datetime | None = None


def erased_refusal(subscriber_id: str) -> CAError:
    """The refusal of anything new (an application, an enrollment code, an identity record,
    a notice acknowledgement) for a subscriber whose personal data were erased (C1)."""
    return CAError(
        ErrorKind.REJECTED,
        f"subscriber {subscriber_id}'s personal data were erased when their retention ended: "
        "register the subscriber anew",
    )


@dataclass(frozen=True)
class IdentityRow:
    id: str
    subscriber_id: str
    document_type: str  # passport_rf, foreign_passport, other
    document_number: str
    document_issuer: str
    document_date: date
    presence: str  # in_person, proxy
    proxy_name: str | None
    poa_number: str | None
    poa_date: date | None
    verified_by: str
    verified_at: datetime


@dataclass(frozen=True)
class OutboxEvent:
    seq: int  # the order of events, and the receiver's key for dropping a repeat
    kind: str
    payload: dict[str, object]
    created_at: datetime
    attempts: int = 0  # failed ones, and the one that delivered it
    last_error: str | None = None  # of the last failed attempt


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires_at: datetime
    acquired_at: datetime


@dataclass(frozen=True)
class RevokedEntry:
    serial: str
    status: CertificateStatus  # revoked or hold
    revoked_at: datetime
    reason: str | None  # RFC 5280 5.3.1 reason name
    invalidity_date: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, object]


def to_text(moment: datetime) -> str:
    """The moment as YYYY-MM-DDTHH:MM:SSZ in UTC. Formatted by hand, not by strftime, with no
    astimezone for a moment already in UTC: an issuance writes about ten of these, and
    this takes half the time."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 (the fastest form here)
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second
    )  # fmt: skip


def from_text(text: str) -> datetime:
    """The moment `to_text` wrote. fromisoformat, not strptime: about fifty times faster,
    and a page of stored OCSP responses holds three moments a row."""
    if len(text) != 20 or text[10] != "T" or text[19] != "Z":
        raise ValueError(f"not a registry time: {text!r}")
    return datetime.fromisoformat(text)


CERTIFICATE_COLUMNS = (
    "serial, generation_id, profile, subject, spki_sha256, not_before, not_after, state, "
    "status, der, created_at, subscriber_id"
)


def certificate_from_row(row: Sequence[Any]) -> CertificateRecord:
    return CertificateRecord(
        serial=row[0],
        generation_id=row[1],
        profile=row[2],
        subject=row[3],
        spki_sha256=row[4],
        not_before=from_text(row[5]),
        not_after=from_text(row[6]),
        state=row[7],
        status=CertificateStatus(row[8]),
        der=row[9],
        created_at=from_text(row[10]),
        subscriber_id=row[11],
    )
