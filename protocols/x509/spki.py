"""The SubjectPublicKeyInfo of a certificate or a PKCS#10 request, DER, as it carries it:
read for every key, GOST R 34.10-2012's included, which `cryptography`'s `public_key()`
refuses (reference/ru-profile.md 6.2)."""

from __future__ import annotations

from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509

__all__ = ["certificate_spki", "request_spki"]


def certificate_spki(certificate_der: bytes) -> bytes:
    """The certificate's SubjectPublicKeyInfo, DER, as it carries it: read for any key,
    GOST's included, which `cryptography`'s `public_key()` refuses. Raises ValueError for
    DER that is not a certificate."""
    try:
        tbs = asn1_x509.Certificate.load(certificate_der)["tbs_certificate"]
        return bytes(tbs["subject_public_key_info"].dump())
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a certificate ({exc})") from None


def request_spki(request_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo, DER, of a PKCS#10 request (RFC 2986 4.1), for any key.
    Raises ValueError for DER that is not a request."""
    try:
        info = asn1_csr.CertificationRequest.load(request_der)["certification_request_info"]
        return bytes(info["subject_pk_info"].dump())
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a PKCS#10 request ({exc})") from None
