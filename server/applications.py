"""Applications: enrollment requests that wait for an operator's decision (profiles with
`requires_approval`), as RFC 7030 4.2.3 (EST) and RFC 9483 4.4 (CMP polling) expect.

Theory of operation:
1. A request under such a profile is checked as issuance would check it (proof of
   possession, key type, the subject the credential binds, subjectAltName), holds its
   credential, and is kept as an application; the client is told to come back later
   (CAError PENDING: EST 202 with Retry-After).
2. An operator lists the applications and approves one, which issues the certificate from
   the kept request and the credential's subject (D2), or rejects it with a reason.
3. The client's repeated request (the same credential and the same PKCS#10) finds its
   application: still waiting, rejected with the reason, or the certificate.

A rejected application keeps its credential spent: the operator makes a new one.
"""

from __future__ import annotations

import hashlib
import secrets

from protocols.x509 import csr as csr_codec
from protocols.x509 import names
from server.authority import Authority, Clock, IssuedCertificate
from server.cmp_requests import kept_request
from server.enrollment_credentials import EnrollmentCredential, EnrollmentCredentials
from server.errors import CAError, ErrorKind
from server.registry import AuditEvent, SQLiteRegistry
from server.registry.application_store import ApplicationRow

STATES = ("submitted", "rejected", "issued")


class ApplicationPending(CAError):
    """The request is an application that awaits an operator (EST 202, CMP waiting)."""

    def __init__(self, application_id: str) -> None:
        super().__init__(ErrorKind.PENDING, f"application {application_id} awaits an operator")
        self.application_id = application_id


class Applications:
    def __init__(
        self,
        registry: SQLiteRegistry,
        credentials: EnrollmentCredentials,
        authority: Authority,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._store = registry.applications
        self._credentials = credentials
        self._authority = authority
        self._clock = clock

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
        await self._credentials.hold(credential)
        now = self._clock()
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
        )
        audit = AuditEvent(actor, "application.submit", application.id,
                           {"profile": application.profile, "subject": application.subject,
                            "credential": credential.id})  # fmt: skip
        try:
            await self._store.add(application, audit)
        except BaseException:
            await self._credentials.release(credential.id)
            raise
        return application

    async def approve(self, application_id: str, actor: str) -> IssuedCertificate:
        """Issue the certificate of a submitted application.

        Raises CAError: NOT_FOUND, REJECTED (decided already, or being decided), and what
        issuance raises (the application then stays submitted)."""
        application = await self._submitted(application_id)
        if not await self._store.claim_decision(application.id, actor, self._clock()):
            raise CAError(ErrorKind.REJECTED, f"application {application.id} is being decided")
        try:
            issued = await self._authority.issue(
                application.profile,
                kept_request(application.request_der, application.request_format),
                actor,
                subject=names.parse_dn(application.subject),
            )
        except BaseException:
            await self._store.release_decision(application.id)
            raise
        audit = AuditEvent(actor, "application.approve", application.id, {"serial": issued.serial})
        await self._store.issued(application, issued.serial, self._clock(), audit)
        return issued

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

    async def _submitted(self, application_id: str) -> ApplicationRow:
        application = await self._store.get(application_id)
        if application is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no application {application_id}")
        if application.state != "submitted":
            raise CAError(
                ErrorKind.REJECTED, f"application {application.id} is {application.state} already"
            )
        return application
