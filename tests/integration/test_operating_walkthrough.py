"""The README's Operating walk-through, run as written with bash against a running server:
back up while it serves, restore into a new home (which then signs), look at the public
page and its search, load the alert rules and check the served metrics with promtool
(issue #18). The block is read from the README, so the test fails when the README's
commands stop working."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

from tests.integration.cli import ROOT, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess

README = ROOT / "README.md"


def walkthrough_block() -> str:
    """The shell block that follows "A first walk-through" in the README."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"A first walk-through.*?\n```\n(.*?)```", text, re.DOTALL)
    assert found, "the README has no Operating walk-through"
    return found.group(1)


def test_the_readme_operating_walkthrough_runs_as_written(tmp_path: Path) -> None:
    home = CAHome(tmp_path / "demo-ca")
    run_cli("init", "--home", home.path)
    # the repository's folders the block names, seen from a scratch working folder
    for name in (".venv", "config"):
        (tmp_path / name).symlink_to(ROOT / name)
    server = ServerProcess(home)
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough_block()],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "CA_HOME": str(home.path), "CA_URL": server.url},
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"audit verify on the target: \d+ entries intact", out), out
    assert "OCSP: the answers for" in out and "are the same" in out
    assert re.search(r"^checkpoint \d+ at ", out, re.MULTILINE), out  # the restored home signed
    assert out.count("SHA-256 thumbprint") >= 1
    assert re.search(r"^[1-9]\d*$", out, re.MULTILINE), out  # the search's count of matches
    assert "SUCCESS: 13 rules found" in out
    with tarfile.open(tmp_path / "ca-backup.tar") as archive:
        names = archive.getnames()
    assert any(name.endswith("settings.toml") for name in names)
    assert not any(name.endswith("pin.txt") for name in names)
