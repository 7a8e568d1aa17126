"""The CA home is private to the CA's own user: the registry holds personal data (SNILS,
INN, names, document numbers; C1), the home holds keys, the PIN file and the audit
checkpoints. The home and its folders are 0700, every file in it 0600.

`init` makes them so whatever existed before (a home made by hand with mode 0755 included);
a SQLite registry makes its file 0600 when it creates it, and SQLite gives the -wal and -shm
files the mode of the database file; `serve` refuses a home or registry that group or
others can read or write, naming the path and the fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from config import Settings
from server.errors import CAError, ErrorKind

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
_SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO


def make_private(home: Path) -> None:
    """The home and every folder under it 0700, every file 0600 (symbolic links are left
    alone: their mode means nothing and their target may not be ours)."""
    os.chmod(home, PRIVATE_FOLDER)
    for root, folders, files in os.walk(home):
        for name in folders:
            path = Path(root, name)
            if not path.is_symlink():
                os.chmod(path, PRIVATE_FOLDER)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                os.chmod(path, PRIVATE_FILE)


def refuse_shared_home(settings: Settings) -> None:
    """Raises CAError(REJECTED), one line naming the path and the fix, when the home or,
    on SQLite, the registry (with its -wal and -shm files) can be read or written by group
    or others. A PostgreSQL registry's access is the database server's to control."""
    registry = settings.registry_file
    files = (
        ()
        if registry is None
        else (registry, *(registry.with_name(registry.name + end) for end in ("-wal", "-shm")))
    )
    for path, fix in ((settings.home, "chmod 700"), *((file, "chmod 600") for file in files)):
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue  # the registry opens (and says) what is wrong with a missing file
        if mode & _SHARED_BITS:
            raise CAError(
                ErrorKind.REJECTED,
                f"{path} is open to group or others (mode {stat.S_IMODE(mode):o}): "
                f"run `{fix} {path}` (it holds personal data and the CA's secrets)",
            )
