"""A signature timestamp (RFC 3161 Appendix A, id-aa-signatureTimeStampToken): a time-stamping
authority's attestation that a SignerInfo's signature value existed at its genTime. When it
holds, that time, not the signingTime the signer wrote, is the time of signing.

The token is a SignedData over a TSTInfo (RFC 3161 2.4.2) and is checked as the document's
signature is (protocols.cms.signed_check): its one SignerInfo verifies, its messageImprint
is the hash of the stamped signature value, its signer's certificate has extendedKeyUsage
id-kp-timeStamping alone and critical (2.3), chains to a trusted CA and was valid at
genTime. Its status at genTime is the caller's to look up, like any certificate's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from protocols.cms.signed_check import (
    NotSignedData,
    check_signers,
    digest_by_oid,
    read_signed_data,
)
from server.confirmation.report import Cause
from server.confirmation.trust import KnownCA, TrustedCAs

ID_CT_TSTINFO = "1.2.840.113549.1.9.16.1.4"  # RFC 3161 2.4.2


@dataclass(frozen=True)
class StampCheck:
    """`time` is genTime when every check passed, else None and `causes` say why."""

    time: datetime | None
    causes: list[Cause]
    facts: dict[str, object] = field(default_factory=dict)
    certificate: x509.Certificate | None = None
    certificate_der: bytes = b""
    path: tuple[KnownCA, ...] = ()


def check_timestamp(token: bytes, signature_value: bytes, trusted: TrustedCAs) -> StampCheck:
    try:
        signed = read_signed_data(token)
    except NotSignedData as exc:
        return _refused(f"not a timestamp token: {exc}")
    if signed.content_type != ID_CT_TSTINFO or signed.content is None:
        return _refused("the token holds no TSTInfo")
    try:
        info = tsp.TSTInfo.load(signed.content, strict=True)
        gen_time = info["gen_time"].native
        imprint = info["message_imprint"]
        hash_oid = imprint["hash_algorithm"]["algorithm"].dotted
        stamped = imprint["hashed_message"].native
        policy = info["policy"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        return _refused(f"its TSTInfo does not parse: {exc}")
    if gen_time.tzinfo is None:  # RFC 3161 2.4.2: genTime is UTC, written with its Z
        return _refused("its genTime names no time zone")
    facts: dict[str, object] = {"time": gen_time.isoformat(), "policy": policy}
    if digest_by_oid(hash_oid, signature_value) != stamped:
        return _refused("it stamps other data than this signature's value", facts)
    checks = check_signers(signed, None)
    tsa_der = checks[0].certificate_der if len(checks) == 1 else None
    if tsa_der is None:
        return _refused("it has not exactly one signer whose certificate it carries", facts)
    (check,) = checks
    if not (check.signature_valid and check.message_digest_valid and check.content_type_valid):
        return _refused("the TSA's signature does not verify", facts)
    if check.signing_certificate != "match":  # RFC 3161 2.4.1: ESS signingCertificate(V2)
        return _refused(
            "its signingCertificate attribute does not name the TSA's certificate", facts
        )
    certificate = x509.load_der_x509_certificate(tsa_der)
    facts |= {
        "tsa": certificate.subject.rfc4514_string(),
        "tsa_serial": format(certificate.serial_number, "x"),
    }
    if not _time_stamping_only(certificate):
        return _refused(
            "the TSA's certificate lacks a critical extendedKeyUsage of id-kp-timeStamping alone",
            facts,
        )
    if not certificate.not_valid_before_utc <= gen_time <= certificate.not_valid_after_utc:
        return _refused("the TSA's certificate was not valid at genTime", facts)
    path = trusted.path(certificate)
    if path is None:
        return _refused("the TSA's certificate does not chain to a CA trusted here", facts)
    facts["tsa_chain"] = [ca.source for ca in path]
    return StampCheck(gen_time, [], facts, certificate, tsa_der, path)


def _time_stamping_only(certificate: x509.Certificate) -> bool:
    """RFC 3161 2.3: the TSA's certificate MUST have one instance of extendedKeyUsage, critical,
    with id-kp-timeStamping as its only purpose."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return False
    return extension.critical and list(extension.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def _refused(text: str, facts: dict[str, object] | None = None) -> StampCheck:
    return StampCheck(None, [Cause("bad_timestamp", f"signature timestamp: {text}")], facts or {})
