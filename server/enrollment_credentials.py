"""One-time enrollment credentials: what an operator hands a device or person so that it can
enroll once, for one profile and one subject (D2: the subject comes from the credential,
not from the request).

The id is public (EST Basic user name, CMP sender reference); the secret is shown once, at
creation, and only a salted SHA-256 of it is kept. The CA makes every secret (192 random
bits), so a fast hash is as safe as a slow one would be: there is no guessable password to
protect, and enrollment is not slowed by a deliberately costly hash. A wrong id, a wrong
secret, an expired or used credential are one and the same refusal, and cost the same time,
so nothing can be learnt by probing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from config import Settings
from protocols.x509 import names
from server.authority import Clock, parse_request, utc_now
from server.errors import CAError, ErrorKind
from server.registry import AuditEvent, SQLiteRegistry
from server.registry.credential_store import CredentialRow

REFUSAL = "invalid or used enrollment credentials"


@dataclass(frozen=True)
class EnrollmentCredential:
    id: str
    profile: str
    subject: list[tuple[str, str]]
    expires_at: datetime


def check_requested_subject(credential: EnrollmentCredential, csr_data: bytes) -> None:
    """D2: the request's subject is empty (the credential's is used) or the credential's.

    Raises CAError: REJECTED, MALFORMED / BAD_POP (not a request with a valid signature)."""
    requested = list(parse_request(csr_data).subject)
    if requested and sorted(requested) != sorted(credential.subject):
        raise CAError(
            ErrorKind.REJECTED, "the request's subject differs from the one this credential allows"
        )


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


class EnrollmentCredentials:
    def __init__(self, settings: Settings, registry: SQLiteRegistry, clock: Clock = utc_now):
        self._settings = settings
        self._store = registry.credentials
        self._clock = clock

    async def create(
        self, profile: str, subject: str, valid_for: timedelta, actor: str
    ) -> tuple[EnrollmentCredential, str]:
        """A new credential and its secret (shown once). Raises CAError(REJECTED) for an
        unknown profile or a subject the profile would refuse to certify."""
        if profile not in self._settings.profiles:
            raise CAError(ErrorKind.REJECTED, f"no certificate profile named {profile!r}")
        try:
            attributes = names.parse_dn(subject)
            names.build_name(attributes)  # checks Russian identifiers' check digits too
        except ValueError as exc:
            raise CAError(ErrorKind.REJECTED, f"subject: {exc}") from None
        allowed = set(self._settings.profiles[profile].subject_attributes)
        for attribute, _ in attributes:
            if attribute not in allowed:
                raise CAError(
                    ErrorKind.REJECTED,
                    f"profile {profile!r} does not allow subject attribute {attribute}",
                )
        now = self._clock()
        secret = secrets.token_urlsafe(24)
        salt = secrets.token_bytes(16)
        row = CredentialRow(
            id=f"ec-{secrets.token_hex(8)}",
            secret_hash=_hash(secret, salt),
            salt=salt,
            profile=profile,
            subject=names.format_dn(attributes),
            expires_at=now + valid_for,
            claimed_at=None,
            used_serial=None,
        )
        audit = AuditEvent(
            actor, "credential.create", row.id,
            {"profile": profile, "subject": row.subject, "expires_at": row.expires_at.isoformat()},
        )  # fmt: skip
        await self._store.add(row, actor, now, audit)
        credential = EnrollmentCredential(row.id, profile, attributes, row.expires_at)
        return credential, secret

    async def claim(self, credential_id: str, secret: str) -> EnrollmentCredential:
        """Check the secret and hold the credential for one enrollment.

        Raises CAError(UNAUTHORIZED) with one message for every reason."""
        credential = await self.verify(credential_id, secret)
        await self.hold(credential)
        return credential

    async def verify(self, credential_id: str, secret: str) -> EnrollmentCredential:
        """The credential whose secret this is, whether or not it is still usable (a client
        repeating a request that awaits approval still holds a credential that is in use).

        Raises CAError(UNAUTHORIZED)."""
        row = await self._store.get(credential_id)
        salt = row.salt if row is not None else b"\0" * 16
        digest = _hash(secret, salt)  # computed whether or not the id exists
        if row is None or not hmac.compare_digest(digest, row.secret_hash):
            raise CAError(ErrorKind.UNAUTHORIZED, REFUSAL)
        return EnrollmentCredential(row.id, row.profile, names.parse_dn(row.subject),
                                    row.expires_at)  # fmt: skip

    async def hold(self, credential: EnrollmentCredential) -> None:
        """Hold a verified credential for one enrollment: only if unexpired, unused and not
        held already. Raises CAError(UNAUTHORIZED) otherwise."""
        if not await self._store.claim(credential.id, self._clock()):
            raise CAError(ErrorKind.UNAUTHORIZED, REFUSAL)

    async def release(self, credential_id: str) -> None:
        """The enrollment failed: the credential can be used again."""
        await self._store.release(credential_id)

    async def consume(self, credential_id: str, serial: str, actor: str) -> None:
        """The enrollment succeeded: the credential is spent."""
        audit = AuditEvent(actor, "credential.use", credential_id, {"serial": serial})
        await self._store.consume(credential_id, serial, self._clock(), audit)
