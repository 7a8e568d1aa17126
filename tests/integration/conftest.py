"""CA homes made by `python -m server init`, with the software backend and with a real
SoftHSM2 token through PKCS#11."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.cli import run_cli
from tests.softhsm import make_token


@dataclass
class CAHome:
    path: Path
    env: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str | Path, check: bool = True):
        return run_cli(args[0], "--home", self.path, *args[1:], env=self.env, check=check)


@pytest.fixture(scope="module")
def soft_ca(tmp_path_factory: pytest.TempPathFactory) -> CAHome:
    home = CAHome(tmp_path_factory.mktemp("soft") / "ca")
    run_cli("init", "--home", home.path, "--subject", "CN=Test Soft CA,O=Test,C=RU")
    return home


@pytest.fixture(scope="module")
def pkcs11_ca(tmp_path_factory: pytest.TempPathFactory) -> CAHome:
    folder = tmp_path_factory.mktemp("pkcs11")
    token = make_token(folder, label="ca")
    env = {**token.environment(), "CA_HSM_PIN": token.pin}
    home = CAHome(folder / "ca", env)
    run_cli(
        "init", "--home", home.path, "--backend", "pkcs11", "--token-label", token.label,
        "--module", token.module, "--subject", "CN=Test HSM CA,O=Test,C=RU", env=env,
    )  # fmt: skip
    return home
