"""The software signing backend: keys in encrypted PKCS#8 PEM files, pyca/cryptography's,
and GOST R 34.10-2012 keys through OpenSSL's GOST engine (hsm/gost_engine.py).

This is the embedded default for a CA without an HSM. Each key is one file
`<key_dir>/<label>.pem`, encrypted with the passphrase (PKCS#8, BestAvailableEncryption),
created with mode 0600 and never overwritten until the key is destroyed. A KeyRef names it as
`file:<absolute path>`. Private keys are decrypted once and cached, because decryption (a
password KDF) costs far more than a signature; a cached key is used only while its file
exists (one stat per batch), so a key destroyed by one process (the retirement duty) can no
longer sign in the signer processes that cached it. URIs outside `key_dir` are refused, so a
signer process serving a socket cannot be made to read (or destroy) arbitrary files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from hsm import gost_engine
from hsm.backend import HSMError, KeyAlgorithm, KeyRef

PrivateKey = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | gost_engine.PrivateKey
)

_T = TypeVar("_T")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CURVES: dict[KeyAlgorithm, ec.EllipticCurve] = {
    KeyAlgorithm.EC_P256: ec.SECP256R1(),
    KeyAlgorithm.EC_P384: ec.SECP384R1(),
}
_EC_HASHES: dict[str, hashes.HashAlgorithm] = {
    "secp256r1": hashes.SHA256(),
    "secp384r1": hashes.SHA384(),
}


class SoftwareBackend:
    """A `SigningBackend` over encrypted PKCS#8 files in one directory.

    Raises HSMError if `key_dir` does not exist or is not a directory.
    """

    def __init__(self, key_dir: Path, passphrase: bytes) -> None:
        if not passphrase:
            raise HSMError("software backend: the key passphrase is empty")
        key_dir = Path(key_dir).resolve()
        if not key_dir.is_dir():
            raise HSMError(f"software backend: key directory {key_dir} does not exist")
        self._key_dir = key_dir
        self._passphrase = passphrase
        self._keys: dict[KeyRef, PrivateKey] = {}

    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        """Make a key and write it to `<key_dir>/<label>.pem` (mode 0600).

        Raises HSMError if the label is not a plain file name or the file already exists.
        """
        if not _LABEL.fullmatch(label):
            raise HSMError(f"software backend: bad key label {label!r}")
        algorithm = KeyAlgorithm(algorithm)
        key = _new_private_key(algorithm)
        pem = _encrypted_pem(key, self._passphrase)
        path = self._key_dir / f"{label}.pem"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise HSMError(f"software backend: key file {path} already exists") from None
        except OSError as exc:
            raise HSMError(f"software backend: cannot create {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        ref = KeyRef(uri=f"file:{path}", algorithm=algorithm)
        self._keys[ref] = key
        return ref

    def public_key_der(self, key: KeyRef) -> bytes:
        private = self._private_key(key)
        if isinstance(private, gost_engine.PrivateKey):
            return _gost(private.public_key_der)
        return private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_many(self, key: KeyRef, messages: Sequence[bytes]) -> list[bytes]:
        """Sign each message per the scheme of hsm.backend. Raises HSMError."""
        private = self._private_key(key)
        if isinstance(private, ec.EllipticCurvePrivateKey):
            scheme = ec.ECDSA(_EC_HASHES[private.curve.name])
            return [private.sign(m, scheme) for m in messages]
        if isinstance(private, rsa.RSAPrivateKey):
            pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
            return [private.sign(m, pkcs1, sha256) for m in messages]
        if isinstance(private, gost_engine.PrivateKey):
            return _gost(lambda: private.sign_many(messages))
        return [private.sign(m) for m in messages]

    def destroy_key(self, key: KeyRef) -> None:
        """Overwrite the key file with zeros, flush it and remove it; drop the cached key.
        A file already gone counts as destroyed. Raises HSMError for a URI outside
        `key_dir` or a file that cannot be overwritten or removed. (Overwriting does not
        reach copies a journaling or copy-on-write file system may keep; the file was
        encrypted with the passphrase all along.)"""
        path = self._path_of(key.uri)
        _close(self._keys.pop(key, None))
        destroy_key_file(path)

    def close(self) -> None:
        for private in self._keys.values():
            _close(private)
        self._keys.clear()

    def _private_key(self, key: KeyRef) -> PrivateKey:
        path = self._path_of(key.uri)
        cached = self._keys.get(key)
        if cached is not None:
            if path.exists():  # a key destroyed by another process signs no more here
                return cached
            _close(self._keys.pop(key))
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise HSMError(f"software backend: cannot read key {path}: {exc.strerror}") from None
        try:
            private = _load_pem(pem, self._passphrase, KeyAlgorithm(key.algorithm))
        except (ValueError, TypeError, UnsupportedAlgorithm, gost_engine.GostError):
            # cryptography's message does not contain the passphrase, but it is not
            # needed either: say which file, not why in the library's words.
            raise HSMError(
                f"software backend: cannot decrypt key {path} (wrong passphrase or not an "
                "encrypted PKCS#8 key)"
            ) from None
        if _algorithm_of(private) != KeyAlgorithm(key.algorithm):
            raise HSMError(
                f"software backend: key {path} is not {KeyAlgorithm(key.algorithm).value}"
            )
        self._keys[key] = private  # type: ignore[assignment]
        return private  # type: ignore[return-value]

    def _path_of(self, uri: str) -> Path:
        if not uri.startswith("file:"):
            raise HSMError(f"software backend: not a file: key URI: {uri!r}")
        path = Path(uri.removeprefix("file:"))
        if not path.is_absolute():
            raise HSMError(f"software backend: key path is not absolute: {uri!r}")
        path = path.resolve()
        if path.parent != self._key_dir:
            raise HSMError(f"software backend: key {path} is outside {self._key_dir}")
        return path


def destroy_key_file(path: Path) -> None:
    """Overwrite the key file `path` with zeros, flush it to disk and remove it; a file
    already gone counts as destroyed. Raises HSMError for one that cannot be overwritten or
    removed. Also for key files a CA keeps beside the backend."""
    try:
        with path.open("r+b") as f:
            f.write(bytes(path.stat().st_size))
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise HSMError(f"software backend: cannot destroy key {path}: {exc.strerror}") from None


def _gost(operation: Callable[[], _T]) -> _T:
    """`operation()` with the GOST engine's errors as HSMError (they never hold a secret)."""
    try:
        return operation()
    except gost_engine.GostError as exc:
        raise HSMError(f"software backend: {exc}") from None


def _close(private: object) -> None:
    if isinstance(private, gost_engine.PrivateKey):
        private.close()


def _encrypted_pem(key: PrivateKey, passphrase: bytes) -> bytes:
    if isinstance(key, gost_engine.PrivateKey):
        return _gost(lambda: key.encrypted_pem(passphrase))
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def _load_pem(pem: bytes, passphrase: bytes, algorithm: KeyAlgorithm) -> object:
    """The key in `pem`: through the GOST engine for a GOST key (cryptography reads none)."""
    if algorithm.is_gost:
        return gost_engine.load_private_key(pem, passphrase)
    return serialization.load_pem_private_key(pem, password=passphrase)


def _new_private_key(algorithm: KeyAlgorithm) -> PrivateKey:
    if algorithm.is_gost:
        return _gost(
            lambda: gost_engine.generate_private_key(algorithm.gost_bits, algorithm.gost_paramset)
        )
    if algorithm.is_ec:
        return ec.generate_private_key(_CURVES[algorithm])
    if algorithm.is_rsa:
        return rsa.generate_private_key(public_exponent=65537, key_size=algorithm.rsa_bits)
    return ed25519.Ed25519PrivateKey.generate()


def _algorithm_of(private: object) -> KeyAlgorithm | None:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return {"secp256r1": KeyAlgorithm.EC_P256, "secp384r1": KeyAlgorithm.EC_P384}.get(
            private.curve.name
        )
    if isinstance(private, rsa.RSAPrivateKey):
        return {
            2048: KeyAlgorithm.RSA_2048,
            3072: KeyAlgorithm.RSA_3072,
            4096: KeyAlgorithm.RSA_4096,
        }.get(private.key_size)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return KeyAlgorithm.ED25519
    if isinstance(private, gost_engine.PrivateKey):
        return _gost_algorithm(private)
    return None


def _gost_algorithm(private: gost_engine.PrivateKey) -> KeyAlgorithm | None:
    """The GOST KeyAlgorithm of `private`, its parameter set read from its public key."""
    found = gost_engine.paramset_of(private.public_key_der())
    if found is None:
        return None
    bits, paramset = found
    return KeyAlgorithm(f"gost2012-{bits}-{paramset.lower()}")
