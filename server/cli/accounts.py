"""`python -m server account-...`: the API's accounts from the command line, through the
same service as `/api/v1/accounts`. The command line acts as a local admin (it holds the
CA home), which is how the first admin account is made. A token is printed once, by the
command that makes it; no listing shows one."""

from __future__ import annotations

import argparse

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import load_settings
from server.accounts import Account, Accounts, Requester, Role, parse_role
from server.cli.commands import actor
from server.context import open_ca
from server.errors import CAError, ErrorKind


def _local_admin() -> Requester:
    return Requester(actor=actor(), role=Role.ADMIN)


async def account_add(args: argparse.Namespace) -> int:
    role = parse_role(args.role)
    async with open_ca(load_settings(args.home), signing=False) as ca:
        account, token = await Accounts(ca.registry, ca.clock).create(
            args.name, role, _local_admin()
        )
    # The one place this token is shown: this is how the operator receives it.
    print(account.id)
    print(token)
    return 0


async def account_token(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        token = await Accounts(ca.registry, ca.clock).issue_token(args.name, _local_admin())
    print(token)
    return 0


async def account_cert(args: argparse.Namespace) -> int:
    try:
        data = args.cert.read_bytes()
    except OSError as exc:
        raise CAError(ErrorKind.MALFORMED, f"cannot read {args.cert}: {exc.strerror}") from None
    try:
        der = x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    except ValueError:
        der = data  # DER, or garbage the service refuses
    async with open_ca(load_settings(args.home), signing=False) as ca:
        account = await Accounts(ca.registry, ca.clock).bind_certificate(
            args.name, der, _local_admin()
        )
    print(f"account {account.name} signs in with certificate SHA-256 {_fingerprint(account)}")
    return 0


async def account_disable(args: argparse.Namespace) -> int:
    async with open_ca(load_settings(args.home), signing=False) as ca:
        account = await Accounts(ca.registry, ca.clock).disable(args.name, _local_admin())
    print(f"disabled {account.name}")
    return 0


async def list_accounts(args: argparse.Namespace) -> int:
    """One line per account: name, role, state, token or not, certificate fingerprint."""
    async with open_ca(load_settings(args.home), signing=False) as ca:
        accounts = await Accounts(ca.registry, ca.clock).all(_local_admin())
    for account in accounts:
        state = f"disabled {account.disabled_at:%Y-%m-%d}" if account.disabled_at else "enabled"
        token = "token" if account.has_token else "no-token"
        print(f"{account.name:24}  {account.role.value:8}  {state:19}  {token:8}  "
              f"{_fingerprint(account)}")  # fmt: skip
    return 0


def _fingerprint(account: Account) -> str:
    return account.certificate_sha256.hex() if account.certificate_sha256 else "-"
