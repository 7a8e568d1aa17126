"""`registry copy`'s refusals before it opens anything: a URL with a password (which a
command line shows to every user of the machine) and a copy onto itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.main import main
from tests.local_ca import settings_for


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_a_url_with_a_password_is_refused_without_repeating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    settings_for(tmp_path)
    urls = {"--from": "sqlite:///registry.sqlite3", "--to": "sqlite:///copy.sqlite3"}
    urls[option] = "postgresql://ca:Tr0ub4dor@db.example/ca"
    code = main(["registry", "copy", "--home", str(tmp_path), "--from", urls["--from"],
                 "--to", urls["--to"]])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 1 and error.startswith(f"error: {option}: must be a URL without a password")
    assert "Tr0ub4dor" not in error
    assert not (tmp_path / "registry.sqlite3").exists()  # nothing was opened


def test_a_copy_onto_itself_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings_for(tmp_path)
    absolute = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    code = main(["registry", "copy", "--home", str(tmp_path), "--from", "sqlite:///registry.sqlite3",
                 "--to", absolute])  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err == "error: --from and --to name the same registry\n"
