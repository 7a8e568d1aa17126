"""A real SoftHSM2 token for tests: its own config file and token folder under a temp dir."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class Token:
    config: Path
    label: str
    pin: str
    module: str = MODULE

    def environment(self) -> dict[str, str]:
        """What a process needs to see this token (SOFTHSM2_CONF)."""
        return {"SOFTHSM2_CONF": str(self.config)}


def make_token(folder: Path, label: str = "ca", pin: str = "8642-test-pin") -> Token:
    if shutil.which("softhsm2-util") is None or not Path(MODULE).exists():
        raise RuntimeError("SoftHSM2 is not installed (scripts/setup.sh installs it)")
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    config = folder / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label,
         "--pin", pin, "--so-pin", pin + "-so"],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(config)},
    )  # fmt: skip
    return Token(config=config, label=label, pin=pin)
