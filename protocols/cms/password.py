"""EnvelopedData for a shared password: PasswordRecipientInfo (RFC 5652 6.2.4, RFC 3211)
with the algorithms of RFC 9481: PBKDF2 with HMAC-SHA256 derives the key-encryption key from
the password (4.4.1), which wraps the content-encryption key with AES-256 key wrap (4.3.1,
RFC 3394). CMP central key generation uses it when the request was MAC-protected: the new
key travels encrypted under the secret that protected the request (RFC 9483 4.1.6.3).

OpenSSL's `cms -pwri_password` does not read this: it implements only RFC 3211's
id-alg-PWRI-KEK, which RFC 9481 does not use.
"""

from __future__ import annotations

import os

from asn1crypto import algos, cms
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from protocols.cms.enveloped import (
    _CEK_BYTES,
    ID_ENVELOPED_DATA,
    _decrypt_content,
    _encrypted_content_info,
)
from protocols.cms.signed import _oid

__all__ = ["envelope_for_password", "open_password_envelope"]

_SALT_BYTES = 16
_MAX_ITERATIONS = 1_000_000  # what an opener accepts from the envelope it reads


def envelope_for_password(
    content_type: str, content: bytes, password: bytes, iterations: int = 10_000
) -> bytes:
    """DER ContentInfo { id-envelopedData, EnvelopedData } version 3 (RFC 5652 6.1: a
    PasswordRecipientInfo makes it 3) with one PasswordRecipientInfo version 0: PBKDF2
    (random 16-octet salt, `iterations`, key length 32, PRF hmacWithSHA256), id-aes256-wrap.
    The content is AES-256-CBC as in :func:`protocols.cms.envelope`. Raises ValueError for
    an empty password, an iteration count below 1000 or an OID that is not dotted."""
    content_type = _oid("content_type", content_type)
    if not password:
        raise ValueError("an empty password")
    if not 1000 <= iterations <= _MAX_ITERATIONS:
        raise ValueError(f"PBKDF2 iterations {iterations}: 1000 to {_MAX_ITERATIONS}")
    salt = os.urandom(_SALT_BYTES)
    cek = os.urandom(_CEK_BYTES)
    kek = _kek(password, salt, iterations)
    recipient = cms.RecipientInfo(
        name="pwri",
        value={
            "version": "v0",
            "key_derivation_algorithm": {
                "algorithm": "pbkdf2",
                "parameters": {
                    "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                    "iteration_count": iterations,
                    "key_length": len(kek),
                    "prf": {"algorithm": "sha256"},
                },
            },
            "key_encryption_algorithm": {"algorithm": "aes256_wrap"},
            "encrypted_key": keywrap.aes_key_wrap(kek, cek),
        },
    )
    enveloped = cms.EnvelopedData(
        {
            "version": "v3",
            "recipient_infos": [recipient],
            "encrypted_content_info": _encrypted_content_info(content_type, content, cek),
        }
    )
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump())


def open_password_envelope(envelope_der: bytes, password: bytes) -> tuple[str, bytes]:
    """(content type, content) of an envelope :func:`envelope_for_password` made, opened
    with the password (tests, clients written in Python). Raises ValueError when it is not
    one or the password is wrong (AES key wrap checks its integrity, RFC 3394 2.2.3)."""
    try:
        info = cms.ContentInfo.load(envelope_der, strict=True)
        if info["content_type"].dotted != ID_ENVELOPED_DATA:
            raise ValueError("not an id-envelopedData ContentInfo")
        enveloped = info["content"]
        for recipient in enveloped["recipient_infos"]:
            if recipient.name != "pwri":
                continue
            pwri = recipient.chosen
            derivation = pwri["key_derivation_algorithm"]
            if derivation["algorithm"].native != "pbkdf2":
                raise ValueError("the key derivation is not PBKDF2")
            if pwri["key_encryption_algorithm"]["algorithm"].native != "aes256_wrap":
                raise ValueError("the key encryption is not id-aes256-wrap")
            parameters = derivation["parameters"]
            if parameters["prf"]["algorithm"].native != "sha256":
                raise ValueError("the PBKDF2 PRF is not hmacWithSHA256")
            iterations = parameters["iteration_count"].native
            if not 1 <= iterations <= _MAX_ITERATIONS:
                raise ValueError(f"PBKDF2 iterations {iterations} out of bounds")
            kek = _kek(password, parameters["salt"].native, iterations)
            try:
                cek = keywrap.aes_key_unwrap(kek, pwri["encrypted_key"].native)
            except keywrap.InvalidUnwrap:
                raise ValueError("the password does not open this envelope") from None
            encrypted = enveloped["encrypted_content_info"]
            return encrypted["content_type"].dotted, _decrypt_content(encrypted, cek)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a DER EnvelopedData: {exc}") from None
    raise ValueError("no PasswordRecipientInfo in this envelope")


def _kek(password: bytes, salt: bytes, iterations: int) -> bytes:
    return PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(password)
