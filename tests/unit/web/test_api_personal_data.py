"""C1: the audit trail names a holder by subscriber id and serial, never by SNILS, INN,
name or e-mail; the auditor reads a person's certificate with those withheld, and older
audit entries that named a subject are shown masked. Every answer is validated against the
OpenAPI document (tests/unit/web/openapi_check.py)."""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from server.accounts import Role
from server.registry import AuditEvent
from tests.csr_factory import make_csr
from tests.unit.web.api_home import Served
from tests.unit.web.test_api_subscribers import (
    PERSON,
    PERSON_INN,
    SNILS,
    SNILS_DIGITS,
    ready_subscriber,
)

PERSONAL = (SNILS, SNILS_DIGITS, PERSON_INN, "Ivanov", "Ivan Ivanovich", "ivanov@example.ru")
GROUNDS = {"grounds": "the holder's letter 7"}


def csr_pem() -> str:
    csr = x509.load_der_x509_csr(make_csr([]))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


async def issued_person_certificate(
    signing: Served, person: dict[str, str] = PERSON
) -> tuple[str, str]:
    """(subscriber id, serial) of a person certificate issued through an application to a
    subscriber registered with `person`."""
    operator = signing.seed.tokens[Role.OPERATOR]
    subscriber = await ready_subscriber(signing.api, operator, person)
    made = await signing.api.call(
        "POST", "/applications", 201, token=operator,
        body={"subscriber_id": subscriber, "profile": "person", "csr": csr_pem()},
    )  # fmt: skip
    approved = await signing.api.call(
        "POST", f"/applications/{made['id']}/approve", 200,
        token=signing.seed.tokens[Role.OFFICER],
    )  # fmt: skip
    return subscriber, approved["serial"]


async def test_the_audit_trail_names_the_holder_by_id_only(signing: Served) -> None:
    """Register, identify, acknowledge, apply, approve (issue), an enrollment code for a
    second application, revoke: no entry's details carry personal data."""
    api, operator = signing.api, signing.seed.tokens[Role.OPERATOR]
    officer = signing.seed.tokens[Role.OFFICER]
    subscriber, serial = await issued_person_certificate(signing)
    second = await api.call(
        "POST", "/applications", 201, token=operator,
        body={"subscriber_id": subscriber, "profile": "person"},
    )  # fmt: skip
    await api.call("POST", f"/applications/{second['id']}/approve", 200, token=officer)
    body = {"reason": "keyCompromise", **GROUNDS}
    await api.call("POST", f"/certificates/{serial}/revoke", 200, token=officer, body=body)

    stored = await signing.ca.registry.search.audit_entries(1000, None)  # as recorded
    actions = {entry.action for entry in stored}
    assert {"subscriber.register", "certificate.issue", "credential.create",
            "certificate.revoke"} <= actions  # fmt: skip
    for entry in stored:
        text = json.dumps(entry.details, ensure_ascii=False) + entry.target
        assert not [value for value in PERSONAL if value in text], entry
    issue = next(e for e in stored if e.action == "certificate.issue" and e.target == serial)
    assert issue.details == {"profile": "person", "subscriber": subscriber}


async def test_the_auditor_reads_a_person_certificate_with_identifiers_withheld(
    signing: Served,
) -> None:
    subscriber, serial = await issued_person_certificate(signing)
    auditor, officer = signing.seed.tokens[Role.AUDITOR], signing.seed.tokens[Role.OFFICER]
    full = await signing.api.call("GET", f"/certificates/{serial}", 200, token=officer)
    assert f"SNILS={SNILS_DIGITS}" in full["subject"] and full["pem"]
    audited = await signing.api.call("GET", f"/certificates/{serial}", 200, token=auditor)
    assert audited["subject"].startswith("CN=***,SN=***,GN=***,")
    assert "SNILS=***" in audited["subject"] and "INN=***" in audited["subject"]
    assert audited["pem"] is None and audited["subscriber_id"] == subscriber
    assert {k: v for k, v in audited.items() if k not in ("subject", "pem")} == {
        k: v for k, v in full.items() if k not in ("subject", "pem")
    }
    listed = await signing.api.call(
        "GET", "/certificates", 200, token=auditor, params={"profile": "person"}
    )
    assert [c["serial"] for c in listed["certificates"]] == [serial]
    for answer in (audited, listed):
        dumped = json.dumps(answer, ensure_ascii=False)
        assert not [value for value in PERSONAL if value in dumped]
    devices = await signing.api.call(
        "GET", "/certificates", 200, token=auditor, params={"subject": "device-1"}
    )
    assert [c["subject"] for c in devices["certificates"]] == ["CN=device-1,O=Plant"]


async def test_older_audit_entries_naming_a_subject_are_shown_masked(served: Served) -> None:
    """Entries of earlier versions stay as they are (the hash chain forbids rewriting
    them); the audit views withhold what they name."""
    old = {
        "profile": "person",
        "subject": f"CN=Ivanov Ivan Ivanovich,SN=Ivanov,GN=Ivan Ivanovich,SNILS={SNILS_DIGITS}",
        "alt_names": {"dns": [], "ip": [], "email": ["ivanov@example.ru"]},
    }
    await served.ca.registry.append_audit(
        AuditEvent("cli:old", "credential.create", "cr-old", old), served.ca.clock()
    )
    for role in (Role.AUDITOR, Role.ADMIN):
        trail = await served.api.call(
            "GET", "/audit", 200, token=served.seed.tokens[role], params={"limit": "1000"}
        )
        shown = trail["entries"][-1]["details"]
        assert shown == {
            "profile": "person",
            "subject": "CN=***,SN=***,GN=***,SNILS=***",
            "alt_names": {"dns": [], "ip": [], "email": ["***"]},
        }
