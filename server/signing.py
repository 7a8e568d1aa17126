"""Signing as the core sees it: one pipeline, its errors mapped to the core's, and
verify-after-sign for certificates.

Certificates, OCSP responses, CRLs and audit checkpoints are all signed through `submit`
(or `sign`), so a full queue is BUSY and any other failure of the signer UNAVAILABLE
wherever it happens.

A certificate is checked before it leaves the CA, in two halves:
- its signature is asked for verified (`submit_verified`): the signer process verifies it
  with the CA key's public key right after making it, and the pipeline hands it over only
  if the signer's digest of the message it verified is that of the TBS this caller sent
  (hsm/pipeline.py). The worker's event loop so spends no ECDSA verification per
  certificate (about 60 µs for P-256; a thread beside the busy loop was slower still,
  starved of the GIL). A signature that did not verify or was for other bytes is
  CAError(INTERNAL), and issuance leaves no row;
- `verify_issued_by` checks what that verification does not see: the assembled
  certificate names the issuer, carries the algorithm issuance signed with, and its TBS
  and signature are exactly those the verified signature was made for.
Every certificate issuance signs through the pipeline this way; nothing issues a
certificate with a signature the signer did not verify. OCSP responses and CRLs are not
verified.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import SignatureAlgorithmOID

from hsm.backend import HSMError, KeyRef
from hsm.pipeline import SignerBusy, WrongSignature
from protocols.x509.certificate import assemble_certificate
from server.errors import CAError, ErrorKind


class Signer(Protocol):
    """The signing pipeline as the core sees it (hsm.pipeline.SigningPipeline)."""

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        """The future signature; raises HSMError (SignerBusy among them) when it cannot
        even be queued, and the future fails with HSMError when the signer fails."""
        ...


class CertificateSigner(Signer, Protocol):
    """The signing pipeline as issuance sees it: signatures it can ask for verified."""

    def submit_verified(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        """`submit` for a signature verified over exactly `data` with `key`'s public key
        before it is handed over; the future fails with WrongSignature (an HSMError) if it
        is not `key`'s over `data`."""
        ...


async def sign(signer: Signer, key: KeyRef, data: bytes) -> bytes:
    """A signature through the pipeline, with the pipeline's errors mapped to the core's:
    a full queue is BUSY, the rest UNAVAILABLE. OCSP responses, CRLs and audit checkpoints
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


def submit_verified(signer: CertificateSigner, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
    """:func:`submit` for a signature the signer verifies over exactly `data` (a
    certificate's); awaited with :func:`signature`, which raises CAError(INTERNAL) if it is
    not `key`'s over `data`."""
    try:
        return signer.submit_verified(key, data)
    except HSMError as exc:
        raise signing_error(exc) from exc


async def signature(queued: asyncio.Future[bytes]) -> bytes:
    """The signature of a request :func:`submit` queued. Raises CAError as `sign` does."""
    try:
        return await queued
    except HSMError as exc:
        raise signing_error(exc) from exc


def signing_error(exc: HSMError) -> CAError:
    """The core's error for a pipeline's: a full queue is BUSY, a signature that is not
    the key's over the bytes sent INTERNAL, the rest UNAVAILABLE."""
    if isinstance(exc, SignerBusy):
        return CAError(ErrorKind.BUSY, "the signing service is busy; try again shortly")
    if isinstance(exc, WrongSignature):
        return CAError(ErrorKind.INTERNAL, "the signature made for this request is wrong")
    return CAError(ErrorKind.UNAVAILABLE, "the signing service failed; the request was not issued")


async def sign_tbs(signer: Signer, key: KeyRef, tbs: bytes, signature_algorithm: str) -> bytes:
    """Sign to-be-signed certificate bytes through the pipeline and assemble them."""
    signature = await sign(signer, key, tbs)
    return assemble_certificate(tbs, signature_algorithm, signature)


def verify_issued_by(
    der: bytes,
    issuer: x509.Certificate,
    signature_algorithm: str,
    tbs: bytes,
    verified_signature: bytes,
) -> None:
    """Verify-after-sign's part in this process: a certificate leaves the CA only as the
    CA key signed it.

    `verified_signature` is the signature of `tbs` that the pipeline handed over verified
    (:func:`submit_verified`: the signer checked it under the CA key's public key, the
    pipeline matched it to `tbs`). So the certificate `der` must carry exactly that TBS and
    that signature, name the issuer's subject as its issuer and carry
    `signature_algorithm` (asn1crypto's name of the algorithm issuance signed with:
    protocols.x509.certificate.signature_algorithm_for). Raises CAError(INTERNAL)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        if certificate.issuer != issuer.subject:
            raise ValueError("the certificate does not name its issuer")
        if certificate.signature_algorithm_oid != _SIGNATURE_OIDS.get(signature_algorithm):
            raise ValueError("not the signature algorithm issuance signed with")
        if certificate.tbs_certificate_bytes != tbs or certificate.signature != verified_signature:
            raise ValueError("not the TBS and signature that were signed and verified")
    except ValueError as exc:
        raise CAError(ErrorKind.INTERNAL, "the signature made for this request is wrong") from exc


# The signature algorithms issuance signs with, by asn1crypto's name (protocols/x509/
# certificate.py SIGNATURE_ALGORITHMS), as cryptography's identifiers.
_SIGNATURE_OIDS = {
    "sha256_ecdsa": SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    "sha384_ecdsa": SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    "sha256_rsa": SignatureAlgorithmOID.RSA_WITH_SHA256,
    "ed25519": SignatureAlgorithmOID.ED25519,
    # id-tc26-signwithdigest-gost3410-12-256 / -512 (RFC 9215 3.2)
    "gost2012_256": x509.ObjectIdentifier("1.2.643.7.1.1.3.2"),
    "gost2012_512": x509.ObjectIdentifier("1.2.643.7.1.1.3.3"),
}
