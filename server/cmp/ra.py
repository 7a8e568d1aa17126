"""RA mode of the CMP server (RFC 9483 5.2.2, 5.2.3): trusted RAs' nested and own requests.

Theory of operation. A registration authority (a "PKI management entity") forwards end
entities' requests wrapped in a ``nested`` PKIMessage (RFC 9810 5.1.3.4) that it signs
itself. ``server/cmp/server.py`` reads and authenticates the outer message as any other, then
hands it here (:meth:`RAMessages.answer`):

1. The outer message must be signed (RFC 9483 5.2.2: an RA protects by signature;
   otherwise wrongIntegrity) by a certificate this CA issued whose SHA-256 fingerprint
   the operator lists in ``[cmp.ras]`` (otherwise notAuthorized).
2. Its inner messages are cut out (``protocols/cmp/nested.py``): at least one, at most
   ``cmp.max_batch_messages`` (badRequest), none of them nested again (one RA level is
   served: a hostile client cannot make the server recurse).
3. Every inner message is read and authenticated by its own protection, exactly as a
   direct request, before anything is done: one that fails refuses the whole nested
   message with that failInfo, so a refusal changes nothing.
4. Two shapes (RFC 9483 5.2.2.1, 5.2.2.2):
   - added protection: one inner message whose transactionID and senderNonce the RA
     copied into the outer header. Copying only one of them is refused (badRequest for the
     transactionID, badSenderNonce for the senderNonce). The answer is the inner request's
     own answer, unwrapped, as if the end entity had asked directly.
   - batch: the outer header has a fresh transactionID and senderNonce, none an inner
     message's (badRequest, badSenderNonce); inner transactionIDs are distinct
     (transactionIdInUse). The answer is one nested message, signed by this server,
     holding one answer per inner request in the same order.
5. Inner requests are served by the CMP server with their own rules and protection. An
   inner message is the end entity's own, unchanged: a proof of possession ``raVerified``
   in it was set by the end entity, which cannot vouch for itself, so it is refused in
   kind, notAuthorized (RFC 9483 5.2.2, 5.2.3.2; server/cmp/cert_requests.py). A ccr inside a
   nested message refuses the whole message notAuthorized: cross-certification comes from
   a CA (RFC 9810 5.3.11), never from an RA's end entity.

Replaced protection (RFC 9483 5.2.3.1, 5.2.3.2). An RA that checked an end entity's request
(its POP, or anything else) may send it as its own: a direct ir/cr signed by its RA
certificate, sender the RA's subject, POP ``raVerified`` (it vouches that it verified the
POP) or a signature POP. Such a request from a trusted RA (:meth:`RAMessages.trusted_ra`)
is served for the template's subject and key under the profile of the request's path, any
subject that profile's rules accept (the operator trusts the RA as it trusts itself), and
recorded with the actor ``cmp-ra:<name>``. A central key for such a request is enveloped for
the RA, which asked for it. raVerified is never taken in a kur (5.2.3: the RA cannot stand
in for the key update's own POP). The end entity's original may ride along in generalInfo
id-it-origPKIMessage (5.2.3.1, RFC 9810 5.1.1.3) (:meth:`RAMessages.check_originals`): it
must be PKIMessages (badDataFormat otherwise); an original signed by a certificate of this
CA must verify (badMessageCheck otherwise); any other protection of an original (a MAC, a
certificate of another PKI) is the RA's to check, and is not checked here. Only a trusted
RA's direct request may carry originals (notAuthorized otherwise).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from config import Settings
from config.settings import sha256_fingerprint
from protocols import cmp
from protocols.cmp.nested import (
    NestedFormatError,
    inner_messages,
    nested_body,
    orig_pki_messages,
)
from server.node.tls import ServerIdentity

log = logging.getLogger(__name__)

F = cmp.FailureInfo


class RARefusal(Exception):
    """The whole nested message is refused: answered by an error message protected as the
    RA's message was (RFC 9483 3.6.4)."""

    def __init__(self, failure: cmp.FailureInfo, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


@dataclass(frozen=True)
class Inner:
    """One inner request, read and authenticated; ``sender`` is the CMP server's own value
    for who sent it (opaque here)."""

    message: cmp.PKIMessage
    sender: Any


class InnerRequests(Protocol):
    """What the CMP server lends this module: its own reading and serving of requests."""

    async def inner_request(self, der: bytes) -> Inner:
        """The request read, its header checked, authenticated by its own protection (no RA
        vouches for anything in it). Raises RARefusal with the failInfo a direct request
        gets."""
        ...

    async def check_original(self, der: bytes) -> None:
        """An end entity's original message (origPKIMessage): it reads as a PKIMessage
        (badDataFormat) and, when signed by a certificate of this CA, that signature
        verifies (badMessageCheck). Raises RARefusal."""
        ...

    async def inner_answer(
        self,
        inner: Inner,
        profile: str,
        identity: ServerIdentity | None,
        unexpected: Callable[[BaseException], object],
    ) -> bytes:
        """The DER answer to the request, protected as for a direct request."""
        ...


@dataclass(frozen=True)
class RAAnswer:
    """Either the inner answer itself (added protection) or the body of the nested answer
    (a batch), which the CMP server protects."""

    unwrapped: bytes | None = None
    nested_body: bytes | None = None


class RAMessages:
    def __init__(self, settings: Settings) -> None:
        self._limit = settings.cmp.max_batch_messages
        self._trusted: dict[bytes, str] = {}
        for name, text in settings.cmp.ras.items():
            fingerprint = sha256_fingerprint(text)
            assert fingerprint is not None  # checked when the settings were loaded
            self._trusted[fingerprint] = name

    async def answer(
        self,
        server: InnerRequests,
        message: cmp.PKIMessage,
        ra_certificate: bytes | None,
        profile: str,
        identity: ServerIdentity | None,
        unexpected: Callable[[BaseException], object],
    ) -> RAAnswer:
        """The answer to ``message`` (body nested, authenticated by the CMP server:
        ``ra_certificate`` is its protecting certificate, None when MAC-protected). Raises
        RARefusal before any inner request is acted on."""
        ra = self._trusted_ra(ra_certificate)
        try:
            ders = inner_messages(message, self._limit)
        except NestedFormatError as exc:
            raise RARefusal(F.badRequest, str(exc)) from None
        inners = [await server.inner_request(der) for der in ders]
        kinds = {inner.message.body_type for inner in inners}
        if "nested" in kinds:
            raise RARefusal(F.badRequest, "a nested message inside a nested one is not served")
        if "ccr" in kinds:  # RFC 9810 5.3.11: cross-certification is asked by a CA
            raise RARefusal(F.notAuthorized, "a ccr is not an end entity's request to forward")
        added_protection = self._shape(message, inners)
        log.info("CMP: RA %s forwards %d request(s)", ra, len(inners))
        answers = [await server.inner_answer(i, profile, identity, unexpected) for i in inners]
        if added_protection:  # RFC 9483 5.2.2.1: the answer goes back as to the end entity
            return RAAnswer(unwrapped=answers[0])
        return RAAnswer(nested_body=nested_body(answers))  # RFC 9483 5.2.2.2, in order

    def trusted_ra(self, certificate: bytes) -> str | None:
        """The name of the trusted RA (``[cmp.ras]``) whose certificate ``certificate`` is
        (already authenticated as a good certificate of this CA), None for any other."""
        return self._trusted.get(hashlib.sha256(certificate).digest())

    async def check_originals(
        self, server: InnerRequests, message: cmp.PKIMessage, ra: str | None
    ) -> None:
        """A direct request (or an inner one) carrying the end entities' originals in
        id-it-origPKIMessage (RFC 9483 5.2.3.1, RFC 9810 5.1.1.3): only a trusted RA that
        replaced their protection sends them (``ra``: its name, None for anyone else,
        notAuthorized); they must be PKIMessages (badDataFormat), at most
        ``cmp.max_batch_messages``, each checked by ``server.check_original``. Raises
        RARefusal."""
        try:
            originals = orig_pki_messages(message, self._limit)
        except NestedFormatError as exc:
            raise RARefusal(F.badDataFormat, f"origPKIMessage: {exc}") from None
        if originals is None:
            return
        if ra is None:  # 5.2.3.1: the original comes with an RA's replaced protection
            raise RARefusal(
                F.notAuthorized, "origPKIMessage is sent by a trusted RA that replaced protection"
            )
        for der in originals:
            await server.check_original(der)

    def _trusted_ra(self, certificate: bytes | None) -> str:
        if certificate is None:  # RFC 9483 5.2.2: the RA's protection is a signature
            raise RARefusal(F.wrongIntegrity, "a nested message is signed by a trusted RA")
        name = self.trusted_ra(certificate)
        if name is None:  # signed by one of our certificates, but not an RA's
            raise RARefusal(F.notAuthorized, "the signer is not an RA trusted here (cmp.ras)")
        return name

    @staticmethod
    def _shape(message: cmp.PKIMessage, inners: list[Inner]) -> bool:
        """Whether this is added protection (True) or a batch (False); raises RARefusal for
        header fields that are neither."""
        header = message.header
        if len(inners) == 1:
            inner = inners[0].message.header
            same_id = inner.transaction_id == header.transaction_id
            same_nonce = inner.sender_nonce == header.sender_nonce
            # RFC 9483 5.2.2.1: the RA copies both; only one copied is a wrong copy
            if same_id and not same_nonce:
                raise RARefusal(F.badSenderNonce, "added protection copies the senderNonce")
            if same_nonce and not same_id:
                raise RARefusal(F.badRequest, "added protection copies the transactionID")
            if same_id:
                return True
        # RFC 9483 5.2.2.2: a batch has a fresh transactionID and senderNonce of its own
        ids = [i.message.header.transaction_id for i in inners]
        if header.transaction_id in ids:
            raise RARefusal(F.badRequest, "a batch's transactionID is its own, not a request's")
        if header.sender_nonce in (i.message.header.sender_nonce for i in inners):
            raise RARefusal(F.badSenderNonce, "a batch's senderNonce is its own, not a request's")
        if len(set(ids)) != len(ids):
            raise RARefusal(F.transactionIdInUse, "two requests of the batch share a transactionID")
        return False
