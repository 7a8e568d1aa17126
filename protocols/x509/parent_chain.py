"""Whether a certificate from a parent CA outside certifies this CA's key as a CA, and its
chain (RFC 5280 6.1, the parts a CA can check of its own certificate): each certificate
signed by the next one's key, named by it as issuer, valid now, every issuer a CA allowed
to sign certificates, up to a self-signed root.

The chain is given as the parent hands it over, in any order; :func:`check_certificate`
returns it from the issuer of the certificate up to the root."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols.x509.signed_by import directly_issued_by
from protocols.x509.spki import certificate_spki

MAX_DEPTH = 8  # a longer chain than any real hierarchy: a loop, not a chain


class ChainRefused(ValueError):
    """The certificate or its chain cannot be accepted; the message says why."""


def check_certificate(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    spki_der: bytes,
    now: datetime,
) -> list[x509.Certificate]:
    """The chain above `certificate` (its issuer first, the self-signed root last), when
    `certificate` certifies the key `spki_der` as a CA and chains up to a root in `chain`.
    Raises ChainRefused otherwise."""
    if certificate_spki(certificate.public_bytes(Encoding.DER)) != spki_der:
        raise ChainRefused("the certificate does not certify this CA's pending key")
    _check_ca(certificate, "the certificate")
    above: list[x509.Certificate] = []
    current = certificate
    while not _self_signed(current):
        if len(above) == MAX_DEPTH:
            raise ChainRefused(f"the chain is longer than {MAX_DEPTH} certificates")
        issuer = _issuer_of(current, chain)
        _check_ca(issuer, f"the issuer {issuer.subject.rfc4514_string()!r}")
        above.append(issuer)
        current = issuer
    if not above:
        raise ChainRefused("the certificate is self-signed: it is not from a parent CA")
    for member in (certificate, *above):
        _check_validity(member, now)
    return above


def _check_ca(certificate: x509.Certificate, what: str) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.value.ca:
        raise ChainRefused(f"{what} is not a CA certificate (basicConstraints cA)")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.key_cert_sign:
        raise ChainRefused(f"{what} does not allow certificate signing (keyUsage keyCertSign)")


def _self_signed(certificate: x509.Certificate) -> bool:
    return directly_issued_by(certificate, certificate)


def _issuer_of(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate]
) -> x509.Certificate:
    """The member of `chain` that signed `certificate`."""
    named = [c for c in chain if c.subject == certificate.issuer and c != certificate]
    for candidate in named:
        if directly_issued_by(certificate, candidate):
            return candidate
    subject = certificate.subject.rfc4514_string()
    if named:
        raise ChainRefused(f"the signature of {subject!r} does not verify under its issuer's key")
    issuer = certificate.issuer.rfc4514_string()
    raise ChainRefused(f"the chain does not hold the issuer {issuer!r} of {subject!r}")


def _check_validity(certificate: x509.Certificate, now: datetime) -> None:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if not start <= now <= end:
        raise ChainRefused(
            f"{certificate.subject.rfc4514_string()!r} is not valid now "
            f"(valid from {start:%Y-%m-%d %H:%M:%S} until {end:%Y-%m-%d %H:%M:%S} UTC)"
        )
