"""`init` lands whole or not at all: a failure midway leaves the registry it was given as it
was (on PostgreSQL the audit table refuses DELETE and TRUNCATE, so rows recorded before the
failure could never be taken back) and the home as it was, and the same `init` then
succeeds. `init`'s usage errors for `--join` options."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from server.cli import init as cli_init
from server.cli.main import main
from server.registry import Registry
from server.registry.registry_copy import row_counts


async def _rows(url: str) -> dict[str, int]:
    registry = await Registry.open_url(url, pool_size=1)
    try:
        return {table: count for table, count in (await row_counts(registry)).items() if count}
    finally:
        await registry.close()


def test_a_failed_init_leaves_the_registry_as_it_was_and_can_be_run_again(
    empty_registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reached: list[bool] = []

    async def failing(*args: Any) -> None:
        # Midway: the CA generation, OCSP responder and CMP protection certificates, with
        # their audit entries, are recorded by now.
        reached.append(True)
        raise OSError("disk full (injected)")

    monkeypatch.setattr(cli_init, "issue_server_certificate", failing)
    home = tmp_path / "ca"
    command = ["init", "--home", str(home), "--registry-url", empty_registry]
    assert main(command) == 1
    assert capsys.readouterr().err == "error: unexpected OSError: disk full (injected)\n"
    assert reached
    assert asyncio.run(_rows(empty_registry)) == {}
    assert not home.exists()

    monkeypatch.undo()
    assert main(command) == 0
    assert asyncio.run(_rows(empty_registry)) == {
        "audit_log": 4,
        "ca_generations": 1,
        "certificates": 4,
        "certificate_holder_names": 7,  # the CN and O of each; the TLS one has no O
        "ocsp_responders": 1,
        "ocsp_responses": 2,  # the CMP and TLS certificates', signed with them
        "outbox_events": 2,
        "status_changes": 4,
    }
    capsys.readouterr()
    assert main(["audit", "verify", "--home", str(home)]) == 0
    assert capsys.readouterr().out.startswith("audit trail intact since checkpoint 1 ")


def test_a_failed_init_in_an_existing_folder_removes_only_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "ca"
    home.mkdir()
    (home / "notes.txt").write_text("the operator's")

    async def failing(*args: Any) -> None:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(cli_init, "issue_server_certificate", failing)
    assert main(["init", "--home", str(home)]) == 1
    assert [path.name for path in home.iterdir()] == ["notes.txt"]
    monkeypatch.undo()
    assert main(["init", "--home", str(home)]) == 0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--join", "postgresql://ca@db/ca", "--subject", "CN=X"],
         "init --join takes the CA from the registry: --subject is not for it"),
        (["--join", "postgresql://ca@db/ca", "--registry-url", "postgresql://ca@db/ca"],
         "init --join takes the CA from the registry: --registry-url is not for it"),
        (["--join", "postgresql://ca@db/ca", "--csr", "ca.csr"],
         "init --join takes the CA from the registry: --csr is not for it"),
        (["--csr", "ca.csr", "--validity-days", "365"],
         "init --csr: the parent CA sets the validity: --validity-days is not for it"),
        (["--pin-from", "pin.txt"], "--pin-from is an option of init --join"),
        (["--cmp-keys", "/srv/cmp-keys"], "--cmp-keys is an option of init --join"),
    ],
)  # fmt: skip
def test_join_options_are_refused_where_they_mean_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], error: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["init", "--home", str(tmp_path / "ca"), *options])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {error}\n")
    assert not (tmp_path / "ca").exists()
