"""Subscribers (S1, P3, D1, D2, C1): registration with checked Russian identifiers, identity
records, the notice acknowledgement, and the subject made from the registry."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from server.enrollment.credentials import EnrollmentCredentials
from server.errors import CAError, ErrorKind
from server.ra.subscribers import NewIdentity, NewSubscriber, Subscribers
from tests.local_ca import LocalCA, ra_services

# Valid numbers (ru-profile.md section 2): SNILS 112-233-445 95, a person's INN, a legal
# entity's INN and OGRN, and an OGRNIP.
SNILS = "112-233-445 95"
PERSON_INN = "500100732259"
ENTITY_INN = "7707083893"
OGRN = "1027700132195"
OGRNIP = "304500116000157"
PASSPORT = NewIdentity("passport_rf", "4510 123456", "OVD Tverskoy, Moscow", date(2015, 3, 1))


def person(**changes: str) -> NewSubscriber:
    fields = {"kind": "individual", "surname": "Ivanov", "given_names": "Ivan Ivanovich",
              "snils": SNILS, "inn": PERSON_INN, "email": "ivanov@example.ru",
              "region": "77 Moscow", "locality": "Moscow"}  # fmt: skip
    return NewSubscriber(**{**fields, **changes})


@pytest.fixture
def subscribers(local_ca: LocalCA) -> Subscribers:
    credentials = EnrollmentCredentials(
        local_ca.settings, local_ca.registry, lambda: b"k" * 32, local_ca.clock
    )
    return ra_services(local_ca, credentials)[0]


def table(local_ca: LocalCA, sql: str) -> list[tuple]:
    path = local_ca.settings.registry_file
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


async def refused(coroutine) -> CAError:  # type: ignore[no-untyped-def]
    with pytest.raises(CAError) as caught:
        await coroutine
    return caught.value


async def test_each_kind_registers_with_its_identifiers_as_digits(
    subscribers: Subscribers,
) -> None:
    individual = await subscribers.register(person(), "op")
    assert (individual.snils, individual.inn, individual.name) == (
        "11223344595",
        PERSON_INN,
        "Ivanov Ivan Ivanovich",
    )
    entity = await subscribers.register(
        NewSubscriber("legal_entity", name="OOO Romashka", inn=ENTITY_INN, ogrn=OGRN), "op"
    )
    assert (entity.kind, entity.inn, entity.ogrn, entity.snils) == (
        "legal_entity",
        ENTITY_INN,
        OGRN,
        None,
    )
    proprietor = await subscribers.register(
        person(kind="sole_proprietor", snils="08765430300", ogrnip=OGRNIP), "op"
    )
    assert proprietor.ogrnip == OGRNIP
    assert (await subscribers.get(individual.id)) == individual


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (person(snils="112-233-445 96"), "snils"),  # a check digit off by one
        (person(inn="500100732258"), "inn"),
        (person(inn=ENTITY_INN), "inn"),  # a person's INN has 12 digits
        (person(ogrn=OGRN), "ogrn"),  # not a person's identifier
        (person(snils=""), "snils"),  # a person must have one
        (person(surname=""), "surname"),
        (person(kind="sole_proprietor"), "ogrnip"),  # a proprietor must have one
        (person(kind="sole_proprietor", ogrnip="304500116000158"), "ogrnip"),
        (NewSubscriber("legal_entity", name="X", inn=ENTITY_INN, ogrn="1027700132196"), "ogrn"),
        (NewSubscriber("legal_entity", name="X", inn=PERSON_INN, ogrn=OGRN), "inn"),
        (NewSubscriber("legal_entity", name="X", inn=ENTITY_INN, ogrn=OGRN, snils=SNILS), "snils"),
        (NewSubscriber("legal_entity", inn=ENTITY_INN, ogrn=OGRN), "name"),
        (person(kind="company"), "kind"),
        (person(country="Russia"), "country"),
    ],
)
async def test_a_bad_field_is_refused_by_name_and_nothing_is_stored(
    subscribers: Subscribers, local_ca: LocalCA, data: NewSubscriber, field: str
) -> None:
    error = await refused(subscribers.register(data, "op"))
    assert error.kind is ErrorKind.MALFORMED
    assert error.message.startswith(f"{field}: ")
    for value in (data.snils, data.inn, data.ogrn, data.ogrnip):
        assert not value or value not in error.message  # personal data are never echoed (C1)
    assert table(local_ca, "SELECT COUNT(*) FROM subscribers") == [(0,)]
    assert table(local_ca, "SELECT COUNT(*) FROM outbox_events") == [(0,)]


async def test_a_registered_snils_or_ogrn_cannot_be_registered_twice(
    subscribers: Subscribers, local_ca: LocalCA
) -> None:
    await subscribers.register(person(), "op")
    error = await refused(subscribers.register(person(surname="Petrov"), "op"))
    assert (error.kind, error.message) == (
        ErrorKind.DUPLICATE,
        "a subscriber with this SNILS is registered already",
    )
    entity = NewSubscriber("legal_entity", name="A", inn=ENTITY_INN, ogrn=OGRN)
    await subscribers.register(entity, "op")
    assert (await refused(subscribers.register(entity, "op"))).kind is ErrorKind.DUPLICATE
    assert table(local_ca, "SELECT COUNT(*) FROM subscribers") == [(2,)]


async def test_registration_reports_to_the_outbox_and_audits_without_personal_data(
    subscribers: Subscribers, local_ca: LocalCA
) -> None:
    row = await subscribers.register(person(), "op")
    await subscribers.add_identity(row.id, PASSPORT, "op")
    events = table(local_ca, "SELECT kind, payload FROM outbox_events")
    assert events == [("subscriber.registered",
                       f'{{"kind":"individual","subscriber_id":"{row.id}"}}')]  # fmt: skip
    audit = table(local_ca, "SELECT action, target, details FROM audit_log")
    assert [(action, target) for action, target, _ in audit][-2:] == [
        ("subscriber.register", row.id),
        ("subscriber.identify", row.id),
    ]
    text = repr(audit)
    for secret in ("11223344595", PERSON_INN, "4510 123456", "Ivanov"):
        assert secret not in text


async def test_a_proxy_needs_a_power_of_attorney_and_dates_are_checked(
    subscribers: Subscribers, local_ca: LocalCA
) -> None:
    row = await subscribers.register(person(), "op")
    cases = [
        (
            NewIdentity("passport_rf", "1", "x", date(2015, 1, 1), "proxy", "Petrov P."),
            "poa_number",
        ),
        (
            NewIdentity(
                "passport_rf",
                "1",
                "x",
                date(2015, 1, 1),
                "in_person",
                None,
                "77 AA 1",
                date(2026, 1, 1),
            ),
            "proxy_name",
        ),
        (NewIdentity("passport_rf", "1", "x", date(2027, 1, 1)), "document_date"),
        (NewIdentity("driving_licence", "1", "x", date(2015, 1, 1)), "document_type"),
        (NewIdentity("passport_rf", " ", "x", date(2015, 1, 1)), "document_number"),
    ]
    for data, field in cases:
        error = await refused(subscribers.add_identity(row.id, data, "op"))
        assert error.message.startswith(f"{field}: "), error.message
    assert table(local_ca, "SELECT COUNT(*) FROM identity_records") == [(0,)]
    proxy = NewIdentity("foreign_passport", "75 1234567", "MID", date(2020, 5, 5), "proxy",
                        "Petrov Petr", "77 AA 1234567", date(2026, 11, 1))  # fmt: skip
    record = await subscribers.add_identity(row.id, proxy, "op-2")
    assert (record.presence, record.poa_number, record.verified_by) == (
        "proxy",
        "77 AA 1234567",
        "op-2",
    )
    assert await subscribers.identities(row.id) == [record]
    missing = await refused(subscribers.add_identity("sb-none", PASSPORT, "op"))
    assert missing.kind is ErrorKind.NOT_FOUND


async def test_nothing_is_issued_before_identity_and_the_notice(subscribers: Subscribers) -> None:
    row = await subscribers.register(person(), "op")
    error = await refused(subscribers.ready(row.id))
    assert "no identity record (P3)" in error.message
    await subscribers.add_identity(row.id, PASSPORT, "op")
    error = await refused(subscribers.ready(row.id))
    assert "has not acknowledged notice 1 (D1)" in error.message
    assert await subscribers.acknowledge_notice(row.id, "op") == "1"
    assert await subscribers.ready(row.id) == row


async def test_the_subject_comes_from_the_registry_in_the_profiles_order(
    subscribers: Subscribers,
) -> None:
    row = await subscribers.register(person(), "op")
    assert subscribers.subject_for(row, "person") == [
        ("CN", "Ivanov Ivan Ivanovich"), ("SN", "Ivanov"), ("GN", "Ivan Ivanovich"),
        ("emailAddress", "ivanov@example.ru"), ("SNILS", "11223344595"), ("INN", PERSON_INN),
        ("L", "Moscow"), ("ST", "77 Moscow"), ("C", "RU"),
    ]  # fmt: skip
    entity = await subscribers.register(
        NewSubscriber("legal_entity", name="OOO Romashka", inn=ENTITY_INN, ogrn=OGRN), "op"
    )
    subject = dict(subscribers.subject_for(entity, "organisation"))
    assert (subject["OGRN"], subject["INNLE"], subject["CN"]) == (OGRN, ENTITY_INN, "OOO Romashka")
    assert "INN" not in subject
    error = await refused(asyncify(subscribers.subject_for, entity, "person"))
    assert error.kind is ErrorKind.REJECTED and "SN, GN, SNILS" in error.message


async def asyncify(function, *args):  # type: ignore[no-untyped-def]
    return function(*args)
