"""A subscriber's erasure (C1; server/registry/retention_store.py) on SQLite and PostgreSQL:
what is still live keeps the subscriber; the erasure takes what the subscriber's codes,
applications and the public page's holder-name search repeat of it; and nothing is added
for an erased subscriber, even when the erasure falls between the service's read of the
subscriber and its write (the state registers' answer awaited in between)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from protocols.crl import CRLReason
from protocols.x509 import names
from server.errors import CAError, ErrorKind
from server.node.retention import Removed, Retention
from server.ra.register_check import RegisterCheckResult
from server.registry.records import SubscriberRow
from server.request_checks import SubjectAltNames
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA
from tests.unit.server.test_ra_applications import RA
from tests.unit.server.test_retention import SCAN, engine_env, opened, retention
from tests.unit.server.test_subscribers import PASSPORT, person, refused

__all__ = ["engine_env"]  # the fixture, taken from test_retention

ONE_DAY = {"CA_RETENTION__SUBSCRIBER_DAYS": "1"}


def erased_refusal(subscriber_id: str) -> tuple[ErrorKind, str]:
    return (
        ErrorKind.REJECTED,
        f"subscriber {subscriber_id}'s personal data were erased when their retention ended: "
        "register the subscriber anew",
    )


def kind_and_message(error: CAError) -> tuple[ErrorKind, str]:
    return error.kind, error.message


async def ready(ra: RA, **changes: str) -> SubscriberRow:
    """A person registered, identified and having acknowledged the notice."""
    row = await ra.subscribers.register(person(**changes), "op")
    await ra.subscribers.add_identity(row.id, PASSPORT, "op")
    await ra.subscribers.acknowledge_notice(row.id, "op")
    return row


async def erased_day_old_subscriber(local_ca: LocalCA, ra: RA, duty: Retention) -> str:
    row = await ra.subscribers.register(person(), "op")
    local_ca.clock.advance(days=1)
    assert await duty.remove_expired() == Removed(subscribers=1)
    return row.id


async def test_c1_an_erased_subscriber_gets_no_identity_record_or_acknowledgement(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """The erasure looks only at subscribers not erased yet: an identity record or an
    acknowledgement added after it would be kept for ever, so both are refused."""
    async for local_ca in opened(tmp_path, engine_env, **ONE_DAY):
        ra, (duty, _) = RA(local_ca), retention(local_ca)
        erased = await erased_day_old_subscriber(local_ca, ra, duty)
        head = await local_ca.registry.audit_head()

        identity = await refused(ra.subscribers.add_identity(erased, PASSPORT, "op"))
        assert kind_and_message(identity) == erased_refusal(erased)
        notice = await refused(ra.subscribers.acknowledge_notice(erased, "op"))
        assert kind_and_message(notice) == erased_refusal(erased)
        assert await ra.subscribers.identities(erased) == []
        assert (await ra.subscribers.notice_status(erased))[1] is None
        assert await local_ca.registry.audit_head() == head  # nothing recorded


class ErasingRegister:
    """A state register whose answer comes after the retention duty erased the subscriber
    (the duty's run falls while the service awaits the register)."""

    def __init__(self, local_ca: LocalCA) -> None:
        self.duty, _ = retention(local_ca)

    async def check(self, subscriber: SubscriberRow) -> RegisterCheckResult:
        assert await self.duty.remove_expired() == Removed(subscribers=1)
        return RegisterCheckResult(True, "found in the registers")


async def test_c1_an_application_is_refused_when_the_subscriber_is_erased_meanwhile(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """The subscriber is read (not erased), the registers are asked, the duty erases it
    meanwhile: the application, which would repeat its subject and request and never be
    looked at by the duty again, is refused in its own transaction, and nothing stored."""
    async for local_ca in opened(tmp_path, engine_env, **ONE_DAY):
        ra = RA(local_ca, register_check=ErasingRegister(local_ca))
        row = await ra.subscribers.register(person(), "op")
        local_ca.clock.advance(days=1)
        head = await local_ca.registry.audit_head()

        error = await refused(
            ra.applications.submit(row.id, "person", "op", [("a.pdf", SCAN)], make_csr([]))
        )
        assert kind_and_message(error) == erased_refusal(row.id)
        assert (await ra.subscribers.get(row.id)).erased_at == local_ca.clock()
        assert await ra.applications.by_state(None) == []
        entries = await local_ca.registry.search.audit_entries(10, head[0] if head else None)
        assert [entry.action for entry in entries] == ["retention.remove"]


async def test_c1_an_enrollment_code_is_refused_when_the_subscriber_is_erased_meanwhile(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """Subscribers.enrollment_credential's steps in order, the duty's run between its
    read of the subscriber and the code's write: the code is refused, none stored."""
    async for local_ca in opened(tmp_path, engine_env, **ONE_DAY):
        ra, (duty, _) = RA(local_ca), retention(local_ca)
        row = await ready(ra)
        local_ca.clock.advance(days=1)
        subscriber = await ra.subscribers.ready(row.id)
        subject = names.format_dn(ra.subscribers.subject_for(subscriber, "tls-client"))
        assert await duty.remove_expired() == Removed(subscribers=1)

        error = await refused(
            ra.credentials.create(
                "tls-client", subject, timedelta(hours=1), "op", subscriber_id=row.id
            )
        )
        assert kind_and_message(error) == erased_refusal(row.id)
        assert await local_ca.registry.credentials.listing(False, 10) == []


async def test_c1_a_subscriber_with_an_application_still_waiting_is_kept(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """A submitted application never ends by itself (an operator decides it): its
    subscriber is kept however long it waits. An approved application's code keeps its
    subscriber until the code expires; the subscriber is erased `subscriber_days` later."""
    async for local_ca in opened(tmp_path, engine_env, **ONE_DAY):
        ra, (duty, _) = RA(local_ca), retention(local_ca)
        waiting = await ra.subscribers.register(person(), "op")
        await ra.applications.submit(waiting.id, "person", "op")
        coded = await ready(ra, snils="08765430300")
        application = await ra.applications.submit(coded.id, "person", "op")
        approval = await ra.applications.approve(application.id, "officer", timedelta(days=30))
        assert approval.credential is not None and approval.secret is not None

        local_ca.clock.advance(days=30)  # the code expires now: kept 1 day more
        assert await duty.due() == Removed()
        assert await duty.remove_expired() == Removed()
        assert (await ra.subscribers.get(coded.id)).snils == "08765430300"
        local_ca.clock.advance(days=1)
        assert await duty.remove_expired() == Removed(subscribers=1)
        assert (await ra.subscribers.get(coded.id)).erased_at == local_ca.clock()

        local_ca.clock.advance(days=36500)
        assert await duty.remove_expired() == Removed()
        kept = await ra.subscribers.get(waiting.id)
        assert (kept.snils, kept.erased_at) == ("11223344595", None)


async def test_c1_the_erasure_takes_the_codes_alt_names_the_rejection_reason_and_the_holder_name(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """What an erased subscriber's codes, applications and certificates repeat of it: a
    code's alternative names (e-mail, DNS) become `{}`, a rejection's reason is cleared,
    and its certificates leave the public page's holder-name search, still found by serial
    and by key hash (S6) and otherwise whole (S5). Another subscriber's stay."""
    async for local_ca in opened(tmp_path, engine_env, **ONE_DAY):
        ra, (duty, _) = RA(local_ca), retention(local_ca)
        search = local_ca.registry.search
        erased = await ready(ra)
        rejected = await ra.applications.submit(erased.id, "person", "op")
        await ra.applications.reject(rejected.id, "officer", "Ivanov's passport expired")
        alt_names = SubjectAltNames(dns=["ivanov.example.ru"], ips=[], emails=["ivanov@example.ru"])
        code, secret = await ra.subscribers.enrollment_credential(
            erased.id, "tls-client", timedelta(hours=1), "op", alt_names
        )
        certificate = await ra.enrollment.enroll(code.id, secret, make_csr([]), "est:holder")
        await local_ca.revocation.revoke(certificate.serial, CRLReason.superseded, "op")
        kept = await ready(ra, surname="Petrov", snils="08765430300")
        other_code, other_secret = await ra.subscribers.enrollment_credential(
            kept.id, "tls-client", timedelta(hours=1), "op", alt_names
        )
        other = await ra.enrollment.enroll(other_code.id, other_secret, make_csr([]), "est:b")
        assert {c.serial for c in await search.certificates_by_holder("ivanov", True, 10)} == {
            certificate.serial
        }

        local_ca.clock.advance(days=1, hours=1)  # a day after the code expired
        assert await duty.remove_expired() == Removed(subscribers=1)
        assert await search.certificates_by_holder("ivanov", True, 10) == []
        record = await local_ca.registry.get_certificate(certificate.serial)
        assert record is not None and record.subscriber_id == erased.id
        assert await search.certificate_by_spki(record.spki_sha256) == record
        assert [c.serial for c in await search.certificates_by_holder("petrov", True, 10)] == [
            other.serial
        ]
        stored = await local_ca.registry.credentials.get(code.id)
        assert stored is not None and (stored.subject, json.loads(stored.alt_names)) == ("", {})
        untouched = await local_ca.registry.credentials.get(other_code.id)
        assert untouched is not None and json.loads(untouched.alt_names) != {}
        application = await ra.applications.get(rejected.id)
        assert application is not None and (application.state, application.reason) == (
            "rejected",
            None,
        )
