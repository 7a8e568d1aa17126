"""A CA whose parent is outside (an accredited Russian CA's parent is the head CA): its key
and the PKCS#10 request for the parent (`init --csr`, and each rollover's request,
subordinate_rollover.py), and the parent's certificate recorded as the CA's first
generation (`import-ca-cert`) with the parent's chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef, SigningBackend
from protocols.x509 import csr as csr_codec
from protocols.x509 import extensions as ext
from protocols.x509 import names, parent_chain
from protocols.x509.ca_request import assemble_request, request_info
from protocols.x509.certificate import (
    signature_algorithm_for,
)
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import LifecycleRegistry, ca_certificate_extensions
from server.registry import (
    AuditEvent,
    CAGeneration,
    CertificateIntent,
)
from server.serials import serial_text

AUTHORITY_KEY_IDENTIFIER = "2.5.29.35"


@dataclass(frozen=True)
class CARequest:
    """A CA key made for a parent outside to certify, and the request for it."""

    key: KeyRef
    csr_der: bytes


def request_ca_certificate(settings: Settings, backend: SigningBackend) -> CARequest:
    """Make the CA key (generation 1) and a PKCS#10 request for it, for a CA whose parent
    is outside (an accredited Russian CA's parent is the head CA). It asks for what
    :func:`ca_certificate_extensions` gives a CA certificate but what only the issuer
    can say: not the authorityKeyIdentifier, nor issuerSignTool (the parent's tools)."""
    try:
        subject_name = names.build_name(names.parse_dn(settings.ca.subject))
    except ValueError as exc:
        raise CAError(ErrorKind.REJECTED, f"ca.subject: {exc}") from exc
    key = backend.generate_key(f"{settings.ca.name}-ca-g1", KeyAlgorithm(settings.ca.algorithm))
    return CARequest(key, ca_request_for(settings, backend, key, subject_name))


def ca_request_for(
    settings: Settings, backend: SigningBackend, key: KeyRef, subject: asn1_x509.Name
) -> bytes:
    """The PKCS#10 request (DER) of the CA key `key` for `subject`, signed by that key:
    the extensions of :func:`ca_certificate_extensions` but the issuer's own."""
    spki_der = backend.public_key_der(key)
    issuers_own = {AUTHORITY_KEY_IDENTIFIER, ext.ID_ISSUER_SIGN_TOOL}
    requested = [
        extension
        for extension in ca_certificate_extensions(settings, spki_der)
        if extension["extn_id"].dotted not in issuers_own
    ]
    info = request_info(subject, spki_der, requested)
    (signature,) = backend.sign_many(key, [info])
    return assemble_request(info, signature_algorithm_for(spki_der), signature)


async def import_ca_certificate(
    settings: Settings,
    registry: LifecycleRegistry,
    key: KeyRef,
    spki_der: bytes,
    certificate_der: bytes,
    chain_ders: Sequence[bytes],
    now: datetime,
    actor: str,
) -> CAGeneration:
    """Record generation 1 of a CA whose parent outside certified the pending `key`
    (:func:`request_ca_certificate`; its SubjectPublicKeyInfo `spki_der`), with the
    parent's chain. Raises CAError(REJECTED),
    nothing recorded, when the certificate does not certify that key as a CA or does not
    chain up to a self-signed root in `chain_ders` (protocols/x509/parent_chain.py)."""
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        chain = [x509.load_der_x509_certificate(der) for der in chain_ders]
        above = parent_chain.check_certificate(certificate, chain, spki_der, now)
    except ValueError as exc:  # ChainRefused among them
        raise CAError(ErrorKind.REJECTED, str(exc)) from None
    key_identifier = parent_key_identifier(certificate, spki_der)
    intent = parent_certificate_intent(certificate, spki_der)
    audit = AuditEvent(
        actor=actor,
        action="ca.generation.import",
        target=intent.serial,
        details={"ca": settings.ca.name, "generation": 1, "algorithm": key.algorithm.value,
                 "issuer": certificate.issuer.rfc4514_string()},
    )  # fmt: skip
    chain_der = [member.public_bytes(Encoding.DER) for member in above]
    await registry.record_ca_generation(
        settings.ca.name, key.uri, key.algorithm.value, key_identifier,
        intent, certificate_der, now, audit, chain_der,
    )  # fmt: skip
    generation = await registry.active_generation(settings.ca.name)
    assert generation is not None
    return generation


def parent_key_identifier(certificate: x509.Certificate, spki_der: bytes) -> bytes:
    """The key identifier a parent stated for the CA's key (subjectKeyIdentifier: the AKI
    of what the CA issues must match it, RFC 5280 4.2.1.1), else the CA's own method's."""
    try:
        stated = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return ext.key_identifier(spki_der)
    return stated.value.digest


def parent_certificate_intent(certificate: x509.Certificate, spki_der: bytes) -> CertificateIntent:
    """A parent's certificate for the CA's key as the registry records a CA certificate."""
    return CertificateIntent(
        serial=serial_text(certificate.serial_number),
        generation_id=None,
        profile="ca",
        subject=names.format_dn(names.attributes_of(certificate.subject)),
        spki_sha256=csr_codec.spki_sha256(spki_der),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        tbs=certificate.tbs_certificate_bytes,
    )
