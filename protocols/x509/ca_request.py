"""A PKCS#10 certification request for a CA key (RFC 2986), as a CA whose parent is
outside sends it to that parent: the subject and the CA extensions it asks for
(extensionRequest, PKCS#9 / RFC 2985 5.4.2), signed by the key it names.

Built in two steps so the key may live in an HSM: :func:`request_info` gives the
CertificationRequestInfo to sign, :func:`assemble_request` the request around the
signature. The same two steps make the request of a key the CA makes for a client
(server/enrollment/new_keys.py), which may be a GOST key that `cryptography` cannot sign
with: an empty subject and, when there are names, subjectAltName."""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import algos, core, csr, keys
from asn1crypto import x509 as asn1_x509

from protocols.x509.certificate import algorithm_identifier


def request_info(
    subject: asn1_x509.Name, spki_der: bytes, extensions: Sequence[asn1_x509.Extension]
) -> bytes:
    """The DER CertificationRequestInfo (version 0, RFC 2986 4.1); without `extensions`,
    no extensionRequest attribute (its Extensions would be empty, which SIZE (1..MAX)
    forbids, RFC 5280 4.1)."""
    attributes = []
    if extensions:
        requested = asn1_x509.Extensions(list(extensions))
        attributes.append(csr.CRIAttribute({"type": "extension_request", "values": [requested]}))
    info = csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": subject,
            "subject_pk_info": keys.PublicKeyInfo.load(spki_der),
            "attributes": attributes,
        }
    )
    return bytes(info.dump())


def assemble_request(info_der: bytes, signature_algorithm: str, signature: bytes) -> bytes:
    """The DER CertificationRequest around `info_der`, copied byte for byte."""
    if not signature:
        raise ValueError("empty signature")
    algorithm: algos.SignedDigestAlgorithm = algos.SignedDigestAlgorithm.load(
        algorithm_identifier(signature_algorithm)
    )
    request = csr.CertificationRequest(
        {
            "certification_request_info": csr.CertificationRequestInfo.load(info_der),
            "signature_algorithm": algorithm,
            "signature": core.OctetBitString(signature),
        }
    )
    return bytes(request.dump())
