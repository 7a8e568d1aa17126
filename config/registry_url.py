"""Where the registry lives, as a URL (`[registry] url`).

- `sqlite:///<path>`: the embedded default, one file. As in SQLAlchemy, the path is what
  follows the third slash, so `sqlite:///registry.sqlite3` is relative and
  `sqlite:////var/lib/ca/registry.sqlite3` absolute. A relative path is relative to the CA
  home (never to the working directory), so a home can be moved or served from anywhere.
- `postgresql://user@host:port/database` (or `postgres://`, or a unix socket as
  `postgresql:///database?host=/run/postgresql`): several nodes share one registry. The
  password is never part of the URL, so never in settings.toml, an environment override or
  a command line: the driver reads it from the password file, ~/.pgpass or the file that
  PGPASSFILE names (one `host:port:database:user:password` line, mode 0600).

Resolved URLs (`resolve`) always carry an absolute sqlite path: `sqlite:////...`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SQLITE = "sqlite:///"
POSTGRESQL = ("postgresql://", "postgres://")


def url_problem(url: str) -> str | None:
    """What is wrong with a registry URL, None when nothing is. The answer never repeats
    the URL: it may hold a password."""
    if url.startswith(SQLITE):
        return None if url.removeprefix(SQLITE) else "a sqlite URL naming a file: sqlite:///<path>"
    if not url.startswith(POSTGRESQL):
        return "a URL starting with sqlite:/// or postgresql://"
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None or "password" in parse_qs(parts.query)
    except ValueError:
        return "a well-formed postgresql:// URL"
    if has_password:
        return (
            "a URL without a password (it would be readable in settings, environments and "
            "process lists): put the password in ~/.pgpass or the file PGPASSFILE names"
        )
    return None


def resolve(url: str, home: Path) -> str:
    """The URL with a relative sqlite path made absolute against the CA home `home`."""
    file = sqlite_file(url, home)
    return url if file is None else SQLITE + str(file)


def sqlite_file(url: str, home: Path) -> Path | None:
    """The registry file of a sqlite URL (relative paths against `home`), None for others."""
    if not url.startswith(SQLITE):
        return None
    path = Path(url.removeprefix(SQLITE))
    return path if path.is_absolute() else home / path
