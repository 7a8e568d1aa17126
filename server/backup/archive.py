"""The backup archive: one tar file (mode 0600, uncompressed), its first member
`manifest.json`, then the registry's snapshot `registry.sqlite3` and the home's files as
`home/<path in the home>`.

The manifest (JSON): {"format": 1, "created" (UTC), "ca" (the source CA's name),
"engine" (the source registry's), "with_keys", "row_counts" {table: rows},
"key_folders" {the software backends' key folders, absolute: their path in the home},
"members" [{"name", "sha256" (hex), "size", "key"}]}. Reading checks every member against it before
anything is written where it belongs: a member missing, extra, twice, of another kind than
a regular file, with a name that could leave the folder it is unpacked into, whose path
another member needs as a folder (or the reverse), or whose SHA-256 differs, refuses the
whole archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from server.errors import CAError, ErrorKind

FORMAT = 1
MANIFEST = "manifest.json"
REGISTRY = "registry.sqlite3"
HOME = "home/"
_NAME = re.compile(r"[A-Za-z0-9._@+=-]+(/[A-Za-z0-9._@+=-]+)*")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    name: str
    sha256: str
    size: int
    key: bool = False


@dataclass(frozen=True)
class Manifest:
    created: str
    ca: str
    engine: str
    with_keys: bool
    row_counts: dict[str, int]
    key_folders: dict[str, str]  # the source's key folders: absolute -> path in the home
    members: list[Member]
    format: int = FORMAT

    def to_json(self) -> bytes:
        body = {
            "format": self.format,
            "created": self.created,
            "ca": self.ca,
            "engine": self.engine,
            "with_keys": self.with_keys,
            "row_counts": self.row_counts,
            "key_folders": self.key_folders,
            "members": [vars(member) for member in self.members],
        }
        return json.dumps(body, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Raises CAError(MALFORMED) when `data` is not a manifest this version reads."""
        try:
            body = json.loads(data)
            version = body["format"]
            if type(version) is int and version > FORMAT:
                raise _refused(f"its format {version} is newer than this CA reads ({FORMAT})")
            manifest = cls(
                created=str(body["created"]),
                ca=str(body["ca"]),
                engine=str(body["engine"]),
                with_keys=bool(body["with_keys"]),
                row_counts={str(t): int(n) for t, n in body["row_counts"].items()},
                key_folders={str(a): str(h) for a, h in body["key_folders"].items()},
                members=[
                    Member(str(m["name"]), str(m["sha256"]), int(m["size"]), bool(m["key"]))
                    for m in body["members"]
                ],
                format=int(version),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _refused("its manifest is unreadable") from None
        return manifest


def hashed(name: str, path: Path, key: bool = False) -> Member:
    """The member `name` holding the file at `path`, with its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Member(name, digest.hexdigest(), size, key)


def write_archive(out: Path, manifest: Manifest, folder: Path) -> None:
    """The archive at `out`, a new file (mode 0600): the manifest, then each member read
    from `folder`/<name>. Raises FileExistsError when `out` exists; a failed write leaves
    no file behind."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as tar:
            manifest_bytes = manifest.to_json()
            tar.addfile(_info(MANIFEST, len(manifest_bytes)), io.BytesIO(manifest_bytes))
            for member in manifest.members:
                with (folder / member.name).open("rb") as data:
                    tar.addfile(_info(member.name, member.size), data)
            tar.close()
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def read_archive(archive: Path, folder: Path) -> Manifest:
    """Unpack the archive's members into the empty folder `folder`, each checked against
    the manifest; its manifest. Raises CAError(MALFORMED) naming the first problem (the
    caller discards `folder` then)."""
    try:
        with tarfile.open(archive, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise _refused(f"its first member is not {MANIFEST}")
            manifest = Manifest.from_json(_read(tar, first))
            expected = {member.name: member for member in manifest.members}
            seen: set[str] = set()
            folders: set[str] = set()  # the folders of the members seen
            while (entry := tar.next()) is not None:
                _check_name(entry, expected, seen, folders)
                seen.add(_unpack(tar, entry, expected, folder))
                parts = entry.name.split("/")
                folders.update("/".join(parts[:end]) for end in range(1, len(parts)))
    except (tarfile.TarError, EOFError) as exc:
        raise _refused(f"not a tar file ({exc})") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise _refused(f"member {missing[0]} of its manifest is missing")
    return manifest


def _check_name(
    entry: tarfile.TarInfo, expected: dict[str, Member], seen: set[str], folders: set[str]
) -> None:
    """Refuse a member that is not a regular file the manifest lists, inside the folder it
    is unpacked into, once, and whose path no other member needs as a file or a folder."""
    name = entry.name
    if name in seen:
        raise CAError(ErrorKind.MALFORMED, f"archive member {name} appears twice: "
                      "nothing was restored")  # fmt: skip
    if name not in expected:
        raise CAError(ErrorKind.MALFORMED, f"archive member {name} is not in the manifest: "
                      "nothing was restored")  # fmt: skip
    if not entry.isfile() or not _NAME.fullmatch(name) or ".." in name.split("/"):
        raise CAError(ErrorKind.MALFORMED, f"archive member {name} is not a plain file "
                      "inside the archive: nothing was restored")  # fmt: skip
    parts = name.split("/")
    if name in folders or any("/".join(parts[:end]) in seen for end in range(1, len(parts))):
        raise CAError(ErrorKind.MALFORMED, f"archive member {name}: another member needs "
                      "its path as a folder, or a folder of it as a file: nothing was "
                      "restored")  # fmt: skip


def _unpack(
    tar: tarfile.TarFile, entry: tarfile.TarInfo, expected: dict[str, Member], folder: Path
) -> str:
    name = entry.name
    target = folder / name
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = tar.extractfile(entry)
    assert source is not None  # a regular file
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            handle.write(chunk)
    if digest.hexdigest() != expected[name].sha256:
        raise CAError(
            ErrorKind.MALFORMED,
            f"archive member {name}: its SHA-256 differs from the manifest's (damaged or "
            "altered): nothing was restored",
        )
    return name


def _read(tar: tarfile.TarFile, entry: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(entry)
    assert handle is not None
    return handle.read()


def _info(name: str, size: int) -> tarfile.TarInfo:
    """A member owned by nobody in particular, mode 0600, with no time of its own (the
    manifest says when the backup was taken)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0
    return info


def _refused(reason: str) -> CAError:
    return CAError(ErrorKind.MALFORMED, f"not a backup archive of this CA: {reason}")
