"""The rules a confirmation applies to a certificate and its path, and the facts a report
states about them: what the signature proves (RFC 5652), the time of signing and its proof,
validity (RFC 5280 4.1.2.5), use (4.2.1.3, 4.2.1.9, 4.2.1.12), the CA certificates of the
path (6.1.3, 6.1.4). Pure: certificates in, causes and facts out
(server/confirmation/checker.py applies them)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from protocols.cms.signed_check import SignerCheck
from server.confirmation.report import Cause
from server.confirmation.trust import KnownCA
from server.serials import serial_text

E = TypeVar("E", bound=x509.ExtensionType)

# Extended key usages that allow signing documents: any, e-mail protection (S/MIME, RFC
# 8550), document signing (RFC 9336) and Microsoft's document signing.
SIGNING_PURPOSES = frozenset(
    {
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string,
        ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string,
        "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning, RFC 9336
        "1.3.6.1.4.1.311.10.3.12",  # szOID_KP_DOCUMENT_SIGNING
    }
)


def unproven_time(
    certificate: x509.Certificate,
    now: datetime,
    status_then: dict[str, object],
    status_now: dict[str, object],
) -> list[Cause]:
    """A signingTime is what the signer wrote (RFC 5652 11.3: "purportedly"): whoever holds
    a compromised or expired key can write one from before. When the certificate is no
    longer good now, only a signature timestamp proves the signature older than that; without
    one the verdict cannot be "valid" (ETSI EN 319 102-1: no proof of existence)."""
    trouble = None
    if now > certificate.not_valid_after_utc:
        trouble = f"expired at {certificate.not_valid_after_utc.isoformat()}"
    elif status_now.get("status") in ("revoked", "suspended"):
        trouble = f"{status_now['status']} now"
    elif status_then.get("later") in ("revoked", "suspended"):
        trouble = f"{status_then['later']} after the signingTime"
    if trouble is None:
        return []
    text = (f"the certificate is {trouble}; the signingTime before it is the signer's claim, "
            "not proven by a signature timestamp")  # fmt: skip
    return [Cause("signing_time_unproven", text, indeterminate=True)]


def cryptographic_causes(check: SignerCheck) -> list[Cause]:
    causes = []
    if check.content_type_valid is False:
        causes.append(
            Cause(
                "content_type_mismatch",
                "the contentType attribute differs from the signed content's type",
            )
        )
    if check.message_digest_valid is False:
        causes.append(
            Cause(
                "bad_digest",
                "the document is not the one signed: its digest differs from messageDigest",
            )
        )
    if check.signature_valid is False:
        causes.append(
            Cause("bad_signature", "the signature value does not verify with the certificate's key")
        )
    if check.signing_certificate == "mismatch":
        causes.append(
            Cause(
                "signing_certificate_mismatch",
                "the signingCertificate attribute names another certificate",
            )
        )
    return causes


def validity_causes(certificate: x509.Certificate, at: datetime, when: str) -> list[Cause]:
    if at < certificate.not_valid_before_utc:
        code = "not_yet_valid_at_signing" if when == "at signing" else "not_yet_valid"
        return [
            Cause(
                code,
                f"the certificate is valid from {certificate.not_valid_before_utc.isoformat()}",
            )
        ]
    if at > certificate.not_valid_after_utc:
        code = "expired_at_signing" if when == "at signing" else "expired"
        return [
            Cause(code, f"the certificate expired at {certificate.not_valid_after_utc.isoformat()}")
        ]
    return []


def usage_causes(certificate: x509.Certificate) -> list[Cause]:
    """V1: the use matches the certificate (RFC 5280 4.2.1.3, 4.2.1.12): an end entity's
    key for signatures; a CA's key certifies (4.2.1.9), it does not sign documents."""
    causes = []
    constraints = extension(certificate.extensions, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        causes.append(Cause("ca_certificate_as_signer", "a CA certificate does not sign documents"))
    usage = extension(certificate.extensions, x509.KeyUsage)
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        text = "keyUsage allows neither digitalSignature nor nonRepudiation"
        causes.append(Cause("wrong_key_usage", text))
    purposes = _extended_key_usage(certificate)
    if purposes is not None and not SIGNING_PURPOSES & set(purposes):
        causes.append(
            Cause(
                "wrong_extended_key_usage",
                f"extendedKeyUsage {', '.join(purposes)} does not allow signing documents",
            )
        )
    return causes


def path_causes(path: Sequence[KnownCA], at: datetime) -> list[Cause]:
    """RFC 5280 6.1.3/6.1.4 for the CA certificates below the anchor, at the signing time:
    valid then, a CA allowed to sign certificates, within path length limits; and none of
    this CA's own certificates revoked by a compromise by then."""
    causes = []
    for position, ca in enumerate(path):
        name = ca.certificate.subject.rfc4514_string()
        if ca.revoked_at is not None and ca.revoked_at <= at:
            causes.append(
                Cause(
                    "ca_revoked_before_signing",
                    f"CA certificate {name} ({ca.source}) revoked at {ca.revoked_at.isoformat()}",
                )
            )
        if ca.anchor:
            continue
        if not (ca.certificate.not_valid_before_utc <= at <= ca.certificate.not_valid_after_utc):
            causes.append(
                Cause(
                    "ca_not_valid_at_signing",
                    f"CA certificate {name} ({ca.source}) was not valid at {at.isoformat()}",
                )
            )
        constraints = extension(ca.certificate.extensions, x509.BasicConstraints)
        below = sum(
            1 for lower in path[:position] if lower.certificate.subject != lower.certificate.issuer
        )
        if constraints is None or not constraints.ca:
            causes.append(Cause("untrusted_chain", f"{name} ({ca.source}) is not a CA certificate"))
        elif constraints.path_length is not None and below > constraints.path_length:
            causes.append(Cause("untrusted_chain", f"the path exceeds {name}'s pathLenConstraint"))
        usage = extension(ca.certificate.extensions, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:  # RFC 5280 6.1.4 (n)
            causes.append(Cause("untrusted_chain", f"{name}'s keyUsage lacks keyCertSign"))
    return causes


def extension(extensions: x509.Extensions, kind: type[E]) -> E | None:
    """The value of the extension of `kind` among a certificate's, a CRL's or a CRL entry's
    `extensions`, None when there is none."""
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _extended_key_usage(certificate: x509.Certificate) -> list[str] | None:
    purposes = extension(certificate.extensions, x509.ExtendedKeyUsage)
    return None if purposes is None else [oid.dotted_string for oid in purposes]


def certificate_summary(certificate: x509.Certificate, der: bytes) -> dict[str, object]:
    """The facts a report states about a certificate."""
    usage = extension(certificate.extensions, x509.KeyUsage)
    policies = extension(certificate.extensions, x509.CertificatePolicies)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": serial_text(certificate.serial_number),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(der).hexdigest(),
        "key_usage": None if usage is None else [n for n in _KEY_USAGE_NAMES if getattr(usage, n)],
        "extended_key_usage": _extended_key_usage(certificate),
        "policies": [p.policy_identifier.dotted_string for p in policies or ()],
    }


_KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def ca_facts(ca: KnownCA) -> dict[str, object]:
    return {
        "subject": ca.certificate.subject.rfc4514_string(),
        "serial": serial_text(ca.certificate.serial_number),
        "not_before": ca.certificate.not_valid_before_utc.isoformat(),
        "not_after": ca.certificate.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(ca.der).hexdigest(),
        "source": ca.source,
    }


def file_facts(data: bytes) -> dict[str, object]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
