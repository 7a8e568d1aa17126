"""`backup`: a CA home saved into one archive while its server runs; `restore`
(server/cli/restore.py) puts it into a new home and proves it.

The archive (server/backup/archive.py) holds a snapshot of the registry taken in one
moment (server/registry/registry_snapshot.py: SQLite's online backup API, or a copy of a
PostgreSQL registry from one snapshot into a SQLite file), the home's files a server needs
(server/backup/home_files.py), a manifest with the row counts and each member's SHA-256,
and, only with --with-keys, the key files, encrypted as they are on disk. Never a PIN.

The home's files are read around the snapshot in an order that keeps them consistent with
it: the audit checkpoints before (each then anchors an entry the snapshot holds), the keys
and case files after (each is written before the registry row naming it).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from config import Settings, load_settings
from server.backup import archive, home_files
from server.backup.home_files import HomeFile
from server.clock import utc_now
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.registry.records import to_text
from server.registry.registry_snapshot import save_into_sqlite, save_sqlite_file


async def run_backup(args: argparse.Namespace) -> int:
    settings = load_settings(args.home.absolute())
    out: Path = args.out
    if out.exists():
        raise CAError(ErrorKind.REJECTED, f"{out} exists: name a new file for the archive")
    # Staged beside the archive (0700): on its file system, sized for it, not in /tmp.
    with tempfile.TemporaryDirectory(prefix=".ca-backup-", dir=out.absolute().parent) as scratch:
        folder = Path(scratch)
        manifest, left_out = await _stage(settings, folder, args.with_keys)
        archive.write_archive(out, manifest, folder)
    for line in _report(settings, out, manifest, left_out):
        print(line)
    return 0


async def _stage(
    settings: Settings, folder: Path, with_keys: bool
) -> tuple[archive.Manifest, list[str]]:
    """Every member copied into `folder` in the order that keeps them consistent; the
    manifest, and the lines naming what is not in the archive."""
    before = home_files.before_snapshot(settings)
    members, vanished = copy_files(before.files, folder)
    snapshot = folder / archive.REGISTRY
    created = to_text(utc_now())
    engine, counts = await _save_registry(settings, snapshot)
    after = home_files.after_snapshot(settings, with_keys)
    more, gone = copy_files(after.files, folder)
    members = [archive.hashed(archive.REGISTRY, snapshot), *members, *more]
    manifest = archive.Manifest(
        created=created,
        ca=settings.ca.name,
        engine=engine,
        with_keys=with_keys,
        row_counts=counts,
        key_folders=home_files.key_folders(settings),
        members=members,
    )
    return manifest, before.left_out + after.left_out + vanished + gone


async def _save_registry(settings: Settings, snapshot: Path) -> tuple[str, dict[str, int]]:
    """The registry as of one moment in the new SQLite file `snapshot`: its engine, and
    the rows saved per table."""
    if settings.registry_file is not None:
        return "sqlite", await save_sqlite_file(settings.registry_file, snapshot)
    source = await open_registry(settings)
    try:
        return "postgresql", await save_into_sqlite(source, snapshot)
    finally:
        await source.close()


def copy_files(files: list[HomeFile], folder: Path) -> tuple[list[archive.Member], list[str]]:
    """Each file copied as member home/<name> into `folder`: the members, and a line for
    each file that vanished between listing and copying (a case's files removed when
    their time ran out, a retired generation's key destroyed), which is not archived."""
    members, vanished = [], []
    for file in files:
        name = archive.HOME + file.name
        target = folder / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            shutil.copyfile(file.path, target)
        except FileNotFoundError:
            kind = "key file" if file.key else "file"
            vanished.append(f"{file.path} (a {kind} removed while the backup ran)")
            continue
        members.append(archive.hashed(name, target, file.key))
    return members, vanished


def _report(
    settings: Settings, out: Path, manifest: archive.Manifest, left_out: list[str]
) -> list[str]:
    keys = [m for m in manifest.members if m.key]
    total = sum(manifest.row_counts.values())
    lines = [
        f"backup of CA {settings.ca.name!r} written to {out} (mode 0600)",
        f"  registry ({manifest.engine}): {total} rows in {len(manifest.row_counts)} tables,"
        f" as of {manifest.created}",
        f"  home files: {len(manifest.members) - 1 - len(keys)}",
    ]
    if manifest.with_keys:
        lines.append(f"  key files (encrypted as on disk): {len(keys)}")
    else:
        lines.append("  key files: not in the archive (--with-keys adds them, still encrypted)")
    lines += [f"  not in the archive: {token}: not files, back the token up with its own "
              "tools" for token in home_files.keys_in_tokens(settings)]  # fmt: skip
    lines += [f"  not in the archive: {path}" for path in left_out]
    lines.append("  no PIN or passphrase is in the archive: keep it apart, a restored home "
                 "needs it to sign")  # fmt: skip
    return lines
