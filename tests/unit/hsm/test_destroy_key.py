"""destroy_key (a retired CA generation's keys, regulation K3) on both backends: the key is
gone from its store, and signer processes that had used it can no longer sign with it."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from pkcs11 import Attribute

from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from hsm.backend_spec import BackendSpec
from hsm.pipeline import SigningPipeline
from hsm.pkcs11 import PKCS11Backend
from hsm.pkcs11_uri import parse_uri
from hsm.signer_pool import SignerPool
from hsm.software import SoftwareBackend
from tests.unit.hsm.conftest import PASSPHRASE

NO_HANG_S = 20


def test_retired_key_is_gone_from_the_backend_software(
    soft_backend: SoftwareBackend, key_dir: Path
) -> None:
    key = soft_backend.generate_key("ca-g1", KeyAlgorithm.EC_P256)
    other = soft_backend.generate_key("ca-g2", KeyAlgorithm.EC_P256)
    path = Path(key.uri.removeprefix("file:"))
    soft_backend.sign_many(key, [b"cached"])
    soft_backend.destroy_key(key)
    assert not path.exists()
    assert sorted(p.name for p in key_dir.iterdir()) == ["ca-g2.pem"]
    with pytest.raises(HSMError, match="cannot read key"):
        soft_backend.sign_many(key, [b"after"])
    fresh = SoftwareBackend(key_dir, PASSPHRASE.encode())
    with pytest.raises(HSMError, match="cannot read key"):
        fresh.public_key_der(key)
    assert len(soft_backend.sign_many(other, [b"the other key signs"])) == 1
    soft_backend.destroy_key(key)  # already gone: nothing to do


def test_a_key_destroyed_elsewhere_no_longer_signs_from_the_cache(
    soft_backend: SoftwareBackend, key_dir: Path
) -> None:
    key = soft_backend.generate_key("ca-g1", KeyAlgorithm.EC_P256)
    other = SoftwareBackend(key_dir, PASSPHRASE.encode())
    other.sign_many(key, [b"cached in the other backend"])
    soft_backend.destroy_key(key)
    with pytest.raises(HSMError, match="cannot read key"):
        other.sign_many(key, [b"after"])


def test_destroy_refuses_a_key_outside_the_key_directory(
    soft_backend: SoftwareBackend, tmp_path: Path
) -> None:
    outside = tmp_path / "precious.pem"
    outside.write_bytes(b"not a CA key")
    with pytest.raises(HSMError, match="outside"):
        soft_backend.destroy_key(KeyRef(f"file:{outside}", KeyAlgorithm.EC_P256))
    assert outside.read_bytes() == b"not a CA key"


def test_retired_key_is_gone_from_the_backend_pkcs11(pkcs11_backend: PKCS11Backend) -> None:
    key = pkcs11_backend.generate_key(f"ca-{uuid.uuid4().hex[:12]}", KeyAlgorithm.EC_P256)
    other = pkcs11_backend.generate_key(f"ca-{uuid.uuid4().hex[:12]}", KeyAlgorithm.EC_P256)
    pkcs11_backend.sign_many(key, [b"cached"])
    key_id = parse_uri(key.uri).id
    pkcs11_backend.destroy_key(key)
    session = pkcs11_backend._session
    assert list(session.get_objects({Attribute.ID: key_id})) == []  # private and public
    with pytest.raises(HSMError, match="no private key matches"):
        pkcs11_backend.sign_many(key, [b"after"])
    pkcs11_backend.destroy_key(key)  # already gone: nothing to do
    assert len(pkcs11_backend.sign_many(other, [b"the other key signs"])) == 1
    assert pkcs11_backend.public_key_der(other)  # its public key object is still there


def test_pkcs11_destroy_refuses_a_key_of_another_token_or_without_id(
    pkcs11_backend: PKCS11Backend,
) -> None:
    with pytest.raises(HSMError, match="on token 'elsewhere'"):
        pkcs11_backend.destroy_key(KeyRef("pkcs11:token=elsewhere;id=%01", KeyAlgorithm.EC_P256))
    with pytest.raises(HSMError, match="needs its id"):
        pkcs11_backend.destroy_key(KeyRef("pkcs11:object=ca", KeyAlgorithm.EC_P256))


async def _signs_then_refuses_after_destroy(
    spec: BackendSpec, run_dir: Path, key: KeyRef, destroy: object
) -> None:
    with SignerPool(spec, run_dir, processes=1) as pool:
        async with SigningPipeline(pool.socket_paths) as pipeline:
            async with asyncio.timeout(NO_HANG_S):
                await pipeline.sign(key, b"before: the signer caches the key")
                assert callable(destroy)
                destroy(key)
                with pytest.raises(HSMError):
                    await pipeline.sign(key, b"after")


async def test_a_destroyed_software_key_no_longer_signs_through_the_pipeline(
    soft_backend: SoftwareBackend, soft_spec: BackendSpec, run_dir: Path
) -> None:
    key = soft_backend.generate_key("ca-g1", KeyAlgorithm.EC_P256)
    await _signs_then_refuses_after_destroy(soft_spec, run_dir, key, soft_backend.destroy_key)


async def test_a_destroyed_pkcs11_key_no_longer_signs_through_the_pipeline(
    pkcs11_backend: PKCS11Backend, pkcs11_spec: BackendSpec, run_dir: Path
) -> None:
    key = pkcs11_backend.generate_key(f"ca-{os.getpid()}-{uuid.uuid4().hex[:8]}",
                                      KeyAlgorithm.EC_P256)  # fmt: skip
    await _signs_then_refuses_after_destroy(pkcs11_spec, run_dir, key, pkcs11_backend.destroy_key)
