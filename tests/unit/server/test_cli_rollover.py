"""`python -m server rollover` on a home `init` made (regulation K2, RFC 9810 4.4): it
prints the new generation, its certificate and the links, records them, and the audit
trail verifies after it; on both registry engines."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from config import load_settings
from server.cli.main import main
from server.context import open_registry
from server.registry import CAGeneration, CALink


async def _recorded(home: Path) -> tuple[list[CAGeneration], list[CALink]]:
    settings = load_settings(home)
    registry = await open_registry(settings)
    try:
        return await registry.generations("demo"), await registry.links("demo")
    finally:
        await registry.close()


def test_cli_rollover_prints_and_records_the_new_generation_and_its_links(
    empty_registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home), "--registry-url", empty_registry]) == 0
    capsys.readouterr()
    assert main(["rollover", "--home", str(home), "--reason", "key lifetime ends"]) == 0
    out = capsys.readouterr().out
    generations, links = asyncio.run(_recorded(home))
    first, second = generations
    key_id = second.key_id.hex()
    assert re.fullmatch(
        rf"CA 'demo' rolled over from generation {first.id} to {second.id}\n"
        rf"  CA certificate serial {second.serial}, key id {key_id}, valid until "
        rf"{second.not_after:%Y-%m-%d}\n"
        rf"  NewWithOld link certificate serial {links[0].serial}\n"
        rf"  OldWithNew link certificate serial {links[1].serial}\n"
        r"  OCSP responder certificate serial [0-9a-f]+\n"
        r"  CMP protection certificate serial [0-9a-f]+\n",
        out,
    ), out
    assert [(link.kind, link.issuer_generation_id, link.subject_generation_id)
            for link in links] == [("new_with_old", first.id, second.id),
                                   ("old_with_new", second.id, first.id)]  # fmt: skip
    assert main(["audit", "verify", "--home", str(home)]) == 0
    # init's 4 entries, the rollover's 3: the generation, its responder, its CMP certificate.
    verified = capsys.readouterr().out
    assert verified.startswith("audit trail intact since checkpoint 2 "), verified
    assert verified.endswith(": 7 entries, 2 checkpoints\n"), verified
