"""GOST R 34.10-2012 keys in a PKCS#11 token: the GOST part of hsm.pkcs11.

Mechanisms. A 256-bit GOST R 34.10-2012 key is a CKK_GOSTR3410 key on a token (PKCS#11 3.0
section 6.49; TC26's PKCS#11 extensions keep that key type for 2012-256), generated with
CKM_GOSTR3410_KEY_PAIR_GEN from CKA_GOSTR3410_PARAMS (the curve's OID) and
CKA_GOSTR3411_PARAMS (Streebog-256's OID, which makes it a 2012 key), and used with the
raw CKM_GOSTR3410 over a Streebog-256 digest made here (hsm.gost_engine): the
digest-and-sign mechanism for 2012 keys is vendor-defined, so not every token has it.

512-bit keys exist on tokens only through TC26's vendor-defined CKK_GOSTR3410_512 and
CKM_GOSTR3410_512 (0xD4321003, 0xD4321006). python-pkcs11 names mechanisms and key types
by its own enumerations, which have no vendor-defined members, so it cannot ask a token
for them; 512-bit keys are refused by name and stay in the software backend.

Byte orders, as RFC 9215 and PKCS#11 3.0 agree: the token takes the digest octets as
Streebog produces them, returns s || r with each half big-endian (RFC 9215 section 3.1's
signature value as it is), and its public key's CKA_VALUE is X || Y little-endian (the
point RFC 9215 section 4.3 puts in the SubjectPublicKeyInfo).

Trust. A token may store the CKA_GOSTR3410_PARAMS it was given and make a key on another
curve (SoftHSM2 makes keys on CryptoPro-A only and fails when asked for another; another
token might not fail). So a freshly made key signs a probe that is verified here, through
OpenSSL's GOST engine, under the parameter set asked for; a key that does not verify is
destroyed and refused. A key found again by its URI is checked to be named with its
curve, and the signing pipeline verifies every certificate the CA signs
(hsm.pipeline.submit_verified).

Tested against SoftHSM2 built with its GOST mechanisms (scripts/build_softhsm_gost.sh),
which has CryptoPro-A keys only; other parameter sets need a token that has them.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from asn1crypto import core
from pkcs11 import Attribute, KeyType, Mechanism

from hsm import gost_engine
from hsm.backend import HSMError, KeyAlgorithm

KEY_TYPE = KeyType.GOSTR3410
GENERATE = Mechanism.GOSTR3410_KEY_PAIR_GEN
SIGN = Mechanism.GOSTR3410
PROBE = b"PKCS#11 GOST R 34.10-2012 key check"


def refusal(algorithm: KeyAlgorithm, mechanisms: Container[Mechanism]) -> str | None:
    """Why a key of `algorithm` cannot be used on a token offering `mechanisms`, or None."""
    if algorithm.gost_bits != 256:
        return (
            "PKCS#11: GOST R 34.10-2012 512-bit keys need TC26's vendor-defined mechanisms "
            "(CKM_GOSTR3410_512), which python-pkcs11 cannot name; use the soft backend"
        )
    missing = [m.name for m in (GENERATE, SIGN) if m not in mechanisms]
    if missing:
        return f"PKCS#11: the token offers no {' or '.join('CKM_' + m for m in missing)}"
    engine_missing = gost_engine.available()  # Streebog and the checks are the engine's
    if engine_missing is not None:
        return f"PKCS#11: GOST keys need OpenSSL's GOST engine here: {engine_missing}"
    return None


def public_template(algorithm: KeyAlgorithm) -> dict[Attribute, Any]:
    """The attributes that name the curve and the hash of a new key pair."""
    curve = gost_engine.PARAMSET_OIDS[(256, algorithm.gost_paramset)]
    return {
        Attribute.GOSTR3410_PARAMS: core.ObjectIdentifier(curve).dump(),
        Attribute.GOSTR3411_PARAMS: core.ObjectIdentifier(gost_engine.DIGEST_OIDS[256]).dump(),
    }


def spki_der(algorithm: KeyAlgorithm, public: Any) -> bytes:
    """The SubjectPublicKeyInfo (RFC 9215) of the token's public key object `public`.
    Raises HSMError if the object names another curve or holds a point OpenSSL does not
    take for one on the curve named."""
    check_curve(algorithm, public)
    point = bytes(public[Attribute.VALUE])
    if len(point) == 66 and point[:2] == b"\x04\x40":  # a DER OCTET STRING, as some tokens
        point = point[2:]
    try:
        return gost_engine.public_key_of_point(256, algorithm.gost_paramset, point)
    except (ValueError, gost_engine.GostError) as exc:
        raise HSMError(f"PKCS#11: the token's {algorithm.value} public key: {exc}") from None


def check_curve(algorithm: KeyAlgorithm, public: Any) -> None:
    """Raise HSMError unless the token's public key object names the curve of `algorithm`."""
    named = bytes(public[Attribute.GOSTR3410_PARAMS])
    if named != public_template(algorithm)[Attribute.GOSTR3410_PARAMS]:
        raise HSMError(f"PKCS#11: the token's key is not {algorithm.value}")


def sign_many(private: Any, messages: Sequence[bytes]) -> list[bytes]:
    """s || r over Streebog-256 of each message, made by the token's raw CKM_GOSTR3410.
    Raises HSMError if the digest cannot be made, PKCS11Error if the token fails."""
    try:
        digests = [gost_engine.digest("streebog256", m) for m in messages]
    except gost_engine.GostError as exc:
        raise HSMError(f"PKCS#11: Streebog-256 for a GOST signature: {exc}") from None
    return [private.sign(digest, mechanism=SIGN) for digest in digests]


def signs_as_named(spki: bytes, private: Any) -> bool:
    """Whether the key signs a probe that verifies under `spki` (see Trust above)."""
    return gost_engine.verify(spki, sign_many(private, [PROBE])[0], PROBE)
