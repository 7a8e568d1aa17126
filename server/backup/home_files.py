"""Which files of a CA home a backup holds, and which it never holds.

In the archive (as `home/<path in the home>`):
- the settings file, `settings.toml`;
- the audit checkpoints (`audit.checkpoints`), which anchor the registry's trail;
- the TLS server certificate (`server.tls_cert`) and the other CAs' certificates that
  confirmations trust (`confirmation.trusted_ca_files`);
- the files of confirmation cases (`confirmation.files`), which the registry's cases name;
- only when asked (`--with-keys`), the key files, encrypted as they are on disk: the
  software backend's key folder (`hsm.key_dir`, and the root's `root.key_dir`), the CMP
  protection keys (`cmp-keys`) and the TLS server key (`server.tls_key`).

Never in it: a PIN or passphrase file (`hsm.pin_file`, `root.pin_file`), wherever it lies,
even inside a folder the archive takes: it is known by its device and inode, not its path,
which a home named through a symbolic link or a setting with `..` would disguise. Keys in
a PKCS#11 token are not files: the token's own tools back them up. Not in it either, as a
running server makes them anew: the registry's own files (the registry goes in as a
snapshot), the OCSP index file, and the outbox's delivered events, which the registry
records too. A path the settings put outside the home is left out and named, so that a
restore writes only into its new home.

Order matters for consistency (server/cli/backup.py): the checkpoints are read before the
registry's snapshot, so each of them anchors an entry the snapshot holds; keys and case
files after it, as each is written before the registry row that names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from config import Settings
from server.cmp.identity import KEY_FOLDER

SETTINGS_FILE = "settings.toml"


@dataclass(frozen=True)
class HomeFile:
    name: str  # its path in the home, with /
    path: Path  # where it is read
    key: bool  # a key file (only with --with-keys)


@dataclass(frozen=True)
class Selection:
    files: list[HomeFile]
    left_out: list[str]  # what the settings name outside the home, and why it is left out


def before_snapshot(settings: Settings) -> Selection:
    """The settings, the audit checkpoints and the certificates."""
    named = [SETTINGS_FILE, settings.audit.checkpoints]
    if settings.server.tls_cert:
        named.append(settings.server.tls_cert)
    named += settings.confirmation.trusted_ca_files
    return _select(settings, ((name, False) for name in named))


def after_snapshot(settings: Settings, with_keys: bool) -> Selection:
    """The confirmation cases' files and, `with_keys`, the key files."""
    named: list[tuple[str, bool]] = [(settings.confirmation.files, False)]
    if with_keys:
        if settings.hsm.backend == "soft":
            named.append((settings.hsm.key_dir, True))
        if settings.root.name and settings.root.backend == "soft":
            named.append((settings.root.key_dir, True))
        named.append((KEY_FOLDER, True))
        if settings.server.tls_key:
            named.append((settings.server.tls_key, True))
    return _select(settings, named)


def pin_files(settings: Settings) -> set[tuple[int, int]]:
    """The files holding a PIN or passphrase, never archived, as (device, inode): the
    same file whatever path reaches it (a home named through a symbolic link, a setting
    with `..` in it, a hard link)."""
    found = set()
    for name in (settings.hsm.pin_file, settings.root.pin_file):
        if name:
            try:
                found.add(_identity(settings.resolve(name)))
            except OSError:
                continue  # no such file: nothing to keep out
    return found


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino


def key_folders(settings: Settings) -> dict[str, str]:
    """The software backends' key folders inside the home: each absolute, as the registry
    names the keys in it (`file:<folder>/<file>`), and its path in the home. A restore in
    another folder records the keys' new place (server/registry/key_locations.py)."""
    home = settings.home.resolve()
    folders = {}
    root_backend = settings.root.backend if settings.root.name else ""
    for backend, name in ((settings.hsm.backend, settings.hsm.key_dir),
                          (root_backend, settings.root.key_dir)):  # fmt: skip
        folder = settings.resolve(name).resolve()
        if backend == "soft" and folder.is_relative_to(home):
            folders[str(folder)] = folder.relative_to(home).as_posix()
    return folders


def written_paths(settings: Settings) -> dict[str, str]:
    """The settings naming files or folders a server of this home writes into, and their
    values: a restore keeps them inside its new home (server/cli/restore.py)."""
    named = {
        "audit.checkpoints": settings.audit.checkpoints,
        "confirmation.files": settings.confirmation.files,
        "ocsp.index_file": settings.ocsp.index_file,
        "server.tls_cert": settings.server.tls_cert,
        "server.tls_key": settings.server.tls_key,
    }
    if settings.outbox.sender == "jsonl-file":
        named["outbox.path"] = settings.outbox.path
    if settings.hsm.backend == "soft":
        named["hsm.key_dir"] = settings.hsm.key_dir
    if settings.root.name and settings.root.backend == "soft":
        named["root.key_dir"] = settings.root.key_dir
    return {setting: value for setting, value in named.items() if value}


def keys_in_tokens(settings: Settings) -> list[str]:
    """The keys held by a PKCS#11 token, which no archive can hold."""
    tokens = []
    if settings.hsm.backend == "pkcs11":
        tokens.append(f"the CA's keys are in the PKCS#11 token {settings.hsm.token_label!r}")
    if settings.root.name and settings.root.backend == "pkcs11":
        tokens.append(f"the root's key is in the PKCS#11 token {settings.root.token_label!r}")
    return tokens


def _select(settings: Settings, named: Iterable[tuple[str, bool]]) -> Selection:
    home = settings.home.absolute()
    secrets = pin_files(settings)
    files: dict[str, HomeFile] = {}
    left_out = []
    for name, key in named:
        path = settings.resolve(name).absolute()
        try:
            inside = PurePosixPath(path.relative_to(home).as_posix())
        except ValueError:
            left_out.append(f"{path} (outside the home)")
            continue
        if ".." in inside.parts:
            left_out.append(f"{path} (outside the home)")
            continue
        for found in _files_at(path):
            if _is_secret(found, secrets):
                continue  # a PIN file: never in an archive
            relative = (inside / found.relative_to(path).as_posix()).as_posix()
            files.setdefault(relative, HomeFile(relative, found, key))
    return Selection(list(files.values()), left_out)


def _is_secret(path: Path, secrets: set[tuple[int, int]]) -> bool:
    try:
        return _identity(path) in secrets
    except FileNotFoundError:
        return False  # gone since it was listed: the backup names it as not archived


def _files_at(path: Path) -> list[Path]:
    """The regular files at `path`: itself, or those under it (symbolic links inside it
    are not followed; `path` itself may be one, as a joined node's shared cmp-keys)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    found = []
    for root, folders, names in os.walk(path):
        folders[:] = [f for f in folders if not Path(root, f).is_symlink()]
        paths = (Path(root, name) for name in names)
        found += [p for p in paths if not p.is_symlink() and p.is_file()]
    return sorted(found)
