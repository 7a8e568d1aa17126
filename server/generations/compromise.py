"""Compromise of a generation's key (regulation K4), `compromise`: a new generation at once,
made as a rollover makes it but without link certificates (a compromised key must not
vouch for the new one, nor the new key for a key anyone may hold); one transaction records
it, makes the compromised generation 'compromised' and lists its CA certificate and every
link certificate involving its key, reason cACompromise (RFC 5280 5.3.1), in the new
generation's CRLs (`record_compromise`). Then the certificates issued under the key are
revoked or marked (server/status/compromised_certificates.py). The compromised generation
goes on publishing its own CRLs and OCSP answers, signed by its own key and responder:
they are what relying parties who still trust that key read, and they list its
certificates revoked; the proof that the key itself is revoked is the new key's CRL. A CA
under a parent outside is refused here (SUBORDINATE_COMPROMISE): its compromise is the
parent's to certify and revoke, server/generations/subordinate_compromise.py.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from config import Settings
from hsm.backend import KeyAlgorithm, SigningBackend
from protocols import crl as crl_codec
from protocols.crl import CRLReason
from protocols.x509 import extensions as ext
from protocols.x509.ca_key_update import KeyUpdateCertificate, key_update_template
from server.authority import Authority
from server.cmp.identity import issue_cmp_identity
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import LifecycleRegistry, ca_certificate_extensions
from server.generations.responder import OCSP_RESPONDER_PROFILE
from server.generations.rollover import intent_of, sign_checked, signed_responder
from server.registry import (
    CAGeneration,
    Rollover,
    interfaces,
)
from server.registry.records import COMPROMISE_REFUSED
from server.serials import new_serial, serial_text
from server.status.compromised_certificates import CertificatesRevoked, revoke_certificates_of
from server.status.revocation import StatusPublisher

log = logging.getLogger(__name__)


COMPROMISE_NEEDS_GROUNDS = "a CA key compromise needs its grounds (K4)"


class CompromiseRegistry(LifecycleRegistry, interfaces.BulkRevocation, Protocol):
    """The registry as the compromise procedure uses it."""


@dataclass(frozen=True)
class Compromised:
    old: CAGeneration
    new: CAGeneration
    revoked: tuple[str, ...]  # the CA's own certificates listed in the new CRLs
    responder_serial: str
    cmp_serial: str
    certificates: CertificatesRevoked


def checked_grounds(grounds: str) -> str:
    """A compromise's grounds, stripped; CAError(MALFORMED) when empty or too long."""
    grounds = grounds.strip()
    if not grounds:
        raise CAError(ErrorKind.MALFORMED, COMPROMISE_NEEDS_GROUNDS)
    if len(grounds) > 1000:
        raise CAError(ErrorKind.MALFORMED, "grounds: at most 1000 characters")
    return grounds


def compromised_generation(
    ca_name: str, generations: Sequence[CAGeneration], generation: int
) -> CAGeneration:
    """Generation `generation` of the CA, to be declared compromised: CAError(NOT_FOUND)
    for an unknown one, CAError(REJECTED) for one not active (retired, compromised)."""
    old = next((g for g in generations if g.id == generation), None)
    if old is None:
        raise CAError(ErrorKind.NOT_FOUND, f"no generation {generation} of CA {ca_name!r}")
    if old.state != "active":
        message = COMPROMISE_REFUSED.format(generation=generation, ca=ca_name, state=old.state)
        raise CAError(ErrorKind.REJECTED, message)
    return old


async def compromise(
    settings: Settings,
    registry: CompromiseRegistry,
    backend: SigningBackend,
    authority: Authority,
    publisher: StatusPublisher,
    now: datetime,
    secret: str,
    actor: str,
    generation: int,
    grounds: str,
) -> Compromised:
    """Declare generation `generation`'s key compromised (see the module: "Compromise");
    `secret` is the home's secret, for the CMP protection key file. Returns once every live
    process answers the revoked certificates revoked. Raises CAError(MALFORMED) without
    grounds, CAError(NOT_FOUND) for an unknown generation, CAError(REJECTED) for one not
    active (retired, compromised already) or when the issuing generation's CA certificate,
    the new one's model, is not valid now; nothing changed."""
    ca = settings.ca
    grounds = checked_grounds(grounds)
    generations = await registry.generations(ca.name)
    old = compromised_generation(ca.name, generations, generation)
    if old.parent_chain:  # a self-signed successor would make a CA under a parent a root
        refusal = ROOT_IN_HOME_COMPROMISE if settings.root.name else SUBORDINATE_COMPROMISE
        raise CAError(ErrorKind.REJECTED, refusal.format(generation=generation))
    # The new CA certificate is the issuing generation's (the newest active one) with the new
    # key and the content the current settings give a CA certificate, as a rollover's NewWithNew.
    issuing = [g for g in generations if g.state == "active"][-1]
    if not issuing.not_before <= now < issuing.not_after:
        message = f"generation {issuing.id}'s CA certificate is not valid now"
        raise CAError(ErrorKind.REJECTED, message)
    suffix = f"g{len(generations) + 1}-{secrets.token_hex(4)}"
    algorithm = KeyAlgorithm(ca.algorithm)
    key = backend.generate_key(f"{ca.name}-ca-{suffix}", algorithm)
    new_spki = backend.public_key_der(key)
    not_after = now + timedelta(days=ca.validity_days)
    usage_end = now + timedelta(days=ca.key_usage_days) if ca.key_usage_days else None
    template = key_update_template(KeyUpdateCertificate.NEW_WITH_NEW, issuing.certificate_der,
                                   new_spki, new_serial(), now, not_after, usage_end,
                                   ca_certificate_extensions(settings, new_spki))  # fmt: skip
    new_with_new = await sign_checked(authority, key, template, None)
    new = CAGeneration(id=0, ca_name=ca.name, key_uri=key.uri, key_algorithm=algorithm.value,
                       serial=serial_text(template.serial), key_id=ext.key_identifier(new_spki),
                       not_before=now, not_after=not_after, state="active",
                       certificate_der=new_with_new.der, first=False)  # fmt: skip
    responder_key = backend.generate_key(f"{ca.name}-ocsp-{suffix}", algorithm)
    responder = await signed_responder(settings, authority, backend, new, responder_key, now)
    involved = [link.serial for link in await registry.links(ca.name)
                if old.id in (link.issuer_generation_id, link.subject_generation_id)]  # fmt: skip
    revoked = [
        (serial, crl_codec.revoked_entry(int(serial, 16), now, int(CRLReason.cACompromise)))
        for serial in (old.serial, *involved)
    ]
    record = Rollover(ca_name=ca.name, rolled_from=old.id, key_uri=key.uri,
                      key_algorithm=algorithm.value, key_id=new.key_id,
                      certificate=intent_of(new_with_new, "ca", None),
                      certificate_der=new_with_new.der,
                      responder=intent_of(responder, OCSP_RESPONDER_PROFILE, 0),
                      responder_der=responder.der, responder_key_uri=responder_key.uri,
                      links=(), actor=actor, reason=grounds)  # fmt: skip
    mode = ca.compromise_certificates
    try:
        new_id = await registry.record_compromise(record, revoked, mode, now)
    except CAError:
        log.warning("compromise not recorded; keys made for it left in the backend: %s, %s",
                    key.uri, responder_key.uri)  # fmt: skip
        raise
    recorded = next(g for g in await registry.generations(ca.name) if g.id == new_id)
    cmp_serial = await issue_cmp_identity(settings, authority, recorded, now, secret, actor)
    certificates = await revoke_certificates_of(
        registry, publisher, old.id, mode, now, actor, grounds
    )
    return Compromised(
        old=old,
        new=recorded,
        revoked=tuple(serial for serial, _ in revoked),
        responder_serial=record.responder.serial,
        cmp_serial=cmp_serial,
        certificates=certificates,
    )


SUBORDINATE_COMPROMISE = (
    "generation {generation} was certified by a parent CA outside: its compromise hands the "
    "parent a request for a new key and a revocation request, files only the command line "
    "writes: run `python -m server compromise --home HOME --generation {generation} --grounds "
    "TEXT --csr FILE --revocation-request FILE`; nothing was changed"
)
ROOT_IN_HOME_COMPROMISE = (
    "generation {generation} was certified by the root CA kept in this home, which is offline: "
    "declare its compromise with `python -m server compromise` with the root's key at hand; "
    "nothing was changed"
)
