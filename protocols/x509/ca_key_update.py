"""The certificates of a root CA key update (RFC 9810 4.4, "Root CA Key Update").

A self-signed CA that changes its key pair publishes, beside the old self-signed
certificate (OldWithOld), three more:

- NewWithNew: the new public key signed by the new private key, the new self-signed
  certificate. Valid from the update on (its notBefore before OldWithOld's notAfter);
- NewWithOld: the new public key signed by the old private key. A relying party that
  trusts only the old root reaches the new one through it. Valid from NewWithNew's
  notBefore until every relying party holds the new key, at the latest OldWithOld's
  notAfter (here: exactly then, or NewWithNew's end if that is sooner);
- OldWithNew: the old public key signed by the new private key. A relying party that
  trusts only the new root validates what the old key signed through it. Valid exactly
  as long as OldWithOld.

All four have the CA's one name as issuer and subject, so the links are self-issued but
not self-signed (RFC 5280 6.1: a chain tells them apart by keys). Each carries the
extensions of OldWithOld in their order, its subjectKeyIdentifier replaced by that of the
key it certifies and its authorityKeyIdentifier by that of the key that signs it (4.2.1.1,
4.2.1.2): a chain is then built by key identifier, as the CA's certificates name their
issuer's key by keyIdentifier only. OldWithOld's privateKeyUsagePeriod (the old key's
permitted lifetime) stays in OldWithNew, which certifies the old key; NewWithNew and
NewWithOld certify the new key and carry the new key's period instead, when one is given.
When the CA's certificate content has changed since OldWithOld (its settings), the caller
gives the new key's extensions: NewWithNew and NewWithOld carry those instead of
OldWithOld's (key identifiers replaced as above), and OldWithNew still certifies what
OldWithOld does.

Pure: the old certificate, the new key and the time in, a template out (build and sign it
with protocols.x509.certificate).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime

from asn1crypto import x509 as asn1_x509

from protocols.x509 import extensions as ext
from protocols.x509.certificate import CertificateTemplate, signature_algorithm_for

__all__ = ["KeyUpdateCertificate", "key_update_template"]


class KeyUpdateCertificate(enum.StrEnum):
    NEW_WITH_NEW = "new_with_new"
    NEW_WITH_OLD = "new_with_old"
    OLD_WITH_NEW = "old_with_new"


def key_update_template(
    kind: KeyUpdateCertificate,
    old_with_old_der: bytes,
    new_spki_der: bytes,
    serial: int,
    now: datetime,
    new_not_after: datetime,
    new_key_usage_end: datetime | None = None,
    new_key_extensions: Sequence[asn1_x509.Extension] | None = None,
) -> CertificateTemplate:
    """The template of one certificate of the key update from the self-signed CA
    certificate `old_with_old_der` to the key `new_spki_der`, made at `now`; NewWithNew
    ends at `new_not_after`; with `new_key_usage_end`, the new key's privateKeyUsagePeriod
    is `now` to then; with `new_key_extensions`, NewWithNew and NewWithOld carry those
    instead of OldWithOld's, privateKeyUsagePeriod aside. Raises ValueError when
    `old_with_old_der` is not a self-issued certificate, or `now` is not within its
    validity."""
    old = asn1_x509.Certificate.load(old_with_old_der)
    if old.subject != old.issuer:
        raise ValueError("the old CA certificate is not self-issued")
    old_not_before, old_not_after = old.not_valid_before, old.not_valid_after
    if not old_not_before <= now < old_not_after:
        raise ValueError("the old CA certificate is not valid now")
    old_spki_der = old.public_key.dump()
    old_key_id = old.key_identifier or ext.key_identifier(old_spki_der)
    new_key_id = ext.key_identifier(new_spki_der)
    usage = (
        None if new_key_usage_end is None else ext.private_key_usage_period(now, new_key_usage_end)
    )
    certifies_old = kind is KeyUpdateCertificate.OLD_WITH_NEW
    if kind is KeyUpdateCertificate.NEW_WITH_NEW:
        certified, signer_spki, not_before, not_after = (
            new_spki_der, new_spki_der, now, new_not_after
        )  # fmt: skip
        certified_id, signer_id = new_key_id, new_key_id
    elif kind is KeyUpdateCertificate.NEW_WITH_OLD:
        certified, signer_spki, not_before, not_after = (
            new_spki_der, old_spki_der, now, min(new_not_after, old_not_after)
        )  # fmt: skip
        certified_id, signer_id = new_key_id, old_key_id
    else:
        certified, signer_spki, not_before, not_after = (
            old_spki_der, new_spki_der, old_not_before, old_not_after
        )  # fmt: skip
        certified_id, signer_id = old_key_id, new_key_id
    return CertificateTemplate(
        serial=serial,
        issuer=old.subject,
        subject=old.subject,
        spki_der=certified,
        not_before=not_before,
        not_after=not_after,
        extensions=_extensions(
            old["tbs_certificate"]["extensions"]
            if certifies_old or new_key_extensions is None
            else new_key_extensions,
            certified_id,
            signer_id,
            not certifies_old,
            usage,
        ),
        signature_algorithm=signature_algorithm_for(signer_spki),
    )


def _extensions(
    source: Iterable[asn1_x509.Extension],
    certified_id: bytes,
    signer_id: bytes,
    certifies_new_key: bool,
    new_key_usage: asn1_x509.Extension | None,
) -> tuple[asn1_x509.Extension, ...]:
    """The `source` extensions (OldWithOld's, or the new key's given) in their order, with
    the key identifiers of this one; for a certificate of the new key, without a
    privateKeyUsagePeriod of theirs and with `new_key_usage` (if any) last."""
    kept: list[asn1_x509.Extension] = []
    for extension in source:
        name = extension["extn_id"].native
        if name == "key_identifier":
            kept.append(asn1_x509.Extension({"extn_id": name, "extn_value": certified_id}))
        elif name == "authority_key_identifier":
            kept.append(ext.authority_key_identifier(signer_id))
        elif name == "private_key_usage_period" and certifies_new_key:
            continue
        else:
            kept.append(extension)
    if certifies_new_key and new_key_usage is not None:
        kept.append(new_key_usage)
    return tuple(kept)
