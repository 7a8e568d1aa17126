"""`retention run`: remove the personal data whose retention ended now, as the duty holder
does every `retention.interval_hours` (server/node/retention.py), with the same audit
entries; `--dry-run` only counts what is due. Prints one line per kind: `<kind> <count>`."""

from __future__ import annotations

import argparse

from config import load_settings
from server.context import open_ca


async def run_retention(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        removed = await (ca.retention.due() if args.dry_run else ca.retention.remove_expired())
    for kind, count in removed.counts().items():
        print(f"{kind} {count}")
    return 0
