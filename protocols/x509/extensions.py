"""Certificate extension builders: each returns one asn1crypto ``x509.Extension``.

Criticality follows RFC 5280 section 4.2 (and the RFC named at each builder): basicConstraints
and keyUsage are critical; the rest are not, unless the caller asks (subjectAltName with an
empty subject, RFC 5280 4.2.1.6) or a profile requires it (id-kp-timeStamping alone, RFC 3161
2.3). asn1crypto omits ``critical`` when it is FALSE, as DER requires (DEFAULT value).

The Russian extensions of Order 795 / RFC 9215 section 5 are not known to asn1crypto. Rather
than patch asn1crypto's global OID tables, their values are declared here as small
asn1crypto types, encoded, and handed over as the pre-encoded ``extn_value`` octets. A parser
that does not know them sees an OCTET STRING holding that DER, which is the X.509 rule for
unknown non-critical extensions anyway.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime

from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from protocols.der import spki_parts, tlv

__all__ = [
    "KEY_PURPOSES",
    "KEY_USAGES",
    "IdentificationKind",
    "IssuerSignTool",
    "authority_information_access",
    "authority_key_identifier",
    "basic_constraints",
    "certificate_policies",
    "crl_distribution_points",
    "extended_key_usage",
    "freshest_crl",
    "identification_kind",
    "issuer_sign_tool",
    "key_identifier",
    "key_usage",
    "ocsp_no_check",
    "private_key_usage_period",
    "subject_alt_name",
    "subject_key_identifier",
    "subject_sign_tool",
]

# RFC 9215 sections 5.1, 5.3, 5.4 and its ASN.1 module RuStrongCertsSyntax {1 2 643 7 1 0 6}.
ID_SUBJECT_SIGN_TOOL = "1.2.643.100.111"
ID_ISSUER_SIGN_TOOL = "1.2.643.100.112"
ID_IDENTIFICATION_KIND = "1.2.643.100.114"

KEY_USAGES = frozenset(
    {
        "digital_signature",
        "non_repudiation",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    }
)

# RFC 5280 4.2.1.12, RFC 6960 4.2.2.2 (id-kp-OCSPSigning), RFC 3161 2.3 (id-kp-timeStamping).
KEY_PURPOSES = {
    "server_auth": "1.3.6.1.5.5.7.3.1",
    "client_auth": "1.3.6.1.5.5.7.3.2",
    "code_signing": "1.3.6.1.5.5.7.3.3",
    "email_protection": "1.3.6.1.5.5.7.3.4",
    "time_stamping": "1.3.6.1.5.5.7.3.8",
    "ocsp_signing": "1.3.6.1.5.5.7.3.9",
}


def _extension(oid: str, value: object, critical: bool = False) -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": oid, "critical": critical, "extn_value": value})


def _utf8(field: str, text: str, upper: int) -> core.UTF8String:
    if not isinstance(text, str) or not 1 <= len(text) <= upper:
        raise ValueError(f"{field} must be 1..{upper} characters")
    return core.UTF8String(text)


def _ia5(field: str, text: str) -> str:
    if not text or not text.isascii() or any(c.isspace() or ord(c) < 0x20 for c in text):
        raise ValueError(f"{field} must be non-empty ASCII without spaces: {text!r}")
    return text


def _utc(field: str, moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{field} must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


_SKI_OID = b"\x06\x03\x55\x1d\x0e"  # id-ce-subjectKeyIdentifier, 2.5.29.14


def basic_constraints(ca: bool, path_len: int | None = None) -> asn1_x509.Extension:
    """basicConstraints, critical (RFC 5280 4.2.1.9: MUST be critical in CA certificates;
    MAY be in others). ``path_len`` only with ``ca=True``."""
    if path_len is not None and (not ca or path_len < 0):
        raise ValueError("path_len needs ca=True and must not be negative")
    value: dict[str, object] = {"ca": ca}
    if path_len is not None:
        value["path_len_constraint"] = path_len
    return _extension("basic_constraints", value, critical=True)


def key_usage(names: Iterable[str]) -> asn1_x509.Extension:
    """keyUsage, critical (RFC 5280 4.2.1.3: SHOULD be critical). ``names`` in asn1crypto's
    spelling: digital_signature, non_repudiation, key_encipherment, data_encipherment,
    key_agreement, key_cert_sign, crl_sign (encipher_only/decipher_only need key_agreement).
    Raises ValueError on an unknown or empty set."""
    wanted = set(names)
    if not wanted:
        raise ValueError("keyUsage needs at least one bit (RFC 5280 4.2.1.3)")
    unknown = wanted - KEY_USAGES
    if unknown:
        raise ValueError(f"unknown key usage {sorted(unknown)}")
    if wanted & {"encipher_only", "decipher_only"} and "key_agreement" not in wanted:
        raise ValueError("encipher_only/decipher_only need key_agreement")
    return _extension("key_usage", wanted, critical=True)


def extended_key_usage(
    purposes: Iterable[str], critical: bool | None = None
) -> asn1_x509.Extension:
    """extKeyUsage (RFC 5280 4.2.1.12) from asn1crypto names (server_auth, client_auth,
    email_protection, ocsp_signing, code_signing, time_stamping...) or dotted OIDs.

    Not critical, except that id-kp-timeStamping alone is made critical (RFC 3161 2.3)
    unless ``critical`` says otherwise. Raises ValueError on an unknown name."""
    oids: list[str] = []
    for purpose in purposes:
        oid = KEY_PURPOSES.get(purpose, purpose)
        if not _is_dotted(oid):
            raise ValueError(f"unknown extended key usage {purpose!r}")
        oids.append(oid)
    if not oids:
        raise ValueError("extKeyUsage needs at least one purpose")
    if critical is None:
        critical = oids == [KEY_PURPOSES["time_stamping"]]
    return _extension("extended_key_usage", oids, critical=critical)


def _is_dotted(text: str) -> bool:
    parts = text.split(".")
    return len(parts) >= 2 and all(p.isdigit() and p.isascii() for p in parts)


def key_identifier(spki_der: bytes) -> bytes:
    """RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value
    (without tag, length and unused-bits octet). 20 octets."""
    parts = spki_parts(spki_der)
    if parts is not None:
        contents = parts[1]
    else:  # not plain DER: read as a SEQUENCE { AlgorithmIdentifier, BIT STRING } by asn1crypto
        fields = core.Sequence.load(spki_der)
        if len(fields) != 2:
            raise ValueError("not a SubjectPublicKeyInfo")
        algorithm, bits = fields[0], fields[1]
        if not isinstance(algorithm, core.Sequence) or not isinstance(bits, core.BitString):
            raise ValueError("not a SubjectPublicKeyInfo")
        contents = bits.contents
    if not contents or contents[0] != 0:
        raise ValueError("subjectPublicKey must have no unused bits")
    return hashlib.sha1(contents[1:]).digest()


def subject_key_identifier(spki_der: bytes) -> asn1_x509.Extension:
    """subjectKeyIdentifier (RFC 5280 4.2.1.2), not critical, from :func:`key_identifier`.

    Read from its DER, joined here: Extension { extnID, extnValue OCTET STRING holding the
    KeyIdentifier OCTET STRING } (critical FALSE is left out, its DEFAULT). Every
    certificate has one of its own, and asn1crypto took about 20 µs to build it."""
    key_id = key_identifier(spki_der)
    return asn1_x509.Extension.load(tlv(0x30, _SKI_OID + tlv(0x04, tlv(0x04, key_id))))


def authority_key_identifier(key_id: bytes) -> asn1_x509.Extension:
    """authorityKeyIdentifier with keyIdentifier only (RFC 5280 4.2.1.1), not critical.
    ``key_id`` is the issuer's subjectKeyIdentifier (for a self-signed CA: its own)."""
    if not key_id:
        raise ValueError("empty key identifier")
    return _extension("authority_key_identifier", {"key_identifier": key_id})


def subject_alt_name(
    dns: Iterable[str] = (),
    ips: Iterable[str | ipaddress.IPv4Address | ipaddress.IPv6Address] = (),
    emails: Iterable[str] = (),
    critical: bool = False,
) -> asn1_x509.Extension:
    """subjectAltName (RFC 5280 4.2.1.6): dNSName, iPAddress, rfc822Name entries in that
    order. Make it ``critical`` when the subject is empty. Raises ValueError if empty or on
    a non-ASCII name (IDNs must be given as A-labels) or a bad IP address."""
    general: list[asn1_x509.GeneralName] = []
    for name in dns:
        general.append(asn1_x509.GeneralName({"dns_name": _ia5("dNSName", name)}))
    for address in ips:
        text = str(ipaddress.ip_address(address))
        general.append(asn1_x509.GeneralName({"ip_address": text}))
    for email in emails:
        if "@" not in email:
            raise ValueError(f"rfc822Name needs a local part and a domain: {email!r}")
        general.append(asn1_x509.GeneralName({"rfc822_name": _ia5("rfc822Name", email)}))
    if not general:
        raise ValueError("subjectAltName needs at least one name (RFC 5280 4.2.1.6)")
    return _extension("subject_alt_name", general, critical=critical)


def _uri(url: str) -> asn1_x509.GeneralName:
    return asn1_x509.GeneralName({"uniform_resource_identifier": _ia5("URI", url)})


def crl_distribution_points(urls: Iterable[str]) -> asn1_x509.Extension:
    """cRLDistributionPoints (RFC 5280 4.2.1.13), not critical: one DistributionPoint whose
    fullName lists the URLs (the same CRL at each), no reasons, no cRLIssuer."""
    return _extension("crl_distribution_points", _distribution_points(urls))


def freshest_crl(urls: Iterable[str]) -> asn1_x509.Extension:
    """freshestCRL (RFC 5280 4.2.1.15), not critical: where the delta CRLs are; the same
    syntax as cRLDistributionPoints."""
    return _extension("freshest_crl", _distribution_points(urls))


def _distribution_points(urls: Iterable[str]) -> list[dict[str, object]]:
    names = [_uri(url) for url in urls]
    if not names:
        raise ValueError("a distribution point needs at least one URL")
    return [{"distribution_point": {"full_name": names}}]


def authority_information_access(
    ocsp_urls: Iterable[str] = (), ca_issuers_urls: Iterable[str] = ()
) -> asn1_x509.Extension:
    """authorityInfoAccess (RFC 5280 4.2.2.1), not critical: id-ad-ocsp then id-ad-caIssuers."""
    descriptions = [
        {"access_method": "ocsp", "access_location": _uri(url)} for url in ocsp_urls
    ] + [{"access_method": "ca_issuers", "access_location": _uri(url)} for url in ca_issuers_urls]
    if not descriptions:
        raise ValueError("authorityInfoAccess needs at least one URL")
    return _extension("authority_information_access", descriptions)


def certificate_policies(oids: Iterable[str]) -> asn1_x509.Extension:
    """certificatePolicies (RFC 5280 4.2.1.4), not critical, PolicyInformation without
    qualifiers. Russian classes of signature tool (RFC 9215 5.2): 1.2.643.100.113.1 КС1,
    .2 КС2, .3 КС3, .4 КВ1, .5 КВ2, .6 КА1; RFC 9215 says to list them from KC1 up to the
    strongest class that applies (not enforced here). Order 795: clause not verified against
    the text. Raises ValueError on a non-OID or a repeated OID."""
    policies = list(oids)
    if not policies or len(set(policies)) != len(policies):
        raise ValueError("certificatePolicies needs distinct policy OIDs")
    for oid in policies:
        if oid != "any_policy" and not _is_dotted(oid):
            raise ValueError(f"not a policy OID: {oid!r}")
    return _extension("certificate_policies", [{"policy_identifier": oid} for oid in policies])


def private_key_usage_period(
    not_before: datetime | None, not_after: datetime | None
) -> asn1_x509.Extension:
    """privateKeyUsagePeriod (2.5.29.16), NOT critical: RFC 2459 and RFC 3280 4.2.1.4 say CAs
    MUST NOT mark it critical, with at least one of the two fields present; RFC 5280 dropped
    it from its profile and keeps only the ASN.1. [0] and [1] GeneralizedTime, UTC, whole
    seconds (microseconds are dropped). Russian CAs state the private key's lifetime here
    (RFC 9215 section 8: typically 15 months for GOST R 34.10-2012). Order 795: clause not
    verified against the text."""
    value: dict[str, datetime] = {}
    if not_before is not None:
        value["not_before"] = _utc("not_before", not_before)
    if not_after is not None:
        value["not_after"] = _utc("not_after", not_after)
    if not value:
        raise ValueError("privateKeyUsagePeriod needs notBefore or notAfter")
    if len(value) == 2 and value["not_before"] > value["not_after"]:
        raise ValueError("privateKeyUsagePeriod ends before it starts")
    return _extension("private_key_usage_period", value)


def ocsp_no_check() -> asn1_x509.Extension:
    """id-pkix-ocsp-nocheck (1.3.6.1.5.5.7.48.1.5), value NULL, not critical
    (RFC 6960 4.2.2.2.1: for a delegated OCSP responder's certificate)."""
    return _extension("ocsp_no_check", core.Null())


# --- Russian extensions, RFC 9215 section 5 / Order 795 of the FSB --------------------


class IssuerSignTool(core.Sequence):
    """IssuerSignTool ::= SEQUENCE { signTool UTF8String SIZE(1..200), cATool UTF8String
    SIZE(1..200), signToolCert UTF8String SIZE(1..100), cAToolCert UTF8String SIZE(1..100) }
    (RFC 9215 5.4 and its module; Order 795: clause not verified against the text)."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("sign_tool", core.UTF8String),
        ("ca_tool", core.UTF8String),
        ("sign_tool_cert", core.UTF8String),
        ("ca_tool_cert", core.UTF8String),
    ]


class IdentificationKind(enum.IntEnum):
    """IdentificationKind ::= INTEGER { personal(0), remote-cert(1), remote-passport(2),
    remote-system(3) } (RFC 9215 5.1 and its module): how the holder was identified.
    RFC 9215 lists it among the DN additions; it is issued here as an extension, as
    certificates in practice carry it. Order 795 (as amended): clause not verified."""

    PERSONAL = 0  # in person
    REMOTE_CERT = 1  # remotely, with a valid qualified e-signature
    REMOTE_PASSPORT = 2  # remotely, biometric passport
    REMOTE_SYSTEM = 3  # remotely, ESIA + unified biometric system


def subject_sign_tool(text: str) -> asn1_x509.Extension:
    """subjectSignTool 1.2.643.100.111, UTF8String SIZE(1..200), not critical (RFC 9215 5.3):
    the holder's e-signature tool, e.g. "СКЗИ «КриптоПро CSP» (версия 4.0)". Order 795: clause
    not verified against the text. Raises ValueError."""
    return _extension(ID_SUBJECT_SIGN_TOOL, _utf8("subjectSignTool", text, 200).dump())


def issuer_sign_tool(
    sign_tool: str, ca_tool: str, sign_tool_cert: str, ca_tool_cert: str
) -> asn1_x509.Extension:
    """issuerSignTool 1.2.643.100.112, not critical (RFC 9215 5.4): the CA's signature tool
    and CA tool and their conformance certificates (sizes 200/200/100/100). Order 795: clause
    not verified against the text. Raises ValueError."""
    value = IssuerSignTool(
        {
            "sign_tool": _utf8("signTool", sign_tool, 200),
            "ca_tool": _utf8("cATool", ca_tool, 200),
            "sign_tool_cert": _utf8("signToolCert", sign_tool_cert, 100),
            "ca_tool_cert": _utf8("cAToolCert", ca_tool_cert, 100),
        }
    )
    return _extension(ID_ISSUER_SIGN_TOOL, value.dump())


def identification_kind(kind: int) -> asn1_x509.Extension:
    """identificationKind 1.2.643.100.114, INTEGER 0..3 (:class:`IdentificationKind`), not
    critical (RFC 9215 5.1 gives no criticality; see the class). Raises ValueError outside
    0..3."""
    try:
        value = IdentificationKind(kind)
    except ValueError:
        raise ValueError(f"identificationKind must be 0..3, not {kind!r}") from None
    return _extension(ID_IDENTIFICATION_KIND, core.Integer(int(value)).dump())
