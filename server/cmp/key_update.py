"""What a certificate of this CA may ask by signing a CMP request, beyond being good: the
kur rules of RFC 9483 4.1.3 and the key usage that central key generation needs (4.1.6).

* A kur updates the certificate that protects it. Its oldCertID control (RFC 4211 6.5),
  when sent, must name that certificate (issuer and serialNumber): otherwise badCertId
  (:func:`check_old_cert_id`).
* While a kur's new certificate waits for certConf (RFC 9483 4.1.1: implicit confirmation
  not granted), the old certificate is being replaced: a second kur, an ir/cr/p10cr or an rr
  it signs is refused badRequest (:func:`pending_update`), so that the update ends one way
  before the old certificate acts again. The wait ends with certConf, or at its deadline:
  the unconfirmed new certificate is then revoked and the old one, never touched by the kur,
  serves again.
* A centrally generated key goes back to a signed request's protecting certificate by key
  transport (RSA, keyEncipherment, 4.1.6.1) or key agreement (EC, keyAgreement, 4.1.6.2);
  a certificate without that key usage is not authorized to receive a key that way:
  notAuthorized (:func:`check_key_management_usage`).

Every refusal is a TemplateRejected, answered in kind (RFC 9483 3.6.2).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from protocols import cmp
from protocols.cmp.crmf import OldCertID
from server.cmp.templates import TemplateRejected

F = cmp.FailureInfo
KEY_UPDATE_REPLY = "kup"  # the reply_kind a kur's transaction is opened with


class PendingUpdates(Protocol):
    """The registry's CMP transactions, as far as this module reads them."""

    async def awaiting_confirmation(
        self, requester: str, reply_kind: str, at: datetime
    ) -> bool: ...


def check_old_cert_id(old_cert_id: OldCertID | None, protecting_der: bytes) -> None:
    """RFC 9483 4.1.3: the oldCertID control, when present, names the certificate being
    updated, which protects the kur. Raises TemplateRejected (badCertId) otherwise."""
    if old_cert_id is None:
        return
    certificate = asn1_x509.Certificate.load(protecting_der)
    tbs = certificate["tbs_certificate"]
    try:
        issuer = asn1_x509.GeneralName.load(old_cert_id.issuer)
        same_issuer = issuer.name == "directory_name" and issuer.chosen == tbs["issuer"]
    except ValueError:
        same_issuer = False
    if not same_issuer or old_cert_id.serial_number != tbs["serial_number"].native:
        raise TemplateRejected(
            F.badCertId, "oldCertID names another certificate than the one protecting the kur"
        )


async def pending_update(
    transactions: PendingUpdates, protecting_der: bytes, now: datetime
) -> str | None:
    """Why a request signed by `protecting_der` is refused badRequest: a kur of that
    certificate whose new certificate still awaits certConf (RFC 9483 4.1.3, 4.1.1); None
    when there is none, or its deadline passed."""
    serial = format(x509.load_der_x509_certificate(protecting_der).serial_number, "x")
    if await transactions.awaiting_confirmation(serial, KEY_UPDATE_REPLY, now):
        return "this certificate's update awaits certConf; it cannot act until that ends"
    return None


def check_key_management_usage(protecting_der: bytes) -> None:
    """RFC 9483 4.1.6.1: key transport to a certificate "with the keyEncipherment key usage"
    (RSA); 4.1.6.2: key agreement with one "with the keyAgreement key usage" (EC). A
    certificate without it is not authorized to receive a centrally generated key: raises
    TemplateRejected (notAuthorized). No keyUsage extension restricts nothing (RFC 5280
    4.2.1.3)."""
    certificate = x509.load_der_x509_certificate(protecting_der)
    try:
        key: object = certificate.public_key()
    except UnsupportedAlgorithm:  # a GOST key: refused below, as another key type
        key = None
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if isinstance(key, rsa.RSAPublicKey):
        if not usage.key_encipherment:
            raise TemplateRejected(
                F.notAuthorized,
                "key transport of the new key needs keyEncipherment in the protecting "
                "certificate (RFC 9483 4.1.6.1)",
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not usage.key_agreement:
            raise TemplateRejected(
                F.notAuthorized,
                "key agreement for the new key needs keyAgreement in the protecting "
                "certificate (RFC 9483 4.1.6.2)",
            )
    else:
        raise TemplateRejected(
            F.notAuthorized, "the protecting certificate's key can receive no key (RFC 9483 4.1.6)"
        )
