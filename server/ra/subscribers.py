"""Subscribers of the registration authority (S1, P3, D1, D2, C1).

Theory of operation:
1. An operator registers a subscriber: a person (individual), a legal entity or a sole
   proprietor, with the Russian identifiers each kind carries, every one checked by its
   check digits (protocols/x509/ru_identifiers.py). A bad one is refused naming the field.
2. The operator records how the applicant's identity was established (P3): the document,
   who verified it, and whether the applicant came in person or sent a proxy with a power
   of attorney; and that the applicant acknowledged the conditions notice (D1).
3. Only then is anything issued for the subscriber, and the certificate's subject is
   built here from the registered data (D2), never from what a request claims.

Personal data (SNILS, document numbers) stay in the registry (C1): audit entries name the
subscriber's id, kind and what changed, not the values.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from config import Settings
from protocols.x509 import names, ru_identifiers
from server.clock import Clock
from server.enrollment.credentials import (
    NO_ALT_NAMES,
    EnrollmentCredential,
    EnrollmentCredentials,
)
from server.errors import CAError, ErrorKind
from server.ra import registered_issuance
from server.registry import AuditEvent, interfaces
from server.registry.records import IdentityRow, SubscriberRow, erased_refusal
from server.request_checks import SubjectAltNames


class SubscriberKind(enum.StrEnum):
    INDIVIDUAL = "individual"
    LEGAL_ENTITY = "legal_entity"
    SOLE_PROPRIETOR = "sole_proprietor"


class DocumentType(enum.StrEnum):
    PASSPORT_RF = "passport_rf"
    FOREIGN_PASSPORT = "foreign_passport"
    OTHER = "other"


class Presence(enum.StrEnum):
    IN_PERSON = "in_person"
    PROXY = "proxy"


@dataclass(frozen=True)
class NewSubscriber:
    """What an operator enters. `name` is the organisation's name (legal entity); for a
    person it defaults to "surname given_names"."""

    kind: str
    name: str | None = None
    surname: str | None = None
    given_names: str | None = None
    email: str | None = None
    snils: str | None = None
    inn: str | None = None
    ogrn: str | None = None
    ogrnip: str | None = None
    country: str = "RU"
    region: str | None = None
    locality: str | None = None
    street: str | None = None


@dataclass(frozen=True)
class NewIdentity:
    document_type: str
    document_number: str
    document_issuer: str
    document_date: date
    presence: str = Presence.IN_PERSON
    proxy_name: str | None = None
    poa_number: str | None = None
    poa_date: date | None = None


#: Which identifiers each kind must have (True), may have (False); others are refused.
_IDENTIFIERS: dict[SubscriberKind, dict[str, bool]] = {
    SubscriberKind.INDIVIDUAL: {"snils": True, "inn": False},
    SubscriberKind.SOLE_PROPRIETOR: {"snils": True, "inn": True, "ogrnip": True},
    SubscriberKind.LEGAL_ENTITY: {"inn": True, "ogrn": True},
}


def _refuse(field: str, reason: str) -> CAError:
    return CAError(ErrorKind.MALFORMED, f"{field}: {reason}")


def _text(field: str, value: str | None, upper: int, required: bool = False) -> str | None:
    value = value.strip() if value is not None else None
    if not value:
        if required:
            raise _refuse(field, "is required")
        return None
    if len(value) > upper:
        raise _refuse(field, f"is longer than {upper} characters")
    return value


def _identifier(kind: SubscriberKind, field: str, value: str | None) -> str | None:
    value = value.strip() if value else None
    if value is None:
        if _IDENTIFIERS[kind].get(field):
            raise _refuse(field, f"is required for a subscriber of kind {kind}")
        return None
    if field not in _IDENTIFIERS[kind]:
        raise _refuse(field, f"does not belong to a subscriber of kind {kind}")
    validate = {
        "snils": ru_identifiers.validate_snils,
        "ogrn": ru_identifiers.validate_ogrn,
        "ogrnip": ru_identifiers.validate_ogrnip,
        "inn": ru_identifiers.validate_innle
        if kind is SubscriberKind.LEGAL_ENTITY
        else ru_identifiers.validate_inn_attribute,
    }[field]
    try:
        return validate(value)
    except ru_identifiers.InvalidIdentifier as exc:
        raise _refuse(field, exc.reason) from None


def _enum(cls: type[enum.StrEnum], field: str, value: str) -> str:
    try:
        return cls(value).value
    except ValueError:
        raise _refuse(field, f"must be one of {', '.join(m.value for m in cls)}") from None


def checked_subscriber(data: NewSubscriber) -> NewSubscriber:
    """The data as it is stored: identifiers as digits, texts trimmed. Raises
    CAError(MALFORMED) naming the first bad field."""
    kind = SubscriberKind(_enum(SubscriberKind, "kind", data.kind))
    person = kind is not SubscriberKind.LEGAL_ENTITY
    surname = _text("surname", data.surname, 128, required=person)
    given_names = _text("given_names", data.given_names, 128, required=person)
    if not person and (surname or given_names):
        raise _refuse("surname", "a legal entity has a name, not a surname")
    name = _text("name", data.name, 256, required=not person) or f"{surname} {given_names}"
    country = (data.country or "").strip().upper()
    if len(country) != 2 or not country.isalpha():
        raise _refuse("country", "must be an ISO 3166 two-letter code")
    email = _text("email", data.email, 128)
    if email is not None and "@" not in email:
        raise _refuse("email", "is not an e-mail address")
    return NewSubscriber(
        kind=kind.value,
        name=name,
        surname=surname,
        given_names=given_names,
        email=email,
        snils=_identifier(kind, "snils", data.snils),
        inn=_identifier(kind, "inn", data.inn),
        ogrn=_identifier(kind, "ogrn", data.ogrn),
        ogrnip=_identifier(kind, "ogrnip", data.ogrnip),
        country=country,
        region=_text("region", data.region, 128),
        locality=_text("locality", data.locality, 128),
        street=_text("street", data.street, 256),
    )


def subject_attributes(subscriber: SubscriberRow) -> dict[str, str]:
    """Every subject attribute (names.py short names) the registered data gives (D2)."""
    legal = subscriber.kind == SubscriberKind.LEGAL_ENTITY
    values = {
        "CN": subscriber.name,
        "SN": subscriber.surname,
        "GN": subscriber.given_names,
        "O": subscriber.name if legal else None,
        "emailAddress": subscriber.email,
        "SNILS": subscriber.snils,
        "INN": None if legal else subscriber.inn,
        "INNLE": subscriber.inn if legal else None,
        "OGRN": subscriber.ogrn,
        "OGRNIP": subscriber.ogrnip,
        "street": subscriber.street,
        "L": subscriber.locality,
        "ST": subscriber.region,
        "C": subscriber.country,
    }
    return {name: value for name, value in values.items() if value}


class Subscribers:
    def __init__(
        self,
        settings: Settings,
        registry: interfaces.Subscribers,
        credentials: EnrollmentCredentials,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._store = registry.subscribers
        self._credentials = credentials
        self._clock = clock

    async def register(self, data: NewSubscriber, actor: str) -> SubscriberRow:
        """Raises CAError: MALFORMED (naming the field), DUPLICATE (the SNILS, OGRN or
        OGRNIP is another subscriber's)."""
        checked = checked_subscriber(data)
        assert checked.name is not None
        row = SubscriberRow(
            id=f"sb-{secrets.token_hex(8)}",
            kind=checked.kind,
            name=checked.name,
            surname=checked.surname,
            given_names=checked.given_names,
            email=checked.email,
            snils=checked.snils,
            inn=checked.inn,
            ogrn=checked.ogrn,
            ogrnip=checked.ogrnip,
            country=checked.country,
            region=checked.region,
            locality=checked.locality,
            street=checked.street,
            registered_by=actor,
            registered_at=self._clock(),
        )
        audit = AuditEvent(actor, "subscriber.register", row.id, {"kind": row.kind})
        await self._store.add(row, audit)  # with its report to the outbox (D7)
        return row

    async def get(self, subscriber_id: str) -> SubscriberRow:
        """Raises CAError(NOT_FOUND)."""
        row = await self._store.get(subscriber_id)
        if row is None:
            raise CAError(ErrorKind.NOT_FOUND, f"no subscriber {subscriber_id}")
        return row

    async def listing(self, after: str = "", limit: int = 100) -> list[SubscriberRow]:
        return await self._store.listing(after, limit)

    async def add_identity(self, subscriber_id: str, data: NewIdentity, actor: str) -> IdentityRow:
        """Record how the identity was established (P3). Raises CAError: NOT_FOUND,
        MALFORMED (naming the field; a proxy needs a name and a power of attorney),
        REJECTED (the subscriber's personal data were erased, C1)."""
        await self.get(subscriber_id)
        presence = _enum(Presence, "presence", data.presence)
        proxy = presence == Presence.PROXY
        proxy_name = _text("proxy_name", data.proxy_name, 256, required=proxy)
        poa_number = _text("poa_number", data.poa_number, 64, required=proxy)
        if proxy and data.poa_date is None:
            raise _refuse("poa_date", "is required when a proxy comes")
        if not proxy and (proxy_name or poa_number or data.poa_date):
            raise _refuse("proxy_name", "only a proxy has a power of attorney")
        now = self._clock()
        if data.document_date > now.date():
            raise _refuse("document_date", "is in the future")
        row = IdentityRow(
            id=f"id-{secrets.token_hex(8)}",
            subscriber_id=subscriber_id,
            document_type=_enum(DocumentType, "document_type", data.document_type),
            document_number=_text("document_number", data.document_number, 64, True) or "",
            document_issuer=_text("document_issuer", data.document_issuer, 256, True) or "",
            document_date=data.document_date,
            presence=presence,
            proxy_name=proxy_name,
            poa_number=poa_number,
            poa_date=data.poa_date if proxy else None,
            verified_by=actor,
            verified_at=now,
        )
        audit = AuditEvent(actor, "subscriber.identify", subscriber_id,
                           {"record": row.id, "document_type": row.document_type,
                            "presence": row.presence})  # fmt: skip
        await self._store.add_identity(row, audit)
        return row

    async def identities(self, subscriber_id: str) -> list[IdentityRow]:
        await self.get(subscriber_id)
        return await self._store.identities(subscriber_id)

    async def acknowledge_notice(self, subscriber_id: str, actor: str) -> str:
        """Record that the applicant acknowledged the current conditions notice (D1);
        returns its version. Raises CAError: NOT_FOUND, REJECTED (the subscriber's personal
        data were erased, C1)."""
        await self.get(subscriber_id)
        version = self._settings.ra.notice_version
        audit = AuditEvent(actor, "subscriber.acknowledge", subscriber_id, {"notice": version})
        await self._store.acknowledge(subscriber_id, version, actor, self._clock(), audit)
        return version

    async def notice_status(self, subscriber_id: str) -> tuple[str, datetime | None]:
        """The current notice's version and when the subscriber acknowledged it (None:
        not yet). Raises CAError(NOT_FOUND)."""
        await self.get(subscriber_id)
        version = self._settings.ra.notice_version
        return version, await self._store.acknowledged(subscriber_id, version)

    async def ready(self, subscriber_id: str) -> SubscriberRow:
        """The subscriber, if a certificate may be issued for it: its identity established
        (P3) and the current notice acknowledged (D1). Raises CAError: NOT_FOUND,
        REJECTED (saying what is missing)."""
        subscriber = await self.get(subscriber_id)
        if not await self._store.identities(subscriber_id):
            raise CAError(
                ErrorKind.REJECTED, f"subscriber {subscriber_id} has no identity record (P3)"
            )
        version = self._settings.ra.notice_version
        if await self._store.acknowledged(subscriber_id, version) is None:
            raise CAError(
                ErrorKind.REJECTED,
                f"subscriber {subscriber_id} has not acknowledged notice {version} (D1)",
            )
        return subscriber

    def subject_for(self, subscriber: SubscriberRow, profile: str) -> list[tuple[str, str]]:
        """The subject of a certificate of `profile` for this subscriber, from the registry
        (D2), in the profile's attribute order. Raises CAError(REJECTED) when the profile
        requires an attribute the subscriber has not, or its personal data were erased
        (server/node/retention.py)."""
        if subscriber.erased_at is not None:
            raise erased_refusal(subscriber.id)
        if profile not in self._settings.profiles:
            raise CAError(ErrorKind.REJECTED, f"no certificate profile named {profile!r}")
        settings = self._settings.profiles[profile]
        available = subject_attributes(subscriber)
        missing = [a for a in settings.required_attributes if a not in available]
        if missing:
            raise CAError(
                ErrorKind.REJECTED,
                f"profile {profile!r} requires {', '.join(missing)}, which subscriber "
                f"{subscriber.id} has not",
            )
        return [(a, available[a]) for a in settings.subject_attributes if a in available]

    async def enrollment_credential(
        self,
        subscriber_id: str,
        profile: str,
        valid_for: timedelta,
        actor: str,
        alt_names: SubjectAltNames = NO_ALT_NAMES,
    ) -> tuple[EnrollmentCredential, str]:
        """A one-time enrollment credential (EST, CMP) whose certificate gets the
        subscriber's registered subject (D2); the subscriber must be `ready`. Returns it
        and its secret, shown once. Raises CAError: FORBIDDEN (a profile with personal
        identifiers: its code comes from approving an application), NOT_FOUND, REJECTED."""
        settings = self._settings.profiles.get(profile)
        if settings is not None:
            registered_issuance.check_credential(profile, settings, subscriber_id, None)
        subscriber = await self.ready(subscriber_id)
        subject = names.format_dn(self.subject_for(subscriber, profile))
        return await self._credentials.create(
            profile, subject, valid_for, actor, alt_names, subscriber_id=subscriber_id
        )
