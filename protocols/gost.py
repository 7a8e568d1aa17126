"""GOST R 34.10-2012 keys and signatures and GOST R 34.11-2012 (Streebog) digests in X.509
(RFC 9215, which replaces RFC 4491 for the 2012 algorithms): their OIDs, the parameter sets,
the SubjectPublicKeyInfo read and written, and the names asn1crypto knows them by.

Theory of operation. A GOST public key is a SubjectPublicKeyInfo whose algorithm is
id-tc26-gost3410-12-256 or -512 with the parameters ``SEQUENCE { publicKeyParamSet OID,
digestParamSet OID OPTIONAL }``, and whose BIT STRING holds the DER of an OCTET STRING of
X ‖ Y, each little-endian (64 octets for 256-bit keys, 128 for 512-bit). Whether
digestParamSet is there differs between writers: RFC 9215 wants it (Streebog-256) with the
CryptoPro sets and not with the TC26 ones, gost-engine 3.0.1 also writes it for the 512-bit
sets A and B (reference/ru-profile.md 5.2). :func:`read_spki` accepts both forms;
:func:`canonical_spki` writes the RFC's, so that one key has one encoding, hence one
uniqueness index (rule D9).

A signature is s ‖ r, each half big-endian, under id-tc26-signwithdigest-gost3410-12-256
(Streebog-256) or -512 (Streebog-512); verifying one is hsm.gost_engine's job, the one
cryptographic binding protocols/ may import (tests/unit/test_layers.py).

Importing this module (protocols/__init__.py does) registers, once, the GOST OIDs in
asn1crypto's maps under the names the rest of the CA uses: "gost2012_256" and
"gost2012_512" as public-key algorithms (asn1crypto then reads their parameters and their
key octets) and as signature algorithms, "streebog256" and "streebog512" as digests.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos, core, keys

from protocols.der import DERError, children, one, spki_parts, tlv

__all__ = [
    "DIGEST_OIDS",
    "KEY_OIDS",
    "PARAMETER_SETS",
    "SETS_BY_KEY_TYPE",
    "SIGNATURE_OIDS",
    "GostPublicKey",
    "ParameterSet",
    "canonical_spki",
    "is_gost_spki",
    "parameter_set",
    "read_parameters",
    "read_spki",
    "signature_key_size",
    "signature_parameters_valid",
]

# RFC 9215 (and ru-profile.md 5.1): key size -> OID.
KEY_OIDS = {256: "1.2.643.7.1.1.1.1", 512: "1.2.643.7.1.1.1.2"}  # id-tc26-gost3410-12-*
DIGEST_OIDS = {256: "1.2.643.7.1.1.2.2", 512: "1.2.643.7.1.1.2.3"}  # id-tc26-gost3411-12-*
SIGNATURE_OIDS = {256: "1.2.643.7.1.1.3.2", 512: "1.2.643.7.1.1.3.3"}  # signwithdigest-*

# The names registered in asn1crypto, which protocols.x509.certificate and the server use.
KEY_NAMES = {256: "gost2012_256", 512: "gost2012_512"}
SIGNATURE_NAMES = {256: "gost2012_256", 512: "gost2012_512"}
DIGEST_NAMES = {256: "streebog256", 512: "streebog512"}


@dataclass(frozen=True)
class ParameterSet:
    """One elliptic curve of GOST R 34.10-2012. ``engine_name`` is gost-engine's
    ``-pkeyopt paramset:`` name (hsm.gost_engine.PARAMSETS_256/512); ``digest_in_spki``
    whether RFC 9215 puts digestParamSet in the key's parameters."""

    oid: str
    key_size: int
    engine_name: str
    title: str
    digest_in_spki: bool

    @property
    def key_type(self) -> str:
        """The name of a key on this set in hsm.backend.KeyAlgorithm and the profiles'
        key_algorithms: "gost2012-256-a" (CryptoPro-A), "gost2012-256-tcb", "gost2012-512-c"."""
        return f"gost2012-{self.key_size}-{self.engine_name.lower()}"


# RFC 9215 / ru-profile.md 5.1. The CryptoPro sets come from GOST R 34.10-2001 (RFC 4357
# 11.4) and are valid for 2012 keys; gost-engine's "A" for a 256-bit key is CryptoPro-A,
# not TC26-A (ru-profile.md 6.4). The test sets (…35.0, …2.1.2.0) are not accepted.
PARAMETER_SETS: tuple[ParameterSet, ...] = (
    ParameterSet("1.2.643.2.2.35.1", 256, "A", "CryptoPro-A", True),
    ParameterSet("1.2.643.2.2.35.2", 256, "B", "CryptoPro-B", True),
    ParameterSet("1.2.643.2.2.35.3", 256, "C", "CryptoPro-C", True),
    ParameterSet("1.2.643.2.2.36.0", 256, "XA", "CryptoPro-XchA", True),
    ParameterSet("1.2.643.2.2.36.1", 256, "XB", "CryptoPro-XchB", True),
    ParameterSet("1.2.643.7.1.2.1.1.1", 256, "TCA", "TC26-A", False),
    ParameterSet("1.2.643.7.1.2.1.1.2", 256, "TCB", "TC26-B", False),
    ParameterSet("1.2.643.7.1.2.1.1.3", 256, "TCC", "TC26-C", False),
    ParameterSet("1.2.643.7.1.2.1.1.4", 256, "TCD", "TC26-D", False),
    ParameterSet("1.2.643.7.1.2.1.2.1", 512, "A", "TC26-A", False),
    ParameterSet("1.2.643.7.1.2.1.2.2", 512, "B", "TC26-B", False),
    ParameterSet("1.2.643.7.1.2.1.2.3", 512, "C", "TC26-C", False),
)
_SETS_BY_OID = {p.oid: p for p in PARAMETER_SETS}
SETS_BY_KEY_TYPE = {p.key_type: p for p in PARAMETER_SETS}
_SETS_BY_NAME = {(p.key_size, p.engine_name): p for p in PARAMETER_SETS}
_SIZE_BY_KEY_OID_DER = {core.ObjectIdentifier(oid).dump(): size for size, oid in KEY_OIDS.items()}
_SIZE_BY_SIGNATURE_OID = {oid: size for size, oid in SIGNATURE_OIDS.items()}


@dataclass(frozen=True)
class GostPublicKey:
    """A GOST R 34.10-2012 public key: its size (256 or 512), parameter set, and ``point``,
    X ‖ Y little-endian as the SPKI carries it (64 or 128 octets)."""

    key_size: int
    parameter_set: ParameterSet
    point: bytes

    @property
    def description(self) -> str:
        """The key's short name, that of hsm.backend.KeyAlgorithm and the profiles'
        key_algorithms: "gost2012-256-a" (CryptoPro-A), "gost2012-256-tcb", "gost2012-512-c"."""
        return self.parameter_set.key_type

    @property
    def title(self) -> str:
        """For people: "GOST R 34.10-2012 256-bit, CryptoPro-A"."""
        return f"GOST R 34.10-2012 {self.key_size}-bit, {self.parameter_set.title}"


def parameter_set(key_size: int, engine_name: str) -> ParameterSet:
    """The parameter set gost-engine calls ``engine_name`` for keys of ``key_size`` bits.
    Raises ValueError for another."""
    found = _SETS_BY_NAME.get((key_size, engine_name))
    if found is None:
        raise ValueError(f"no GOST R 34.10-2012 {key_size}-bit parameter set {engine_name!r}")
    return found


def signature_key_size(oid: str) -> int | None:
    """256 or 512 for id-tc26-signwithdigest-gost3410-12-256/512, None for any other OID."""
    return _SIZE_BY_SIGNATURE_OID.get(oid)


def signature_parameters_valid(parameters_der: bytes | None) -> bool:
    """Whether the parameters of a GOST signature AlgorithmIdentifier are acceptable: absent,
    as RFC 9215's examples write them, or NULL, as gost-engine does."""
    return parameters_der is None or parameters_der == b"\x05\x00"


def is_gost_spki(spki_der: bytes) -> bool:
    """Whether ``spki_der`` is a SubjectPublicKeyInfo (in plain DER) naming a GOST R
    34.10-2012 key algorithm; says nothing of the rest being well formed."""
    return _key_size_of(spki_der) is not None


def _key_size_of(spki_der: bytes) -> int | None:
    parts = spki_parts(spki_der)
    if parts is None:
        return None
    algorithm = parts[0]
    try:
        outer = one(algorithm, 0, len(algorithm), 0x30)
        first = children(algorithm, outer.start, outer.end)[0]
    except (DERError, IndexError):
        return None
    return _SIZE_BY_KEY_OID_DER.get(algorithm[first.offset : first.end])


def read_parameters(key_size: int, parameters_der: bytes) -> ParameterSet:
    """The parameter set of GostR3410-2012-PublicKeyParameters ``parameters_der`` (RFC
    9215: SEQUENCE { publicKeyParamSet, digestParamSet OPTIONAL }) of a ``key_size``-bit
    key; a digestParamSet, when there, must be the Streebog of the key's size.

    Raises ValueError for other DER, an unknown set or one of the other key size."""
    try:
        outer = one(parameters_der, 0, len(parameters_der), 0x30)
        fields = children(parameters_der, outer.start, outer.end)
    except DERError as exc:
        raise ValueError(f"GOST key parameters are not DER ({exc})") from None
    if not 1 <= len(fields) <= 2 or any(field.tag != 0x06 for field in fields):
        raise ValueError("GOST key parameters are not { publicKeyParamSet, digestParamSet }")
    oids = [_dotted(parameters_der[f.offset : f.end]) for f in fields]
    found = _SETS_BY_OID.get(oids[0])
    if found is None or found.key_size != key_size:
        raise ValueError(f"{oids[0]} is not a GOST R 34.10-2012 {key_size}-bit parameter set")
    if len(oids) == 2 and oids[1] != DIGEST_OIDS[key_size]:
        raise ValueError(f"digestParamSet {oids[1]} is not Streebog-{key_size}")
    return found


def read_spki(spki_der: bytes) -> GostPublicKey:
    """The GOST R 34.10-2012 key of a DER SubjectPublicKeyInfo, with or without
    digestParamSet. Raises ValueError if it is not one, or not well formed."""
    key_size = _key_size_of(spki_der)
    parts = spki_parts(spki_der)
    if key_size is None or parts is None:
        raise ValueError("not a GOST R 34.10-2012 SubjectPublicKeyInfo")
    algorithm, bits = parts
    outer = one(algorithm, 0, len(algorithm), 0x30)  # read by _key_size_of already
    fields = children(algorithm, outer.start, outer.end)
    if len(fields) != 2:
        raise ValueError("GOST key algorithm without parameters (RFC 9215 requires them)")
    found = read_parameters(key_size, algorithm[fields[1].offset : fields[1].end])
    # RFC 9215: the BIT STRING (no unused bits) holds a DER OCTET STRING of X ‖ Y.
    if not bits or bits[0] != 0:
        raise ValueError("GOST subjectPublicKey is not a whole number of octets")
    try:
        point = one(bits, 1, len(bits), 0x04)
    except DERError as exc:
        raise ValueError(f"GOST subjectPublicKey is not an OCTET STRING ({exc})") from None
    if point.end - point.start != key_size // 4:
        raise ValueError(f"a {key_size}-bit GOST key has {key_size // 4} octets")
    return GostPublicKey(key_size, found, bits[point.start : point.end])


def canonical_spki(key: GostPublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key`` as RFC 9215 writes it: digestParamSet
    (Streebog-256) only with the CryptoPro sets."""
    parameters = core.ObjectIdentifier(key.parameter_set.oid).dump()
    if key.parameter_set.digest_in_spki:
        parameters += core.ObjectIdentifier(DIGEST_OIDS[key.key_size]).dump()
    algorithm = tlv(
        0x30, core.ObjectIdentifier(KEY_OIDS[key.key_size]).dump() + tlv(0x30, parameters)
    )
    return tlv(0x30, algorithm + tlv(0x03, b"\x00" + tlv(0x04, key.point)))


def _dotted(oid_der: bytes) -> str:
    try:
        return str(core.ObjectIdentifier.load(oid_der, strict=True).dotted)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"bad OBJECT IDENTIFIER ({exc})") from None


# --- asn1crypto ------------------------------------------------------------------------


class GostR34102012PublicKeyParameters(core.Sequence):
    """RFC 9215: GostR3410-2012-PublicKeyParameters, for asn1crypto."""

    _fields = [  # noqa: RUF012 - asn1crypto's class attribute
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


def _register(
    cls: type[core.ObjectIdentifier], names: dict[int, str], oids: dict[int, str]
) -> None:
    for size, name in names.items():
        cls._map[oids[size]] = name
    # rebuilt now: asn1crypto builds it once per class (_setup, at a class's first use), so
    # a class used before this import would otherwise keep None and fail every name lookup
    cls._reverse_map = {name: oid for oid, name in cls._map.items()}


def _register_with_asn1crypto() -> None:
    """Teach asn1crypto the GOST OIDs, once per process (the checks make a second call do
    nothing). asn1crypto has no registration API: its maps are class attributes, and the
    SPKI's key octets are typed by a callback, wrapped here for the two GOST algorithms."""
    if KEY_OIDS[256] in keys.PublicKeyAlgorithmId._map:
        return
    _register(keys.PublicKeyAlgorithmId, KEY_NAMES, KEY_OIDS)
    _register(algos.SignedDigestAlgorithmId, SIGNATURE_NAMES, SIGNATURE_OIDS)
    _register(algos.DigestAlgorithmId, DIGEST_NAMES, DIGEST_OIDS)
    for name in KEY_NAMES.values():
        keys.PublicKeyAlgorithm._oid_specs[name] = GostR34102012PublicKeyParameters
    original = keys.PublicKeyInfo._spec_callbacks["public_key"]
    gost = frozenset(KEY_NAMES.values())

    def public_key_spec(info: keys.PublicKeyInfo) -> object:
        if info["algorithm"]["algorithm"].native in gost:
            return (keys.ParsableOctetBitString, core.OctetString)
        return original(info)

    keys.PublicKeyInfo._spec_callbacks = {
        **keys.PublicKeyInfo._spec_callbacks,
        "public_key": public_key_spec,
    }


_register_with_asn1crypto()
