"""The registration authority's commands: subscribers, identity records, the notice
acknowledgement, operators' applications, their completion and handover, overdue ones.
They call the same services as the API (server/ra/subscribers.py, server/ra/applications.py)."""

from __future__ import annotations

import argparse
import hashlib

from config import load_settings
from server.cli.commands import actor
from server.context import open_ca
from server.errors import CAError, ErrorKind
from server.ra.subscribers import NewIdentity, NewSubscriber, Presence
from server.registry.records import ApplicationRow


async def run_register(args: argparse.Namespace) -> int:
    data = NewSubscriber(
        kind=args.kind, name=args.name, surname=args.surname, given_names=args.given_names,
        email=args.email, snils=args.snils, inn=args.inn, ogrn=args.ogrn, ogrnip=args.ogrnip,
        country=args.country, region=args.region, locality=args.locality, street=args.street,
    )  # fmt: skip
    async with open_ca(load_settings(args.home), signing=False) as ca:
        row = await ca.subscribers.register(data, actor())
    print(row.id)
    return 0


async def run_subscriber(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        row = await ca.subscribers.get(args.id)
        identities = await ca.subscribers.identities(args.id)
    for field in ("id", "kind", "name", "surname", "given_names", "email", "snils", "inn",
                  "ogrn", "ogrnip", "country", "region", "locality", "street",
                  "registered_by", "registered_at", "erased_at"):  # fmt: skip
        value = getattr(row, field)
        if value is not None:
            print(f"{field + ':':15} {value}")
    for record in identities:
        proxy = f", proxy {record.proxy_name} (POA {record.poa_number} of {record.poa_date})"
        print(f"identity:       {record.id} {record.document_type} issued {record.document_date}"
              f" by {record.document_issuer}, checked by {record.verified_by} at"
              f" {record.verified_at.isoformat()}{proxy if record.proxy_name else ''}")  # fmt: skip
    return 0


async def run_identify(args: argparse.Namespace) -> int:
    proxy = args.proxy_name is not None
    data = NewIdentity(
        document_type=args.document_type, document_number=args.document_number,
        document_issuer=args.document_issuer, document_date=args.document_date,
        presence=Presence.PROXY if proxy else Presence.IN_PERSON, proxy_name=args.proxy_name,
        poa_number=args.poa_number, poa_date=args.poa_date,
    )  # fmt: skip
    async with open_ca(load_settings(args.home), signing=False) as ca:
        record = await ca.subscribers.add_identity(args.id, data, actor())
    print(record.id)
    return 0


async def run_acknowledge(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        version = await ca.subscribers.acknowledge_notice(args.id, actor())
    print(f"{args.id} acknowledged notice {version}")
    return 0


async def run_apply(args: argparse.Namespace) -> int:
    try:
        request = args.csr.read_bytes() if args.csr else None
        attachments = [(p.name, hashlib.sha256(p.read_bytes()).digest()) for p in args.attach]
    except OSError as exc:
        raise CAError(ErrorKind.MALFORMED, f"cannot read {exc.filename}: {exc.strerror}") from None
    async with open_ca(load_settings(args.home), signing=False) as ca:
        row = await ca.applications.submit(
            args.subscriber, args.profile, actor(), attachments, request, not args.incomplete
        )
    print(row.id)
    _print_application(row)
    return 0


async def run_complete(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        row = await ca.applications.complete(args.id, actor())
    _print_application(row)
    return 0


async def run_handover(args: argparse.Namespace) -> int:
    received_by = "proxy" if args.proxy_name or args.power_of_attorney else "holder"
    async with open_ca(load_settings(args.home), signing=False) as ca:
        row = await ca.applications.handed_over(
            args.id, received_by, actor(), args.proxy_name, args.power_of_attorney
        )
    print(f"{row.id}: received by {row.received_by} at {row.received_at}")
    return 0


async def run_overdue(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        rows = await ca.applications.overdue(args.limit)
    for row in rows:
        print(f"{row.id}  {row.state:9}  due {row.due_at}  {row.profile}  {row.subscriber_id}")
    return 0


async def run_credentials(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        listed = await ca.credentials.listing(not args.all, args.limit)
    for credential, used_serial in listed:
        state = f"used for {used_serial}" if used_serial else "unused"
        whose = credential.subscriber_id or "-"
        print(f"{credential.id}  {credential.profile:12}  {whose:19}  expires "
              f"{credential.expires_at.isoformat()}  {state}")  # fmt: skip
    return 0


def _print_application(row: ApplicationRow) -> None:
    due = row.due_at.isoformat() if row.due_at else "when complete"
    print(f"state: {row.state}, due: {due}, register check: {row.register_check}")
    if row.reason:
        print(f"reason: {row.reason}")
