"""The compromise of the key of an issuing CA whose parent is outside (regulation K4;
issue 15: "for a subordinate, reported to the parent as a request").

Only the parent can revoke this CA's certificate and certify a new key, so the CA does at
once what is its own to do and hands the operator two files for the parent:
1. `prepare_parent_compromise`, nothing recorded: the generation checked (active, certified
   by a parent outside); a new CA key in the home's backend and its PKCS#10 request, made
   as a rollover's (server/generations/subordinate_rollover.py `next_key_request`); and a CMP
   revocation request (rr, RFC 9810 5.3.9) for the compromised CA certificate, in the
   form RFC 9483 4.2 gives an entity revoking its own certificate: certDetails its issuer
   and serial, one reasonCode cACompromise (RFC 5280 5.3.1: the subject's key of a CA
   certificate is known or suspected to be compromised; keyCompromise is its name for an
   end entity's), signed with the compromised key itself (the proof RFC 9483 4.2 asks
   for, and the key is still in the backend), extraCerts that certificate then the
   parent's chain (RFC 9483 3.3); its signature is checked under the certificate.
   The caller (the command line) writes both files;
2. `record_parent_compromise`: one transaction (registry `ca_requests.compromised`)
   abandons the request pending until now (the scheduled duty's, say: its key sits in the
   same backend as the compromised one, and a CA has one pending request at most), makes
   the generation 'compromised', records the request
   for the new key pending and the audit entry `ca.generation.compromise` {generation,
   grounds, request, certificates} with who and when; the abandoned request's key is then
   destroyed. Then `revoke_after_parent_compromise`: the certificates issued under the
   compromised key revoked or marked per `ca.compromise_certificates`
   (server/status/compromised_certificates.py): OCSP answers revoked once it returns.

From the commit on, issuance no longer uses the compromised generation: it moves to the
newest generation still active (an older one, whose key K1 still lets sign), or, when
there is none, it stops, answered as the core answers for an unavailable CA (EST 503, CMP
systemUnavail) with a message saying the CA waits for its parent's certificate
(server/node/key_lifetime.py `no_active_key`). The compromised generation keeps
publishing its CRLs and OCSP answers, signed by its own key, as after any compromise. The
parent's certificate for the new key is imported with `import-ca-cert`, as after a
rollover (server/generations/subordinate_rollover.py `import_next_generation`); the request is made
from the CA's newest generation, and the import needs that no generation was made after
it (server/registry/ca_request_store.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from asn1crypto import x509 as asn1_x509

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef, SigningBackend
from protocols.crl import CRLReason
from protocols.der import tlv as der_tlv
from protocols.x509.certificate import signature_algorithm_for
from server.errors import CAError, ErrorKind
from server.generations.compromise import checked_grounds, compromised_generation
from server.generations.subordinate_rollover import (
    SubordinateRolloverRegistry,
    destroy_unused_key,
    next_key_request,
)
from server.registry import CAGeneration, GenerationRequest, interfaces
from server.status.compromised_certificates import CertificatesRevoked, revoke_certificates_of
from server.status.revocation import StatusPublisher

SELF_SIGNED_COMPROMISE = (
    "generation {generation} of CA {ca!r} is self-signed: its compromise makes a new "
    "self-signed CA certificate at once (compromise without --csr and --revocation-request), "
    "no request to a parent; nothing was changed"
)
UNDER_HOME_ROOT = (
    "generation {generation} of CA {ca!r} was certified by the root CA kept in this home: its "
    "compromise is `compromise` without --csr and --revocation-request, with the root's key "
    "at hand; nothing was changed"
)
_DIRECTORY_NAME = 0xA4  # GeneralName directoryName [4] EXPLICIT Name (RFC 5280 4.2.1.6)


class ParentCompromiseRegistry(SubordinateRolloverRegistry, interfaces.BulkRevocation, Protocol):
    """The registry as the compromise of a CA under a parent outside uses it."""


@dataclass(frozen=True)
class PreparedCompromise:
    """What `prepare_parent_compromise` made, nothing recorded yet."""

    old: CAGeneration  # the compromised generation
    rolled_from: int  # the CA's newest generation: the new key's request is made from it
    abandoned: GenerationRequest | None  # the request pending until now
    key: KeyRef  # the new CA key
    csr_der: bytes  # its PKCS#10 request, for the parent to certify
    revocation_request_der: bytes  # the CMP rr for the parent
    grounds: str


@dataclass(frozen=True)
class ParentCompromise:
    prepared: PreparedCompromise
    request_id: int
    certificates: CertificatesRevoked
    issuing: CAGeneration | None  # the generation issuance uses now; None: it waits


async def prepare_parent_compromise(
    settings: Settings,
    registry: ParentCompromiseRegistry,
    backend: SigningBackend,
    now: datetime,
    generation: int,
    grounds: str,
) -> PreparedCompromise:
    """Check generation `generation` and make the new key, its request and the revocation
    request (see the module, 1.). Raises CAError(MALFORMED) without grounds,
    CAError(NOT_FOUND) for an unknown generation, CAError(REJECTED) for one not active, a
    self-signed one (SELF_SIGNED_COMPROMISE) or one under the home's root
    (UNDER_HOME_ROOT); nothing changed then, and no key left made."""
    ca = settings.ca
    grounds = checked_grounds(grounds)
    generations = await registry.generations(ca.name)
    old = compromised_generation(ca.name, generations, generation)
    if not old.parent_chain:
        refusal = SELF_SIGNED_COMPROMISE.format(generation=old.id, ca=ca.name)
        raise CAError(ErrorKind.REJECTED, refusal)
    if settings.root.name:
        raise CAError(ErrorKind.REJECTED, UNDER_HOME_ROOT.format(generation=old.id, ca=ca.name))
    abandoned = await registry.ca_requests.pending(ca.name)
    old_key = KeyRef(old.key_uri, KeyAlgorithm(old.key_algorithm))
    revocation_request = _revocation_request(backend, old_key, old, now)
    key, csr_der = next_key_request(settings, backend, len(generations) + 1, old)
    return PreparedCompromise(old, generations[-1].id, abandoned, key, csr_der,
                              revocation_request, grounds)  # fmt: skip


def discard(backend: SigningBackend, prepared: PreparedCompromise) -> None:
    """Destroy the new key of a compromise that will not be recorded (its files could not
    be written)."""
    destroy_unused_key(backend, prepared.key)


async def record_parent_compromise(
    settings: Settings,
    registry: ParentCompromiseRegistry,
    backend: SigningBackend,
    prepared: PreparedCompromise,
    now: datetime,
    actor: str,
) -> int:
    """Record the compromise `prepared` in one transaction (see the module, 2.), then
    destroy the abandoned request's key; returns the new request's id. Raises
    CAError(REJECTED), nothing recorded and the new key destroyed, when the generation is
    no longer active or the pending request changed meanwhile (another compromise, import
    or abandonment came first)."""
    ca = settings.ca
    old, key = prepared.old, prepared.key
    request = GenerationRequest(id=0, ca_name=ca.name, rolled_from=prepared.rolled_from,
                                key_uri=key.uri, key_algorithm=key.algorithm.value,
                                csr_der=prepared.csr_der, created_at=now, actor=actor,
                                reason=f"compromise of generation {old.id}",
                                state="pending")  # fmt: skip
    try:
        request_id = await registry.ca_requests.compromised(
            old.id, request, prepared.abandoned, prepared.grounds, ca.compromise_certificates,
            now,
        )  # fmt: skip
    except CAError:
        destroy_unused_key(backend, key)
        raise
    if prepared.abandoned is not None:
        abandoned = prepared.abandoned
        destroy_unused_key(
            backend, KeyRef(abandoned.key_uri, KeyAlgorithm(abandoned.key_algorithm))
        )
    return request_id


async def revoke_after_parent_compromise(
    settings: Settings,
    registry: ParentCompromiseRegistry,
    publisher: StatusPublisher,
    prepared: PreparedCompromise,
    request_id: int,
    now: datetime,
    actor: str,
) -> ParentCompromise:
    """After the record: the compromised generation's certificates revoked or marked per
    `ca.compromise_certificates`, returning once every live process answers them revoked
    (CAError(UNAVAILABLE) when one did not confirm in time: they are recorded)."""
    certificates = await revoke_certificates_of(
        registry, publisher, prepared.old.id, settings.ca.compromise_certificates, now, actor,
        prepared.grounds,
    )  # fmt: skip
    issuing = await registry.active_generation(settings.ca.name)
    return ParentCompromise(prepared, request_id, certificates, issuing)


def _revocation_request(
    backend: SigningBackend, key: KeyRef, generation: CAGeneration, now: datetime
) -> bytes:
    """The DER rr asking the parent to revoke `generation`'s CA certificate (see the
    module, 1.), signed with `key`, that certificate's key, and checked under it.
    Raises CAError(REJECTED) for a key CMP protection has no algorithm for (RFC 9481 3),
    CAError(INTERNAL) when the signature does not verify."""
    from protocols import cmp  # here: its codecs cost ~0.6 s, which every command would pay

    certificate = asn1_x509.Certificate.load(generation.certificate_der)
    try:
        algorithm = cmp.signature_algorithm_der(
            signature_algorithm_for(certificate.public_key.dump())
        )
    except ValueError as exc:
        raise CAError(
            ErrorKind.REJECTED, f"the revocation request cannot be signed: {exc}"
        ) from None
    header = cmp.ReplyHeader(
        sender=der_tlv(_DIRECTORY_NAME, certificate.subject.dump()),  # RFC 9483 3.1
        recipient=der_tlv(_DIRECTORY_NAME, certificate.issuer.dump()),
        transaction_id=secrets.token_bytes(16),
        sender_nonce=secrets.token_bytes(16),
        recip_nonce=None,
        message_time=now,
        protection_algorithm=algorithm,
        sender_kid=generation.key_id,  # RFC 9483 3.1: the protecting certificate's SKI
        implicit_confirm=False,
    )
    body = cmp.rr_body(certificate.serial_number, certificate.issuer.dump(),
                       int(CRLReason.cACompromise))  # fmt: skip
    part = cmp.protected_part(header, body)
    (signature,) = backend.sign_many(key, [part])
    extra_certs = [generation.certificate_der, *generation.parent_chain]  # RFC 9483 3.3
    der = cmp.assemble_protected(part, signature, extra_certs)
    if not cmp.verify_signature(cmp.parse_pki_message(der), generation.certificate_der):
        raise CAError(ErrorKind.INTERNAL, "the revocation request's signature does not verify")
    return der
