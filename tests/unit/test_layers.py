"""The layers of ARCHITECTURE.md, checked on the source: dependencies point downward only.

protocols/ (pure codecs) and hsm/ (keys) and config/ import nothing of the layers above
them; only server/web/ speaks HTTP (aiohttp); protocols/ does no I/O (no asyncio, no
database); the core never reaches up into its web adapters, except the CLI, which starts
the server.

Only server/registry/ talks SQL: it alone imports a database driver, and the rest of the
code sees the registry through its neutral modules, the uses in interfaces.py and the rows
and enums in records.py, never a store or an engine. The concrete Registry is named only
where it is opened, the composition root (server/context.py). The clock is server/clock.py:
a service that only tells the time does not import issuance for it.

server/ is grouped by capability: its root holds only what every capability uses (the
errors, the clock, serial numbers, signing, a request's checks, issuance, CA generations
and the rollover of a CA under a parent outside, accounts, reporting, audit checkpoints)
and the composition root; the rest lives in a package named after what it does. A name
is taken from the module that defines it, not from issuance that happens to import it
too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import server.registry

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "protocols": {"server", "hsm", "config", "aiohttp", "asyncio", "sqlite3",
                  "socket", "subprocess", "pkcs11"},
    "hsm": {"server", "protocols", "config", "sqlite3"},
    "config": {"server", "hsm", "protocols", "aiohttp"},
    "server": {"aiohttp", "server.web"},
}  # fmt: skip
ALLOWED_UPWARD = {"server/web", "server/cli/serve.py"}
# The one crossing of a forbidden line: protocols/ may use hsm.gost_engine, the ctypes
# binding to OpenSSL's GOST engine, as it uses `cryptography` for the other algorithms: to
# verify a GOST R 34.10-2012 proof of possession and to hash with Streebog (issue #16). It
# is a cryptographic primitive, no key store: it holds no keys of the CA and does no I/O
# beyond loading the library. Nothing else of hsm/ (backends, pipeline, keys) is allowed.
ALLOWED_CROSSING = {"protocols": {"hsm.gost_engine"}}

DRIVERS = {"sqlite3", "asyncpg", "psycopg", "psycopg2"}
REGISTRY = "server/registry/"
# the neutral modules, and registry_copy, registry_snapshot and key_locations: whole-registry
# operations (`registry copy`, the emptiness check of `init`, `backup`, `restore`), written
# once for both engines
NEUTRAL_REGISTRY_MODULES = {
    "server.registry.interfaces",
    "server.registry.records",
    "server.registry.registry_copy",
    "server.registry.registry_snapshot",
    "server.registry.key_locations",
}
# what `from server.registry import ...` may take: the neutral modules, and the rows and
# enums the package re-exports (all of its names but the concrete Registry)
NEUTRAL_REGISTRY_NAMES = {"interfaces", "records"} | set(server.registry.__all__) - {"Registry"}
# where a registry is opened: the services' composition root, the one opening of a registry
# from settings, the commands that only read it, and those that open a registry by URL to
# copy it or check it is empty
COMPOSITION_ROOT = {
    "server/context.py": {"Registry"},
    "server/registry_access.py": {"Registry"},
    "server/cli/reading.py": {"Registry"},
    "server/cli/registry.py": {"Registry"},
    "server/backup/proof.py": {"Registry"},
    "server/cli/restore.py": {"Registry"},
}

# the root of server/: `python -m server`, the composition root and what every capability uses
SHARED_ROOT_MODULES = {
    "__init__.py",
    "__main__.py",
    "context.py",
    "registry_access.py",
    "errors.py",
    "clock.py",
    "serials.py",
    "signing.py",
    "request_checks.py",
    "authority.py",
    "accounts.py",
    "outbox.py",
    "audit_checkpoints.py",
}
CAPABILITIES = {
    "backup", "cli", "cmp", "confirmation", "enrollment", "generations", "hierarchy", "node",
    "paper", "ra", "registry", "status", "web",
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def imported_names(path: Path) -> set[str]:
    """What a module takes, each by its full dotted name: `import a.b` gives "a.b", `from a
    import b` gives "a.b" (a module or a name in it), so a rule can allow one module of a
    package that is otherwise forbidden."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, modules: set[str]) -> bool:
    return any(name == module or name.startswith(module + ".") for module in modules)


def registry_imports(path: Path) -> set[str]:
    """`server.registry...` modules, and names taken from the package itself, that a
    module imports (absolute imports; `server.registry` alone for a bare package import)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("server.registry"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "server.registry":
                found.update(f"server.registry:{alias.name}" for alias in node.names)
            elif node.module.startswith("server.registry."):
                found.add(node.module)
    return found


def names_taken_from(path: Path, module: str) -> set[str]:
    return {
        alias.name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == module
        for alias in node.names
    }


def sources() -> list[Path]:
    return sorted(p for layer in FORBIDDEN for p in (ROOT / layer).rglob("*.py"))


def outside_the_registry() -> list[Path]:
    return [p for p in sources() if not p.relative_to(ROOT).as_posix().startswith(REGISTRY)]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_downward(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    if any(relative.startswith(allowed) for allowed in ALLOWED_UPWARD):
        return
    layer = relative.split("/")[0]
    allowed = ALLOWED_CROSSING.get(layer, set())
    wrong = {
        name
        for name in imported_names(path)
        if _within(name, FORBIDDEN[layer]) and not _within(name, allowed)
    }
    assert not wrong, f"{relative} imports {sorted(wrong)}"


def test_protocols_take_only_the_gost_binding_from_hsm() -> None:
    """The crossing allows hsm.gost_engine and not its neighbours."""
    allowed = ALLOWED_CROSSING["protocols"]
    assert _within("hsm.gost_engine.verify", allowed)
    assert not _within("hsm.gost_engineering", allowed)
    assert not _within("hsm.pipeline", allowed) and not _within("hsm", allowed)


@pytest.mark.parametrize("path", outside_the_registry(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_registry_imports_a_database_driver(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    wrong = {
        name
        for name in imported_modules(path)
        for driver in DRIVERS
        if name == driver or name.startswith(driver + ".")
    }
    assert not wrong, f"{relative} imports the database driver {sorted(wrong)}"


@pytest.mark.parametrize("path", outside_the_registry(), ids=lambda p: str(p.relative_to(ROOT)))
def test_callers_see_the_registry_only_through_its_neutral_modules(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    allowed_names = NEUTRAL_REGISTRY_NAMES | COMPOSITION_ROOT.get(relative, set())
    wrong = {
        name
        for name in registry_imports(path)
        if name not in NEUTRAL_REGISTRY_MODULES
        and name != "server.registry"
        and name.removeprefix("server.registry:") not in allowed_names
    }
    assert not wrong, f"{relative} reaches into the registry: {sorted(wrong)}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_clock_comes_from_server_clock(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    wrong = names_taken_from(path, "server.authority") & {"Clock", "utc_now"}
    assert not wrong, f"{relative} takes {sorted(wrong)} from server.authority, not server.clock"


def defined_names(path: Path) -> set[str]:
    """The functions, classes and assigned names at the top of a module."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Assign):
            found.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return found


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_issuance_gives_only_its_own_names(path: Path) -> None:
    """Serials, signing and a request's checks have modules of their own: taking them from
    server.authority would tie their users to issuance again."""
    relative = path.relative_to(ROOT).as_posix()
    own = defined_names(ROOT / "server" / "authority.py")
    wrong = names_taken_from(path, "server.authority") - own
    assert not wrong, f"{relative} takes {sorted(wrong)} from server.authority, not their module"


def test_the_root_of_server_holds_only_the_shared_modules() -> None:
    at_root = {path.name for path in (ROOT / "server").glob("*.py")}
    strays = at_root - SHARED_ROOT_MODULES
    assert not strays, f"{sorted(strays)} belong in the package of their capability"


def test_every_capability_of_server_is_an_installed_package() -> None:
    folders = {
        path.name
        for path in (ROOT / "server").iterdir()
        if path.is_dir() and path.name != "__pycache__"
    }
    assert folders == CAPABILITIES
    # a folder without __init__.py is left out of a non-editable install
    assert all((ROOT / "server" / name / "__init__.py").is_file() for name in CAPABILITIES)


def test_the_layer_rules_name_modules_that_exist() -> None:
    """A module moved without its rule would leave the rule naming nothing."""
    named = (ALLOWED_UPWARD | set(COMPOSITION_ROOT)) - {"server/web"}
    missing = {path for path in named if not (ROOT / path).is_file()}
    assert not missing, f"the layer rules name {sorted(missing)}, which do not exist"
