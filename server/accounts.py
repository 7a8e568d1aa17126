"""Accounts of the operator API and their roles.

- operator: registration, applications' reading, enrollment credentials, registering
  confirmation cases;
- officer: revocation, suspension, approval and rejection of applications, assigning a
  confirmation case to an expert;
- auditor: reading, and the audit trail;
- expert: confirmation cases (regulation 8.2, V3): reading and registering them, and
  answering with a report those assigned to this account (server/confirmation/cases.py);
  nothing else;
- admin: accounts.

A caller proves who it is with a bearer token or a TLS client certificate bound to its
account. A token is 32 random bytes (base64url), shown once when made; the registry keeps
only its SHA-256, and a token is found by that hash, so no stored secret is ever compared.
A fast hash is enough: the token is random, not a password that could be guessed. A new
token replaces the old one at once. A client certificate must be one this CA issued, and
stops working when it is revoked, suspended or expired.

Only an admin manages accounts; the command line acts as a local admin (whoever can run it
holds the CA home anyway), which is how the first admin account is made.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509

from server.clock import Clock, utc_now
from server.errors import CAError, ErrorKind
from server.registry import AuditEvent, CertificateStatus, interfaces
from server.registry.records import AccountRow
from server.serials import serial_text

TOKEN_BYTES = 32
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class Role(enum.StrEnum):
    OPERATOR = "operator"
    OFFICER = "officer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    EXPERT = "expert"


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    has_token: bool
    certificate_sha256: bytes | None
    disabled_at: datetime | None

    @property
    def actor(self) -> str:
        """How the registry and the audit trail name what this account does."""
        return account_actor(self.name)


def account_actor(name: str) -> str:
    """The actor of the account named `name` (Account.actor)."""
    return f"api:{name}"


@dataclass(frozen=True)
class Requester:
    """Who asks the core for something: the actor recorded, and the role it holds."""

    actor: str
    role: Role


def parse_role(text: str) -> Role:
    """Raises CAError(MALFORMED) naming the roles."""
    try:
        return Role(text)
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise CAError(ErrorKind.MALFORMED, f"no role {text!r} (one of {roles})") from None


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        created_by=row.created_by,
        has_token=row.has_token,
        certificate_sha256=row.client_cert_sha256,
        disabled_at=row.disabled_at,
    )


def _require_admin(requester: Requester) -> None:
    if requester.role is not Role.ADMIN:
        raise CAError(ErrorKind.UNAUTHORIZED, "managing accounts needs the admin role")


class AccountsRegistry(interfaces.Accounts, interfaces.Certificates, Protocol):
    """The registry as accounts use it."""


class Accounts:
    def __init__(self, registry: AccountsRegistry, clock: Clock = utc_now) -> None:
        self._registry = registry
        self._store = registry.accounts
        self._clock = clock

    async def create(self, name: str, role: Role, requester: Requester) -> tuple[Account, str]:
        """A new account and its first token (shown once). Raises CAError: UNAUTHORIZED
        (not an admin), MALFORMED (a name of other characters), DUPLICATE (name taken)."""
        _require_admin(requester)
        if not _NAME.fullmatch(name):
            raise CAError(
                ErrorKind.MALFORMED,
                "an account name is 1-64 letters, digits and . _ @ -, starting with a letter"
                " or digit",
            )
        token = secrets.token_urlsafe(TOKEN_BYTES)
        row = AccountRow(
            id=f"ac-{secrets.token_hex(8)}",
            name=name,
            role=role.value,
            created_at=self._clock(),
            created_by=requester.actor,
            has_token=True,
        )
        audit = AuditEvent(
            requester.actor, "account.create", name, {"id": row.id, "role": role.value}
        )
        await self._store.add(row, token_digest(token), audit)
        return _account(row), token

    async def issue_token(self, name: str, requester: Requester) -> str:
        """A new token (shown once) replacing the account's old one. Raises CAError:
        UNAUTHORIZED, NOT_FOUND, REJECTED (disabled)."""
        _require_admin(requester)
        account = await self._enabled(name)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        audit = AuditEvent(requester.actor, "account.token", name)
        if not await self._store.set_token(account.id, token_digest(token), self._clock(), audit):
            raise CAError(ErrorKind.REJECTED, f"account {name!r} is disabled")
        return token

    async def bind_certificate(self, name: str, der: bytes, requester: Requester) -> Account:
        """Let the account sign in with this TLS client certificate (DER), one this CA
        issued and that is good now. Raises CAError: UNAUTHORIZED, NOT_FOUND, MALFORMED,
        REJECTED (not such a certificate, or the account is disabled), DUPLICATE (bound to
        another account)."""
        _require_admin(requester)
        account = await self._enabled(name)
        try:
            x509.load_der_x509_certificate(der)
        except ValueError:
            raise CAError(ErrorKind.MALFORMED, "not a DER X.509 certificate") from None
        if not await self._good_certificate(der):
            raise CAError(ErrorKind.REJECTED, "not a good certificate issued by this CA")
        digest = hashlib.sha256(der).digest()
        audit = AuditEvent(
            requester.actor, "account.certificate", name, {"certificate_sha256": digest.hex()}
        )
        if not await self._store.bind_certificate(account.id, digest, self._clock(), audit):
            raise CAError(ErrorKind.REJECTED, f"account {name!r} is disabled")
        return await self._get(name)

    async def disable(self, name: str, requester: Requester) -> Account:
        """Its token and certificate stop working. Raises CAError: UNAUTHORIZED, NOT_FOUND,
        REJECTED (disabled already)."""
        _require_admin(requester)
        account = await self._enabled(name)
        audit = AuditEvent(requester.actor, "account.disable", name)
        if not await self._store.disable(account.id, self._clock(), audit):
            raise CAError(ErrorKind.REJECTED, f"account {name!r} is disabled")
        return await self._get(name)

    async def all(self, requester: Requester) -> list[Account]:
        """Every account, by name. Raises CAError(UNAUTHORIZED)."""
        _require_admin(requester)
        return [_account(row) for row in await self._store.all()]

    async def authenticate_token(self, token: str) -> Account | None:
        """The enabled account whose token this is, or None."""
        row = await self._store.by_token(token_digest(token))
        return _account(row) if row is not None and row.disabled_at is None else None

    async def authenticate_certificate(self, der: bytes) -> Account | None:
        """The enabled account bound to this client certificate (DER), or None, also when
        the certificate is no longer good. The TLS layer has checked its chain to the CA."""
        row = await self._store.by_certificate(hashlib.sha256(der).digest())
        if row is None or row.disabled_at is not None:
            return None
        return _account(row) if await self._good_certificate(der) else None

    async def _good_certificate(self, der: bytes) -> bool:
        """This very certificate is in the registry, good and within its validity."""
        try:
            serial = serial_text(x509.load_der_x509_certificate(der).serial_number)
        except ValueError:
            return False
        record = await self._registry.get_certificate(serial)
        now = self._clock()
        return (
            record is not None
            and record.der is not None
            and hmac.compare_digest(record.der, der)
            and record.status is CertificateStatus.GOOD
            and record.not_before <= now < record.not_after
        )

    async def _get(self, name: str) -> Account:
        row = await self._store.by_name(name)
        if row is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no account named {name!r}")
        return _account(row)

    async def _enabled(self, name: str) -> Account:
        account = await self._get(name)
        if account.disabled_at is not None:
            raise CAError(ErrorKind.REJECTED, f"account {name!r} is disabled")
        return account
