"""What each `python -m server` command does; argument parsing is in `server.cli.main`."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import re
import secrets
import shutil
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import Settings, load_settings
from protocols.x509 import names
from server.audit_checkpoints import describe
from server.authority import der_to_pem
from server.cmp.identity import issue_cmp_identity
from server.context import backend_spec, open_backend, open_ca
from server.errors import CAError, ErrorKind
from server.lifecycle import create_generation, issue_ocsp_responder
from server.node.home_permissions import make_private, refuse_shared_home
from server.node.tls import issue_server_certificate
from server.registry import CertificateStatus, Registry, StatusBasis
from server.registry.registry_copy import row_counts
from server.request_checks import SubjectAltNames
from server.serials import parse_serial
from server.status.revocation import parse_reason
from server.web.serve import configure_logging
from server.web.serve import serve as serve_until_stopped


def actor() -> str:
    return f"cli:{getpass.getuser()}"


async def init(args: argparse.Namespace) -> int:
    home: Path = args.home
    if (home / "settings.toml").exists():
        raise CAError(ErrorKind.REJECTED, f"{home} already holds a CA (settings.toml exists)")
    created = not home.exists()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private(home)  # whatever mode it had: nothing written below is ever shared
    try:
        settings = _write_settings(home, args)
        _ensure_secret(settings)
        if settings.hsm.backend == "soft":
            settings.resolve(settings.hsm.key_dir).mkdir(mode=0o700, exist_ok=True)
        backend = open_backend(settings)
        try:
            async with open_ca(settings) as ca:
                await _refuse_a_used_registry(ca.registry)
                now = ca.clock()
                generation = await create_generation(
                    settings, ca.registry, backend, ca.authority, now, actor()
                )
                responder = await issue_ocsp_responder(
                    settings, backend, ca.authority, generation, now, actor()
                )
                secret = backend_spec(settings).read_secret()
                cmp_server = await issue_cmp_identity(
                    settings, ca.authority, generation, now, secret, actor()
                )
                if settings.server.https:
                    await issue_server_certificate(settings, ca.authority, secret, actor())
        finally:
            backend.close()
        make_private(home)  # what init wrote, and what was there before it
    except BaseException:
        if created:
            shutil.rmtree(home, ignore_errors=True)
        else:
            (home / "settings.toml").unlink(missing_ok=True)
        raise
    print(f"CA {settings.ca.name!r} initialised in {home}")
    print(
        f"  CA certificate serial {generation.serial}, valid until {generation.not_after:%Y-%m-%d}"
    )
    print(f"  OCSP responder certificate serial {responder}")
    print(f"  CMP protection certificate serial {cmp_server}")
    print(f"  key backend {settings.hsm.backend}, algorithm {settings.ca.algorithm}")
    if settings.server.https:
        print(f"  TLS server certificate {settings.server.tls_cert} for {settings.server.https}")
    return 0


async def _refuse_a_used_registry(registry: Registry) -> None:
    """A new CA starts from an empty registry: one holding rows is another CA's (or the
    rest of a failed `init`, which leaves a database server's rows behind)."""
    used = [table for table, count in (await row_counts(registry)).items() if count]
    if used:
        raise CAError(
            ErrorKind.REJECTED,
            f"the registry registry.url names is not empty (table {used[0]} has rows): "
            "init needs a new, empty database",
        )


def _write_settings(home: Path, args: argparse.Namespace) -> Settings:
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
        ("registry", "url"): args.registry_url,
    }
    for (section, key), value in overrides.items():
        if value is not None:
            text = _set_toml_value(text, section, key, value)
    fd = os.open(home / "settings.toml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return load_settings(home)


def _set_toml_value(text: str, section: str, key: str, value: object) -> str:
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


def _ensure_secret(settings: Settings) -> None:
    """The PIN / passphrase comes from the environment or the PIN file. For the software
    backend of a demo CA, `init` makes a random one in the PIN file (mode 0600)."""
    hsm = settings.hsm
    if hsm.pin_env and os.environ.get(hsm.pin_env):
        return
    if hsm.pin_file and settings.resolve(hsm.pin_file).exists():
        return
    if hsm.backend == "soft" and hsm.pin_file:
        path = settings.resolve(hsm.pin_file)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        return
    raise CAError(
        ErrorKind.UNAVAILABLE,
        f"no PIN: set {hsm.pin_env or 'hsm.pin_env'} or write it to hsm.pin_file",
    )


async def serve(args: argparse.Namespace) -> int:
    configure_logging()
    settings = load_settings(args.home)
    refuse_shared_home(settings)
    overrides = {k: v for k, v in (("http", args.http), ("https", args.https)) if v}
    if overrides:
        settings = dataclasses.replace(
            settings, server=dataclasses.replace(settings.server, **overrides)
        )
        settings.server.check()
    await serve_until_stopped(settings)
    return 0


async def ca_cert(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        generation = await ca.authority.generation()
    print(der_to_pem(generation.certificate_der), end="")
    return 0


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


async def show(args: argparse.Namespace) -> int:
    serial = parse_serial(args.serial)
    async with open_ca(load_settings(args.home), signing=False) as ca:
        record = await ca.registry.get_certificate(serial)
        if record is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no certificate with serial {serial}")
        history = await ca.registry.status_history(serial)
    assert record.der is not None
    if args.pem:
        print(der_to_pem(record.der), end="")
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
    async with open_ca(load_settings(args.home), signing=False) as ca:
        records = await ca.registry.search.certificates(
            status, args.profile, None, args.limit, None
        )
    for record in records:
        print(f"{record.serial}  {record.status.value:7}  {record.not_after:%Y-%m-%d}  "
              f"{record.profile:14}  {record.subject}")  # fmt: skip
    return 0


async def crl(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    if not 0 <= args.shard < settings.crl.shards:
        raise CAError(ErrorKind.MALFORMED, f"--shard must be 0..{settings.crl.shards - 1}")
    if args.delta and not settings.crl.deltas:
        raise CAError(ErrorKind.NOT_FOUND, "delta CRLs are off (crl.deltas = false)")
    async with open_ca(settings, builder=True) as ca:
        await ca.status.crls.sync()
        published = ca.status.crls.current(args.shard, args.delta)
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


async def applications(args: argparse.Namespace) -> int:
    """One line per application: id, state, profile, submitted at, subject, and the serial
    or the rejection reason."""
    async with open_ca(load_settings(args.home), signing=False) as ca:
        rows = await ca.applications.by_state(args.state or "submitted", args.limit)
    for row in rows:
        outcome = row.serial or row.reason or ("being decided" if row.decided_at else "")
        print(f"{row.id}  {row.state:9}  {row.profile:12}  {row.submitted_at.isoformat()}  "
              f"{row.subject}  {outcome}".rstrip())  # fmt: skip
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


async def profiles(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    for name, profile in settings.profiles.items():
        print(f"{name:14}  {profile.validity_days:5} days  {profile.description}")
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
