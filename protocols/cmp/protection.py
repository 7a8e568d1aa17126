"""CMP message protection (RFC 4210 5.1.3, RFC 9481 sections 3 and 6): MACs and signatures.

Theory of operation. The protection of a PKIMessage covers the DER ProtectedPart
{ header, body } (RFC 4210 5.1.3), which ``messages.py`` keeps as received in
``PKIMessage.protected_part``; the header's protectionAlg says how.

Shared-secret (MAC) protection, used with the Lightweight CMP Profile's enrolment by
reference number and password (RFC 9483 4.1.5), comes in two schemes:

* PasswordBasedMac (RFC 4210 5.1.3.1, RFC 9481 6.1): BASEKEY is the one-way function (owf)
  applied iterationCount times, to secret || salt first and then to its own output; the MAC
  is HMAC keyed with BASEKEY. OpenSSL's ``openssl cmp -secret`` uses this (owf from
  ``-digest``, HMAC from ``-mac``, 500 iterations).
* PBMAC1 (RFC 8018 section 7.1, RFC 9481 6.1): the key is PBKDF2 of the secret (its PRF,
  salt, iterationCount and keyLength), the MAC is the messageAuthScheme HMAC keyed with it.

:func:`mac_parameters` tells which scheme and how many iterations, before any work is done;
:func:`verify_mac` refuses an iteration count outside the server's bounds (the sender chooses
it, so an unbounded count would let anyone make the server hash for minutes), then compares
in constant time. A reply is protected with :func:`reply_mac` (the request's scheme and
parameters with a fresh salt, RFC 9483 4.1.5): its algorithm for the header, then its MAC.

Signature protection (RFC 4210 5.1.3.3, RFC 9481 section 3): :func:`verify_signature` checks
a request with the signer's certificate (RFC 9483 3.3: the first of extraCerts);
:func:`signature_algorithm_der` names the CA's own scheme for a signed reply, whose signature
is made elsewhere (this package never signs).

MACError (a ValueError) covers every refusal of MAC protection; it never says whether the
secret or the message was wrong.

Which algorithms may protect a message at all is asked first, apart from whether the
protection verifies: :func:`protection_kind` says "mac" or "signature" for an algorithm of
RFC 9481's set (signatures of section 3, PasswordBasedMac and PBMAC1 of section 6 with the
hashes of section 2 and the HMACs of 6.2) and raises :class:`AlgorithmNotAllowed` for any
other (SHA-1 or MD5 based, SHA-3 where RFC 9481 has none, unknown OIDs): the responder's
badAlg (RFC 9483 3.5), not its badMessageCheck.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cryptography import x509
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4055, rfc4210, rfc8018

from hsm import gost_engine
from protocols.cmp.crmf import (
    MalformedDER,
    decode_der,
    encode_der,
    minimal_integer,
    plain_algorithm,
    read_algorithm,
)
from protocols.cmp.messages import PKIMessage
from protocols.der import contents as der_contents
from protocols.der import elements as der_elements
from protocols.der import tlv as der_tlv
from protocols.x509.certificate import SIGNATURE_ALGORITHMS, _algorithm_identifier
from protocols.x509.signatures import signature_valid
from protocols.x509.spki import certificate_spki

__all__ = [
    "MAX_ITERATIONS",
    "PASSWORD_BASED_MAC",
    "PBMAC1",
    "AlgorithmNotAllowed",
    "MACError",
    "ReplyMAC",
    "mac",
    "mac_parameters",
    "mac_work",
    "protection_kind",
    "reply_mac",
    "signature_algorithm_der",
    "verify_mac",
    "verify_signature",
]

PASSWORD_BASED_MAC = "1.2.840.113533.7.66.13"  # RFC 4210 5.1.3.1
PBMAC1 = "1.2.840.113549.1.5.14"  # RFC 9481 6.1 / RFC 8018 7.1
_PBKDF2 = "1.2.840.113549.1.5.12"  # RFC 8018 5.2
# A ceiling :func:`mac` applies whatever the caller's bounds: a reply protected with a
# request's parameters must not cost more than this (about a second of hashing).
MAX_ITERATIONS = 1_000_000
# One Streebog iteration through the engine (a foreign call, ~5 µs) costs about what 7 of
# hashlib's SHA-256 (~0.8 µs) do: the weight of a Streebog owf in mac_work
STREEBOG_COST = 7
_SALT_MIN, _SALT_MAX = 16, 64  # octets of a fresh salt
_PBM_SALT_MAX = 128  # PBMParameter's salt as pyasn1_alt_modules.rfc4210 constrains it

# One-way functions of PasswordBasedMac (RFC 9481 6.1; SHA-1 kept for old clients).
_OWFS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "1.2.643.7.1.1.2.2": "streebog256",  # GOST R 34.11-2012 (RFC 6986), see _ALLOWED_OWFS
    "1.2.643.7.1.1.2.3": "streebog512",
}
# HMAC algorithms (RFC 9481 6.2; hmac-sha1 of RFC 4210 5.1.3.1 is OpenSSL's default).
_HMACS = {
    "1.3.6.1.5.5.8.1.2": "sha1",  # hMAC-SHA1, RFC 2104 / IPsec arc
    "1.2.840.113549.2.7": "sha1",  # hmacWithSHA1, RFC 8018 B.1.1
    "1.2.840.113549.2.8": "sha224",  # hmacWithSHA224 ... SHA512, RFC 8018 B.1.2
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}


# What RFC 9481 allows to protect a message, of what this package verifies.
# Section 2.1: SHA-2, the one-way functions of PasswordBasedMac (6.1.1). SHAKE is allowed too
# but not implemented here; SHA-1 and MD5 are not in section 2. Streebog (GOST R 34.11-2012,
# RFC 6986) is not in RFC 9481 either; it is allowed as the Russian national counterpart of
# SHA-2, the owf a GOST client's `openssl cmp -digest` (with gost-engine) writes, so that such
# a client can protect the ir of its GOST key with its enrollment code.
_ALLOWED_OWFS = frozenset(oid for oid, name in _OWFS.items() if name != "sha1")
# Section 6.2.1: HMAC with SHA-2, the MAC of PasswordBasedMac and PBMAC1 and PBKDF2's PRF.
_ALLOWED_HMACS = frozenset(oid for oid, name in _HMACS.items() if name != "sha1")
# HMAC-SHA1 is not in RFC 9481 6.2. It is kept as the mac inside PasswordBasedMac only, as
# legacy: RFC 4210 5.1.3.1 (and its Appendix D.2, which RFC 9481 updates) named it, and it is
# `openssl cmp -secret`'s default (OpenSSL 3.0: -digest sha256 for the owf, -mac hmac-sha1),
# so refusing it would turn away every OpenSSL client that does not pass -mac. HMAC's
# strength rests on the hash being a PRF, which the collision attacks on SHA-1 do not break
# (RFC 6194 section 3.3). The owf, which stretches the secret, must be SHA-2 all the same, and
# PBMAC1 (new with RFC 9481, no legacy to keep) takes SHA-2 only, its PRF included.
_LEGACY_PBM_HMACS = frozenset(oid for oid, name in _HMACS.items() if name == "sha1")
# Section 3: RSASSA-PKCS1-v1_5 (3.1) and ECDSA (3.2) with SHA-2, EdDSA (3.3).
_ALLOWED_SIGNATURES = frozenset({
    "1.2.840.113549.1.1.14", "1.2.840.113549.1.1.11",  # sha224/sha256WithRSAEncryption
    "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13",  # sha384/sha512WithRSAEncryption
    "1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2",  # ecdsa-with-SHA224/SHA256
    "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4",  # ecdsa-with-SHA384/SHA512
    "1.3.101.112", "1.3.101.113",  # Ed25519, Ed448
    # GOST R 34.10-2012 with Streebog (RFC 9215 3.2): not in RFC 9481, allowed, as Streebog
    # is for PasswordBasedMac, for the GOST certificates a GOST CA issues its clients
    "1.2.643.7.1.1.3.2", "1.2.643.7.1.1.3.3",
})  # fmt: skip
# MAC algorithms keyed directly, with no password-based key derivation: HMAC (RFC 9481
# 6.2.1), KMAC (6.2.3), AES-GMAC (6.2.2). RFC 9481 names them for use inside PasswordBasedMac
# or PBMAC1 (6.1); as a protectionAlg of their own they say nothing of how the shared secret
# became a key, and the Lightweight CMP Profile protects by PasswordBasedMac or PBMAC1 only
# (RFC 9483 3.2): badAlg, like any algorithm outside the set.
_KEYED_MACS = frozenset({
    *_HMACS,
    "2.16.840.1.101.3.4.2.19", "2.16.840.1.101.3.4.2.20",  # id-KMACWithSHAKE128/256
    "2.16.840.1.101.3.4.1.9", "2.16.840.1.101.3.4.1.29",  # aes128-GMAC, aes192-GMAC
    "2.16.840.1.101.3.4.1.49",  # aes256-GMAC
})  # fmt: skip
_RSASSA_PSS = "1.2.840.113549.1.1.10"
# Section 3.1: RSASSA-PSS with SHA-256 or SHA-512 (MGF1 of the same hash); SHAKE not here.
_ALLOWED_PSS_HASHES = frozenset({"2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.3"})


class AlgorithmNotAllowed(ValueError):
    """The protection algorithm, or an algorithm inside its parameters, is not one RFC 9481
    allows for CMP message protection (or not one this package implements)."""


class MACError(ValueError):
    """MAC protection refused: wrong MAC, unsupported algorithm or parameters, iteration
    count out of bounds, or no MAC protection at all."""


# --- which algorithm ------------------------------------------------------------------------


def protection_kind(message: PKIMessage) -> str:
    """The kind of ``message``'s protection, "mac" or "signature", once its protectionAlg
    is found to be one RFC 9481 allows (module docstring). Raises AlgorithmNotAllowed
    otherwise, MACError when MAC parameters do not decode, ValueError when there is no
    protectionAlg."""
    algorithm_der = message.header.protection_algorithm
    if algorithm_der is None:
        raise ValueError("message has no protectionAlg")
    oid, parameters = _algorithm(algorithm_der)
    if oid == PASSWORD_BASED_MAC:  # RFC 9481 6.1.1
        pbm = _pbm_parameters(parameters)
        _allowed(pbm.owf, _ALLOWED_OWFS, "PasswordBasedMac owf")
        _allowed(pbm.mac, _ALLOWED_HMACS | _LEGACY_PBM_HMACS, "PasswordBasedMac mac")
        return "mac"
    if oid == PBMAC1:  # RFC 9481 6.1.2: PBKDF2 with an HMAC-SHA2 PRF, HMAC-SHA2
        pbmac1, pbkdf2 = _pbkdf2_parameters(parameters)
        if not pbkdf2["prf"].isValue:
            raise AlgorithmNotAllowed("PBKDF2 prf hmacWithSHA1 (the DEFAULT) is not allowed")
        _allowed(_oid(pbkdf2["prf"]), _ALLOWED_HMACS, "PBKDF2 prf")
        _allowed(_oid(pbmac1["messageAuthScheme"]), _ALLOWED_HMACS, "PBMAC1 messageAuthScheme")
        return "mac"
    if oid == _RSASSA_PSS:
        _check_pss_hash(parameters)
        return "signature"
    if oid in _ALLOWED_SIGNATURES:
        return "signature"
    if oid in _KEYED_MACS:
        raise AlgorithmNotAllowed(
            f"protectionAlg {oid} is a MAC without PasswordBasedMac or PBMAC1 (RFC 9481 6.1)"
        )
    raise AlgorithmNotAllowed(f"protectionAlg {oid} is not allowed (RFC 9481)")


def _allowed(oid: str, allowed: frozenset[str], what: str) -> None:
    if oid not in allowed:
        raise AlgorithmNotAllowed(f"{what} {oid} is not allowed (RFC 9481)")


def _check_pss_hash(parameters: bytes | None) -> None:
    """RSASSA-PSS-params (RFC 4055 3.1): absent means SHA-1, not allowed."""
    if parameters is None:
        raise AlgorithmNotAllowed("RSASSA-PSS with SHA-1 (no parameters) is not allowed")
    try:
        params = decode_der(parameters, rfc4055.RSASSA_PSS_params(), "RSASSA-PSS-params")
    except MalformedDER as exc:
        raise AlgorithmNotAllowed(str(exc)) from None
    if not params["hashAlgorithm"].isValue:  # DEFAULT sha1Identifier
        raise AlgorithmNotAllowed("RSASSA-PSS with SHA-1 (the DEFAULT hash) is not allowed")
    _allowed(_oid(params["hashAlgorithm"]), _ALLOWED_PSS_HASHES, "RSASSA-PSS hash")


# --- MAC ------------------------------------------------------------------------------------


def mac_work(message: PKIMessage) -> int:
    """The work of checking ``message``'s MAC in SHA-2 iterations, to tell whether it may
    run on an event loop: its iteration count, or :data:`STREEBOG_COST` times it for a
    PasswordBasedMac with a Streebog owf. Raises MACError as :func:`mac_parameters`."""
    oid, iterations = mac_parameters(message)
    if oid == PASSWORD_BASED_MAC:
        parameters = _algorithm(message.header.protection_algorithm or b"")[1]
        if _OWFS.get(_pbm_parameters(parameters).owf, "").startswith("streebog"):
            return iterations * STREEBOG_COST
    return iterations


def mac_parameters(message: PKIMessage) -> tuple[str, int]:
    """(algorithm OID, iteration count) of a MAC-protected message. Raises MACError if the
    message is not MAC-protected or its parameters do not decode."""
    algorithm_der = message.header.protection_algorithm
    if algorithm_der is None:
        raise MACError("message has no protectionAlg")
    oid, parameters = _algorithm(algorithm_der)
    if oid == PASSWORD_BASED_MAC:
        return oid, _pbm_parameters(parameters).iterations
    if oid == PBMAC1:
        return oid, int(_pbkdf2_parameters(parameters)[1]["iterationCount"])
    raise MACError(f"protectionAlg {oid} is not a MAC")


def verify_mac(
    message: PKIMessage, secret: bytes, min_iterations: int, max_iterations: int
) -> None:
    """Check the MAC protection of ``message`` with the shared ``secret``: PasswordBasedMac
    (owf SHA-1/SHA-2, HMAC-SHA1/SHA-2) or PBMAC1 (PBKDF2 with an HMAC PRF, HMAC
    messageAuthScheme). The iteration count must lie in [min_iterations, max_iterations].
    Raises MACError; the comparison is constant-time."""
    oid, iterations = mac_parameters(message)
    if not min_iterations <= iterations <= max_iterations:
        raise MACError(
            f"{_scheme_name(oid)} iteration count {iterations} outside "
            f"[{min_iterations}, {max_iterations}]"
        )
    if message.protection is None or message.header.protection_algorithm is None:
        raise MACError("message has no protection")
    expected = mac(message.header.protection_algorithm, secret, message.protected_part)
    if not hmac.compare_digest(expected, message.protection):
        raise MACError("MAC does not verify")


@dataclass(frozen=True)
class ReplyMAC:
    """How a reply is MAC-protected: ``algorithm``, the DER AlgorithmIdentifier its header
    names, and :meth:`mac`, the MAC under it. Made by :func:`reply_mac` with the parameters
    it has just read and chosen, so that the MAC does not decode again what was just
    encoded."""

    algorithm: bytes
    _compute: Callable[[bytes, bytes], bytes] = field(repr=False)

    def mac(self, secret: bytes, data: bytes) -> bytes:
        """The MAC of ``data`` (the reply's ProtectedPart DER) under the shared ``secret``,
        the same octets as ``mac(self.algorithm, secret, data)``."""
        return self._compute(secret, data)


def reply_mac(like: PKIMessage) -> ReplyMAC:
    """The MAC protection of a reply to ``like``: the scheme and parameters of ``like``'s
    protectionAlg with a fresh random salt of the same length (at least 16, at most 64
    octets) (RFC 9483 4.1.5, RFC 4210 5.1.3.1). Raises MACError if ``like`` is not
    MAC-protected, or for parameters :func:`mac` would refuse."""
    algorithm_der = like.header.protection_algorithm
    if algorithm_der is None:
        raise MACError("message has no protectionAlg")
    oid, parameters = _algorithm(algorithm_der)
    if oid == PASSWORD_BASED_MAC:
        pbm = _pbm_parameters(parameters)
        # PBMParameter ::= SEQUENCE { salt, owf, iterationCount, mac } has no DEFAULT: its
        # DER is its fields' DER in order, so a fresh salt needs no copy decoded again.
        salt = _fresh_salt(len(pbm.salt))
        algorithm = _algorithm_der(oid, der_tlv(0x30, der_tlv(0x04, salt) + pbm.rest_der))
        owf = _lookup(_OWFS, pbm.owf, "PasswordBasedMac owf")
        digest = _lookup(_HMACS, pbm.mac, "PasswordBasedMac mac")
        iterations = _checked_iterations(pbm.iterations)
        return ReplyMAC(
            algorithm,
            lambda secret, data: _pbm_mac(owf, digest, salt, iterations, secret, data),
        )
    if oid == PBMAC1:
        kept_pbmac1, _ = _pbkdf2_parameters(parameters)  # checked; then copies to change
        assert parameters is not None  # _pbkdf2_parameters refuses none
        pbmac1 = _fresh(parameters, "PBMAC1-params")
        kdf_parameters = bytes(kept_pbmac1["keyDerivationFunc"]["parameters"])
        pbkdf2 = _fresh(kdf_parameters, "PBKDF2-params")
        pbkdf2["salt"]["specified"] = _fresh_salt(len(pbkdf2["salt"]["specified"]))
        pbmac1["keyDerivationFunc"]["parameters"] = encode_der(pbkdf2)
        algorithm = _algorithm_der(oid, encode_der(pbmac1))
        return ReplyMAC(algorithm, lambda secret, data: _pbmac1(pbmac1, pbkdf2, secret, data))
    raise MACError(f"protectionAlg {oid} is not a MAC")


def mac(algorithm_der: bytes, secret: bytes, data: bytes) -> bytes:
    """The MAC of ``data`` (a ProtectedPart DER) under the AlgorithmIdentifier
    ``algorithm_der`` (PasswordBasedMac or PBMAC1) and the shared ``secret``.
    Raises MACError for another algorithm, unsupported parameters, or more than
    :data:`MAX_ITERATIONS` iterations."""
    oid, parameters = _algorithm(algorithm_der)
    if oid == PASSWORD_BASED_MAC:
        return _password_based_mac(_pbm_parameters(parameters), secret, data)
    if oid == PBMAC1:
        return _pbmac1(*_pbkdf2_parameters(parameters), secret, data)
    raise MACError(f"protectionAlg {oid} is not a MAC")


def _password_based_mac(params: _PBMParameter, secret: bytes, data: bytes) -> bytes:
    """RFC 4210 5.1.3.1 with a read PBMParameter."""
    owf = _lookup(_OWFS, params.owf, "PasswordBasedMac owf")
    digest = _lookup(_HMACS, params.mac, "PasswordBasedMac mac")
    iterations = _checked_iterations(params.iterations)
    return _pbm_mac(owf, digest, params.salt, iterations, secret, data)


def _pbm_mac(
    owf_name: str, digest: str, salt: bytes, iterations: int, secret: bytes, data: bytes
) -> bytes:
    """RFC 4210 5.1.3.1: BASEKEY = owf^iterationCount(secret || salt), MAC = HMAC(BASEKEY)."""
    key = secret + salt
    if owf_name.startswith("streebog"):
        try:
            for _ in range(iterations):
                key = gost_engine.digest(owf_name, key)
        except gost_engine.GostError as exc:
            raise MACError(f"PasswordBasedMac owf {owf_name}: {exc}") from None
        return hmac.digest(key, data, digest)
    owf = getattr(hashlib, owf_name)  # the named constructor: a third cheaper than hashlib.new
    for _ in range(iterations):
        key = owf(key).digest()
    return hmac.digest(key, data, digest)


def _pbmac1(pbmac1: Any, pbkdf2: Any, secret: bytes, data: bytes) -> bytes:
    """RFC 8018 7.1.1: key = PBKDF2(secret, salt, count, keyLength), MAC = HMAC(key).
    keyLength, when absent, is the messageAuthScheme's hash length."""
    digest = _lookup(_HMACS, _oid(pbmac1["messageAuthScheme"]), "PBMAC1 messageAuthScheme")
    prf_digest = _lookup(_HMACS, _oid(pbkdf2["prf"]), "PBKDF2 prf")  # DEFAULT hmacWithSHA1
    salt = pbkdf2["salt"]
    if salt.getName() != "specified":
        raise MACError("PBKDF2 salt otherSource is not supported")
    key_length = pbkdf2["keyLength"]
    length = int(key_length) if key_length.isValue else hashlib.new(digest).digest_size
    key = hashlib.pbkdf2_hmac(
        prf_digest,
        secret,
        bytes(salt["specified"]),
        _checked_iterations(int(pbkdf2["iterationCount"])),
        length,
    )
    return hmac.digest(key, data, digest)


def _checked_iterations(count: int) -> int:
    if not 1 <= count <= MAX_ITERATIONS:
        raise MACError(f"iteration count {count} outside [1, {MAX_ITERATIONS}]")
    return count


@functools.lru_cache(maxsize=64)
def _algorithm(algorithm_der: bytes) -> tuple[str, bytes | None]:
    """(OID, the parameters' whole TLV or None when absent) of an AlgorithmIdentifier
    (crmf.read_algorithm: from its DER when plain, as a MAC's with its fresh salt in every
    message is). Kept for the few more times a request's is read (its kind, count, MAC and
    the answer's); refusals are not kept."""
    try:
        return read_algorithm(algorithm_der)
    except MalformedDER as exc:
        raise MACError(str(exc)) from None


def _algorithm_der(oid: str, parameters_der: bytes) -> bytes:
    """AlgorithmIdentifier { oid, parameters } in DER; ``parameters_der`` a whole TLV."""
    return der_tlv(0x30, _oid_der(oid) + parameters_der)


@functools.lru_cache(maxsize=8)
def _oid_der(oid: str) -> bytes:
    return encode_der(univ.ObjectIdentifier(oid))


class _PBMParameter(NamedTuple):
    """PBMParameter (RFC 4210 5.1.3.1) as read: the OIDs of owf and mac, and ``rest_der``,
    the DER of owf, iterationCount and mac in order (a reply's parameters are these after a
    fresh salt)."""

    salt: bytes
    owf: str
    iterations: int
    mac: str
    rest_der: bytes


@functools.lru_cache(maxsize=64)
def _pbm_parameters(parameters: bytes | None) -> _PBMParameter:
    """PBMParameter (RFC 4210 5.1.3.1): read by a walk of its DER when plain (a fresh salt
    in every message: pyasn1 took about 80 µs for each), else as pyasn1 decodes it. Kept
    like :func:`_algorithm`'s reading."""
    if parameters is None:
        raise MACError("PasswordBasedMac without PBMParameter")
    return _plain_pbm_parameters(parameters) or _decoded_pbm_parameters(parameters)


def _decoded_pbm_parameters(parameters: bytes) -> _PBMParameter:
    """PBMParameter as pyasn1 decodes it."""
    decoded = _decode(parameters, "PBMParameter")
    return _PBMParameter(
        salt=bytes(decoded["salt"]),
        owf=_oid(decoded["owf"]),
        iterations=int(decoded["iterationCount"]),
        mac=_oid(decoded["mac"]),
        rest_der=b"".join(encode_der(decoded[name]) for name in ("owf", "iterationCount", "mac")),
    )


def _plain_pbm_parameters(parameters: bytes) -> _PBMParameter | None:
    """PBMParameter of the plain form: SEQUENCE { a primitive OCTET STRING, a plain
    AlgorithmIdentifier (crmf.plain_algorithm), a DER INTEGER, another }, every length
    DER's shortest, so that pyasn1 reads the same and encodes the same ``rest_der``.
    None for any other form."""
    try:
        fields = der_elements(parameters)
    except MalformedDER:
        return None
    if [tag for tag, _raw in fields] != [0x04, 0x30, 0x02, 0x30]:
        return None
    (_, salt), (_, owf), (_, count), (_, mac) = fields
    if der_tlv(0x30, b"".join(raw for _tag, raw in fields)) != parameters:
        return None  # a length on the way not DER's shortest
    owf_read, mac_read = plain_algorithm(owf), plain_algorithm(mac)
    iterations = minimal_integer(der_contents(count))
    if owf_read is None or mac_read is None or iterations is None:
        return None
    if der_tlv(0x04, der_contents(salt)) != salt or der_tlv(0x02, der_contents(count)) != count:
        return None
    if len(der_contents(salt)) > _PBM_SALT_MAX:
        return None  # pyasn1's rfc4210 module refuses it
    return _PBMParameter(
        der_contents(salt), owf_read[0], iterations, mac_read[0], owf + count + mac
    )


def _pbkdf2_parameters(parameters: bytes | None) -> tuple[Any, Any]:
    """(PBMAC1-params, PBKDF2-params) (RFC 8018 A.5 and A.2); the KDF must be PBKDF2."""
    if parameters is None:
        raise MACError("PBMAC1 without PBMAC1-params")
    pbmac1 = _decode(parameters, "PBMAC1-params")
    kdf = pbmac1["keyDerivationFunc"]
    if str(kdf["algorithm"]) != _PBKDF2 or not kdf["parameters"].isValue:
        raise MACError(f"PBMAC1 key derivation {kdf['algorithm']} is not PBKDF2")
    pbkdf2 = _decode(bytes(kdf["parameters"]), "PBKDF2-params")
    return pbmac1, pbkdf2


_SPECS: dict[str, Any] = {
    "PBMParameter": rfc4210.PBMParameter,
    "PBMAC1-params": rfc8018.PBMAC1_params,
    "PBKDF2-params": rfc8018.PBKDF2_params,
}


@functools.lru_cache(maxsize=256)
def _decode(der: bytes, what: str) -> Any:
    """``der`` decoded as the type ``what`` names. Kept: a request's protectionAlg is read
    for its kind, its iteration count, its MAC and the answer's, each a pyasn1 decode that
    cost more than the MAC itself (loadtests/bench_cmp.py). Read-only: a caller that
    changes the value takes :func:`_fresh`. Raises MACError (not kept)."""
    return _fresh(der, what)


def _fresh(der: bytes, what: str) -> Any:
    try:
        return decode_der(der, _SPECS[what](), what)
    except MalformedDER as exc:
        raise MACError(str(exc)) from None


def _oid(algorithm: Any) -> str:
    """The OID of a decoded pyasn1 AlgorithmIdentifier."""
    return str(algorithm["algorithm"])


def _lookup(table: dict[str, str], oid: str, what: str) -> str:
    found = table.get(oid)
    if found is None:
        raise MACError(f"{what} {oid} is not supported")
    return found


def _fresh_salt(old_length: int) -> bytes:
    return os.urandom(min(max(old_length, _SALT_MIN), _SALT_MAX))


def _scheme_name(oid: str) -> str:
    return "PasswordBasedMac" if oid == PASSWORD_BASED_MAC else "PBMAC1"


# --- signatures -----------------------------------------------------------------------------


def signature_algorithm_der(name: str) -> bytes:
    """AlgorithmIdentifier DER for "sha256_ecdsa", "sha384_ecdsa", "sha256_rsa", "ed25519"
    (RFC 9481 section 3), "gost2012_256" or "gost2012_512" (RFC 9215), the same octets
    ``protocols.x509.certificate`` puts in certificates: NULL parameters for RSA (RFC 4055
    section 5), none for the others.
    Raises ValueError for another name."""
    if name not in SIGNATURE_ALGORITHMS:
        raise ValueError(f"unsupported signature algorithm {name!r}")
    return bytes(_algorithm_identifier(name).dump())


def verify_signature(message: PKIMessage, certificate_der: bytes) -> bool:
    """Whether the signature protection (RFC 4210 5.1.3.3) of ``message``'s ProtectedPart
    verifies with the public key of ``certificate_der``, under the header's protectionAlg
    (a GOST R 34.10-2012 key under id-tc26-signwithdigest-gost3410-12-256/512 too).

    False for an unprotected or MAC-protected message, a wrong signature, or an algorithm
    or key this package does not verify. Raises ValueError if the certificate does not
    parse. Whether the certificate is trusted is the caller's question."""
    algorithm_der = message.header.protection_algorithm
    if algorithm_der is None or message.protection is None:
        return False
    if message.header.protection_oid in (PASSWORD_BASED_MAC, PBMAC1):
        return False
    try:
        x509.load_der_x509_certificate(certificate_der)
        spki = certificate_spki(certificate_der)  # GOST keys too, which cryptography cannot load
    except ValueError as exc:
        raise ValueError(f"signer certificate does not parse: {exc}") from None
    return signature_valid(spki, algorithm_der, message.protected_part, message.protection)
