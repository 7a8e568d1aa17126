"""Certificates for the staff: search, detail with history, and an officer's revocation,
suspension and resumption, seen through the public look-up."""

from __future__ import annotations

from server.accounts import Role
from tests.unit.web.api_home import Served

GROUNDS = {"grounds": "the holder's letter of 2026-11-01"}


async def public_status(served: Served, serial: str) -> str:
    return (await served.api.call("GET", f"/public/certificates/{serial}", 200))["status"]


async def test_search_by_status_profile_and_subject_in_pages(served: Served) -> None:
    token = served.seed.tokens[Role.AUDITOR]
    found = await served.api.call(
        "GET", "/certificates", 200, token=token, params={"profile": "tls-client"}
    )
    everything = [c["serial"] for c in found["certificates"]]
    assert sorted(everything) == sorted(served.seed.serials) and found["next"] is None
    page = await served.api.call(
        "GET", "/certificates", 200, token=token, params={"profile": "tls-client", "limit": "2"}
    )
    assert [c["serial"] for c in page["certificates"]] == everything[:2]
    rest = await served.api.call(
        "GET", "/certificates", 200, token=token,
        params={"profile": "tls-client", "limit": "2", "after": page["next"]},
    )  # fmt: skip
    assert [c["serial"] for c in rest["certificates"]] == everything[2:]
    assert rest["next"] is None
    named = await served.api.call(
        "GET", "/certificates", 200, token=token, params={"subject": "DEVICE-1"}
    )
    assert [c["subject"] for c in named["certificates"]] == ["CN=device-1,O=Plant"]
    wild = await served.api.call("GET", "/certificates", 200, token=token, params={"subject": "%"})
    assert wild["certificates"] == []  # a LIKE wildcard is taken literally
    revoked = await served.api.call(
        "GET", "/certificates", 200, token=token, params={"status": "revoked"}
    )
    assert revoked["certificates"] == []
    for bad in ({"status": "lost"}, {"limit": "0"}, {"limit": "x"}, {"after": "zz"}):
        await served.api.call("GET", "/certificates", 400, token=token, params=bad)


async def test_revoke_suspend_resume_through_the_api(signing: Served) -> None:
    api, officer = signing.api, signing.seed.tokens[Role.OFFICER]
    held, revoked = signing.seed.serials[0], signing.seed.serials[1]

    changed = await api.call(
        "POST", f"/certificates/{held}/suspend", 200, token=officer, body=GROUNDS
    )
    assert changed["status"] == "hold" and await public_status(signing, held) == "hold"
    await api.call("POST", f"/certificates/{held}/suspend", 409, token=officer, body=GROUNDS)
    await api.call("POST", f"/certificates/{held}/resume", 200, token=officer,
                   body={"grounds": "found again", "basis": "holder_request"})  # fmt: skip
    assert await public_status(signing, held) == "good"

    body = {"reason": "keyCompromise", "invalidity_date": "2026-01-02T03:04:05Z",
            "basis": "ca_decision", "grounds": "compromise report 17"}  # fmt: skip
    await api.call("POST", f"/certificates/{revoked}/revoke", 200, token=officer, body=body)
    assert await public_status(signing, revoked) == "revoked"
    again = await api.call("POST", f"/certificates/{revoked}/revoke", 409, token=officer, body=body)
    assert again["error"] == "already-revoked"
    listed = await api.call("GET", "/public/revoked", 200)
    assert [(e["serial"], e["reason"]) for e in listed["revoked"]] == [(revoked, "keyCompromise")]

    detail = await api.call(
        "GET", f"/certificates/{held}", 200, token=signing.seed.tokens[Role.OPERATOR]
    )
    assert [(h["change"], h["actor"], h["grounds"]) for h in detail["history"]] == [
        ("issue", "test", None),
        ("hold", "api:officer", GROUNDS["grounds"]),
        ("release", "api:officer", "found again"),
    ]
    assert detail["history"][2]["basis"] == "holder_request"


async def test_refusals_of_a_status_change(signing: Served) -> None:
    api, officer = signing.api, signing.seed.tokens[Role.OFFICER]
    serial = signing.seed.serials[2]
    unknown = await api.call(
        "POST", "/certificates/abcdef/suspend", 404, token=officer, body=GROUNDS
    )
    assert unknown["error"] == "not-found"
    await api.call("POST", f"/certificates/{serial}/resume", 409, token=officer, body=GROUNDS)
    bad_bodies: list[object] = [
        {},
        {"reason": "keyCompromise"},
        {"reason": "keyCompromise", "grounds": ""},
        {"reason": "lostIt", "grounds": "x"},
        {"reason": "certificateHold", "grounds": "x"},
        {"reason": "keyCompromise", "grounds": "x", "invalidity_date": "yesterday"},
        {"reason": "keyCompromise", "grounds": "x", "invalidity_date": "2999-01-01T00:00:00Z"},
        {"reason": "keyCompromise", "grounds": "x", "basis": "whim"},
        {"reason": "keyCompromise", "grounds": "x", "comment": "unknown field"},
        {"reason": "keyCompromise", "grounds": "x" * 1001},
        ["keyCompromise"],
    ]
    for body in bad_bodies:
        answer = await api.call(
            "POST", f"/certificates/{serial}/revoke", 400, token=officer, body=body
        )
        assert answer["error"] == "malformed", body
    await api.call("POST", f"/certificates/{serial}/revoke", 400, token=officer, data=b"{")
    assert await public_status(signing, serial) == "good"


async def test_k4_the_api_refuses_to_revoke_the_cas_own_certificates(signing: Served) -> None:
    """POST .../revoke and .../suspend of the CA certificate and the OCSP responder's: 403,
    naming the CA key change procedure; the certificate's history stays as it was."""
    api, officer = signing.api, signing.seed.tokens[Role.OFFICER]
    generation = await signing.ca.authority.generation()
    responder = await signing.ca.registry.ocsp_responder(generation.id)
    assert responder is not None
    procedure = ("the ordinary revocation does not apply to the CA's own certificates; CA key "
                 "compromise is handled by the CA key change procedure (README: The CA's own "
                 "certificates)")  # fmt: skip
    for serial, what in ((generation.serial, f"the CA certificate of generation {generation.id}"),
                         (responder[0], "an OCSP responder certificate of generation "
                                        f"{generation.id}")):  # fmt: skip
        before = await api.call("GET", f"/certificates/{serial}", 200, token=officer)
        for action, body in (("revoke", {"reason": "cACompromise", "basis": "ca_decision",
                                         "grounds": "key found on a stolen laptop"}),
                             ("suspend", GROUNDS)):  # fmt: skip
            answer = await api.call("POST", f"/certificates/{serial}/{action}", 403,
                                    token=officer, body=body)  # fmt: skip
            message = f"certificate {serial} is {what}: {procedure}"
            assert answer == {"error": "forbidden", "message": message}
        after = await api.call("GET", f"/certificates/{serial}", 200, token=officer)
        assert after == before and after["status"] == "good"
