"""The signing backend interface shared by the software and PKCS#11 backends.

A backend is synchronous and is only ever driven from one thread: python-pkcs11 with
SoftHSM2 crashed when two threads signed at once (see ARCHITECTURE.md). The pipeline
(`hsm.pipeline`) runs backends inside signer processes and feeds them whole batches.

Signature schemes follow the key, so that callers never have to choose one:
ECDSA P-256 signs with SHA-256, P-384 with SHA-384, RSA with PKCS#1 v1.5 and SHA-256,
Ed25519 signs the message itself. Signatures come back in the encoding X.509 uses:
DER ECDSA-Sig-Value (RFC 5480), the PKCS#1 v1.5 octets (RFC 8017), or the 64 raw Ed25519
octets (RFC 8410).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class KeyAlgorithm(enum.StrEnum):
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa-")

    @property
    def is_ec(self) -> bool:
        return self.value.startswith("ec-")

    @property
    def rsa_bits(self) -> int:
        return int(self.value.removeprefix("rsa-"))


@dataclass(frozen=True)
class KeyRef:
    """Where a key lives and what it is.

    `uri` is an RFC 7512 `pkcs11:` URI (PKCS#11 backend) or a `file:` path to an encrypted
    PKCS#8 file (software backend). It never contains a PIN or passphrase.
    """

    uri: str
    algorithm: KeyAlgorithm


class HSMError(Exception):
    """A backend failed to generate, find or use a key. The message never carries a secret."""


class SigningBackend(Protocol):
    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        """Make a new key pair (inside the token for PKCS#11, non-extractable)."""
        ...

    def public_key_der(self, key: KeyRef) -> bytes:
        """The key's SubjectPublicKeyInfo, DER."""
        ...

    def sign_many(self, key: KeyRef, messages: Sequence[bytes]) -> list[bytes]:
        """Sign each message with `key`; one signature per message, in order."""
        ...

    def destroy_key(self, key: KeyRef) -> None:
        """Destroy the key pair for good (a retired CA generation, regulation K3); the key
        can no longer sign, here or in any process using the same key store. Raises
        HSMError when the reference is not a key of this backend or destruction fails."""
        ...

    def close(self) -> None: ...
