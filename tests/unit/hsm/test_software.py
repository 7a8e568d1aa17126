"""SoftwareBackend: real encrypted PKCS#8 files in a temporary directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from hsm.software import SoftwareBackend
from tests.unit.hsm.conftest import PASSPHRASE
from tests.unit.hsm.helpers import verify

MESSAGES = [b"", b"tbs certificate", bytes(range(256)) * 40]


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_sign_many_verifies_for_every_algorithm(
    soft_backend: SoftwareBackend, algorithm: KeyAlgorithm
) -> None:
    key = soft_backend.generate_key(f"ca-{algorithm.value}", algorithm)
    signatures = soft_backend.sign_many(key, MESSAGES)
    assert len(signatures) == len(MESSAGES)
    spki = soft_backend.public_key_der(key)
    for message, signature in zip(MESSAGES, signatures, strict=True):
        verify(spki, algorithm, signature, message)


def test_key_file_is_encrypted_pkcs8_with_mode_0600(soft_backend: SoftwareBackend) -> None:
    key = soft_backend.generate_key("ca", KeyAlgorithm.EC_P256)
    assert key.uri.startswith("file:/")
    path = Path(key.uri.removeprefix("file:"))
    assert path.is_absolute()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_a_new_backend_loads_the_file(key_dir: Path, soft_backend: SoftwareBackend) -> None:
    key = soft_backend.generate_key("ca", KeyAlgorithm.EC_P384)
    fresh = SoftwareBackend(key_dir, PASSPHRASE.encode())
    [signature] = fresh.sign_many(key, [b"data"])
    verify(soft_backend.public_key_der(key), key.algorithm, signature, b"data")
    assert fresh.public_key_der(key) == soft_backend.public_key_der(key)


def test_wrong_passphrase_is_an_hsm_error_without_the_secret(
    key_dir: Path, soft_backend: SoftwareBackend
) -> None:
    key = soft_backend.generate_key("ca", KeyAlgorithm.EC_P256)
    wrong = "not-the-passphrase-7731"
    with pytest.raises(HSMError, match="cannot decrypt") as caught:
        SoftwareBackend(key_dir, wrong.encode()).sign_many(key, [b"x"])
    assert wrong not in str(caught.value)
    assert PASSPHRASE not in str(caught.value)


def test_existing_label_is_refused(soft_backend: SoftwareBackend) -> None:
    soft_backend.generate_key("ca", KeyAlgorithm.EC_P256)
    with pytest.raises(HSMError, match="already exists"):
        soft_backend.generate_key("ca", KeyAlgorithm.EC_P256)


@pytest.mark.parametrize("label", ["", "../escape", "a/b", ".hidden", "x" * 200])
def test_label_that_is_not_a_plain_file_name_is_refused(
    soft_backend: SoftwareBackend, label: str
) -> None:
    with pytest.raises(HSMError, match="bad key label"):
        soft_backend.generate_key(label, KeyAlgorithm.EC_P256)


def test_key_outside_the_key_directory_is_refused(
    soft_backend: SoftwareBackend, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.pem"
    outside.write_bytes(b"")
    with pytest.raises(HSMError, match="outside"):
        soft_backend.sign_many(KeyRef(f"file:{outside}", KeyAlgorithm.EC_P256), [b"x"])


@pytest.mark.parametrize("uri", ["pkcs11:object=ca", "file:relative.pem"])
def test_uri_that_is_not_an_absolute_file_uri_is_refused(
    soft_backend: SoftwareBackend, uri: str
) -> None:
    with pytest.raises(HSMError):
        soft_backend.sign_many(KeyRef(uri, KeyAlgorithm.EC_P256), [b"x"])


def test_missing_key_file_is_an_hsm_error(soft_backend: SoftwareBackend, key_dir: Path) -> None:
    with pytest.raises(HSMError, match="cannot read key"):
        soft_backend.sign_many(KeyRef(f"file:{key_dir}/nope.pem", KeyAlgorithm.EC_P256), [b"x"])


def test_algorithm_that_does_not_match_the_key_is_refused(
    key_dir: Path, soft_backend: SoftwareBackend
) -> None:
    key = soft_backend.generate_key("ca", KeyAlgorithm.EC_P256)
    fresh = SoftwareBackend(key_dir, PASSPHRASE.encode())
    with pytest.raises(HSMError, match="is not rsa-2048"):
        fresh.sign_many(KeyRef(key.uri, KeyAlgorithm.RSA_2048), [b"x"])


def test_missing_key_directory_is_an_hsm_error(tmp_path: Path) -> None:
    with pytest.raises(HSMError, match="does not exist"):
        SoftwareBackend(tmp_path / "none", b"pass")


def test_a_gost_key_file_is_encrypted_pkcs8_the_engine_reads_only_with_the_passphrase(
    soft_backend: SoftwareBackend, key_dir: Path
) -> None:
    key = soft_backend.generate_key("ca-gost", KeyAlgorithm.GOST2012_256_TCA)
    path = key_dir / "ca-gost.pem"
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = SoftwareBackend(key_dir, PASSPHRASE.encode())
    assert again.public_key_der(key) == soft_backend.public_key_der(key)
    with pytest.raises(HSMError, match="cannot decrypt key") as refused:
        SoftwareBackend(key_dir, b"wrong").sign_many(key, [b"m"])
    assert "wrong" not in str(refused.value).replace("wrong passphrase", "")


def test_a_gost_key_of_another_parameter_set_is_refused(
    soft_backend: SoftwareBackend, key_dir: Path
) -> None:
    key = soft_backend.generate_key("ca-gost", KeyAlgorithm.GOST2012_256_A)
    mislabelled = KeyRef(key.uri, KeyAlgorithm.GOST2012_256_XA)  # the same curve, another OID
    with pytest.raises(HSMError, match="is not gost2012-256-xa"):
        SoftwareBackend(key_dir, PASSPHRASE.encode()).sign_many(mislabelled, [b"m"])


def test_a_destroyed_gost_key_signs_no_more(soft_backend: SoftwareBackend, key_dir: Path) -> None:
    key = soft_backend.generate_key("ca-gost", KeyAlgorithm.GOST2012_512_A)
    soft_backend.sign_many(key, [b"m"])
    soft_backend.destroy_key(key)
    assert not (key_dir / "ca-gost.pem").exists()
    with pytest.raises(HSMError, match="cannot read key"):
        soft_backend.sign_many(key, [b"m"])
