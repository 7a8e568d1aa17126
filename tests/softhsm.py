"""A real SoftHSM2 token for tests: its own config file and token folder under a temp dir."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
# SoftHSM2 built with its GOST mechanisms by scripts/build_softhsm_gost.sh (Debian's has none).
GOST_BUILD = Path(__file__).resolve().parent.parent / ".venv" / "softhsm2-gost"
GOST_MODULE = str(GOST_BUILD / "lib" / "softhsm" / "libsofthsm2.so")


@dataclass(frozen=True)
class Token:
    config: Path
    label: str
    pin: str
    module: str = MODULE

    def environment(self) -> dict[str, str]:
        """What a process needs to see this token (SOFTHSM2_CONF)."""
        return {"SOFTHSM2_CONF": str(self.config)}


def make_token(
    folder: Path, label: str = "ca", pin: str = "8642-test-pin", module: str = MODULE
) -> Token:
    """A token with its own SOFTHSM2_CONF under `folder`; `module` GOST_MODULE for one of
    the GOST-enabled build."""
    if module == GOST_MODULE:
        _require_gost_build()
        util = str(GOST_BUILD / "bin" / "softhsm2-util")
    elif shutil.which("softhsm2-util") is None or not Path(MODULE).exists():
        raise RuntimeError("SoftHSM2 is not installed (scripts/setup.sh installs it)")
    else:
        util = "softhsm2-util"
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    config = folder / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    _init_token(util, config, label, pin)
    return Token(config=config, label=label, pin=pin, module=module)


def add_gost_token(beside: Token, label: str = "gost") -> Token:
    """A token of the GOST-enabled SoftHSM2 build in the same token folder as `beside` (the
    same SOFTHSM2_CONF: one process reads one), with the same PIN."""
    _require_gost_build()
    _init_token(str(GOST_BUILD / "bin" / "softhsm2-util"), beside.config, label, beside.pin)
    return Token(config=beside.config, label=label, pin=beside.pin, module=GOST_MODULE)


def _require_gost_build() -> None:
    if not Path(GOST_MODULE).exists():
        raise RuntimeError(
            f"SoftHSM2 with GOST is not built at {GOST_BUILD} (scripts/setup.sh builds it)"
        )


def _init_token(util: str, config: Path, label: str, pin: str) -> None:
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", pin + "-so"],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(config)},
    )
