"""The CMP server (RFC 4210 / RFC 9480, Lightweight CMP Profile RFC 9483): the CA's rules
for each message; protocols/cmp reads and writes the messages, server/web/cmp.py carries
them over HTTP (RFC 6712).

Theory of operation, for each request:
1. Read it (badDataFormat otherwise) and check the header: version, transactionID,
   senderNonce, messageTime (RFC 9483 3.1, 3.5).
2. Authenticate it by its protection: a MAC (PasswordBasedMac or PBMAC1) keyed by the
   enrollment credential named in senderKID, or a signature by a good certificate of this CA
   sent first in extraCerts (RFC 9483 3.2). Nothing unprotected is served.
3. Act: ir/cr/kur/p10cr issue through the same services as EST (the subject from the
   credential or the protecting certificate, D2; proof of possession checked, D8); certConf
   confirms (or rejects, which revokes); rr revokes; genm answers caCerts and CRLs.
4. Answer protected the way the request was: the same MAC, or the signature of this
   server's CMP protection certificate (server/cmp_identity.py) with its chain in
   extraCerts (RFC 9483 3.2, 3.3, 4.1).

A transactionID is used once (transactionIdInUse). A certificate sent without implicit
confirmation waits for certConf until `cmp.confirm_wait_seconds`; one still unconfirmed then
is revoked (RFC 9483 4.1.1) by the builder process's sweeper (`run`), or at once by a
certConf that comes too late. The wait is recorded in the transaction that records the
certificate (CMPDelivery), so a certificate whose answer a crash lost is revoked too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from asn1crypto import cms as asn1_cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from config import Settings
from protocols import cmp, der
from protocols.crl import CRLReason
from protocols.x509 import csr as csr_codec
from server.applications import ApplicationPending, Applications
from server.authority import Clock, IssuedCertificate
from server.cmp_identity import key_agreement_refusal
from server.cmp_requests import certification_request
from server.crl_publisher import CRLPublisher
from server.distribution_points import crl_url
from server.enrollment import Enrollment, HolderEnrollment, new_key
from server.enrollment_credentials import EnrollmentCredential, EnrollmentCredentials
from server.errors import CAError, ErrorKind
from server.key_packages import encrypted_key_package, password_key_package
from server.registry import CertificateStatus, CMPDelivery, SQLiteRegistry, StatusBasis
from server.registry.cmp_store import CMPTransaction
from server.revocation import Revocation
from server.tls import ServerIdentity

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
NULL_NAME = asn1_x509.GeneralName(name="directory_name", value=asn1_x509.Name.build({})).dump()


def _log_unexpected(failure: BaseException) -> None:
    """Where a caller that keeps no metrics (tests, benchmarks) has unexpected failures go."""
    log.error("CMP: unexpected error", exc_info=failure)


class CMPRefusal(Exception):
    """A request answered by an error message (RFC 9483 3.6.4)."""

    def __init__(self, failure: cmp.FailureInfo, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


@dataclass
class _Reply:
    """The answer being made: its body, our senderNonce, whether implicitConfirm is
    granted."""

    kind: str = "error"
    body: bytes = b""
    nonce: bytes = b""
    implicit_confirm: bool = False
    pvno: int | None = None  # None: as the request's


@dataclass(frozen=True)
class _Sender:
    """Who sent the request, as its protection proves: an enrollment credential (MAC) or
    a certificate of this CA (signature)."""

    credential: EnrollmentCredential | None = None
    secret: bytes = b""
    certificate: bytes | None = None

    @property
    def name(self) -> str:
        if self.credential is not None:
            return self.credential.id
        assert self.certificate is not None
        return format(x509.load_der_x509_certificate(self.certificate).serial_number, "x")


class CMPServer:
    def __init__(
        self,
        settings: Settings,
        registry: SQLiteRegistry,
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

    async def handle(
        self,
        der: bytes,
        profile: str,
        identity: ServerIdentity | None,
        unexpected: Callable[[BaseException], object] = _log_unexpected,
    ) -> bytes:
        """The DER answer to one DER request under `profile` (the path label's). Never
        raises: a failure nobody expected goes to `unexpected` (the adapter logs and counts
        it) and is answered systemFailure without detail (RFC 4210 5.2.3), protected when
        the request was authenticated, unprotected otherwise (RFC 9483 3.6.4)."""
        message = None
        try:
            try:
                message = cmp.parse_pki_message(der)
            except cmp.CMPFormatError as exc:  # RFC 9483 3.6.4: undecodable
                return self._unprotected_error(None, F.badDataFormat, f"not a PKIMessage: {exc}")
            try:
                self._check_header(message)
                sender = await self._authenticate(message)
            except CMPRefusal as refusal:
                return self._unprotected_error(message, refusal.failure, refusal.text)
            reply = _Reply(nonce=secrets.token_bytes(16))
            try:
                await self._act(message, sender, profile, reply, identity)
            except CMPRefusal as refusal:
                reply.kind, reply.body = "error", cmp.error_body([refusal.failure], refusal.text)
            except CAError as exc:
                text = exc.message if exc.kind is not ErrorKind.INTERNAL else INTERNAL_TEXT
                reply.kind, reply.body = "error", cmp.error_body([FAILURE[exc.kind]], text)
            except Exception as exc:
                unexpected(exc)
                body = cmp.error_body([FAILURE[ErrorKind.INTERNAL]], INTERNAL_TEXT)
                reply = _Reply(kind="error", body=body, nonce=reply.nonce)
            return await self._protected(message, sender, reply, identity)
        except Exception as exc:  # before authentication, or while protecting the answer
            unexpected(exc)
            return self._unprotected_error(message, FAILURE[ErrorKind.INTERNAL], INTERNAL_TEXT)

    # -- checks ------------------------------------------------------------------------------

    def _check_header(self, message: cmp.PKIMessage) -> None:
        header = message.header
        if header.pvno not in (2, 3):
            raise CMPRefusal(F.unsupportedVersion, f"pvno {header.pvno}: only 2 and 3")
        if not header.transaction_id or len(header.transaction_id) < 16:
            raise CMPRefusal(F.badRequest, "a transactionID of 128 bits is required")
        if not header.sender_nonce or len(header.sender_nonce) < 16:
            raise CMPRefusal(F.badSenderNonce, "a senderNonce of 128 bits is required")
        if header.message_time is not None:
            skew = abs((header.message_time - self._clock()).total_seconds())
            if skew > self._cmp.max_clock_skew_seconds:
                raise CMPRefusal(F.badTime, f"messageTime is {skew:.0f} s from ours")

    async def _authenticate(self, message: cmp.PKIMessage) -> _Sender:
        oid = message.header.protection_oid
        if oid is None or message.protection is None:
            raise CMPRefusal(F.badMessageCheck, "unprotected messages are not accepted")
        if oid in (cmp.PASSWORD_BASED_MAC, cmp.PBMAC1):
            return await self._mac_sender(message)
        return await self._signature_sender(message)

    async def _mac_sender(self, message: cmp.PKIMessage) -> _Sender:
        kid = message.header.sender_kid or b""
        try:
            credential_id = kid.decode("ascii")
        except UnicodeDecodeError:
            credential_id = ""
        credential = await self._credentials.find(credential_id) if credential_id else None
        if credential is None:
            raise CMPRefusal(F.badMessageCheck, "no enrollment credential with that senderKID")
        secret = self._credentials.mac_secret(credential)
        try:
            cmp.verify_mac(
                message, secret, self._cmp.mac_min_iterations, self._cmp.mac_max_iterations
            )
        except cmp.MACError as exc:
            raise CMPRefusal(F.badMessageCheck, f"MAC protection: {exc}") from None
        return _Sender(credential=credential, secret=secret)

    async def _signature_sender(self, message: cmp.PKIMessage) -> _Sender:
        if not message.extra_certs:
            raise CMPRefusal(
                F.signerNotTrusted, "the protecting certificate must come first in extraCerts"
            )
        certificate = message.extra_certs[0]
        try:
            serial = format(x509.load_der_x509_certificate(certificate).serial_number, "x")
        except ValueError:
            raise CMPRefusal(F.badDataFormat, "extraCerts[0] is not a certificate") from None
        record = await self._registry.get_certificate(serial)
        if record is None or record.der != certificate:
            raise CMPRefusal(F.signerNotTrusted, "the protecting certificate is not one of ours")
        if not cmp.verify_signature(message, certificate):
            raise CMPRefusal(F.badMessageCheck, "the signature protection does not verify")
        if record.status is CertificateStatus.REVOKED:
            # R7: revoking again is refused as such; anything else, by an untrusted signer.
            failure = F.certRevoked if message.body_type == "rr" else F.signerNotTrusted
            raise CMPRefusal(failure, "the protecting certificate is revoked")
        if record.status is not CertificateStatus.GOOD:
            raise CMPRefusal(F.signerNotTrusted, "the protecting certificate is suspended")
        if record.not_after <= self._clock():
            raise CMPRefusal(F.signerNotTrusted, "the protecting certificate has expired")
        return _Sender(certificate=certificate)

    # -- acting --------------------------------------------------------------------------------

    async def _act(
        self,
        message: cmp.PKIMessage,
        sender: _Sender,
        profile: str,
        reply: _Reply,
        identity: ServerIdentity | None,
    ) -> None:
        kind = message.body_type
        if kind in ("ir", "cr") and _asks_for_a_key(message):
            await self._enrol_central(message, sender, profile, reply, identity)
        elif kind in ENROLMENT_REPLY:
            await self._enrol(message, sender, profile, reply)
        elif kind == "certConf":
            reply.kind, reply.body = "pkiconf", await self._confirm(message, sender)
        elif kind == "rr":
            reply.kind, reply.body = "rp", await self._revoke(message, sender)
        elif kind == "genm":
            reply.kind, reply.body = "genp", await self._general(message, profile)
        elif kind == "pollReq":
            await self._poll(message, sender, reply)
        else:
            raise CMPRefusal(F.badRequest, f"{kind} messages are not served here")

    async def _enrol(
        self, message: cmp.PKIMessage, sender: _Sender, profile: str, reply: _Reply
    ) -> None:
        kind = message.body_type
        request, cert_req_id = certification_request(message)
        transaction_id = message.header.transaction_id
        assert transaction_id is not None
        if not await self._transactions.open(transaction_id, sender.name, self._clock()):
            raise CMPRefusal(F.transactionIdInUse, "this transactionID was used before")
        implicit = message.header.implicit_confirm and self._cmp.implicit_confirm
        reply.kind = ENROLMENT_REPLY[kind]
        delivery = self._delivery(transaction_id, cert_req_id, implicit, reply)
        try:
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
        except BaseException:
            await self._transactions.discard(transaction_id)
            raise
        self._certificate_reply(cert_req_id, issued, implicit, reply, await self._ca_pubs(reply))

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
        server's CMP protection certificate (id-kp-cmKGA, server/cmp_identity.py), in an
        EnvelopedData for the requester: under the shared secret for a MAC-protected
        request (4.1.6.3), to the protecting certificate's key for a signed one: key
        transport for RSA (4.1.6.1), key agreement for EC with our CMP protection
        certificate as the originator (4.1.6.2). The key is never stored (D5); a cmp2021
        answer (pvno 3)."""
        if identity is None:
            raise CMPRefusal(F.systemUnavail, "no CMP protection certificate to sign key packages")
        if sender.certificate is not None:  # 4.1.6.2: static-static ECDH needs one curve
            refusal = key_agreement_refusal(identity, sender.certificate)
            if refusal is not None:
                raise CMPRefusal(F.badAlg, refusal)
        template = message.cert_requests[0]
        profile_name = sender.credential.profile if sender.credential else profile
        allowed = self._settings.profile(profile_name).key_algorithms
        key = new_key(_key_type(template.spki_der, allowed))
        spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        request = csr_codec.CSR(
            subject=template.subject or (), spki_der=spki, dns_names=template.dns_names,
            ip_addresses=template.ip_addresses, emails=template.emails,
            challenge_password=None, der=message.der,
        )  # fmt: skip
        transaction_id = message.header.transaction_id
        assert transaction_id is not None
        if not await self._transactions.open(transaction_id, sender.name, self._clock()):
            raise CMPRefusal(F.transactionIdInUse, "this transactionID was used before")
        implicit = message.header.implicit_confirm and self._cmp.implicit_confirm
        delivery = self._delivery(transaction_id, template.cert_req_id, implicit, reply)
        try:
            issued = await self._issue(message, request, sender, profile, delivery, False)
        except BaseException:
            await self._transactions.discard(transaction_id)
            raise
        pkcs8 = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        # RFC 9483 4.1.6: signed by the KGA, named by its subjectKeyIdentifier; 4.1.6.2: the
        # originator of key agreement is the CMP protection certificate, the same identity.
        if sender.credential is not None:
            package = password_key_package(pkcs8, identity, sender.secret, sid_by_key_id=True)
        else:
            assert sender.certificate is not None
            package = encrypted_key_package(
                pkcs8, identity, sender.certificate, _key_identifier(sender.certificate),
                originator=identity,
            )  # fmt: skip
        reply.kind, reply.pvno = ENROLMENT_REPLY[message.body_type], 3
        enveloped = asn1_cms.ContentInfo.load(package)["content"].untag().dump()
        ca_pubs = await self._ca_pubs(reply)
        self._certificate_reply(template.cert_req_id, issued, implicit, reply, ca_pubs, enveloped)

    def _delivery(
        self, transaction_id: bytes, cert_req_id: int, implicit: bool, reply: _Reply
    ) -> CMPDelivery:
        """How the certificate goes out, recorded with it: certConf is then awaited for
        `cmp.confirm_wait_seconds`, or not when implicit confirmation is granted (RFC 4210
        5.1.1.1), so a certificate whose answer a crash lost is revoked unconfirmed."""
        wait = None if implicit else timedelta(seconds=self._cmp.confirm_wait_seconds)
        return CMPDelivery(transaction_id, cert_req_id, reply.nonce, wait)

    async def _ca_pubs(self, reply: _Reply) -> list[bytes]:
        """The CA certificates an ip carries (RFC 9483 4.1.1: caPubs)."""
        if reply.kind != "ip":
            return []
        generations = await self._registry.generations(self._settings.ca.name)
        return [g.certificate_der for g in generations]

    def _certificate_reply(
        self,
        cert_req_id: int,
        issued: IssuedCertificate,
        implicit: bool,
        reply: _Reply,
        ca_pubs: list[bytes],
        private_key: bytes | None = None,
    ) -> None:
        """The ip/cp/kup with the certificate."""
        reply.body = cmp.cert_rep_body(
            reply.kind, cert_req_id, cmp.PKIStatus.accepted, issued.der, ca_pubs=ca_pubs,
            private_key=private_key,
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
        actor = f"cmp:{sender.name}"
        if sender.credential is not None:
            if kind == "kur":
                raise CMPRefusal(F.notAuthorized, "kur is protected by the certificate it updates")
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

    async def _poll(self, message: cmp.PKIMessage, sender: _Sender, reply: _Reply) -> None:
        """RFC 9483 4.4: pollRep while the application waits; then the ip/cp with the
        certificate, or with the rejection and the operator's reason."""
        transaction = await self._transaction_of(message, sender)
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
        delivery = self._delivery(transaction_id, cert_req_id, implicit, reply)
        confirm = delivery.confirm_within
        await self._transactions.issued(
            transaction_id, issued.serial, cert_req_id, reply.nonce,
            None if confirm is None else self._clock() + confirm,
        )  # fmt: skip
        self._certificate_reply(cert_req_id, issued, implicit, reply, await self._ca_pubs(reply))

    async def _confirm(self, message: cmp.PKIMessage, sender: _Sender) -> bytes:
        transaction = await self._transaction_of(message, sender)
        if transaction.confirm_by is not None and transaction.confirm_by <= self._clock():
            await self.revoke_unconfirmed()  # too late: revoked, whatever the sweeper's pace
            raise CMPRefusal(F.badRequest, "the confirmation came too late; revoked")
        if transaction.state != "awaiting_confirm" or transaction.serial is None:
            raise CMPRefusal(F.badRequest, "nothing in this transaction awaits confirmation")
        if len(message.cert_confirms) != 1:
            raise CMPRefusal(F.badRequest, "certConf must confirm the one certificate sent")
        confirm = message.cert_confirms[0]
        record = await self._registry.get_certificate(transaction.serial)
        assert record is not None and record.der is not None
        expected = cmp.cert_hash(record.der, confirm.hash_algorithm)
        if confirm.cert_req_id != transaction.cert_req_id or confirm.cert_hash != expected:
            raise CMPRefusal(F.badCertId, "certConf names another certificate")
        accepted = confirm.status in (None, cmp.PKIStatus.accepted, cmp.PKIStatus.grantedWithMods)
        assert message.header.transaction_id is not None
        if not await self._transactions.finish(
            message.header.transaction_id, "awaiting_confirm", "done"
        ):
            raise CMPRefusal(F.badRequest, "this transaction was confirmed already")
        if not accepted:  # RFC 9483 4.1.1: the client rejects the certificate: revoke it
            await self._revocation.revoke(
                transaction.serial, CRLReason.cessationOfOperation, f"cmp:{sender.name}"
            )
        return cmp.pkiconf_body()

    async def _transaction_of(self, message: cmp.PKIMessage, sender: _Sender) -> CMPTransaction:
        assert message.header.transaction_id is not None
        transaction = await self._transactions.get(message.header.transaction_id)
        if transaction is None or transaction.requester != sender.name:
            raise CMPRefusal(F.badRequest, "no such transaction")
        if message.header.recip_nonce != transaction.our_nonce:
            raise CMPRefusal(F.badRecipientNonce, "recipNonce is not our last senderNonce")
        return transaction

    async def _revoke(self, message: cmp.PKIMessage, sender: _Sender) -> bytes:
        """RFC 9483 4.2: the holder revokes its own certificate, protecting the request
        with it (S7, U9); R7: refused for a revoked or expired certificate."""
        if sender.certificate is None:
            raise CMPRefusal(F.notAuthorized, "rr is protected by the certificate it revokes")
        if len(message.revocations) != 1:
            raise CMPRefusal(F.badRequest, "one certificate per revocation request")
        details = message.revocations[0]
        own = x509.load_der_x509_certificate(sender.certificate)
        if details.serial != own.serial_number or (
            details.issuer is not None and details.issuer != own.issuer.public_bytes()
        ):
            raise CMPRefusal(F.notAuthorized, "a holder revokes only the protecting certificate")
        serial = format(own.serial_number, "x")
        try:
            reason = CRLReason(details.reason if details.reason is not None else 0)
        except ValueError:  # RFC 5280 5.3.1: 0-10 without 7; RFC 9483 4.2: badRequest
            raise CMPRefusal(F.badRequest, f"CRLReason {details.reason} is not defined") from None
        actor = f"cmp:{sender.name}"
        if reason is CRLReason.certificateHold:
            if not self._cmp.suspend_by_revocation_request:
                raise CMPRefusal(F.notAuthorized, "suspension by request is not allowed here")
            await self._revocation.suspend(serial, actor, basis=StatusBasis.HOLDER_REQUEST,
                                           grounds="CMP revocation request")  # fmt: skip
        else:
            await self._revocation.revoke(serial, reason, actor, basis=StatusBasis.HOLDER_REQUEST,
                                          grounds="CMP revocation request")  # fmt: skip
        return cmp.rp_body([(cmp.PKIStatus.accepted, (), None)])

    async def _general(self, message: cmp.PKIMessage, profile: str) -> bytes:
        """RFC 9483 4.3: caCerts (4.3.1), also for a genm that asks for nothing in
        particular (RFC 4210 5.3.19); certReqTemplate (4.3.3) with the key types of the
        path's profile; crlStatusList with the newer CRLs (4.3.4); an infoType not served here
        (rootCaKeyUpdate: there is no key rollover yet) comes back without a value, so the
        client learns it is not supplied."""
        answers: list[tuple[str, bytes | None]] = []
        for oid in message.general_info_types or (cmp.ID_IT_CA_CERTS,):
            if oid == cmp.ID_IT_CA_CERTS:
                generations = await self._registry.generations(self._settings.ca.name)
                value = cmp.ca_certs_value([g.certificate_der for g in generations])
                answers.append((oid, value))
            elif oid == cmp.ID_IT_CERT_REQ_TEMPLATE:
                key_types = self._settings.profile(profile).key_algorithms
                answers.append((oid, cmp.cert_req_template_value(key_types)))
            elif oid == cmp.ID_IT_CRL_STATUS_LIST:
                crls = self._newer_crls(message.crl_status_list)
                answers.append((cmp.ID_IT_CRLS, cmp.crls_value(crls) if crls else None))
            else:
                answers.append((oid, None))
        return cmp.genp_body(answers)

    def _newer_crls(self, statuses: tuple[cmp.CRLStatus, ...]) -> list[bytes]:
        """The current full CRLs the client's crlStatusList names (by distribution point
        URI, or all of ours for an issuer) that are newer than the thisUpdate it has; none:
        crls goes back without a value (RFC 9483 4.3.4)."""
        shards = self._settings.crl.shards
        newer: dict[int, bytes] = {}
        for shard in range(shards):
            published = self._crls.current(shard, delta=False)
            if published is None:
                continue
            url = crl_url(self._settings.ca.base_url, self._settings.ca.name, shard, shards,
                          delta=False)  # fmt: skip
            for status in statuses:
                if status.distribution_point_uris and url not in status.distribution_point_uris:
                    continue
                if status.this_update is None or published.this_update > status.this_update:
                    newer[shard] = published.der
        return [newer[shard] for shard in sorted(newer)]

    async def run(self) -> None:
        """The builder process's sweeper: unconfirmed certificates are revoked within a few
        seconds of their deadline, whether or not CMP requests come in."""
        while True:
            try:
                await self.revoke_unconfirmed()
            except Exception:
                log.exception("CMP: revoking unconfirmed certificates failed")
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
        assert header.transaction_id is not None
        return cmp.ReplyHeader(
            sender=sender_name,
            recipient=header.sender,
            transaction_id=header.transaction_id,
            sender_nonce=reply.nonce,
            recip_nonce=header.sender_nonce,
            message_time=self._clock(),
            protection_algorithm=algorithm,
            sender_kid=kid,
            implicit_confirm=reply.implicit_confirm,
            pvno=reply.pvno or header.pvno,
        )

    async def _protected(
        self,
        message: cmp.PKIMessage,
        sender: _Sender,
        reply: _Reply,
        identity: ServerIdentity | None,
    ) -> bytes:
        """MAC answers name the CA as their sender (RFC 9483 3.1); signed ones the signer."""
        if sender.credential is not None:
            algorithm = cmp.new_mac_algorithm(message)
            kid = message.header.sender_kid
            header = self._reply_header(message, reply, await self._ca_name(), algorithm, kid)
            protection = cmp.mac(algorithm, sender.secret, cmp.protected_part(header, reply.body))
            return cmp.assemble(header, reply.body, protection)
        if identity is None:  # no CMP protection certificate yet (server/cmp_identity.py)
            return self._unprotected_error(message, F.systemUnavail, "no key to sign answers")
        # RFC 9483 3.2/3.3: signed by the CMP protection certificate, which comes first in
        # extraCerts, followed by its chain; sender its subject, senderKID its key id (3.1).
        leaf = x509.load_der_x509_certificate(identity.chain[0])
        name = asn1_x509.GeneralName(
            name="directory_name", value=asn1_x509.Name.load(leaf.subject.public_bytes())
        ).dump()
        ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        algorithm = cmp.signature_algorithm_der("sha256_ecdsa")
        header = self._reply_header(message, reply, name, algorithm, ski)
        signature = identity.private_key.sign(
            cmp.protected_part(header, reply.body), ec.ECDSA(hashes.SHA256())
        )
        return cmp.assemble(header, reply.body, signature, identity.chain)

    async def _ca_name(self) -> bytes:
        """The active CA generation's subject as a directoryName GeneralName."""
        generation = await self._registry.active_generation(self._settings.ca.name)
        if generation is None:
            return NULL_NAME
        subject = asn1_x509.Certificate.load(generation.certificate_der).subject
        return asn1_x509.GeneralName(name="directory_name", value=subject).dump()

    def _unprotected_error(
        self, message: cmp.PKIMessage | None, failure: cmp.FailureInfo, text: str
    ) -> bytes:
        """RFC 9483 3.6.4: an error the server cannot protect (the request could not be
        authenticated) goes unprotected; protocols/cmp writes an empty protection."""
        log.info("CMP refusal (%s): %s", failure.name, text)
        body = cmp.error_body([failure], text)
        transaction_id = message.header.transaction_id if message else None
        header = cmp.ReplyHeader(
            sender=NULL_NAME,
            recipient=message.header.sender if message else NULL_NAME,
            transaction_id=transaction_id or b"",
            sender_nonce=secrets.token_bytes(16),
            recip_nonce=message.header.sender_nonce if message else None,
            message_time=self._clock(),
            protection_algorithm=b"",
            sender_kid=None,
            implicit_confirm=False,
            pvno=message.header.pvno if message and message.header.pvno in (2, 3) else 2,
        )
        return cmp.assemble_unprotected(header, body)


def _asks_for_a_key(message: cmp.PKIMessage) -> bool:
    """Central key generation (RFC 9483 4.1.6): one request whose template has no public
    key, or only the algorithm of the key wanted with an empty key."""
    if len(message.cert_requests) != 1:
        return False
    spki = message.cert_requests[0].spki_der
    if spki is None:
        return True
    try:  # SubjectPublicKeyInfo { algorithm, subjectPublicKey BIT STRING }: no key bits
        parts = der.elements(spki)
        return len(parts) == 2 and parts[1][0] == 0x03 and not der.contents(parts[1][1])[1:]
    except der.DERError:
        return False


def _key_type(spki_der: bytes | None, allowed: tuple[str, ...]) -> str:
    """The key the template names by its algorithm, else the profile's first one."""
    if spki_der is not None:
        try:  # asn1crypto parses parameters by algorithm: read only what we can name
            algorithm = asn1_keys.PublicKeyAlgorithm.load(der.elements(spki_der)[0][1])
            wanted = {"rsa": "rsa-2048", "ec": None}.get(algorithm["algorithm"].native, "")
            if wanted is None:
                parameters = algorithm["parameters"]
                curve = parameters.chosen.native if parameters else ""
                wanted = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(curve, "")
        except (der.DERError, IndexError, ValueError, TypeError, KeyError):
            wanted = ""  # RFC 9483 4.1.6: an algorithm we cannot read is one we do not serve
        if wanted not in allowed:
            raise CMPRefusal(F.badAlg, "the profile does not take that key type")
        return wanted
    return allowed[0]


def _key_identifier(certificate_der: bytes) -> bytes | None:
    certificate = x509.load_der_x509_certificate(certificate_der)
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        return None
