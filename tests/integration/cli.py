"""Run `python -m server` as an operator would, in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "server", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"python -m server {' '.join(map(str, args))} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


def openssl(
    *args: str | Path, input_data: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`openssl *args`; `env` adds to the environment (an OPENSSL_CONF loading gost-engine)."""
    return subprocess.run(
        ["openssl", *map(str, args)], input=input_data, capture_output=True, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
