"""GOST R 34.10-2012 signatures and GOST R 34.11-2012 (Streebog) digests through OpenSSL.

Neither `cryptography` (its wheels carry their own OpenSSL, without GOST) nor the Python
standard library signs with GOST. What works on Debian is the system OpenSSL 3.0 with the
GOST engine of `libengine-gost-openssl`, loaded through the (deprecated) ENGINE API: the
engine's provider in that package has no key management or signatures
(reference/ru-profile.md 6.1). This module is the one binding to it, through ctypes over
the system `libcrypto.so.3` (the one Python's own `ssl` module links), and the only place
that names an OpenSSL function; every OpenSSL object it makes is freed before it returns,
except a loaded private key and its signing context, which `PrivateKey.close` frees, and
the engine's own reference, kept for the life of the process. It is swapped for provider
calls when Debian's provider gains signatures.

Encodings are those X.509 uses (RFC 9215, RFC 4491): a signature is s || r, each half
big-endian and as long as the key's order (64 octets for 256-bit keys, 128 for 512-bit),
exactly what the engine writes; a 256-bit key signs with Streebog-256, a 512-bit key with
Streebog-512. Public keys come and go as DER SubjectPublicKeyInfo, private keys as
encrypted PKCS#8 PEM (PBES2 with AES-256-CBC), or, for a key the CA makes for a client
(EST serverkeygen, CMP central key generation), as the PKCS#8 DER the protocols deliver.

The engine is registered as OpenSSL's default for the algorithms it implements, which are
GOST's alone, so TLS and hashing elsewhere in the process are untouched.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterable
from typing import Final

from asn1crypto import core

__all__ = [
    "GostError",
    "PrivateKey",
    "available",
    "digest",
    "generate_private_key",
    "load_private_key",
    "public_key_of_point",
    "verify",
]

# gost-engine's parameter-set names (`-pkeyopt paramset:...`): CryptoPro A/B/C and the
# exchange sets XA/XB, the TC26 sets TCA..TCD for 256-bit keys; TC26 A/B/C for 512-bit.
# Their OIDs (reference/ru-profile.md 5.1), as a key's SubjectPublicKeyInfo names them.
PARAMSET_OIDS: Final = {
    (256, "A"): "1.2.643.2.2.35.1",
    (256, "B"): "1.2.643.2.2.35.2",
    (256, "C"): "1.2.643.2.2.35.3",
    (256, "XA"): "1.2.643.2.2.36.0",
    (256, "XB"): "1.2.643.2.2.36.1",
    (256, "TCA"): "1.2.643.7.1.2.1.1.1",
    (256, "TCB"): "1.2.643.7.1.2.1.1.2",
    (256, "TCC"): "1.2.643.7.1.2.1.1.3",
    (256, "TCD"): "1.2.643.7.1.2.1.1.4",
    (512, "A"): "1.2.643.7.1.2.1.2.1",
    (512, "B"): "1.2.643.7.1.2.1.2.2",
    (512, "C"): "1.2.643.7.1.2.1.2.3",
}
PARAMSETS_256: Final = frozenset(name for bits, name in PARAMSET_OIDS if bits == 256)
PARAMSETS_512: Final = frozenset(name for bits, name in PARAMSET_OIDS if bits == 512)

_KEY_TYPES: Final = {256: b"gost2012_256", 512: b"gost2012_512"}
_KEY_OIDS: Final = {256: "1.2.643.7.1.1.1.1", 512: "1.2.643.7.1.1.1.2"}  # RFC 9215 3.1
_KEY_512_OID_DER: Final = core.ObjectIdentifier(_KEY_OIDS[512]).dump()
DIGEST_OIDS: Final = {256: "1.2.643.7.1.1.2.2", 512: "1.2.643.7.1.1.2.3"}  # Streebog
_DIGESTS: Final = {"streebog256": b"md_gost12_256", "streebog512": b"md_gost12_512"}
_ENGINE_METHOD_ALL: Final = 0xFFFF
_PASSWORD_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p
)


class GostError(Exception):
    """The engine is missing, or refused a key or an operation. The message never carries
    a passphrase."""


class _Library:
    """libcrypto with the signatures of the functions used here, and the loaded engine."""

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL("libcrypto.so.3")
        except OSError as exc:
            raise GostError(f"cannot load the system OpenSSL (libcrypto.so.3): {exc}") from None
        vp, cp, i, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
        for name, result, arguments in (
            ("ENGINE_by_id", vp, [cp]),
            ("ENGINE_init", i, [vp]),
            ("ENGINE_free", i, [vp]),
            ("ENGINE_set_default", i, [vp, ctypes.c_uint]),
            ("ENGINE_get_digest", vp, [vp, i]),
            ("OBJ_sn2nid", i, [cp]),
            ("ERR_get_error", ctypes.c_ulong, []),
            ("ERR_error_string_n", None, [ctypes.c_ulong, cp, sz]),
            ("ERR_clear_error", None, []),
            ("BIO_new_mem_buf", vp, [cp, i]),
            ("BIO_new", vp, [vp]),
            ("BIO_s_mem", vp, []),
            ("BIO_ctrl", ctypes.c_long, [vp, i, ctypes.c_long, vp]),
            ("BIO_free", i, [vp]),
            ("EVP_aes_256_cbc", vp, []),
            ("EVP_PKEY_CTX_new_id", vp, [i, vp]),
            ("EVP_PKEY_CTX_new", vp, [vp, vp]),
            ("EVP_PKEY_sign_init", i, [vp]),
            ("EVP_PKEY_sign", i, [vp, vp, ctypes.POINTER(sz), vp, sz]),
            ("EVP_PKEY_CTX_free", None, [vp]),
            ("EVP_PKEY_keygen_init", i, [vp]),
            ("EVP_PKEY_CTX_ctrl_str", i, [vp, cp, cp]),
            ("EVP_PKEY_keygen", i, [vp, ctypes.POINTER(vp)]),
            ("EVP_PKEY_free", None, [vp]),
            ("EVP_PKEY_get_base_id", i, [vp]),
            ("PEM_write_bio_PKCS8PrivateKey", i, [vp, vp, vp, cp, i, _PASSWORD_CALLBACK, vp]),
            ("PEM_read_bio_PrivateKey", vp, [vp, vp, _PASSWORD_CALLBACK, vp]),
            ("i2d_PUBKEY", i, [vp, ctypes.POINTER(vp)]),
            ("d2i_PUBKEY", vp, [vp, ctypes.POINTER(vp), ctypes.c_long]),
            ("EVP_MD_CTX_new", vp, []),
            ("EVP_MD_CTX_free", None, [vp]),
            ("EVP_DigestVerifyInit", i, [vp, vp, vp, vp, vp]),
            ("EVP_DigestVerify", i, [vp, cp, sz, cp, sz]),
            ("EVP_Digest", i, [cp, sz, vp, vp, vp, vp]),
            ("CRYPTO_free", None, [vp, cp, i]),
            ("CRYPTO_clear_free", None, [vp, sz, cp, i]),
            ("EVP_PKEY2PKCS8", vp, [vp]),
            ("i2d_PKCS8_PRIV_KEY_INFO", i, [vp, ctypes.POINTER(vp)]),
            ("PKCS8_PRIV_KEY_INFO_free", None, [vp]),  # clears the key octets it frees
            ("ENGINE_finish", i, [vp]),
            ("EVP_PKEY_get0", vp, [vp]),
            ("EC_KEY_get0_group", vp, [vp]),
            ("EC_GROUP_get_curve_name", i, [vp]),
            ("OBJ_nid2obj", vp, [i]),
            ("OBJ_obj2txt", i, [cp, i, vp, i]),
        ):
            function = getattr(lib, name)
            function.restype = result
            function.argtypes = arguments
        self.lib = lib
        engine = lib.ENGINE_by_id(b"gost")
        if not engine:
            lib.ERR_clear_error()
            raise GostError(
                "OpenSSL's GOST engine is not installed (Debian package libengine-gost-openssl)"
            )
        try:
            if lib.ENGINE_init(engine) != 1:
                raise self.error("cannot start OpenSSL's GOST engine")
            if lib.ENGINE_set_default(engine, _ENGINE_METHOD_ALL) != 1:
                error = self.error("cannot register OpenSSL's GOST engine")
                lib.ENGINE_finish(engine)
                raise error
        finally:
            lib.ENGINE_free(engine)  # the structural reference; ENGINE_init holds its own
        self.engine = engine
        self.key_types = {lib.OBJ_sn2nid(name): bits for bits, name in _KEY_TYPES.items()}
        self.digests = {name: self._digest(sn) for name, sn in _DIGESTS.items()}
        self.digest_for_bits = {256: self.digests["streebog256"], 512: self.digests["streebog512"]}

    def _digest(self, short_name: bytes) -> int:
        found = self.lib.ENGINE_get_digest(self.engine, self.lib.OBJ_sn2nid(short_name))
        if not found:
            raise self.error(f"the GOST engine has no digest {short_name.decode()}")
        return int(found)

    def error(self, what: str) -> GostError:
        """A GostError for `what`, with OpenSSL's first queued reason; the queue emptied."""
        code = self.lib.ERR_get_error()
        self.lib.ERR_clear_error()
        if not code:
            return GostError(what)
        text = ctypes.create_string_buffer(256)
        self.lib.ERR_error_string_n(code, text, len(text))
        return GostError(f"{what}: {text.value.decode('ascii', 'replace')}")


_library: _Library | None = None
_unavailable: str | None = None
_loading = threading.Lock()


def _lib() -> _Library:
    """The library, loaded once per process. Raises GostError if it cannot be."""
    global _library, _unavailable
    if _library is not None:
        return _library
    with _loading:
        if _library is None:
            if _unavailable is not None:
                raise GostError(_unavailable)
            try:
                _library = _Library()
            except GostError as exc:
                _unavailable = str(exc)
                raise
    return _library


def available() -> str | None:
    """None when GOST signing works in this process, else why not (for a clear skip or an
    error message naming the missing package)."""
    try:
        _lib()
    except GostError as exc:
        return str(exc)
    return None


def _password(passphrase: bytes) -> object:
    """An OpenSSL pem_password_cb that copies `passphrase` (any octets, NUL included)."""

    def callback(buffer: int, size: int, _rwflag: int, _user: int) -> int:
        if len(passphrase) > size:
            return -1
        ctypes.memmove(buffer, passphrase, len(passphrase))
        return len(passphrase)

    return _PASSWORD_CALLBACK(callback)


class PrivateKey:
    """A GOST R 34.10-2012 private key held by OpenSSL. Not thread-safe: one thread signs
    with it at a time (the signer process's backend thread).

    Signing is Streebog over the message (EVP_Digest), then the engine's signature over
    that digest on one EVP_PKEY_CTX prepared when the key is loaded, with buffers kept
    with the key: what EVP_DigestSign does inside, in two foreign calls instead of the
    three (reset, DigestSignInit, DigestSign) of a context set up per signature. At about
    50 us a signature each call's Python side counts: a signer process's CPU per signature
    (64-message batch, decoded, signed, encoded) went from 57.4 to 51.3 us (best of 15)."""

    def __init__(self, library: _Library, pkey: int) -> None:
        self._library = library
        self._pkey: int | None = pkey
        lib = library.lib
        self.bits = library.key_types[lib.EVP_PKEY_get_base_id(pkey)]
        self._md = library.digest_for_bits[self.bits]
        self._digest = ctypes.create_string_buffer(self.bits // 8)
        self._signature = ctypes.create_string_buffer(self.bits // 4)
        self._size = ctypes.c_size_t()
        self._context = lib.EVP_PKEY_CTX_new(pkey, library.engine)
        if not self._context or lib.EVP_PKEY_sign_init(self._context) != 1:
            error = library.error("cannot prepare the GOST key for signing")
            self.close()
            raise error

    def _handle(self) -> int:
        if self._pkey is None:
            raise GostError("the GOST key was closed")
        return self._pkey

    def sign(self, message: bytes) -> bytes:
        """The signature over `message` (s || r, see the module docstring)."""
        return self.sign_many([message])[0]

    def sign_many(self, messages: Iterable[bytes]) -> list[bytes]:
        """The signature over each message, in order. Raises GostError."""
        self._handle()
        lib, engine, md, context = self._library.lib, self._library.engine, self._md, self._context
        digest, signature, size = self._digest, self._signature, self._size
        length, size_ref = len(digest), ctypes.byref(size)
        signatures = []
        for message in messages:
            size.value = len(signature)
            if (
                lib.EVP_Digest(message, len(message), digest, None, md, engine) != 1
                or lib.EVP_PKEY_sign(context, signature, size_ref, digest, length) != 1
            ):
                raise self._library.error("GOST signing failed")
            signatures.append(signature.raw[: size.value])
        return signatures

    def public_key_der(self) -> bytes:
        """The DER SubjectPublicKeyInfo, as the engine writes it (RFC 9215 4.2)."""
        return _public_key_der(self._library, self._handle())

    def pkcs8_der(self) -> bytes:
        """The key as an unencrypted DER PKCS#8 PrivateKeyInfo (RFC 5958 2), as OpenSSL
        writes it: for a key the CA made for a client, which leaves inside TLS or an
        envelope (server/enrollment/new_keys.py)."""
        return _private_key_info_der(self._library, self._handle())

    def encrypted_pem(self, passphrase: bytes) -> bytes:
        """The key as PEM PKCS#8 encrypted under `passphrase` (PBES2, AES-256-CBC)."""
        if not passphrase:
            raise GostError("an empty passphrase does not protect a key")
        lib = self._library.lib
        bio = lib.BIO_new(lib.BIO_s_mem())
        if not bio:
            raise self._library.error("cannot allocate a memory BIO")
        try:
            callback = _password(passphrase)
            if lib.PEM_write_bio_PKCS8PrivateKey(
                bio, self._handle(), lib.EVP_aes_256_cbc(), None, 0, callback, None
            ) != 1:  # fmt: skip
                raise self._library.error("cannot write the GOST key")
            return _bio_contents(lib, bio)
        finally:
            lib.BIO_free(bio)

    def close(self) -> None:
        """Free the key and its signing context; the key signs no more."""
        lib = self._library.lib
        if getattr(self, "_context", None):
            lib.EVP_PKEY_CTX_free(self._context)  # holds a reference to the key
            self._context = None
        if self._pkey is not None:
            lib.EVP_PKEY_free(self._pkey)
            self._pkey = None

    def __del__(self) -> None:
        self.close()


def _bio_contents(lib: ctypes.CDLL, bio: int) -> bytes:
    pointer = ctypes.c_void_p()
    length = lib.BIO_ctrl(bio, 3, 0, ctypes.byref(pointer))  # BIO_CTRL_INFO: get_mem_data
    return ctypes.string_at(pointer, length) if length > 0 else b""


def _public_key_der(library: _Library, pkey: int) -> bytes:
    lib = library.lib
    out = ctypes.c_void_p()
    length = lib.i2d_PUBKEY(pkey, ctypes.byref(out))  # allocates `out`
    if length <= 0 or not out:
        raise library.error("cannot encode the GOST public key")
    try:
        return _without_512_digest(ctypes.string_at(out, length))
    finally:
        lib.CRYPTO_free(out, None, 0)


def _without_512_digest(spki: bytes) -> bytes:
    """`spki` as RFC 9215 4.2 writes it: digestParamSet only for the 256-bit CryptoPro sets.
    The engine also writes it (Streebog-512) for 512-bit keys on sets A and B, and reads the
    key the same without it; the CA's own keys so have the one encoding issuance gives its
    subscribers' (protocols/gost.py canonical_spki)."""
    outer = core.Sequence.load(spki)
    algorithm = core.Sequence.load(outer[0].dump())
    if algorithm[0].dump() != _KEY_512_OID_DER:
        return spki
    parameters = core.Sequence.load(algorithm[1].dump())
    if len(parameters) == 1:
        return spki
    parameters_der = _tlv(0x30, parameters[0].dump())
    algorithm_der = _tlv(0x30, algorithm[0].dump() + parameters_der)
    return _tlv(0x30, algorithm_der + outer[1].dump())


def public_key_of_point(bits: int, paramset: str, point: bytes) -> bytes:
    """The SubjectPublicKeyInfo of the public key `point` (X || Y little-endian, as RFC 9215
    4.3 and a PKCS#11 token's CKA_VALUE hold it) on gost-engine's `paramset`, encoded as
    this module encodes the keys the engine makes. Raises GostError if OpenSSL does not take
    the point for a key on that curve, ValueError for an unknown set or a wrong length."""
    oid = PARAMSET_OIDS.get((bits, paramset))
    if oid is None:
        raise ValueError(f"no GOST R 34.10-2012 {bits}-bit parameter set {paramset!r}")
    if len(point) != bits // 4:
        raise ValueError(f"a {bits}-bit GOST public key has {bits // 4} octets, not {len(point)}")
    # Written with digestParamSet, which the engine reads for every set, then read and
    # written again by OpenSSL: it checks the point and writes RFC 9215's encoding.
    parameters = core.ObjectIdentifier(oid).dump() + core.ObjectIdentifier(DIGEST_OIDS[bits]).dump()
    algorithm = _tlv(0x30, core.ObjectIdentifier(_KEY_OIDS[bits]).dump() + _tlv(0x30, parameters))
    spki = _tlv(0x30, algorithm + _tlv(0x03, b"\x00" + _tlv(0x04, point)))
    library = _lib()
    pkey = _read_public_key(library, spki)
    try:
        return _public_key_der(library, pkey)
    finally:
        library.lib.EVP_PKEY_free(pkey)


def _tlv(tag: int, body: bytes) -> bytes:
    """A DER TLV of one-octet `tag` (X.690 8.1.3, definite length)."""
    if len(body) < 0x80:
        return bytes((tag, len(body))) + body
    octets = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + body


def generate_private_key(bits: int, paramset: str) -> PrivateKey:
    """A new key of `bits` (256 or 512) on gost-engine's parameter set `paramset`
    (PARAMSETS_256 or PARAMSETS_512). Raises GostError, ValueError for an unknown set."""
    allowed = {256: PARAMSETS_256, 512: PARAMSETS_512}.get(bits)
    if allowed is None or paramset not in allowed:
        raise ValueError(f"no GOST R 34.10-2012 {bits}-bit parameter set {paramset!r}")
    library = _lib()
    lib = library.lib
    context = lib.EVP_PKEY_CTX_new_id(lib.OBJ_sn2nid(_KEY_TYPES[bits]), library.engine)
    if not context:
        raise library.error("cannot start GOST key generation")
    pkey = ctypes.c_void_p()
    try:
        if (
            lib.EVP_PKEY_keygen_init(context) != 1
            or lib.EVP_PKEY_CTX_ctrl_str(context, b"paramset", paramset.encode()) <= 0
            or lib.EVP_PKEY_keygen(context, ctypes.byref(pkey)) != 1
        ):
            raise library.error(f"GOST key generation ({bits}-bit, {paramset}) failed")
    finally:
        lib.EVP_PKEY_CTX_free(context)
    return PrivateKey(library, int(pkey.value or 0))


def load_private_key(pem: bytes, passphrase: bytes) -> PrivateKey:
    """The GOST key in encrypted PKCS#8 PEM `pem`. Raises GostError for a wrong passphrase,
    another format or a key that is not GOST R 34.10-2012 (without saying the passphrase)."""
    if not pem.lstrip().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"):
        raise GostError("not an encrypted PKCS#8 key (BEGIN ENCRYPTED PRIVATE KEY)")
    library = _lib()
    lib = library.lib
    bio = lib.BIO_new_mem_buf(pem, len(pem))
    if not bio:
        raise library.error("cannot allocate a memory BIO")
    try:
        pkey = lib.PEM_read_bio_PrivateKey(bio, None, _password(passphrase), None)
    finally:
        lib.BIO_free(bio)
    if not pkey:
        raise library.error("cannot read the key (wrong passphrase or not an encrypted PKCS#8 key)")
    if lib.EVP_PKEY_get_base_id(pkey) not in library.key_types:
        lib.EVP_PKEY_free(pkey)
        raise GostError("the key is not a GOST R 34.10-2012 key")
    return PrivateKey(library, pkey)


def _read_public_key(library: _Library, spki_der: bytes) -> int:
    lib = library.lib
    buffer = ctypes.create_string_buffer(spki_der, len(spki_der))
    cursor = ctypes.c_void_p(ctypes.addressof(buffer))
    pkey = lib.d2i_PUBKEY(None, ctypes.byref(cursor), len(spki_der))
    if not pkey:
        raise library.error("not a public key OpenSSL reads")
    if lib.EVP_PKEY_get_base_id(pkey) not in library.key_types or cursor.value != ctypes.addressof(
        buffer
    ) + len(spki_der):
        lib.EVP_PKEY_free(pkey)
        raise GostError("not a GOST R 34.10-2012 public key (or trailing octets)")
    return int(pkey)


def paramset_of(spki_der: bytes) -> tuple[int, str] | None:
    """The size and gost-engine's parameter-set name ("A", "TCA", ...) of a GOST R
    34.10-2012 public key; None for a set not in PARAMSET_OIDS. Raises GostError."""
    library = _lib()
    lib = library.lib
    pkey = _read_public_key(library, spki_der)
    try:
        bits = library.key_types[lib.EVP_PKEY_get_base_id(pkey)]
        group = lib.EC_KEY_get0_group(lib.EVP_PKEY_get0(pkey))
        text = ctypes.create_string_buffer(64)
        if (
            not group
            or lib.OBJ_obj2txt(
                text, len(text), lib.OBJ_nid2obj(lib.EC_GROUP_get_curve_name(group)), 1
            )
            <= 0
        ):
            raise library.error("cannot read the GOST key's parameter set")
    finally:
        lib.EVP_PKEY_free(pkey)
    oid = text.value.decode("ascii")
    found = [
        name for (size, name), dotted in PARAMSET_OIDS.items() if (size, dotted) == (bits, oid)
    ]
    return (bits, found[0]) if found else None


def verify(spki_der: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` (s || r) is the key's over `message`, with Streebog-256 for a
    256-bit key and Streebog-512 for a 512-bit one. Raises GostError if `spki_der` is not a
    GOST R 34.10-2012 key."""
    library = _lib()
    lib = library.lib
    pkey = _read_public_key(library, spki_der)
    context = lib.EVP_MD_CTX_new()
    try:
        md = library.digest_for_bits[library.key_types[lib.EVP_PKEY_get_base_id(pkey)]]
        if not context or lib.EVP_DigestVerifyInit(context, None, md, library.engine, pkey) != 1:
            raise library.error("GOST verification failed to start")
        result = lib.EVP_DigestVerify(context, signature, len(signature), message, len(message))
        lib.ERR_clear_error()  # a bad signature leaves a reason queued
        return result == 1
    finally:
        lib.EVP_MD_CTX_free(context)
        lib.EVP_PKEY_free(pkey)


def digest(name: str, data: bytes) -> bytes:
    """GOST R 34.11-2012 of `data`: name "streebog256" (32 octets) or "streebog512" (64).
    Raises ValueError for another name, GostError without the engine."""
    if name not in _DIGESTS:
        raise ValueError(f"not a Streebog digest: {name!r}")
    library = _lib()
    out = ctypes.create_string_buffer(64)
    size = ctypes.c_uint(0)
    if (
        library.lib.EVP_Digest(
            data, len(data), out, ctypes.byref(size), library.digests[name], library.engine
        )
        != 1
    ):
        raise library.error(f"{name} failed")
    return out.raw[: size.value]


def _private_key_info_der(library: _Library, pkey: int) -> bytes:
    """PKCS#8 PrivateKeyInfo of `pkey` by the engine's encoder (EVP_PKEY2PKCS8). The
    OpenSSL copies of the key are wiped as they are freed."""
    lib = library.lib
    info = lib.EVP_PKEY2PKCS8(pkey)
    if not info:
        raise library.error("cannot encode the GOST private key")
    out = ctypes.c_void_p()
    try:
        length = lib.i2d_PKCS8_PRIV_KEY_INFO(info, ctypes.byref(out))  # allocates `out`
        if length <= 0 or not out:
            raise library.error("cannot encode the GOST private key")
        try:
            return ctypes.string_at(out, length)
        finally:
            lib.CRYPTO_clear_free(out, length, None, 0)
    finally:
        lib.PKCS8_PRIV_KEY_INFO_free(info)
