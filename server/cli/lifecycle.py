"""The CA key lifecycle's commands: `rollover` and `compromise` (server/lifecycle.py). They
can run while the server runs: the registry refuses a rollover that another one overtook,
and a compromise of a generation no longer active."""

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
    declare = command(
        "compromise",
        run_compromise,
        "declare a CA generation's key compromised (K4): a new key and CA certificate at "
        "once, without link certificates; the old CA certificate and its links revoked "
        "(cACompromise) in the new key's CRL; its certificates revoked or marked per "
        "ca.compromise_certificates",
    )
    declare.add_argument("--generation", type=int, required=True, help="the compromised one")
    declare.add_argument("--grounds", required=True, help="the compromise's grounds (audit)")


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


async def run_compromise(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    async with open_ca(settings) as ca:
        done = await ca.compromise(args.generation, args.grounds, actor())
    new = done.new
    print(f"CA {settings.ca.name!r}: generation {done.old.id} compromised, generation "
          f"{new.id} made")  # fmt: skip
    print(f"  CA certificate serial {new.serial}, key id {new.key_id.hex()}, "
          f"valid until {new.not_after:%Y-%m-%d}")  # fmt: skip
    print(f"  revoked (cACompromise) in generation {new.id}'s CRL: {', '.join(done.revoked)}")
    certificates = done.certificates
    verb = "revoked" if certificates.mode == "revoke" else "marked, left good"
    print(f"  certificates of generation {done.old.id}: {certificates.count} {verb}")
    print(f"  OCSP responder certificate serial {done.responder_serial}")
    print(f"  CMP protection certificate serial {done.cmp_serial}")
    return 0
