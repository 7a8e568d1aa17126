"""Operators' applications for registered subscribers (R1, R2, R4, P2, P4, D2): due dates
in working days, approval by an enrollment code or from the holder's request, the
state-register check, the handover, and status changes with their basis (R8)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from protocols.crl import CRLReason
from server.enrollment.credentials import REFUSAL, EnrollmentCredentials
from server.enrollment.enroll import Enrollment
from server.errors import ErrorKind
from server.ra.register_check import RegisterCheck, RegisterCheckResult
from server.registry import CertificateStatus, StatusBasis
from server.registry.records import SubscriberRow
from tests.csr_factory import make_csr
from tests.lint import lint_certificate
from tests.local_ca import LocalCA, ra_services
from tests.unit.server.test_subscribers import PASSPORT, person, refused, table

SNILS_OID = x509.ObjectIdentifier("1.2.643.100.3")
NUMERIC_STRING = 18  # the ASN.1 universal tag cryptography reports as _type


class RA:
    def __init__(self, local_ca: LocalCA, register_check: RegisterCheck | None = None) -> None:
        self.credentials = EnrollmentCredentials(
            local_ca.settings, local_ca.registry, lambda: b"k" * 32, local_ca.clock
        )
        self.metrics = CollectorRegistry()
        self.subscribers, self.applications = ra_services(
            local_ca, self.credentials, register_check=register_check, metrics=self.metrics
        )
        self.enrollment = Enrollment(
            local_ca.settings, self.credentials, local_ca.authority, self.applications
        )

    async def ready_person(self) -> SubscriberRow:
        row = await self.subscribers.register(person(), "op")
        await self.subscribers.add_identity(row.id, PASSPORT, "op")
        await self.subscribers.acknowledge_notice(row.id, "op")
        return row


class RefusingRegister:
    async def check(self, subscriber: SubscriberRow) -> RegisterCheckResult:
        return RegisterCheckResult(False, "the tax register has no such INN")


@pytest.fixture
def ra(local_ca: LocalCA) -> RA:
    return RA(local_ca)


async def test_register_approve_and_enroll_issues_from_the_registry(
    ra: RA, local_ca: LocalCA
) -> None:
    """The README's walk-through in-process: an application without a request is approved
    with an enrollment code; the holder's own request names someone else, and the
    certificate still carries the registered subject (D2)."""
    row = await ra.subscribers.register(person(), "op")
    scan = hashlib.sha256(b"passport scan").digest()
    application = await ra.applications.submit(row.id, "person", "op", [("passport.pdf", scan)])
    assert application.attachments == (("passport.pdf", scan),)
    assert application.register_check.startswith("not checked against state registers")
    # Saturday 28 November 2026, noon UTC: five working days are Mon 30 Nov .. Fri 4 Dec,
    # so it is due at the end of 4 December, Moscow time.
    assert application.due_at == datetime(2026, 12, 4, 21, 0, tzinfo=UTC)

    early = await refused(ra.applications.approve(application.id, "officer"))
    assert early.kind is ErrorKind.REJECTED and "identity" in early.message
    await ra.subscribers.add_identity(row.id, PASSPORT, "op")
    await ra.subscribers.acknowledge_notice(row.id, "op")
    approval = await ra.applications.approve(application.id, "officer")
    assert approval.application.state == "approved" and approval.issued is None
    assert approval.credential is not None and approval.secret
    again = await refused(ra.applications.approve(application.id, "officer"))
    assert again.kind is ErrorKind.REJECTED

    claimed = [("CN", "Somebody Else"), ("SNILS", "08765430300")]
    csr = make_csr(claimed)
    wrong = await refused(ra.enrollment.enroll(approval.credential.id, approval.secret, csr, "e"))
    assert wrong.kind is ErrorKind.REJECTED  # a request may only name the registered subject
    issued = await ra.enrollment.enroll(
        approval.credential.id, approval.secret, make_csr([]), "est:holder"
    )
    certificate = x509.load_der_x509_certificate(issued.der)
    (snils,) = certificate.subject.get_attributes_for_oid(SNILS_OID)
    assert (snils.value, snils._type.value) == ("11223344595", NUMERIC_STRING)
    common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common == "Ivanov Ivan Ivanovich"
    assert lint_certificate(issued.der) == []
    done = await ra.applications.get(application.id)
    assert done is not None and (done.state, done.serial) == ("issued", issued.serial)
    record = await local_ca.registry.get_certificate(issued.serial)
    assert record is not None and record.subscriber_id == row.id
    reports = table(local_ca, "SELECT kind, payload FROM outbox_events ORDER BY seq")
    assert [kind for kind, _ in reports][-2:] == ["subscriber.registered", "certificate.issued"]
    assert json.loads(reports[-1][1])["subscriber_id"] == row.id  # the holder, reported (D7)
    reused = await refused(
        ra.enrollment.enroll(approval.credential.id, approval.secret, make_csr([]), "e")
    )
    assert reused.message == REFUSAL


async def test_an_application_with_the_holders_request_issues_on_approval(
    ra: RA, local_ca: LocalCA
) -> None:
    row = await ra.ready_person()
    csr = make_csr([("CN", "Claimed Name")])
    application = await ra.applications.submit(row.id, "person", "op", request_der=csr)
    approval = await ra.applications.approve(application.id, "officer")
    assert approval.issued is not None and approval.credential is None
    subject = x509.load_der_x509_certificate(approval.issued.der).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Ivanov Ivan Ivanovich"
    assert approval.application.state == "issued"


async def test_who_received_the_certificate_is_recorded_once(ra: RA) -> None:
    row = await ra.ready_person()
    application = await ra.applications.submit(row.id, "person", "op", request_der=make_csr([]))
    not_yet = await refused(ra.applications.handed_over(application.id, "holder", "op"))
    assert not_yet.kind is ErrorKind.REJECTED
    await ra.applications.approve(application.id, "officer")
    no_poa = await refused(
        ra.applications.handed_over(application.id, "proxy", "op", "Petrov Petr")
    )
    assert no_poa.kind is ErrorKind.MALFORMED
    handed = await ra.applications.handed_over(
        application.id, "proxy", "op", "Petrov Petr", "77 AA 1234567 of 2026-11-01"
    )
    assert (handed.received_by, handed.received_proxy, handed.received_poa) == (
        "proxy",
        "Petrov Petr",
        "77 AA 1234567 of 2026-11-01",
    )
    twice = await refused(ra.applications.handed_over(application.id, "holder", "op"))
    assert twice.kind is ErrorKind.REJECTED


async def test_the_due_date_starts_when_complete_and_overdue_ones_are_listed(
    ra: RA, local_ca: LocalCA
) -> None:
    row = await ra.ready_person()
    waiting = await ra.applications.submit(row.id, "person", "op", complete=False)
    assert (waiting.complete_at, waiting.due_at) == (None, None)
    local_ca.clock.advance(days=30)
    assert await ra.applications.overdue() == []  # incomplete: no due date yet
    completed = await ra.applications.complete(waiting.id, "op")
    assert completed.complete_at == local_ca.clock()
    assert completed.due_at == ra.applications.due_date(local_ca.clock())
    assert (await refused(ra.applications.complete(waiting.id, "op"))).kind is ErrorKind.REJECTED
    other = await ra.applications.submit(row.id, "person", "op")

    local_ca.clock.now = completed.due_at - timedelta(seconds=1)
    assert await ra.applications.count_overdue() == 0
    local_ca.clock.now = completed.due_at
    assert [a.id for a in await ra.applications.overdue()] == [waiting.id, other.id]
    await ra.applications.refresh_metrics()
    assert ra.metrics.get_sample_value("ca_applications_overdue") == 2
    await ra.applications.reject(other.id, "officer", "documents contradict each other")
    await ra.applications.approve(waiting.id, "officer")  # approved, not enrolled for yet
    assert [a.id for a in await ra.applications.overdue()] == [waiting.id]


async def test_a_register_that_contradicts_records_a_rejected_application(
    local_ca: LocalCA,
) -> None:
    ra = RA(local_ca, RefusingRegister())
    row = await ra.ready_person()
    application = await ra.applications.submit(row.id, "person", "op")
    assert (application.state, application.reason, application.decided_by) == (
        "rejected",
        "the tax register has no such INN",
        "register-check",
    )
    stored = await ra.applications.get(application.id)
    assert stored == application
    error = await refused(ra.applications.approve(application.id, "officer"))
    assert error.kind is ErrorKind.REJECTED
    assert table(local_ca, "SELECT COUNT(*) FROM enrollment_credentials") == [(0,)]


async def test_bad_applications_are_refused_and_leave_nothing(ra: RA, local_ca: LocalCA) -> None:
    row = await ra.ready_person()
    cases = [
        (ra.applications.submit("sb-none", "person", "op"), ErrorKind.NOT_FOUND),
        (ra.applications.submit(row.id, "no-such", "op"), ErrorKind.REJECTED),
        (ra.applications.submit(row.id, "organisation", "op"), ErrorKind.REJECTED),
        (ra.applications.submit(row.id, "person", "op", [("a", b"short")]), ErrorKind.MALFORMED),
        (ra.applications.submit(row.id, "person", "op", request_der=b"junk"), ErrorKind.MALFORMED),
    ]
    for coroutine, kind in cases:
        assert (await refused(coroutine)).kind is kind
    assert table(local_ca, "SELECT COUNT(*) FROM applications") == [(0,)]
    assert table(local_ca, "SELECT COUNT(*) FROM application_attachments") == [(0,)]


async def test_a_change_by_the_cas_decision_needs_grounds_and_records_them(
    ra: RA, local_ca: LocalCA
) -> None:
    row = await ra.ready_person()
    application = await ra.applications.submit(row.id, "person", "op", request_der=make_csr([]))
    issued = (await ra.applications.approve(application.id, "officer")).issued
    assert issued is not None
    bare = await refused(local_ca.revocation.revoke(
        issued.serial, CRLReason.privilegeWithdrawn, "officer", basis=StatusBasis.CA_DECISION
    ))  # fmt: skip
    assert bare.kind is ErrorKind.MALFORMED
    record = await local_ca.registry.get_certificate(issued.serial)
    assert record is not None and record.status is CertificateStatus.GOOD
    await local_ca.revocation.suspend(
        issued.serial, "officer", basis=StatusBasis.HOLDER_REQUEST, grounds="holder's letter 12"
    )
    await local_ca.revocation.revoke(
        issued.serial, CRLReason.privilegeWithdrawn, "officer",
        basis=StatusBasis.CA_DECISION, grounds="false documents: act 7 of 2026-11-28",
    )  # fmt: skip
    history = await local_ca.registry.status_history(issued.serial)
    assert [(c.change.value, c.basis, c.grounds) for c in history] == [
        ("issue", None, None),
        ("hold", StatusBasis.HOLDER_REQUEST, "holder's letter 12"),
        ("revoke", StatusBasis.CA_DECISION, "false documents: act 7 of 2026-11-28"),
    ]
    audit = table(local_ca, "SELECT details FROM audit_log WHERE action = 'certificate.revoke'")
    assert audit == [('{"basis":"ca_decision","grounds":"false documents: act 7 of 2026-11-28",'
                      '"reason":"privilegeWithdrawn"}',)]  # fmt: skip


async def test_an_enrollment_code_for_a_subscriber_carries_its_subject(ra: RA) -> None:
    """A profile without personal identifiers (tls-client) takes a subscriber's code without
    an application; its subject still comes from the registry (D2)."""
    row = await ra.subscribers.register(person(), "op")
    early = await refused(
        ra.subscribers.enrollment_credential(row.id, "tls-client", timedelta(hours=1), "op")
    )
    assert early.kind is ErrorKind.REJECTED
    await ra.subscribers.add_identity(row.id, PASSPORT, "op")
    await ra.subscribers.acknowledge_notice(row.id, "op")
    credential, secret = await ra.subscribers.enrollment_credential(
        row.id, "tls-client", timedelta(hours=1), "op"
    )
    assert credential.subscriber_id == row.id
    issued = await ra.enrollment.enroll(credential.id, secret, make_csr([]), "est:x")
    subject = x509.load_der_x509_certificate(issued.der).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Ivanov Ivan Ivanovich"
    assert subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "ivanov@example.ru"
