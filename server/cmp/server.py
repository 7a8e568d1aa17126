"""The CMP server (RFC 4210 / RFC 9480, Lightweight CMP Profile RFC 9483): the CA's rules
for each message; protocols/cmp reads and writes the messages, server/web/cmp.py carries
them over HTTP (RFC 6712).

Theory of operation, for each request:
1. Read it (badDataFormat otherwise), check its version (unsupportedVersion), then
   authenticate it by its protection: an algorithm of RFC 9481 (badAlg otherwise), a MAC
   (PasswordBasedMac or PBMAC1) keyed by the enrollment credential it names, or a signature
   by a good certificate of this CA sent first in extraCerts (RFC 9483 3.2). Nothing
   unprotected is served; what cannot be authenticated is answered signed by the CMP
   protection certificate (unprotected when there is none, RFC 9483 3.6.4).
2. Check the protection its body needs, who it claims to be and its header: sender,
   senderKID, transactionID, nonces, messageTime, generalInfo (RFC 9483 3.1, 3.5, 4.1.3,
   4.2); refused protected, like what follows. server/cmp/sender.py and
   server/cmp/header.py hold these checks. Every refusal of an rr is an rp (4.2).
3. Act: ir/cr/kur/p10cr issue through the same services as EST (the subject from the
   credential or the protecting certificate, D2; proof of possession checked, D8); certConf
   confirms (or rejects, which revokes); rr revokes; genm answers caCerts and CRLs; a
   nested message from a trusted RA has each inner request served so (server/cmp/ra.py).
4. Answer protected the way the request was: the same MAC, or the signature of this
   server's CMP protection certificate (server/cmp/identity.py) with its chain in
   extraCerts (RFC 9483 3.2, 3.3, 4.1).

A transactionID is used once (transactionIdInUse). An enrolment claims it in the write
that records its issuance's intent (CMPDelivery.opens), so its transaction costs no write of
its own; one refused by issuance records it used afterwards, and one that may become an
application claims it before the application is filed. A certificate sent without implicit
confirmation waits for certConf until `cmp.confirm_wait_seconds`; one still unconfirmed then
is revoked (RFC 9483 4.1.1) by the builder process's sweeper (`run`), or at once by a
certConf that comes too late. The wait is recorded in the transaction that records the
certificate (CMPDelivery), so a certificate whose answer a crash lost is revoked too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from asn1crypto import cms as asn1_cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from config import Settings
from protocols import cmp, der, gost
from protocols.crl import CRLReason
from protocols.x509 import csr as csr_codec
from server.authority import IssuedCertificate
from server.clock import Clock
from server.cmp.cert_requests import answered_cert_req_id, certification_request, crmf_request
from server.cmp.general import GeneralMessageRefusal, GeneralMessages
from server.cmp.header import ID_OCTETS
from server.cmp.identity import key_agreement_refusal
from server.cmp.key_update import check_key_management_usage, check_old_cert_id, pending_update
from server.cmp.ra import Inner, RAMessages, RARefusal
from server.cmp.revocation import CMPRevocations
from server.cmp.sender import (
    MAC_ITERATIONS_ON_LOOP,
    CMPRefusal,
    SenderChecks,
    check_continuation,
    check_version,
)
from server.cmp.shared_read import SharedRead
from server.cmp.templates import (
    TemplateRejected,
    check_template,
    modifications,
    pkcs10_template,
    requested_key_usages,
)
from server.enrollment.credentials import EnrollmentCredential, EnrollmentCredentials
from server.enrollment.enroll import Enrollment, HolderEnrollment
from server.enrollment.key_packages import (
    encrypted_key_package,
    password_key_package,
    subject_key_identifier,
)
from server.enrollment.new_keys import new_key
from server.errors import CAError, ErrorKind
from server.node.tls import ServerIdentity
from server.ra.applications import ApplicationPending, Applications
from server.registry import CMPDelivery, CMPOpening, TransactionIdInUse, interfaces
from server.registry.records import CMPTransaction
from server.status.crl_publisher import CRLPublisher
from server.status.distribution_points import crl_url
from server.status.revocation import Revocation

log = logging.getLogger(__name__)

F = cmp.FailureInfo
# The core's refusals as PKIFailureInfo (RFC 4210 5.2.3).
FAILURE = {
    ErrorKind.MALFORMED: F.badRequest,
    ErrorKind.BAD_POP: F.badPOP,
    ErrorKind.REJECTED: F.badCertTemplate,
    ErrorKind.DUPLICATE: F.badCertTemplate,
    ErrorKind.ALREADY_REVOKED: F.certRevoked,
    ErrorKind.EXPIRED: F.badCertId,
    ErrorKind.UNAUTHORIZED: F.notAuthorized,
    # Not permitted by this route, whoever asks (an unbound code for a registered-only
    # profile; rr of the CA's own certificates, RFC 9483 4.2): notAuthorized in an error
    # message (RFC 9483 3.6.4), the text naming the route that is permitted.
    ErrorKind.FORBIDDEN: F.notAuthorized,
    ErrorKind.NOT_FOUND: F.badCertId,
    ErrorKind.PENDING: F.badRequest,
    ErrorKind.BUSY: F.systemUnavail,
    ErrorKind.UNAVAILABLE: F.systemUnavail,
    ErrorKind.INTERNAL: F.systemFailure,
}
INTERNAL_TEXT = "internal error"  # all an unexpected failure tells the client
SWEEP_EVERY_S = 5
ENROLMENT_REPLY = {"ir": "ip", "cr": "cp", "kur": "kup", "p10cr": "cp"}
# RFC 9483 3.6.2: a refusal of what an ir/cr/kur/p10cr body asks (its template, key, proof
# of possession, what policy allows) is the ip/cp/kup itself with status rejection, so the
# client reads it where it reads a certificate. What is not about the body (authentication,
# the header, transactionIdInUse: 3.5; the credential spent; a route not permitted; the
# system busy or failing) stays an error message (3.6.4).
IN_KIND = frozenset({ErrorKind.MALFORMED, ErrorKind.BAD_POP, ErrorKind.REJECTED,
                     ErrorKind.DUPLICATE})  # fmt: skip
NULL_NAME = asn1_x509.GeneralName(name="directory_name", value=asn1_x509.Name.build({})).dump()
SIGNED_WITH = cmp.signature_algorithm_der("sha256_ecdsa")  # the CMP protection key's (P-256)


def _log_unexpected(failure: BaseException) -> None:
    """Where a caller that keeps no metrics (tests, benchmarks) has unexpected failures go."""
    log.error("CMP: unexpected error", exc_info=failure)


@dataclass
class _Reply:
    """The answer being made: its body, our senderNonce, whether implicitConfirm is
    granted."""

    kind: str = "error"
    body: bytes = b""
    nonce: bytes = b""
    implicit_confirm: bool = False
    pvno: int | None = None  # None: as the request's
    extra_certs: list[bytes] = field(default_factory=list)  # RFC 9483 4.1.1: issued's chain


@dataclass(frozen=True)
class _Sender:
    """Who sent the request, as its protection proves: an enrollment credential (MAC) or
    a certificate of this CA (signature)."""

    credential: EnrollmentCredential | None = None
    secret: bytes = b""
    certificate: bytes | None = None
    ra: str | None = None  # a trusted RA's own request (replaced protection, server/cmp/ra.py)
    mac_work: int = 0  # of the request's MAC in SHA-2 iterations, which the answer's repeats

    @property
    def name(self) -> str:
        if self.credential is not None:
            return self.credential.id
        assert self.certificate is not None
        return format(x509.load_der_x509_certificate(self.certificate).serial_number, "x")


class CMPRegistry(
    interfaces.CMPTransactions,
    interfaces.Generations,
    interfaces.Roots,  # for genm caCerts and rootCaKeyUpdate: the home's roots
    interfaces.Certificates,
    interfaces.StatusHistory,  # for server/cmp/revocation.py
    Protocol,
):
    """The registry as the CMP server uses it."""


class CMPServer:
    def __init__(
        self,
        settings: Settings,
        registry: CMPRegistry,
        credentials: EnrollmentCredentials,
        enrollment: Enrollment,
        applications: Applications,
        holders: HolderEnrollment,
        revocation: Revocation,
        crls: CRLPublisher,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._crls = crls
        self._cmp = settings.cmp
        self._registry = registry
        self._transactions = registry.cmp
        self._credentials = credentials
        self._enrollment = enrollment
        self._applications = applications
        self._holders = holders
        self._revocation = revocation
        self._clock = clock
        self._ras = RAMessages(settings)
        self._generations = SharedRead(lambda: registry.generations(settings.ca.name))
        self._senders = SenderChecks(settings.cmp, registry, credentials, clock)

    async def handle(
        self,
        der: bytes,
        profile: str,
        identity: ServerIdentity | None,
        unexpected: Callable[[BaseException], object] = _log_unexpected,
    ) -> bytes:
        """The DER answer to one DER request under `profile` (the path label's). Never
        raises: a failure nobody expected goes to `unexpected` (the adapter logs and counts
        it) and is answered systemFailure without detail (RFC 4210 5.2.3). Refusals of a
        request that cannot be authenticated are signed by the CMP protection certificate
        `identity` (RFC 9483 3.6.4), unprotected only without one (or when the request does
        not decode, or protecting the answer failed)."""
        message = None
        try:
            try:
                message = cmp.parse_pki_message(der)
            except cmp.CMPFormatError as exc:  # RFC 9483 3.6.4: undecodable
                return self._unprotected_error(None, F.badDataFormat, f"not a PKIMessage: {exc}")
            try:  # RFC 9483 3.6.4: what cannot be authenticated is answered signed by us
                check_version(message)
                sender = await self._authenticate(message)
            except CMPRefusal as refusal:
                return await self._unauthenticated(message, refusal, identity)
            return await self._answer(message, sender, profile, identity, unexpected)
        except Exception as exc:  # before authentication, or while protecting the answer
            unexpected(exc)
            return self._unprotected_error(message, FAILURE[ErrorKind.INTERNAL], INTERNAL_TEXT)

    async def _answer(
        self,
        message: cmp.PKIMessage,
        sender: _Sender,
        profile: str,
        identity: ServerIdentity | None,
        unexpected: Callable[[BaseException], object],
    ) -> bytes:
        """The protected answer to an authenticated request (direct, or inside an RA's
        nested message). Raises only while protecting the answer."""
        reply = _Reply(nonce=secrets.token_bytes(16))
        try:  # errors about an authenticated request go out protected like it
            continued = await self._check_header(message, sender)
            if message.body_type == "nested":  # RFC 9483 5.2.2: server/cmp/ra.py
                ra = await self._ras.answer(
                    self, message, sender.certificate, profile, identity, unexpected
                )
                if ra.unwrapped is not None:
                    return ra.unwrapped
                assert ra.nested_body is not None
                reply.kind, reply.body = "nested", ra.nested_body
            else:
                await self._ras.check_originals(self, message, sender.ra)  # RFC 9483 5.2.3.1
                await self._act(message, sender, profile, reply, identity, continued)
                if message.body_type == "pollReq" and reply.kind != "error":
                    await self._senders.remember_sender_nonce(message)  # the next must differ
        except (CMPRefusal, RARefusal) as refusal:
            reply.kind, reply.body = _refusal(message, refusal.failure, refusal.text)
        except CAError as exc:
            text = exc.message if exc.kind is not ErrorKind.INTERNAL else INTERNAL_TEXT
            reply.kind, reply.body = _refusal(message, FAILURE[exc.kind], text)
        except Exception as exc:
            unexpected(exc)
            kind, body = _refusal(message, FAILURE[ErrorKind.INTERNAL], INTERNAL_TEXT)
            reply = _Reply(kind=kind, body=body, nonce=reply.nonce)
        return await self._protected(message, sender, reply, identity)

    # -- an RA's inner requests (server/cmp/ra.py's InnerRequests) ------------------------------

    async def inner_request(self, der: bytes) -> Inner:
        """RFC 9483 5.2.2: an inner request of a trusted RA's nested message, read and
        authenticated as a direct one. It is the end entity's own: the RA vouches for
        nothing in it, even when it is signed by the RA (5.2.3.2)."""
        try:
            message = cmp.parse_pki_message(der)
        except cmp.CMPFormatError as exc:
            raise RARefusal(F.badDataFormat, f"a nested message: {exc}") from None
        try:
            check_version(message)
            sender = await self._authenticate(message)
            await self._check_header(message, sender)
        except CMPRefusal as refusal:
            raise RARefusal(refusal.failure, f"a nested message: {refusal.text}") from None
        return Inner(message, dataclasses.replace(sender, ra=None))

    async def check_original(self, der: bytes) -> None:
        """RFC 9483 5.2.3.1: an end entity's original, kept by a trusted RA that replaced its
        protection (server/cmp/ra.py): signed by a certificate of ours, it must verify."""
        try:
            original = cmp.parse_pki_message(der)
        except cmp.CMPFormatError as exc:
            raise RARefusal(F.badDataFormat, f"origPKIMessage: {exc}") from None
        try:
            signed = self._senders.protection_kind(original) == "signature"
        except CMPRefusal:  # unprotected, or an algorithm of no use here: the RA's to check
            return
        if not signed or not original.extra_certs:  # a MAC, or no certificate named
            return
        try:
            await self._senders.signer(original)
        except CMPRefusal as refusal:  # another PKI's, revoked...: the RA's to judge
            if refusal.failure is F.badMessageCheck:  # ours, and the signature fails
                raise RARefusal(F.badMessageCheck, f"origPKIMessage: {refusal.text}") from None

    async def inner_answer(
        self,
        inner: Inner,
        profile: str,
        identity: ServerIdentity | None,
        unexpected: Callable[[BaseException], object],
    ) -> bytes:
        return await self._answer(inner.message, inner.sender, profile, identity, unexpected)

    # -- checks ------------------------------------------------------------------------------

    async def _check_header(
        self, message: cmp.PKIMessage, sender: _Sender
    ) -> CMPTransaction | None:
        """server/cmp/sender.py, step 3: the protection the body needs, sender,
        transactionID, nonces, messageTime, generalInfo; a certConf/pollReq protected like
        its transaction, which is returned (read once per request, `_transaction_of`)."""
        self._senders.check_header(message, sender.certificate)
        return await self._senders.check_continued_protection(message, _protection(message, sender))

    async def _authenticate(self, message: cmp.PKIMessage) -> _Sender:
        """server/cmp/sender.py, step 2: the protection (RFC 9483 3.2, RFC 9481)."""
        if self._senders.protection_kind(message) == "mac":
            return await self._mac_sender(message)
        return await self._signature_sender(message)

    async def _mac_sender(self, message: cmp.PKIMessage) -> _Sender:
        credential, secret, work = await self._senders.mac_credential(message)
        return _Sender(credential=credential, secret=secret, mac_work=work)

    async def _signature_sender(self, message: cmp.PKIMessage) -> _Sender:
        certificate = await self._senders.signer(message)
        return _Sender(certificate=certificate, ra=self._ras.trusted_ra(certificate))

    # -- acting --------------------------------------------------------------------------------

    async def _act(
        self,
        message: cmp.PKIMessage,
        sender: _Sender,
        profile: str,
        reply: _Reply,
        identity: ServerIdentity | None,
        continued: CMPTransaction | None,
    ) -> None:
        """`continued`: the transaction a certConf/pollReq continues, as `_check_header`
        read it."""
        kind = message.body_type
        if kind in ("ir", "cr", "kur") and _asks_for_a_key(message):  # RFC 9483 4.1.6
            await self._enrol_central(message, sender, profile, reply, identity)
        elif kind in ENROLMENT_REPLY:
            await self._enrol(message, sender, profile, reply)
        elif kind == "certConf":
            reply.kind, reply.body = "pkiconf", await self._confirm(message, sender, continued)
        elif kind == "rr":
            reply.kind, reply.body = "rp", await self._revoke(message, sender)
        elif kind == "genm":
            reply.kind, reply.body = "genp", await self._general(message, profile)
        elif kind == "pollReq":
            await self._poll(message, sender, reply, continued)
        else:
            raise CMPRefusal(F.badRequest, f"{kind} messages are not served here")

    async def _enrol(
        self, message: cmp.PKIMessage, sender: _Sender, profile: str, reply: _Reply
    ) -> None:
        kind = message.body_type
        transaction_id = await self._unused_transaction_id(message)
        implicit = message.header.implicit_confirm and self._cmp.implicit_confirm
        reply.kind = ENROLMENT_REPLY[kind]
        cert_req_id = answered_cert_req_id(message)
        try:  # what the body asks, read and checked: a refusal here leaves no trace
            request, cert_req_id = certification_request(message, ra_verified=sender.ra is not None)
            template = (
                pkcs10_template(request) if isinstance(request, bytes) else message.cert_requests[0]
            )
            if template is not None:
                check_template(template, subject_from_code=sender.credential is not None)
            await self._check_holder(message, sender, template)
        except CAError as exc:
            self._rejection(reply, cert_req_id, exc)
            return
        opening = self._opening(message, sender)
        # A request that may become an application opens its transaction before it is
        # filed; any other opens it with its issuance's intent (CMPDelivery.opens).
        opened = sender.credential is not None and self._enrollment.waits_for_approval(
            sender.credential
        )
        if opened:
            await self._open(opening)
        try:
            delivery = self._delivery(opening, opened, cert_req_id, implicit, reply)
            issued = await self._issue(message, request, sender, profile, delivery)
        except ApplicationPending as pending:  # RFC 9483 4.4: the client polls
            await self._transactions.wait(
                transaction_id, pending.application_id, reply.kind, cert_req_id, implicit,
                reply.nonce,
            )  # fmt: skip
            reply.body = cmp.cert_rep_body(
                reply.kind, cert_req_id, cmp.PKIStatus.waiting, None, text=pending.message
            )
            return
        except TransactionIdInUse:
            raise CMPRefusal(F.transactionIdInUse, "this transactionID was used before") from None
        except CAError as exc:  # issuance refused it: the transactionID stays used
            await self._settle_refused(opening, opened)
            self._rejection(reply, cert_req_id, await self._duplicate(message, exc))
            return
        except BaseException:
            await self._settle_refused(opening, opened)
            raise
        await self._certificate_reply(cert_req_id, issued, implicit, reply, template=template)

    async def _duplicate(self, message: cmp.PKIMessage, refusal: CAError) -> CAError:
        """A key already certified (badCertTemplate; S13: a key is certified once) is
        duplicateCertReq when the very same request was certified before (RFC 9810 5.2.3:
        "the request was a duplicate of an earlier one"; the Siemens suite sends one CSR
        twice and expects duplicateCertReq, a new request for a certified key
        badCertTemplate)."""
        digest = _request_digest(message)
        transaction_id = message.header.transaction_id
        if (
            refusal.kind is ErrorKind.DUPLICATE
            and digest is not None
            and transaction_id is not None
            and await self._transactions.certified_before(digest, transaction_id)
        ):
            return TemplateRejected(F.duplicateCertReq, "this very request was certified before")
        return refusal

    async def _unused_transaction_id(self, message: cmp.PKIMessage) -> bytes:
        """The header first (RFC 9483 3.5): a transactionID used before is refused before
        the body is read. `_open` claims it once the body passes its checks."""
        transaction_id = message.header.transaction_id
        assert transaction_id is not None
        if await self._transactions.get(transaction_id) is not None:
            raise CMPRefusal(F.transactionIdInUse, "this transactionID was used before")
        return transaction_id

    def _opening(self, message: cmp.PKIMessage, sender: _Sender) -> CMPOpening:
        """The transaction an enrolment opens, as recorded."""
        header = message.header
        assert header.transaction_id is not None
        return CMPOpening(
            header.transaction_id, sender.name, self._clock(), header.sender_nonce,
            protection=_protection(message, sender),
            reply_kind=ENROLMENT_REPLY.get(message.body_type),  # server/cmp/key_update.py
            request_sha256=_request_digest(message),
        )  # fmt: skip

    async def _open(self, opening: CMPOpening) -> None:
        """Open the transaction in a write of its own (before an application is filed)."""
        if not await self._transactions.open(opening):
            raise CMPRefusal(F.transactionIdInUse, "this transactionID was used before")

    async def _settle_refused(self, opening: CMPOpening, opened: bool) -> None:
        """An enrolment that issued nothing: its transaction is done, its transactionID
        stays used (RFC 4210 5.1.1), whether it was opened before or not at all."""
        if opened:
            await self._transactions.discard(opening.transaction_id)
        else:
            await self._transactions.refused(opening)

    async def _check_holder(
        self, message: cmp.PKIMessage, sender: _Sender, template: cmp.CertRequest | None
    ) -> None:
        """RFC 9483 4.1.3 for a request signed by a certificate of this CA: a kur's
        oldCertID names that certificate (badCertId); nothing it signs is served while its
        own kur awaits certConf (badRequest). server/cmp/key_update.py."""
        if sender.certificate is None:
            return
        if message.body_type == "kur" and template is not None:
            check_old_cert_id(template.old_cert_id, sender.certificate)
        pending = await pending_update(self._transactions, sender.certificate, self._clock())
        if pending is not None:
            raise TemplateRejected(F.badRequest, pending)

    def _rejection(self, reply: _Reply, cert_req_id: int, refusal: CAError) -> None:
        """The ip/cp/kup refusing the request: nothing issued, nothing spent (RFC 9483
        3.6.2; RFC 9810 5.3.4: status rejection, failInfo, no certifiedKeyPair). A CAError
        that is not about the body is raised again, for an error message (3.6.4)."""
        if refusal.kind not in IN_KIND:
            raise refusal
        failure = refusal.fail_info if isinstance(refusal, TemplateRejected) else (
            FAILURE[refusal.kind]
        )  # fmt: skip
        log.info("CMP refusal in %s (%s): %s", reply.kind, failure.name, refusal.message)
        reply.body = cmp.cert_rep_body(
            reply.kind, cert_req_id, cmp.PKIStatus.rejection, None, fail_info=[failure],
            text=refusal.message,
        )  # fmt: skip

    async def _enrol_central(
        self,
        message: cmp.PKIMessage,
        sender: _Sender,
        profile: str,
        reply: _Reply,
        identity: ServerIdentity | None,
    ) -> None:
        """RFC 9483 4.1.6: the CA makes the key. It goes back in the ip/cp as the
        privateKey of the certifiedKeyPair: an AsymmetricKeyPackage signed by the KGA, this
        server's CMP protection certificate (id-kp-cmKGA, server/cmp/identity.py), in an
        EnvelopedData for the requester: under the shared secret for a MAC-protected
        request (4.1.6.3), to the protecting certificate's key for a signed one: key
        transport for RSA (4.1.6.1), key agreement for EC with our CMP protection
        certificate as the originator (4.1.6.2). The key is never stored (D5); a cmp2021
        answer (pvno 3)."""
        if identity is None:
            raise CMPRefusal(F.systemUnavail, "no CMP protection certificate to sign key packages")
        await self._unused_transaction_id(message)
        implicit = message.header.implicit_confirm and self._cmp.implicit_confirm
        reply.kind = ENROLMENT_REPLY[message.body_type]
        cert_req_id = answered_cert_req_id(message)
        try:  # what the body asks, read and checked: a refusal here leaves no trace
            template = crmf_request(message)
            if sender.certificate is not None:  # 4.1.6.2: static-static ECDH needs one curve
                refusal = key_agreement_refusal(identity, sender.certificate)
                if refusal is not None:
                    raise TemplateRejected(F.badAlg, refusal)
            check_template(template, subject_from_code=sender.credential is not None)
            await self._check_holder(message, sender, template)
            if sender.certificate is not None:  # RFC 9483 4.1.6.1, 4.1.6.2
                check_key_management_usage(sender.certificate)
            allowed = self._settings.profile(await self._key_profile(message, sender, profile))
            key = new_key(_key_type(template.spki_der, allowed.key_algorithms))
        except CAError as exc:
            self._rejection(reply, cert_req_id, exc)
            return
        request = csr_codec.CSR(
            subject=template.subject or (), spki_der=key.spki_der, dns_names=template.dns_names,
            ip_addresses=template.ip_addresses, emails=template.emails,
            challenge_password=None, der=message.der, key_usage=requested_key_usages(template),
        )  # fmt: skip
        opening = self._opening(message, sender)
        try:  # never an application (can_wait False): opened with the intent
            delivery = self._delivery(opening, False, cert_req_id, implicit, reply)
            issued = await self._issue(message, request, sender, profile, delivery, False)
        except TransactionIdInUse:
            raise CMPRefusal(F.transactionIdInUse, "this transactionID was used before") from None
        except CAError as exc:  # issuance refused it: the transactionID stays used
            await self._transactions.refused(opening)
            self._rejection(reply, cert_req_id, exc)
            return
        except BaseException:
            await self._transactions.refused(opening)
            raise
        pkcs8 = key.pkcs8_der()
        # RFC 9483 4.1.6: signed by the KGA, named by its subjectKeyIdentifier; 4.1.6.2: the
        # originator of key agreement is the CMP protection certificate, the same identity.
        if sender.credential is not None:
            package = password_key_package(pkcs8, identity, sender.secret, sid_by_key_id=True)
        else:
            assert sender.certificate is not None
            package = encrypted_key_package(
                pkcs8, identity, sender.certificate, subject_key_identifier(sender.certificate),
                originator=identity,
            )  # fmt: skip
        reply.pvno = 3
        enveloped = asn1_cms.ContentInfo.load(package)["content"].untag().dump()
        await self._certificate_reply(cert_req_id, issued, implicit, reply, enveloped, template)

    async def _key_profile(self, message: cmp.PKIMessage, sender: _Sender, profile: str) -> str:
        """The profile whose key types a central key is made of: the code's, the updated
        certificate's for a kur (RFC 9483 4.1.3, 4.1.6), else the path's."""
        if sender.credential is not None:
            return sender.credential.profile
        if message.body_type == "kur" and sender.certificate is not None:
            serial = format(x509.load_der_x509_certificate(sender.certificate).serial_number, "x")
            record = await self._registry.get_certificate(serial)
            if record is not None:
                return record.profile
        return profile

    def _delivery(
        self,
        opening: CMPOpening,
        opened: bool,
        cert_req_id: int,
        implicit: bool,
        reply: _Reply,
    ) -> CMPDelivery:
        """How the certificate goes out, recorded with it: certConf is then awaited for
        `cmp.confirm_wait_seconds`, or not when implicit confirmation is granted (RFC 4210
        5.1.1.1), so a certificate whose answer a crash lost is revoked unconfirmed. The
        transaction is opened with the intent unless it was `opened` before."""
        return CMPDelivery(
            opening.transaction_id, cert_req_id, reply.nonce, self._confirm_within(implicit),
            opens=None if opened else opening,
        )  # fmt: skip

    def _confirm_within(self, implicit: bool) -> timedelta | None:
        """How long certConf is awaited: not at all when implicit confirmation is granted."""
        return None if implicit else timedelta(seconds=self._cmp.confirm_wait_seconds)

    async def _ca_pubs(
        self, reply: _Reply, issued: IssuedCertificate
    ) -> tuple[list[bytes], list[bytes]]:
        """(caPubs, the issued certificate's chain). caPubs: the trust anchor an ip
        carries (RFC 9483 4.1.1). The chain: the certificate of the CA generation that
        issued it (its authorityKeyIdentifier) and, under a parent CA outside, the parent's
        chain up to its root, which extraCerts carry in every ip/cp/kup (RFC 9483 4.1.1:
        "MUST contain the chain of the issued certificate"; 3.3)."""
        if issued.issuer_der is not None:
            chain = [issued.issuer_der, *issued.issuer_chain]
        else:
            issuer_key = _authority_key_identifier(issued.der)
            issuer = [g for g in await self._generations() if g.key_id == issuer_key]
            chain = [der for g in issuer for der in (g.certificate_der, *g.parent_chain)]
        # RFC 9483 4.1.1: caPubs, if used, holds only a root certificate of the certificate
        # just issued: the self-signed certificate of the generation that issued it (or the
        # parent's root above it), not every generation ever made.
        ca_pubs = chain[-1:] if reply.kind == "ip" else []
        return ca_pubs, chain

    async def _certificate_reply(
        self,
        cert_req_id: int,
        issued: IssuedCertificate,
        implicit: bool,
        reply: _Reply,
        private_key: bytes | None = None,
        template: cmp.CertRequest | None = None,
    ) -> None:
        """The ip/cp/kup with the certificate: accepted when it is as the template asked,
        grantedWithMods naming every difference otherwise (RFC 9810 5.2.3), never a silent
        accepted; the issued certificate's chain in extraCerts (RFC 9483 4.1.1)."""
        changes = modifications(template, issued.der) if template is not None else []
        status = cmp.PKIStatus.grantedWithMods if changes else cmp.PKIStatus.accepted
        ca_pubs, reply.extra_certs = await self._ca_pubs(reply, issued)
        reply.body = cmp.cert_rep_body(
            reply.kind, cert_req_id, status, issued.der, ca_pubs=ca_pubs,
            private_key=private_key, text="; ".join(changes) or None,
        )  # fmt: skip
        reply.implicit_confirm = implicit

    async def _issue(
        self,
        message: cmp.PKIMessage,
        request: bytes | csr_codec.CSR,
        sender: _Sender,
        profile: str,
        delivery: CMPDelivery,
        can_wait: bool = True,
    ) -> IssuedCertificate:
        kind = message.body_type
        actor = f"cmp:{sender.name}" if sender.ra is None else f"cmp-ra:{sender.ra}"
        if sender.ra is not None and kind != "kur":  # RFC 9483 5.2.3.1: for the template's
            assert sender.certificate is not None  # subject (server/cmp/ra.py)
            return await self._holders.enroll_for_ra(
                sender.certificate, request, actor, profile, delivery
            )
        if sender.credential is not None:  # not a kur: server/cmp/sender.py refuses a MAC one
            # A request that waits for approval is kept whole, to be read again then.
            kept = (request, "pkcs10") if isinstance(request, bytes) else (message.der, "cmp")
            return await self._enrollment.enroll_with(
                sender.credential, request, actor, profile, can_wait, kept, delivery
            )
        assert sender.certificate is not None
        if kind == "kur":  # RFC 4210 5.3.5: the same subject, a new key
            return await self._holders.reenroll(sender.certificate, request, actor, delivery)
        return await self._holders.enroll_as_holder(
            sender.certificate, request, actor, profile, delivery
        )

    async def _poll(
        self,
        message: cmp.PKIMessage,
        sender: _Sender,
        reply: _Reply,
        continued: CMPTransaction | None,
    ) -> None:
        """RFC 9483 4.4: pollRep while the application waits; then the ip/cp with the
        certificate, or with the rejection and the operator's reason."""
        transaction = _transaction_of(message, sender, continued)
        if transaction.state != "waiting" or transaction.application_id is None:
            raise CMPRefusal(F.badRequest, "nothing in this transaction is pending")
        if transaction.cert_req_id not in message.poll_req_ids:
            raise CMPRefusal(F.badRequest, "pollReq names another certReqId")
        assert transaction.reply_kind is not None and transaction.cert_req_id is not None
        application = await self._applications.get(transaction.application_id)
        assert application is not None
        transaction_id, cert_req_id = transaction.transaction_id, transaction.cert_req_id
        try:
            issued = await self._applications.outcome(application)
        except ApplicationPending as pending:
            await self._transactions.answered(transaction_id, reply.nonce)
            check_after = self._cmp.check_after_seconds
            reply.kind = "pollRep"
            reply.body = cmp.poll_rep_body([(cert_req_id, check_after, pending.message)])
            return
        except CAError as exc:  # rejected by an operator
            await self._transactions.finish(transaction_id, "waiting", "done")
            reply.kind = transaction.reply_kind
            reply.body = cmp.cert_rep_body(
                reply.kind, cert_req_id, cmp.PKIStatus.rejection, None,
                fail_info=[F.notAuthorized], text=exc.message,
            )  # fmt: skip
            return
        reply.kind = transaction.reply_kind
        implicit = transaction.implicit_confirm
        confirm = self._confirm_within(implicit)
        await self._transactions.issued(
            transaction_id, issued.serial, cert_req_id, reply.nonce,
            None if confirm is None else self._clock() + confirm,
        )  # fmt: skip
        template = _kept_template(application.request_der, application.request_format)
        await self._certificate_reply(cert_req_id, issued, implicit, reply, template=template)

    async def _confirm(
        self, message: cmp.PKIMessage, sender: _Sender, continued: CMPTransaction | None
    ) -> bytes:
        """RFC 9483 4.1.1 (certConf), RFC 9810 5.3.18: the one certificate sent is accepted
        (pkiconf) or rejected by the end entity (pkiconf, and it is revoked). Every refusal
        is an error message (a certConf has no answer in kind) and changes nothing."""
        transaction = _transaction_of(message, sender, continued)
        if transaction.state == "done" and transaction.serial is not None:
            # Confirmed already: by a certConf, or implicitly (granted implicitConfirm).
            # RFC 9810 5.2.3 certConfirmed "certificate already confirmed"; the suite
            # expects it for a repeated certConf and for one after implicitConfirm.
            raise CMPRefusal(F.certConfirmed, "the certificate was confirmed already")
        if transaction.confirm_by is not None and transaction.confirm_by <= self._clock():
            await self.revoke_unconfirmed()  # too late: revoked, whatever the sweeper's pace
            raise CMPRefusal(F.badRequest, "the confirmation came too late; revoked")
        if transaction.state != "awaiting_confirm" or transaction.serial is None:
            raise CMPRefusal(F.badRequest, "nothing in this transaction awaits confirmation")
        if len(message.cert_confirms) != 1:  # RFC 9483 4.1.1: one CertStatus, ours
            raise CMPRefusal(F.badRequest, "certConf must confirm the one certificate sent")
        confirm = message.cert_confirms[0]
        if confirm.cert_req_id != transaction.cert_req_id:
            # RFC 9483 4.1.1: certReqId "MUST be 0" (-1 after a p10cr, 4.1.4): any other
            # value is a malformed certConf, badRequest (the suite's expectation), not a
            # certificate of another request.
            raise CMPRefusal(
                F.badRequest, f"certReqId must be {transaction.cert_req_id} (RFC 9483 4.1.1)"
            )
        accepted = confirm.status in (None, cmp.PKIStatus.accepted, cmp.PKIStatus.grantedWithMods)
        if accepted and confirm.fail_info:
            # RFC 9810 5.2.3 / RFC 9483 4.1.1: failInfo belongs to a rejection only.
            raise CMPRefusal(F.badRequest, "an accepting CertStatus carries no failInfo")
        record = await self._registry.get_certificate(transaction.serial)
        assert record is not None and record.der is not None
        # RFC 9810 5.3.18: hashAlg exists in cmp2021 (pvno 3) only; a pvno 2 certConf hashes
        # with the certificate's signature algorithm, so a hash made otherwise names
        # another certificate: badCertId.
        hash_algorithm = confirm.hash_algorithm if message.header.pvno == 3 else None
        try:
            expected = cmp.cert_hash(record.der, hash_algorithm)
        except ValueError:
            raise CMPRefusal(F.badAlg, "hashAlg is not a hash this server knows") from None
        if confirm.cert_hash != expected:
            raise CMPRefusal(F.badCertId, "certConf names another certificate")
        assert message.header.transaction_id is not None
        if not await self._transactions.finish(
            message.header.transaction_id, "awaiting_confirm", "done"
        ):
            raise CMPRefusal(F.certConfirmed, "this transaction was confirmed already")
        if not accepted:  # RFC 9483 4.1.1: the client rejects the certificate: revoke it
            await self._revocation.revoke(
                transaction.serial, CRLReason.cessationOfOperation, f"cmp:{sender.name}"
            )
        return cmp.pkiconf_body()

    async def _revoke(self, message: cmp.PKIMessage, sender: _Sender) -> bytes:
        """RFC 9483 4.2: the holder revokes its own certificate, protecting the request
        with it (S7, U9); every refusal of the body is an rp rejection that revokes nothing
        (server/cmp/revocation.py)."""
        if sender.certificate is not None:  # RFC 9483 4.1.3: its kur awaits certConf
            pending = await pending_update(self._transactions, sender.certificate, self._clock())
            if pending is not None:
                log.info("CMP refusal in rp (badRequest): %s", pending)
                statuses = [(cmp.PKIStatus.rejection, (F.badRequest,), pending)]
                return cmp.rp_body(statuses * max(1, len(message.revocations)))
        revocations = CMPRevocations(self._settings, self._registry, self._revocation)
        return await revocations.rp_body(
            message.revocations, sender.certificate, f"cmp:{sender.name}"
        )

    async def _general(self, message: cmp.PKIMessage, profile: str) -> bytes:
        """RFC 9483 4.3: one support message per genm (server/cmp/general.py); what 4.3
        does not allow is refused in an error message, as a genp cannot say no."""
        general = GeneralMessages(
            self._settings, self._registry, self._newer_crls, self._current_crl, self._clock
        )
        try:
            return await general.genp_body(message, profile)
        except GeneralMessageRefusal as refusal:
            raise CMPRefusal(refusal.failure, refusal.text) from None

    def _current_crl(self) -> bytes | None:
        """The issuing generation's current full CRL (RFC 9810 5.3.19.6), when one CRL
        lists all it issued: not with several shards (server/cmp/general.py)."""
        if self._settings.crl.shards != 1:
            return None
        published = self._crls.current(0, delta=False)
        return published.der if published is not None else None

    def _newer_crls(self, statuses: tuple[cmp.CRLStatus, ...]) -> list[bytes]:
        """The current full CRLs the client's crlStatusList names (by distribution point
        URI of any live generation, or all of ours for an issuer: every generation has the
        same name) that are newer than the thisUpdate it has; none: crls goes back without
        a value (RFC 9483 4.3.4). Oldest generation first, then by shard."""
        shards = self._settings.crl.shards
        newer: list[bytes] = []
        for generation in self._crls.generations:
            for shard in range(shards):
                published = self._crls.current(shard, delta=False, generation_id=generation.id)
                if published is None:
                    continue
                url = crl_url(self._settings.ca.base_url, generation, shard, shards, delta=False)
                if any(
                    (not status.distribution_point_uris or url in status.distribution_point_uris)
                    and (status.this_update is None or published.this_update > status.this_update)
                    for status in statuses
                ):
                    newer.append(published.der)
        return newer

    async def run(self) -> None:
        """The builder process's sweeper: unconfirmed certificates are revoked within a few
        seconds of their deadline, whether or not CMP requests come in; once an hour, the
        finished transactions older than `cmp.transaction_retention_days` are forgotten (a
        client cannot grow the table without bound; a transactionID replayed while its
        messageTime is still within `cmp.max_clock_skew_seconds` is still transactionIdInUse,
        the setting being checked longer than that)."""
        retention = timedelta(days=self._cmp.transaction_retention_days)
        prune_at = self._clock()
        while True:
            try:
                await self.revoke_unconfirmed()
                now = self._clock()
                if now >= prune_at:
                    pruned = await self._transactions.prune(now - retention)
                    prune_at = now + timedelta(hours=1)
                    if pruned:
                        log.info("CMP: forgot %d finished transactions", pruned)
            except Exception:
                log.exception("CMP: sweeping transactions failed")
            await asyncio.sleep(SWEEP_EVERY_S)

    async def revoke_unconfirmed(self) -> None:
        """Certificates whose certConf did not come in time are revoked (RFC 9483 4.1.1)."""
        for transaction in await self._transactions.unconfirmed_before(self._clock()):
            if not await self._transactions.finish(
                transaction.transaction_id, "awaiting_confirm", "expired"
            ):
                continue
            if transaction.serial is not None:
                log.info("CMP: %s was not confirmed in time; revoking it", transaction.serial)
                await self._revocation.revoke(
                    transaction.serial, CRLReason.cessationOfOperation, "cmp:unconfirmed"
                )

    # -- answers -------------------------------------------------------------------------------

    def _reply_header(
        self,
        message: cmp.PKIMessage,
        reply: _Reply,
        sender_name: bytes,
        algorithm: bytes,
        kid: bytes | None,
    ) -> cmp.ReplyHeader:
        header = message.header
        return cmp.ReplyHeader(
            sender=sender_name,
            recipient=header.sender,
            transaction_id=_echoed_transaction_id(header),
            sender_nonce=reply.nonce,
            recip_nonce=header.sender_nonce,
            message_time=self._clock(),
            protection_algorithm=algorithm,
            sender_kid=kid,
            implicit_confirm=reply.implicit_confirm,
            pvno=reply.pvno or _answered_pvno(header),
        )

    async def _protected(
        self,
        message: cmp.PKIMessage,
        sender: _Sender,
        reply: _Reply,
        identity: ServerIdentity | None,
    ) -> bytes:
        """MAC answers name the CA as their sender (RFC 9483 3.1), their senderKID the
        request's (or the reference the sender named); signed ones the signer."""
        if sender.credential is not None:
            protect = cmp.reply_mac(message)
            kid = message.header.sender_kid or sender.credential.id.encode()
            header = self._reply_header(
                message, reply, await self._ca_name(), protect.algorithm, kid
            )
            part = cmp.protected_part(header, reply.body)
            if sender.mac_work > MAC_ITERATIONS_ON_LOOP:  # off the event loop
                protection = await asyncio.to_thread(protect.mac, sender.secret, part)
            else:
                protection = protect.mac(sender.secret, part)
            return cmp.assemble_protected(part, protection, reply.extra_certs)
        if identity is None:  # no CMP protection certificate yet (server/cmp/identity.py)
            return self._unprotected_error(message, F.systemUnavail, "no key to sign answers")
        return self._signed(message, reply, identity)

    def _signed(self, message: cmp.PKIMessage, reply: _Reply, identity: ServerIdentity) -> bytes:
        """RFC 9483 3.2/3.3: signed by the CMP protection certificate, which comes first in
        extraCerts, followed by its chain; sender its subject, senderKID its key id (3.1)."""
        name, ski = _signer_header_values(identity.chain[0])
        header = self._reply_header(message, reply, name, SIGNED_WITH, ski)
        part = cmp.protected_part(header, reply.body)
        signature = identity.private_key.sign(part, ec.ECDSA(hashes.SHA256()))
        # RFC 9483 3.3: the protection certificate and its chain first; then (4.1.1) the
        # issued certificate's chain, a certificate already there not repeated.
        extra = [*identity.chain, *(c for c in reply.extra_certs if c not in identity.chain)]
        return cmp.assemble_protected(part, signature, extra)

    async def _unauthenticated(
        self, message: cmp.PKIMessage, refusal: CMPRefusal, identity: ServerIdentity | None
    ) -> bytes:
        """The refusal of a request that could not be authenticated (a bad or missing MAC or
        signature, an unknown or untrusted signer, an algorithm RFC 9481 does not allow, an
        unknown pvno). RFC 9483 3.6.4: the request's own protection cannot be used for the
        answer, so it is signed by the CMP protection certificate, which the client can
        verify (RFC 9483 3.2 allows signature protection of the error when the MAC cannot
        be used); unprotected only when there is no such certificate. An rr is answered by
        an rp (RFC 9483 4.2)."""
        if identity is None:
            return self._unprotected_error(message, refusal.failure, refusal.text)
        log.info("CMP refusal (%s): %s", refusal.failure.name, refusal.text)
        kind, body = _refusal(message, refusal.failure, refusal.text)
        return self._signed(message, _Reply(kind, body, secrets.token_bytes(16)), identity)

    async def _ca_name(self) -> bytes:
        """The active CA generation's subject as a directoryName GeneralName (the newest
        active one, as Registry.active_generation reads it)."""
        active = [g for g in await self._generations() if g.state == "active"]
        if not active:
            return NULL_NAME
        return _subject_name(max(active, key=lambda g: g.id).certificate_der)

    def _unprotected_error(
        self, message: cmp.PKIMessage | None, failure: cmp.FailureInfo, text: str
    ) -> bytes:
        """RFC 9483 3.6.4: a refusal the server cannot protect (the request does not decode,
        or could not be authenticated and there is no CMP protection certificate, or
        protecting the answer failed) goes unprotected; protocols/cmp writes no
        protection."""
        log.info("CMP refusal (%s): %s", failure.name, text)
        if message is None:
            body = cmp.error_body([failure], text)
        else:  # an rr's refusal is an rp (RFC 9483 4.2)
            body = _refusal(message, failure, text)[1]
        header = cmp.ReplyHeader(
            sender=NULL_NAME,
            recipient=message.header.sender if message else NULL_NAME,
            transaction_id=_echoed_transaction_id(message.header) if message else b"",
            sender_nonce=secrets.token_bytes(16),
            recip_nonce=message.header.sender_nonce if message else None,
            message_time=self._clock(),
            protection_algorithm=b"",
            sender_kid=None,
            implicit_confirm=False,
            pvno=_answered_pvno(message.header) if message else 2,
        )
        return cmp.assemble_unprotected(header, body)


@functools.lru_cache(maxsize=8)
def _subject_name(certificate_der: bytes) -> bytes:
    """A CA certificate's subject as a directoryName GeneralName (read once per
    generation)."""
    subject = asn1_x509.Certificate.load(certificate_der).subject
    return asn1_x509.GeneralName(name="directory_name", value=subject).dump()


@functools.lru_cache(maxsize=8)
def _signer_header_values(certificate_der: bytes) -> tuple[bytes, bytes | None]:
    """(sender, senderKID) of answers signed with the CMP protection certificate: its
    subject as a directoryName GeneralName and its key identifier (RFC 9483 3.1); read
    once per certificate."""
    return _subject_name(certificate_der), subject_key_identifier(certificate_der)


def _refusal(message: cmp.PKIMessage, failure: cmp.FailureInfo, text: str) -> tuple[str, bytes]:
    """(body type, DER body) refusing ``message``: an error message (RFC 9483 3.6.4), but
    for an rr an rp with status rejection, one PKIStatusInfo per RevDetails (RFC 9483 4.2,
    RFC 9810 5.3.10), whatever the fault: the suite reads every rr refusal from an rp."""
    if message.body_type == "rr":
        statuses = [(cmp.PKIStatus.rejection, [failure], text)]
        return "rp", cmp.rp_body(statuses * max(1, len(message.revocations)))
    return "error", cmp.error_body([failure], text)


def _transaction_of(
    message: cmp.PKIMessage, sender: _Sender, transaction: CMPTransaction | None
) -> CMPTransaction:
    """The sender's transaction that `message` continues (read by `_check_header`),
    its nonces checked. Raises CMPRefusal."""
    if transaction is None or transaction.requester != sender.name:
        raise CMPRefusal(F.badRequest, "no such transaction")
    check_continuation(message, transaction)  # RFC 9483 3.1: the nonces
    return transaction


def _protection(message: cmp.PKIMessage, sender: _Sender) -> str:
    """How an authenticated request is protected: "signature", or its MAC's OID."""
    if sender.credential is None:
        return "signature"
    assert message.header.protection_oid is not None
    return message.header.protection_oid


def _echoed_transaction_id(header: cmp.Header) -> bytes:
    """The request's transactionID for the answer (RFC 9483 3.1), when it was one of 128
    bits; one of another size was refused and is not repeated (empty: left out)."""
    transaction_id = header.transaction_id or b""
    return transaction_id if len(transaction_id) == ID_OCTETS else b""


def _answered_pvno(header: cmp.Header) -> int:
    """The request's pvno, 2 when it was one this server does not speak (RFC 9483 3.5)."""
    return header.pvno if header.pvno in (2, 3) else 2


def _asks_for_a_key(message: cmp.PKIMessage) -> bool:
    """Central key generation (RFC 9483 4.1.6): one request whose template has no public
    key, or only the algorithm of the key wanted with an empty subjectPublicKey."""
    requests = message.cert_requests
    return len(requests) == 1 and requests[0].central_key_generation


def _request_digest(message: cmp.PKIMessage) -> bytes | None:
    """SHA-256 of what an enrolment asks: the p10cr's PKCS#10, or the one CertReqMsg as
    received; None for anything else."""
    if message.body_type == "p10cr" and message.p10_request is not None:
        return hashlib.sha256(message.p10_request).digest()
    requests = message.cert_requests
    if len(requests) == 1 and requests[0].der:
        return hashlib.sha256(requests[0].der).digest()
    return None


def _key_type(spki_der: bytes | None, allowed: tuple[str, ...]) -> str:
    """The key the template names by its algorithm, else the profile's first one."""
    if spki_der is not None:
        try:  # asn1crypto parses parameters by algorithm: read only what we can name
            algorithm = asn1_keys.PublicKeyAlgorithm.load(der.elements(spki_der)[0][1])
            name = algorithm["algorithm"].native
            wanted = {"rsa": "rsa-2048", "ec": None}.get(name, "")
            if wanted is None:
                parameters = algorithm["parameters"]
                curve = parameters.chosen.native if parameters else ""
                wanted = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(curve, "")
            elif name in _GOST_KEY_SIZES:  # RFC 9215: the parameter set names the key
                wanted = _gost_key_type(_GOST_KEY_SIZES[name], algorithm["parameters"].dump())
        except (der.DERError, IndexError, ValueError, TypeError, KeyError):
            wanted = ""  # RFC 9483 4.1.6: an algorithm we cannot read is one we do not serve
        if wanted not in allowed:  # RFC 9483 4.1.6, 3.6.2: in the ip/cp/kup
            raise TemplateRejected(F.badAlg, "the profile does not take that key type")
        return wanted
    return allowed[0]


_GOST_KEY_SIZES = {name: size for size, name in gost.KEY_NAMES.items()}


def _gost_key_type(size: int, parameters_der: bytes) -> str:
    """The profiles' name of a GOST R 34.10-2012 key ("gost2012-256-tca", as
    protocols.gost.GostPublicKey.description names one) of `size` bits whose algorithm has
    the parameters `parameters_der`. Raises ValueError for parameters that name no set of
    that size, or none (RFC 9215 requires them)."""
    return gost.read_parameters(size, parameters_der).key_type


def _kept_template(der: bytes | None, request_format: str | None) -> cmp.CertRequest | None:
    """The template of a request an application kept (a CMP message or a PKCS#10), to
    compare with the certificate its approval issued (RFC 9810 5.2.3)."""
    if der is None:
        return None
    if request_format == "pkcs10":
        return pkcs10_template(der)
    requests = cmp.parse_pki_message(der).cert_requests
    return requests[0] if len(requests) == 1 else None


def _authority_key_identifier(certificate_der: bytes) -> bytes | None:
    certificate = x509.load_der_x509_certificate(certificate_der)
    try:
        return certificate.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier
        ).value.key_identifier
    except x509.ExtensionNotFound:
        return None
