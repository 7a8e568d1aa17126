"""A second, independent GOST R 34.10-2012 verifier for tests: the pure-Python gostcrypto
(PyPI), so that OpenSSL's GOST engine, which signs, is not also the only one checking.

Byte orders (reference/ru-profile.md 5.2, RFC 9215): X.509 carries s || r, each half
big-endian, and the public key as an OCTET STRING of X || Y, each little-endian; the
digest is Streebog's output read as a little-endian integer. gostcrypto wants r || s, a
big-endian digest and X || Y big-endian.
"""

from __future__ import annotations

from asn1crypto import core
from gostcrypto import gosthash, gostsignature

# parameter-set OID -> gostcrypto's curve (the CryptoPro sets are TC26 curves by other
# names: CryptoPro-A = XchA = TC26-B, CryptoPro-B = TC26-C, CryptoPro-C = XchB = TC26-D)
_TC26_256 = "id-tc26-gost-3410-2012-256-paramSet"
CURVES = {
    "1.2.643.2.2.35.1": _TC26_256 + "B",
    "1.2.643.2.2.35.2": _TC26_256 + "C",
    "1.2.643.2.2.35.3": _TC26_256 + "D",
    "1.2.643.2.2.36.0": _TC26_256 + "B",
    "1.2.643.2.2.36.1": _TC26_256 + "D",
    "1.2.643.7.1.2.1.1.1": _TC26_256 + "A",
    "1.2.643.7.1.2.1.1.2": _TC26_256 + "B",
    "1.2.643.7.1.2.1.1.3": _TC26_256 + "C",
    "1.2.643.7.1.2.1.1.4": _TC26_256 + "D",
    "1.2.643.7.1.2.1.2.1": "id-tc26-gost-3410-12-512-paramSetA",
    "1.2.643.7.1.2.1.2.2": "id-tc26-gost-3410-12-512-paramSetB",
    "1.2.643.7.1.2.1.2.3": "id-tc26-gost-3410-2012-512-paramSetC",
}
KEY_OIDS = {"1.2.643.7.1.1.1.1": 256, "1.2.643.7.1.1.1.2": 512}


def verify(spki_der: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` (X.509's s || r) is the GOST R 34.10-2012 key's over `message`."""
    spki = core.Sequence.load(spki_der)
    algorithm = core.Sequence.load(spki[0].dump())
    bits = KEY_OIDS[core.ObjectIdentifier.load(algorithm[0].dump()).dotted]
    parameters = core.Sequence.load(algorithm[1].dump())
    curve = CURVES[core.ObjectIdentifier.load(parameters[0].dump()).dotted]
    octets = core.OctetString.load(core.BitString.load(spki[1].dump()).contents[1:]).native
    half = bits // 8
    public = octets[:half][::-1] + octets[half:][::-1]
    mode = gostsignature.MODE_256 if bits == 256 else gostsignature.MODE_512
    signer = gostsignature.new(mode, gostsignature.CURVES_R_1323565_1_024_2019[curve])
    digest = gosthash.new(f"streebog{bits}", data=message).digest()
    return bool(signer.verify(public, digest[::-1], signature[half:] + signature[:half]))
