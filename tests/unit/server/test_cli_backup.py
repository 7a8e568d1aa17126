"""`backup` and `restore` of a CA home: the archive holds the registry's snapshot, the
settings, checkpoints and certificates, the key files only when asked, never a PIN; a
restore refuses a home that is not empty and any member whose SHA-256 differs from the
manifest's, and proves what it restored (row counts against the manifest, audit verify,
OCSP answers for a sample) before it exits 0. Backup under load: tests/integration/
test_backup.py and tests/unit/registry/test_registry_snapshot.py."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from config import load_settings
from server.backup import home_files
from server.cli.backup import copy_files
from server.cli.main import main
from server.cli.settings_file import set_toml_value
from server.registry import Registry
from server.registry.registry_copy import row_counts
from tests.postgres import Cluster

KEY_FILES = ("home/keys/", "home/cmp-keys/", "home/tls/server-key.pem")


def _init(home: Path, *args: str) -> None:
    assert main(["init", "--home", str(home), "--https", "127.0.0.1:8443", *args]) == 0


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home made by `init`, its registry on SQLite, never changed by the tests."""
    home = tmp_path_factory.mktemp("source") / "ca"
    _init(home)
    return home


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


async def _rows(url: str) -> dict[str, int]:
    registry = await Registry.open_url(url, migrate=False)
    try:
        return await row_counts(registry)
    finally:
        await registry.close()


def _backup(home: Path, out: Path, *args: str) -> None:
    assert main(["backup", "--home", str(home), "--out", str(out), *args]) == 0


def test_a_restored_home_holds_the_same_registry_and_passes_audit_verify(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "ca.tar"
    _backup(source, archive, "--with-keys")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    restored = tmp_path / "restored"
    capsys.readouterr()
    assert main(["restore", "--home", str(restored), "--from", str(archive)]) == 0
    report = capsys.readouterr().out
    assert "audit verify on the target: 4 entries intact, 1 checkpoints of this home hold" in report
    assert "OCSP: the answers for 2 sampled certificates are the same" in report
    assert "key files: 4 restored, encrypted as they were" in report
    assert f"the PIN is not in a backup: give it in {restored / 'pin.txt'}" in report
    assert not (restored / "pin.txt").exists()

    settings = load_settings(restored)
    assert settings.registry.url == "sqlite:///registry.sqlite3"
    assert asyncio.run(_rows(settings.registry_url)) == asyncio.run(
        _rows(load_settings(source).registry_url)
    )
    for path in (restored, *restored.rglob("*")):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    for name in ("settings.toml", "audit-checkpoints", "tls/server.pem", "keys/demo-ca-g1.pem"):
        assert (restored / name).read_bytes() == (source / name).read_bytes()
    assert main(["audit", "verify", "--home", str(restored)]) == 0
    # The registry names software keys by absolute path: now those in the restored home.
    assert f"key locations: 2 recorded in the registry now in {restored / 'keys'}" in report
    (restored / "pin.txt").write_bytes((source / "pin.txt").read_bytes())  # the operator's step
    assert main(["audit", "checkpoint", "--home", str(restored)]) == 0  # signs with the CA key
    assert main(["audit", "verify", "--home", str(restored)]) == 0


def test_the_archive_holds_no_pin_even_inside_the_key_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "ca"
    _init(home)
    (home / "pin.txt").rename(home / "keys" / "pin.txt")
    text = (home / "settings.toml").read_text(encoding="utf-8")
    (home / "settings.toml").write_text(set_toml_value(text, "hsm", "pin_file", "keys/pin.txt"))
    pin = (home / "keys" / "pin.txt").read_text().strip().encode()
    archive = tmp_path / "ca.tar"
    _backup(home, archive, "--with-keys")
    members = _members(archive)
    assert "home/keys/demo-ca-g1.pem" in members and "home/keys/pin.txt" not in members
    assert pin not in archive.read_bytes()
    assert not any(pin in content for content in members.values())
    assert b"ENCRYPTED PRIVATE KEY" in members["home/keys/demo-ca-g1.pem"]
    assert "no PIN or passphrase is in the archive" in capsys.readouterr().out


def test_without_with_keys_no_key_file_is_archived(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "ca.tar"
    _backup(source, archive)
    members = _members(archive)
    assert list(members)[:2] == ["manifest.json", "registry.sqlite3"]
    assert {"home/settings.toml", "home/audit-checkpoints", "home/tls/server.pem"} <= set(members)
    assert not [name for name in members if name.startswith(KEY_FILES)]
    assert "key files: not in the archive (--with-keys adds them" in capsys.readouterr().out
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == 1 and manifest["ca"] == "demo" and not manifest["with_keys"]
    assert manifest["row_counts"]["certificates"] == 4


def test_a_damaged_member_is_refused_and_nothing_is_restored(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "ca.tar"
    _backup(source, archive)
    data = bytearray(archive.read_bytes())
    data[data.index(b"[registry]") + 1] ^= 0x01  # one bit of settings.toml, size unchanged
    archive.write_bytes(bytes(data))
    restored = tmp_path / "restored"
    capsys.readouterr()
    assert main(["restore", "--home", str(restored), "--from", str(archive)]) == 1
    assert capsys.readouterr().err == (
        "error: archive member home/settings.toml: its SHA-256 differs from the manifest's "
        "(damaged or altered): nothing was restored\n"
    )
    assert not restored.exists()


def _with_counts_altered(source: Path, tmp_path: Path) -> Path:
    """A backup of `source` whose manifest records one audit entry more than its registry."""
    archive = tmp_path / "ca.tar"
    _backup(source, archive)
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    manifest["row_counts"]["audit_log"] += 1
    members["manifest.json"] = json.dumps(manifest).encode()
    altered = tmp_path / "altered.tar"
    with tarfile.open(altered, "w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return altered


@pytest.mark.parametrize("target", ["absent", "empty"])
def test_row_counts_that_differ_from_the_manifest_are_refused(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """The proof fails: the target is left as it was, and no staging folder remains."""
    altered = _with_counts_altered(source, tmp_path)
    restored = tmp_path / "restored"
    if target == "empty":
        restored.mkdir()
    before = sorted(os.listdir(tmp_path))
    capsys.readouterr()
    assert main(["restore", "--home", str(restored), "--from", str(altered)]) == 1
    assert capsys.readouterr().err == (
        "error: table audit_log: 5 rows in the manifest, 4 in the archive's registry\n"
    )
    assert sorted(os.listdir(tmp_path)) == before
    assert os.listdir(restored) == [] if target == "empty" else not restored.exists()


def test_a_restore_killed_midway_leaves_no_home_that_looks_restored(
    source: Path, tmp_path: Path
) -> None:
    """The restore is held at its target registry's writer lock (taken here), after the
    archive's files and settings are written, and killed there with SIGKILL."""
    archive = tmp_path / "ca.tar"
    _backup(source, archive)
    restored = tmp_path / "restored"
    registry = tmp_path / "target.sqlite3"
    lock = os.open(f"{registry}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    restore = subprocess.Popen(
        [sys.executable, "-c", "import sys; from server.cli.main import main; "
         "sys.exit(main(sys.argv[1:]))", "restore", "--home", str(restored),
         "--from", str(archive), "--registry-url", f"sqlite:///{registry}"],
        cwd=Path(__file__).parents[3], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*restor*/settings.toml")):  # its files written
            assert restore.poll() is None, restore.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the restore never wrote settings.toml"
            time.sleep(0.05)
        restore.send_signal(signal.SIGKILL)
        assert restore.wait() == -signal.SIGKILL
    finally:
        restore.kill()
        os.close(lock)
    assert not restored.exists()
    [staging] = tmp_path.glob(".restored.restoring-*")  # hidden, named after the target
    assert (staging / "settings.toml").exists()


def test_a_backup_taken_before_holder_names_were_drained_is_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest counts the snapshot as the backup saw it (rows pending in
    holder_names_pending); the restore compares those counts before the migrations and
    the naming of earlier certificates (server/registry/holder_names.py) move them."""
    home = tmp_path / "ca"
    _init(home)
    registry_file = load_settings(home).registry_file
    assert registry_file is not None
    with sqlite3.connect(registry_file) as db:  # as migration 0030 leaves a registry
        db.execute("DELETE FROM certificate_holder_names")
        db.execute("INSERT INTO holder_names_pending (serial) "
                   "SELECT serial FROM certificates WHERE state = 'issued'")  # fmt: skip
    db.close()
    archive = tmp_path / "ca.tar"
    _backup(home, archive)
    pending = json.loads(_members(archive)["manifest.json"])["row_counts"]
    assert pending["holder_names_pending"] > 0 and pending["certificate_holder_names"] == 0
    restored = tmp_path / "restored"
    assert main(["restore", "--home", str(restored), "--from", str(archive)]) == 0
    rows = asyncio.run(_rows(load_settings(restored).registry_url))
    assert rows["holder_names_pending"] == 0 and rows["certificate_holder_names"] > 0


@pytest.mark.parametrize(
    "section, key, name",
    [("audit", "checkpoints", "audit-checkpoints"), ("confirmation", "files", "confirmations"),
     ("hsm", "key_dir", "keys")],
)  # fmt: skip
def test_settings_naming_files_outside_the_restored_home_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, name: str
) -> None:
    """An absolute path into the source's home: a restore drill on the same host would
    write into the live CA's files."""
    home = tmp_path / "ca"
    _init(home)
    text = (home / "settings.toml").read_text(encoding="utf-8")
    default = f'\n{key} = "{name}"'  # the first in the file is that of [section]
    assert default in text
    absolute = text.replace(default, f"\n{key} = {json.dumps(str(home / name))}", 1)
    (home / "settings.toml").write_text(absolute)
    assert getattr(getattr(load_settings(home), section), key) == str(home / name)
    archive = tmp_path / "ca.tar"
    _backup(home, archive, "--with-keys")
    restored = tmp_path / "restored"
    capsys.readouterr()
    assert main(["restore", "--home", str(restored), "--from", str(archive)]) == 1
    assert capsys.readouterr().err == (
        f"error: the archive's settings.toml names {home / name} for {section}.{key}, "
        f"outside {restored}: a restored server would write there; nothing was restored "
        "(make it a path inside the home in the source's settings, then back up again)\n"
    )
    assert not restored.exists()
    assert sorted(os.listdir(tmp_path)) == ["ca", "ca.tar"]


def test_a_home_that_is_not_empty_is_refused(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "ca.tar"
    _backup(source, archive)
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["restore", "--home", str(restored), "--from", str(archive)]) == 1
    assert capsys.readouterr().err == (
        f"error: {restored} is not empty: restore into a new, empty folder\n"
    )
    assert os.listdir(restored) == ["notes.txt"]


def test_an_existing_archive_is_not_overwritten(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "ca.tar"
    archive.write_text("an older backup")
    assert main(["backup", "--home", str(source), "--out", str(archive)]) == 1
    assert capsys.readouterr().err == (
        f"error: {archive} exists: name a new file for the archive\n"
    )
    assert archive.read_text() == "an older backup"


def test_a_postgresql_registry_is_backed_up_and_restored_on_either_engine(
    postgres_cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source_url = asyncio.run(postgres_cluster.create_database())
    home = tmp_path / "ca"
    _init(home, "--registry-url", source_url)
    archive = tmp_path / "ca.tar"
    _backup(home, archive)
    source_rows = asyncio.run(_rows(source_url))
    total = sum(source_rows.values())
    assert f"registry (postgresql): {total} rows in " in capsys.readouterr().out

    on_sqlite = tmp_path / "on-sqlite"
    assert main(["restore", "--home", str(on_sqlite), "--from", str(archive)]) == 0
    assert asyncio.run(_rows(load_settings(on_sqlite).registry_url)) == source_rows

    target_url = asyncio.run(postgres_cluster.create_database())
    on_postgresql = tmp_path / "on-postgresql"
    restore = ["restore", "--home", str(on_postgresql), "--from", str(archive)]
    assert main([*restore, "--registry-url", target_url]) == 0
    assert load_settings(on_postgresql).registry.url == target_url
    assert asyncio.run(_rows(target_url)) == source_rows
    assert main(["audit", "verify", "--home", str(on_postgresql)]) == 0

    capsys.readouterr()
    again = tmp_path / "again"
    assert main(["restore", "--home", str(again), "--from", str(archive),
                 "--registry-url", target_url]) == 1  # fmt: skip
    assert capsys.readouterr().err.startswith("error: the target registry is not empty (table ")
    assert not again.exists()


def test_a_root_kept_in_the_home_has_its_keys_archived_but_never_its_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "ca"
    _init(home, "--hierarchy", "root+issuing")
    pins = [(home / name).read_text().strip().encode() for name in ("pin.txt", "root/pin.txt")]
    archive = tmp_path / "ca.tar"
    _backup(home, archive, "--with-keys")
    members = _members(archive)
    assert [name for name in members if name.startswith("home/root/")] == [
        f"home/root/keys/{path.name}" for path in sorted((home / "root" / "keys").iterdir())
    ]
    assert not any(pin in archive.read_bytes() for pin in pins)

    restored = tmp_path / "restored"
    capsys.readouterr()
    assert main(["restore", "--home", str(restored), "--from", str(archive)]) == 0
    report = capsys.readouterr().out
    assert f"recorded in the registry now in {restored / 'root' / 'keys'}" in report
    assert not (restored / "root" / "pin.txt").exists()
    for name in ("pin.txt", "root/pin.txt"):  # the operator's step
        (restored / name).write_bytes((home / name).read_bytes())
    assert main(["root", "crl", "--home", str(restored)]) == 0  # signs with the root's key


def test_keys_in_a_pkcs11_token_are_named_as_not_in_the_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backup reads no key: a home whose settings name a token is enough to show what
    it says (the token's keys are in tests/integration's SoftHSM2 homes)."""
    home = tmp_path / "ca"
    _init(home)
    text = (home / "settings.toml").read_text(encoding="utf-8")
    (home / "settings.toml").write_text(set_toml_value(text, "hsm", "backend", "pkcs11"))
    archive = tmp_path / "ca.tar"
    capsys.readouterr()
    _backup(home, archive, "--with-keys")
    assert (
        "  not in the archive: the CA's keys are in the PKCS#11 token 'ca': not files, back the"
        " token up with its own tools\n" in capsys.readouterr().out
    )
    assert not [name for name in _members(archive) if name.startswith("home/keys/")]


def _pin_in_keys(home: Path, section: str, pin: str, setting: str) -> bytes:
    """The PIN file `pin` moved into its key folder and named by `setting`; the PIN."""
    moved = home / pin.replace("pin.txt", "keys/pin.txt")
    (home / pin).rename(moved)
    text = (home / "settings.toml").read_text(encoding="utf-8")
    (home / "settings.toml").write_text(set_toml_value(text, section, "pin_file", setting))
    return moved.read_text().strip().encode()


@pytest.mark.parametrize(
    "section, pin, setting",
    [("hsm", "pin.txt", "keys/../keys/pin.txt"),
     ("root", "root/pin.txt", "root/keys/../keys/pin.txt")],
)  # fmt: skip
def test_a_pin_file_named_through_dot_dot_is_not_archived(
    tmp_path: Path, section: str, pin: str, setting: str
) -> None:
    home = tmp_path / "ca"
    _init(home, "--hierarchy", "root+issuing")
    secret = _pin_in_keys(home, section, pin, setting)
    archive = tmp_path / "ca.tar"
    _backup(home, archive, "--with-keys")
    members = _members(archive)
    folder = pin.removesuffix("pin.txt")
    assert f"home/{folder}keys/pin.txt" not in members
    assert any(name.startswith(f"home/{folder}keys/") for name in members)
    assert secret not in archive.read_bytes()


def test_a_pin_file_named_through_the_real_path_of_a_linked_home_is_not_archived(
    tmp_path: Path,
) -> None:
    """The home given as a symbolic link; the PIN file by the path the link points at."""
    real = tmp_path / "real"
    _init(real)
    linked = tmp_path / "linked"
    linked.symlink_to(real)
    secret = _pin_in_keys(real, "hsm", "pin.txt", str(real / "keys" / "pin.txt"))
    archive = tmp_path / "ca.tar"
    _backup(linked, archive, "--with-keys")
    members = _members(archive)
    assert "home/keys/pin.txt" not in members and "home/keys/demo-ca-g1.pem" in members
    assert secret not in archive.read_bytes()


def test_a_key_file_removed_while_the_backup_runs_is_named_as_not_archived(
    tmp_path: Path,
) -> None:
    """A generation retired and its key destroyed between the listing and the copy."""
    home = tmp_path / "ca"
    _init(home)
    listed = home_files.after_snapshot(load_settings(home), with_keys=True)
    gone = next(file for file in listed.files if file.key)
    gone.path.unlink()
    members, vanished = copy_files(listed.files, tmp_path / "staged")
    assert vanished == [f"{gone.path} (a key file removed while the backup ran)"]
    assert f"home/{gone.name}" not in [member.name for member in members]
    assert len(members) == len(listed.files) - 1
