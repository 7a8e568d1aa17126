"""A CMP revocation request (rr) built, for the subject of a certificate to ask its issuer
to revoke it (RFC 9810 5.3.9 RevReqContent; RFC 9483 4.2 "Revoking a Certificate").

Theory of operation, as for the replies (``replies.py``): :func:`rr_body` returns the DER
PKIBody; the caller fills a ``ReplyHeader`` (it is the PKIHeader of any message: sender the
protecting certificate's subject, recipient its issuer, a fresh transactionID and
senderNonce, no recipNonce: a request starts the transaction), takes
``replies.protected_part``, has it signed with the key of the certificate to be revoked
(RFC 9483 4.2: that signature is the proof the sender may ask) and joins them with
``replies.assemble_protected``, that certificate first in extraCerts, then its chain
(RFC 9483 3.3). Nothing here signs.

RFC 9483 4.2 names the certificate by certDetails' issuer and serialNumber alone and asks
for exactly one reasonCode (RFC 5280 5.3.1) in crlEntryDetails; one RevDetails per rr.
"""

from __future__ import annotations

from pyasn1.type import univ
from pyasn1_alt_modules import rfc5280

from protocols.cmp.crmf import MalformedDER, decode_der, encode_der
from protocols.cmp.messages import BODY_TAGS, ID_CE_CRL_REASONS
from protocols.crl import CRLReason
from protocols.der import contents as der_contents
from protocols.der import tlv as der_tlv

__all__ = ["rr_body"]

_SEQUENCE = 0x30
_SERIAL_NUMBER = 0x81  # CertTemplate serialNumber [1] IMPLICIT INTEGER (RFC 4211 5)
_ISSUER = 0xA3  # CertTemplate issuer [3] EXPLICIT Name (a CHOICE: tagged explicitly)


def rr_body(serial: int, issuer: bytes, reason: int) -> bytes:
    """The DER PKIBody rr [11] of one RevDetails (RFC 9810 5.3.9): certDetails with
    serialNumber `serial` and issuer `issuer` (a DER Name), crlEntryDetails with the one
    reasonCode `reason` (a CRLReason value, RFC 5280 5.3.1). Raises ValueError for a serial
    that is not positive, an issuer that is not one DER Name, or a reason RFC 5280 does not
    define."""
    if serial <= 0:
        raise ValueError(f"serial {serial}: a certificate's serial is positive (RFC 5280 4.1.2.2)")
    try:
        CRLReason(reason)
    except ValueError:
        raise ValueError(f"reason {reason} is not a CRLReason (RFC 5280 5.3.1)") from None
    try:
        decode_der(issuer, rfc5280.Name(), "issuer")
    except MalformedDER as exc:
        raise ValueError(str(exc)) from None
    reason_der = der_tlv(0x0A, bytes([reason]))  # CRLReason ::= ENUMERATED, 0..10
    template = der_tlv(_SERIAL_NUMBER, der_contents(encode_der(univ.Integer(serial))))
    template += der_tlv(_ISSUER, bytes(issuer))
    reason_code = encode_der(univ.ObjectIdentifier(ID_CE_CRL_REASONS))
    reason_code += der_tlv(0x04, reason_der)  # critical FALSE: DEFAULT, left out (X.690 11.5)
    entry_details = der_tlv(_SEQUENCE, der_tlv(_SEQUENCE, reason_code))
    details = der_tlv(_SEQUENCE, der_tlv(_SEQUENCE, template) + entry_details)
    return der_tlv(0xA0 | BODY_TAGS["rr"], der_tlv(_SEQUENCE, details))
