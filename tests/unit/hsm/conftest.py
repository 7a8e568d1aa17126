"""Fixtures for the hsm tests: a real SoftHSM2 token, real key files, real signer processes.

The SoftHSM2 token is made once per test session: python-pkcs11 loads and initialises the
module once per process and SoftHSM2 reads SOFTHSM2_CONF only then, so one configuration
must hold for the whole session. SOFTHSM2_CONF stays in os.environ for that time, so signer
processes started by the tests find the same token.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm.backend_spec import BackendSpec
from hsm.pkcs11 import PKCS11Backend
from hsm.software import SoftwareBackend
from tests.softhsm import Token, add_gost_token, make_token

PIN = "571-secret-pin-9931"  # distinctive, so that a leak is easy to find in any text
PASSPHRASE = "soft-passphrase-41207"
PIN_ENV = "HSM_TEST_PIN"
PASSPHRASE_ENV = "HSM_TEST_PASSPHRASE"


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """An initialised SoftHSM2 token labelled `test`, SOFTHSM2_CONF set for the session."""
    token = make_token(tmp_path_factory.mktemp("softhsm"), label="test", pin=PIN)
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(token.config)
    try:
        yield token
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture(scope="session")
def gost_softhsm_token(softhsm_token: Token) -> Token:
    """A token labelled `gost` of SoftHSM2 built with its GOST mechanisms, beside
    `softhsm_token` (scripts/build_softhsm_gost.sh)."""
    return add_gost_token(softhsm_token)


@pytest.fixture
def gost_pkcs11_backend(gost_softhsm_token: Token) -> Iterator[PKCS11Backend]:
    token = gost_softhsm_token
    backend = PKCS11Backend(token.module, token.label, token.pin)
    yield backend
    backend.close()


@pytest.fixture
def pkcs11_backend(softhsm_token: Token) -> Iterator[PKCS11Backend]:
    backend = PKCS11Backend(softhsm_token.module, softhsm_token.label, softhsm_token.pin)
    yield backend
    backend.close()


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def soft_backend(key_dir: Path) -> Iterator[SoftwareBackend]:
    backend = SoftwareBackend(key_dir, PASSPHRASE.encode())
    yield backend
    backend.close()


@pytest.fixture
def soft_spec(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> BackendSpec:
    """A soft BackendSpec whose passphrase is in the environment (inherited by signers)."""
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    return BackendSpec(kind="soft", key_dir=str(key_dir), secret_env=PASSPHRASE_ENV)


@pytest.fixture
def pkcs11_spec(softhsm_token: Token, monkeypatch: pytest.MonkeyPatch) -> BackendSpec:
    monkeypatch.setenv(PIN_ENV, softhsm_token.pin)
    return BackendSpec(
        kind="pkcs11",
        module_path=softhsm_token.module,
        token_label=softhsm_token.label,
        secret_env=PIN_ENV,
    )


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A short directory for signer sockets: Unix socket paths are limited to about 100
    octets, and pytest's tmp_path can be longer."""
    path = Path(tempfile.mkdtemp(prefix="hsm-", dir="/tmp"))
    yield path / "run"
    shutil.rmtree(path, ignore_errors=True)
