"""The header fields of an authenticated CMP request (RFC 9483 3.1, 3.5; RFC 9810 5.1.1).

Theory of operation: :func:`check_header_fields` is asked by server/cmp/sender.py once the
request's protection is known to be good, so its refusals go out protected like the
request (RFC 9483 3.6.4). Each field has one failInfo; where RFC 9483 3.5 leaves the choice
open, it is the one Siemens' cmp-test-suite (written by the authors of RFC 9483) expects,
as each line says:

- transactionID: absent is badDataFormat (3.5); of another size than 128 bits (3.1)
  badRequest. A certConf or pollReq continues a transaction by its transactionID, so one
  without it asks for no transaction at all: badRequest.
- senderNonce: absent or not 128 bits, badSenderNonce (3.1, 3.5; RFC 9810 5.2.3 "either
  missing or wrong size").
- recipNonce: a first message has none (3.1), badRecipientNonce.
- messageTime: absent is badTime when `cmp.require_message_time` (3.1 only RECOMMENDS it;
  required by default, so that a request can be replayed only within
  `cmp.max_clock_skew_seconds`), and always when confirmWaitTime is present (3.1, RFC 9810
  5.1.1.2); one present must be within `cmp.max_clock_skew_seconds` of ours (badTime).
- generalInfo (3.1; RFC 9810 5.1.1.1, 5.1.1.2): implicitConfirm together with
  confirmWaitTime contradicts itself, badRequest; an ImplicitConfirmValue other than NULL
  is badRequest; a confirmWaitTime that is not a GeneralizedTime badDataFormat; implicit
  confirmation is asked for in a request for a certificate, never in a certConf
  (badRequest).
"""

from __future__ import annotations

from datetime import datetime

from config.settings import CMPSettings
from protocols import cmp
from server.cmp.refusal import CMPRefusal

F = cmp.FailureInfo
ID_OCTETS = 16  # RFC 9483 3.1: transactionID and senderNonce are 128 bits
# RFC 9483 3.1: the messages that start a PKI management operation (and its transaction);
# certConf and pollReq continue one.
FIRST_MESSAGES = frozenset({"ir", "cr", "kur", "p10cr", "genm", "rr"})
CONTINUING_MESSAGES = frozenset({"certConf", "pollReq"})


def check_header_fields(message: cmp.PKIMessage, settings: CMPSettings, now: datetime) -> None:
    """Raises CMPRefusal with the failInfo of the first fault (module docstring)."""
    header = message.header
    _check_transaction_id(message)
    # RFC 9483 3.5: the senderNonce MUST be present, of 128 bits (3.1: exactly; RFC 9810
    # 5.2.3: badSenderNonce, "either missing or wrong size").
    if header.sender_nonce is None or len(header.sender_nonce) != ID_OCTETS:
        raise CMPRefusal(F.badSenderNonce, "a senderNonce of 128 bits is required")
    if message.body_type in FIRST_MESSAGES and header.recip_nonce is not None:
        # RFC 9483 3.1: the first message of a transaction has no recipNonce, there is
        # no message of ours to answer.
        raise CMPRefusal(F.badRecipientNonce, "a first message carries no recipNonce")
    _check_general_info(message)
    _check_message_time(header, settings, now)


def _check_transaction_id(message: cmp.PKIMessage) -> None:
    transaction_id = message.header.transaction_id
    if transaction_id is None:
        if message.body_type in CONTINUING_MESSAGES:
            # RFC 9483 3.1: a certConf/pollReq carries the transactionID of the operation
            # it continues; without one it names none (the suite: badRequest).
            raise CMPRefusal(F.badRequest, "a transactionID names the transaction continued")
        # RFC 9483 3.5: "the transactionID MUST be present" (badDataFormat).
        raise CMPRefusal(F.badDataFormat, "a transactionID is required")
    if len(transaction_id) != ID_OCTETS:
        # RFC 9483 3.1: "MUST be 128 bits of random data"; present but not of that size is
        # a request the profile does not allow (the suite: badRequest).
        raise CMPRefusal(F.badRequest, "a transactionID of 128 bits is required")


def _check_general_info(message: cmp.PKIMessage) -> None:
    """RFC 9483 3.1 generalInfo; RFC 9810 5.1.1.1 ImplicitConfirmValue ::= NULL, 5.1.1.2
    ConfirmWaitTimeValue ::= GeneralizedTime."""
    items = message.header.general_info
    implicit = [item for item in items if item.info_type == cmp.ID_IT_IMPLICIT_CONFIRM]
    wait = [item for item in items if item.info_type == cmp.ID_IT_CONFIRM_WAIT_TIME]
    if implicit and wait:
        # RFC 9483 3.1: confirmWaitTime is for a certificate that waits for certConf,
        # implicitConfirm for one that does not: both at once contradict each other.
        raise CMPRefusal(F.badRequest, "implicitConfirm and confirmWaitTime together")
    if any(not cmp.is_null(item.value) for item in implicit):
        raise CMPRefusal(F.badRequest, "the ImplicitConfirmValue must be NULL")
    if any(not cmp.is_generalized_time(item.value) for item in wait):
        raise CMPRefusal(F.badDataFormat, "the ConfirmWaitTimeValue must be a GeneralizedTime")
    if implicit and message.body_type == "certConf":
        # RFC 9483 3.1: implicitConfirm is asked in ir/cr/kur/p10cr and granted in
        # ip/cp/kup; a certConf that carries it confirms and declines confirming at once.
        raise CMPRefusal(F.badRequest, "a certConf does not ask for implicit confirmation")


def _check_message_time(header: cmp.Header, settings: CMPSettings, now: datetime) -> None:
    if header.message_time is None:
        waits = any(item.info_type == cmp.ID_IT_CONFIRM_WAIT_TIME for item in header.general_info)
        if settings.require_message_time or waits:
            # RFC 9483 3.1: messageTime is RECOMMENDED (and MUST be present together with
            # confirmWaitTime); required here to bound replay (module docstring).
            raise CMPRefusal(F.badTime, "messageTime is required")
        return
    skew = abs((header.message_time - now).total_seconds())
    if skew > settings.max_clock_skew_seconds:
        raise CMPRefusal(F.badTime, f"messageTime is {skew:.0f} s from ours")
