"""The CA home is private (C1): `make_private` whatever modes existed, the registry's own
files 0600 from their creation (SQLite's -wal and -shm follow the database file), and
`refuse_shared_home` naming the path and the fix. Real files, a umask that shares."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.errors import CAError, ErrorKind
from server.node.home_permissions import make_private, refuse_shared_home
from server.registry import AuditEvent, Registry
from tests.local_ca import settings_for

AT = datetime(2026, 11, 28, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def sharing_umask() -> Iterator[None]:
    """The usual umask 022: what is created without an explicit mode is world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_make_private_closes_every_folder_and_file(tmp_path: Path, sharing_umask: None) -> None:
    home = tmp_path / "ca"
    (home / "keys").mkdir(parents=True, mode=0o755)
    os.chmod(home, 0o755)
    for name in ("registry.sqlite3", "registry.sqlite3-wal", "settings.toml", "keys/ca.pem"):
        (home / name).write_text("x")
        os.chmod(home / name, 0o644)
    make_private(home)
    assert mode(home) == 0o700 and mode(home / "keys") == 0o700
    for name in ("registry.sqlite3", "registry.sqlite3-wal", "settings.toml", "keys/ca.pem"):
        assert mode(home / name) == 0o600, name


async def test_the_registry_and_its_wal_and_shm_files_are_made_0600(
    tmp_path: Path, sharing_umask: None
) -> None:
    path = tmp_path / "registry.sqlite3"
    registry = await Registry.open(path)
    try:
        await registry.append_audit(AuditEvent("t", "test.event", "x"), AT)
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and shm.exists()
        assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        await registry.close()


@pytest.mark.parametrize(
    ("shared", "fix"),
    [("", "chmod 700"), ("registry.sqlite3", "chmod 600"), ("registry.sqlite3-wal", "chmod 600")],
)
def test_a_home_open_to_others_is_refused_naming_the_path_and_the_fix(
    tmp_path: Path, shared: str, fix: str
) -> None:
    settings = settings_for(tmp_path)
    make_private(tmp_path)
    for name in ("registry.sqlite3", "registry.sqlite3-wal"):
        (tmp_path / name).touch(mode=0o600)
    refuse_shared_home(settings)  # private: no refusal
    os.chmod(tmp_path / shared, 0o755 if not shared else 0o640)
    with pytest.raises(CAError) as refused:
        refuse_shared_home(settings)
    assert refused.value.kind is ErrorKind.REJECTED
    path = tmp_path / shared if shared else tmp_path
    assert str(refused.value).startswith(f"{path} is open to group or others (mode ")
    assert f"run `{fix} {path}`" in str(refused.value)


def test_the_registry_file_checked_is_the_one_registry_url_names(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, CA_REGISTRY__URL="sqlite:///data/ca.sqlite3")
    make_private(tmp_path)
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "ca.sqlite3").touch(mode=0o644)
    with pytest.raises(CAError, match=r"chmod 600 .*data/ca\.sqlite3"):
        refuse_shared_home(settings)
