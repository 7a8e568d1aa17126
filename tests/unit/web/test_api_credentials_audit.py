"""Enrollment credentials made by an operator, and the audit trail read by an auditor."""

from __future__ import annotations

import sqlite3

from server.accounts import Role
from tests.unit.web.api_home import Served
from tests.unit.web.test_api_subscribers import ready_subscriber


async def test_an_operator_makes_an_enrollment_credential(served: Served) -> None:
    api, operator = served.api, served.seed.tokens[Role.OPERATOR]
    body = {"profile": "tls-client", "subject": "CN=dev-9,O=Plant", "valid_hours": 2,
            "dns": ["Dev-9.example"]}  # fmt: skip
    made = await api.call("POST", "/credentials", 201, token=operator, body=body)
    credential = await served.ca.credentials.verify(made["id"], made["secret"])
    assert credential.profile == "tls-client" and credential.alt_names.dns == ["dev-9.example"]
    assert made["subject"] == "CN=dev-9,O=Plant"
    path = served.ca.settings.registry_file
    with sqlite3.connect(path) as db:
        audit = db.execute("SELECT actor, details FROM audit_log WHERE target = ?",
                           (made["id"],)).fetchall()  # fmt: skip
    assert [actor for actor, _ in audit] == ["api:operator"]
    assert made["secret"] not in audit[0][1]

    for bad in ({}, {"profile": "tls-client"}, {**body, "valid_hours": 0},
                {**body, "dns": "dev-9.example"}, {**body, "dns": [""]}, {**body, "x": 1},
                {**body, "valid_hours": True}):  # fmt: skip
        await api.call("POST", "/credentials", 400, token=operator, body=bad)
    refused = await api.call(
        "POST", "/credentials", 409, token=operator, body={**body, "profile": "nothing"}
    )
    assert refused["error"] == "rejected"
    await api.call("POST", "/credentials", 409, token=operator,
                   body={**body, "subject": "CN=x,SNILS=11223344595"})  # fmt: skip


async def test_an_auditor_reads_the_trail_in_pages_and_checks_its_chain(served: Served) -> None:
    api, auditor = served.api, served.seed.tokens[Role.AUDITOR]
    everything = await api.call("GET", "/audit", 200, token=auditor, params={"limit": "1000"})
    entries = everything["entries"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert everything["next"] is None
    created = [e for e in entries if e["action"] == "account.create"]
    assert [(e["actor"], e["target"], e["details"]["role"]) for e in created] == [
        ("test-seed", role.value, role.value) for role in Role
    ]
    first = await api.call("GET", "/audit", 200, token=auditor, params={"limit": "2"})
    second = await api.call(
        "GET", "/audit", 200, token=auditor, params={"limit": "2", "after": str(first["next"])}
    )
    assert first["entries"] + second["entries"] == entries[:4]
    report = await api.call("GET", "/audit/verify", 200, token=served.seed.tokens[Role.ADMIN])
    anchored = report.pop("checkpoint")
    assert report.pop("unanchored") == len(entries) - anchored["seq"]
    assert report == {
        "entries": len(entries), "intact": True, "first_broken_seq": None, "problem": None
    }  # fmt: skip
    await api.call("GET", "/audit", 400, token=auditor, params={"after": "-1"})


PERSON_DN = ("CN=Иванов Иван Иванович,SN=Иванов,GN=Иван Иванович,C=RU,SNILS=11223344595,"
             "INN=500100732259")  # fmt: skip
NOT_WITHOUT_APPLICATION = (
    "profile 'person' is issued only through an approved application: approve makes its "
    "enrollment code (register, identify, acknowledge, apply, approve)"
)


async def recorded(served: Served) -> tuple[int, int, int]:
    """(credentials, certificates, audit entries), read through the registry's interfaces."""
    registry = served.ca.registry
    credentials = await registry.credentials.listing(False, 1000)
    certificates = await registry.search.certificates(None, None, None, 1000, None)
    return len(credentials), len(certificates), (await registry.verify_audit_chain()).entries


async def test_d2_person_profile_refuses_unregistered_subject_api(served: Served) -> None:
    """POST /api/v1/credentials puts no name and no SNILS into a person certificate for
    nobody registered: 403 with the RA's route, nothing recorded."""
    api, operator = served.api, served.seed.tokens[Role.OPERATOR]
    before = await recorded(served)
    for profile, subject in (("person", PERSON_DN),
                             ("organisation", "CN=ООО Ромашка,O=ООО Ромашка,OGRN=1027700132195,"
                                              "INNLE=7707083893")):  # fmt: skip
        answer = await api.call("POST", "/credentials", 403, token=operator,
                                body={"profile": profile, "subject": subject})  # fmt: skip
        assert answer == {
            "error": "forbidden",
            "message": NOT_WITHOUT_APPLICATION.replace("'person'", repr(profile)),
        }
    assert await recorded(served) == before


async def test_d2_p3_person_profile_refuses_a_subscribers_code_without_application_api(
    served: Served,
) -> None:
    """POST /api/v1/subscribers/{id}/credentials for `person`: the code comes from approving
    an application, even for an identified subscriber who acknowledged the notice."""
    api, operator = served.api, served.seed.tokens[Role.OPERATOR]
    subscriber_id = await ready_subscriber(api, operator)
    before = await recorded(served)
    answer = await api.call("POST", f"/subscribers/{subscriber_id}/credentials", 403,
                            token=operator, body={"profile": "person"})  # fmt: skip
    assert answer == {"error": "forbidden", "message": NOT_WITHOUT_APPLICATION}
    assert await recorded(served) == before
