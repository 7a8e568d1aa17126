"""Applications: the staff read them, an officer approves (the certificate is issued) or
rejects with a reason."""

from __future__ import annotations

from server.accounts import Role
from tests.unit.web.api_home import Served


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
