"""A backup archive whose members could write outside the folder they are unpacked into,
or clash with each other, is refused as MALFORMED before a member lands anywhere it
should not (server/backup/archive.py): the manifest lists each of these members, so the
refusal is the member's own kind or name, not its absence from the manifest."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from server.backup.archive import MANIFEST, Manifest, Member, read_archive
from server.errors import CAError, ErrorKind

CONTENT = b"[registry]\n"


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(CONTENT)
    return info


def _link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _archive(path: Path, entries: list[tarfile.TarInfo]) -> Path:
    """A tar of `entries` (each regular file holding CONTENT) after a manifest listing
    each of their names as a member holding CONTENT."""
    digest = hashlib.sha256(CONTENT).hexdigest()
    names = dict.fromkeys(entry.name for entry in entries)
    manifest = Manifest(
        created="2026-12-06T00:00:00Z", ca="demo", engine="sqlite", with_keys=False,
        row_counts={}, key_folders={},
        members=[Member(name, digest, len(CONTENT)) for name in names],
    )  # fmt: skip
    data = manifest.to_json()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for entry in entries:
            tar.addfile(entry, io.BytesIO(CONTENT) if entry.isfile() else None)
    return path


def _refusal(tmp_path: Path, entries: list[tarfile.TarInfo]) -> str:
    folder = tmp_path / "unpacked"
    folder.mkdir()
    with pytest.raises(CAError) as refused:
        read_archive(_archive(tmp_path / "bad.tar", entries), folder)
    assert refused.value.kind is ErrorKind.MALFORMED
    return str(refused.value)


@pytest.mark.parametrize(
    "entry",
    [_file("/etc/cron.d/ca"), _file("home/../../outside"),
     _link("home/keys/link", tarfile.SYMTYPE, "/etc/passwd"),
     _link("home/keys/hard", tarfile.LNKTYPE, "/etc/passwd")],
    ids=["absolute", "dot-dot", "symbolic-link", "hard-link"],
)  # fmt: skip
def test_a_member_that_is_not_a_plain_file_inside_the_archive_is_refused(
    tmp_path: Path, entry: tarfile.TarInfo
) -> None:
    assert _refusal(tmp_path, [_file("home/settings.toml"), entry]) == (
        f"archive member {entry.name} is not a plain file inside the archive: nothing was restored"
    )
    assert not (tmp_path / "outside").exists()
    assert [p.name for p in (tmp_path / "unpacked").rglob("*")] == ["home", "settings.toml"]


def test_a_member_that_appears_twice_is_refused(tmp_path: Path) -> None:
    entries = [_file("home/settings.toml"), _file("home/settings.toml")]
    assert _refusal(tmp_path, entries) == (
        "archive member home/settings.toml appears twice: nothing was restored"
    )


@pytest.mark.parametrize(
    "first, second",
    [("home/confirmations", "home/confirmations/case/file"),
     ("home/confirmations/case", "home/confirmations")],
    ids=["a-file-then-a-member-in-it", "a-member-then-its-folder-as-a-file"],
)  # fmt: skip
def test_a_member_whose_path_another_needs_as_a_folder_is_refused(
    tmp_path: Path, first: str, second: str
) -> None:
    assert _refusal(tmp_path, [_file(first), _file(second)]) == (
        f"archive member {second}: another member needs its path as a folder, or a folder "
        "of it as a file: nothing was restored"
    )
