"""Who may call what: every endpoint refuses each role the issue does not give it (403)
and a caller with no or a bad credential (401); the public ones need nothing. The table
below is the issue's, written out independently of the server's route tables, and the
document must list exactly these operations with exactly these roles."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

from server.accounts import Role
from tests.unit.web.api_home import Served

OPERATOR, OFFICER, AUDITOR, ADMIN = Role.OPERATOR, Role.OFFICER, Role.AUDITOR, Role.ADMIN
EXPERT = Role.EXPERT
STAFF = {OPERATOR, OFFICER, AUDITOR}
CASE_READERS = {OPERATOR, OFFICER, AUDITOR, EXPERT}

PROTECTED: dict[tuple[str, str], set[Role]] = {
    ("GET", "/certificates"): STAFF,
    ("GET", "/certificates/{serial}"): STAFF,
    ("GET", "/certificates/{serial}/paper"): {OPERATOR, OFFICER},  # personal data on it
    ("POST", "/certificates/{serial}/revoke"): {OFFICER},
    ("POST", "/certificates/{serial}/suspend"): {OFFICER},
    ("POST", "/certificates/{serial}/resume"): {OFFICER},
    ("POST", "/ca/generations/{n}/compromise"): {OFFICER},
    # personal data: the operator and the officer only, never the auditor or the admin
    ("POST", "/subscribers"): {OPERATOR},
    ("GET", "/subscribers"): {OPERATOR, OFFICER},
    ("GET", "/subscribers/{id}"): {OPERATOR, OFFICER},
    ("POST", "/subscribers/{id}/identity"): {OPERATOR},
    ("POST", "/subscribers/{id}/acknowledgement"): {OPERATOR},
    ("POST", "/subscribers/{id}/credentials"): {OPERATOR},
    ("GET", "/applications"): STAFF,
    ("POST", "/applications"): {OPERATOR},
    ("GET", "/applications/overdue"): STAFF,
    ("GET", "/applications/{id}"): STAFF,
    ("POST", "/applications/{id}/approve"): {OFFICER},
    ("POST", "/applications/{id}/reject"): {OFFICER},
    ("POST", "/applications/{id}/complete"): {OPERATOR},
    ("POST", "/applications/{id}/handover"): {OPERATOR},
    ("POST", "/credentials"): {OPERATOR},
    # confirmation cases (8.2, V3): the report is written by the assigned expert only
    ("GET", "/confirmations"): CASE_READERS,
    ("POST", "/confirmations"): {OPERATOR, EXPERT},
    ("GET", "/confirmations/{id}"): CASE_READERS,
    ("POST", "/confirmations/{id}/assign"): {OFFICER},
    ("POST", "/confirmations/{id}/report"): {EXPERT},
    ("GET", "/confirmations/{id}/report"): {OPERATOR, OFFICER, EXPERT},  # no personal data
    ("GET", "/confirmations/{id}/report.pdf"): {OPERATOR, OFFICER, EXPERT},  # for the auditor
    ("GET", "/confirmations/{id}/report.p7s"): {OPERATOR, OFFICER, EXPERT},
    ("GET", "/accounts"): {ADMIN},
    ("POST", "/accounts"): {ADMIN},
    ("POST", "/accounts/{name}/token"): {ADMIN},
    ("POST", "/accounts/{name}/certificate"): {ADMIN},
    ("POST", "/accounts/{name}/disable"): {ADMIN},
    ("GET", "/audit"): {AUDITOR, ADMIN},
    ("GET", "/audit/verify"): {AUDITOR, ADMIN},
}
PUBLIC = {
    ("GET", "/public/certificates/{serial}"),
    ("GET", "/public/certificates/{serial}.der"),
    ("GET", "/public/certificates/{serial}.pem"),
    ("GET", "/public/certificates"),
    ("GET", "/public/revoked"),
    ("GET", "/openapi.json"),
}
REFUSED = [
    (method, template, role)
    for (method, template), allowed in PROTECTED.items()
    for role in Role
    if role not in allowed
]


def concrete(template: str) -> str:
    replaced = template.replace("{serial}", "1f").replace("{id}", "ap-0").replace("{name}", "x")
    return replaced.replace("{n}", "1")


def operations(served: Served) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in served.api.document.document["paths"].items()
        for method, operation in item.items()
    }


async def test_the_document_lists_exactly_these_operations_and_roles(served: Served) -> None:
    listed = operations(served)
    assert set(listed) == set(PROTECTED) | PUBLIC
    for key, roles in PROTECTED.items():
        assert listed[key]["x-roles"] == sorted(role.value for role in roles), key
        assert {"401", "403"} <= set(listed[key]["responses"]), key
    for key in PUBLIC:
        assert listed[key]["security"] == [] and "x-roles" not in listed[key], key


def test_no_subscriber_endpoint_is_open_to_the_auditor_or_the_admin() -> None:
    subscriber_endpoints = [key for key in PROTECTED if key[1].startswith("/subscribers")]
    assert len(subscriber_endpoints) == 6
    for key in subscriber_endpoints:
        assert PROTECTED[key] <= {OPERATOR, OFFICER}, key


@pytest.mark.parametrize(("method", "template", "role"), REFUSED,
                         ids=[f"{m} {t} {r}" for m, t, r in REFUSED])  # fmt: skip
async def test_a_role_not_given_the_endpoint_is_refused(
    served: Served, method: str, template: str, role: Role
) -> None:
    answer = await served.api.call(
        method, concrete(template), 403, token=served.seed.tokens[role], body={}
    )
    assert answer["error"] == "unauthorized" and role.value in answer["message"]


@pytest.mark.parametrize(("method", "template"), sorted(PROTECTED),
                         ids=[f"{m} {t}" for m, t in sorted(PROTECTED)])  # fmt: skip
async def test_no_or_a_bad_credential_is_401_with_a_bearer_challenge(
    served: Served, method: str, template: str
) -> None:
    path = concrete(template)
    await served.api.call(method, path, 401)
    assert served.api.last_headers["WWW-Authenticate"] == 'Bearer realm="api"'
    for header in ("Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"):
        await served.api.call(method, path, 401, headers={"Authorization": header})
        assert 'error="invalid_token"' in served.api.last_headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", ["/public/revoked", "/public/certificates/1f",
                                  "/public/certificates?spki_sha256=" + "0" * 64,
                                  "/openapi.json"])  # fmt: skip
async def test_public_endpoints_need_no_credential(served: Served, path: str) -> None:
    path, _, query = path.partition("?")
    params = dict([query.split("=")]) if query else None
    expected = 404 if path == "/public/certificates/1f" else 200
    await served.api.call("GET", path, expected, params=params)


async def test_a_scheme_other_than_bearer_is_not_read_as_a_token(served: Served) -> None:
    token = served.seed.tokens[Role.AUDITOR]
    await served.api.call("GET", "/audit/verify", 200, token=token)
    await served.api.call("GET", "/audit/verify", 200, headers={"Authorization": f"bearer {token}"})
    await served.api.call("GET", "/audit/verify", 401, headers={"Authorization": f"Basic {token}"})


async def test_unknown_paths_and_methods_answer_in_the_error_shape(served: Served) -> None:
    response = await served.api.client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"] == "not-found"
    response = await served.api.client.delete("/api/v1/audit")
    assert response.status == 405
    assert (await response.json())["error"] == "malformed"
    assert "GET" in response.headers["Allow"]


async def test_the_document_is_well_formed(served: Served) -> None:
    """Every schema is a valid draft 2020-12 schema, every path parameter is declared, and
    operation ids are unique."""
    document = served.api.document.document
    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    ids = []
    for path, item in document["paths"].items():
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{([^}]+)\}", path)), path
            ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))


async def test_refused_sign_ins_are_counted_and_logged_without_the_credential(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Operators see sign-in refusals (a metric, and a warning for a credential that
    matches no enabled account), never the token that was tried."""
    metrics = served.ca.metrics
    before = metrics.get_sample_value("ca_api_sign_in_refusals_total") or 0.0
    with caplog.at_level("WARNING", logger="server.web.api.auth"):
        await served.api.call("GET", "/audit", 401)  # no credential: counted, not logged
        await served.api.call(
            "GET", "/audit", 401, headers={"Authorization": "Bearer guessed-token-123"}
        )
    assert metrics.get_sample_value("ca_api_sign_in_refusals_total") == before + 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "GET /audit" in warnings[0]
    assert "guessed-token-123" not in caplog.text
