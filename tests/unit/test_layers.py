"""The layers of ARCHITECTURE.md, checked on the source: dependencies point downward only.

protocols/ (pure codecs) and hsm/ (keys) and config/ import nothing of the layers above
them; only server/web/ speaks HTTP (aiohttp); protocols/ does no I/O (no asyncio, no
database); the core never reaches up into its web adapters, except the CLI, which starts
the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "protocols": {"server", "hsm", "config", "aiohttp", "aiosqlite", "asyncio", "sqlite3",
                  "socket", "subprocess", "pkcs11"},
    "hsm": {"server", "protocols", "config", "aiosqlite"},
    "config": {"server", "hsm", "protocols", "aiohttp"},
    "server": {"aiohttp", "server.web"},
}  # fmt: skip
ALLOWED_UPWARD = {"server/web", "server/cli.py", "server/cli_commands.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources() -> list[Path]:
    return sorted(p for layer in FORBIDDEN for p in (ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_downward(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    if any(relative.startswith(allowed) for allowed in ALLOWED_UPWARD):
        return
    forbidden = FORBIDDEN[relative.split("/")[0]]
    wrong = {
        name
        for name in imported_modules(path)
        for banned in forbidden
        if name == banned or name.startswith(banned + ".")
    }
    assert not wrong, f"{relative} imports {sorted(wrong)}"
