"""Retention (C1; 152-FZ art. 5 part 7; server/node/retention.py) on SQLite and PostgreSQL:
each kind of personal data is kept until its period after it ended and removed after it,
with one audit entry per kind naming the kind and how many and nothing of the data; a
subscriber with a live certificate keeps its data; a second run changes nothing; the
certificates stay; confirmation files leave the disk before the registry records it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from config import SettingsError
from protocols.crl import CRLReason
from server.accounts import Accounts, Role
from server.confirmation.cases import ConfirmationCases
from server.errors import ErrorKind
from server.node.retention import Removed, Retention
from server.registry.records import AuditEntry
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA, opened_local_ca, settings_for
from tests.postgres import Cluster
from tests.unit.server.test_confirmation_cases import (
    ADMIN,
    ANNA,
    CHECK,
    DOCUMENT,
    FINDINGS,
    OFFICER,
    OPERATOR,
    QUESTIONS,
    SIGNATURE,
)
from tests.unit.server.test_ra_applications import RA
from tests.unit.server.test_subscribers import PASSPORT, SNILS, person, refused

SCAN = hashlib.sha256(b"passport scan").digest()
# Every value of person() and PASSPORT that is personal data: none may reach an audit entry.
PERSONAL = ("Ivanov", "Ivan", "11223344595", SNILS, "500100732259", "ivanov@example.ru",
            "Moscow", "4510 123456", "OVD Tverskoy", "passport.pdf", "договор")  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings environment putting the registry on each engine."""
    if request.param == "sqlite":
        return {}
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    return {"CA_REGISTRY__URL": await cluster.create_database()}


async def opened(folder: Path, env: dict[str, str], **more: str) -> AsyncIterator[LocalCA]:
    async with opened_local_ca(folder, **env, **more) as ca:
        yield ca


def retention(local_ca: LocalCA) -> tuple[Retention, CollectorRegistry]:
    metrics = CollectorRegistry()
    return Retention(local_ca.settings, local_ca.registry, local_ca.clock, metrics), metrics


async def retention_entries(local_ca: LocalCA) -> list[AuditEntry]:
    entries = await local_ca.registry.search.audit_entries(10000, None)
    return [entry for entry in entries if entry.action == "retention.remove"]


def assert_no_personal_data(entries: list[AuditEntry]) -> None:
    text = json.dumps([(e.actor, e.action, e.target, e.details) for e in entries],
                      ensure_ascii=False)  # fmt: skip
    assert not [value for value in PERSONAL if value in text]


async def issued_with_attachment(ra: RA, local_ca: LocalCA) -> tuple[str, str, str]:
    """A ready person with an issued application carrying an attachment: (subscriber,
    application, serial); the certificate is valid 365 days (profile person)."""
    row = await ra.ready_person()
    application = await ra.applications.submit(
        row.id, "person", "op", [("passport.pdf", SCAN)], request_der=make_csr([])
    )
    approval = await ra.applications.approve(application.id, "officer")
    assert approval.issued is not None
    return row.id, application.id, approval.issued.serial


async def test_c1_attachments_are_kept_for_their_period_after_the_application_ended(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """A rejected application ends when rejected, an issued one when its certificate
    expires: each keeps its attachment records until `retention.attachments_days` after
    that, and loses them then, with its application marked and the certificate kept
    (subscribers' data kept for ever here, to look at attachments alone)."""
    async for local_ca in opened(tmp_path, engine_env, CA_RETENTION__SUBSCRIBER_DAYS="0"):
        ra, (duty, metrics) = RA(local_ca), retention(local_ca)
        _, issued_id, serial = await issued_with_attachment(ra, local_ca)
        other = await ra.subscribers.register(person(snils="08765430300"), "op")
        rejected = await ra.applications.submit(other.id, "person", "op", [("a.pdf", SCAN)])
        await ra.applications.reject(rejected.id, "officer", "documents missing")

        local_ca.clock.advance(days=1825, seconds=-1)
        assert await duty.remove_expired() == Removed()
        local_ca.clock.advance(seconds=1)
        assert await duty.due() == Removed(attachments=1)
        assert await duty.remove_expired() == Removed(attachments=1)
        gone = await ra.applications.get(rejected.id)
        assert gone is not None and gone.attachments == ()
        assert gone.attachments_removed_at == local_ca.clock()
        kept = await ra.applications.get(issued_id)
        assert kept is not None and kept.attachments == (("passport.pdf", SCAN),)

        local_ca.clock.advance(days=365, seconds=-1)  # the certificate's end + 1825 days - 1 s
        assert await duty.remove_expired() == Removed()
        local_ca.clock.advance(seconds=1)
        assert await duty.remove_expired() == Removed(attachments=1)
        kept = await ra.applications.get(issued_id)
        assert kept is not None and kept.attachments == () and kept.serial == serial
        assert await local_ca.registry.get_certificate(serial) is not None

        entries = await retention_entries(local_ca)
        assert [(e.actor, e.target, e.details) for e in entries] == [
            ("ca:retention", "attachments", {"kind": "attachments", "count": 1,
                                              "kept_days": 1825}),
        ] * 2  # fmt: skip
        assert_no_personal_data(entries)
        sample = metrics.get_sample_value("ca_retention_removed_total", {"kind": "attachments"})
        assert sample == 2


async def test_c1_a_subscriber_with_a_live_certificate_keeps_its_personal_data(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """`retention.subscriber_days` 30: a subscriber whose only application was rejected is
    erased 30 days later (its row stays, its identity records go, new applications are
    refused); one whose certificate is live keeps everything until 30 days after that
    certificate was revoked. The certificate itself stays in the registry."""
    async for local_ca in opened(tmp_path, engine_env, CA_RETENTION__SUBSCRIBER_DAYS="30"):
        ra, (duty, metrics) = RA(local_ca), retention(local_ca)
        holder, issued_id, serial = await issued_with_attachment(ra, local_ca)
        other = await ra.subscribers.register(person(snils="08765430300"), "op")
        await ra.subscribers.add_identity(other.id, PASSPORT, "op")
        rejected = await ra.applications.submit(other.id, "person", "op")
        await ra.applications.reject(rejected.id, "officer", "documents missing")
        coded = await ra.subscribers.register(person(snils="17664271093"), "op")  # no application:
        await ra.subscribers.add_identity(coded.id, PASSPORT, "op")  # a certificate by its code
        await ra.subscribers.acknowledge_notice(coded.id, "op")
        code, secret = await ra.subscribers.enrollment_credential(
            coded.id, "tls-client", timedelta(hours=1), "op"
        )
        by_code = await ra.enrollment.enroll(code.id, secret, make_csr([]), "est:holder")
        assert (await local_ca.registry.get_certificate(by_code.serial)).subscriber_id == coded.id

        local_ca.clock.advance(days=30, seconds=-1)
        assert await duty.remove_expired() == Removed()
        local_ca.clock.advance(seconds=1)
        assert await duty.remove_expired() == Removed(subscribers=1)
        erased = await ra.subscribers.get(other.id)
        assert (erased.name, erased.surname, erased.given_names, erased.snils, erased.inn,
                erased.email, erased.region, erased.locality) == ("", *[None] * 7)  # fmt: skip
        assert (erased.kind, erased.erased_at) == ("individual", local_ca.clock())
        assert await ra.subscribers.identities(other.id) == []
        application = await ra.applications.get(rejected.id)
        assert application is not None and application.subject == ""
        again = await refused(ra.applications.submit(other.id, "person", "op"))
        assert (again.kind, again.message) == (
            ErrorKind.REJECTED,
            f"subscriber {other.id}'s personal data were erased when their retention ended: "
            "register the subscriber anew",
        )
        live = await ra.subscribers.get(holder)
        assert live.snils == "11223344595" and live.erased_at is None
        assert len(await ra.subscribers.identities(holder)) == 1

        await local_ca.revocation.revoke(serial, CRLReason.keyCompromise, "op")
        local_ca.clock.advance(days=30, seconds=-1)
        assert await duty.remove_expired() == Removed()
        local_ca.clock.advance(seconds=1)
        assert await duty.remove_expired() == Removed(subscribers=1)
        assert (await ra.subscribers.get(holder)).erased_at is not None
        assert (await ra.subscribers.get(coded.id)).erased_at is None  # valid 397 days
        assert await ra.subscribers.identities(holder) == []
        issued = await ra.applications.get(issued_id)
        assert issued is not None and (issued.subject, issued.request_der) == ("", None)
        assert issued.serial == serial
        record = await local_ca.registry.get_certificate(serial)
        assert record is not None and record.subscriber_id == holder  # the registry stays

        entries = await retention_entries(local_ca)
        assert [(e.target, e.details) for e in entries] == [
            ("subscribers", {"kind": "subscribers", "count": 1, "kept_days": 30})
        ] * 2
        assert_no_personal_data(entries)
        assert (await local_ca.registry.verify_audit_chain()).intact
        sample = metrics.get_sample_value("ca_retention_removed_total", {"kind": "subscribers"})
        assert sample == 2


async def test_c1_an_erased_subscriber_can_register_anew_with_the_same_snils(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    async for local_ca in opened(tmp_path, engine_env, CA_RETENTION__SUBSCRIBER_DAYS="1"):
        ra, (duty, _) = RA(local_ca), retention(local_ca)
        first = await ra.subscribers.register(person(), "op")
        local_ca.clock.advance(days=1)
        assert await duty.remove_expired() == Removed(subscribers=1)
        second = await ra.subscribers.register(person(), "op")
        assert second.id != first.id and second.snils == "11223344595"


async def test_c1_confirmation_files_leave_the_disk_once_the_case_is_answered_and_kept_long_enough(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    """`confirmation.files_kept_days` 10: an answered case's folder is removed at its
    `files_until` and recorded; an unanswered case keeps its files. A run cut short after
    removing a folder (the folder gone, nothing recorded) is finished by the next run; a
    folder of a case recorded removed is removed whenever it turns up."""
    async for local_ca in opened(tmp_path, engine_env, CA_CONFIRMATION__FILES_KEPT_DAYS="10"):
        duty, metrics = retention(local_ca)
        accounts = Accounts(local_ca.registry, local_ca.clock)
        await accounts.create("anna", Role.EXPERT, ADMIN)
        cases = ConfirmationCases(local_ca.settings, local_ca.registry, local_ca.clock,
                                  CollectorRegistry())  # fmt: skip
        answered = [(await cases.register("Иванов И. И.", QUESTIONS, [DOCUMENT, SIGNATURE],
                                          CHECK, OPERATOR)).id for _ in range(2)]  # fmt: skip
        waiting = (await cases.register("Петров", QUESTIONS, [SIGNATURE], CHECK, OPERATOR)).id
        local_ca.clock.advance(days=5)  # the expert's examination of FINDINGS is over
        for case_id in answered:
            await cases.assign(case_id, "anna", OFFICER)
            await cases.answer(case_id, FINDINGS, ANNA)
        folder = local_ca.settings.resolve(local_ca.settings.confirmation.files)

        local_ca.clock.advance(days=5, seconds=-1)
        assert await duty.remove_expired() == Removed()
        assert sorted(p.name for p in folder.iterdir()) == sorted([*answered, waiting])
        local_ca.clock.advance(seconds=1)
        (folder / answered[0] / "document").unlink()  # a run cut short: part of it removed
        assert await duty.due() == Removed(confirmation_files=2)
        assert await duty.remove_expired() == Removed(confirmation_files=2)
        assert [p.name for p in folder.iterdir()] == [waiting]
        for case_id in answered:
            row = await cases.get(case_id, OFFICER)
            assert row.files_removed_at == local_ca.clock() and len(row.files) == 2
        assert (await cases.get(waiting, OFFICER)).files_removed_at is None

        entries = await retention_entries(local_ca)
        assert [(e.target, e.details) for e in entries] == [
            ("confirmation_files", {"kind": "confirmation_files", "count": 2, "kept_days": 10})
        ]
        assert_no_personal_data(entries)
        kind = {"kind": "confirmation_files"}
        assert metrics.get_sample_value("ca_retention_removed_total", kind) == 2

        # a folder of a case recorded removed, brought back by an old copy of the home (or
        # left on a node that did not hold the duties): removed, with nothing to record
        (folder / answered[1]).mkdir()
        (folder / answered[1] / "signature").write_bytes(SIGNATURE.content)
        assert await duty.remove_expired() == Removed()
        assert [p.name for p in folder.iterdir()] == [waiting]
        assert len(await retention_entries(local_ca)) == 1


async def test_c1_a_second_run_removes_nothing_and_writes_no_entry(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    async for local_ca in opened(tmp_path, engine_env, CA_RETENTION__SUBSCRIBER_DAYS="1"):
        ra, (duty, metrics) = RA(local_ca), retention(local_ca)
        await ra.subscribers.register(person(), "op")
        local_ca.clock.advance(days=1)
        assert await duty.remove_expired() == Removed(subscribers=1)
        head = await local_ca.registry.audit_head()
        assert await duty.due() == Removed()
        assert await duty.remove_expired() == Removed()
        assert await local_ca.registry.audit_head() == head
        for kind in ("attachments", "subscribers", "confirmation_files"):
            expected = 1 if kind == "subscribers" else 0
            sample = metrics.get_sample_value("ca_retention_removed_total", {"kind": kind})
            assert sample == expected


async def test_c1_zero_days_keeps_them_for_ever(tmp_path: Path) -> None:
    async for local_ca in opened(tmp_path, {}, CA_RETENTION__SUBSCRIBER_DAYS="0",
                                 CA_RETENTION__ATTACHMENTS_DAYS="0"):  # fmt: skip
        ra, (duty, _) = RA(local_ca), retention(local_ca)
        row = await ra.subscribers.register(person(), "op")
        rejected = await ra.applications.submit(row.id, "person", "op", [("a.pdf", SCAN)])
        await ra.applications.reject(rejected.id, "officer", "documents missing")
        local_ca.clock.advance(days=36500)
        assert await duty.remove_expired() == Removed()
        assert (await ra.subscribers.get(row.id)).snils == "11223344595"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("INTERVAL_HOURS", "0", "retention.interval_hours: must be in 0..168"),
        ("SUBSCRIBER_DAYS", "-1",
         "retention.subscriber_days: must be 0 (kept for ever) or a number of days up to 36500"),
        ("ATTACHMENTS_DAYS", "36501",
         "retention.attachments_days: must be 0 (kept for ever) or a number of days up to 36500"),
        ("LOG_DAYS", "30", "unknown setting retention.log_days"),
    ],
)  # fmt: skip
def test_retention_settings_are_checked(tmp_path: Path, key: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings_for(tmp_path, **{f"CA_RETENTION__{key}": value})
    assert str(error.value) == message


def test_retention_settings_defaults(tmp_path: Path) -> None:
    retained = settings_for(tmp_path).retention
    assert (retained.interval_hours, retained.attachments_days, retained.subscriber_days) == (
        24.0,
        1825,
        1825,
    )
