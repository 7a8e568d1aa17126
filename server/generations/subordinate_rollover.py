"""The rollover of an issuing CA whose parent is outside (regulation K2 for a subordinate;
issue 15: "for a subordinate, a new CSR to the parent").

A self-signed CA rolls over by itself (server/generations/rollover.py); a CA that a parent
outside certified cannot, since only the parent can certify its new key. So its rollover
has two halves, which may be days apart and run on different nodes of a cluster:

1. `request_next_generation`: a new CA key in the home's backend and a PKCS#10 request for
   it, made as `init --csr` makes generation 1's (parent.ca_request_for): the current
   generation's subject, the extensions the current settings give a CA certificate but the
   issuer's own (authorityKeyIdentifier, issuerSignTool). The request is recorded pending
   in the registry (migration 0023) with the audit entry `ca.generation.request`, so that
   any node can import the answer; a CA has at most one pending request.
2. `import_next_generation`: the parent's certificate for that key and its chain, checked
   as `import-ca-cert` checks generation 1's (protocols/x509/parent_chain.py); the new
   generation's OCSP responder key and certificate made (signed by the new key and checked
   against the new CA certificate); then one transaction records the generation with its
   parent chain and responder, the request 'imported', and the audit entry
   `ca.generation.rollover` with the request's reason. Then the new generation's CMP
   protection certificate (server/cmp/identity.py), as after a self-signed rollover.

From the import on, issuance uses the new generation (Authority reads the active one at
each issuance); the old one stays live, with its own CRLs and OCSP responder, until it
retires (K3), exactly as after a self-signed rollover. There are no link certificates: a
relying party reaches both generations through the parent's chain.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import Settings
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend
from protocols.x509 import parent_chain
from server.authority import Authority
from server.cmp.identity import issue_cmp_identity
from server.errors import CAError, ErrorKind
from server.generations.parent import (
    ca_request_for,
    parent_certificate_intent,
    parent_key_identifier,
)
from server.generations.responder import OCSP_RESPONDER_PROFILE
from server.generations.rollover import intent_of, signed_responder
from server.registry import CAGeneration, GenerationRequest, Rollover, interfaces
from server.registry.records import REQUEST_PENDING
from server.serials import serial_text

log = logging.getLogger(__name__)

SELF_SIGNED = (
    "generation {generation} of CA {ca!r} is self-signed: it rolls over to a new self-signed "
    "certificate with link certificates (rollover without --csr), not by a request to a "
    "parent; nothing was made"
)
NO_PENDING_REQUEST = (
    "CA {ca!r} has no pending request for a new generation (rollover --csr FILE makes one); "
    "nothing was changed"
)


class SubordinateRolloverRegistry(interfaces.Generations, interfaces.GenerationRequests, Protocol):
    """The registry as the rollover of a CA under a parent outside uses it."""


@dataclass(frozen=True)
class NextRequest:
    """A pending request for the CA's next generation: its id in the registry, the new
    key and the PKCS#10 request (DER) for the parent to certify."""

    id: int
    key: KeyRef
    csr_der: bytes


@dataclass(frozen=True)
class ImportedGeneration:
    request_id: int
    old: CAGeneration
    new: CAGeneration
    responder_serial: str
    cmp_serial: str


async def request_next_generation(
    settings: Settings,
    registry: SubordinateRolloverRegistry,
    backend: SigningBackend,
    now: datetime,
    actor: str,
    reason: str,
    rolled_from: int | None = None,
) -> NextRequest:
    """Make the CA's next key and the request for it, and record the request pending (see
    the module, 1.); with `rolled_from`, only for that generation (the scheduled duty).
    With no active generation (a CA waiting for its parent after a compromise whose request
    was abandoned), from its newest one. Raises CAError(UNAVAILABLE) when the CA has no
    generation, CAError(REJECTED)
    when the active one is not `rolled_from`, is self-signed (SELF_SIGNED) or a request is
    pending already (REQUEST_PENDING); nothing recorded then, and no key left made."""
    ca = settings.ca
    current = await registry.active_generation(ca.name)
    if current is None:  # after a compromise, its request abandoned: made from the newest
        generations = await registry.generations(ca.name)
        if not generations:
            raise CAError(ErrorKind.UNAVAILABLE, "the CA has no active key (run init)")
        current = generations[-1]  # (subordinate_compromise.py, its import's rule)
    if rolled_from is not None and current.id != rolled_from:
        raise CAError(ErrorKind.REJECTED, f"generation {rolled_from} is no longer the active "
                                          f"one (generation {current.id} is)")  # fmt: skip
    if not current.parent_chain:
        raise CAError(ErrorKind.REJECTED, SELF_SIGNED.format(generation=current.id, ca=ca.name))
    if await registry.ca_requests.pending(ca.name) is not None:
        raise CAError(ErrorKind.REJECTED, REQUEST_PENDING.format(ca=ca.name))
    number = len(await registry.generations(ca.name)) + 1
    key, csr_der = next_key_request(settings, backend, number, current)
    request = GenerationRequest(id=0, ca_name=ca.name, rolled_from=current.id, key_uri=key.uri,
                                key_algorithm=key.algorithm.value, csr_der=csr_der,
                                created_at=now, actor=actor, reason=reason,
                                state="pending")  # fmt: skip
    try:
        request_id = await registry.ca_requests.add(request, now)
    except CAError:  # refused: nothing recorded (another request came first)
        destroy_unused_key(backend, key)
        raise
    return NextRequest(request_id, key, csr_der)


def next_key_request(
    settings: Settings, backend: SigningBackend, number: int, current: CAGeneration
) -> tuple[KeyRef, bytes]:
    """A new CA key for generation `number` in the home's backend and its PKCS#10 request
    (DER) with `current`'s subject (see the module, 1.); nothing recorded. The key is
    destroyed again if the request cannot be made. Shared with the compromise of such a CA
    (server/generations/subordinate_compromise.py)."""
    ca = settings.ca
    # racing requests (an operator's and the duty's) each make a key of their own
    key = backend.generate_key(f"{ca.name}-ca-g{number}-{secrets.token_hex(4)}",
                               KeyAlgorithm(ca.algorithm))  # fmt: skip
    subject = asn1_x509.Certificate.load(current.certificate_der).subject
    try:
        return key, ca_request_for(settings, backend, key, subject)
    except BaseException:
        destroy_unused_key(backend, key)
        raise


async def abandon_next_request(
    settings: Settings,
    registry: SubordinateRolloverRegistry,
    backend: SigningBackend,
    now: datetime,
    actor: str,
) -> GenerationRequest:
    """Give up the CA's pending request (the parent refused it, or it is to be made again):
    recorded 'abandoned' with the audit entry `ca.generation.request.abandon`, then its key
    destroyed in the backend (a failure to is logged: the request stays abandoned). Returns
    the request. Raises CAError(REJECTED) when none is pending (NO_PENDING_REQUEST)."""
    request = await registry.ca_requests.pending(settings.ca.name)
    if request is None:
        raise CAError(ErrorKind.REJECTED, NO_PENDING_REQUEST.format(ca=settings.ca.name))
    await registry.ca_requests.abandon(request, actor, now)
    destroy_unused_key(backend, KeyRef(request.key_uri, KeyAlgorithm(request.key_algorithm)))
    return request


async def import_next_generation(
    settings: Settings,
    registry: SubordinateRolloverRegistry,
    backend: SigningBackend,
    authority: Authority,
    certificate_der: bytes,
    chain_ders: Sequence[bytes],
    now: datetime,
    secret: str,
    actor: str,
) -> ImportedGeneration:
    """Make the parent's certificate `certificate_der` for the pending request's key, with
    the parent's chain `chain_ders`, the CA's next generation (see the module, 2.);
    `secret` is the home's secret, for the CMP protection key file. Raises CAError(REJECTED)
    when no request is pending (NO_PENDING_REQUEST), when the certificate does not certify
    its key as a CA or does not chain up to a self-signed root in `chain_ders`, or when
    another import or rollover came first; nothing recorded then."""
    ca = settings.ca
    request = await registry.ca_requests.pending(ca.name)
    if request is None:
        raise CAError(ErrorKind.REJECTED, NO_PENDING_REQUEST.format(ca=ca.name))
    key = KeyRef(request.key_uri, KeyAlgorithm(request.key_algorithm))
    spki_der = backend.public_key_der(key)
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        chain = [x509.load_der_x509_certificate(der) for der in chain_ders]
        above = parent_chain.check_certificate(certificate, chain, spki_der, now)
    except ValueError as exc:  # ChainRefused among them
        raise CAError(ErrorKind.REJECTED, str(exc)) from None
    generations = await registry.generations(ca.name)
    old = next(g for g in generations if g.id == request.rolled_from)
    made = await certified_generation(
        settings, backend, authority, key, spki_der, certificate, above, len(generations),
        request.rolled_from, now, actor, request.reason,
    )  # fmt: skip
    record, responder_key = made.record, made.responder_key
    try:
        new_id = await registry.ca_requests.imported(request, record, now)
    except CAError:  # refused: nothing recorded (another import or rollover came first)
        destroy_unused_key(backend, responder_key)
        raise
    recorded = next(g for g in await registry.generations(ca.name) if g.id == new_id)
    cmp_serial = await issue_cmp_identity(settings, authority, recorded, now, secret, actor)
    return ImportedGeneration(request.id, old, recorded, record.responder.serial, cmp_serial)


@dataclass(frozen=True)
class CertifiedGeneration:
    """A generation to record, its CA certificate a parent's: what `record_rollover`-like
    registry writes take, and the responder key made for it (destroyed if not recorded)."""

    record: Rollover
    responder_key: KeyRef


async def certified_generation(
    settings: Settings,
    backend: SigningBackend,
    authority: Authority,
    key: KeyRef,
    spki_der: bytes,
    certificate: x509.Certificate,
    above: Sequence[x509.Certificate],
    generations: int,
    rolled_from: int,
    now: datetime,
    actor: str,
    reason: str,
) -> CertifiedGeneration:
    """The next generation (the CA has `generations` now) for `key`, which the parent's
    `certificate` certifies with the chain `above` (checked already): its record with the
    new OCSP responder key and certificate (signed by the new key and checked against the
    new CA certificate), for the registry to write in one transaction. Shared by the import
    of a parent's answer and by the compromise of a CA under the home's root
    (server/hierarchy/issuing_compromise.py)."""
    ca = settings.ca
    new = CAGeneration(
        id=0,  # known once recorded
        ca_name=ca.name,
        key_uri=key.uri,
        key_algorithm=key.algorithm.value,
        serial=serial_text(certificate.serial_number),
        key_id=parent_key_identifier(certificate, spki_der),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        state="active",
        certificate_der=certificate.public_bytes(Encoding.DER),
        first=False,
        parent_chain=tuple(member.public_bytes(Encoding.DER) for member in above),
    )
    suffix = f"g{generations + 1}-{secrets.token_hex(4)}"
    responder_key = backend.generate_key(f"{ca.name}-ocsp-{suffix}", key.algorithm)
    try:
        responder = await signed_responder(settings, authority, backend, new, responder_key, now)
    except BaseException:
        destroy_unused_key(backend, responder_key)
        raise
    record = Rollover(
        ca_name=ca.name,
        rolled_from=rolled_from,
        key_uri=key.uri,
        key_algorithm=key.algorithm.value,
        key_id=new.key_id,
        certificate=parent_certificate_intent(certificate, spki_der),
        certificate_der=new.certificate_der,
        responder=intent_of(responder, OCSP_RESPONDER_PROFILE, 0),
        responder_der=responder.der,
        responder_key_uri=responder_key.uri,
        links=(),
        actor=actor,
        reason=reason,
        parent_chain=new.parent_chain,
    )
    return CertifiedGeneration(record, responder_key)


def destroy_unused_key(backend: SigningBackend, key: KeyRef) -> None:
    """Destroy a key made for what was not recorded, or an abandoned request's; a failure
    is logged, never raised over the refusal (or the record) that led here."""
    try:
        backend.destroy_key(key)
    except HSMError as exc:
        log.warning("a key no longer used is left in the backend: %s (%s)", key.uri, exc)
