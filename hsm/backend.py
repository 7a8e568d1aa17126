"""The signing backend interface shared by the software and PKCS#11 backends.

A backend is synchronous and is only ever driven from one thread: python-pkcs11 with
SoftHSM2 crashed when two threads signed at once (see ARCHITECTURE.md). The pipeline
(`hsm.pipeline`) runs backends inside signer processes and feeds them whole batches.

Signature schemes follow the key, so that callers never have to choose one:
ECDSA P-256 signs with SHA-256, P-384 with SHA-384, RSA with PKCS#1 v1.5 and SHA-256,
Ed25519 signs the message itself, GOST R 34.10-2012 signs with Streebog of its size.
Signatures come back in the encoding X.509 uses: DER ECDSA-Sig-Value (RFC 5480), the
PKCS#1 v1.5 octets (RFC 8017), the 64 raw Ed25519 octets (RFC 8410), or GOST's s || r
(RFC 9215, hsm/gost_engine.py).
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
    # GOST R 34.10-2012 keys, named by size and gost-engine's parameter set: CryptoPro
    # A/B/C, the exchange sets XA/XB and TC26 A..D for 256-bit keys; TC26 A..C for 512-bit
    GOST2012_256_A = "gost2012-256-a"
    GOST2012_256_B = "gost2012-256-b"
    GOST2012_256_C = "gost2012-256-c"
    GOST2012_256_XA = "gost2012-256-xa"
    GOST2012_256_XB = "gost2012-256-xb"
    GOST2012_256_TCA = "gost2012-256-tca"
    GOST2012_256_TCB = "gost2012-256-tcb"
    GOST2012_256_TCC = "gost2012-256-tcc"
    GOST2012_256_TCD = "gost2012-256-tcd"
    GOST2012_512_A = "gost2012-512-a"
    GOST2012_512_B = "gost2012-512-b"
    GOST2012_512_C = "gost2012-512-c"

    @property
    def is_gost(self) -> bool:
        return self.value.startswith("gost2012-")

    @property
    def gost_bits(self) -> int:
        """256 or 512, for a GOST key."""
        return int(self.value.split("-")[1])

    @property
    def gost_paramset(self) -> str:
        """gost-engine's name of the parameter set ("A", "TCA", ...), for a GOST key."""
        return self.value.split("-")[2].upper()

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
