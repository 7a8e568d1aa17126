"""Asymmetric Key Packages (RFC 5958): the content that carries a server-generated key.

RFC 7030 4.4.2 has the server return the private key it made, when the key is encrypted to
the client, as a CMS SignedData whose eContentType is id-ct-KP-aKeyPackage and whose content
is an AsymmetricKeyPackage (RFC 5958 section 3):

    AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey

OneAsymmetricKey (RFC 5958 section 2) is PKCS#8 PrivateKeyInfo extended with an optional
public key; a version v1 OneAsymmetricKey has the same octets as a PrivateKeyInfo. So the
PKCS#8 DER the key generator hands over goes into the package as it is, never re-encoded.
"""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import core, keys

__all__ = ["ID_CT_KP_AKEYPACKAGE", "asymmetric_key_package", "parse_asymmetric_key_package"]

ID_CT_KP_AKEYPACKAGE = "2.16.840.1.101.2.1.2.78.5"  # RFC 5958 section 3


class _OneAsymmetricKey(core.Sequence):
    """OneAsymmetricKey, RFC 5958 section 2 (v1 is PKCS#8 PrivateKeyInfo, RFC 5208 5).

    The private key stays an opaque OCTET STRING: its inside depends on the algorithm and
    is the key generator's business, not the package's."""

    _fields = [  # noqa: RUF012 (asn1crypto's schema attribute)
        ("version", core.Integer),
        ("private_key_algorithm", keys.PrivateKeyAlgorithm),
        ("private_key", core.OctetString),
        ("attributes", keys.Attributes, {"implicit": 0, "optional": True}),
        ("public_key", core.BitString, {"implicit": 1, "optional": True}),
    ]


class _AsymmetricKeyPackage(core.SequenceOf):
    _child_spec = _OneAsymmetricKey


def asymmetric_key_package(private_keys_pkcs8: Sequence[bytes]) -> bytes:
    """DER AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey (RFC 5958 2),
    each element being the given PKCS#8 PrivateKeyInfo DER copied as is (v1 OneAsymmetricKey).

    Raises ValueError for an empty list (SIZE (1..MAX)) or an item that is not one DER
    OneAsymmetricKey."""
    if not private_keys_pkcs8:
        raise ValueError("an AsymmetricKeyPackage holds at least one key (RFC 5958 section 3)")
    package = _AsymmetricKeyPackage([_one_key(i, der) for i, der in enumerate(private_keys_pkcs8)])
    return bytes(package.dump())


def parse_asymmetric_key_package(der: bytes) -> list[bytes]:
    """The PKCS#8 DER of each key in the package. Raises ValueError if it is not one."""
    try:
        package = _AsymmetricKeyPackage.load(der, strict=True)
        found = [_checked(key).dump() for key in package]
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a DER AsymmetricKeyPackage (RFC 5958 section 3): {exc}") from None
    if not found:
        raise ValueError("an empty AsymmetricKeyPackage (RFC 5958 section 3: SIZE (1..MAX))")
    return found


def _one_key(index: int, der: bytes) -> _OneAsymmetricKey:
    try:
        return _checked(_OneAsymmetricKey.load(der, strict=True))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"key {index} is not a DER PKCS#8 PrivateKeyInfo: {exc}") from None


def _checked(key: _OneAsymmetricKey) -> _OneAsymmetricKey:
    """Parses every field now (asn1crypto is lazy) and checks the version: v1 (0) or v2 (1),
    v2 only with a public key (RFC 5958 section 2)."""
    version = key["version"].native
    key["private_key_algorithm"]["algorithm"].dotted  # noqa: B018 (parse it now)
    has_public_key = key["public_key"].native is not None
    if version not in (0, 1) or (version == 1) != has_public_key:
        raise ValueError(f"OneAsymmetricKey version {version} with public key: {has_public_key}")
    return key
