"""The CA key lifecycle's commands: `rollover` (server/lifecycle.py). It can run while the
server runs: the registry refuses a rollover that another one overtook."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from config import load_settings
from server.cli.commands import actor
from server.context import backend_spec, open_backend, open_ca
from server.lifecycle import rollover

Command = Callable[[str, Any, str], argparse.ArgumentParser]


def add_commands(command: Command) -> None:
    roll = command(
        "rollover",
        run_rollover,
        "roll the CA over to a new key: a new CA certificate and the link certificates "
        "NewWithOld and OldWithNew (RFC 9810 4.4); issuance moves to it at once, the old "
        "key keeps its CRLs and OCSP",
    )
    roll.add_argument("--reason", default="scheduled", help="recorded in the audit entry")


async def run_rollover(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    backend = open_backend(settings)
    try:
        async with open_ca(settings) as ca:
            secret = backend_spec(settings).read_secret()
            done = await rollover(settings, ca.registry, backend, ca.authority, ca.clock(),
                                  secret, actor(), args.reason)  # fmt: skip
    finally:
        backend.close()
    new = done.new
    print(f"CA {settings.ca.name!r} rolled over from generation {done.old.id} to {new.id}")
    print(f"  CA certificate serial {new.serial}, key id {new.key_id.hex()}, "
          f"valid until {new.not_after:%Y-%m-%d}")  # fmt: skip
    print(f"  NewWithOld link certificate serial {done.new_with_old.serial}")
    print(f"  OldWithNew link certificate serial {done.old_with_new.serial}")
    print(f"  OCSP responder certificate serial {done.responder_serial}")
    print(f"  CMP protection certificate serial {done.cmp_serial}")
    return 0
