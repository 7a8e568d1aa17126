"""Certificates out: the certs-only CMS message, alone or with a server-generated key.

/cacerts, /simpleenroll and /simplereenroll answer with a "certs-only" message (RFC 7030
4.1.3, 4.2.3): a CMS SignedData (RFC 5652 5.1) that signs nothing, so it is built here
without any key. Its fields, in RFC 5652 order: version 1 (5.1: no attribute certificates,
no other formats, id-data content), an empty digestAlgorithms, an encapContentInfo of id-data
with no eContent, the certificates in [0], no crls, an empty signerInfos.

The whole message is DER, and DER sorts the elements of a SET OF by their encodings (X.690
11.6), so the certificates come out in that order, not in the caller's. That costs nothing:
RFC 7030 4.1.3 and 4.2.3 say which certificates the set holds, never in what order, and a
client builds its paths from them. Keeping the caller's order instead would not be DER, and
cryptography 50 reads such a message only with a warning that a future version may refuse
it (OpenSSL, which declares the field as a SEQUENCE OF, reads both).

cryptography's ``pkcs7.serialize_certificates`` writes the message (Rust, about 4 µs per
answer; asn1crypto's CMS classes took about 220 µs, a tenth of an EST enrollment's CPU).
Loading each certificate with cryptography first is also the check that it is one DER
Certificate, nothing before or after it.

/serverkeygen (RFC 7030 4.4.2) sends the key it made and the certificate together, as
multipart/mixed: an ``application/pkcs8`` part, then a certs-only part. When the key is to be
encrypted (RFC 7030 4.4.1.2) the first part becomes ``application/pkcs7-mime;
smime-type=server-generated-key`` holding a CMS message made elsewhere;
:func:`protocols.est.encoding.multipart_mixed` takes any such list of parts.
"""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from protocols.cms import key_package
from protocols.est.encoding import (
    CERTS_ONLY_CT,
    PKCS8_CT,
    SERVER_GENERATED_KEY_CT,
    base64_body,
    multipart_mixed,
)

__all__ = [
    "certs_only",
    "certs_only_response",
    "encrypted_server_keygen_response",
    "server_keygen_response",
]


def certs_only(certificates: Sequence[bytes]) -> bytes:
    """The DER of a degenerate SignedData "certs-only" ContentInfo (RFC 5652 5.1, RFC 7030
    4.1.3 and 4.2.3) holding the DER ``certificates``, in DER order (see the module).

    Raises ValueError for an empty list, or an item that is not one DER Certificate."""
    if not certificates:
        raise ValueError("a certs-only message needs at least one certificate")
    loaded = [_certificate(index, value) for index, value in enumerate(certificates)]
    return pkcs7.serialize_certificates(loaded, Encoding.DER)


def certs_only_response(certificates: Sequence[bytes]) -> bytes:
    """The ``application/pkcs7-mime`` body (RFC 7030 4.1.3, 4.2.3): :func:`certs_only` in
    base64, lines of 64 characters, each ended by a newline. Raises as :func:`certs_only`."""
    return base64_body(certs_only(certificates))


def server_keygen_response(
    private_key_pkcs8_der: bytes, certificate_der: bytes, boundary: str
) -> tuple[bytes, str]:
    """The /serverkeygen answer (RFC 7030 4.4.2) with the private key unencrypted (4.4.1.1,
    the key protected by TLS only): a multipart/mixed body whose first part is the PKCS#8
    PrivateKeyInfo (RFC 5958 2) as ``application/pkcs8``, and whose second is the
    certs-only message of the certificate; and the Content-Type header value.

    Raises ValueError when the key is not one DER PrivateKeyInfo (an encrypted key is not
    for this part), the certificate is not one DER Certificate, or the boundary is not
    allowed by RFC 2046 5.1.1."""
    try:  # the key package's check, the private key opaque: asn1crypto's PrivateKeyInfo
        # reads it by algorithm and knows no GOST R 34.10-2012 key
        key_package.asymmetric_key_package([private_key_pkcs8_der])
    except ValueError as exc:
        raise ValueError(f"the key is not a DER PKCS#8 PrivateKeyInfo: {exc}") from exc
    parts = [(PKCS8_CT, private_key_pkcs8_der), (CERTS_ONLY_CT, certs_only([certificate_der]))]
    return multipart_mixed(parts, boundary)


def encrypted_server_keygen_response(
    enveloped_key_der: bytes, certificate_der: bytes, boundary: str
) -> tuple[bytes, str]:
    """The /serverkeygen answer with the key encrypted (RFC 7030 4.4.1.2, 4.4.2): the first
    part is the CMS EnvelopedData made elsewhere, as ``application/pkcs7-mime;
    smime-type=server-generated-key``; the second the certs-only message. Raises ValueError
    when the first is not a DER ContentInfo of EnvelopedData, or as the other answer."""
    try:
        info = cms.ContentInfo.load(enveloped_key_der, strict=True)
        if info["content_type"].native != "enveloped_data":
            raise ValueError(f"content type {info['content_type'].native}")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the key part is not a DER EnvelopedData: {exc}") from exc
    parts = [
        (SERVER_GENERATED_KEY_CT, enveloped_key_der),
        (CERTS_ONLY_CT, certs_only([certificate_der])),
    ]
    return multipart_mixed(parts, boundary)


def _certificate(index: int, value: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(value)
    except ValueError as exc:
        raise ValueError(f"certificate {index} is not a DER Certificate: {exc}") from exc
