"""Server-generated keys delivered encrypted (RFC 7030 4.4.1.2 and 4.4.2, RFC 9483 4.1.6,
RFC 5958 4).

The new key, as an AsymmetricKeyPackage, is signed by the server that made it (SignedData,
with the server's TLS identity: the client can tell where the key came from) and enveloped
for a public key the client already holds (EnvelopedData): only that key's holder can read
it, whatever happens to the TLS session or to logs of the response.
"""

from __future__ import annotations

from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from protocols import cms
from server.tls import ServerIdentity

ID_SIGNED_DATA = "1.2.840.113549.1.7.2"


def encrypted_key_package(
    pkcs8_der: bytes,
    signer: ServerIdentity,
    recipient_certificate_der: bytes,
    key_identifier: bytes | None,
) -> bytes:
    """DER ContentInfo of the EnvelopedData whose content is the SignedData of the
    AsymmetricKeyPackage holding `pkcs8_der`, for the recipient identified (rid) by
    `key_identifier`, its subjectKeyIdentifier (RFC 7030 4.4.2), or by issuer and serial
    number when None."""
    signed = _signed_key_package(pkcs8_der, signer)
    return cms.envelope(ID_SIGNED_DATA, signed, recipient_certificate_der, key_identifier)


def password_key_package(pkcs8_der: bytes, signer: ServerIdentity, password: bytes) -> bytes:
    """The same, enveloped under a shared password (RFC 9483 4.1.6.3: the secret that
    MAC-protected the request)."""
    signed = _signed_key_package(pkcs8_der, signer)
    return cms.envelope_for_password(ID_SIGNED_DATA, signed, password)


def _signed_key_package(pkcs8_der: bytes, signer: ServerIdentity) -> bytes:
    """The DER SignedData (RFC 5652 5) of the key's AsymmetricKeyPackage (RFC 5958): the
    content of the envelope is the SignedData itself, not its ContentInfo (RFC 5652 6.1)."""
    package = cms.asymmetric_key_package([pkcs8_der])
    attributes = cms.signed_attributes(cms.ID_CT_KP_AKEYPACKAGE, package)
    signature = signer.private_key.sign(attributes, ec.ECDSA(hashes.SHA256()))
    signed = cms.signed_data(
        cms.ID_CT_KP_AKEYPACKAGE, package, attributes, signer.chain[0], "sha256_ecdsa",
        signature, signer.chain[1:],
    )  # fmt: skip
    return bytes(asn1_cms.ContentInfo.load(signed)["content"].untag().dump())
