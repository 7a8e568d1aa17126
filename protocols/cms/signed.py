"""CMS SignedData with one signer (RFC 5652 section 5): signed attributes out, message in.

Theory of operation (STYLE.md rule 5, "record intent, then sign"), as for certificates and
OCSP responses:

1. :func:`signed_attributes` encodes the SignedAttributes of the content (RFC 5652 5.3:
   contentType and messageDigest, the minimum when attributes are present, 11.1 and 11.2)
   as the DER SET OF that is the input of the signature (5.4);
2. the caller has those bytes signed elsewhere (this package never signs) with the
   signer's key;
3. :func:`signed_data` wraps the content, those same octets re-tagged [0] IMPLICIT, the
   signature and the certificates into SignedData and its ContentInfo.

RFC 7030 4.4.2 uses this for the server-generated key encrypted to the client: the content
is an AsymmetricKeyPackage (:mod:`protocols.cms.key_package`), the message then goes into an
EnvelopedData (:mod:`protocols.cms.enveloped`).

Digest algorithms. The signature over the attributes and the messageDigest must use the
same hash (RFC 5652 5.4 hashes the attributes with the SignerInfo's digestAlgorithm): SHA-256
for "sha256_ecdsa" and "sha256_rsa" (RFC 5754 3.2), SHA-384 for "sha384_ecdsa" (RFC 5753
2.1.1: the hash named by the signature algorithm MUST be the digestAlgorithm) and SHA-512
for "ed25519" (RFC 8419 3.1: id-sha512 with signed attributes). SHA-256 is the default;
the signer of a P-384 or Ed25519 key passes ``digest_algorithm`` to
:func:`signed_attributes`, and :func:`signed_data` refuses attributes made with the wrong
one. The digest AlgorithmIdentifiers have absent parameters (RFC 5754 section 2: MUST
generate absent).

GOST R 34.10-2012 ("gost2012_256", "gost2012_512"; reference/ru-profile.md 5.2). The
digestAlgorithm is id-tc26-gost3411-12-256 or -512, the Streebog of the key's size (RFC 9215
3.1 ties a 256-bit key to Streebog-256, a 512-bit one to Streebog-512), which hashes the
content and, as for any digestAlgorithm, the signed attributes the signer signs; the signature
is s || r as in X.509. The signatureAlgorithm is the *key's* OID, id-tc26-gost3410-12-256 or
-512, not id-tc26-signwithdigest-gost3410-12-*: that is what RFC 4490 3.2 set for GOST R
34.10-2001 in CMS (the key algorithm, the digest named by digestAlgorithm), and what
gost-engine (gost_ameth.c, ASN1_PKEY_CTRL_CMS_SIGN) and CryptoPro still write for 2012 keys
(ru-profile.md 5.2, verified); `openssl cms -verify` with the engine accepts it, and the
readers this CA meets are those two. Every GOST AlgorithmIdentifier here carries NULL
parameters, as gost-engine writes them. Streebog is hsm.gost_engine's (the one part of hsm/
protocols/ may use): without the engine a GOST digest is a ValueError.

Detached signatures and CAdES-BES. With ``detached``, :func:`signed_data` leaves eContent out
(RFC 5652 5.2: the content is then supplied by other means), as a signed report beside its
PDF needs. :func:`signed_attributes` adds, when asked, signingTime (RFC 5652 11.3) and ESS
signingCertificateV2 (RFC 5035 3; ETSI EN 319 122-1 5.2.2.2, which a CAdES-BES reader wants):
one ESSCertIDv2 of the signer's certificate hashed with the signature's digest, with its
issuerSerial.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes

from hsm import gost_engine

__all__ = [
    "ID_DATA",
    "ID_SIGNED_DATA",
    "digest_algorithm_for",
    "signed_attributes",
    "signed_data",
]

ID_DATA = "1.2.840.113549.1.7.1"  # RFC 5652 section 4
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"  # RFC 5652 section 5.1

_DOTTED = re.compile(r"[012](\.(0|[1-9][0-9]*))+")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# AlgorithmIdentifier { id-shaX } with absent parameters (RFC 5754 section 2). asn1crypto
# adds NULL when it builds one, so the DER is written out and loaded when needed.
_DIGEST_ALGORITHM_DER = {
    "sha256": bytes.fromhex("300b0609608648016503040201"),
    "sha384": bytes.fromhex("300b0609608648016503040202"),
    "sha512": bytes.fromhex("300b0609608648016503040203"),
    # id-tc26-gost3411-12-256 / -512 (RFC 9215 3.1) with NULL parameters, as gost-engine writes
    "streebog256": bytes.fromhex("300c06082a850307010102020500"),
    "streebog512": bytes.fromhex("300c06082a850307010102030500"),
}
_STREEBOG = frozenset({"streebog256", "streebog512"})
_DIGEST_FOR_SIGNATURE = {
    "sha256_ecdsa": "sha256",  # RFC 5753 2.1.1
    "sha384_ecdsa": "sha384",  # RFC 5753 2.1.1
    "sha256_rsa": "sha256",  # RFC 5754 3.2
    "ed25519": "sha512",  # RFC 8419 3.1
    "gost2012_256": "streebog256",  # RFC 9215 3.1
    "gost2012_512": "streebog512",
}
# The signatureAlgorithm of a GOST SignerInfo: the key's OID (id-tc26-gost3410-12-256/512),
# NULL parameters, as gost-engine and CryptoPro write it (see the module).
_GOST_SIGNATURE_ALGORITHM_DER = {
    "gost2012_256": bytes.fromhex("300c06082a850307010101010500"),
    "gost2012_512": bytes.fromhex("300c06082a850307010101020500"),
}
_UTC_TIME_YEARS = range(1950, 2050)  # RFC 5652 11.3: UTCTime for these, else GeneralizedTime


def digest_algorithm_for(signature_algorithm: str) -> str:
    """The digest a signer of ``signature_algorithm`` ("sha256_ecdsa", ..., "gost2012_512")
    passes to :func:`signed_attributes` (see the module). Raises ValueError for another."""
    digest = _DIGEST_FOR_SIGNATURE.get(signature_algorithm)
    if digest is None:
        raise ValueError(f"unsupported signature algorithm {signature_algorithm!r}")
    return digest


def signed_attributes(
    content_type: str,
    content: bytes,
    digest_algorithm: str = "sha256",
    signing_time: datetime | None = None,
    signing_certificate: bytes | None = None,
) -> bytes:
    """DER of the SignedAttributes as a SET OF (tag 0x31, RFC 5652 5.4: the bytes that are
    signed) with contentType and messageDigest (SHA-256 of content, by default), and, when
    given, signingTime and ESS signingCertificateV2 of the DER certificate
    ``signing_certificate``.

    ``content_type`` is a dotted OID (the eContentType, RFC 5652 11.1). ``digest_algorithm``
    ("sha256", "sha384", "sha512", "streebog256" or "streebog512") must be the hash of the
    signature algorithm (see the module): SHA-384 for an ECDSA P-384 signer, SHA-512 for
    Ed25519, the Streebog of a GOST key's size; it also hashes the certificate in
    signingCertificateV2. ``signing_time`` must be timezone-aware; it is written in whole
    seconds. The attributes come out sorted by their encodings, as DER sorts a SET OF
    (X.690 11.6).

    Raises ValueError for an OID that is not dotted, an unknown digest algorithm (Streebog
    without the GOST engine among them), a naive time or a certificate that is not DER."""
    digest = _digest(digest_algorithm, content)
    values: list[dict[str, object]] = [
        {"type": "content_type", "values": [_oid("content_type", content_type)]},
        {"type": "message_digest", "values": [digest]},
    ]
    if signing_time is not None:
        values.append({"type": "signing_time", "values": [_time(signing_time)]})
    if signing_certificate is not None:
        values.append(
            {
                "type": "signing_certificate_v2",
                "values": [_signing_certificate_v2(signing_certificate, digest_algorithm)],
            }
        )
    return bytes(cms.CMSAttributes(values).dump())


def signed_data(
    content_type: str,
    content: bytes,
    signed_attributes_der: bytes,
    signer_certificate_der: bytes,
    signature_algorithm: str,
    signature: bytes,
    certificates: Sequence[bytes] = (),
    signer_key_identifier: bytes | None = None,
    detached: bool = False,
) -> bytes:
    """DER ContentInfo { id-signedData, SignedData } (RFC 5652 5): version 3 when content_type is
    not id-data (5.1), digestAlgorithms {sha256 (*)}, encapContentInfo with the content (none
    when ``detached``: RFC 5652 5.2, eContent absent; the attributes still hash it), the
    signer's certificate and `certificates` in certificates, one SignerInfo with sid
    issuerAndSerialNumber of the signer certificate, digestAlgorithm sha256 (*), the given
    signed attributes (byte for byte, re-tagged [0] IMPLICIT), signatureAlgorithm per
    `signature_algorithm` (one of "sha256_ecdsa", "sha384_ecdsa", "sha256_rsa", "ed25519",
    "gost2012_256", "gost2012_512"), and the signature the caller made over
    `signed_attributes_der`.

    (*) SHA-256 for the two "sha256_" algorithms only: SHA-384 with "sha384_ecdsa", SHA-512
    with "ed25519", Streebog-256/512 with "gost2012_256"/"gost2012_512" (see the module).
    Version 1 with id-data: the SignerInfo is version 1 (issuerAndSerialNumber, 5.3) and
    there are no attribute or other certificates (5.1). The certificates are a DER SET OF,
    sorted by their encodings, each once. With ``signer_key_identifier`` the sid is that
    subjectKeyIdentifier instead and the SignerInfo and SignedData are version 3 (5.3, 5.1):
    RFC 9483 4.1.6 names the KGA so.

    Raises ValueError for an unknown signature algorithm, an empty signature, a certificate
    that is not one DER Certificate, or signed attributes that are not a DER SET OF
    Attribute with exactly one contentType equal to ``content_type`` and one messageDigest
    equal to the hash of ``content``."""
    digest_name = _DIGEST_FOR_SIGNATURE.get(signature_algorithm)
    if digest_name is None:
        raise ValueError(f"unsupported signature algorithm {signature_algorithm!r}")
    if not signature:
        raise ValueError("empty signature")
    content_type = _oid("content_type", content_type)
    attributes = _checked_attributes(
        signed_attributes_der, content_type, _digest(digest_name, content)
    )
    signer = _certificate("signer certificate", signer_certificate_der)
    if signer_key_identifier is not None and not signer_key_identifier:
        raise ValueError("an empty signer key identifier")
    if signer_key_identifier is None:  # RFC 5652 5.3: v1 with issuerAndSerialNumber
        sid_version, sid = (
            "v1",
            cms.SignerIdentifier(
                name="issuer_and_serial_number", value=_issuer_and_serial_number(signer)
            ),
        )
    else:  # RFC 5652 5.3: v3 with subjectKeyIdentifier
        sid_version, sid = (
            "v3",
            cms.SignerIdentifier(name="subject_key_identifier", value=signer_key_identifier),
        )
    signer_info = cms.SignerInfo(
        {
            "version": sid_version,
            "sid": sid,
            "digest_algorithm": _digest_algorithm(digest_name),
            "signed_attrs": attributes,
            "signature_algorithm": _signature_algorithm(signature_algorithm),
            "signature": signature,
        }
    )
    ders = dict.fromkeys([signer_certificate_der, *certificates])  # once each, in order
    choices = [
        cms.CertificateChoices(name="certificate", value=_certificate(f"certificate {i}", der))
        for i, der in enumerate(ders)
    ]
    value = cms.SignedData(
        {
            # RFC 5652 5.1: v3 for other content than id-data or a v3 SignerInfo
            "version": "v1" if content_type == ID_DATA and sid_version == "v1" else "v3",
            "digest_algorithms": [_digest_algorithm(digest_name)],
            "encap_content_info": {"content_type": content_type}
            if detached
            else {"content_type": content_type, "content": content},
            "certificates": choices,
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": value}).dump())


def _certificate(field: str, der: bytes) -> asn1_x509.Certificate:
    """``der`` loaded as one DER Certificate, its outer fields parsed (ValueError if not)."""
    try:
        loaded = asn1_x509.Certificate.load(der, strict=True)
        loaded["tbs_certificate"]["serial_number"].native  # noqa: B018 (parse it now)
        loaded["tbs_certificate"]["subject_public_key_info"]["algorithm"].native  # noqa: B018
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the {field} is not a DER Certificate: {exc}") from None
    return loaded


def _issuer_and_serial_number(cert: asn1_x509.Certificate) -> cms.IssuerAndSerialNumber:
    """IssuerAndSerialNumber (RFC 5652 10.2.4), the issuer Name copied as encoded."""
    tbs = cert["tbs_certificate"]
    return cms.IssuerAndSerialNumber(
        {"issuer": tbs["issuer"], "serial_number": tbs["serial_number"]}
    )


def _oid(field: str, value: str) -> str:
    if not isinstance(value, str) or not _DOTTED.fullmatch(value):
        raise ValueError(f"{field} must be a dotted OID, not {value!r}")
    return value


def _digest(name: str, content: bytes) -> bytes:
    if name in _STREEBOG:
        try:
            return gost_engine.digest(name, content)
        except gost_engine.GostError as exc:
            raise ValueError(f"unsupported digest algorithm {name!r}: {exc}") from None
    algorithm = _HASHES.get(name)
    if algorithm is None:
        raise ValueError(f"unsupported digest algorithm {name!r}")
    hasher = hashes.Hash(algorithm())
    hasher.update(content)
    return hasher.finalize()


def _time(moment: datetime) -> cms.Time:
    """SigningTime (RFC 5652 11.3): UTCTime from 1950 to 2049, GeneralizedTime otherwise."""
    if moment.tzinfo is None:
        raise ValueError("the signing time must be timezone-aware")
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment.year in _UTC_TIME_YEARS:
        return cms.Time(name="utc_time", value=moment)
    return cms.Time(name="generalized_time", value=moment)


def _signing_certificate_v2(certificate_der: bytes, digest_name: str) -> tsp.SigningCertificateV2:
    """SigningCertificateV2 (RFC 5035 3) naming one certificate: ESSCertIDv2 { hashAlgorithm
    (left out for SHA-256, its DEFAULT), certHash over the whole DER certificate,
    issuerSerial { the issuer as a directoryName, the serial } }."""
    certificate = _certificate("signing certificate", certificate_der)
    tbs = certificate["tbs_certificate"]
    cert_id: dict[str, object] = {
        "cert_hash": _digest(digest_name, certificate_der),
        "issuer_serial": {
            "issuer": [asn1_x509.GeneralName(name="directory_name", value=tbs["issuer"])],
            "serial_number": tbs["serial_number"],
        },
    }
    if digest_name != "sha256":
        cert_id["hash_algorithm"] = _digest_algorithm(digest_name)
    return tsp.SigningCertificateV2({"certs": [cert_id]})


def _digest_algorithm(name: str) -> algos.DigestAlgorithm:
    return algos.DigestAlgorithm.load(_DIGEST_ALGORITHM_DER[name])


def _signature_algorithm(name: str) -> algos.SignedDigestAlgorithm:
    """RFC 5754 3.2: sha256WithRSAEncryption with NULL parameters; RFC 5753 2.1.1 and 7.1.3
    (ECDSA) and RFC 8419 3.1 (Ed25519): parameters absent; GOST: the key's OID, NULL
    parameters (see the module)."""
    if name in _GOST_SIGNATURE_ALGORITHM_DER:
        return algos.SignedDigestAlgorithm.load(_GOST_SIGNATURE_ALGORITHM_DER[name])
    if name == "sha256_rsa":
        return algos.SignedDigestAlgorithm({"algorithm": name, "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": name})


def _checked_attributes(der: bytes, content_type: str, digest: bytes) -> cms.CMSAttributes:
    """The SignedAttributes DER loaded as is (so it is re-tagged, never re-encoded), checked
    against the content: RFC 5652 11.1 and 11.2 want one contentType and one messageDigest
    attribute, each with a single value, equal to what is signed here."""
    found: dict[str, list[object]] = {"content_type": [], "message_digest": []}
    try:
        attributes = cms.CMSAttributes.load(der, strict=True)
        for attribute in attributes:
            kind = attribute["type"].native
            if kind == "content_type":
                found[kind].extend(value.dotted for value in attribute["values"])
            elif kind == "message_digest":
                found[kind].extend(value.native for value in attribute["values"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the signed attributes are not a DER SET OF Attribute: {exc}") from None
    if found["content_type"] != [content_type]:
        raise ValueError(f"the signed attributes' contentType is not one value {content_type}")
    if found["message_digest"] != [digest]:
        raise ValueError("the signed attributes' messageDigest is not the content's digest")
    return attributes
