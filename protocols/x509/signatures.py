"""Signature verification under an X.509 AlgorithmIdentifier (RFC 9481 section 3, RFC 9215
for GOST): proofs of possession, CMP protection, CMS signer infos, certificates signed by a
GOST CA and the audit trail's checkpoints all verify through :func:`signature_valid`.

It lives apart from the CMP modules so that a caller outside CMP (the audit trail, the CMS
check) does not import the CMP ASN.1 modules, which cost most of a command line's start.
Nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pyasn1_alt_modules import rfc4055, rfc5280

from hsm import gost_engine
from protocols import gost
from protocols.pyasn1_der import MalformedDER, decode_der

# Hash algorithms by OID (RFC 9481 section 2; RFC 5754 for SHA-2, RFC 8702 for SHAKE;
# SHA-1 only so that an old certConf hashAlg can still be read).
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "1.3.14.3.2.26": hashes.SHA1(),
    "2.16.840.1.101.3.4.2.4": hashes.SHA224(),
    "2.16.840.1.101.3.4.2.1": hashes.SHA256(),
    "2.16.840.1.101.3.4.2.2": hashes.SHA384(),
    "2.16.840.1.101.3.4.2.3": hashes.SHA512(),
    "2.16.840.1.101.3.4.2.11": hashes.SHAKE128(32),  # RFC 8702 section 2: 256-bit output
    "2.16.840.1.101.3.4.2.12": hashes.SHAKE256(64),  # RFC 8702 section 2: 512-bit output
}
# Signature algorithms (RFC 9481 section 3) by OID, with their hash.
_ECDSA = {
    "1.2.840.10045.4.3.1": hashes.SHA224(),  # RFC 5758 3.2
    "1.2.840.10045.4.3.2": hashes.SHA256(),
    "1.2.840.10045.4.3.3": hashes.SHA384(),
    "1.2.840.10045.4.3.4": hashes.SHA512(),
}
_RSA_PKCS1 = {
    "1.2.840.113549.1.1.14": hashes.SHA224(),  # RFC 4055 section 5
    "1.2.840.113549.1.1.11": hashes.SHA256(),
    "1.2.840.113549.1.1.12": hashes.SHA384(),
    "1.2.840.113549.1.1.13": hashes.SHA512(),
}
_RSASSA_PSS = "1.2.840.113549.1.1.10"  # RFC 4055 section 3
_MGF1 = "1.2.840.113549.1.1.8"
_ED25519 = "1.3.101.112"  # RFC 8410 section 3
_ED448 = "1.3.101.113"


def hash_for_oid(oid: str) -> hashes.HashAlgorithm:
    """The hash algorithm of a dotted OID (SHA-1, SHA-2, SHAKE; RFC 9481 section 2).
    Raises MalformedDER for any other."""
    found = _HASHES.get(oid)
    if found is None:
        raise MalformedDER(f"unsupported hash algorithm {oid}")
    return found


def signature_valid(spki_der: bytes, algorithm_der: bytes, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with the key ``spki_der`` under the
    AlgorithmIdentifier ``algorithm_der``: ECDSA and RSA PKCS #1 v1.5 with SHA-2, RSASSA-PSS
    with SHA-2 and MGF1 of the same hash, Ed25519, Ed448 (RFC 9481 section 3), and GOST R
    34.10-2012 with Streebog (RFC 9215, through hsm.gost_engine).

    False for a wrong signature, an unsupported algorithm or a key of another type than the
    algorithm's; MalformedDER only when ``algorithm_der`` does not decode."""
    algorithm = decode_der(algorithm_der, rfc5280.AlgorithmIdentifier(), "AlgorithmIdentifier")
    return decoded_signature_valid(spki_der, algorithm, data, signature)


def decoded_signature_valid(spki_der: bytes, algorithm: Any, data: bytes, signature: bytes) -> bool:
    """:func:`signature_valid` with the AlgorithmIdentifier already decoded (pyasn1's
    rfc5280.AlgorithmIdentifier), for a caller that has decoded it as part of a message."""
    oid = str(algorithm["algorithm"])
    if gost.signature_key_size(oid) is not None:
        return _gost_valid(spki_der, oid, algorithm["parameters"], data, signature)
    try:
        key = load_der_public_key(spki_der)
    except (ValueError, UnsupportedAlgorithm):
        return False
    try:
        return _verify(key, oid, algorithm["parameters"], data, signature)
    except (InvalidSignature, MalformedDER, UnsupportedAlgorithm):
        return False


def _gost_valid(spki_der: bytes, oid: str, parameters: Any, data: bytes, signature: bytes) -> bool:
    """A GOST R 34.10-2012 signature (s || r) under id-tc26-signwithdigest-gost3410-12-256
    or -512 with absent or NULL parameters, by a GOST key of that size (RFC 9215). False
    for any other pairing, or when the engine is not there to check it."""
    if not gost.signature_parameters_valid(bytes(parameters) if parameters.isValue else None):
        return False
    try:
        key = gost.read_spki(spki_der)
    except ValueError:
        return False
    if gost.signature_key_size(oid) != key.key_size:
        return False
    try:
        return gost_engine.verify(spki_der, signature, data)
    except gost_engine.GostError:
        return False


def _verify(key: Any, oid: str, parameters: Any, data: bytes, signature: bytes) -> bool:
    """Raises InvalidSignature when the signature is wrong; False if the pair is unusable."""
    if oid in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(_ECDSA[oid]))
    elif oid in _RSA_PKCS1 and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), _RSA_PKCS1[oid])
    elif oid == _RSASSA_PSS and isinstance(key, rsa.RSAPublicKey):
        digest, salt_length = _pss_parameters(parameters)
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=salt_length)
        key.verify(signature, data, pss, digest)
    elif (oid == _ED25519 and isinstance(key, ed25519.Ed25519PublicKey)) or (
        oid == _ED448 and isinstance(key, ed448.Ed448PublicKey)
    ):
        key.verify(signature, data)
    else:
        return False
    return True


def _pss_parameters(parameters: Any) -> tuple[hashes.HashAlgorithm, int]:
    """(hash, salt length) of RSASSA-PSS-params (RFC 4055 3.1) with a SHA-2 hash and MGF1
    over that same hash, trailerField 1. Raises MalformedDER for anything else."""
    if not parameters.isValue:
        raise MalformedDER("RSASSA-PSS without parameters (SHA-1) is not supported")
    params = decode_der(bytes(parameters), rfc4055.RSASSA_PSS_params(), "RSASSA-PSS-params")
    digest_oid = str(params["hashAlgorithm"]["algorithm"])
    mgf = params["maskGenAlgorithm"]
    mgf_hash = decode_der(
        bytes(mgf["parameters"]), rfc5280.AlgorithmIdentifier(), "MGF1 parameters"
    )
    if str(mgf["algorithm"]) != _MGF1 or str(mgf_hash["algorithm"]) != digest_oid:
        raise MalformedDER("RSASSA-PSS: MGF1 with another hash is not supported")
    if int(params["trailerField"]) != 1:
        raise MalformedDER("RSASSA-PSS: trailerField must be 1")
    digest = hash_for_oid(digest_oid)
    if not isinstance(digest, hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        raise MalformedDER("RSASSA-PSS: only SHA-2 hashes are supported")
    return digest, int(params["saltLength"])
