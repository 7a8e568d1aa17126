"""Server-generated keys delivered encrypted (RFC 7030 4.4.1.2 and 4.4.2, RFC 9483 4.1.6,
RFC 5958 4).

The new key, as an AsymmetricKeyPackage, is signed by the server that made it (SignedData:
the client can tell where the key came from) and enveloped for a public key the client
already holds (EnvelopedData): only that key's holder can read it, whatever happens to the
transport or to logs of the response. EST signs with the server's TLS identity; CMP with its
CMP protection certificate, which carries id-kp-cmKGA (RFC 9483 4.1.6, server/cmp/identity.py)
and is named in the SignerInfo by its subjectKeyIdentifier, and which is also the
originator of a key-agreement envelope (RFC 9483 4.1.6.2, static-static ECDH).
"""

from __future__ import annotations

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from protocols import cms
from server.node.tls import ServerIdentity

ID_SIGNED_DATA = "1.2.840.113549.1.7.2"


def encrypted_key_package(
    pkcs8_der: bytes,
    signer: ServerIdentity,
    recipient_certificate_der: bytes,
    key_identifier: bytes | None,
    originator: ServerIdentity | None = None,
) -> bytes:
    """DER ContentInfo of the EnvelopedData whose content is the SignedData of the
    AsymmetricKeyPackage holding `pkcs8_der`, for the recipient identified (rid) by
    `key_identifier`, its subjectKeyIdentifier (RFC 7030 4.4.2), or by issuer and serial
    number when None. With `originator` (RFC 9483 4.1.6.2), an EC recipient gets the key by
    static-static ECDH with the originator's key, named by its certificate, and the
    SignerInfo names the signer by subjectKeyIdentifier (RFC 9483 4.1.6). Raises
    ValueError when the keys do not agree (another curve)."""
    by_key_id = originator is not None
    signed = _signed_key_package(pkcs8_der, signer, by_key_id)
    static = None if originator is None else (originator.private_key, originator.chain[0])
    return cms.envelope(ID_SIGNED_DATA, signed, recipient_certificate_der, key_identifier, static)


def password_key_package(
    pkcs8_der: bytes, signer: ServerIdentity, password: bytes, sid_by_key_id: bool = False
) -> bytes:
    """The same, enveloped under a shared password (RFC 9483 4.1.6.3: the secret that
    MAC-protected the request); `sid_by_key_id`: the SignerInfo names the signer by its
    subjectKeyIdentifier (RFC 9483 4.1.6)."""
    signed = _signed_key_package(pkcs8_der, signer, sid_by_key_id)
    return cms.envelope_for_password(ID_SIGNED_DATA, signed, password)


def _signed_key_package(pkcs8_der: bytes, signer: ServerIdentity, sid_by_key_id: bool) -> bytes:
    """The DER SignedData (RFC 5652 5) of the key's AsymmetricKeyPackage (RFC 5958): the
    content of the envelope is the SignedData itself, not its ContentInfo (RFC 5652 6.1)."""
    package = cms.asymmetric_key_package([pkcs8_der])
    attributes = cms.signed_attributes(cms.ID_CT_KP_AKEYPACKAGE, package)
    signature = signer.private_key.sign(attributes, ec.ECDSA(hashes.SHA256()))
    key_id = subject_key_identifier(signer.chain[0]) if sid_by_key_id else None
    signed = cms.signed_data(
        cms.ID_CT_KP_AKEYPACKAGE, package, attributes, signer.chain[0], "sha256_ecdsa",
        signature, signer.chain[1:], key_id,
    )  # fmt: skip
    return bytes(asn1_cms.ContentInfo.load(signed)["content"].untag().dump())


def subject_key_identifier(certificate_der: bytes) -> bytes | None:
    """The certificate's subjectKeyIdentifier, None when it has none."""
    certificate = x509.load_der_x509_certificate(certificate_der)
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return extension.value.digest
