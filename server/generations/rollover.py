"""The rollover of a self-signed CA (regulation K2), with the link certificates of a root
CA key update (RFC 9810 4.4), made while the CA goes on working:
1. everything is made and signed first, nothing recorded: the new key (in the home's
   backend, as `init` makes the first), NewWithNew (same subject as the current CA
   certificate, new key, the extensions the current settings give a new CA certificate as
   at `init`, valid `ca.validity_days` from now), NewWithOld (the same content, signed by
   the old key), OldWithNew (what the current certificate certifies, signed by the new
   key) (protocols/x509/ca_key_update.py),
   and the new generation's OCSP responder key and certificate. Each certificate is
   checked against its issuer's certificate after signing (verify-after-sign);
2. one registry transaction records all of it with the audit entry
   `ca.generation.rollover` {from, to, reason}, only if the generation rolled from is still
   the active one (`record_rollover`). A rollover that lost that race is refused and
   records nothing; the keys it made stay in the backend (nothing destroys a key yet) and
   are named in a warning;
3. the CMP protection certificate of the new generation is issued (server/cmp/identity.py).
From the commit on, issuance uses the new generation (Authority.generation reads the
active one at each issuance); the old one stays live: its certificates keep its CRLs and
OCSP responder. Running server processes learn the new generation as
OCSPResponder.reload_issuers says (server/status/ocsp_responder.py).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef, SigningBackend
from protocols.x509 import csr as csr_codec
from protocols.x509 import extensions as ext
from protocols.x509 import names
from protocols.x509.ca_key_update import KeyUpdateCertificate, key_update_template
from protocols.x509.certificate import (
    CertificateTemplate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from protocols.x509.signed_by import directly_issued_by
from server.authority import Authority
from server.cmp.identity import issue_cmp_identity
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import LifecycleRegistry, ca_certificate_extensions
from server.generations.responder import OCSP_RESPONDER_PROFILE, ocsp_responder_certificate
from server.registry import (
    CAGeneration,
    CALink,
    CertificateIntent,
    Rollover,
)
from server.serials import new_serial, serial_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolledOver:
    old: CAGeneration
    new: CAGeneration
    new_with_old: CALink
    old_with_new: CALink
    responder_serial: str
    cmp_serial: str


@dataclass(frozen=True)
class SignedCertificate:
    template: CertificateTemplate
    tbs: bytes
    der: bytes


async def rollover(
    settings: Settings,
    registry: LifecycleRegistry,
    backend: SigningBackend,
    authority: Authority,
    now: datetime,
    secret: str,
    actor: str,
    reason: str,
    rolled_from: int | None = None,
) -> RolledOver:
    """Roll the CA over to a new key (see the module: "Rollover"); `secret` is the home's
    secret, for the CMP protection key file. With `rolled_from`, only from that generation
    (the scheduled duty: a generation is never rolled over twice). Raises
    CAError(UNAVAILABLE) when the CA has no active generation, CAError(REJECTED) when the
    active one is not `rolled_from` or not valid now, or another rollover came first
    (nothing recorded)."""
    ca = settings.ca
    old = await registry.active_generation(ca.name)
    if old is None:
        raise CAError(ErrorKind.UNAVAILABLE, "the CA has no active key (run init)")
    if rolled_from is not None and old.id != rolled_from:
        raise CAError(ErrorKind.REJECTED, f"generation {rolled_from} is no longer the active "
                                          f"one (generation {old.id} is)")  # fmt: skip
    if not old.not_before <= now < old.not_after:
        raise CAError(ErrorKind.REJECTED, f"generation {old.id}'s CA certificate is not valid now")
    if old.parent_chain:  # server/generations/subordinate_rollover.py rolls such a CA over
        raise CAError(ErrorKind.REJECTED, SUBORDINATE_ROLLOVER.format(generation=old.id))
    number = len(await registry.generations(ca.name)) + 1
    suffix = f"g{number}-{secrets.token_hex(4)}"  # racing rollovers each make their keys
    algorithm = KeyAlgorithm(ca.algorithm)
    key = backend.generate_key(f"{ca.name}-ca-{suffix}", algorithm)
    old_key = KeyRef(old.key_uri, KeyAlgorithm(old.key_algorithm))
    new_spki = backend.public_key_der(key)
    not_after = now + timedelta(days=ca.validity_days)

    usage_end = now + timedelta(days=ca.key_usage_days) if ca.key_usage_days else None
    content = ca_certificate_extensions(settings, new_spki)

    def template(kind: KeyUpdateCertificate) -> CertificateTemplate:
        return key_update_template(kind, old.certificate_der, new_spki, new_serial(), now,
                                   not_after, usage_end, content)  # fmt: skip

    new_with_new = await sign_checked(
        authority, key, template(KeyUpdateCertificate.NEW_WITH_NEW), None
    )
    new_with_old = await sign_checked(
        authority, old_key, template(KeyUpdateCertificate.NEW_WITH_OLD), old.certificate_der
    )
    old_with_new = await sign_checked(
        authority, key, template(KeyUpdateCertificate.OLD_WITH_NEW), new_with_new.der
    )
    new = CAGeneration(
        id=0,  # known once recorded
        ca_name=ca.name,
        key_uri=key.uri,
        key_algorithm=algorithm.value,
        serial=serial_text(new_with_new.template.serial),
        key_id=ext.key_identifier(new_spki),
        not_before=now,
        not_after=not_after,
        state="active",
        certificate_der=new_with_new.der,
        first=False,
    )
    responder_key = backend.generate_key(f"{ca.name}-ocsp-{suffix}", algorithm)
    responder = await signed_responder(settings, authority, backend, new, responder_key, now)
    links = (
        _link(new_with_old, KeyUpdateCertificate.NEW_WITH_OLD, old.id, 0),
        _link(old_with_new, KeyUpdateCertificate.OLD_WITH_NEW, 0, old.id),
    )
    record = Rollover(
        ca_name=ca.name,
        rolled_from=old.id,
        key_uri=key.uri,
        key_algorithm=algorithm.value,
        key_id=new.key_id,
        certificate=intent_of(new_with_new, "ca", None),
        certificate_der=new_with_new.der,
        responder=intent_of(responder, OCSP_RESPONDER_PROFILE, 0),
        responder_der=responder.der,
        responder_key_uri=responder_key.uri,
        links=links,
        actor=actor,
        reason=reason,
    )
    try:
        new_id = await registry.record_rollover(record, now)
    except CAError:
        log.warning("rollover not recorded; keys made for it left in the backend: %s, %s",
                    key.uri, responder_key.uri)  # fmt: skip
        raise
    recorded = next(g for g in await registry.generations(ca.name) if g.id == new_id)
    cmp_serial = await issue_cmp_identity(settings, authority, recorded, now, secret, actor)
    return RolledOver(
        old=old,
        new=recorded,
        new_with_old=_recorded(links[0], new_id),
        old_with_new=_recorded(links[1], new_id),
        responder_serial=record.responder.serial,
        cmp_serial=cmp_serial,
    )


async def sign_checked(
    authority: Authority, key: KeyRef, template: CertificateTemplate, issuer_der: bytes | None
) -> SignedCertificate:
    """Sign `template` with `key` and check the certificate against its issuer's
    certificate `issuer_der` (None: itself, self-signed). Raises CAError(INTERNAL)."""
    tbs = build_tbs_certificate(template)
    der = await authority.sign_tbs(key, tbs, template.signature_algorithm)
    certificate = x509.load_der_x509_certificate(der)
    issuer = x509.load_der_x509_certificate(issuer_der) if issuer_der else certificate
    if not directly_issued_by(certificate, issuer):
        raise CAError(ErrorKind.INTERNAL, "a certificate signed does not verify")
    return SignedCertificate(template, tbs, der)


async def signed_responder(
    settings: Settings,
    authority: Authority,
    backend: SigningBackend,
    generation: CAGeneration,
    key: KeyRef,
    now: datetime,
) -> SignedCertificate:
    """A new generation's OCSP responder certificate for `key` (RFC 6960 4.2.2.2), signed by
    the generation's key and checked against its CA certificate, as issue_ocsp_responder
    issues one but for the registry to record with the generation (a rollover, a
    compromise, a parent's certificate imported)."""
    spki_der = backend.public_key_der(key)
    parts = ocsp_responder_certificate(settings, generation, spki_der, now)
    ca_certificate = asn1_x509.Certificate.load(generation.certificate_der)
    template = CertificateTemplate(
        serial=new_serial(),
        issuer=ca_certificate.subject,
        subject=names.build_name(parts.subject),
        spki_der=spki_der,
        not_before=now,
        not_after=parts.not_after,
        extensions=parts.extensions,
        signature_algorithm=signature_algorithm_for(ca_certificate.public_key.dump()),
    )
    ca_key = KeyRef(generation.key_uri, KeyAlgorithm(generation.key_algorithm))
    return await sign_checked(authority, ca_key, template, generation.certificate_der)


def intent_of(
    signed: SignedCertificate, profile: str, generation_id: int | None
) -> CertificateIntent:
    """A certificate signed here as the registry records its intent."""
    template = signed.template
    subject = names.attributes_of(template.subject.dump())
    return CertificateIntent(
        serial=serial_text(template.serial),
        generation_id=generation_id,
        profile=profile,
        subject=names.format_dn(subject),
        spki_sha256=csr_codec.spki_sha256(template.spki_der),
        not_before=template.not_before,
        not_after=template.not_after,
        tbs=signed.tbs,
    )


def _link(
    signed: SignedCertificate, kind: KeyUpdateCertificate, issuer: int, subject: int
) -> CALink:
    """A link as recorded: generation 0 is the new one."""
    template = signed.template
    return CALink(serial=serial_text(template.serial), kind=kind.value,
                  issuer_generation_id=issuer, subject_generation_id=subject,
                  not_before=template.not_before, not_after=template.not_after,
                  der=signed.der)  # fmt: skip


def _recorded(link: CALink, new_id: int) -> CALink:
    return dataclasses.replace(
        link,
        issuer_generation_id=link.issuer_generation_id or new_id,
        subject_generation_id=link.subject_generation_id or new_id,
    )


SUBORDINATE_ROLLOVER = (
    "generation {generation} was certified by a parent CA outside: its rollover is a new key "
    "and a request to the parent (rollover --csr FILE, then import-ca-cert), not a "
    "self-signed certificate; nothing was made"
)
