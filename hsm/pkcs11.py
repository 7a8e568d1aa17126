"""The PKCS#11 signing backend (python-pkcs11; SoftHSM2 in tests, a vendor module in
production).

Theory of operation:
- One backend opens one logged-in read/write session on one token and must be driven from
  one thread only: python-pkcs11 initialises the module without locking (see
  ARCHITECTURE.md). The pipeline runs each backend inside its own signer process.
- Keys are generated inside the token: the private key is a token object, private,
  sensitive, non-extractable and may only sign. A KeyRef names it by an RFC 7512 URI
  `pkcs11:token=..;object=<label>;id=<random id>;type=private`.
- ECDSA: the message is hashed here (hashlib; SHA-256 for P-256, SHA-384 for P-384) and the
  token signs the digest with CKM_ECDSA, because CKM_ECDSA_SHA384 and friends are optional
  in PKCS#11 and missing from several HSMs. The raw r||s output is re-encoded as DER
  ECDSA-Sig-Value (RFC 5480). RSA uses CKM_SHA256_RSA_PKCS. Ed25519 uses CKM_EDDSA when the
  token offers it. GOST R 34.10-2012 256-bit keys use CKM_GOSTR3410 over a Streebog-256
  digest made here (hsm/pkcs11_gost.py); 512-bit ones are refused.
- Recovery: when a call fails in a way that means the session or the object handles went
  stale (the token was removed, its files restored, the device reset: ObjectHandleInvalid,
  SessionHandleInvalid, TokenNotPresent, GeneralError, ...), the backend drops its session
  and key handles, re-initialises the module (C_Finalize, C_Initialize: SoftHSM2 reads its
  token folder again only then), finds the token by label, logs in and retries the call
  once. If the token is still gone that fails at once with HSMError and the next call tries
  again. Re-initialising ends every session of the module in this process, so a login
  records the module's generation and a backend never closes a handle of an older one
  (handles are reused).
- A destroyed key (a retired CA generation) is gone from the token for every session: a
  handle another backend or signer process still holds fails, the token is re-opened (see
  Recovery) and the key is then not found, so it can no longer sign anywhere.
- Every library exception becomes HSMError. Messages name the operation, token and
  object, and the library's error class; the PIN is kept only in the login call and is
  scrubbed from any text that leaves this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, PublicKey
from pkcs11.exceptions import (
    DeviceError,
    DeviceRemoved,
    GeneralError,
    KeyHandleInvalid,
    NoSuchToken,
    ObjectHandleInvalid,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    SlotIDInvalid,
    TokenNotPresent,
    TokenNotRecognised,
    UserAlreadyLoggedIn,
    UserNotLoggedIn,
)
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from hsm import pkcs11_gost
from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from hsm.pkcs11_uri import PKCS11URI, parse_uri

# DER of the id-Ed25519 OID (RFC 8410), the EC_PARAMS SoftHSM2 accepts for Ed25519.
_ED25519_PARAMS = bytes.fromhex("06032b6570")
_EC_CURVES = {KeyAlgorithm.EC_P256: "secp256r1", KeyAlgorithm.EC_P384: "secp384r1"}
_EC_DIGESTS: dict[KeyAlgorithm, Callable[[bytes], Any]] = {
    KeyAlgorithm.EC_P256: hashlib.sha256,
    KeyAlgorithm.EC_P384: hashlib.sha384,
}
_ED25519_UNSUPPORTED = "Ed25519 is not supported by this PKCS#11 backend"
# Errors after which the session or the object handles may be stale rather than the request
# wrong: the token went away or came back (SoftHSM2 answers GeneralError on a token whose
# files vanished under it, ObjectHandleInvalid for an object whose file was replaced).
_STALE_ERRORS: tuple[type[PKCS11Error], ...] = (
    ObjectHandleInvalid,
    KeyHandleInvalid,
    SessionHandleInvalid,
    SessionClosed,
    TokenNotPresent,
    TokenNotRecognised,
    NoSuchToken,
    SlotIDInvalid,
    DeviceRemoved,
    DeviceError,
    UserNotLoggedIn,
    GeneralError,
)
log = logging.getLogger("hsm.pkcs11")
_T = TypeVar("_T")


@dataclass
class _Key:
    private: Any  # pkcs11.PrivateKey
    algorithm: KeyAlgorithm
    label: str
    id: bytes


class _Login:
    """The login of this process to one token, shared by its backends.

    PKCS#11 logs in an application, not a session: a second C_Login in the same process
    fails with CKR_USER_ALREADY_LOGGED_IN, and python-pkcs11 logs out when the session that
    logged in is closed, which would log out every other backend on that token. So one
    login session per (module, token) is kept while any backend uses it; each backend works
    in its own session. A later backend must present the same PIN (compared by digest).
    """

    _open: ClassVar[dict[tuple[str, str], _Login]] = {}
    # How often each module was re-initialised in this process: sessions of an older
    # generation are gone, and their handle numbers may belong to new sessions.
    _generations: ClassVar[dict[str, int]] = {}

    def __init__(self, key: tuple[str, str], session: Any, pin_digest: bytes) -> None:
        self.key = key
        self.session = session
        self.pin_digest = pin_digest
        self.users = 0

    @classmethod
    def generation(cls, module_path: str) -> int:
        return cls._generations.get(module_path, 0)

    @classmethod
    def reinitialize(cls, lib: Any, module_path: str) -> None:
        """C_Finalize and C_Initialize the module: every session and login of this process
        on it ends, so the logins kept for it are forgotten without closing their handles.
        Raises PKCS11Error."""
        cls._generations[module_path] = cls.generation(module_path) + 1
        for key in [k for k in cls._open if k[0] == module_path]:
            del cls._open[key]
        lib.reinitialize()

    @classmethod
    def acquire(
        cls, token: Any, module_path: str, pin: str, error: Callable[[str, BaseException], HSMError]
    ) -> _Login:
        key = (module_path, token.label)
        digest = hashlib.sha256(pin.encode("utf-8")).digest()
        login = cls._open.get(key)
        if login is None:
            try:
                session = token.open(user_pin=pin)
            except UserAlreadyLoggedIn:
                # Logged in by code outside this module; python-pkcs11 leaves the session
                # it opened for that attempt open, and there is no way to check the PIN.
                session = None
            except PKCS11Error as exc:
                raise error(f"login to token {token.label!r} failed", exc) from None
            login = cls._open[key] = cls(key, session, digest)
        elif not hmac.compare_digest(login.pin_digest, digest):
            raise HSMError(f"PKCS#11: login to token {token.label!r} failed: PinIncorrect")
        login.users += 1
        return login

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self._open.get(self.key) is self:
            del self._open[self.key]
            if self.session is not None:
                with contextlib.suppress(PKCS11Error):
                    self.session.close()


class PKCS11Backend:
    """A `SigningBackend` on one PKCS#11 token. Raises HSMError if the module cannot be
    loaded, the token is not found or the login fails."""

    def __init__(self, module_path: str, token_label: str, pin: str) -> None:
        self._pin = pin
        self._module_path = module_path
        self._token_label = token_label
        self._keys: dict[KeyRef, _Key] = {}
        self._session: Any = None
        self._generation = _Login.generation(module_path)  # that of the session
        self._lost = False  # the token was lost and its loss logged
        try:
            self._lib = pkcs11.lib(module_path)
        except (PKCS11Error, OSError, RuntimeError) as exc:
            raise self._error(f"cannot load module {module_path}", exc) from None
        try:
            self._open()
        except _STALE_ERRORS as exc:
            # SoftHSM2 sees a token made or put back after the module was loaded, and
            # recovers from one whose files vanished, only after re-initialisation.
            self._reopen(exc)

    def _open(self) -> None:
        """Find the token by label, log in (shared per process) and open a session.
        Raises HSMError, or the PKCS11Error of a token not found (see `_STALE_ERRORS`)."""
        token_label = self._token_label
        try:
            token = self._lib.get_token(token_label=token_label)
            self._mechanisms = token.slot.get_mechanisms()
        except _STALE_ERRORS:
            raise
        except PKCS11Error as exc:
            raise self._error(f"cannot find token {token_label!r}", exc) from None
        generation = _Login.generation(self._module_path)
        login = _Login.acquire(token, self._module_path, self._pin, self._error)
        try:
            session = token.open(rw=True)
        except PKCS11Error as exc:
            login.release()
            raise self._error(f"cannot open a session on token {token_label!r}", exc) from None
        self._login, self._session, self._generation = login, session, generation

    def _drop_session(self) -> None:
        """Forget the session, its login and every key handle. A session of an older module
        generation is not closed: its handle number may belong to a newer session now."""
        self._keys.clear()
        session, self._session = self._session, None
        if session is None:
            return
        if self._generation == _Login.generation(self._module_path):
            with contextlib.suppress(PKCS11Error):
                session.close()
        self._login.release()

    def _reopen(self, cause: BaseException | None) -> None:
        """Drop the session and open the token again, re-initialising the module unless
        another backend in this process already did since this one opened. Raises HSMError
        (at once) while the token is missing."""
        stale_generation = self._generation
        self._drop_session()
        try:
            if stale_generation == _Login.generation(self._module_path):
                _Login.reinitialize(self._lib, self._module_path)
            self._open()
        except (PKCS11Error, HSMError) as exc:
            self._generation = _Login.generation(self._module_path)  # the next call re-initialises
            what = f"cannot find token {self._token_label!r}"
            error = exc if isinstance(exc, HSMError) else self._error(what, exc)
            if not self._lost:
                self._lost = True
                log.warning("PKCS#11: token %r lost, not re-opened: %s", self._token_label, error)
            raise error from None
        what = type(cause).__name__ if cause is not None else "an earlier failure"
        log.warning("PKCS#11: token %r re-opened after %s", self._token_label, what)
        self._lost = False

    def _recovering(self, what: str, operation: Callable[[], _T]) -> _T:
        """Run `operation` on the session; after an error that means the session or the
        handles went stale, re-open the token and run it once more. Raises HSMError."""
        if self._session is None:  # lost at an earlier call: try the token again
            self._reopen(None)
        try:
            return operation()
        except _STALE_ERRORS as exc:
            cause: PKCS11Error = exc
        except PKCS11Error as exc:
            raise self._error(what, exc) from None
        self._reopen(cause)
        try:
            return operation()
        except PKCS11Error as exc:
            raise self._error(what, exc) from None

    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        """Generate a key pair inside the token. Raises HSMError if a private key with this
        label exists, the algorithm is not supported by the token, or generation fails."""
        algorithm = KeyAlgorithm(algorithm)
        if self._session is None:
            self._reopen(None)
        self._check_mechanisms(algorithm)
        if not label:
            raise HSMError("PKCS#11: a key label is required")
        try:
            existing = list(
                self._session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
                )
            )
        except PKCS11Error as exc:
            raise self._error(f"search for key {label!r}", exc) from None
        if existing:
            raise HSMError(f"PKCS#11: a private key labelled {label!r} already exists")
        key_id = os.urandom(16)
        private_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        public_template: dict[Attribute, Any] = {Attribute.TOKEN: True, Attribute.VERIFY: True}
        kwargs: dict[str, Any] = {}
        if algorithm.is_rsa:
            key_type, key_length = KeyType.RSA, algorithm.rsa_bits
        elif algorithm.is_ec:
            key_type, key_length = KeyType.EC, None
            params = encode_named_curve_parameters(_EC_CURVES[algorithm])
            public_template[Attribute.EC_PARAMS] = params
        elif algorithm.is_gost:
            key_type, key_length = pkcs11_gost.KEY_TYPE, None
            public_template.update(pkcs11_gost.public_template(algorithm))
            kwargs["mechanism"] = pkcs11_gost.GENERATE
        else:
            key_type, key_length = KeyType.EC_EDWARDS, None
            public_template[Attribute.EC_PARAMS] = _ED25519_PARAMS
            kwargs["mechanism"] = Mechanism.EC_EDWARDS_KEY_PAIR_GEN
        try:
            public, private = self._session.generate_keypair(
                key_type,
                key_length,
                id=key_id,
                label=label,
                store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                public_template=public_template,
                private_template=private_template,
                **kwargs,
            )
        except PKCS11Error as exc:
            raise self._error(f"generate {algorithm.value} key {label!r}", exc) from None
        if algorithm.is_gost:
            self._check_gost_key(algorithm, label, key_id, public, private)
        uri = PKCS11URI(token=self._token_label, object=label, id=key_id, type="private")
        ref = KeyRef(uri=uri.format(), algorithm=algorithm)
        self._keys[ref] = _Key(private, algorithm, label, key_id)
        return ref

    def public_key_der(self, key: KeyRef) -> bytes:
        """SubjectPublicKeyInfo DER built from the token's public key object. Raises
        HSMError."""
        return self._recovering(f"read public key {key.uri}", lambda: self._public_key_der(key))

    def _public_object(self, key_id: bytes, label: str, algorithm: KeyAlgorithm) -> Any:
        """The public key object of CKA_ID `key_id`; for GOST, checked to be on the curve of
        `algorithm`. Raises HSMError, lets PKCS11Error through."""
        attrs = {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id}
        public = next(iter(self._session.get_objects(attrs)), None)
        if public is None:
            raise HSMError(f"PKCS#11: no public key object for {label!r}")
        if algorithm.is_gost:
            pkcs11_gost.check_curve(algorithm, public)
        return public

    def _public_key_der(self, key: KeyRef) -> bytes:
        found = self._key(key)
        public = self._public_object(found.id, found.label, found.algorithm)
        if found.algorithm.is_ec:
            return encode_ec_public_key(cast(PublicKey, public))
        if found.algorithm.is_gost:
            return pkcs11_gost.spki_der(found.algorithm, public)
        if found.algorithm.is_rsa:
            numbers = rsa.RSAPublicNumbers(
                int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                int.from_bytes(public[Attribute.MODULUS], "big"),
            )
            spki_key: Any = numbers.public_key()
        else:
            point = bytes(public[Attribute.EC_POINT])
            if len(point) == 34 and point[:2] == b"\x04\x20":  # DER OCTET STRING
                point = point[2:]
            spki_key = ed25519.Ed25519PublicKey.from_public_bytes(point)
        return spki_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_many(self, key: KeyRef, messages: Sequence[bytes]) -> list[bytes]:
        """Sign each message in the token; the whole batch is retried once after the token
        was re-opened (see the module's theory of operation). Raises HSMError."""
        return self._recovering(f"sign with {key.uri}", lambda: self._sign_many(key, messages))

    def _sign_many(self, key: KeyRef, messages: Sequence[bytes]) -> list[bytes]:
        found = self._key(key)
        private, algorithm = found.private, found.algorithm
        if algorithm.is_ec:
            digest = _EC_DIGESTS[algorithm]
            size = 32 if algorithm is KeyAlgorithm.EC_P256 else 48
            out = []
            for m in messages:
                raw = private.sign(digest(m).digest(), mechanism=Mechanism.ECDSA)
                r = int.from_bytes(raw[:size], "big")
                s = int.from_bytes(raw[size:], "big")
                out.append(encode_dss_signature(r, s))
            return out
        if algorithm.is_rsa:
            return [private.sign(m, mechanism=Mechanism.SHA256_RSA_PKCS) for m in messages]
        if algorithm.is_gost:
            return pkcs11_gost.sign_many(private, messages)
        return [private.sign(m, mechanism=Mechanism.EDDSA) for m in messages]

    def destroy_key(self, key: KeyRef) -> None:
        """Destroy every object of the key's CKA_ID in the token (the private and the public
        key) and forget the handle; a key already gone counts as destroyed. Raises HSMError
        for a reference of another token or without an id, or when destruction fails."""
        uri = self._reference(key)
        if uri.id is None:
            raise HSMError(f"PKCS#11: destroying a key needs its id: {key.uri}")
        key_id = uri.id
        self._keys.pop(key, None)
        self._recovering(f"destroy key {key.uri}", lambda: self._destroy_objects(key_id))

    def _destroy_objects(self, key_id: bytes) -> None:
        for obj in list(self._session.get_objects({Attribute.ID: key_id})):
            obj.destroy()

    def close(self) -> None:
        self._drop_session()

    def _key(self, key: KeyRef) -> _Key:
        """The key's handle, found in the token on first use. Raises HSMError for a bad or
        unmatched reference and lets PKCS11Error through (see `_recovering`)."""
        cached = self._keys.get(key)
        if cached is not None:
            return cached
        uri = self._reference(key)
        algorithm = KeyAlgorithm(key.algorithm)
        if uri.type not in (None, "private") or (uri.object is None and uri.id is None):
            raise HSMError(f"PKCS#11: key reference does not name a private key: {key.uri}")
        self._check_mechanisms(algorithm)
        attrs: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        if uri.object is not None:
            attrs[Attribute.LABEL] = uri.object
        if uri.id is not None:
            attrs[Attribute.ID] = uri.id
        matches = list(self._session.get_objects(attrs))
        if len(matches) != 1:
            what = "no" if not matches else "more than one"
            raise HSMError(f"PKCS#11: {what} private key matches {key.uri}")
        private = matches[0]
        key_type = private[Attribute.KEY_TYPE]
        key_id = bytes(private[Attribute.ID])
        expected = KeyType.RSA if algorithm.is_rsa else KeyType.EC
        if algorithm is KeyAlgorithm.ED25519:
            expected = KeyType.EC_EDWARDS
        elif algorithm.is_gost:
            expected = pkcs11_gost.KEY_TYPE
        if key_type != expected:
            raise HSMError(f"PKCS#11: key {key.uri} is not {algorithm.value}")
        if algorithm.is_gost:  # the curve is the public key object's (hsm/pkcs11_gost.py)
            self._public_object(key_id, uri.object or key_id.hex(), algorithm)
        found = _Key(private, algorithm, uri.object or key_id.hex(), key_id)
        self._keys[key] = found
        return found

    def _check_mechanisms(self, algorithm: KeyAlgorithm) -> None:
        """Raise HSMError if the token cannot make or use keys of `algorithm`."""
        if algorithm is KeyAlgorithm.ED25519 and Mechanism.EDDSA not in self._mechanisms:
            raise HSMError(_ED25519_UNSUPPORTED)
        if algorithm.is_gost:
            refusal = pkcs11_gost.refusal(algorithm, self._mechanisms)
            if refusal is not None:
                raise HSMError(refusal)

    def _check_gost_key(
        self, algorithm: KeyAlgorithm, label: str, key_id: bytes, public: Any, private: Any
    ) -> None:
        """Destroy a new GOST key pair and raise HSMError unless it signs on the curve it
        was asked for (hsm/pkcs11_gost.py, Trust)."""
        try:
            good = pkcs11_gost.signs_as_named(pkcs11_gost.spki_der(algorithm, public), private)
            why = "its probe signature does not verify"
        except (HSMError, PKCS11Error) as exc:
            error = exc if isinstance(exc, HSMError) else self._error("the probe signature", exc)
            good, why = False, str(error).removeprefix("PKCS#11: ")
        if good:
            return
        try:
            self._destroy_objects(key_id)
            fate = "destroyed"
        except PKCS11Error as exc:
            fate = f"NOT destroyed, id {key_id.hex()}: {self._error('destroy', exc)}"
        raise HSMError(
            f"PKCS#11: the token made no {algorithm.value} key {label!r} ({why}); {fate}"
        )

    def _reference(self, key: KeyRef) -> PKCS11URI:
        """The key's URI, of this backend's token. Raises HSMError."""
        try:
            uri = parse_uri(key.uri)
        except ValueError as exc:
            raise HSMError(f"PKCS#11: bad key reference: {exc}") from None
        if uri.token is not None and uri.token != self._token_label:
            raise HSMError(
                f"PKCS#11: key is on token {uri.token!r}, this backend has {self._token_label!r}"
            )
        return uri

    def _error(self, what: str, exc: BaseException) -> HSMError:
        detail = type(exc).__name__
        text = str(exc)
        if text and text != detail:
            detail = f"{detail}: {text}"
        if self._pin:
            detail = detail.replace(self._pin, "***")
        return HSMError(f"PKCS#11: {what}: {detail}")
