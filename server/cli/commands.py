"""What the CA's everyday `python -m server` commands that change it do; argument parsing
is in `server/cli/parser.py`. The commands that only read are in `reading.py`; `serve` and
`paper` are in modules of their own, so that these commands start without importing the
web server and the PDF writer."""

from __future__ import annotations

import argparse
import getpass
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import load_settings
from protocols.x509 import names
from server.audit_checkpoints import describe
from server.context import open_ca
from server.errors import CAError, ErrorKind
from server.registry import StatusBasis
from server.request_checks import SubjectAltNames
from server.status.revocation import parse_reason


def actor() -> str:
    return f"cli:{getpass.getuser()}"


async def issue(args: argparse.Namespace) -> int:
    try:
        csr_data = args.csr.read_bytes()
    except OSError as exc:
        raise CAError(ErrorKind.MALFORMED, f"cannot read {args.csr}: {exc.strerror}") from None
    subject = None
    if args.subject:
        try:
            subject = names.parse_dn(args.subject)
        except ValueError as exc:
            raise CAError(ErrorKind.MALFORMED, f"--subject: {exc}") from None
    async with open_ca(load_settings(args.home)) as ca:
        issued = await ca.authority.issue(args.profile, csr_data, actor(), subject=subject)
    print(issued.pem, end="")
    return 0


async def revoke(args: argparse.Namespace) -> int:
    reason = parse_reason(args.reason)
    async with open_ca(load_settings(args.home)) as ca:
        record = await ca.revocation.revoke(
            args.serial, reason, actor(), args.invalidity_date, **_basis(args)
        )
    print(f"revoked {record.serial} ({reason.name})")
    return 0


def _basis(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "basis": StatusBasis(args.basis) if args.basis else None,
        "grounds": args.grounds,
    }


async def suspend(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home)) as ca:
        record = await ca.revocation.suspend(args.serial, actor(), **_basis(args))
    print(f"suspended {record.serial}")
    return 0


async def resume(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home)) as ca:
        record = await ca.revocation.resume(args.serial, actor(), **_basis(args))
    print(f"resumed {record.serial}")
    return 0


async def crl(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    if not 0 <= args.shard < settings.crl.shards:
        raise CAError(ErrorKind.MALFORMED, f"--shard must be 0..{settings.crl.shards - 1}")
    if args.delta and not settings.crl.deltas:
        raise CAError(ErrorKind.NOT_FOUND, "delta CRLs are off (crl.deltas = false)")
    async with open_ca(settings, builder=True) as ca:
        crls = ca.status.crls
        await crls.sync()
        live = {g.id for g in crls.generations}
        if args.generation is not None and args.generation not in live:
            raise CAError(ErrorKind.NOT_FOUND, f"no live CA generation {args.generation}")
        published = crls.current(args.shard, args.delta, args.generation)
    if published is None:
        raise CAError(ErrorKind.UNAVAILABLE, "no CRL has been published")
    if args.out:
        args.out.write_bytes(published.der)
        print(f"CRL number {published.number} written to {args.out}")
    else:
        pem = x509.load_der_x509_crl(published.der).public_bytes(Encoding.PEM)
        print(pem.decode(), end="")
    return 0


async def enroll_code(args: argparse.Namespace) -> int:
    if args.valid_hours <= 0:
        raise CAError(ErrorKind.MALFORMED, "--valid-hours must be positive")
    valid_for = timedelta(hours=args.valid_hours)
    alt_names = SubjectAltNames(dns=args.dns, ips=args.ip, emails=args.email)
    async with open_ca(load_settings(args.home), signing=False) as ca:
        if args.subscriber:
            credential, secret = await ca.subscribers.enrollment_credential(
                args.subscriber, args.profile, valid_for, actor(), alt_names
            )
        else:
            credential, secret = await ca.credentials.create(
                args.profile, args.subject, valid_for, actor(), alt_names
            )
    # The one place a secret is printed: this is how the operator receives it.
    print(credential.id)
    print(secret)
    return 0


async def approve(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home)) as ca:
        approval = await ca.applications.approve(args.id, actor())
    if approval.issued is not None:
        print(f"approved {args.id}: issued {approval.issued.serial}")
        return 0
    assert approval.credential is not None
    # An application without a request: the holder enrolls with this one-time code, printed
    # here once (id, then secret), as `enroll-code` prints it.
    print(approval.credential.id)
    print(approval.secret)
    return 0


async def reject(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        await ca.applications.reject(args.id, actor(), args.reason)
    print(f"rejected {args.id}")
    return 0


async def audit(args: argparse.Namespace) -> int:
    """`audit verify`: the hash chain and every checkpoint (exit 1 naming the first broken,
    missing or altered entry, or the forged checkpoint); `audit checkpoint`: anchor the
    trail's head now."""
    settings = load_settings(args.home)
    if args.action == "checkpoint":
        async with open_ca(settings) as ca:
            written = await ca.audit.write()
        if written is None:
            raise CAError(ErrorKind.NOT_FOUND, "the audit trail is empty: nothing to anchor")
        number, checkpoint = written
        print(f"checkpoint {number} at {checkpoint.at} (entry {checkpoint.seq})")
        return 0
    async with open_ca(settings, signing=False) as ca:
        report = await ca.audit.verify()
    if report.problem is not None:
        raise CAError(ErrorKind.INTERNAL, report.problem)
    for line in describe(report):
        print(line)
    return 0
