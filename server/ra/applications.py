"""Applications: what an officer decides on before a certificate is issued (R1, R4-R6,
P2, P4, D2).

Two ways in:
- A protocol request under a profile with `requires_approval` (RFC 7030 4.2.3 for EST,
  RFC 9483 4.4 for CMP polling). It is checked as issuance would check it (proof of
  possession, key type, the subject the credential binds, subjectAltName), holds its
  credential, and is kept; the client is told to come back later (CAError PENDING: EST 202
  with Retry-After). Approval issues from the kept request; the client's repeated request
  (the same credential and request) then finds the certificate, or the rejection's reason.
- An operator's application for a registered subscriber (server/ra/subscribers.py), with the
  names and SHA-256 of its documents, and possibly the holder's PKCS#10 request. Approval
  issues from that request, or, without one, hands out a one-time enrollment credential
  bound to the application: the holder enrolls with it over EST or CMP, and that issuance
  completes the application.

Either way the subject comes from the registry (D2): the subscriber's registered data, or
the credential's subject. An application is due `ra.due_working_days` working days after
it is complete (P4); overdue ones are listed and counted. Who received the certificate,
the holder or a proxy with a power of attorney, is recorded (P2). A rejected application
keeps its credential spent: the operator makes a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge

from config import Settings
from protocols.x509 import csr as csr_codec
from protocols.x509 import names
from server.authority import Authority, IssuedCertificate
from server.clock import Clock
from server.enrollment.credentials import REFUSAL, EnrollmentCredential, EnrollmentCredentials
from server.errors import CAError, ErrorKind
from server.ra.register_check import NoRegisterCheck, RegisterCheck
from server.ra.subscribers import Subscribers
from server.ra.working_days import WorkingCalendar
from server.registry import AuditEvent, HoldRefused, IntentHolds, interfaces
from server.registry.records import ApplicationRow
from server.request_checks import parse_request

STATES = ("submitted", "approved", "rejected", "issued")
RECEIVERS = ("holder", "proxy")


@dataclass(frozen=True)
class Approval:
    """What approving gives: the certificate, or (an application without a request) the
    enrollment credential the holder enrolls with, and its secret, shown once."""

    application: ApplicationRow
    issued: IssuedCertificate | None = None
    credential: EnrollmentCredential | None = None
    secret: str | None = None


class ApplicationPending(CAError):
    """The request is an application that awaits an operator (EST 202, CMP waiting)."""

    def __init__(self, application_id: str) -> None:
        super().__init__(ErrorKind.PENDING, f"application {application_id} awaits an operator")
        self.application_id = application_id


class ApplicationsRegistry(interfaces.Applications, interfaces.Certificates, Protocol):
    """The registry as applications use it."""


class Applications:
    def __init__(
        self,
        settings: Settings,
        registry: ApplicationsRegistry,
        credentials: EnrollmentCredentials,
        authority: Authority,
        subscribers: Subscribers,
        clock: Clock,
        register_check: RegisterCheck | None = None,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._overdue = Gauge(
            "ca_applications_overdue",
            "Complete applications not issued by their due date (P4), as of the last scrape",
            registry=metrics,
        )
        self._registry = registry
        self._store = registry.applications
        self._credentials = credentials
        self._authority = authority
        self._subscribers = subscribers
        self._clock = clock
        self._register_check = register_check or NoRegisterCheck()
        ra = settings.ra
        self._calendar = WorkingCalendar.from_settings(
            ra.holidays, ra.working_weekends, ra.time_zone
        )

    def due_date(self, complete_at: datetime) -> datetime:
        """When an application complete at `complete_at` becomes overdue (P4)."""
        return self._calendar.add_working_days(complete_at, self._settings.ra.due_working_days)

    async def submit(
        self,
        subscriber_id: str,
        profile: str,
        actor: str,
        attachments: Sequence[tuple[str, bytes]] = (),
        request_der: bytes | None = None,
        complete: bool = True,
    ) -> ApplicationRow:
        """An operator's application for a registered subscriber, with its documents'
        (name, SHA-256) and optionally the holder's PKCS#10 request (PEM or DER). The state
        registers are asked (R2); an application they contradict is recorded rejected
        with their answer (R4). `complete` False: documents are missing, and the due date
        starts only with `complete`.

        Raises CAError: NOT_FOUND (subscriber), REJECTED (unknown profile, a profile rule),
        MALFORMED (a bad request or attachment), BAD_POP."""
        subscriber = await self._subscribers.get(subscriber_id)
        if profile not in self._settings.profiles:
            raise CAError(ErrorKind.REJECTED, f"no certificate profile named {profile!r}")
        subject = self._subscribers.subject_for(subscriber, profile)
        seen = set()
        for name, digest in attachments:
            if not name.strip() or len(name) > 256 or name in seen or len(digest) != 32:
                raise CAError(
                    ErrorKind.MALFORMED,
                    "attachments: each needs a unique name and a SHA-256 of 32 octets",
                )
            seen.add(name)
        kept = None
        if request_der is not None:
            request = parse_request(request_der)
            self._authority.check_request(profile, request, subject)
            kept = request.der
        check = await self._register_check.check(subscriber)
        now = self._clock()
        application = ApplicationRow(
            id=f"ap-{secrets.token_hex(8)}",
            profile=profile,
            subject=names.format_dn(subject),
            request_der=kept,
            request_format="pkcs10" if kept is not None else None,
            request_sha256=hashlib.sha256(kept).digest() if kept is not None else None,
            credential_id=None,
            state="submitted" if check.passed else "rejected",
            submitted_by=actor,
            submitted_at=now,
            subscriber_id=subscriber_id,
            complete_at=now if complete else None,
            due_at=self.due_date(now) if complete else None,
            register_check=check.note,
            attachments=tuple((name, bytes(digest)) for name, digest in attachments),
        )
        if not check.passed:
            application = dataclasses.replace(
                application, decided_by="register-check", decided_at=now, reason=check.note
            )
        audit = AuditEvent(actor, "application.submit", application.id,
                           {"profile": profile, "subscriber": subscriber_id,
                            "attachments": [name for name, _ in attachments],
                            "register_check": check.note, "state": application.state})  # fmt: skip
        await self._store.add(application, audit)
        return application

    async def complete(self, application_id: str, actor: str) -> ApplicationRow:
        """Every document is in: the due date starts (P4). Raises CAError: NOT_FOUND,
        REJECTED (not submitted, or complete already)."""
        application = await self._submitted(application_id)
        now = self._clock()
        due = self.due_date(now)
        audit = AuditEvent(actor, "application.complete", application.id,
                           {"due_at": due.isoformat()})  # fmt: skip
        if not await self._store.complete(application.id, now, due, audit):
            raise CAError(ErrorKind.REJECTED, f"application {application.id} is complete already")
        return await self._existing(application.id)

    async def handed_over(
        self,
        application_id: str,
        received_by: str,
        actor: str,
        proxy_name: str | None = None,
        power_of_attorney: str | None = None,
    ) -> ApplicationRow:
        """Record who received the issued certificate (P2): the holder, or a proxy named
        with the number and date of the power of attorney. Raises CAError: NOT_FOUND,
        MALFORMED, REJECTED (not issued, or recorded already)."""
        if received_by not in RECEIVERS:
            raise CAError(ErrorKind.MALFORMED, f"received_by: must be one of {RECEIVERS}")
        proxy = received_by == "proxy"
        if proxy != bool(proxy_name and power_of_attorney):
            raise CAError(
                ErrorKind.MALFORMED,
                "proxy_name and power_of_attorney: given exactly when a proxy received it",
            )
        application = await self._existing(application_id)
        audit = AuditEvent(actor, "application.handover", application.id,
                           {"received_by": received_by})  # fmt: skip
        done = await self._store.handed_over(
            application.id, received_by, proxy_name, power_of_attorney, self._clock(), audit
        )
        if not done:
            raise CAError(
                ErrorKind.REJECTED,
                f"application {application.id} is {application.state}; a handover is recorded"
                " once, for an issued certificate",
            )
        return await self._existing(application.id)

    async def overdue(self, limit: int = 100) -> list[ApplicationRow]:
        """Complete applications still undecided or not enrolled for after their due date."""
        return await self._store.overdue(self._clock(), limit)

    async def count_overdue(self) -> int:
        return await self._store.count_overdue(self._clock())

    async def refresh_metrics(self) -> None:
        """Count the overdue applications into their gauge (before each scrape)."""
        self._overdue.set(await self.count_overdue())

    async def enroll(
        self,
        credential: EnrollmentCredential,
        request_der: bytes,
        request_format: str,
        request: bytes | csr_codec.CSR,
        actor: str,
    ) -> IssuedCertificate:
        """The certificate once the application of this request is approved. The request
        is kept as `request_der` in `request_format` ("pkcs10", or "cmp": the whole
        PKIMessage); `request` is it parsed, for the checks made now.

        Raises CAError: ApplicationPending (submitted now, or still waiting), REJECTED
        (rejected by an operator, with the reason; or the request breaks the profile's
        rules), MALFORMED, BAD_POP, UNAUTHORIZED (the credential is spent or held by
        another request)."""
        digest = hashlib.sha256(request_der).digest()
        application = await self._store.find(credential.id, digest)
        if application is None:
            application = await self._submit(
                credential, request_der, request_format, request, digest, actor
            )
        return await self.outcome(application)

    async def get(self, application_id: str) -> ApplicationRow | None:
        return await self._store.get(application_id)

    async def outcome(self, application: ApplicationRow) -> IssuedCertificate:
        """The certificate of an issued application. Raises CAError: REJECTED (with the
        operator's reason), ApplicationPending."""
        if application.state == "rejected":
            reason = application.reason
            raise CAError(
                ErrorKind.REJECTED, f"application {application.id} was rejected: {reason}"
            )
        if application.state == "issued" and application.serial is not None:
            record = await self._registry.get_certificate(application.serial)
            if record is not None and record.der is not None:
                return IssuedCertificate(serial=record.serial, der=record.der)
        raise ApplicationPending(application.id)

    async def _submit(
        self,
        credential: EnrollmentCredential,
        request_der: bytes,
        request_format: str,
        request: bytes | csr_codec.CSR,
        digest: bytes,
        actor: str,
    ) -> ApplicationRow:
        self._authority.check_request(credential.profile, request, credential.subject)
        now = self._clock()  # a protocol request is complete as it comes
        application = ApplicationRow(
            id=f"ap-{secrets.token_hex(8)}",
            profile=credential.profile,
            subject=names.format_dn(credential.subject),
            request_der=request_der,
            request_format=request_format,
            request_sha256=digest,
            credential_id=credential.id,
            state="submitted",
            submitted_by=actor,
            submitted_at=now,
            subscriber_id=credential.subscriber_id,
            complete_at=now,
            due_at=self.due_date(now),
        )
        audit = AuditEvent(actor, "application.submit", application.id,
                           {"profile": application.profile, "credential": credential.id,
                            "subscriber": credential.subscriber_id})  # fmt: skip
        try:
            await self._store.add(application, audit)  # holds the credential from now on
        except HoldRefused:  # expired, used, or held by another request
            raise CAError(ErrorKind.UNAUTHORIZED, REFUSAL) from None
        return application

    async def approve(
        self, application_id: str, actor: str, valid_for: timedelta = timedelta(days=7)
    ) -> Approval:
        """Approve a submitted application: issue its certificate from its request, or
        (none) hand out an enrollment credential valid for `valid_for`. A subscriber's
        must have an identity record and the notice acknowledged first (P3, D1).

        Raises CAError: NOT_FOUND, REJECTED (decided already, or being decided; the
        subscriber is not ready), and what issuance raises (the application then stays
        submitted)."""
        application = await self._submitted(application_id)
        if application.subscriber_id is not None:
            await self._subscribers.ready(application.subscriber_id)
        if application.request_der is None:
            return await self._approve_for_enrollment(application, actor, valid_for)
        request_format = application.request_format or "pkcs10"
        # here, not at the top: the CMP codecs cost ~0.6 s to import, which every command
        # line that opens the CA would pay without ever reading a kept CMP request
        from server.cmp.cert_requests import kept_request

        try:
            # Held for this decision with the intent, issued with the certificate (and its
            # credential spent) in the transaction that records it.
            issued = await self._authority.issue(
                application.profile,
                kept_request(application.request_der, request_format),
                actor,
                subject=names.parse_dn(application.subject),
                subscriber_id=application.subscriber_id,
                holds=IntentHolds(application_id=application.id),
                application_id=application.id,
            )
        except HoldRefused:
            raise CAError(
                ErrorKind.REJECTED, f"application {application.id} is being decided"
            ) from None
        return Approval(await self._existing(application.id), issued=issued)

    async def _approve_for_enrollment(
        self, application: ApplicationRow, actor: str, valid_for: timedelta
    ) -> Approval:
        credential, secret = await self._credentials.create(
            application.profile,
            application.subject,
            valid_for,
            actor,
            subscriber_id=application.subscriber_id,
            application_id=application.id,
        )
        return Approval(await self._existing(application.id), credential=credential, secret=secret)

    async def reject(self, application_id: str, actor: str, reason: str) -> None:
        """Raises CAError: NOT_FOUND, REJECTED (decided already or being decided, or no
        reason given)."""
        if not reason.strip():
            raise CAError(ErrorKind.REJECTED, "a rejection needs a reason")
        application = await self._submitted(application_id)
        audit = AuditEvent(actor, "application.reject", application.id, {"reason": reason})
        if not await self._store.reject(application.id, actor, self._clock(), reason, audit):
            raise CAError(ErrorKind.REJECTED, f"application {application.id} is being decided")

    async def by_state(self, state: str | None = None, limit: int = 100) -> list[ApplicationRow]:
        """The applications in `state` (all when None), oldest first."""
        if state is not None and state not in STATES:
            raise CAError(ErrorKind.MALFORMED, f"no application state {state!r}")
        return await self._store.by_state(state, limit)

    async def _existing(self, application_id: str) -> ApplicationRow:
        application = await self._store.get(application_id)
        if application is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no application {application_id}")
        return application

    async def _submitted(self, application_id: str) -> ApplicationRow:
        application = await self._existing(application_id)
        if application.state != "submitted":
            raise CAError(
                ErrorKind.REJECTED, f"application {application.id} is {application.state} already"
            )
        return application
