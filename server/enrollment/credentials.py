"""One-time enrollment credentials: what an operator hands a device or person so that it can
enroll once, for one profile and one subject (D2: the subject comes from the credential,
not from the request).

A credential may also allow subjectAltName entries (DNS names, IP addresses, e-mail
addresses); a request naming any entry it does not allow is refused, so a code made for
one server cannot certify another's name.

The id is public (EST Basic user name, CMP sender reference); the secret is shown once, at
creation, and only a salted SHA-256 of it is kept. The secret is not stored but derived: an
HMAC of the id under a key derived from the CA home's own secret (`hsm.pin_env` /
`pin_file`), 192 bits. CMP's MAC protection (RFC 4210 5.1.3.1, RFC 9481) needs the shared
secret itself to check a message, so the server derives it again rather than keeping
secrets readable in the registry. The CA makes every secret, so a fast hash is as safe as a
slow one would be: there is no guessable password to protect, and enrollment is not slowed
by a deliberately costly hash. A wrong id, a wrong
secret, an expired or used credential are one and the same refusal, and cost the same time,
so nothing can be learnt by probing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config import Settings
from protocols.x509 import csr as csr_codec
from protocols.x509 import names
from server.clock import Clock, utc_now
from server.errors import CAError, ErrorKind
from server.ra import registered_issuance
from server.registry import AuditEvent, interfaces
from server.registry.records import CredentialRow
from server.request_checks import SubjectAltNames, check_alt_name_types, parse_request

REFUSAL = "invalid or used enrollment credentials"
NO_ALT_NAMES = SubjectAltNames(dns=[], ips=[], emails=[])
_DNS_NAME = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)


@dataclass(frozen=True)
class EnrollmentCredential:
    id: str
    profile: str
    subject: list[tuple[str, str]]
    expires_at: datetime
    alt_names: SubjectAltNames = NO_ALT_NAMES
    subscriber_id: str | None = None
    application_id: str | None = None  # approved already: its enrollment never waits
    spent: bool = False  # a certificate was issued with it


def check_requested_names(
    credential: EnrollmentCredential, csr_data: bytes | csr_codec.CSR
) -> None:
    """D2: the request's subject is empty (the credential's is used) or the credential's,
    and every subjectAltName entry it asks for is one the credential allows.

    Raises CAError: REJECTED, MALFORMED / BAD_POP (not a request with a valid signature)."""
    request = csr_data if isinstance(csr_data, csr_codec.CSR) else parse_request(csr_data)
    requested = list(request.subject)
    if requested and sorted(requested) != sorted(credential.subject):
        raise CAError(
            ErrorKind.REJECTED, "the request's subject differs from the one this credential allows"
        )
    allowed = credential.alt_names
    asked = (
        ("DNS name", [name.lower() for name in request.dns_names], allowed.dns),
        ("IP address", [str(ipaddress.ip_address(ip)) for ip in request.ip_addresses], allowed.ips),
        ("e-mail address", list(request.emails), allowed.emails),
    )
    for kind, values, permitted in asked:
        for value in values:
            if value not in permitted:
                raise CAError(
                    ErrorKind.REJECTED, f"this credential does not allow the {kind} {value}"
                )


def _checked_alt_names(
    alt_names: SubjectAltNames, profile: str, san_types: tuple[str, ...]
) -> SubjectAltNames:
    """The entries in canonical form (DNS lower case, IP addresses as Python writes them).
    Raises CAError(REJECTED) for a malformed entry or a type the profile does not take."""
    check_alt_name_types(alt_names, san_types, profile)
    dns = [name.lower() for name in alt_names.dns]
    for name in dns:
        if len(name) > 253 or not _DNS_NAME.fullmatch(name):
            raise CAError(ErrorKind.REJECTED, f"not a DNS name: {name!r}")
    try:
        ips = [str(ipaddress.ip_address(ip)) for ip in alt_names.ips]
    except ValueError as exc:
        raise CAError(ErrorKind.REJECTED, str(exc)) from None
    for email in alt_names.emails:
        local, at, domain = email.partition("@")
        if not (local and at and _DNS_NAME.fullmatch(domain.lower())):
            raise CAError(ErrorKind.REJECTED, f"not an e-mail address: {email!r}")
    return SubjectAltNames(dns=dns, ips=ips, emails=list(alt_names.emails))


def _alt_names_json(alt_names: SubjectAltNames) -> str:
    return json.dumps({"dns": alt_names.dns, "ip": alt_names.ips, "email": alt_names.emails})


def _alt_name_counts(alt_names: SubjectAltNames) -> dict[str, int]:
    return {"dns": len(alt_names.dns), "ip": len(alt_names.ips), "email": len(alt_names.emails)}


def _alt_names_from_json(text: str) -> SubjectAltNames:
    data = json.loads(text)
    return SubjectAltNames(
        dns=data.get("dns", []), ips=data.get("ip", []), emails=data.get("email", [])
    )


def _credential(row: CredentialRow) -> EnrollmentCredential:
    return EnrollmentCredential(
        row.id,
        row.profile,
        names.parse_dn(row.subject),
        row.expires_at,
        _alt_names_from_json(row.alt_names),
        row.subscriber_id,
        row.application_id,
        row.used_serial is not None,
    )


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


def derivation_key(home_secret: str) -> bytes:
    """The key enrollment secrets are derived under (HKDF-SHA256 of the home's secret)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"pki-ca enrollment secrets v1"
    ).derive(home_secret.encode("utf-8"))


class EnrollmentCredentials:
    def __init__(
        self,
        settings: Settings,
        registry: interfaces.Credentials,
        derivation_key: Callable[[], bytes],
        clock: Clock = utc_now,
    ):
        """`derivation_key` is called when a secret is first made or derived (commands
        that never touch credentials need not read the home's secret)."""
        self._settings = settings
        self._store = registry.credentials
        self._derivation_key = derivation_key
        self._clock = clock

    def mac_secret(self, credential: EnrollmentCredential) -> bytes:
        """The shared secret of a credential, as the client holds it: CMP MAC key material."""
        return self._secret(credential.id).encode("utf-8")

    def _secret(self, credential_id: str) -> str:
        digest = hmac.digest(self._derivation_key(), credential_id.encode("utf-8"), "sha256")
        return base64.urlsafe_b64encode(digest[:24]).decode("ascii")

    async def find_each(self, credential_ids: Sequence[str]) -> dict[str, EnrollmentCredential]:
        """The credentials of those ids that exist, usable or not, by id, in one read (CMP
        finds one by senderKID and the sender's name, then checks the message's MAC with
        `mac_secret`)."""
        if not credential_ids:
            return {}
        return {row.id: _credential(row) for row in await self._store.get_each(credential_ids)}

    async def listing(
        self, unused_only: bool = True, limit: int = 100
    ) -> list[tuple[EnrollmentCredential, str | None]]:
        """The newest credentials with the serial each was used for (None: not yet);
        never their secrets."""
        rows = await self._store.listing(unused_only, limit)
        return [(_credential(row), row.used_serial) for row in rows]

    async def create(
        self,
        profile: str,
        subject: str,
        valid_for: timedelta,
        actor: str,
        alt_names: SubjectAltNames = NO_ALT_NAMES,
        subscriber_id: str | None = None,
        application_id: str | None = None,
    ) -> tuple[EnrollmentCredential, str]:
        """A new credential and its secret (shown once), allowing `alt_names`, for the
        subscriber `subscriber_id` if given. With `application_id`, it is that
        application's credential, and storing it approves the application, in the same
        transaction (server/registry/credential_store.py).

        Raises CAError: FORBIDDEN (a profile with personal identifiers, without an
        application: server/ra/registered_issuance.py); REJECTED (an unknown profile, a
        subject or subjectAltName entry the profile would refuse to certify, an application
        no longer waiting for a decision)."""
        if profile not in self._settings.profiles:
            raise CAError(ErrorKind.REJECTED, f"no certificate profile named {profile!r}")
        registered_issuance.check_credential(
            profile, self._settings.profiles[profile], subscriber_id, application_id
        )
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
        alt_names = _checked_alt_names(
            alt_names, profile, self._settings.profiles[profile].san_types
        )
        now = self._clock()
        credential_id = f"ec-{secrets.token_hex(8)}"
        secret = self._secret(credential_id)
        salt = secrets.token_bytes(16)
        row = CredentialRow(
            id=credential_id,
            secret_hash=_hash(secret, salt),
            salt=salt,
            profile=profile,
            subject=names.format_dn(attributes),
            expires_at=now + valid_for,
            claimed_at=None,
            used_serial=None,
            alt_names=_alt_names_json(alt_names),
            subscriber_id=subscriber_id,
            application_id=application_id,
        )
        audit = AuditEvent(
            actor, "credential.create", row.id,
            # C1: neither the subject nor the e-mail addresses, only how many names of each
            # kind the code allows; the credential row holds them.
            {"profile": profile, "alt_names": _alt_name_counts(alt_names),
             "expires_at": row.expires_at.isoformat(), "subscriber": subscriber_id,
             "application": row.application_id},
        )  # fmt: skip
        audits = [audit]
        if application_id is not None:
            approval: dict[str, object] = {"credential": row.id}
            audits.insert(0, AuditEvent(actor, "application.approve", application_id, approval))
        if not await self._store.add(row, actor, now, audits):
            raise CAError(
                ErrorKind.REJECTED, f"application {row.application_id} is not awaiting a decision"
            )
        credential = EnrollmentCredential(
            row.id, profile, attributes, row.expires_at, alt_names, subscriber_id,
            row.application_id,
        )  # fmt: skip
        return credential, secret

    async def verify(self, credential_id: str, secret: str) -> EnrollmentCredential:
        """The credential whose secret this is, whether or not it is still usable (a client
        repeating a request that awaits approval still holds a credential that is in use).

        Raises CAError(UNAUTHORIZED)."""
        row = await self._store.get(credential_id)
        salt = row.salt if row is not None else b"\0" * 16
        digest = _hash(secret, salt)  # computed whether or not the id exists
        if row is None or not hmac.compare_digest(digest, row.secret_hash):
            raise CAError(ErrorKind.UNAUTHORIZED, REFUSAL)
        return _credential(row)
