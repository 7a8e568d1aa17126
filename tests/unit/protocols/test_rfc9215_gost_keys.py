"""RFC 9215 GOST R 34.10-2012 public keys (protocols/gost.py): the SubjectPublicKeyInfo read
in both parameter forms, written in one, the parameter sets named as gost-engine names them,
and the names asn1crypto is taught.

Vectors: keys made here by gost-engine (hsm.gost_engine) for every parameter set, and the
example certificates of RFC 9215's appendix (tests/gost_support.py): a 256-bit TC26-A key
without digestParamSet, and a 512-bit key on the test parameter set, which the CA does not
take."""

from __future__ import annotations

import pytest
from asn1crypto import algos, keys
from asn1crypto import x509 as asn1_x509

from hsm import gost_engine
from hsm.backend import KeyAlgorithm
from protocols import der, gost
from protocols.x509.csr import UnsupportedKey, key_description
from protocols.x509.spki import certificate_spki
from tests import gost_oracle
from tests.gost_support import (
    RFC9215_256_TC26A_CERTIFICATE,
    RFC9215_512_TEST_SET_CERTIFICATE,
    require_engine,
)

ALL_SETS = [(256, p) for p in sorted(gost_engine.PARAMSETS_256)] + [
    (512, p) for p in sorted(gost_engine.PARAMSETS_512)
]


def spki(algorithm_oid: str, parameters: list[str], point: bytes) -> bytes:
    """A SubjectPublicKeyInfo written out by hand."""
    oids = b"".join(der.tlv(0x06, _oid_body(oid)) for oid in parameters)
    algorithm = der.tlv(0x30, der.tlv(0x06, _oid_body(algorithm_oid)) + der.tlv(0x30, oids))
    return der.tlv(0x30, algorithm + der.tlv(0x03, b"\x00" + der.tlv(0x04, point)))


def _oid_body(dotted: str) -> bytes:
    return keys.PublicKeyAlgorithmId(dotted).contents


@pytest.fixture(scope="module")
def engine_keys() -> dict[tuple[int, str], bytes]:
    require_engine()
    return {
        (bits, name): gost_engine.generate_private_key(bits, name).public_key_der()
        for bits, name in ALL_SETS
    }


@pytest.mark.parametrize(("bits", "name"), ALL_SETS)
def test_rfc9215_every_parameter_set_reads_as_gost_engine_names_it(
    engine_keys: dict[tuple[int, str], bytes], bits: int, name: str
) -> None:
    key = gost.read_spki(engine_keys[bits, name])
    assert (key.key_size, key.parameter_set.engine_name) == (bits, name)
    assert key.parameter_set is gost.parameter_set(bits, name)
    assert len(key.point) == bits // 4
    assert (
        key_description(engine_keys[bits, name])
        == key.description
        == f"gost2012-{bits}-{name.lower()}"
    )


@pytest.mark.parametrize(("bits", "name"), ALL_SETS)
def test_rfc9215_canonical_form_carries_the_digest_only_with_cryptopro_sets(
    engine_keys: dict[tuple[int, str], bytes], bits: int, name: str
) -> None:
    """One key, one encoding (the uniqueness index), which the engine still reads; for the
    sets where gost-engine writes what the RFC writes, the octets are the engine's."""
    sent = engine_keys[bits, name]
    key = gost.read_spki(sent)
    canonical = gost.canonical_spki(key)
    assert gost.read_spki(canonical) == key
    parameters = keys.PublicKeyInfo.load(canonical)["algorithm"]["parameters"]
    has_digest = parameters["digest_param_set"].native is not None
    assert has_digest == key.parameter_set.title.startswith("CryptoPro")
    assert gost_engine.paramset_of(canonical) == (bits, name)
    if not (bits == 512 and name in {"A", "B"}):  # gost-engine adds Streebog-512 to those
        assert canonical == sent


def test_rfc9215_a_cryptopro_key_reads_with_and_without_its_digest_param_set(
    engine_keys: dict[tuple[int, str], bytes],
) -> None:
    with_digest = engine_keys[256, "A"]
    key = gost.read_spki(with_digest)
    without = spki(gost.KEY_OIDS[256], [key.parameter_set.oid], key.point)
    assert gost.read_spki(without) == key
    assert key.title == "GOST R 34.10-2012 256-bit, CryptoPro-A"
    assert gost.canonical_spki(gost.read_spki(without)) == with_digest


def test_rfc9215_appendix_tc26_a_key_without_digest_param_set() -> None:
    key_der = certificate_spki(RFC9215_256_TC26A_CERTIFICATE)
    key = gost.read_spki(key_der)
    assert (key.key_size, key.parameter_set.title, key.description) == (
        256,
        "TC26-A",
        "gost2012-256-tca",
    )
    assert gost.canonical_spki(key) == key_der


def test_rfc9215_appendix_certificate_verifies_under_gostcrypto() -> None:
    """The independent verifier of tests/gost_support.py on the RFC's own self-signed
    example: its byte orders are right without the engine."""
    certificate = asn1_x509.Certificate.load(RFC9215_256_TC26A_CERTIFICATE)
    tbs = certificate["tbs_certificate"].dump()
    signature = certificate["signature_value"].native
    key_der = certificate_spki(RFC9215_256_TC26A_CERTIFICATE)
    assert gost_oracle.verify(key_der, signature, tbs)
    assert not gost_oracle.verify(key_der, signature, tbs[:-1] + bytes([tbs[-1] ^ 1]))


def test_rfc9215_the_test_parameter_set_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        gost.read_spki(certificate_spki(RFC9215_512_TEST_SET_CERTIFICATE))
    assert str(refused.value) == (
        "1.2.643.7.1.2.1.2.0 is not a GOST R 34.10-2012 512-bit parameter set"
    )
    with pytest.raises(UnsupportedKey) as described:
        key_description(certificate_spki(RFC9215_512_TEST_SET_CERTIFICATE))
    assert str(described.value) == (
        "public key not supported "
        "(1.2.643.7.1.2.1.2.0 is not a GOST R 34.10-2012 512-bit parameter set)"
    )


@pytest.mark.parametrize(
    ("algorithm", "parameters", "octets", "reason"),
    [
        (
            gost.KEY_OIDS[512],
            ["1.2.643.2.2.35.1"],
            128,
            "1.2.643.2.2.35.1 is not a GOST R 34.10-2012 512-bit parameter set",
        ),
        (
            gost.KEY_OIDS[256],
            ["1.2.643.2.2.35.1", gost.DIGEST_OIDS[512]],
            64,
            "digestParamSet 1.2.643.7.1.1.2.3 is not Streebog-256",
        ),
        (gost.KEY_OIDS[256], ["1.2.643.7.1.2.1.1.1"], 63, "a 256-bit GOST key has 64 octets"),
        (
            gost.KEY_OIDS[256],
            [],
            64,
            "GOST key parameters are not { publicKeyParamSet, digestParamSet }",
        ),
    ],
)
def test_rfc9215_malformed_keys_are_refused_by_name(
    algorithm: str, parameters: list[str], octets: int, reason: str
) -> None:
    with pytest.raises(ValueError) as refused:
        gost.read_spki(spki(algorithm, parameters, b"\x01" * octets))
    assert str(refused.value) == reason


def test_rfc9215_other_keys_are_not_gost() -> None:
    assert not gost.is_gost_spki(b"\x30\x03\x02\x01\x00")
    with pytest.raises(ValueError) as refused:
        gost.read_spki(b"garbage")
    assert str(refused.value) == "not a GOST R 34.10-2012 SubjectPublicKeyInfo"


def test_asn1crypto_knows_the_gost_names() -> None:
    assert keys.PublicKeyAlgorithmId("gost2012_256").dotted == "1.2.643.7.1.1.1.1"
    assert keys.PublicKeyAlgorithmId("gost2012_512").dotted == "1.2.643.7.1.1.1.2"
    assert algos.SignedDigestAlgorithmId("gost2012_256").dotted == "1.2.643.7.1.1.3.2"
    assert algos.SignedDigestAlgorithmId("gost2012_512").dotted == "1.2.643.7.1.1.3.3"
    assert algos.DigestAlgorithmId("streebog256").dotted == "1.2.643.7.1.1.2.2"
    assert algos.DigestAlgorithmId("streebog512").dotted == "1.2.643.7.1.1.2.3"
    info = keys.PublicKeyInfo.load(certificate_spki(RFC9215_256_TC26A_CERTIFICATE))
    assert info.algorithm == "gost2012_256"
    assert info["algorithm"]["parameters"].native == {
        "public_key_param_set": "1.2.643.7.1.2.1.1.1",
        "digest_param_set": None,
    }
    assert len(info["public_key"].parsed.native) == 64  # the OCTET STRING inside the BIT STRING


def test_asn1crypto_registration_happens_once() -> None:
    before = dict(keys.PublicKeyAlgorithmId._map), dict(keys.PublicKeyInfo._spec_callbacks)
    gost._register_with_asn1crypto()
    assert (
        dict(keys.PublicKeyAlgorithmId._map),
        dict(keys.PublicKeyInfo._spec_callbacks),
    ) == before


def test_every_gost_key_description_is_a_key_algorithm_of_the_backends() -> None:
    """key_description names a GOST key as hsm.backend.KeyAlgorithm and the profiles do."""
    described = {gost.GostPublicKey(p.key_size, p, b"").description for p in gost.PARAMETER_SETS}
    assert described == {k.value for k in KeyAlgorithm if k.is_gost}
