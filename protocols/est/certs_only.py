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

The message is written directly as DER (protocols/der.py), each certificate's octets
embedded verbatim after a check of its outer shape (one SEQUENCE of a SEQUENCE, a SEQUENCE
and a BIT STRING, nothing after it): about 5 µs, where asn1crypto's CMS classes took about
220 µs, about a tenth of an EST enrollment's CPU. cryptography's
``pkcs7.serialize_certificates`` writes the same octets (the tests compare them) but needs
each certificate parsed into an object first.

/serverkeygen (RFC 7030 4.4.2) sends the key it made and the certificate together, as
multipart/mixed: an ``application/pkcs8`` part, then a certs-only part. When the key is to be
encrypted (RFC 7030 4.4.1.2) the first part becomes ``application/pkcs7-mime;
smime-type=server-generated-key`` holding a CMS message made elsewhere;
:func:`protocols.est.encoding.multipart_mixed` takes any such list of parts.
"""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import cms, keys

from protocols import der
from protocols.est.encoding import (
    CERTS_ONLY_CT,
    PKCS8_CT,
    SERVER_GENERATED_KEY_CT,
    base64_body,
    multipart_mixed,
)

# The fixed fields of the message (RFC 5652 3, 5.1, 5.2), DER.
_ID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")  # 1.2.840.113549.1.7.2
_VERSION_1 = bytes.fromhex("020101")
_EMPTY_SET = bytes.fromhex("3100")
_ENCAP_CONTENT_INFO = bytes.fromhex("300b06092a864886f70d010701")  # id-data 1.2.840.113549.1.7.1

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
    for index, certificate in enumerate(certificates):
        _check_certificate(index, certificate)
    # X.690 11.6: a SET OF in the order of its elements' encodings. Two different complete
    # TLVs are never one the other's prefix, so comparing them as bytes is that order.
    signed_data = der.tlv(
        0x30,
        _VERSION_1  # RFC 5652 5.1
        + _EMPTY_SET  # digestAlgorithms
        + _ENCAP_CONTENT_INFO  # id-data, no eContent
        + der.tlv(0xA0, b"".join(sorted(certificates)))  # certificates [0] IMPLICIT
        + _EMPTY_SET,  # signerInfos; no crls
    )
    return der.tlv(0x30, _ID_SIGNED_DATA + der.tlv(0xA0, signed_data))  # content [0] EXPLICIT


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
    try:
        keys.PrivateKeyInfo.load(private_key_pkcs8_der, strict=True)["private_key_algorithm"]
    except (ValueError, TypeError) as exc:
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


def _check_certificate(index: int, value: bytes) -> None:
    """Raises ValueError unless ``value`` is one DER Certificate (RFC 5280 4.1) on the
    outside: a SEQUENCE of tbsCertificate (SEQUENCE), signatureAlgorithm (SEQUENCE) and
    signatureValue (BIT STRING) with definite lengths, and nothing after it."""
    try:
        fields = der.children(value, 0, len(value))
        if len(fields) != 1 or fields[0].tag != 0x30:
            raise der.DERError("not one SEQUENCE")
        inner = der.children(value, fields[0].start, fields[0].end)
        if [field.tag for field in inner] != [0x30, 0x30, 0x03]:
            raise der.DERError("not tbsCertificate, signatureAlgorithm, signatureValue")
    except der.DERError as exc:
        raise ValueError(f"certificate {index} is not a DER Certificate: {exc}") from exc
