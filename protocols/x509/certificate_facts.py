"""What a paper copy of a certificate states, read from the certificate's DER: the
attributes the regulation's section 8.3 lists (SEED-MAP V4) and the thumbprints.

Theory of operation. The certificate is read with asn1crypto, which knows GOST R 34.10-2012
keys once protocols.gost has registered them (`cryptography` refuses to load those). The
subject is read as (attribute, value) pairs by protocols.x509.names; the holder's kind
follows from the Russian identifiers it carries (OGRNIP: a sole proprietor; OGRN or INNLE:
a legal entity; SNILS: an individual). The public key is described by protocols.gost for a
GOST key and by asn1crypto for the others. The Russian extensions (RFC 9215 section 5),
unknown to asn1crypto, are decoded from their octets here. Nothing is translated: the
labels and the language of the paper are the renderer's business.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from asn1crypto import core, keys
from asn1crypto import x509 as asn1_x509

from protocols import gost
from protocols.x509.csr import key_description
from protocols.x509.extensions import (
    ID_IDENTIFICATION_KIND,
    ID_ISSUER_SIGN_TOOL,
    ID_SUBJECT_SIGN_TOOL,
    IdentificationKind,
    IssuerSignTool,
)
from protocols.x509.names import attributes_of

__all__ = ["CertificateFacts", "HolderKind", "KeyFacts", "certificate_facts"]

HolderKind = Literal["individual", "sole_proprietor", "legal_entity", "other"]
_ADDRESS = ("street", "L", "ST", "C")  # most specific first, as an address is written
_HOLDER_ATTRIBUTES = frozenset(
    {"CN", "SN", "GN", "O", "SNILS", "INN", "INNLE", "OGRN", "OGRNIP", *_ADDRESS}
)

# RFC 8410 3: a key's octets (32 and 57) as bits.
_EDDSA_BITS = {"ed25519": 256, "ed448": 456}
_EDDSA_NAMES = {"ed25519": "Ed25519", "ed448": "Ed448"}


@dataclass(frozen=True)
class KeyFacts:
    """The public key: `algorithm` ("GOST R 34.10-2012", "EC", "RSA", "Ed25519"), its OID,
    `parameters` (the curve or GOST parameter set, None for RSA and EdDSA) with its OID,
    `size_bits`, `short_name` (protocols.x509.csr.key_description, or None for a key the CA
    does not issue for), and `value`: the subjectPublicKey BIT STRING's octets."""

    algorithm: str
    algorithm_oid: str
    parameters: str | None
    parameters_oid: str | None
    size_bits: int
    short_name: str | None
    value: bytes


@dataclass(frozen=True)
class CertificateFacts:
    serial: int
    not_before: datetime
    not_after: datetime
    subject: tuple[tuple[str, str], ...]  # RFC 4514 order, protocols.x509.names
    holder_kind: HolderKind
    full_name: str | None  # "SN GN" of a person, else CN
    organisation: str | None
    address: str | None
    snils: str | None
    inn: str | None  # a natural person's INN (12 digits), 1.2.643.3.131.1.1
    innle: str | None  # a legal entity's INN (10 digits), 1.2.643.100.4
    ogrn: str | None
    ogrnip: str | None
    other_subject: tuple[tuple[str, str], ...]  # title, OU, e-mail, ...: the rest
    key: KeyFacts
    issuer: tuple[tuple[str, str], ...]
    authority_key_id: bytes | None
    signature_algorithm: str  # the OID's dotted form, or asn1crypto's name for it
    key_usage: tuple[str, ...]  # asn1crypto's names: "digital_signature", ...
    extended_key_usage: tuple[str, ...]  # dotted OIDs
    policies: tuple[str, ...]  # dotted OIDs
    private_key_not_before: datetime | None
    private_key_not_after: datetime | None
    subject_sign_tool: str | None
    issuer_sign_tool: tuple[str, str, str, str] | None  # signTool, cATool, their certificates
    identification_kind: IdentificationKind | None
    sha1: bytes
    sha256: bytes


def certificate_facts(certificate_der: bytes) -> CertificateFacts:
    """The facts of a DER certificate. Raises ValueError for DER that is not a certificate
    or whose names, key or extensions do not decode."""
    try:
        certificate = asn1_x509.Certificate.load(certificate_der, strict=True)
        return _facts(certificate_der, certificate)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"not a certificate ({exc})") from None


def _facts(der: bytes, certificate: asn1_x509.Certificate) -> CertificateFacts:
    tbs = certificate["tbs_certificate"]
    subject = tuple(attributes_of(tbs["subject"]))
    found = dict(reversed(subject))  # the first (most specific) of a repeated attribute
    usage_period = certificate.private_key_usage_period_value
    key_usage = certificate.key_usage_value
    holder_kind: HolderKind = (
        "sole_proprietor" if "OGRNIP" in found
        else "legal_entity" if "OGRN" in found or "INNLE" in found
        else "individual" if "SNILS" in found
        else "other"
    )  # fmt: skip
    person = " ".join(found[a] for a in ("SN", "GN") if a in found)
    located = any(a in found for a in ("street", "L", "ST"))  # a country alone is no address
    address = ", ".join(found[a] for a in _ADDRESS if a in found) if located else ""
    return CertificateFacts(
        serial=int(tbs["serial_number"].native),
        not_before=tbs["validity"]["not_before"].native,
        not_after=tbs["validity"]["not_after"].native,
        subject=subject,
        holder_kind=holder_kind,
        full_name=person or found.get("CN"),
        organisation=found.get("O"),
        address=address or None,
        snils=found.get("SNILS"),
        inn=found.get("INN"),
        innle=found.get("INNLE"),
        ogrn=found.get("OGRN"),
        ogrnip=found.get("OGRNIP"),
        other_subject=tuple(p for p in subject if p[0] not in _HOLDER_ATTRIBUTES),
        key=_key(bytes(tbs["subject_public_key_info"].dump())),
        issuer=tuple(attributes_of(tbs["issuer"])),
        authority_key_id=certificate.authority_key_identifier,
        signature_algorithm=tbs["signature"]["algorithm"].dotted,
        key_usage=tuple(sorted(key_usage.native)) if key_usage else (),
        extended_key_usage=tuple(p.dotted for p in certificate.extended_key_usage_value or ()),
        policies=tuple(
            p["policy_identifier"].dotted for p in certificate.certificate_policies_value or ()
        ),
        private_key_not_before=usage_period["not_before"].native if usage_period else None,
        private_key_not_after=usage_period["not_after"].native if usage_period else None,
        subject_sign_tool=_subject_sign_tool(tbs),
        issuer_sign_tool=_issuer_sign_tool(tbs),
        identification_kind=_identification_kind(tbs),
        sha1=hashlib.sha1(der).digest(),  # the thumbprint people compare; not a security use
        sha256=hashlib.sha256(der).digest(),
    )


def _octets(tbs: asn1_x509.TbsCertificate, oid: str) -> bytes | None:
    """The extnValue octets of an extension asn1crypto does not know."""
    for extension in tbs["extensions"]:
        if extension["extn_id"].dotted == oid:
            return bytes(extension["extn_value"].contents)
    return None


def _subject_sign_tool(tbs: asn1_x509.TbsCertificate) -> str | None:
    octets = _octets(tbs, ID_SUBJECT_SIGN_TOOL)
    return None if octets is None else str(core.UTF8String.load(octets, strict=True).native)


def _issuer_sign_tool(tbs: asn1_x509.TbsCertificate) -> tuple[str, str, str, str] | None:
    octets = _octets(tbs, ID_ISSUER_SIGN_TOOL)
    if octets is None:
        return None
    value = IssuerSignTool.load(octets, strict=True).native
    return (value["sign_tool"], value["ca_tool"], value["sign_tool_cert"], value["ca_tool_cert"])


def _identification_kind(tbs: asn1_x509.TbsCertificate) -> IdentificationKind | None:
    octets = _octets(tbs, ID_IDENTIFICATION_KIND)
    return None if octets is None else IdentificationKind(core.Integer.load(octets).native)


def _key(spki_der: bytes) -> KeyFacts:
    """KeyFacts of a SubjectPublicKeyInfo. Raises ValueError."""
    info = keys.PublicKeyInfo.load(spki_der)
    algorithm = info["algorithm"]
    value = bytes(info["public_key"].contents[1:])  # the BIT STRING's octets, unused-bits byte off
    try:
        short_name: str | None = key_description(spki_der)
    except ValueError:
        short_name = None
    if gost.is_gost_spki(spki_der):
        key = gost.read_spki(spki_der)
        return KeyFacts("GOST R 34.10-2012", algorithm["algorithm"].dotted,
                        key.parameter_set.title, key.parameter_set.oid, key.key_size,
                        short_name, value)  # fmt: skip
    kind = info.algorithm
    if kind == "ec":
        curve = algorithm["parameters"].chosen
        named = curve.native if isinstance(curve, core.ObjectIdentifier) else None
        return KeyFacts("EC", algorithm["algorithm"].dotted, named,
                        curve.dotted if named else None, info.bit_size, short_name,
                        value)  # fmt: skip
    if kind in _EDDSA_BITS:  # asn1crypto's bit_size knows no EdDSA key
        return KeyFacts(_EDDSA_NAMES[kind], algorithm["algorithm"].dotted, None, None,
                        _EDDSA_BITS[kind], short_name, value)  # fmt: skip
    name = {"rsa": "RSA", "rsassa_pss": "RSASSA-PSS", "dsa": "DSA"}.get(kind, kind)
    return KeyFacts(name, algorithm["algorithm"].dotted, None, None, info.bit_size, short_name,
                    value)  # fmt: skip
