"""PKCS11Backend heals itself when its SoftHSM2 token goes away and comes back (issue 12,
section 1): a token whose files were restored from a backup, or removed and put back, signs
again through the same backend object, and fails fast with HSMError while it is missing.

Each test breaks a token of its own, made beside the session's token in the same token
folder (one SOFTHSM2_CONF per process), so that the other tests keep theirs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from hsm.backend_spec import BackendSpec
from hsm.pipeline import SigningPipeline
from hsm.pkcs11 import PKCS11Backend
from hsm.signer_pool import SignerPool
from tests.softhsm import Token
from tests.unit.hsm.conftest import PIN_ENV
from tests.unit.hsm.helpers import verify

FAST_FAILURE_SECONDS = 10.0  # generous for a busy machine; a hang would be far longer


@dataclass(frozen=True)
class BreakableToken:
    label: str
    folder: Path  # the token's own files, under the token folder of SOFTHSM2_CONF

    def copy_to(self, backup: Path) -> None:
        shutil.copytree(self.folder, backup)

    def restore_from(self, backup: Path) -> None:
        shutil.rmtree(self.folder)
        shutil.copytree(backup, self.folder)

    def remove(self) -> None:
        shutil.rmtree(self.folder)


@pytest.fixture
def breakable(softhsm_token: Token) -> BreakableToken:
    tokens = softhsm_token.config.parent / "tokens"
    before = set(tokens.iterdir())
    name = f"spare-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", name,
         "--pin", softhsm_token.pin, "--so-pin", softhsm_token.pin + "-so"],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(softhsm_token.config)},
    )  # fmt: skip
    [folder] = set(tokens.iterdir()) - before
    # Left in place afterwards: SoftHSM2 answers GeneralError for every token of a process
    # that saw a token folder vanish, until the module is re-initialised.
    return BreakableToken(name, folder)


@pytest.fixture
def backend(softhsm_token: Token, breakable: BreakableToken) -> Iterator[PKCS11Backend]:
    opened = PKCS11Backend(softhsm_token.module, breakable.label, softhsm_token.pin)
    yield opened
    opened.close()


def signs(backend: PKCS11Backend, key: KeyRef) -> None:
    [signature] = backend.sign_many(key, [b"after the token came back"])
    verify(backend.public_key_der(key), key.algorithm, signature, b"after the token came back")


def test_restored_token_files_sign_again_without_a_new_backend(
    backend: PKCS11Backend,
    breakable: BreakableToken,
    softhsm_token: Token,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    first = backend.generate_key("first", KeyAlgorithm.EC_P256)
    breakable.copy_to(tmp_path / "older")
    later = backend.generate_key("later", KeyAlgorithm.EC_P256)
    signs(backend, later)
    breakable.copy_to(tmp_path / "newer")

    breakable.restore_from(tmp_path / "older")  # a backup from before `later` was made
    with pytest.raises(HSMError, match="no private key matches") as gone:
        backend.sign_many(later, [b"x"])
    signs(backend, first)

    breakable.restore_from(tmp_path / "newer")  # the seen case: ObjectHandleInvalid until restart
    signs(backend, later)
    signs(backend, first)

    recoveries = [r for r in caplog.records if "re-opened" in r.getMessage()]
    assert recoveries and all(breakable.label in r.getMessage() for r in recoveries)
    assert softhsm_token.pin not in caplog.text + str(gone.value)


def test_removed_token_fails_fast_until_its_files_are_back(
    backend: PKCS11Backend,
    breakable: BreakableToken,
    softhsm_token: Token,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = backend.generate_key("ca", KeyAlgorithm.RSA_2048)
    signs(backend, key)
    breakable.copy_to(tmp_path / "backup")

    breakable.remove()
    errors = []
    for _ in range(2):  # every batch tries the token again, and fails again at once
        started = time.monotonic()
        with pytest.raises(HSMError) as caught:
            backend.sign_many(key, [b"x"])
        assert time.monotonic() - started < FAST_FAILURE_SECONDS
        errors.append(str(caught.value))

    shutil.copytree(tmp_path / "backup", breakable.folder)
    signs(backend, key)

    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) == 1  # logged once however many batches fail
    assert any("re-opened" in r.getMessage() for r in caplog.records)
    assert all(softhsm_token.pin not in text for text in [caplog.text, *errors])


async def test_a_signer_process_signs_again_once_its_token_is_back(
    backend: PKCS11Backend,
    breakable: BreakableToken,
    softhsm_token: Token,
    run_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seen case, through the pipeline: the signer process that owns the token keeps
    running, answers HSMError while the token is gone, and signs again once it is back."""
    key = backend.generate_key("piped", KeyAlgorithm.EC_P256)
    spki = backend.public_key_der(key)
    breakable.copy_to(tmp_path / "backup")
    monkeypatch.setenv(PIN_ENV, softhsm_token.pin)
    spec = BackendSpec(kind="pkcs11", module_path=softhsm_token.module,
                       token_label=breakable.label, secret_env=PIN_ENV)  # fmt: skip
    with SignerPool(spec, run_dir, processes=1) as pool:
        async with SigningPipeline(pool.socket_paths) as pipeline, asyncio.timeout(120):
            verify(spki, key.algorithm, await pipeline.sign(key, b"before"), b"before")
            breakable.remove()
            with pytest.raises(HSMError) as caught:
                await pipeline.sign(key, b"while gone")
            shutil.copytree(tmp_path / "backup", breakable.folder)
            verify(spki, key.algorithm, await pipeline.sign(key, b"after"), b"after")
        logs = "".join(path.read_text() for path in pool.log_paths)
    assert "re-opened" in logs
    assert softhsm_token.pin not in logs + str(caught.value)
    signs(backend, key)  # this process's backend too
