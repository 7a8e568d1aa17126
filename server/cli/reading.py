"""The commands that only read: they print what the settings and the registry hold, and
open nothing else (no signer, none of the CA's services), so that they start without
importing the composition root (server/context.py). The PEM they print is the standard
library's."""

from __future__ import annotations

import argparse
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config import Settings, load_settings
from server.errors import CAError, ErrorKind
from server.node.key_lifetime import no_active_key
from server.registry import CertificateStatus, Registry
from server.registry_access import open_registry
from server.serials import parse_serial


@asynccontextmanager
async def opened_registry(settings: Settings) -> AsyncIterator[Registry]:
    """The registry the settings name, open until the context ends."""
    registry = await open_registry(settings)
    try:
        yield registry
    finally:
        await registry.close()


async def ca_cert(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    name = settings.ca.name
    async with opened_registry(settings) as registry:
        generation = await registry.active_generation(name)
        if generation is None:  # after a compromise, the CA may wait for its parent (K4)
            raise CAError(ErrorKind.UNAVAILABLE,
                          no_active_key(await registry.generations(name)))  # fmt: skip
    print(ssl.DER_cert_to_PEM_cert(generation.certificate_der), end="")
    return 0


async def show(args: argparse.Namespace) -> int:
    serial = parse_serial(args.serial)
    async with opened_registry(load_settings(args.home)) as registry:
        record = await registry.get_certificate(serial)
        if record is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no certificate with serial {serial}")
        history = await registry.status_history(serial)
    assert record.der is not None
    if args.pem:
        print(ssl.DER_cert_to_PEM_cert(record.der), end="")
        return 0
    print(f"serial:     {record.serial}")
    print(f"subject:    {record.subject}")
    print(f"profile:    {record.profile}")
    print(f"not before: {record.not_before:%Y-%m-%d %H:%M:%S}Z")
    print(f"not after:  {record.not_after:%Y-%m-%d %H:%M:%S}Z")
    print(f"status:     {record.status.value}")
    for change in history:
        reason = f" ({change.reason})" if change.reason else ""
        basis = f" on {change.basis.value}" if change.basis else ""
        grounds = f": {change.grounds}" if change.grounds else ""
        print(f"  {change.effective_at:%Y-%m-%d %H:%M:%S}Z {change.change.value}{reason}"
              f" by {change.actor}{basis}{grounds}")  # fmt: skip
    return 0


async def list_certificates(args: argparse.Namespace) -> int:
    status = CertificateStatus(args.status) if args.status else None
    async with opened_registry(load_settings(args.home)) as registry:
        records = await registry.search.certificates(status, args.profile, None, args.limit, None)
    for record in records:
        print(f"{record.serial}  {record.status.value:7}  {record.not_after:%Y-%m-%d}  "
              f"{record.profile:14}  {record.subject}")  # fmt: skip
    return 0


async def applications(args: argparse.Namespace) -> int:
    """One line per application: id, state, profile, submitted at, subject, and the serial
    or the rejection reason."""
    async with opened_registry(load_settings(args.home)) as registry:
        rows = await registry.applications.by_state(args.state or "submitted", args.limit)
    for row in rows:
        outcome = row.serial or row.reason or ("being decided" if row.decided_at else "")
        print(f"{row.id}  {row.state:9}  {row.profile:12}  {row.submitted_at.isoformat()}  "
              f"{row.subject}  {outcome}".rstrip())  # fmt: skip
    return 0


async def profiles(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    for name, profile in settings.profiles.items():
        print(f"{name:14}  {profile.validity_days:5} days  {profile.description}")
    return 0
