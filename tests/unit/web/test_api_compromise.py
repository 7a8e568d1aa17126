"""POST /api/v1/ca/generations/{n}/compromise (regulation K4): the officer's alone, with
grounds; the exact answers of its refusals, after which nothing changed, and of a
compromise declared. The refusals of the body's schema are tested apart."""

from __future__ import annotations

from config import load_settings
from server.accounts import Role
from server.web.api.common import PREFIX
from tests.unit.web.api_home import Served
from tests.unit.web.edge import registry_state

PATH = "/ca/generations/{n}/compromise"
GROUNDS = {"grounds": "the CA key's backup was found copied (incident report 7)"}


async def states(signing: Served) -> dict[int, str]:
    return {g.id: g.state for g in await signing.ca.registry.generations("demo")}


async def test_k4_compromise_needs_grounds_and_officer_role(signing: Served) -> None:
    api, officer = signing.api, signing.seed.tokens[Role.OFFICER]
    path = PATH.format(n=1)
    for role in (Role.OPERATOR, Role.AUDITOR, Role.ADMIN):
        answer = await api.call("POST", path, 403, token=signing.seed.tokens[role], body=GROUNDS)
        assert answer == {"error": "unauthorized", "message": f"the {role} role may not do this"}
    assert await api.call("POST", path, 401, body=GROUNDS)
    refusals: list[tuple[str, object, int, dict[str, str]]] = [
        (path, {"grounds": "  "}, 400,
         {"error": "malformed", "message": "a CA key compromise needs its grounds (K4)"}),
        (PATH.format(n=9), GROUNDS, 404,
         {"error": "not-found", "message": "no generation 9 of CA 'demo'"}),
        (PATH.format(n="x"), GROUNDS, 400,
         {"error": "malformed", "message": "the generation must be an integer"}),
    ]  # fmt: skip
    for where, body, status, expected in refusals:
        assert await api.call("POST", where, status, token=officer, body=body) == expected
    assert await states(signing) == {1: "active"}

    done = await api.call("POST", path, 200, token=officer, body=GROUNDS)
    new = await signing.ca.registry.active_generation("demo")
    assert new is not None and await states(signing) == {1: "compromised", new.id: "active"}
    first = (await signing.ca.registry.generations("demo"))[0]
    assert done == {"compromised_generation": 1, "new_generation": new.id,
                    "ca_certificate": new.serial, "revoked_ca_certificates": [first.serial],
                    "certificates": "revoke",
                    "certificates_count": done["certificates_count"]}  # fmt: skip
    assert done["certificates_count"] >= len(signing.seed.serials)
    for serial in signing.seed.serials:
        public = await api.call("GET", f"/public/certificates/{serial}", 200)
        assert public["status"] == "revoked"
    again = await api.call("POST", path, 409, token=officer, body=GROUNDS)
    assert again == {
        "error": "rejected",
        "message": "generation 1 of CA 'demo' is compromised, not active: only a live "
        "generation's key can be declared compromised; nothing was recorded",
    }
    [entry] = [e for e in await signing.ca.registry.search.audit_entries(1000, None)
               if e.action == "ca.generation.compromise"]  # fmt: skip
    assert entry.actor == "api:officer" and entry.details["grounds"] == GROUNDS["grounds"]


async def test_k4_compromise_bodies_the_schema_refuses_are_answered_exactly(
    signing: Served,
) -> None:
    """The request body's schema (CompromiseRequest: one string `grounds`, 1 to 1000
    characters, nothing else) refuses before anything is made: 400 `application/json`
    with the whole error body, the registry and the backend's keys as they were."""
    officer = signing.seed.tokens[Role.OFFICER]
    settings = load_settings(signing.home)
    key_dir = settings.resolve(settings.hsm.key_dir)  # the pristine home's (conftest.py)
    keys = sorted(key_dir.iterdir())
    before = await registry_state(signing.ca)
    refusals: list[tuple[object, str]] = [
        ({}, "body: grounds is missing"),
        ({"grounds": ""}, "body.grounds: must not be empty"),
        ({"grounds": "x" * 1001}, "body.grounds: longer than 1000 characters"),
        ({"grounds": "x", "more": 1}, "body: unknown field 'more'"),
    ]
    for body, message in refusals:
        response = await signing.api.client.post(
            f"{PREFIX}{PATH.format(n=1)}", json=body, headers={"Authorization": f"Bearer {officer}"}
        )
        assert (response.status, response.content_type) == (400, "application/json"), body
        assert await response.json() == {"error": "malformed", "message": message}
    assert await registry_state(signing.ca) == before
    assert await states(signing) == {1: "active"}
    assert sorted(key_dir.iterdir()) == keys
