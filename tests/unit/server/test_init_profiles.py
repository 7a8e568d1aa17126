"""The profiles `init` writes (issue #16): on a GOST CA the Russian profiles take GOST keys
only, with the keyUsage Russian practice gives a GOST signing key (reference/ru-profile.md
3), and the TLS profiles take GOST keys beside EC and RSA; an EC CA's profiles are the
default settings' own."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from config import load_settings
from server.cli.main import main
from tests.gost_support import require_engine

RUSSIAN = ("person", "sole-proprietor", "organisation")
TLS = ("tls-server", "tls-client")
EC_AND_RSA = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")
GOST = (
    "gost2012-256-a", "gost2012-256-b", "gost2012-256-c", "gost2012-256-xa", "gost2012-256-xb",
    "gost2012-256-tca", "gost2012-256-tcb", "gost2012-256-tcc", "gost2012-256-tcd",
    "gost2012-512-a", "gost2012-512-b", "gost2012-512-c",
)  # fmt: skip
GOST_KEY_USAGE = ("digital_signature", "non_repudiation", "key_encipherment", "data_encipherment")


def test_init_of_a_gost_ca_gives_its_russian_profiles_gost_keys_and_their_key_usage(
    tmp_path: Path,
) -> None:
    require_engine()
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home), "--algorithm", "gost2012-512:B"]) == 0
    settings = load_settings(home)
    assert settings.ca.algorithm == "gost2012-512-b"
    for name in RUSSIAN:
        assert settings.profile(name).key_algorithms == GOST, name
        assert settings.profile(name).key_usage == GOST_KEY_USAGE, name
    for name in TLS:
        assert settings.profile(name).key_algorithms == EC_AND_RSA + GOST, name
    assert settings.profile("tls-server").key_usage == ("digital_signature", "key_encipherment")
    assert settings.profile("tls-client").key_usage == ("digital_signature",)


def test_init_of_an_ec_ca_writes_the_default_profiles_unchanged(tmp_path: Path) -> None:
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home)]) == 0
    default = (resources.files("config") / "default.toml").read_text(encoding="utf-8")
    written = (home / "settings.toml").read_text(encoding="utf-8")
    assert tomllib.loads(written)["profiles"] == tomllib.loads(default)["profiles"]
    settings = load_settings(home)
    for name in (*RUSSIAN, *TLS):
        assert settings.profile(name).key_algorithms == EC_AND_RSA, name
    assert settings.profile("person").key_usage == ("digital_signature", "non_repudiation")
