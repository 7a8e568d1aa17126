"""The registration authority's commands: subscribers, identity records, the notice
acknowledgement, operators' applications, their completion and handover, overdue ones.
They call the same services as the API (server/ra/subscribers.py, server/ra/applications.py)."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from config import load_settings
from server.cli.commands import actor
from server.context import open_ca
from server.errors import CAError, ErrorKind
from server.ra.subscribers import DocumentType, NewIdentity, NewSubscriber, Presence, SubscriberKind
from server.registry.records import ApplicationRow

Command = Callable[[str, Any, str], argparse.ArgumentParser]


def add_commands(command: Command) -> None:
    register = command("register", run_register, "register a subscriber (S1)")
    register.add_argument("--kind", required=True, choices=[k.value for k in SubscriberKind])
    register.add_argument("--name", help="organisation name (default for a person: surname "
                          "and given names)")  # fmt: skip
    register.add_argument("--surname")
    register.add_argument("--given-names", help="first name and patronymic")
    for option in ("--email", "--snils", "--inn", "--ogrn", "--ogrnip", "--region",
                   "--locality", "--street"):  # fmt: skip
        register.add_argument(option)
    register.add_argument("--country", default="RU")

    show = command("subscriber", run_subscriber, "show a subscriber and its identity records")
    show.add_argument("--id", required=True)

    identify = command("identify", run_identify, "record how a subscriber's identity was "
                       "established (P3)")  # fmt: skip
    identify.add_argument("--id", required=True, help="the subscriber (sb-...)")
    identify.add_argument("--document-type", required=True, choices=[d.value for d in DocumentType])
    identify.add_argument("--document-number", required=True)
    identify.add_argument("--document-issuer", required=True)
    identify.add_argument("--document-date", required=True, type=date.fromisoformat)
    identify.add_argument("--proxy-name", help="a proxy came, with a power of attorney")
    identify.add_argument("--poa-number", help="the power of attorney's number")
    identify.add_argument("--poa-date", type=date.fromisoformat)

    acknowledge = command("acknowledge", run_acknowledge, "record that the subscriber "
                          "acknowledged the conditions notice (D1)")  # fmt: skip
    acknowledge.add_argument("--id", required=True, help="the subscriber (sb-...)")

    apply = command("apply", run_apply, "make an application for a subscriber")
    apply.add_argument("--subscriber", required=True, help="the subscriber (sb-...)")
    apply.add_argument("--profile", required=True)
    apply.add_argument("--csr", type=Path, help="the holder's PKCS#10 request (else approval "
                       "hands out an enrollment code)")  # fmt: skip
    apply.add_argument("--attach", type=Path, action="append", default=[],
                       help="a document; its name and SHA-256 are kept (repeatable)")  # fmt: skip
    apply.add_argument("--incomplete", action="store_true",
                       help="documents are missing: due dates start at `complete`")  # fmt: skip

    complete = command("complete", run_complete, "mark an application complete (P4)")
    complete.add_argument("--id", required=True, help="the application (ap-...)")

    handover = command("handover", run_handover, "record who received an issued certificate")
    handover.add_argument("--id", required=True, help="the application (ap-...)")
    handover.add_argument("--proxy-name", help="a proxy received it")
    handover.add_argument("--power-of-attorney", help="the proxy's power of attorney: number "
                          "and date")  # fmt: skip

    overdue = command("overdue", run_overdue, "list applications past their due date (P4)")
    overdue.add_argument("--limit", type=int, default=100)

    credentials = command("credentials", run_credentials, "list enrollment credentials (never "
                          "their secrets; `enroll-code` makes one)")  # fmt: skip
    credentials.add_argument("--all", action="store_true", help="also the used ones")
    credentials.add_argument("--limit", type=int, default=100)


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
