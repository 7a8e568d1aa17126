"""hsm/gost_engine.py: GOST R 34.10-2012 keys and signatures, Streebog digests, through
OpenSSL's GOST engine (Debian libengine-gost-openssl, installed by scripts/setup.sh)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hsm import gost_engine
from hsm.gost_engine import GostError
from protocols import der
from tests import gost_oracle

# RFC 6986 section 10.1: message M1 and its GOST R 34.11-2012 hashes
M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M1_STREEBOG_256 = "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"
M1_STREEBOG_512 = (
    "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
    "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"
)


@pytest.fixture(autouse=True, scope="module")
def _engine() -> None:
    reason = gost_engine.available()
    assert reason is None, f"run scripts/setup.sh: {reason}"


def test_rfc6986_10_1_streebog_of_m1() -> None:
    assert gost_engine.digest("streebog256", M1).hex() == M1_STREEBOG_256
    assert gost_engine.digest("streebog512", M1).hex() == M1_STREEBOG_512


def test_an_unknown_digest_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Streebog digest"):
        gost_engine.digest("sha256", M1)


@pytest.mark.parametrize(
    ("bits", "paramset"),
    [(256, p) for p in sorted(gost_engine.PARAMSETS_256)]
    + [(512, p) for p in sorted(gost_engine.PARAMSETS_512)],
)
def test_rfc9215_signature_is_s_then_r_and_verifies_only_over_its_message(
    bits: int, paramset: str
) -> None:
    key = gost_engine.generate_private_key(bits, paramset)
    spki = key.public_key_der()
    signature = key.sign(b"to be signed")
    assert len(signature) == bits // 4
    assert gost_engine.paramset_of(spki) == (bits, paramset)
    assert gost_engine.verify(spki, signature, b"to be signed")
    assert not gost_engine.verify(spki, signature, b"to be signeD")
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert not gost_engine.verify(spki, tampered, b"to be signed")


@pytest.mark.parametrize(("bits", "paramset"), [(256, "A"), (512, "C")])
def test_rfc9215_sign_many_signs_each_message_on_the_one_prepared_context(
    bits: int, paramset: str
) -> None:
    """The key's context and buffers are reused from one signature to the next: each
    signature is over its own message (checked by gostcrypto, not the engine), and no two
    are alike (a fresh random k each time)."""
    key = gost_engine.generate_private_key(bits, paramset)
    spki = key.public_key_der()
    messages = [b"", b"\x30" * 400, b"m", b"m", bytes(range(256)) * 40]
    signatures = key.sign_many(messages)
    assert [len(s) for s in signatures] == [bits // 4] * len(messages)
    assert len(set(signatures)) == len(messages)
    for message, signature in zip(messages, signatures, strict=True):
        assert gost_oracle.verify(spki, signature, message)
    assert not gost_oracle.verify(spki, signatures[0], messages[1])
    assert key.sign_many([]) == []


def test_an_unknown_parameter_set_is_refused() -> None:
    with pytest.raises(ValueError, match="parameter set 'TCA'"):
        gost_engine.generate_private_key(512, "TCA")


def test_encrypted_pkcs8_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    key = gost_engine.generate_private_key(256, "A")
    pem = key.encrypted_pem(b"pass\x00phrase")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    again = gost_engine.load_private_key(pem, b"pass\x00phrase")
    assert again.public_key_der() == key.public_key_der()
    assert gost_engine.verify(key.public_key_der(), again.sign(b"m"), b"m")
    with pytest.raises(GostError, match="wrong passphrase") as refused:
        gost_engine.load_private_key(pem, b"pass")
    assert "pass" not in str(refused.value).replace("passphrase", "")


def test_openssl_reads_the_key_file_and_verifies_our_signature(tmp_path: Path) -> None:
    """The engine's command line is a second reader of what this binding writes."""
    key = gost_engine.generate_private_key(256, "TCB")
    (tmp_path / "key.pem").write_bytes(key.encrypted_pem(b"secret"))
    (tmp_path / "message").write_bytes(b"message")
    (tmp_path / "sig").write_bytes(key.sign(b"message"))
    public = subprocess.run(
        ["openssl", "pkey", "-engine", "gost", "-in", str(tmp_path / "key.pem"),
         "-passin", "pass:secret", "-pubout", "-outform", "DER"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert public == key.public_key_der()
    (tmp_path / "pub.der").write_bytes(public)
    verified = subprocess.run(
        ["openssl", "dgst", "-engine", "gost", "-md_gost12_256", "-keyform", "DER",
         "-verify", str(tmp_path / "pub.der"), "-signature", str(tmp_path / "sig"),
         str(tmp_path / "message")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "Verified OK" in verified.stdout, verified.stderr


@pytest.mark.parametrize(("bits", "paramset"), [(256, "A"), (256, "TCA"), (512, "C")])
def test_rfc5958_2_pkcs8_der_is_read_back_by_openssl_as_the_same_key(
    tmp_path: Path, bits: int, paramset: str
) -> None:
    """The unencrypted PrivateKeyInfo (version 0, the key's algorithm and parameters, the
    key octets) that a key made for a client leaves in; `openssl pkey` with the engine
    reads it and derives the same public key."""
    key = gost_engine.generate_private_key(bits, paramset)
    pkcs8 = key.pkcs8_der()
    (_, version), (_, algorithm), (private_key_tag, _) = der.elements(pkcs8)
    assert version == b"\x02\x01\x00"  # v1 (0): no public key inside (RFC 5958 2)
    assert algorithm == der.elements(key.public_key_der())[0][1]  # the SPKI's, parameters too
    assert private_key_tag == 0x04  # privateKey OCTET STRING: a PrivateKeyInfo, not encrypted
    (tmp_path / "key.der").write_bytes(pkcs8)
    public = subprocess.run(
        ["openssl", "pkey", "-engine", "gost", "-inform", "DER", "-in", str(tmp_path / "key.der"),
         "-pubout", "-outform", "DER"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert public == key.public_key_der()
    other = gost_engine.generate_private_key(bits, paramset)
    assert other.pkcs8_der() != pkcs8


def test_verify_refuses_a_key_that_is_not_gost() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(GostError, match=r"not a GOST R 34\.10-2012 public key"):
        gost_engine.verify(spki, bytes(64), b"m")
    with pytest.raises(GostError, match="not a public key"):
        gost_engine.verify(b"\x30\x00", bytes(64), b"m")


def test_a_closed_key_signs_no_more() -> None:
    key = gost_engine.generate_private_key(256, "A")
    key.close()
    with pytest.raises(GostError, match="closed"):
        key.sign(b"m")
    with pytest.raises(GostError, match="closed"):
        key.sign_many([b"m"])
    key.close()  # a second close frees nothing twice


@pytest.mark.parametrize("paramset", ["A", "B"])
def test_rfc9215_4_2_a_512_bit_key_is_written_without_digest_parameters(paramset: str) -> None:
    """The engine writes Streebog-512 as digestParamSet for 512-bit sets A and B; RFC 9215
    writes it only for the 256-bit CryptoPro sets. The key reads and verifies the same."""
    from asn1crypto import core

    key = gost_engine.generate_private_key(512, paramset)
    spki = key.public_key_der()
    algorithm = core.Sequence.load(core.Sequence.load(spki)[0].dump())
    assert len(core.Sequence.load(algorithm[1].dump())) == 1
    assert gost_engine.paramset_of(spki) == (512, paramset)
    assert gost_engine.verify(spki, key.sign(b"m"), b"m")


def test_an_unencrypted_key_file_is_refused() -> None:
    key = gost_engine.generate_private_key(256, "A")
    pem = key.encrypted_pem(b"secret")
    plain = subprocess.run(
        ["openssl", "pkey", "-engine", "gost", "-passin", "pass:secret"],
        input=pem, capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(GostError, match="not an encrypted PKCS#8 key"):
        gost_engine.load_private_key(plain, b"anything")


@pytest.mark.parametrize(("bits", "paramset"), sorted(gost_engine.PARAMSET_OIDS))
def test_rfc9215_4_3_the_spki_of_a_bare_point_is_that_of_the_key_it_belongs_to(
    bits: int, paramset: str
) -> None:
    """A PKCS#11 token gives a GOST public key as its point alone (hsm/pkcs11_gost.py)."""
    spki = gost_engine.generate_private_key(bits, paramset).public_key_der()
    point = spki[-bits // 4 :]  # the OCTET STRING's content ends the SubjectPublicKeyInfo
    assert gost_engine.public_key_of_point(bits, paramset, point) == spki


def test_a_point_off_the_curve_or_of_the_wrong_size_or_set_is_refused() -> None:
    point = gost_engine.generate_private_key(256, "A").public_key_der()[-64:]
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    with pytest.raises(GostError, match="not a public key OpenSSL reads"):
        gost_engine.public_key_of_point(256, "A", off_curve)
    with pytest.raises(ValueError, match="a 256-bit GOST public key has 64 octets, not 63"):
        gost_engine.public_key_of_point(256, "A", point[:-1])
    with pytest.raises(ValueError, match=r"no GOST R 34\.10-2012 512-bit parameter set 'TCA'"):
        gost_engine.public_key_of_point(512, "TCA", point + point)
