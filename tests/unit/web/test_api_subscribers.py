"""Subscribers through the API: an operator registers them (identifiers checked, refused by
field name, never echoed), records their identity and notice acknowledgement, and makes
them enrollment credentials whose certificate carries the registered subject (D2)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from server.accounts import Role
from tests.csr_factory import make_csr
from tests.unit.web.api_home import Served
from tests.unit.web.openapi_check import API

SNILS = "112-233-445 95"
SNILS_DIGITS = "11223344595"
PERSON_INN = "500100732259"
ENTITY_INN = "7707083893"
OGRN = "1027700132195"
OGRNIP = "304500116000157"

PERSON = {
    "kind": "individual", "surname": "Ivanov", "given_names": "Ivan Ivanovich",
    "snils": SNILS, "inn": PERSON_INN, "email": "ivanov@example.ru",
    "region": "77 Moscow", "locality": "Moscow",
}  # fmt: skip
ENTITY = {"kind": "legal_entity", "name": "OOO Romashka", "inn": ENTITY_INN, "ogrn": OGRN}
PASSPORT = {
    "document_type": "passport_rf",
    "document_number": "4510 123456",
    "document_issuer": "OVD Tverskoy, Moscow",
    "document_date": "2015-03-01",
}
BY_PROXY = {
    **PASSPORT,
    "presence": "proxy",
    "proxy_name": "Petrov Petr Petrovich",
    "poa_number": "77 AB 1234567",
    "poa_date": "2024-05-20",
}


async def register(api: API, token: str, body: dict[str, str] = PERSON) -> dict:
    return await api.call("POST", "/subscribers", 201, token=token, body=body)


async def ready_subscriber(api: API, token: str, body: dict[str, str] = PERSON) -> str:
    """A registered subscriber with an identity record and the notice acknowledged."""
    subscriber = await register(api, token, body)
    path = f"/subscribers/{subscriber['id']}"
    await api.call("POST", f"{path}/identity", 201, token=token, body=PASSPORT)
    await api.call("POST", f"{path}/acknowledgement", 200, token=token)
    return str(subscriber["id"])


async def test_register_read_and_list(served: Served) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    officer = served.seed.tokens[Role.OFFICER]
    person = await register(served.api, operator)
    assert (person["snils"], person["inn"], person["name"]) == (
        SNILS_DIGITS,
        PERSON_INN,
        "Ivanov Ivan Ivanovich",
    )
    assert person["country"] == "RU" and person["registered_by"] == "api:operator"
    assert person["ogrn"] is None and person["street"] is None
    entity = await register(served.api, operator, ENTITY)
    assert (entity["kind"], entity["ogrn"], entity["snils"]) == ("legal_entity", OGRN, None)
    proprietor = await register(
        served.api,
        operator,
        {**PERSON, "kind": "sole_proprietor", "snils": "08765430300", "ogrnip": OGRNIP},
    )
    assert proprietor["ogrnip"] == OGRNIP

    listed = await served.api.call("GET", "/subscribers", 200, token=officer)
    ids = sorted(s["id"] for s in (person, entity, proprietor))
    assert [s["id"] for s in listed["subscribers"]] == ids and listed["next"] is None
    first = await served.api.call("GET", "/subscribers", 200, token=officer, params={"limit": "2"})
    assert [s["id"] for s in first["subscribers"]] == ids[:2] and first["next"] == ids[1]
    rest = await served.api.call(
        "GET", "/subscribers", 200, token=officer, params={"limit": "2", "after": first["next"]}
    )
    assert [s["id"] for s in rest["subscribers"]] == ids[2:] and rest["next"] is None
    await served.api.call("GET", "/subscribers", 400, token=officer, params={"limit": "0"})

    detail = await served.api.call("GET", f"/subscribers/{person['id']}", 200, token=officer)
    assert {k: detail[k] for k in person} == person
    assert detail["identities"] == [] and detail["notice_acknowledged_at"] is None
    assert detail["notice_version"] == "1" and detail["ready"] is False
    assert "identity record" in detail["not_ready_reason"]
    await served.api.call("GET", "/subscribers/sb-unknown", 404, token=officer)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PERSON, "snils": "112-233-445 96"}, "snils"),  # a check digit off by one
        ({**PERSON, "inn": "500100732258"}, "inn"),
        ({**PERSON, "ogrn": OGRN}, "ogrn"),  # not a person's identifier
        ({**ENTITY, "ogrn": "1027700132196"}, "ogrn"),
        ({**PERSON, "kind": "sole_proprietor"}, "ogrnip"),  # a proprietor must have one
        ({**PERSON, "surname": " "}, "surname"),
        ({**PERSON, "snils": "1" * 40}, "snils"),  # longer than the schema allows
        ({**PERSON, "kind": "company"}, "kind"),
        ({**PERSON, "email": "nobody"}, "email"),
        ({**PERSON, "country": "R1"}, "country"),
    ],
)
async def test_a_bad_field_is_refused_by_name_and_nothing_is_stored(
    served: Served, body: dict[str, str], field: str
) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    answer = await served.api.call("POST", "/subscribers", 400, token=operator, body=body)
    assert answer["error"] == "malformed"
    assert answer["message"].removeprefix("body.").startswith(f"{field}: ")
    for value in (body.get("snils"), body.get("inn"), body.get("ogrn"), body.get("ogrnip")):
        assert not value or value not in answer["message"]  # personal data are not echoed
    listed = await served.api.call("GET", "/subscribers", 200, token=operator)
    assert listed["subscribers"] == []


async def test_an_unknown_field_or_no_kind_is_refused(served: Served) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    answer = await served.api.call(
        "POST", "/subscribers", 400, token=operator, body={**PERSON, "passport": "4510"}
    )
    assert "unknown field 'passport'" in answer["message"]
    del_kind = {k: v for k, v in PERSON.items() if k != "kind"}
    answer = await served.api.call("POST", "/subscribers", 400, token=operator, body=del_kind)
    assert answer["message"] == "body: kind is missing"


async def test_a_registered_snils_or_ogrn_is_a_conflict(served: Served) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    await register(served.api, operator)
    answer = await served.api.call(
        "POST", "/subscribers", 409, token=operator, body={**PERSON, "surname": "Petrov"}
    )
    assert answer == {
        "error": "duplicate",
        "message": "a subscriber with this SNILS is registered already",
    }
    await register(served.api, operator, ENTITY)
    await served.api.call("POST", "/subscribers", 409, token=operator, body=ENTITY)
    listed = await served.api.call("GET", "/subscribers", 200, token=operator)
    assert len(listed["subscribers"]) == 2


async def test_identity_records_and_the_notice_acknowledgement(served: Served) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    subscriber = await register(served.api, operator)
    path = f"/subscribers/{subscriber['id']}"

    record = await served.api.call("POST", f"{path}/identity", 201, token=operator, body=PASSPORT)
    assert {k: record[k] for k in PASSPORT} == PASSPORT
    assert (record["presence"], record["poa_number"], record["poa_date"]) == (
        "in_person",
        None,
        None,
    )
    assert record["subscriber_id"] == subscriber["id"] and record["verified_by"] == "api:operator"
    proxy = await served.api.call("POST", f"{path}/identity", 201, token=operator, body=BY_PROXY)
    assert (proxy["proxy_name"], proxy["poa_number"], proxy["poa_date"]) == (
        "Petrov Petr Petrovich",
        "77 AB 1234567",
        "2024-05-20",
    )

    refusals = [
        ({**BY_PROXY, "poa_number": None}, "body.poa_number"),  # null is not a string
        ({k: v for k, v in BY_PROXY.items() if k != "poa_number"}, "poa_number"),
        ({k: v for k, v in BY_PROXY.items() if k != "poa_date"}, "poa_date"),
        ({k: v for k, v in BY_PROXY.items() if k != "proxy_name"}, "proxy_name"),
        ({**PASSPORT, "poa_number": "77 AB 1"}, "proxy_name"),  # in person, with a power
        ({**PASSPORT, "document_date": "2015-3-1"}, "document_date"),
        ({**PASSPORT, "document_date": "20150301"}, "document_date"),
        ({**PASSPORT, "document_date": "2015-02-30"}, "document_date"),
        ({**BY_PROXY, "poa_date": "yesterday"}, "poa_date"),
        ({**PASSPORT, "document_date": "2999-01-01"}, "document_date"),  # in the future
        ({**PASSPORT, "document_type": "driving_licence"}, "body.document_type"),
        ({**PASSPORT, "presence": "video"}, "body.presence"),
    ]
    for body, field in refusals:
        answer = await served.api.call("POST", f"{path}/identity", 400, token=operator, body=body)
        assert answer["message"].startswith(f"{field}: "), (body, answer)
    await served.api.call(
        "POST", "/subscribers/sb-unknown/identity", 404, token=operator, body=PASSPORT
    )

    acknowledged = await served.api.call("POST", f"{path}/acknowledgement", 200, token=operator)
    assert acknowledged == {"subscriber_id": subscriber["id"], "notice_version": "1"}
    await served.api.call("POST", f"{path}/acknowledgement", 200, token=operator)  # again: kept
    await served.api.call("POST", "/subscribers/sb-unknown/acknowledgement", 404, token=operator)

    detail = await served.api.call("GET", path, 200, token=served.seed.tokens[Role.OFFICER])
    assert [i["id"] for i in detail["identities"]] == [record["id"], proxy["id"]]
    assert detail["identities"][1] == proxy
    assert detail["ready"] is True and detail["not_ready_reason"] is None
    acknowledged_at = datetime.fromisoformat(detail["notice_acknowledged_at"])
    assert abs(acknowledged_at - datetime.now(UTC)) < timedelta(minutes=5)


async def test_a_credential_needs_identity_and_acknowledgement(served: Served) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    subscriber = await register(served.api, operator)
    path = f"/subscribers/{subscriber['id']}"
    body = {"profile": "tls-client"}  # person: only by approving an application

    early = await served.api.call("POST", f"{path}/credentials", 409, token=operator, body=body)
    assert early["error"] == "rejected" and "identity record" in early["message"]
    await served.api.call("POST", f"{path}/identity", 201, token=operator, body=PASSPORT)
    unread = await served.api.call("POST", f"{path}/credentials", 409, token=operator, body=body)
    assert "notice" in unread["message"]
    detail = await served.api.call("GET", path, 200, token=operator)
    assert detail["ready"] is False and "notice" in detail["not_ready_reason"]
    await served.api.call("POST", f"{path}/acknowledgement", 200, token=operator)

    made = await served.api.call("POST", f"{path}/credentials", 201, token=operator, body=body)
    assert made["profile"] == "tls-client" and made["secret"]
    assert "CN=Ivanov Ivan Ivanovich" in made["subject"] and "SNILS" not in made["subject"]
    await served.api.call(
        "POST", f"{path}/credentials", 409, token=operator, body={"profile": "no-such"}
    )
    await served.api.call(
        "POST", f"{path}/credentials", 400, token=operator, body={"profile": "tls-client", "x": 1}
    )
    await served.api.call(
        "POST", "/subscribers/sb-unknown/credentials", 404, token=operator, body=body
    )


async def test_the_credential_enrolls_the_registered_subject(signing: Served) -> None:
    operator = signing.seed.tokens[Role.OPERATOR]
    subscriber_id = await ready_subscriber(signing.api, operator)
    made = await signing.api.call(
        "POST",
        f"/subscribers/{subscriber_id}/credentials",
        201,
        token=operator,
        body={"profile": "tls-client", "valid_hours": 2},
    )
    expires_at = datetime.fromisoformat(made["expires_at"])
    assert timedelta(hours=1.9) < expires_at - datetime.now(UTC) <= timedelta(hours=2)
    issued = await signing.ca.enrollment.enroll(
        made["id"], made["secret"], make_csr([]), "est:holder"
    )
    certificate = x509.load_der_x509_certificate(issued.der)
    (name,) = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert name.value == "Ivanov Ivan Ivanovich"  # the registered name (D2)


async def test_personal_data_stay_out_of_the_audit_trail_and_the_logs(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """At every level, DEBUG included: no log record quotes a query's parameters."""
    caplog.set_level(logging.DEBUG)
    operator = served.seed.tokens[Role.OPERATOR]
    subscriber_id = await ready_subscriber(served.api, operator)
    await served.api.call(
        "POST", f"/subscribers/{subscriber_id}/identity", 201, token=operator, body=BY_PROXY
    )
    trail = await served.api.call("GET", "/audit", 200, token=served.seed.tokens[Role.AUDITOR])
    text = json.dumps(trail) + caplog.text
    assert subscriber_id in json.dumps(trail)
    for value in (SNILS_DIGITS, PERSON_INN, "4510 123456", "77 AB 1234567", "Petrov"):
        assert value not in text
