"""Who sent a CMP request, and whether its header is right (RFC 9483 3.1, 3.3, 3.5).

Theory of operation, in the order server/cmp/server.py asks:
1. :func:`check_version`: pvno 2 or 3, else unsupportedVersion (RFC 9483 3.5). Asked before
   anything else.
2. :meth:`SenderChecks.protection_kind`, then :meth:`SenderChecks.mac_credential` or
   :meth:`SenderChecks.signer`: the protection's algorithm must be one RFC 9481 allows
   (badAlg), then a MAC keyed by the enrollment credential the request names, or a signature
   by a good certificate of this CA sent first in extraCerts. A request that fails here
   cannot be authenticated: its error is signed by the CMP protection certificate, or goes
   unprotected when there is none (RFC 9483 3.6.4). A MAC of many iterations is computed
   off the event loop, so that one client cannot stall a worker.
3. :meth:`SenderChecks.check_header`: an authenticated request is protected as its body
   requires (kur and rr by signature, RFC 9483 4.1.3, 4.2: wrongIntegrity), its sender and
   senderKID name the protecting certificate (RFC 9483 3.1), and its other header fields are
   right (server/cmp/header.py). These errors go out protected, like the request (RFC 9483
   3.6.4). :meth:`SenderChecks.check_continued_protection`: a certConf or pollReq is
   protected the way the request that opened its transaction was (the other kind:
   wrongIntegrity; another MAC algorithm: badMessageCheck).
4. :func:`check_continuation`: a message that continues a transaction (certConf, pollReq)
   answers our last senderNonce and brings a new one of its own (RFC 9483 3.1, 3.5);
   :meth:`SenderChecks.remember_sender_nonce` keeps the client's last one.

The shared-secret reference (the enrollment credential's id) is read from senderKID, where
RFC 9483 4.1.5 puts it, as the reference itself or written `CN=<reference>` (as many
clients and Siemens' cmp-test-suite write it), or from the sender when that is a
directoryName of one common name `CN=<reference>` (senderKID then absent or naming the same
credential). When both name an enrollment credential and not the same one, the request is
refused: it is unclear whose secret protects it. The sender of a MAC-protected request is a
directoryName (a NULL-DN when the client has no name): RFC 9483 3.1 asks for "a name
representing the originator", and the suite refuses any other kind (badMessageCheck).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from config.settings import CMPSettings
from protocols import cmp, der
from protocols.x509.names import plain_attributes
from server.clock import Clock
from server.cmp.header import CONTINUING_MESSAGES, check_header_fields
from server.cmp.refusal import CMPRefusal
from server.enrollment.credentials import EnrollmentCredential, EnrollmentCredentials
from server.registry import CertificateStatus, interfaces
from server.registry.records import CMPTransaction

__all__ = ["CMPRefusal", "SenderChecks", "check_continuation", "check_version"]

F = cmp.FailureInfo
# RFC 9483 4.1.3 (kur) and 4.2 (rr): "MUST be signature-protected" (MAC: wrongIntegrity).
SIGNED_ONLY = frozenset({"kur", "rr"})
# Requests whose signer's revocation is the reason to refuse them: certRevoked (RFC 9483
# 4.1.1, 4.1.3, 4.2; RFC 9810 5.2.3 "certificate has already been revoked").
REVOKED_SIGNER_REFUSED = frozenset({"ir", "cr", "kur", "p10cr", "rr"})
# MACs of more iterations than this are computed in a thread, not on the event loop: a few
# milliseconds of hashing (PBMAC1 as clients use it, 262144 rounds, takes a quarter second).
MAC_ITERATIONS_ON_LOOP = 5000


class CMPSenderRegistry(interfaces.CMPTransactionChecks, interfaces.Certificates, Protocol):
    """The registry as CMP sender checks use it."""


def check_version(message: cmp.PKIMessage) -> None:
    """RFC 9483 3.5: pvno 2 (cmp2000) or 3 (cmp2021); raises CMPRefusal otherwise."""
    pvno = message.header.pvno
    if pvno not in (2, 3):
        raise CMPRefusal(F.unsupportedVersion, f"pvno {pvno}: only 2 and 3")


def check_continuation(message: cmp.PKIMessage, transaction: CMPTransaction) -> None:
    """A message that continues ``transaction`` (RFC 9483 3.1): its recipNonce is our last
    senderNonce (badRecipientNonce), its senderNonce is not the one the client sent before
    (badSenderNonce: RFC 9483 3.1 wants a fresh one in every message). Raises CMPRefusal."""
    header = message.header
    if header.recip_nonce != transaction.our_nonce:
        raise CMPRefusal(F.badRecipientNonce, "recipNonce is not our last senderNonce")
    if transaction.their_nonce is not None and header.sender_nonce == transaction.their_nonce:
        raise CMPRefusal(F.badSenderNonce, "senderNonce repeats the one sent before")


class SenderChecks:
    """The checks of steps 2-4 (module docstring) over the registry and the credentials."""

    def __init__(
        self,
        settings: CMPSettings,
        registry: CMPSenderRegistry,
        credentials: EnrollmentCredentials,
        clock: Clock,
    ) -> None:
        self._cmp = settings
        self._registry = registry
        self._credentials = credentials
        self._clock = clock

    # -- step 2: authentication (errors unprotected) ------------------------------------------

    def protection_kind(self, message: cmp.PKIMessage) -> str:
        """The kind, "mac" or "signature". Raises CMPRefusal: badMessageCheck for an unprotected
        message (nothing unprotected is served, RFC 9483 3.2), badAlg for an algorithm
        outside RFC 9481's set (RFC 9483 3.5)."""
        if message.header.protection_algorithm is None or message.protection is None:
            raise CMPRefusal(F.badMessageCheck, "unprotected messages are not accepted")
        try:
            return cmp.protection_kind(message)
        except cmp.AlgorithmNotAllowed as exc:
            raise CMPRefusal(F.badAlg, str(exc)) from None
        except cmp.MACError as exc:
            raise CMPRefusal(F.badMessageCheck, f"MAC protection: {exc}") from None

    async def mac_credential(
        self, message: cmp.PKIMessage
    ) -> tuple[EnrollmentCredential, bytes, int]:
        """The enrollment credential whose shared secret MACs ``message``, that secret, and
        the MAC's work in SHA-2 iterations (cmp.mac_work; the answer's MAC has the same).
        Raises CMPRefusal (badMessageCheck)."""
        credential = await self._referenced_credential(message.header)
        secret = self._credentials.mac_secret(credential)
        low, high = self._cmp.mac_min_iterations, self._cmp.mac_max_iterations
        try:
            _oid, iterations = cmp.mac_parameters(message)
            work = cmp.mac_work(message)
            if low <= iterations <= high and work > MAC_ITERATIONS_ON_LOOP:
                await asyncio.to_thread(cmp.verify_mac, message, secret, low, high)
            else:  # cheap, or refused for its count before any hashing
                cmp.verify_mac(message, secret, low, high)
        except cmp.MACError as exc:
            raise CMPRefusal(F.badMessageCheck, f"MAC protection: {exc}") from None
        return credential, secret, work

    async def _referenced_credential(self, header: cmp.Header) -> EnrollmentCredential:
        """By senderKID (RFC 9483 4.1.5), else by the sender `CN=<reference>`; both naming
        different credentials is refused (module docstring)."""
        if not _is_directory_name(header.sender):
            # RFC 9483 3.1: sender, "a name representing the originator"; the suite refuses
            # a MAC-protected request whose sender is not a directoryName (badMessageCheck).
            raise CMPRefusal(
                F.badMessageCheck, "the sender of a MAC-protected request is a directoryName"
            )
        named = _single_common_name(header.sender)
        kid = named if header.sender_kid is None else _reference(header.sender_kid)
        # Both read at once: a sender's name that is some other credential's is refused.
        found = await self._credentials.find_each(sorted({kid, named} - {""}) if kid else [])
        credential = found.get(kid)
        if credential is not None and named and named != kid and named in found:
            raise CMPRefusal(
                F.badMessageCheck, "senderKID and the sender name different credentials"
            )
        if credential is None:
            raise CMPRefusal(F.badMessageCheck, "no enrollment credential with that reference")
        return credential

    async def signer(self, message: cmp.PKIMessage) -> bytes:
        """The DER certificate that signs ``message``: extraCerts[0] (RFC 9483 3.3), a
        good certificate of this CA, or a held one for an rr (its own chain is the trust
        anchor, so nothing more of extraCerts is needed). Raises CMPRefusal."""
        if not message.extra_certs:
            # RFC 9483 3.3: extraCerts MUST hold the CMP protection certificate; without it
            # the protection cannot be checked: badMessageCheck (3.5). Not signerNotTrusted:
            # nothing says the signer is untrusted, its certificate is simply not there.
            raise CMPRefusal(
                F.badMessageCheck, "the protecting certificate must come first in extraCerts"
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
            # R7: revoking again, or asking for a certificate with a revoked one (RFC 9483
            # 4.1.1, 4.1.3), is refused as such; anything else, by an untrusted signer.
            failure = (
                F.certRevoked if message.body_type in REVOKED_SIGNER_REFUSED else F.signerNotTrusted
            )
            raise CMPRefusal(failure, "the protecting certificate is revoked")
        if record.status is CertificateStatus.HOLD and message.body_type != "rr":
            # A held certificate protects only an rr: its holder may ask to lift the hold
            # (removeFromCRL) or revoke it for good (server/cmp/revocation.py).
            raise CMPRefusal(F.signerNotTrusted, "the protecting certificate is suspended")
        if record.not_after <= self._clock():
            raise CMPRefusal(F.signerNotTrusted, "the protecting certificate has expired")
        return certificate

    # -- step 3: the header of an authenticated request (errors protected) ----------------------

    def check_header(self, message: cmp.PKIMessage, signer: bytes | None) -> None:
        """Raises CMPRefusal with the failInfo RFC 9483 3.5 names (module docstring)."""
        if signer is None and message.body_type in SIGNED_ONLY:
            # RFC 9483 4.1.3: a kur "MUST be signature-protected" by the certificate it
            # updates; 4.2: an rr by the one it revokes. wrongIntegrity (RFC 9810 5.2.3).
            raise CMPRefusal(
                F.wrongIntegrity, f"a {message.body_type} is protected by a signature, not a MAC"
            )
        if signer is not None:
            _check_signature_sender(message.header, signer)
        check_header_fields(message, self._cmp, self._clock())

    async def check_continued_protection(
        self, message: cmp.PKIMessage, protection: str
    ) -> CMPTransaction | None:
        """A certConf or pollReq is protected like the request that opened its transaction
        (RFC 9483 3.2; 4.1.1: certConf "with the same protection" as the request):
        ``protection`` is its own, "signature" or its MAC's OID. The other kind is
        wrongIntegrity, another MAC algorithm badMessageCheck (the suite's expectations).
        Returns the transaction it read (None for other messages, or none stored), so
        that the request reads it once. Raises CMPRefusal."""
        transaction_id = message.header.transaction_id
        if message.body_type not in CONTINUING_MESSAGES or transaction_id is None:
            return None
        transaction = await self._registry.cmp.get(transaction_id)
        if transaction is None or transaction.protection in (None, protection):
            return transaction  # none of ours (refused later), or opened before 0015
        if (transaction.protection == "signature") != (protection == "signature"):
            kind = "a signature" if transaction.protection == "signature" else "a MAC"
            raise CMPRefusal(F.wrongIntegrity, f"this transaction is protected by {kind}")
        raise CMPRefusal(
            F.badMessageCheck, "this transaction is protected by another MAC algorithm"
        )

    # -- step 4 -----------------------------------------------------------------------------

    async def remember_sender_nonce(self, message: cmp.PKIMessage) -> None:
        """Keep the client's senderNonce of a transaction that goes on (certConf or pollReq
        is awaited), for :func:`check_continuation`."""
        header = message.header
        if header.transaction_id is not None and header.sender_nonce is not None:
            await self._registry.cmp.received(header.transaction_id, header.sender_nonce)


def _check_signature_sender(header: cmp.Header, certificate_der: bytes) -> None:
    """RFC 9483 3.1: the sender of a signed message is the subject of the CMP protection
    certificate, senderKID (when present) its subjectKeyIdentifier; otherwise the message
    claims to come from someone it does not: badMessageCheck (RFC 9483 3.5)."""
    certificate = asn1_x509.Certificate.load(certificate_der)
    subject = certificate.subject
    try:
        sender = asn1_x509.GeneralName.load(header.sender)
        same = sender.name == "directory_name" and sender.chosen == subject  # RFC 5280 7.1
    except (ValueError, TypeError, KeyError):  # a name asn1crypto cannot compare: not it
        same = False
    if not same:
        raise CMPRefusal(
            F.badMessageCheck, "the sender is not the subject of the protecting certificate"
        )
    key_identifier = certificate.key_identifier
    if header.sender_kid is None and key_identifier is not None:
        # RFC 9483 3.1: senderKID "MUST be the SubjectKeyIdentifier" of the CMP protection
        # certificate when it has one; the suite refuses its absence (badMessageCheck).
        raise CMPRefusal(F.badMessageCheck, "senderKID must name the protecting certificate")
    if header.sender_kid is not None and header.sender_kid != key_identifier:
        raise CMPRefusal(
            F.badMessageCheck,
            "senderKID is not the protecting certificate's subjectKeyIdentifier",
        )


def _reference(octets: bytes) -> str:
    """The credential id a senderKID names: its text, less a leading `CN=` (module
    docstring); "" when it is not ASCII text."""
    try:
        text = octets.decode("ascii")
    except UnicodeDecodeError:
        return ""
    return text[3:] if text.startswith("CN=") else text


def _is_directory_name(general_name: bytes) -> bool:
    """Whether a DER GeneralName is the directoryName [4] choice (RFC 5280 4.2.1.6)."""
    return general_name[:1] == b"\xa4"


def _single_common_name(general_name: bytes) -> str:
    """x of a sender `CN=x` (a directoryName of one RDN, one commonName), else "". Read by
    a walk of the Name's DER when it is plain (names.plain_attributes: a new client's name
    in each request), else with asn1crypto (:func:`_single_common_name_read_whole`)."""
    plain = None
    if _is_directory_name(general_name):
        with contextlib.suppress(der.DERError):
            plain = plain_attributes(der.contents(general_name))
    if plain is None:
        return _single_common_name_read_whole(general_name)
    return plain[0][1] if len(plain) == 1 and plain[0][0] == "CN" else ""


def _single_common_name_read_whole(general_name: bytes) -> str:
    try:
        name = asn1_x509.GeneralName.load(general_name)
        if name.name != "directory_name":
            return ""
        rdns = name.chosen.chosen
        if len(rdns) != 1 or len(rdns[0]) != 1 or rdns[0][0]["type"].native != "common_name":
            return ""
        value = rdns[0][0]["value"].native
    except (ValueError, TypeError, KeyError):
        return ""
    return value if isinstance(value, str) else ""
