"""Where the registry says the software backend's key files are.

The software backend names a key by its file, `file:<absolute path>` (hsm/software.py),
and the registry keeps that URI in every column named `key_uri` (CA generations, OCSP
responders, the root, requests to a parent, confirmation signers). A home restored into
another folder has its key folder elsewhere: `move_key_folders` records the new place of
each key file the old folder held, and touches no other URI (a PKCS#11 URI names a token
object, which does not move with a home).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from server.registry.catalogue import read_tables
from server.registry.registry import Registry

_FILE = "file:"


async def move_key_folders(registry: Registry, moves: Mapping[str, str]) -> int:
    """Each `file:` key URI whose folder is a key of `moves` (absolute folder -> absolute
    folder) rewritten into the new folder, in one transaction; how many were."""
    moved = 0
    async with registry.transaction() as db:
        for table in (await read_tables(db, registry.engine.dialect)).values():
            if "key_uri" not in table.columns or not table.key:
                continue
            key = ", ".join(table.key)
            async with db.execute(f"SELECT key_uri, {key} FROM {table.name}") as cursor:
                rows = await cursor.fetchall()
            where = " AND ".join(f"{column} = ?" for column in table.key)
            changed = [
                (new, *row[1:]) for row in rows if (new := _moved(row[0], moves)) is not None
            ]
            if changed:
                await db.executemany(f"UPDATE {table.name} SET key_uri = ? WHERE {where}", changed)
                moved += len(changed)
    return moved


def _moved(uri: str, moves: Mapping[str, str]) -> str | None:
    if not uri.startswith(_FILE):
        return None
    path = PurePosixPath(uri.removeprefix(_FILE))
    folder = moves.get(str(path.parent))
    return None if folder is None else f"{_FILE}{PurePosixPath(folder) / path.name}"
