"""`registry copy`: move a CA home's registry to another database (SQLite to PostgreSQL,
back, or between two of either), then prove the copy before anyone points a server at it.

The copy itself is server/registry/registry_copy.py, its proof server/backup/proof.py
(which `restore` runs too): every table has as many rows on both sides, `audit verify`
passes on the target (the hash chain, and the home's signed checkpoints, which anchor the
source's trail), and the stored OCSP answers of a sample of certificates are the same on
both sides.
"""

from __future__ import annotations

import argparse
import json

from config import Settings, SettingsError, load_settings
from config.registry_url import resolve, url_problem
from server.backup.proof import prove_copy
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.registry.registry_copy import copy_registry


async def run_registry(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    source_url = _url(settings, args.source, "--from")
    target_url = _url(settings, args.target, "--to")
    if source_url == target_url:
        raise CAError(ErrorKind.MALFORMED, "--from and --to name the same registry")
    source = await open_registry(settings, source_url)
    try:
        target = await open_registry(settings, target_url)
        try:
            copied = await copy_registry(source, target)
            lines = await prove_copy(settings, source, target, copied)
        finally:
            await target.close()
    finally:
        await source.close()
    for line in lines:
        print(line)
    print(f"to use the copy, set registry.url = {json.dumps(args.target)} in settings.toml")
    return 0


def _url(settings: Settings, url: str, option: str) -> str:
    problem = url_problem(url)
    if problem is not None:
        raise SettingsError(f"{option}: must be {problem}")
    return resolve(url, settings.home)
