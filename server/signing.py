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
    try:
        return await signer.submit(key, data)
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


def verify_issued_by(der: bytes, issuer: x509.Certificate) -> None:
    """Verify-after-sign: a signature the CA key did not make never leaves the CA.

    Raises CAError(INTERNAL)."""
    certificate = x509.load_der_x509_certificate(der)
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise CAError(ErrorKind.INTERNAL, "the signature made for this request is wrong") from exc
