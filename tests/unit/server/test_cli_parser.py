"""The command line's parser (server/cli/parser.py): every command names a handler that
exists, the choices it spells out are the CA's own, and parsing and the read-only commands
do not import what they do not need (the CMP codecs, the web server, the PDF writer), which
is what makes them start at once (issue #18; `loadtests/bench_cli_start.py` measures it)."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from server.accounts import Role
from server.cli import parser as cli_parser
from server.cli.main import main
from server.ra.subscribers import DocumentType, SubscriberKind
from tests.csr_factory import make_csr

HEAVY = ("protocols.cmp", "aiohttp", "fpdf", "server.web", "server.cmp.server")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli_parser.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _loaded_after(code: str, prefixes: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules named by `prefixes` that a fresh interpreter has imported after `code`."""
    probe = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)  # fmt: skip
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_every_command_names_a_coroutine_handler_that_exists() -> None:
    commands = _subcommands()
    assert {"init", "serve", "paper", "register", "confirm", "rollover", "root", "accounts",
            "registry"} <= set(commands)  # fmt: skip
    for name, sub in commands.items():
        handler = sub.get_default("handler")
        module, function = handler.args
        found = getattr(importlib.import_module(module), function, None)
        assert inspect.iscoroutinefunction(found), f"{name}: {module}:{function}"


def test_the_choices_spelled_in_the_parser_are_the_values_the_ca_knows() -> None:
    assert tuple(kind.value for kind in SubscriberKind) == cli_parser.SUBSCRIBER_KINDS
    assert tuple(kind.value for kind in DocumentType) == cli_parser.DOCUMENT_TYPES
    assert tuple(role.value for role in Role) == cli_parser.ROLES


def test_parsing_every_command_imports_neither_the_registry_nor_the_codecs() -> None:
    code = "from server.cli.parser import build_parser\nbuild_parser()"
    assert _loaded_after(code, (*HEAVY, "server.context", "server.registry")) == []


READ_ONLY = [["ca-cert"], ["list"], ["show", "--serial", "{serial}"], ["profiles"],
             ["applications"], ["audit", "verify"], ["accounts"], ["overdue"],
             ["credentials"]]  # fmt: skip


# the commands that read only the settings and the registry (server/cli/reading.py): not
# even the composition root
READING = [["ca-cert"], ["list"], ["show", "--serial", "{serial}"], ["profiles"],
           ["applications"]]  # fmt: skip
WITHOUT_SERVICES = (*HEAVY, "server.context", "server.authority")
CASES = [(command, WITHOUT_SERVICES) for command in READING] + [
    (command, HEAVY) for command in READ_ONLY if command not in READING
]


@pytest.mark.parametrize(("command", "not_loaded"), CASES, ids=[c[0][0] for c in CASES])
def test_a_read_only_command_runs_without_what_it_does_not_need(
    ca_home: tuple[Path, str], command: list[str], not_loaded: tuple[str, ...]
) -> None:
    home, serial = ca_home
    args = [command[0], "--home", str(home), *(part.format(serial=serial) for part in command[1:])]
    code = f"from server.cli.main import main\nassert main({args!r}) == 0"
    assert _loaded_after(code, not_loaded) == []


@pytest.fixture(scope="module")
def ca_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A home made by `init`, with one certificate issued: (home, its serial)."""
    home = tmp_path_factory.mktemp("cli") / "ca"
    assert main(["init", "--home", str(home)]) == 0
    csr = home.parent / "request.der"
    csr.write_bytes(make_csr([("CN", "cli-start")]))
    assert main(["issue", "--home", str(home), "--profile", "tls-client", "--csr", str(csr)]) == 0
    listed = subprocess.run([sys.executable, "-m", "server", "list", "--home", str(home)],
                            capture_output=True, text=True, check=True)  # fmt: skip
    return home, listed.stdout.split()[0]


def test_a_home_named_relative_to_the_working_folder_is_made_and_read(tmp_path: Path) -> None:
    """`init --home ca` in a folder, then `list --home ca`: the home is made absolute
    before the settings resolve the registry's file in it (a SQLite URL must be)."""
    for command in (["init"], ["list"]):
        done = subprocess.run([sys.executable, "-m", "server", *command, "--home", "ca"],
                              cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
        assert (done.returncode, done.stderr) == (0, ""), command
    assert (tmp_path / "ca" / "registry.sqlite3").exists()
