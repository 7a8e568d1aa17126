"""Checking a CMS SignedData over a document (RFC 5652 section 5.6): what each SignerInfo's
cryptography says, with no trust decision. Bytes in, facts out, no I/O.

Whether the signer's certificate is trusted, valid at signing time and fit for the use is
the CA's business (server/confirmation/); this module says only what the signature
itself proves: which certificate it names, whether the document's digest is the signed
messageDigest, whether the signature value verifies with that certificate's key, when it
claims to have been made, and whether a CAdES signingCertificate(V2) names that certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["SignedDocument", "SignerCheck", "check_signers", "read_signed_data"]


class NotSignedData(ValueError):
    """The bytes are not a CMS ContentInfo holding SignedData (DER, BER or PEM)."""


@dataclass(frozen=True)
class SignedDocument:
    """A parsed SignedData: the encapsulated content when attached (None when detached),
    the certificates and CRLs it carries (DER), and its raw SignerInfos."""

    content: bytes | None
    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    signer_infos: tuple[object, ...]  # asn1crypto cms.SignerInfo, opaque to callers


@dataclass(frozen=True)
class SignerCheck:
    """What one SignerInfo proves.

    `certificate_der` is the certificate the sid names (RFC 5652 5.3: issuerAndSerialNumber
    or subjectKeyIdentifier), found among the SignedData's certificates or the caller's
    `known_certificates`; None when neither holds it (then `signature_valid` is None).

    `message_digest_valid`: the messageDigest attribute equals the digest of the content
    (RFC 5652 5.4, 11.2); None when there are no signed attributes. `content_type_valid`:
    the contentType attribute equals eContentType (11.1); None without signed attributes.
    `signature_valid`: the signature verifies over the DER SET OF signed attributes, or
    over the content when there are none (5.4). `signing_time`: the signingTime attribute
    (11.3), None when absent. `signing_certificate`: "absent", "match" or "mismatch" for
    ESS signingCertificate / signingCertificateV2 (RFC 2634 5.4, RFC 5035 3) against
    `certificate_der`. `unsupported`: a short reason when a digest or signature algorithm
    is not one this module knows (then the validity fields are None).
    """

    index: int
    issuer_der: bytes | None  # the sid's issuer Name (DER), None for a subjectKeyIdentifier
    serial_number: int | None
    subject_key_identifier: bytes | None
    certificate_der: bytes | None
    digest_algorithm: str  # dotted OID
    signature_algorithm: str  # dotted OID, as written
    signed_attributes: bool
    content_type_valid: bool | None
    message_digest_valid: bool | None
    signature_valid: bool | None
    signing_time: datetime | None
    signing_certificate: str
    unsupported: str | None


def read_signed_data(signature: bytes) -> SignedDocument:
    """Parse a ContentInfo with SignedData from DER, BER (indefinite lengths, as openssl
    cms writes for streaming) or PEM ("CMS", "PKCS7"). Raises NotSignedData."""
    raise NotImplementedError


def check_signers(
    signed: SignedDocument, document: bytes | None, known_certificates: Sequence[bytes] = ()
) -> list[SignerCheck]:
    """Check every SignerInfo of `signed` over `document` (the detached content), or over
    the encapsulated content when `document` is None. Raises NotSignedData when there is
    neither a document nor encapsulated content."""
    raise NotImplementedError
