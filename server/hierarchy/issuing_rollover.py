"""The rollover of the issuing CA under the root kept in the home (regulation K2; issue 15,
Hierarchy), run by `rollover` with the root's key at hand.

It is the rollover of a CA under a parent (server/generations/subordinate_rollover.py) with the
parent in the home: the next key and its request are made (or the request already pending is
taken: the scheduled duty makes one when the rollover is due, since it cannot reach the
offline root), the newest of the home's roots (server/hierarchy/root_succession.py) checks
the request's signature (proof of possession, RFC 2986
4.2) and certifies its key (server/hierarchy/offline_root.py), and the certificate is
imported as the CA's next generation with the root as its chain. Issuance moves to it at
once; the old generation keeps its CRLs and OCSP (K3).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from config import Settings
from hsm.backend import SigningBackend
from protocols.x509.signed_by import signed_by
from protocols.x509.spki import request_spki
from server.authority import Authority
from server.errors import CAError, ErrorKind
from server.generations.subordinate_rollover import (
    ImportedGeneration,
    SubordinateRolloverRegistry,
    import_next_generation,
    request_next_generation,
)
from server.hierarchy import offline_root
from server.hierarchy.root_succession import all_roots, certifying_root
from server.registry import interfaces

NOT_UNDER_ROOT = (
    "generation {generation} of CA {ca!r} was not certified by the home's root CA {root!r} "
    "or one before it: "
    "it rolls over by a request to its own parent (rollover --csr); nothing was made"
)


class IssuingRolloverRegistry(SubordinateRolloverRegistry, interfaces.Roots, Protocol):
    """The registry as the rollover under the home's root uses it."""


async def rollover_under_root(
    settings: Settings,
    registry: IssuingRolloverRegistry,
    backend: SigningBackend,
    root_backend: SigningBackend,
    authority: Authority,
    now: datetime,
    secret: str,
    actor: str,
    reason: str,
) -> ImportedGeneration:
    """Roll the issuing CA over under the home's root (see the module); `secret` is the
    home's secret, for the CMP protection key file. Raises CAError(NOT_FOUND) when the
    registry holds no such root, CAError(REJECTED) when the active generation is not the
    root's (NOT_UNDER_ROOT) or the pending request's signature does not verify, or as the
    request and the import refuse; what was refused changed nothing. The active
    generation may be under any of the home's roots; the newest certifies the next."""
    ca = settings.ca
    roots = await all_roots(registry.roots, settings.root.name)
    root = roots[-1]  # the newest root certifies the next generation
    current = await registry.active_generation(ca.name)
    if current is not None and certifying_root(roots, current.parent_chain) is None:
        message = NOT_UNDER_ROOT.format(generation=current.id, ca=ca.name, root=root.name)
        raise CAError(ErrorKind.REJECTED, message)
    pending = await registry.ca_requests.pending(ca.name)
    if pending is not None:
        csr_der = pending.csr_der
    else:
        made = await request_next_generation(settings, registry, backend, now, actor, reason)
        csr_der = made.csr_der
    spki_der = request_spki(csr_der)
    if not signed_by(csr_der, spki_der):  # the request is ours, but the root checks anyway
        raise CAError(ErrorKind.REJECTED, "the pending request's signature does not verify")
    certificate = await offline_root.certify_issuing_ca(
        settings, registry.roots, root_backend, root, spki_der, now, actor
    )
    return await import_next_generation(
        settings, registry, backend, authority, certificate, [root.certificate_der], now,
        secret, actor,
    )  # fmt: skip
