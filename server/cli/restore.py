"""`restore --from FILE --home NEWDIR`: a backup (server/cli/backup.py) put into a new,
empty home, then proven before anyone serves it.

The home is built in a staging folder beside it (`.<name>.restoring-*`, 0700, on the same
file system) and renamed into place only once proven, so that a restore that fails or is
killed never leaves a folder that looks like a home (a killed one leaves its staging
folder, which holds no settings a server would find: delete it).

Every member is checked against the archive's manifest before a file lands in the staged
home (server/backup/archive.py). The home's files are written private (0600, folders 0700:
server/node/home_permissions.py), `registry.url` of the restored settings is pointed at
the new registry (registry.sqlite3 in the new home, or --registry-url), and a setting that
names a file outside the new home for a server to write is refused. The archive's registry
snapshot is first compared with the counts its manifest recorded, as the backup left it,
then migrated to this version and copied into the new registry with `copy_registry`, the
copier `registry copy` uses, whatever the engine. Then the proof `registry copy` runs
(server/backup/proof.py): the row counts of the snapshot and the copy; `audit verify` with
the restored checkpoints; the stored OCSP answers of a sample. Last, the registry's key
URIs of software keys (absolute paths) are pointed at the new home's key folders
(server/registry/key_locations.py), or the restored CA could not sign. Any failure removes
the staging folder and exits 1 (rows already copied into a PostgreSQL database stay: its
audit table refuses deletes, so drop that database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from config import Settings, SettingsError, load_settings
from config.registry_url import url_problem
from server.backup import archive, home_files
from server.backup.proof import match_recorded, prove_copy
from server.cli.settings_file import set_toml_value
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.node.home_permissions import PRIVATE_FOLDER, make_private
from server.registry import Registry
from server.registry.key_locations import move_key_folders
from server.registry.registry_copy import copy_registry

DEFAULT_REGISTRY = "sqlite:///registry.sqlite3"


async def run_restore(args: argparse.Namespace) -> int:
    home = Path(os.path.normpath(args.home.absolute()))
    url = args.registry_url or DEFAULT_REGISTRY
    problem = url_problem(url)
    if problem is not None:
        raise SettingsError(f"--registry-url: must be {problem}")
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise CAError(ErrorKind.REJECTED, f"{home} is not empty: restore into a new, empty folder")
    home.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restoring-", dir=home.parent))
    try:
        manifest, proof = await _restore(staging, home, args.archive, url)
        _put_in_place(staging, home)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for line in _report(load_settings(home), args.archive, manifest, url, proof):
        print(line)
    return 0


def _put_in_place(staging: Path, home: Path) -> None:
    """The staged home renamed to `home`, in one step. When `home` exists (empty, as
    checked), rename(2) replaces an empty folder atomically: there is never a moment when
    `home` holds part of a restore, and a folder that gained a file meanwhile makes the
    rename fail (ENOTEMPTY) rather than mix the two. Moving the staged files in one by
    one would leave a half-filled home behind a crash."""
    try:
        os.rename(staging, home)
    except OSError as exc:
        raise CAError(ErrorKind.REJECTED, f"{home}: the restored home cannot be put there "
                      f"({exc.strerror}): restore into a new, empty folder") from None  # fmt: skip


async def _restore(
    staging: Path, home: Path, archive_file: Path, url: str
) -> tuple[archive.Manifest, list[str]]:
    """The restored home built in `staging` (0700, beside `home`) and proven: the
    manifest and the proof's lines."""
    unpacked = staging / ".archive"
    unpacked.mkdir(mode=PRIVATE_FOLDER)
    try:
        manifest = await asyncio.to_thread(archive.read_archive, archive_file, unpacked)
        _place(unpacked / archive.HOME, staging)
        settings = _point_at(staging, url)
        _refuse_paths_outside(settings, home)
        make_private(staging)
        snapshot = f"sqlite:///{(unpacked / archive.REGISTRY).absolute()}"
        # The counts are those the backup took, before this version's migrations (which
        # may add or move rows): compared first, then the snapshot is migrated and copied.
        source = await open_registry(settings, snapshot, migrate=False)
        try:
            await match_recorded(source, manifest.row_counts)
        finally:
            await source.close()
        source = await open_registry(settings, snapshot)
        try:
            target = await open_registry(settings)
            try:
                copied = await copy_registry(source, target)
                proof = await prove_copy(settings, source, target, copied)
                proof += await _move_key_folders(target, home, manifest.key_folders)
            finally:
                await target.close()
        finally:
            await source.close()
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    make_private(staging)
    return manifest, proof


def _refuse_paths_outside(settings: Settings, home: Path) -> None:
    """Raises CAError(REJECTED) naming the first setting whose file lies outside `home`:
    a server of the restored home would write there, into another home's file (a restore
    drill on the CA's own host would append to the live CA's audit checkpoints). Such a
    path is refused rather than rewritten: the archive holds no file from outside the
    source's home, and which absolute paths lay inside it the manifest does not say."""
    for setting, value in home_files.written_paths(settings).items():
        path = Path(os.path.normpath(home / value))
        if not path.is_relative_to(home):
            raise CAError(
                ErrorKind.REJECTED,
                f"the archive's settings.toml names {path} for {setting}, outside {home}: "
                "a restored server would write there; nothing was restored (make it a "
                "path inside the home in the source's settings, then back up again)",
            )


async def _move_key_folders(target: Registry, home: Path, folders: dict[str, str]) -> list[str]:
    """The registry names software keys by absolute path: those of the source's key
    folders now lie in this home's."""
    moves = {old: str((home / name).resolve()) for old, name in folders.items()}
    moves = {old: new for old, new in moves.items() if old != new}
    if not moves:
        return []
    moved = await move_key_folders(target, moves)
    return [f"key locations: {moved} recorded in the registry now in {new}"
            for new in sorted(set(moves.values()))]  # fmt: skip


def _place(folder: Path, home: Path) -> None:
    """The home's files, checked and unpacked into `folder`, moved to their places."""
    for root, _, names in os.walk(folder):
        for name in names:
            source = Path(root, name)
            target = home / source.relative_to(folder)
            target.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
            os.replace(source, target)


def _point_at(home: Path, url: str) -> Settings:
    """The restored settings with `registry.url` naming the new registry."""
    path = home / home_files.SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CAError(ErrorKind.MALFORMED, "the archive holds no settings.toml") from None
    try:
        text = set_toml_value(text, "registry", "url", url)
    except (ValueError, AssertionError):
        raise CAError(ErrorKind.MALFORMED, "the archive's settings.toml has no registry.url "
                      "line to point at the restored registry") from None  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return load_settings(home)


def _report(
    settings: Settings, archive_file: Path, manifest: archive.Manifest, url: str,
    proof: list[str],
) -> list[str]:  # fmt: skip
    keys = sum(1 for member in manifest.members if member.key)
    lines = [
        f"CA {manifest.ca!r} restored into {settings.home} from {archive_file}",
        f"  backup taken {manifest.created}, its registry on {manifest.engine}; now at {url}",
        f"  member hashes: {len(manifest.members)} members match the manifest",
        *(f"  {line}" for line in proof),
    ]
    if keys:
        lines.append(f"  key files: {keys} restored, encrypted as they were")
    else:
        lines.append("  key files: none in the archive: put the key files back before `serve`")
    lines += [f"  {token}: not restored, the token holds them"
              for token in home_files.keys_in_tokens(settings)]  # fmt: skip
    hsm = settings.hsm
    where = " or ".join(
        text for text in (hsm.pin_file and str(settings.resolve(hsm.pin_file)),
                          hsm.pin_env and f"the environment variable {hsm.pin_env}") if text
    )  # fmt: skip
    lines.append(f"  the PIN is not in a backup: give it in {where} before `serve`")
    return lines
