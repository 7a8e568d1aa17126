"""Applications: the staff read them, an officer approves (the certificate is issued) or
rejects with a reason; an operator submits them for registered subscribers, completes
them, and records who received the certificate; the overdue ones are listed (P4)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from server.accounts import Role
from server.web.api.common import time_text
from tests.csr_factory import make_csr
from tests.local_ca import Clock
from tests.unit.web.api_home import ClientFactory, Seed, Served, serve
from tests.unit.web.test_api_subscribers import (
    PASSPORT,
    PERSON_INN,
    SNILS_DIGITS,
    ready_subscriber,
    register,
)

SCAN = hashlib.sha256(b"passport scan").hexdigest()
FORM = hashlib.sha256(b"application form").hexdigest()


async def test_list_and_read_applications(served: Served) -> None:
    token = served.seed.tokens[Role.OPERATOR]
    listed = await served.api.call(
        "GET", "/applications", 200, token=token, params={"state": "submitted"}
    )
    assert [a["id"] for a in listed["applications"]] == served.seed.applications
    first = served.seed.applications[0]
    one = await served.api.call("GET", f"/applications/{first}", 200, token=token)
    assert one["subject"] == "CN=waiting-0,O=Plant" and one["submitted_by"] == "est:test"
    await served.api.call("GET", "/applications/ap-unknown", 404, token=token)
    await served.api.call("GET", "/applications", 400, token=token, params={"state": "lost"})


async def test_reject_with_a_reason(served: Served) -> None:
    officer = served.seed.tokens[Role.OFFICER]
    first = served.seed.applications[0]
    path = f"/applications/{first}/reject"
    await served.api.call("POST", path, 400, token=officer, body={})
    await served.api.call("POST", path, 400, token=officer, body={"reason": ""})
    rejected = await served.api.call(
        "POST", path, 200, token=officer, body={"reason": "documents missing"}
    )
    assert rejected["state"] == "rejected" and rejected["decided_by"] == "api:officer"
    assert rejected["reason"] == "documents missing"
    await served.api.call("POST", path, 409, token=officer, body={"reason": "again"})
    await served.api.call(
        "POST", "/applications/ap-unknown/reject", 404, token=officer, body={"reason": "x"}
    )


async def test_approve_issues_the_certificate(signing: Served) -> None:
    officer = signing.seed.tokens[Role.OFFICER]
    second = signing.seed.applications[1]
    approved = await signing.api.call("POST", f"/applications/{second}/approve", 200, token=officer)
    assert approved["application"]["state"] == "issued" and approved["credential"] is None
    serial = approved["serial"]
    public = await signing.api.call("GET", f"/public/certificates/{serial}", 200)
    assert public["subject"] == "CN=waiting-1,O=Plant" and public["status"] == "good"
    await signing.api.call("POST", f"/applications/{second}/approve", 409, token=officer)
    await signing.api.call("POST", "/applications/ap-unknown/approve", 404, token=officer)


# -- an operator's applications for registered subscribers ---------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def clocked(seed: Seed, aiohttp_client: ClientFactory, clock: Clock) -> AsyncIterator[Served]:
    """A signing CA whose clock the test moves."""
    async with serve(seed, aiohttp_client, signing=True, clock=clock) as running:
        yield running


def pem(der: bytes) -> str:
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM).decode()


async def test_submit_an_application_with_its_documents(served: Served) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    subscriber = await register(served.api, operator)
    body = {
        "subscriber_id": subscriber["id"],
        "profile": "person",
        "attachments": [
            {"name": "passport.pdf", "sha256": SCAN},
            {"name": "application.pdf", "sha256": FORM.upper()},
        ],
    }
    made = await served.api.call("POST", "/applications", 201, token=operator, body=body)
    assert (made["state"], made["profile"], made["submitted_by"]) == (
        "submitted",
        "person",
        "api:operator",
    )
    assert made["subscriber_id"] == subscriber["id"]
    assert made["attachments"] == [  # by name
        {"name": "application.pdf", "sha256": FORM},
        {"name": "passport.pdf", "sha256": SCAN},
    ]
    assert f"SNILS={SNILS_DIGITS}" in made["subject"] and f"INN={PERSON_INN}" in made["subject"]
    assert made["complete_at"] == made["submitted_at"] and made["due_at"] is not None
    submitted_at = datetime.fromisoformat(made["submitted_at"])
    assert made["due_at"] == time_text(served.ca.applications.due_date(submitted_at))
    assert made["register_check"].startswith("not checked against state registers")
    assert [made[k] for k in ("received_by", "received_proxy", "received_poa", "received_at")] == [
        None
    ] * 4
    path = f"/applications/{made['id']}"
    assert await served.api.call("GET", path, 200, token=served.seed.tokens[Role.OFFICER]) == made


async def test_a_bad_application_is_refused_and_not_stored(served: Served) -> None:
    operator = served.seed.tokens[Role.OPERATOR]
    subscriber = await register(served.api, operator)
    good = {"subscriber_id": subscriber["id"], "profile": "person"}
    refusals = [
        (400, {**good, "attachments": [{"name": "a.pdf", "sha256": "zz" * 32}]},
         "attachments[0].sha256: not 64 hexadecimal digits"),
        (400, {**good, "attachments": [{"name": "a.pdf", "sha256": "ab"}]},
         "body.attachments[0].sha256: too short"),
        (400, {**good, "attachments": [{"name": "a.pdf"}]},
         "body.attachments[0]: sha256 is missing"),
        (400, {**good, "attachments": [{"name": "a.pdf", "sha256": SCAN}] * 2}, "attachments: "),
        (400, {**good, "attachments": [{"name": " ", "sha256": SCAN}]}, "attachments: "),
        (400, {**good, "csr": "not a request"}, "not a PKCS#10 request"),
        (400, {**good, "complete": "yes"}, "body.complete: expected a boolean"),
        (404, {**good, "subscriber_id": "sb-unknown"}, "no subscriber sb-unknown"),
        (409, {**good, "profile": "no-such"}, "no certificate profile named 'no-such'"),
        (409, {**good, "profile": "organisation"}, "requires"),  # a person has no OGRN
    ]  # fmt: skip
    for status, body, message in refusals:
        answer = await served.api.call("POST", "/applications", status, token=operator, body=body)
        assert message in answer["message"], (body, answer)
    listed = await served.api.call("GET", "/applications", 200, token=operator)
    assert [a["id"] for a in listed["applications"]] == served.seed.applications


async def test_complete_and_overdue(clocked: Served, clock: Clock) -> None:
    operator = clocked.seed.tokens[Role.OPERATOR]
    subscriber = await register(clocked.api, operator)
    body = {"subscriber_id": subscriber["id"], "profile": "person"}
    waiting = await clocked.api.call(
        "POST", "/applications", 201, token=operator, body={**body, "complete": False}
    )
    assert (waiting["complete_at"], waiting["due_at"]) == (None, None)
    ready = await clocked.api.call("POST", "/applications", 201, token=operator, body=body)

    clock.advance(days=1)
    path = f"/applications/{waiting['id']}/complete"
    completed = await clocked.api.call("POST", path, 200, token=operator)
    assert completed["complete_at"] == time_text(clock.now)
    assert completed["due_at"] == time_text(clocked.ca.applications.due_date(clock.now))
    again = await clocked.api.call("POST", path, 409, token=operator)
    assert "complete already" in again["message"]
    await clocked.api.call("POST", "/applications/ap-unknown/complete", 404, token=operator)

    # "/applications/overdue" is its own route, not the application named "overdue".
    ours = {waiting["id"], ready["id"]}
    overdue = await clocked.api.call("GET", "/applications/overdue", 200, token=operator)
    assert not ours & {a["id"] for a in overdue["applications"]}
    clock.advance(days=30)
    for role in (Role.OPERATOR, Role.OFFICER, Role.AUDITOR):
        overdue = await clocked.api.call(
            "GET", "/applications/overdue", 200, token=clocked.seed.tokens[role]
        )
        listed = [a for a in overdue["applications"] if a["id"] in ours]
        assert {a["id"] for a in listed} == ours
        due = [a["due_at"] for a in overdue["applications"]]
        assert due == sorted(due)  # earliest due first
        withheld = role is Role.AUDITOR
        assert ("SNILS=***" in listed[0]["subject"]) is withheld
        assert (SNILS_DIGITS in json.dumps(overdue)) is not withheld
    everything = len(overdue["applications"])  # the seeded ones are overdue too
    assert everything == 2 + len(clocked.seed.applications)
    one = await clocked.api.call(
        "GET", "/applications/overdue", 200, token=operator, params={"limit": "1"}
    )
    assert len(one["applications"]) == 1
    await clocked.api.call(
        "GET", "/applications/overdue", 400, token=operator, params={"limit": "0"}
    )


async def test_handover_of_an_issued_certificate(clocked: Served, clock: Clock) -> None:
    operator = clocked.seed.tokens[Role.OPERATOR]
    subscriber_id = await ready_subscriber(clocked.api, operator)
    made = await clocked.api.call(
        "POST",
        "/applications",
        201,
        token=operator,
        body={"subscriber_id": subscriber_id, "profile": "person", "csr": pem(make_csr([]))},
    )
    path = f"/applications/{made['id']}/handover"
    holder = {"received_by": "holder"}
    early = await clocked.api.call("POST", path, 409, token=operator, body=holder)
    assert "is submitted" in early["message"]
    approved = await clocked.api.call(
        "POST", f"/applications/{made['id']}/approve", 200, token=clocked.seed.tokens[Role.OFFICER]
    )
    assert approved["application"]["state"] == "issued" and approved["serial"]
    public = await clocked.api.call("GET", f"/public/certificates/{approved['serial']}", 200)
    assert f"SNILS={SNILS_DIGITS}" in public["subject"]

    proxy = {"received_by": "proxy", "proxy_name": "Petrov Petr", "power_of_attorney": "77 AB 1"}
    for body in (
        {"received_by": "proxy", "proxy_name": "Petrov Petr"},
        {**holder, "proxy_name": "Petrov Petr", "power_of_attorney": "77 AB 1"},
        {"received_by": "courier"},
        {},
    ):
        await clocked.api.call("POST", path, 400, token=operator, body=body)
    clock.advance(hours=3)
    received = await clocked.api.call("POST", path, 200, token=operator, body=proxy)
    assert (received["received_by"], received["received_proxy"], received["received_poa"]) == (
        "proxy",
        "Petrov Petr",
        "77 AB 1",
    )
    assert received["received_at"] == time_text(clock.now) and received["state"] == "issued"
    again = await clocked.api.call("POST", path, 409, token=operator, body=holder)
    assert again["error"] == "rejected"
    await clocked.api.call(
        "POST", "/applications/ap-unknown/handover", 404, token=operator, body=holder
    )

    audited = await clocked.api.call(
        "GET", f"/applications/{made['id']}", 200, token=clocked.seed.tokens[Role.AUDITOR]
    )
    assert audited["received_by"] == "proxy" and audited["received_at"] == received["received_at"]
    assert (audited["received_proxy"], audited["received_poa"]) == (None, None)
    assert "SNILS=***" in audited["subject"] and "INN=***" in audited["subject"]
    assert audited["subject"].startswith("CN=***,SN=***,GN=***,")  # a person's name too
    for value in (SNILS_DIGITS, PERSON_INN, "77 AB 1", "Petrov", "Ivanov"):
        assert value not in json.dumps(audited)


async def test_approval_without_a_request_needs_a_ready_subscriber(signing: Served) -> None:
    operator, officer = signing.seed.tokens[Role.OPERATOR], signing.seed.tokens[Role.OFFICER]
    subscriber = await register(signing.api, operator)
    body = {"subscriber_id": subscriber["id"], "profile": "person"}
    made = await signing.api.call("POST", "/applications", 201, token=operator, body=body)
    path = f"/applications/{made['id']}/approve"
    early = await signing.api.call("POST", path, 409, token=officer)
    assert "identity record" in early["message"]
    subscriber_path = f"/subscribers/{subscriber['id']}"
    await signing.api.call(
        "POST", f"{subscriber_path}/identity", 201, token=operator, body=PASSPORT
    )
    await signing.api.call("POST", f"{subscriber_path}/acknowledgement", 200, token=operator)
    approved = await signing.api.call("POST", path, 200, token=officer)
    assert approved["application"]["state"] == "approved" and approved["credential"]["secret"]
