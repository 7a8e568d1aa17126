"""`python -m server compromise` on a home `init` made (regulation K4), on both registry
engines: it prints the new generation, the CA certificate revoked in its CRL and what
became of the old generation's certificates; refused without grounds; the audit trail
verifies after it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from config import load_settings
from server.cli.main import main
from server.context import open_registry
from server.registry import CAGeneration


async def _generations(home: Path) -> list[CAGeneration]:
    registry = await open_registry(load_settings(home))
    try:
        return await registry.generations("demo")
    finally:
        await registry.close()


def test_k4_cli_compromise_prints_and_records_the_new_generation(
    empty_registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home), "--registry-url", empty_registry]) == 0
    capsys.readouterr()
    refused = ["compromise", "--home", str(home), "--generation", "1", "--grounds", " "]
    assert main(refused) == 1
    assert capsys.readouterr().err == "error: a CA key compromise needs its grounds (K4)\n"
    assert [g.state for g in asyncio.run(_generations(home))] == ["active"]
    grounds = "key backup copied (report 7)"
    assert main(["compromise", "--home", str(home), "--generation", "1", "--grounds", grounds]) == 0
    out = capsys.readouterr().out
    old, new = asyncio.run(_generations(home))
    assert (old.state, new.state) == ("compromised", "active")
    assert re.fullmatch(
        rf"CA 'demo': generation 1 compromised, generation {new.id} made\n"
        rf"  CA certificate serial {new.serial}, key id {new.key_id.hex()}, valid until "
        rf"{new.not_after:%Y-%m-%d}\n"
        rf"  revoked \(cACompromise\) in generation {new.id}'s CRL: {old.serial}\n"
        r"  certificates of generation 1: [1-9][0-9]* revoked\n"
        r"  OCSP responder certificate serial [0-9a-f]+\n"
        r"  CMP protection certificate serial [0-9a-f]+\n",
        out,
    ), out
    assert main(["audit", "verify", "--home", str(home)]) == 0
