"""The in-process CA of tests/local_ca.py as a fixture."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hsm.software import SoftwareBackend
from server.authority import Authority
from server.lifecycle import create_generation, issue_ocsp_responder
from server.registry import SQLiteRegistry
from server.revocation import Revocation
from tests.local_ca import BackendSigner, Clock, LocalCA, settings_for


@pytest.fixture
async def local_ca(tmp_path: Path) -> AsyncIterator[LocalCA]:
    settings = settings_for(tmp_path)
    clock = Clock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    registry = await SQLiteRegistry.open(tmp_path / "registry.sqlite3")
    (tmp_path / "keys").mkdir(mode=0o700)
    backend = SoftwareBackend(tmp_path / "keys", b"test passphrase")
    signer = BackendSigner(backend)
    authority = Authority(settings, registry, signer, clock)
    generation = await create_generation(settings, registry, backend, authority, clock(), "t")
    await issue_ocsp_responder(settings, backend, authority, generation, clock(), "t")
    try:
        yield LocalCA(settings, registry, backend, signer, authority,
                      Revocation(registry, clock), clock)  # fmt: skip
    finally:
        await registry.close()
        backend.close()
        shutil.rmtree(tmp_path / "keys", ignore_errors=True)
