"""Signing as the core sees it: one pipeline, its errors mapped to the core's, and
verify-after-sign for certificates.

Certificates, OCSP responses, CRLs and audit checkpoints are all signed through `sign`, so
a full queue is BUSY and any other failure of the signer UNAVAILABLE wherever it happens.
A certificate is checked against the issuing CA certificate before it leaves the CA.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from hsm.backend import HSMError, KeyRef
from hsm.pipeline import SignerBusy
from protocols.x509.certificate import assemble_certificate
from server.errors import CAError, ErrorKind


class Signer(Protocol):
    """The signing pipeline as the core sees it (hsm.pipeline.SigningPipeline)."""

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        """The future signature; raises HSMError (SignerBusy among them) when it cannot
        even be queued, and the future fails with HSMError when the signer fails."""
        ...


async def sign(signer: Signer, key: KeyRef, data: bytes) -> bytes:
    """A signature through the pipeline, with the pipeline's errors mapped to the core's:
    a full queue is BUSY, the rest UNAVAILABLE. Certificates, OCSP responses and CRLs all
    go this way."""
    return await signature(submit(signer, key, data))


def submit(signer: Signer, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
    """`sign` in two steps, for a caller with more to queue before it waits: the request
    queued now (raises CAError as `sign` does when it cannot be), its signature awaited
    with :func:`signature`."""
    try:
        return signer.submit(key, data)
    except HSMError as exc:
        raise signing_error(exc) from exc


async def signature(queued: asyncio.Future[bytes]) -> bytes:
    """The signature of a request :func:`submit` queued. Raises CAError as `sign` does."""
    try:
        return await queued
    except HSMError as exc:
        raise signing_error(exc) from exc


def signing_error(exc: HSMError) -> CAError:
    """The core's error for a pipeline's: a full queue is BUSY, the rest UNAVAILABLE."""
    if isinstance(exc, SignerBusy):
        return CAError(ErrorKind.BUSY, "the signing service is busy; try again shortly")
    return CAError(ErrorKind.UNAVAILABLE, "the signing service failed; the request was not issued")


async def sign_tbs(signer: Signer, key: KeyRef, tbs: bytes, signature_algorithm: str) -> bytes:
    """Sign to-be-signed certificate bytes through the pipeline and assemble them."""
    signature = await sign(signer, key, tbs)
    return assemble_certificate(tbs, signature_algorithm, signature)


def verify_issued_by(der: bytes, issuer: x509.Certificate, signature_algorithm: str) -> None:
    """Verify-after-sign: a signature the CA key did not make never leaves the CA.

    The certificate must name the issuer's subject as its issuer, carry
    `signature_algorithm` (asn1crypto's name of the algorithm issuance signed with:
    protocols.x509.certificate.signature_algorithm_for) and a signature that verifies under
    the issuer's key. The key verifies it directly: `verify_directly_issued_by`, which
    checks the same but the algorithm, took about 20 µs more per certificate. Raises
    CAError(INTERNAL)."""
    certificate = x509.load_der_x509_certificate(der)
    key = issuer.public_key()
    signature, tbs = certificate.signature, certificate.tbs_certificate_bytes
    try:
        if certificate.issuer != issuer.subject:
            raise ValueError("the certificate does not name its issuer")
        if certificate.signature_algorithm_oid != _SIGNATURE_OIDS.get(signature_algorithm):
            raise ValueError("not the signature algorithm issuance signed with")
        parameters = certificate.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey) and isinstance(parameters, padding.PKCS1v15):
            key.verify(signature, tbs, parameters, hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(parameters, ec.ECDSA):
            key.verify(signature, tbs, parameters)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, tbs)
        else:
            raise ValueError("the issuer's key does not make this signature algorithm")
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise CAError(ErrorKind.INTERNAL, "the signature made for this request is wrong") from exc


# The signature algorithms issuance signs with, by asn1crypto's name (protocols/x509/
# certificate.py SIGNATURE_ALGORITHMS), as cryptography's identifiers.
_SIGNATURE_OIDS = {
    "sha256_ecdsa": SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    "sha384_ecdsa": SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    "sha256_rsa": SignatureAlgorithmOID.RSA_WITH_SHA256,
    "ed25519": SignatureAlgorithmOID.ED25519,
}
