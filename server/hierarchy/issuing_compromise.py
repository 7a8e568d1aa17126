"""The compromise of the issuing CA's key under the root kept in the home (regulation K4;
issue 15: "for a subordinate, reported to the parent"), declared by `compromise` with the
root's key at hand: here the parent is in the home, so it acts at once.

1. A new issuing CA key is made in the home's backend and the newest root certifies it
   (server/hierarchy/offline_root.py); its OCSP responder certificate is made as after any
   rollover (server/generations/subordinate_rollover.py `certified_generation`).
2. One transaction records the new generation (active, the root as its chain), makes the
   compromised generation 'compromised' and records the audit entry
   `ca.generation.compromise` (registry `record_compromise`, with nothing for the CA's own
   CRLs to list: the proof that the key is revoked is the root's CRL, not one the issuing
   CA signs). Then the new generation's CMP protection certificate.
3. The root that certified the compromised generation (the newest, or one before it after
   a root rollover) revokes its CA certificate (cACompromise, RFC 5280 5.3.1) and
   publishes its CRL that lists it, with the audit entry `ca.root.revoke`.
4. The certificates issued under the compromised key are revoked or marked per
   `ca.compromise_certificates`, as for a self-signed CA
   (server/status/compromised_certificates.py).
A pending request for the next generation (the scheduled duty's) is abandoned first: it
was made to roll over from a generation this compromise replaces.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Protocol

from cryptography import x509

from config import Settings
from hsm.backend import KeyAlgorithm, SigningBackend
from protocols.crl import CRLReason
from server.authority import Authority
from server.cmp.identity import issue_cmp_identity
from server.errors import CAError, ErrorKind
from server.generations.compromise import Compromised, checked_grounds, compromised_generation
from server.generations.subordinate_rollover import (
    SubordinateRolloverRegistry,
    abandon_next_request,
    certified_generation,
)
from server.hierarchy import offline_root
from server.hierarchy.root_succession import all_roots, certifying_root
from server.registry import interfaces
from server.status.compromised_certificates import revoke_certificates_of
from server.status.revocation import StatusPublisher

NOT_UNDER_ROOT = (
    "generation {generation} of CA {ca!r} was not certified by the home's root CA {root!r} "
    "or one before it: "
    "its compromise is for its own parent to act on; nothing was changed"
)


class IssuingCompromiseRegistry(
    SubordinateRolloverRegistry,
    interfaces.Roots,
    interfaces.GenerationRecording,
    interfaces.BulkRevocation,
    Protocol,
):
    """The registry as the compromise under the home's root uses it."""


async def compromise_under_root(
    settings: Settings,
    registry: IssuingCompromiseRegistry,
    backend: SigningBackend,
    root_backend: SigningBackend,
    authority: Authority,
    publisher: StatusPublisher,
    now: datetime,
    secret: str,
    actor: str,
    generation: int,
    grounds: str,
) -> Compromised:
    """Declare generation `generation`'s key compromised (see the module); `secret` is the
    home's secret, for the CMP protection key file. Raises CAError(MALFORMED) without
    grounds, CAError(NOT_FOUND) for an unknown generation or root, CAError(REJECTED) for a
    generation not active or not certified by the home's root; nothing changed then."""
    ca = settings.ca
    grounds = checked_grounds(grounds)
    roots = await all_roots(registry.roots, settings.root.name)
    root = roots[-1]  # the newest root certifies the new key
    generations = await registry.generations(ca.name)
    old = compromised_generation(ca.name, generations, generation)
    signer = certifying_root(roots, old.parent_chain)  # revokes it, in its own CRL (K3)
    if signer is None:
        message = NOT_UNDER_ROOT.format(generation=old.id, ca=ca.name, root=root.name)
        raise CAError(ErrorKind.REJECTED, message)
    if await registry.ca_requests.pending(ca.name) is not None:
        await abandon_next_request(settings, registry, backend, now, actor)
    algorithm = KeyAlgorithm(ca.algorithm)
    key = backend.generate_key(f"{ca.name}-ca-g{len(generations) + 1}-{secrets.token_hex(4)}",
                               algorithm)  # fmt: skip
    spki_der = backend.public_key_der(key)
    certificate_der = await offline_root.certify_issuing_ca(
        settings, registry.roots, root_backend, root, spki_der, now, actor
    )
    certificate = x509.load_der_x509_certificate(certificate_der)
    above = [x509.load_der_x509_certificate(root.certificate_der)]
    made = await certified_generation(
        settings, backend, authority, key, spki_der, certificate, above, len(generations),
        old.id, now, actor, grounds,
    )  # fmt: skip
    mode = ca.compromise_certificates
    try:
        new_id = await registry.record_compromise(made.record, (), mode, now)
    except CAError:  # another compromise or a retirement came first: nothing recorded
        for made_key in (key, made.responder_key):
            backend.destroy_key(made_key)
        raise
    recorded = next(g for g in await registry.generations(ca.name) if g.id == new_id)
    cmp_serial = await issue_cmp_identity(settings, authority, recorded, now, secret, actor)
    await offline_root.revoke(settings, registry.roots, root_backend, signer, old.serial,
                              CRLReason.cACompromise, now, actor, grounds)  # fmt: skip
    certificates = await revoke_certificates_of(
        registry, publisher, old.id, mode, now, actor, grounds
    )
    return Compromised(
        old=old,
        new=recorded,
        revoked=(old.serial,),
        responder_serial=made.record.responder.serial,
        cmp_serial=cmp_serial,
        certificates=certificates,
    )
