"""A generation's delegated OCSP responder certificate (RFC 6960 4.2.2.2), made at `init`
and renewed for every live generation (server/status/publication.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import x509 as asn1_x509

from config import Settings
from hsm.backend import KeyAlgorithm, SigningBackend
from protocols.x509 import extensions as ext
from protocols.x509 import names
from server.authority import Authority
from server.registry import (
    CAGeneration,
)
from server.serials import new_serial

OCSP_RESPONDER_PROFILE = "ocsp-responder"


async def issue_ocsp_responder(
    settings: Settings,
    backend: SigningBackend,
    authority: Authority,
    generation: CAGeneration,
    now: datetime,
    actor: str,
) -> str:
    """Make a responder key and its certificate: id-kp-OCSPSigning and id-pkix-ocsp-nocheck
    (RFC 6960 4.2.2.2, 4.2.2.2.1). Returns the certificate's serial."""
    ca = settings.ca
    algorithm = KeyAlgorithm(generation.key_algorithm)
    key = backend.generate_key(
        f"{ca.name}-ocsp-g{generation.id}-{now.strftime('%Y%m%d%H%M%S')}", algorithm
    )
    spki_der = backend.public_key_der(key)
    responder = ocsp_responder_certificate(settings, generation, spki_der, now)
    issued = await authority.sign_and_record(
        serial=new_serial(),
        generation=generation,
        profile_name=OCSP_RESPONDER_PROFILE,
        subject=responder.subject,
        spki_der=spki_der,
        not_before=now,
        not_after=responder.not_after,
        extensions=list(responder.extensions),
        actor=actor,
        responder_key=key,
    )
    return issued.serial


@dataclass(frozen=True)
class ResponderCertificate:
    subject: list[tuple[str, str]]
    not_after: datetime
    extensions: tuple[asn1_x509.Extension, ...]


def ocsp_responder_certificate(
    settings: Settings, generation: CAGeneration, spki_der: bytes, now: datetime
) -> ResponderCertificate:
    """Subject, end and extensions of a responder certificate of `generation` for the key
    `spki_der` (issued by `issue_ocsp_responder`, and by a rollover for its new
    generation): id-kp-OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2,
    4.2.2.2.1), never past the CA certificate."""
    ca_subject = names.attributes_of(
        asn1_x509.Certificate.load(generation.certificate_der).subject.dump()
    )
    common_name = dict(ca_subject).get("CN", settings.ca.name)
    subject = [(a, v) for a, v in ca_subject if a in ("C", "O")]
    subject.append(("CN", f"{common_name} OCSP Responder"))
    days = settings.ca.ocsp_responder_validity_days
    return ResponderCertificate(
        subject=subject,
        not_after=min(now + timedelta(days=days), generation.not_after),
        extensions=(
            ext.basic_constraints(ca=False),
            ext.key_usage({"digital_signature"}),
            ext.extended_key_usage(["ocsp_signing"]),
            ext.ocsp_no_check(),
            ext.subject_key_identifier(spki_der),
            ext.authority_key_identifier(generation.key_id),
        ),
    )
