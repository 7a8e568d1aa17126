"""The registry's one migration history (server/registry/migrations/*.sql), for every engine.

The scripts are written for SQLite and read as they are there. For PostgreSQL a small
dialect seam rewrites them (`postgresql_dialect`); a part that only one engine can express
(a trigger) stands between `-- only sqlite` / `-- only postgresql` and `-- end only` lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources

_ONLY = re.compile(r"^-- only (\w+)\n(.*?)^-- end only\n", re.MULTILINE | re.DOTALL)


def pending_migrations(dialect: str, applied: set[str]) -> Iterator[tuple[str, str]]:
    """(name, script for `dialect`) of every migration not in `applied`, in order."""
    folder = resources.files("server.registry") / "migrations"
    for script in sorted(folder.iterdir(), key=lambda p: p.name):
        if not script.name.endswith(".sql") or script.name in applied:
            continue
        yield script.name, for_dialect(script.read_text(encoding="utf-8"), dialect)


def for_dialect(script: str, dialect: str) -> str:
    """The script with the other engines' `-- only` parts left out."""
    kept = _ONLY.sub(lambda m: m.group(2) if m.group(1) == dialect else "", script)
    return kept
