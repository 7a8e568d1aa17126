"""`retention run`: remove the personal data whose retention ended now, as the duty holder
does every `retention.interval_hours` (server/node/retention.py), with the same audit
entries; `--dry-run` only counts what is due. Prints one line per kind: `<kind> <count>`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from config import load_settings
from server.context import open_ca

Command = Callable[[str, Any, str], argparse.ArgumentParser]


def add_commands(command: Command) -> None:
    """Register `retention run` with `command(name, handler, help)` of server.cli.main."""
    retention = command("retention", run_retention, "`retention run`: remove the personal "
                        "data kept as long as [retention] says (attachments, subscribers' "
                        "data, confirmation files) and print how many of each")  # fmt: skip
    retention.add_argument("action", choices=("run",))
    retention.add_argument("--dry-run", action="store_true",
                           help="remove nothing: print how many of each are due")  # fmt: skip


async def run_retention(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        removed = await (ca.retention.due() if args.dry_run else ca.retention.remove_expired())
    for kind, count in removed.counts().items():
        print(f"{kind} {count}")
    return 0
