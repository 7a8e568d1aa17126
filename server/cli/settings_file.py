"""The settings file `init` writes: the default settings, with what its options say."""

from __future__ import annotations

import argparse
import json
import os
import re
from importlib import resources
from pathlib import Path

from config import Settings, load_settings
from config.settings import GOST_KEY_ALGORITHMS, ProfileSettings

# The shipped profiles of the Russian regulation, which take GOST keys on a GOST CA
RUSSIAN_PROFILES = ("person", "sole-proprietor", "organisation")
TLS_PROFILES = ("tls-server", "tls-client")
# What Russian practice gives a GOST key's signing certificate (reference/ru-profile.md 3):
# signing and non-repudiation, and key and data encipherment, which a GOST key does by VKO
# key agreement, so that one CryptoPro-style key both signs and receives encrypted documents
GOST_KEY_USAGE = ("digital_signature", "non_repudiation", "key_encipherment", "data_encipherment")


def write_settings(home: Path, args: argparse.Namespace) -> Settings:
    """`settings.toml` of the new home: the defaults, with what the options say."""
    text = (resources.files("config") / "default.toml").read_text(encoding="utf-8")
    base_url = args.base_url or (f"http://{args.http}" if args.http else None)
    overrides = {
        ("ca", "name"): args.name,
        ("ca", "subject"): args.subject,
        ("ca", "algorithm"): args.algorithm,
        ("ca", "validity_days"): args.validity_days,
        ("ca", "base_url"): base_url,
        ("hsm", "backend"): args.backend,
        ("hsm", "module"): args.module,
        ("hsm", "token_label"): args.token_label,
        ("server", "http"): args.http,
        ("server", "https"): args.https,
        ("registry", "url"): args.join or args.registry_url,
        ("root", "name"): _root_name(args),
        ("root", "subject"): getattr(args, "root_subject", None),
    }
    for (section, key), value in overrides.items():
        if value is not None:
            text = set_toml_value(text, section, key, value)
    if args.algorithm in GOST_KEY_ALGORITHMS:
        text = _gost_profiles(text)
    fd = os.open(home / "settings.toml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return load_settings(home)


def _gost_profiles(text: str) -> str:
    """A GOST CA's profiles: the Russian ones take GOST keys only, with GOST_KEY_USAGE;
    the TLS ones take GOST keys beside the others."""
    for profile in RUSSIAN_PROFILES:
        section = f"profiles.{profile}"
        text = set_toml_value(text, section, "key_algorithms", list(GOST_KEY_ALGORITHMS))
        text = set_toml_value(text, section, "key_usage", list(GOST_KEY_USAGE))
    for profile in TLS_PROFILES:
        others = list(ProfileSettings().key_algorithms)
        text = set_toml_value(
            text, f"profiles.{profile}", "key_algorithms", others + list(GOST_KEY_ALGORITHMS)
        )
    return text


def set_toml_value(text: str, section: str, key: str, value: object) -> str:
    """Replace `key = ...` in `[section]` of the default settings text."""
    start = text.index(f"\n[{section}]\n")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    body = text[start:end]
    literal = json.dumps(value, ensure_ascii=False)
    new_body, count = re.subn(
        rf"^{re.escape(key)}\s*=\s*[^#\n]*?(\s*#.*)?$",
        lambda m: f"{key} = {literal}{m.group(1) or ''}",
        body,
        count=1,
        flags=re.MULTILINE,
    )
    assert count == 1, f"default settings lack {section}.{key}"
    return text[:start] + new_body + text[end:]


def _root_name(args: argparse.Namespace) -> str | None:
    """`init --hierarchy`: the root's name, `--root-name` or the CA's with `-root`."""
    if not getattr(args, "hierarchy", None):
        return None
    return args.root_name or f"{args.name or 'demo'}-root"
