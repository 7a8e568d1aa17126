"""CMS (RFC 5652) for RFC 7030 4.4.2, the server-generated key encrypted to the client: codecs.

The private key goes out in three layers, inside to outside:

1. :func:`asymmetric_key_package` puts the PKCS#8 key into an AsymmetricKeyPackage (RFC 5958
   section 3), eContentType :data:`ID_CT_KP_AKEYPACKAGE`;
2. :func:`signed_attributes` gives the bytes the server signs, :func:`signed_data` wraps the
   package, those attributes and the signature into SignedData (RFC 5652 section 5);
3. :func:`envelope` encrypts that SignedData (content type :data:`ID_SIGNED_DATA`; the
   SignedData itself, taken out of the ContentInfo that :func:`signed_data` returns) to the
   client's key in EnvelopedData (RFC 5652 section 6), or under a shared password with
   :func:`envelope_for_password` (CMP central key generation, RFC 9483 4.1.6.3).

:func:`open_envelope` and :func:`parse_asymmetric_key_package` go the other way (tests,
clients written in Python). Nothing here signs, reads a clock or does I/O; the only
randomness is the content-encryption key, the IV and the ephemeral ECDH key. Bad input
raises ValueError. See each module's docstring for its theory of operation.
"""

from protocols.cms.enveloped import (
    ID_DH_SINGLE_PASS_STD_DH_SHA256KDF,
    ID_ENVELOPED_DATA,
    envelope,
    open_envelope,
)
from protocols.cms.key_package import (
    ID_CT_KP_AKEYPACKAGE,
    asymmetric_key_package,
    parse_asymmetric_key_package,
)
from protocols.cms.password import envelope_for_password, open_password_envelope
from protocols.cms.signed import ID_DATA, ID_SIGNED_DATA, signed_attributes, signed_data

__all__ = [
    "ID_CT_KP_AKEYPACKAGE",
    "ID_DATA",
    "ID_DH_SINGLE_PASS_STD_DH_SHA256KDF",
    "ID_ENVELOPED_DATA",
    "ID_SIGNED_DATA",
    "asymmetric_key_package",
    "envelope",
    "envelope_for_password",
    "open_envelope",
    "open_password_envelope",
    "parse_asymmetric_key_package",
    "signed_attributes",
    "signed_data",
]
