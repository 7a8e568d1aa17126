"""The key change of the root CA kept in the home (regulation K2 applied to the root; RFC
9810 4.4, root CA key update), run by `root rollover` with the root's key at hand, the
server up or down. No duty can do it: the server never holds the root's key, so /healthz
warns and `ca_root_key_usage_remaining_seconds` shows when it is due (server/node/
health.py, server/hierarchy/root_publication.py).

1. A new key in the root's backend and, for it, the certificates of a root key update
   (protocols/x509/ca_key_update.py, as server/generations/rollover.py makes them for a
   self-signed issuing CA): NewWithNew (the new self-signed root certificate: the same
   subject, the content `create_root` gives a root, valid `root.validity_days` from now),
   NewWithOld (the new key signed by the old: relying parties that trust only the old
   root reach the new one) and OldWithNew (the old key signed by the new: relying parties
   that trust only the new root validate what the old key signed). Each is checked
   against its issuer's certificate once signed.
2. The new root's first CRL, numbered after every root's (one issuer name, one cRLNumber
   sequence; RFC 5280 5.2.3).
3. One transaction records the new root (`<root.name>-<key id hex>`, succeeding the old),
   its CRL, the links and the audit entry `ca.root.rollover` {from, to, reason, ...}; it is
   refused when the old root was succeeded meanwhile, and the new key is then destroyed.

From then on the new root certifies the issuing CA's next generations (`rollover`,
`compromise`); the old root keeps signing its own CRL (`root crl` signs one for every live
root) until its certificate ends (K3). The issuing CA's current generation, certified by
the old root, is unchanged: roll it over (`rollover`) to have it certified by the new root.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef, SigningBackend
from protocols.x509 import extensions as ext
from protocols.x509.ca_key_update import KeyUpdateCertificate, key_update_template
from protocols.x509.certificate import CertificateTemplate
from server.errors import CAError, ErrorKind
from server.hierarchy import offline_root
from server.hierarchy.root_succession import later_root_name, newest_root
from server.registry import AuditEvent
from server.registry.interfaces import RootRecords
from server.registry.records import RootCA, RootCRL, RootLink
from server.serials import new_serial, serial_text

EXPIRED = (
    "the newest root CA {root!r}'s certificate ended {end:%Y-%m-%d %H:%M} UTC: it can "
    "certify no new key (RFC 9810 4.4 needs the old root valid); nothing was made"
)


@dataclass(frozen=True)
class RootRolledOver:
    old: RootCA
    new: RootCA
    new_with_old: RootLink
    old_with_new: RootLink
    crl: RootCRL


async def roll_over_root(
    settings: Settings,
    records: RootRecords,
    backend: SigningBackend,
    now: datetime,
    actor: str,
    reason: str,
) -> RootRolledOver:
    """Roll the home's newest root over to a new key (see the module). `backend` is the
    root's, opened. Raises CAError(NOT_FOUND) when the registry holds no root,
    CAError(REJECTED) when the newest root's certificate has ended, or another rollover
    of it was recorded first; nothing is recorded then."""
    old = await newest_root(records, settings.root.name)
    if not now < old.not_after:
        raise CAError(ErrorKind.REJECTED, EXPIRED.format(root=old.name, end=old.not_after))
    algorithm = KeyAlgorithm(settings.root.algorithm or settings.ca.algorithm)
    key = backend.generate_key(f"{settings.root.name}-root-{secrets.token_hex(4)}", algorithm)
    try:
        return await _roll_over(settings, records, backend, old, key, now, actor, reason)
    except BaseException:
        backend.destroy_key(key)  # nothing recorded: the key certifies nothing
        raise


async def _roll_over(
    settings: Settings,
    records: RootRecords,
    backend: SigningBackend,
    old: RootCA,
    key: KeyRef,
    now: datetime,
    actor: str,
    reason: str,
) -> RootRolledOver:
    new_spki = backend.public_key_der(key)
    not_after = now + timedelta(days=settings.root.validity_days)
    content = offline_root.root_certificate_extensions(settings, new_spki)

    def template(kind: KeyUpdateCertificate) -> CertificateTemplate:
        return key_update_template(kind, old.certificate_der, new_spki, new_serial(), now,
                                   not_after, None, content)  # fmt: skip

    old_key = KeyRef(old.key_uri, KeyAlgorithm(old.key_algorithm))
    new_with_new_template = template(KeyUpdateCertificate.NEW_WITH_NEW)
    new_with_new = offline_root.sign_certificate(backend, key, new_with_new_template, None)
    new_with_old_template = template(KeyUpdateCertificate.NEW_WITH_OLD)
    new_with_old = offline_root.sign_certificate(
        backend, old_key, new_with_old_template, old.certificate_der
    )
    old_with_new_template = template(KeyUpdateCertificate.OLD_WITH_NEW)
    old_with_new = offline_root.sign_certificate(backend, key, old_with_new_template, new_with_new)
    key_id = ext.key_identifier(new_spki)
    new = RootCA(
        name=later_root_name(settings.root.name, key_id),
        key_id=key_id,
        key_uri=key.uri,
        key_algorithm=key.algorithm.value,
        certificate_der=new_with_new,
        not_after=not_after,
        succeeds=old.name,
    )
    crl = await offline_root.next_crl(settings, records, backend, new, now, [])
    links = (
        _link(new_with_old_template, new_with_old, KeyUpdateCertificate.NEW_WITH_OLD,
              old.name, new.name),
        _link(old_with_new_template, old_with_new, KeyUpdateCertificate.OLD_WITH_NEW,
              new.name, old.name),
    )  # fmt: skip
    audit = AuditEvent(
        actor=actor,
        action="ca.root.rollover",
        target=serial_text(new_with_new_template.serial),
        details={"from": old.name, "to": new.name, "reason": reason,
                 "algorithm": key.algorithm.value, "new_with_old": links[0].serial,
                 "old_with_new": links[1].serial, "crl_number": crl.number},
    )  # fmt: skip
    await records.record_root_rollover(new, crl, links, audit, now)
    return RootRolledOver(old, new, links[0], links[1], crl)


def _link(
    template: CertificateTemplate, der: bytes, kind: KeyUpdateCertificate, issuer: str,
    subject: str,
) -> RootLink:  # fmt: skip
    return RootLink(serial=serial_text(template.serial), kind=kind.value, issuer_root=issuer,
                    subject_root=subject, not_before=template.not_before,
                    not_after=template.not_after, der=der)  # fmt: skip
