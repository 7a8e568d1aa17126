"""The CA's confirmation certificate, and the signature on an expert's confirmation report
(issue #17: the report is "issued as JSON and as a PDF signed by the CA's confirmation
certificate (CMS detached), so the report itself can be verified by the same service").

Theory of operation:
- The confirmation certificate certifies a key made in the CA's signing backend (in the
  token for PKCS#11), of the active generation's key algorithm, as the OCSP responder's is
  (server/generations/responder.py). Profile `confirmation-signer`, internal like
  `ocsp-responder` and `cmp-server`: `Authority.sign_and_record` records the name and looks
  up no profile in the settings. Subject the CA's C and O with CN "<CA CN> Confirmation
  Service"; keyUsage digitalSignature and nonRepudiation (a report is a statement the CA
  stands by); extendedKeyUsage id-kp-documentSigning (RFC 9336 3.1), which the confirmation
  check accepts for documents (server/confirmation/checker.py); SKI, AKI, and the CRL
  distribution point and AIA of the CA's other certificates, so that a reader elsewhere can
  check its status; valid VALIDITY, never past the CA certificate. It is recorded like any
  certificate (answered by OCSP, `list --profile confirmation-signer`, revocable), and its key
  in the registry's confirmation_signers.
- `ReportSigner.sign(data)` signs with the newest good confirmation certificate of the active
  generation. It issues one first when there is none (first use, a new generation after a
  rollover, the last one revoked) or the current one ends within RENEW_BEFORE (unless the CA
  certificate ends first: a new one could not end later). If that issuance fails while the
  current one is still valid (the CA key past its permitted lifetime, K1), the current one
  signs and the failure is logged. A lock makes concurrent first uses in this process issue
  one certificate; two processes at the same moment may each issue one, which leaves a spare,
  never a wrong signature.
- The key is recorded after its certificate is stored: a crash in between leaves an issued
  certificate that nothing signs with (the next use issues another) and a key in the backend
  that the generation's retirement does not know to destroy.
- The signature is CMS SignedData (protocols.cms.signed), detached (RFC 5652 5.2), one
  SignerInfo with contentType id-data, messageDigest, signingTime (the CA's clock, RFC 5652
  11.3) and ESS signingCertificateV2 (RFC 5035 3, what a CAdES-BES reader expects), signed
  through the signing pipeline and verified there under the key's public key before it is
  handed over (server/signing.py). It carries the confirmation certificate, the CA
  certificate and, for a CA under a parent outside, that parent's chain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from asn1crypto import x509 as asn1_x509

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef
from protocols.cms.signed import ID_DATA, digest_algorithm_for, signed_attributes, signed_data
from protocols.crl import crl_shard
from protocols.x509 import extensions as ext
from protocols.x509 import names
from protocols.x509.certificate import signature_algorithm_for
from protocols.x509.spki import certificate_spki
from server import signing
from server.authority import Authority
from server.clock import Clock
from server.errors import CAError, ErrorKind
from server.registry import CAGeneration, interfaces
from server.registry.records import ConfirmationSigner
from server.serials import new_serial, serial_text
from server.signing import CertificateSigner
from server.status.distribution_points import ca_certificate_url, crl_url

log = logging.getLogger(__name__)

CONFIRMATION_SIGNER_PROFILE = "confirmation-signer"
ID_KP_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"  # RFC 9336 3.1
VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
ACTOR = "ca:confirmation-signer"

# (label, key algorithm) -> (the new key in the signing backend, its SubjectPublicKeyInfo DER)
NewKey = Callable[[str, KeyAlgorithm], Awaitable[tuple[KeyRef, bytes]]]


class ReportSignerRegistry(interfaces.ConfirmationSigners, Protocol):
    """The registry as the report signer uses it."""


class ReportSigner:
    """Signs confirmation reports with the CA's confirmation certificate (see the module)."""

    def __init__(
        self,
        settings: Settings,
        registry: ReportSignerRegistry,
        authority: Authority,
        signer: CertificateSigner,
        new_key: NewKey,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._authority = authority
        self._signer = signer
        self._new_key = new_key
        self._clock = clock
        self._issuing = asyncio.Lock()

    async def sign(self, data: bytes) -> bytes:
        """DER ContentInfo with a detached SignedData over `data` (see the module).

        Raises CAError: UNAVAILABLE (no active CA generation, the signing service failing,
        no confirmation certificate and none can be issued), BUSY (the signing queue is
        full), INTERNAL (a signature that is not the key's over the signed attributes)."""
        current, generation = await self.current()
        certificate = current.der
        algorithm = signature_algorithm_for(certificate_spki(certificate))
        attributes = signed_attributes(
            ID_DATA, data, digest_algorithm_for(algorithm), self._clock(), certificate
        )
        key = KeyRef(current.key_uri, KeyAlgorithm(current.key_algorithm))
        signature = await signing.signature(signing.submit_verified(self._signer, key, attributes))
        chain = [generation.certificate_der, *generation.parent_chain]
        return signed_data(ID_DATA, data, attributes, certificate, algorithm, signature, chain,
                           detached=True)  # fmt: skip

    async def current(self) -> tuple[ConfirmationSigner, CAGeneration]:
        """The confirmation certificate that signs now, with the generation that issued it,
        issuing one first when it is due (see the module). Raises CAError as `sign` does."""
        generation = await self._authority.generation()
        found = await self._registry.confirmation_signer(generation.id)
        if found is not None and not _due(found, generation, self._clock()):
            return found, generation
        async with self._issuing:  # one issuance at a time; the one before may have done it
            generation = await self._authority.generation()
            found = await self._registry.confirmation_signer(generation.id)
            now = self._clock()
            if found is not None and not _due(found, generation, now):
                return found, generation
            try:
                issued = await self._issue(generation, now)
            except CAError as exc:
                if found is None or found.not_after <= now:
                    raise
                log.warning("confirmation certificate not renewed, %s signs on: %s",
                            found.serial, exc)  # fmt: skip
                return found, generation
            return issued, generation

    async def _issue(self, generation: CAGeneration, now: datetime) -> ConfirmationSigner:
        """A new key and its confirmation certificate, recorded (see the module)."""
        serial = new_serial()  # in the key's label too: a label is unique in the backend
        label = f"{self._settings.ca.name}-confirmation-g{generation.id}-{serial_text(serial)}"
        key, spki_der = await self._new_key(label, KeyAlgorithm(generation.key_algorithm))
        issued = await self._authority.sign_and_record(
            serial=serial,
            generation=generation,
            profile_name=CONFIRMATION_SIGNER_PROFILE,
            subject=confirmation_subject(self._settings, generation),
            spki_der=spki_der,
            not_before=now,
            not_after=min(now + VALIDITY, generation.not_after),
            extensions=self._extensions(generation, spki_der, serial),
            actor=ACTOR,
        )
        await self._registry.record_confirmation_signer(issued.serial, key)
        log.info("confirmation certificate %s issued", issued.serial)
        found = await self._registry.confirmation_signer(generation.id)
        if found is None:  # revoked the moment it was made: nothing signs with it
            raise CAError(ErrorKind.UNAVAILABLE, "the new confirmation certificate is not good")
        return found

    def _extensions(
        self, generation: CAGeneration, spki_der: bytes, serial: int
    ) -> list[asn1_x509.Extension]:
        """See the module. The status pointers are those of the CA's other certificates
        (server/authority.py), the CRL shard of this serial."""
        base_url = self._settings.ca.base_url.rstrip("/")
        shards = self._settings.crl.shards
        shard = crl_shard(serial, shards)
        extensions = [
            ext.basic_constraints(ca=False),
            ext.key_usage({"digital_signature", "non_repudiation"}),
            ext.extended_key_usage([ID_KP_DOCUMENT_SIGNING]),
            ext.subject_key_identifier(spki_der),
            ext.authority_key_identifier(generation.key_id),
            ext.crl_distribution_points([crl_url(base_url, generation, shard, shards, False)]),
            ext.authority_information_access(
                ocsp_urls=[self._settings.ca.ocsp_url or f"{base_url}/ocsp"],
                ca_issuers_urls=[ca_certificate_url(base_url, generation)],
            ),
        ]
        if self._settings.crl.deltas:
            extensions.append(
                ext.freshest_crl([crl_url(base_url, generation, shard, shards, True)])
            )
        return extensions


def confirmation_subject(settings: Settings, generation: CAGeneration) -> list[tuple[str, str]]:
    """The CA's C and O, and CN "<CA CN> Confirmation Service"."""
    ca_subject = names.attributes_of(
        asn1_x509.Certificate.load(generation.certificate_der).subject.dump()
    )
    common_name = dict(ca_subject).get("CN", settings.ca.name)
    subject = [(a, v) for a, v in ca_subject if a in ("C", "O")]
    subject.append(("CN", f"{common_name} Confirmation Service"))
    return subject


def _due(current: ConfirmationSigner, generation: CAGeneration, now: datetime) -> bool:
    """Whether a new confirmation certificate is due: the current one ends within
    RENEW_BEFORE, and a new one would end later (the CA certificate ends after it)."""
    return current.not_after - now <= RENEW_BEFORE and current.not_after < generation.not_after
