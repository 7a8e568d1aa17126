"""Whether a signed X.509 structure (a certificate, a CRL, a PKCS#10 request: RFC 5280
SIGNED{}, SEQUENCE { toBeSigned, AlgorithmIdentifier, BIT STRING }) was signed by a key,
for every algorithm this CA signs or accepts, GOST R 34.10-2012 included.

`cryptography` checks signatures only with keys it can load, and it loads no GOST key
(reference/ru-profile.md 6.2): its `verify_directly_issued_by` and `is_signature_valid`
raise on a GOST CA. The CA's own checks of what it signed go through here instead, with
the key as a DER SubjectPublicKeyInfo and the octets cut out of the DER as they were signed.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols import der
from protocols.x509.signatures import signature_valid
from protocols.x509.spki import certificate_spki

__all__ = ["directly_issued_by", "signed_by"]


def signed_by(signed_der: bytes, spki_der: bytes) -> bool:
    """Whether the signature of `signed_der` verifies over its toBeSigned octets with the
    key `spki_der`, under the algorithm it names. False for a structure that is not
    SIGNED{} DER, a wrong signature, or an algorithm the key cannot sign with."""
    try:
        parts = der.elements(signed_der)
    except der.DERError:
        return False
    if [tag for tag, _ in parts] != [0x30, 0x30, 0x03]:
        return False
    (_, tbs), (_, algorithm), (_, bits) = parts
    try:
        contents = der.contents(bits)
    except der.DERError:
        return False
    if not contents or contents[0] != 0:  # no unused bits in a signature (RFC 5280 4.1.1.3)
        return False
    try:
        return signature_valid(spki_der, algorithm, tbs, contents[1:])
    except ValueError:
        return False


def directly_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """What `cryptography`'s `verify_directly_issued_by` checks, for every key: the
    certificate names `issuer`'s subject as its issuer and its signature verifies with
    `issuer`'s key."""
    if certificate.issuer != issuer.subject:
        return False
    issuer_spki = certificate_spki(issuer.public_bytes(Encoding.DER))
    return signed_by(certificate.public_bytes(Encoding.DER), issuer_spki)
