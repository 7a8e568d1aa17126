"""Issuance: from a PKCS#10 request and a profile to a signed, recorded certificate.

The rules, in the order they are applied:
- the request's checks (server/request_checks.py): proof of possession (D8), the key type
  the profile allows, subject and subjectAltName from the profile and what the request asks
  for, as far as the profile allows: anything else is refused, never silently copied or
  dropped; a subject given by the caller (an enrollment credential, a subscriber record:
  D2) replaces the request's;
- validity ends at the earliest of the profile's validity, the permitted private key lifetime
  (K1, stated in privateKeyUsagePeriod) and the CA certificate's notAfter (D10);
- the CA key signs certificates only within its own permitted lifetime (K1,
  server/node/key_lifetime.py): past it, issuance is refused (UNAVAILABLE: EST 503, CMP
  systemUnavail) until a rollover, for end-entity, TLS and CMP protection certificates
  alike. OCSP responder certificates are not: they delegate the key's OCSP signing, which
  goes on after it as CRL signing does (K3);
- the public key is not certified yet, under any CA generation (S13, D9);
- serial numbers carry 126 random bits (server/serials.py);
- a profile with personal identifiers is issued only to a registered subscriber on an
  approved application (server/ra/registered_issuance.py), checked before anything else.

Then the to-be-signed certificate is recorded with its serial, owned by this process and
taking what the issuance holds (an enrollment credential, an application being decided:
IntentHolds), signed through the pipeline and verified there under the CA's public key,
checked to be the certificate that verified signature was made for (server/signing.py),
and stored in the transaction that records its first status and spends what it held. A
failure between those steps removes the recorded intent and gives back what it held; a
crash leaves it to the sweeper (server/node/intent_sweeper.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import ProfileSettings, Settings
from hsm.backend import KeyAlgorithm, KeyRef
from protocols.crl import crl_shard
from protocols.x509 import csr as csr_codec
from protocols.x509 import extensions as ext
from protocols.x509 import names
from protocols.x509.certificate import (
    CertificateTemplate,
    assemble_certificate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from server import request_checks as checks
from server import signing
from server.clock import Clock, utc_now
from server.errors import CAError, ErrorKind
from server.node.key_lifetime import check_may_certify, no_active_key
from server.node.process_identity import this_process
from server.ra import registered_issuance
from server.registry import (
    NO_HOLDS,
    AuditEvent,
    CAGeneration,
    CertificateIntent,
    IntentHolds,
    OCSPResponseRow,
    interfaces,
)
from server.serials import new_serial, serial_text
from server.signing import CertificateSigner
from server.status.distribution_points import ca_certificate_url, crl_url


class IssuancePublisher(Protocol):
    """Status publication as issuance sees it: a new certificate's `good` OCSP response is
    signed beside the certificate and stored in the same transaction."""

    async def prepare_issued(self, serial: str, generation_id: int) -> OCSPResponseRow | None: ...

    def issued(self, row: OCSPResponseRow) -> None: ...


@dataclass(frozen=True)
class _Issuer:
    """What issuance needs of a CA certificate, parsed once per generation."""

    name: asn1_x509.Name
    signature_algorithm: str
    certificate: x509.Certificate

    @classmethod
    def of(cls, der: bytes) -> _Issuer:
        parsed = asn1_x509.Certificate.load(der)
        spki = parsed["tbs_certificate"]["subject_public_key_info"].dump()
        return cls(
            parsed.subject, signature_algorithm_for(spki), x509.load_der_x509_certificate(der)
        )


@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    der: bytes
    # The certificate of the CA generation that signed it, when issuance has just made it
    # (an answer's chain, RFC 9483 4.1.1, then needs no registry read); None when read back.
    # Not part of its identity: the same certificate read back is equal.
    issuer_der: bytes | None = field(default=None, compare=False, repr=False)
    # With it, the chain of a parent CA outside above that generation (issue 15, Hierarchy)
    issuer_chain: tuple[bytes, ...] = field(default=(), compare=False, repr=False)

    @property
    def pem(self) -> str:
        return der_to_pem(self.der)


def der_to_pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()


class IssuanceRegistry(
    interfaces.Issuance, interfaces.Generations, interfaces.IssuanceApplications, Protocol
):
    """The registry as issuance uses it."""


class Authority:
    def __init__(
        self,
        settings: Settings,
        registry: IssuanceRegistry,
        signer: CertificateSigner,
        clock: Clock = utc_now,
        publisher: IssuancePublisher | None = None,
        owner: str | None = None,
    ) -> None:
        """`owner` names the process that owns this authority's intents (server/node/
        process_identity.py); this one unless given."""
        self._owner = owner or this_process()
        self._settings = settings
        self._registry = registry
        self._signer = signer
        self._clock = clock
        self._publisher = publisher
        self._extension_cache: dict[tuple[str, str, int, int], tuple[asn1_x509.Extension, ...]] = {}
        self._issuers: dict[bytes, _Issuer] = {}  # by CA certificate, one per generation
        self._generation_read: asyncio.Task[CAGeneration | None] | None = None

    async def generation(self) -> CAGeneration:
        """The active CA generation. Concurrent callers share one read of it: a read begun
        a moment before a caller came is as good as its own, since issuance reads the
        generation before it records its intent either way (a rollover may commit in
        between, and the intent records the generation it was built for)."""
        reading = self._generation_read
        if reading is None:
            reading = asyncio.ensure_future(
                self._registry.active_generation(self._settings.ca.name)
            )
            self._generation_read = reading
            reading.add_done_callback(self._generation_read_done)
        generation = await asyncio.shield(reading)
        if generation is None:  # after a compromise, the CA may wait for its parent (K4)
            generations = await self._registry.generations(self._settings.ca.name)
            raise CAError(ErrorKind.UNAVAILABLE, no_active_key(generations))
        return generation

    async def issue(
        self,
        profile_name: str,
        csr_data: bytes | csr_codec.CSR,
        actor: str,
        subject: Sequence[tuple[str, str]] | None = None,
        subscriber_id: str | None = None,
        holds: IntentHolds = NO_HOLDS,
        application_id: str | None = None,
    ) -> IssuedCertificate:
        """Issue a certificate under `profile_name` for the PKCS#10 request `csr_data`
        (or a request already parsed, its proof of possession checked: CMP's CRMF), to the
        registered subscriber `subscriber_id` if there is one, on the approved application
        `application_id` if there is one, spending `holds` with it.

        Raises CAError: FORBIDDEN (a profile with personal identifiers without both:
        server/ra/registered_issuance.py), MALFORMED (not a CSR), BAD_POP (its signature does
        not verify), REJECTED (profile rules), DUPLICATE (key already certified), BUSY /
        UNAVAILABLE (signing pipeline; BUSY also as the registry's RegistryBusy;
        UNAVAILABLE also outside the CA key's permitted lifetime, K1), INTERNAL;
        HoldRefused (what `holds` names is not free).
        """
        profile = self._profile(profile_name)
        if profile.registered_subscribers_only:
            application = None
            if application_id is not None:
                application = await self._registry.applications.get(application_id)
            approving = application_id is not None and holds.application_id == application_id
            registered_issuance.check_issuance(
                profile_name, profile, subscriber_id, application, approving
            )
        request, key_type, attributes, san = self._checked(profile_name, csr_data, subject)
        generation = await self.generation()
        now = self._clock()
        not_after = self._not_after(now, profile, generation)
        serial = new_serial()
        extensions = self._extensions(
            profile_name, profile, key_type, request.spki_der, generation, san, now, not_after,
            serial,
        )  # fmt: skip
        if request.key_usage:  # a CMP template's keyUsage, granted as the profile allows
            extensions = checks.with_requested_usages(
                extensions, profile, key_type, request.key_usage
            )
        return await self.sign_and_record(
            serial=serial,
            generation=generation,
            profile_name=profile_name,
            subject=attributes,
            spki_der=request.spki_der,
            not_before=now,
            not_after=not_after,
            extensions=extensions,
            actor=actor,
            subscriber_id=subscriber_id,
            holds=holds,
        )

    def check_request(
        self,
        profile_name: str,
        csr_data: bytes | csr_codec.CSR,
        subject: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """What `issue` checks before it signs, without issuing: an application is refused
        when it is submitted, not when an operator approves it.

        Raises CAError: MALFORMED, BAD_POP, REJECTED."""
        self._checked(profile_name, csr_data, subject)

    def _checked(
        self,
        profile_name: str,
        csr_data: bytes | csr_codec.CSR,
        subject: Sequence[tuple[str, str]] | None,
    ) -> tuple[csr_codec.CSR, str, list[tuple[str, str]], checks.SubjectAltNames]:
        profile = self._profile(profile_name)
        request = (
            csr_data if isinstance(csr_data, csr_codec.CSR) else checks.parse_request(csr_data)
        )
        key_type = checks.check_key_algorithm(
            request.spki_der, profile, profile_name, request.key_type
        )
        attributes = checks.subject_attributes(
            request.subject if subject is None else subject, profile, profile_name
        )
        return (
            request,
            key_type,
            attributes,
            checks.subject_alt_names(request, profile, profile_name, attributes),
        )

    def _generation_read_done(self, reading: asyncio.Task[CAGeneration | None]) -> None:
        if self._generation_read is reading:
            self._generation_read = None
        if not reading.cancelled():
            reading.exception()  # retrieved here too, should every caller have left

    def _issuer(self, generation: CAGeneration) -> _Issuer:
        """The issuing CA certificate of `generation`, parsed once."""
        issuer = self._issuers.get(generation.certificate_der)
        if issuer is None:
            issuer = _Issuer.of(generation.certificate_der)
            self._issuers[generation.certificate_der] = issuer
        return issuer

    def profile(self, name: str) -> ProfileSettings:
        """The profile of that name. Raises CAError(REJECTED) for none."""
        return self._profile(name)

    def _profile(self, name: str) -> ProfileSettings:
        profile = self._settings.profiles.get(name)
        if profile is None:
            raise CAError(ErrorKind.REJECTED, f"no certificate profile named {name!r}")
        return profile

    def _not_after(
        self, now: datetime, profile: ProfileSettings, generation: CAGeneration
    ) -> datetime:
        candidates = [now + timedelta(days=profile.validity_days), generation.not_after]
        if profile.private_key_usage_days:
            candidates.append(now + timedelta(days=profile.private_key_usage_days))
        not_after = min(candidates)
        if not_after <= now:
            raise CAError(ErrorKind.UNAVAILABLE, "the CA certificate has expired")
        return not_after

    def _extensions(
        self,
        profile_name: str,
        profile: ProfileSettings,
        key_type: str,
        spki_der: bytes,
        generation: CAGeneration,
        san: checks.SubjectAltNames,
        not_before: datetime,
        not_after: datetime,
        serial: int,
    ) -> list[asn1_x509.Extension]:
        shard = crl_shard(serial, self._settings.crl.shards)
        extensions = [ext.subject_key_identifier(spki_der)]
        extensions += self._profile_extensions(profile_name, profile, key_type, generation, shard)
        if not san.empty:
            extensions.append(ext.subject_alt_name(dns=san.dns, ips=san.ips, emails=san.emails))
        if profile.private_key_usage_days:
            extensions.append(ext.private_key_usage_period(not_before, not_after))
        return extensions

    def _profile_extensions(
        self,
        profile_name: str,
        profile: ProfileSettings,
        key_type: str,
        generation: CAGeneration,
        shard: int,
    ) -> list[asn1_x509.Extension]:
        """The extensions every certificate of this profile, key type, CA generation and
        CRL shard shares, built once. They are read back from their DER once too, and every
        certificate shares those objects, which nothing changes (with_requested_usages
        replaces keyUsage, it does not alter it): reading them anew for each certificate
        took about 0.1 ms, a fifth of an issuance's own CPU."""
        cache_key = (profile_name, key_type, generation.id, shard)
        cached = self._extension_cache.get(cache_key)
        if cached is None:
            built = self._build_profile_extensions(profile, key_type, generation, shard)
            cached = tuple(asn1_x509.Extension.load(e.dump()) for e in built)
            self._extension_cache[cache_key] = cached
        return list(cached)

    def _build_profile_extensions(
        self, profile: ProfileSettings, key_type: str, generation: CAGeneration, shard: int
    ) -> list[asn1_x509.Extension]:
        base_url = self._settings.ca.base_url.rstrip("/")
        shards = self._settings.crl.shards
        extensions = [
            ext.basic_constraints(ca=False),
            ext.key_usage(checks.key_usage_for(profile.key_usage, key_type)),
            ext.authority_key_identifier(generation.key_id),
            ext.crl_distribution_points(
                [crl_url(base_url, generation, shard, shards, delta=False)]
            ),
            ext.authority_information_access(
                ocsp_urls=[self._settings.ca.ocsp_url or f"{base_url}/ocsp"],
                ca_issuers_urls=[ca_certificate_url(base_url, generation)],
            ),
        ]
        if self._settings.crl.deltas:
            extensions.append(
                ext.freshest_crl([crl_url(base_url, generation, shard, shards, delta=True)])
            )
        if profile.extended_key_usage:
            extensions.append(ext.extended_key_usage(list(profile.extended_key_usage)))
        if profile.policies:
            extensions.append(ext.certificate_policies(list(profile.policies)))
        if profile.subject_sign_tool:
            tool = self._settings.ca.issuer_sign_tool
            extensions.append(ext.subject_sign_tool(profile.subject_sign_tool))
            extensions.append(
                ext.issuer_sign_tool(
                    tool.sign_tool, tool.ca_tool, tool.sign_tool_cert, tool.ca_tool_cert
                )
            )
        if profile.identification_kind >= 0:
            extensions.append(ext.identification_kind(profile.identification_kind))
        return extensions

    async def sign_and_record(
        self,
        serial: int,
        generation: CAGeneration,
        profile_name: str,
        subject: list[tuple[str, str]],
        spki_der: bytes,
        not_before: datetime,
        not_after: datetime,
        extensions: list[asn1_x509.Extension],
        actor: str,
        responder_key: KeyRef | None = None,
        subscriber_id: str | None = None,
        holds: IntentHolds = NO_HOLDS,
    ) -> IssuedCertificate:
        """Build, record, sign, verify and store one certificate issued by `generation`
        (with `responder_key`: its OCSP responder certificate, recorded as such), taking
        `holds` with the intent and spending them with the certificate. Raises
        CAError(UNAVAILABLE), nothing recorded, for any but a responder certificate outside
        the CA key's permitted lifetime (K1; see the module)."""
        if responder_key is None:
            check_may_certify(self._settings.ca, generation, self._clock())
        issuer = self._issuer(generation)
        template = CertificateTemplate(
            serial=serial,
            issuer=issuer.name,
            subject=names.build_name(list(subject)),
            spki_der=spki_der,
            not_before=not_before,
            not_after=not_after,
            extensions=tuple(extensions),
            signature_algorithm=issuer.signature_algorithm,
        )
        tbs = build_tbs_certificate(template)
        intent = CertificateIntent(
            serial=serial_text(serial),
            generation_id=generation.id,
            profile=profile_name,
            subject=names.format_dn(subject),
            spki_sha256=csr_codec.spki_sha256(spki_der),
            not_before=not_before,
            not_after=not_after,
            tbs=tbs,
            subscriber_id=subscriber_id,
        )
        try:
            await self._registry.record_intent(intent, self._clock(), self._owner, actor, holds)
        except asyncio.CancelledError:
            # Its write may have landed with its group (server/registry/group_commit.py).
            await self._registry.discard_intent(intent.serial)
            raise
        try:
            key = KeyRef(generation.key_uri, KeyAlgorithm(generation.key_algorithm))
            signed, ocsp_row = await self._signed(key, tbs, generation, intent.serial,
                                                  with_response=responder_key is None)  # fmt: skip
            der = assemble_certificate(tbs, template.signature_algorithm, signed)
            signing.verify_issued_by(
                der, issuer.certificate, template.signature_algorithm, tbs, signed
            )
            audit = AuditEvent(
                actor=actor,
                action="certificate.issue",
                target=intent.serial,
                # C1: no personal data in the trail; the serial and the holder's id lead to it.
                details={"profile": profile_name, "subscriber": intent.subscriber_id},
            )
            seq = await self._registry.complete_issue(
                intent.serial, der, actor, self._clock(), audit, responder_key, ocsp_row, holds
            )
        except BaseException:
            await self._registry.discard_intent(intent.serial)
            raise
        if self._publisher is not None and ocsp_row is not None:
            self._publisher.issued(dataclasses.replace(ocsp_row, seq=seq))
        return IssuedCertificate(
            intent.serial, der, generation.certificate_der, generation.parent_chain
        )

    async def _signed(
        self,
        key: KeyRef,
        tbs: bytes,
        generation: CAGeneration,
        serial: str,
        with_response: bool,
    ) -> tuple[bytes, OCSPResponseRow | None]:
        """The certificate's signature, verified over `tbs` by the signer
        (signing.submit_verified), and, `with_response` and a publisher, its signed `good`
        OCSP response. Both signatures go to the pipeline together, one batch, one round
        trip: the certificate's is queued, then the response's as it is built (nothing
        awaits in between), then both are awaited, without a task for either (a gather's
        two tasks cost more than building the response)."""
        signature = signing.submit_verified(self._signer, key, tbs)
        try:
            ocsp_row = None
            if self._publisher is not None and with_response:
                ocsp_row = await self._publisher.prepare_issued(serial, generation.id)
            signed = await signing.signature(signature)
        except BaseException:
            signature.cancel()  # given up: the pipeline's answer finds it done, passes it over
            raise
        return signed, ocsp_row

    async def sign_tbs(self, key: KeyRef, tbs: bytes, signature_algorithm: str) -> bytes:
        """Sign to-be-signed certificate bytes through the pipeline and assemble them."""
        return await signing.sign_tbs(self._signer, key, tbs, signature_algorithm)
