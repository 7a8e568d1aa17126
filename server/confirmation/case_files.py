"""The files of confirmation cases, kept in the CA home: `<confirmation.files>/<case id>/<role>`
(document, signature or certificate), folders 0700 and files 0600 like the rest of the home
(server/node/home_permissions.py). A file is named by its role, never by the name the
submitter gave, so nothing a client sends becomes a path. The registry holds each file's
name, size and SHA-256; removing the files of old cases (`confirmation.files_kept_days`)
is left to issue #18.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from server.errors import CAError, ErrorKind
from server.node.home_permissions import PRIVATE_FILE, PRIVATE_FOLDER


class CaseFiles:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def keep(self, case_id: str, files: Iterable[tuple[str, bytes]]) -> None:
        """Write each (role, content) of a new case. Raises CAError(UNAVAILABLE) when they
        cannot be written; nothing is left behind then."""
        await asyncio.to_thread(self._write, case_id, list(files))

    async def discard(self, case_id: str) -> None:
        """Remove a case's files (its registration failed)."""
        await asyncio.to_thread(shutil.rmtree, self.folder / case_id, True)

    def _write(self, case_id: str, files: list[tuple[str, bytes]]) -> None:
        folder = self.folder / case_id
        try:
            self.folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
            folder.mkdir(mode=PRIVATE_FOLDER)  # a new case's: never one that exists
        except OSError as exc:
            raise CAError(
                ErrorKind.UNAVAILABLE, f"the case's files cannot be kept: {exc.strerror}"
            ) from None
        try:
            for role, content in files:
                descriptor = os.open(
                    folder / role, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE
                )
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise CAError(
                ErrorKind.UNAVAILABLE, f"the case's files cannot be kept: {exc.strerror}"
            ) from None
