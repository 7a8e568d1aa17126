"""RA mode of the CMP server (RFC 9483 section 5.2.2): nested messages from trusted RAs.

Theory of operation. A registration authority (a "PKI management entity") forwards end
entities' requests wrapped in a ``nested`` PKIMessage (RFC 9810 5.1.3.4) that it signs
itself. ``server/cmp.py`` reads and authenticates the outer message as any other, then
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
5. Inner requests are served by the CMP server with their own rules and protection; the
   only thing the RA adds is that a proof of possession ``raVerified`` (RFC 4211 4,
   RFC 9483 5.2.3.2) is taken for an ir/cr: the RA vouches that it checked the POP (not
   for a request that would wait for approval: its POP is checked again then).
   Outside a trusted RA's nested message raVerified stays badPOP (RFC 9483 4.1.1).

An RA that replaces an end entity's protection with its own (RFC 9483 5.2.3) is not served:
a request carrying the original in id-it-origPKIMessage is refused (:meth:`check_direct`),
and without it the request is the RA's own. Central key generation through an RA works by
added protection, which keeps the end entity's request and so its credential for the key's
envelope (RFC 9483 4.1.6, 5.2.3).
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
    carries_orig_pki_message,
    inner_messages,
    nested_body,
)
from server.tls import ServerIdentity

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
        """The request read, its header checked, authenticated by its own protection, with
        raVerified vouched for. Raises RARefusal with the failInfo a direct request gets."""
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
        if any(inner.message.body_type == "nested" for inner in inners):
            raise RARefusal(F.badRequest, "a nested message inside a nested one is not served")
        added_protection = self._shape(message, inners)
        log.info("CMP: RA %s forwards %d request(s)", ra, len(inners))
        answers = [await server.inner_answer(i, profile, identity, unexpected) for i in inners]
        if added_protection:  # RFC 9483 5.2.2.1: the answer goes back as to the end entity
            return RAAnswer(unwrapped=answers[0])
        return RAAnswer(nested_body=nested_body(answers))  # RFC 9483 5.2.2.2, in order

    @staticmethod
    def check_direct(message: cmp.PKIMessage) -> None:
        """A request outside a nested message (or an inner one) that carries the end
        entity's original in id-it-origPKIMessage comes from an RA that replaced its
        protection (RFC 9483 5.2.3, 5.2.3.2; RFC 9810 5.1.1.3). That is not served: it
        would be taken as the RA's own request (a certificate in the RA's name, a central
        key enveloped for the RA). Raises RARefusal (badRequest)."""
        if carries_orig_pki_message(message):
            raise RARefusal(
                F.badRequest,
                "replaced protection (origPKIMessage) is not served: an RA adds its "
                "protection in a nested message (RFC 9483 5.2.2.1)",
            )

    def _trusted_ra(self, certificate: bytes | None) -> str:
        if certificate is None:  # RFC 9483 5.2.2: the RA's protection is a signature
            raise RARefusal(F.wrongIntegrity, "a nested message is signed by a trusted RA")
        name = self._trusted.get(hashlib.sha256(certificate).digest())
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
