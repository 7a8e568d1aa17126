"""A profile with personal identifiers issues only to a registered, identified subscriber
who acknowledged the notice, through an approved application (D2, P2, P3, D1; S1): every
other way is refused with CAError(FORBIDDEN) naming the RA's route, and records nothing
(server/ra/registered_issuance.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from cryptography import x509

from config import SettingsError, load_settings
from protocols.x509 import names
from server.enrollment.credentials import EnrollmentCredentials
from server.enrollment.enroll import Enrollment, HolderEnrollment
from server.errors import CAError, ErrorKind
from server.registry import CertificateStatus
from tests.csr_factory import ORGANISATION, PERSON, make_csr
from tests.local_ca import LocalCA, approved_application, ra_services, settings_for
from tests.unit.server.test_subscribers import PASSPORT, person

ROUTE = "(register, identify, acknowledge, apply, approve)"


DN = ",".join(f"{a}={v}" for a, v in PERSON)


def issued_only(profile: str) -> str:
    return (
        f"profile {profile!r} is issued only to a registered, identified subscriber who "
        f"acknowledged the notice, through an approved application {ROUTE}"
    )


def codes_only(profile: str) -> str:
    return (
        f"profile {profile!r} is issued only through an approved application: approve makes "
        f"its enrollment code {ROUTE}"
    )


@dataclass(frozen=True)
class Recorded:
    """What the registry holds, read through its interfaces."""

    certificates: int
    credentials: int
    audit_entries: int
    outbox: int


async def recorded(ca: LocalCA) -> Recorded:
    certificates = await ca.registry.search.certificates(None, None, None, 1000, None)
    credentials = await ca.registry.credentials.listing(False, 1000)
    audit = await ca.registry.verify_audit_chain()
    assert audit.intact
    outbox = await ca.registry.outbox.undelivered(1000)
    return Recorded(len(certificates), len(credentials), audit.entries, len(outbox))


async def refused(coroutine) -> CAError:  # type: ignore[no-untyped-def]
    with pytest.raises(CAError) as caught:
        await coroutine
    return caught.value


@pytest.fixture
def credentials(local_ca: LocalCA) -> EnrollmentCredentials:
    return EnrollmentCredentials(
        local_ca.settings, local_ca.registry, lambda: b"k" * 32, local_ca.clock
    )


@pytest.mark.parametrize(("profile", "subject"), [("person", PERSON),
                                                  ("organisation", ORGANISATION)])  # fmt: skip
async def test_d2_person_profile_refuses_unregistered_subject_issue(
    local_ca: LocalCA, profile: str, subject: list[tuple[str, str]]
) -> None:
    """The CLI's `issue --subject` and anything else calling issuance without a subscriber
    and an approved application."""
    before = await recorded(local_ca)
    error = await refused(
        local_ca.authority.issue(profile, make_csr(subject), "cli:op", subject=subject)
    )
    assert (error.kind, error.message) == (ErrorKind.FORBIDDEN, issued_only(profile))
    assert await recorded(local_ca) == before


async def test_p2_issuance_needs_an_approved_application_of_that_subscriber(
    local_ca: LocalCA, credentials: EnrollmentCredentials
) -> None:
    subscribers, applications = ra_services(local_ca, credentials)
    claimed = await approved_application(local_ca, "person")  # decision claimed: approvable
    waiting = await applications.submit(claimed["subscriber_id"], "person", "op")
    other = await subscribers.register(person(snils="08765430300", surname="Petrov"), "op")
    rule = issued_only("person")
    cases = [
        ({**claimed, "application_id": waiting.id},
         f"application {waiting.id} is not an approved one of this subscriber: {rule}"),
        ({**claimed, "subscriber_id": other.id},
         f"application {claimed['application_id']} is not an approved one of this subscriber: "
         f"{rule}"),
        ({**claimed, "application_id": "ap-none"}, rule),
        ({"subscriber_id": claimed["subscriber_id"]}, rule),
    ]  # fmt: skip
    before = await recorded(local_ca)
    for registered, what in cases:
        error = await refused(local_ca.authority.issue("person", make_csr(PERSON), "op",
                                                       **registered))  # fmt: skip
        assert (error.kind, error.message) == (ErrorKind.FORBIDDEN, what)
    wrong_profile = await refused(local_ca.authority.issue(
        "organisation", make_csr(ORGANISATION), "op", **claimed))  # fmt: skip
    assert wrong_profile.message == (
        f"application {claimed['application_id']} is for another profile: "
        + issued_only("organisation")
    )
    assert await recorded(local_ca) == before
    issued = await local_ca.authority.issue("person", make_csr(PERSON), "op", **claimed)
    record = await local_ca.registry.get_certificate(issued.serial)
    assert record is not None and record.subscriber_id == claimed["subscriber_id"]


async def test_d2_person_credential_refused_without_an_application(
    local_ca: LocalCA, credentials: EnrollmentCredentials
) -> None:
    """`enroll-code --subject` and POST /api/v1/credentials: no code for any subject."""
    before = await recorded(local_ca)
    error = await refused(credentials.create("person", DN, timedelta(hours=1), "op"))
    assert (error.kind, error.message) == (
        ErrorKind.FORBIDDEN,
        codes_only("person"),
    )
    assert await recorded(local_ca) == before


async def test_d2_p3_person_credential_refused_for_a_ready_subscriber_without_application(
    local_ca: LocalCA, credentials: EnrollmentCredentials
) -> None:
    """`enroll-code --subscriber` and POST /api/v1/subscribers/{id}/credentials: even for
    an identified subscriber who acknowledged the notice, the code comes from `approve`."""
    subscribers, _ = ra_services(local_ca, credentials)
    row = await subscribers.register(person(), "op")
    await subscribers.add_identity(row.id, PASSPORT, "op")
    await subscribers.acknowledge_notice(row.id, "op")
    before = await recorded(local_ca)
    error = await refused(
        subscribers.enrollment_credential(row.id, "person", timedelta(hours=1), "op")
    )
    assert (error.kind, error.message) == (
        ErrorKind.FORBIDDEN,
        codes_only("person"),
    )
    assert await recorded(local_ca) == before


async def test_d2_a_code_not_bound_to_an_approved_application_does_not_enroll(
    local_ca: LocalCA, credentials: EnrollmentCredentials, tmp_path: Path
) -> None:
    """A code made while the profile did not require registration (here: made for a
    profile `badge` that then requires it) is refused at enrollment, EST and CMP alike
    (server/enrollment/enroll.py), and stays unspent."""
    badge = '[profiles.badge]\nsubject_attributes = ["CN"]\n'
    (tmp_path / "a").mkdir()
    before_rule = settings_for(tmp_path / "a", badge)
    made = EnrollmentCredentials(before_rule, local_ca.registry, lambda: b"k" * 32, local_ca.clock)
    credential, secret = await made.create("badge", "CN=holder", timedelta(hours=1), "op")
    (tmp_path / "b").mkdir()
    now = settings_for(tmp_path / "b", badge + "requires_registered_subscriber = true\n")
    assert now.profile("badge").registered_subscribers_only
    _, applications = ra_services(local_ca, credentials, settings=now)
    enrollment = Enrollment(now, credentials, local_ca.authority, applications)
    before = await recorded(local_ca)
    error = await refused(enrollment.enroll(credential.id, secret, make_csr([]), "est:x"))
    assert (error.kind, error.message) == (
        ErrorKind.FORBIDDEN,
        "this enrollment code is not bound to an approved application: " + issued_only("badge"),
    )
    assert await recorded(local_ca) == before
    [(listed, used)] = await credentials.listing(unused_only=True)
    assert listed.id == credential.id and used is None
    stored = await local_ca.registry.credentials.get(credential.id)
    assert stored is not None and stored.claimed_at is None  # not held: still usable


async def test_p2_a_person_certificate_is_not_renewed_by_its_holder(
    local_ca: LocalCA,
) -> None:
    """EST simplereenroll, CMP kur/cr with the current certificate: each certificate of a
    profile with personal identifiers has its own application (P2)."""
    issued = await local_ca.authority.issue(
        "person", make_csr(PERSON), "op", **await approved_application(local_ca, "person")
    )
    holders = HolderEnrollment(local_ca.registry, local_ca.authority)
    subject = names.attributes_of(x509.load_der_x509_certificate(issued.der).subject)
    before = await recorded(local_ca)
    for renewal in (
        lambda: holders.reenroll(issued.der, make_csr(subject), "est:x"),
        lambda: holders.enroll_as_holder(issued.der, make_csr([]), "est:x", "person"),
    ):
        error = await refused(renewal())
        assert (error.kind, error.message) == (ErrorKind.FORBIDDEN, issued_only("person"))
    assert await recorded(local_ca) == before
    record = await local_ca.registry.get_certificate(issued.serial)
    assert record is not None and record.status is CertificateStatus.GOOD


def settings_text(old: str, new: str) -> str:
    """The default settings with `old` replaced by `new` (which must be there)."""
    text = (resources.files("config") / "default.toml").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new)


def test_d2_settings_refuse_turning_registration_off_for_personal_identifiers(
    tmp_path: Path,
) -> None:
    for profile, line in (
        ("person", "requires_registered_subscriber = true\n"),
        ("organisation", "requires_registered_subscriber = true   # as for person\n"),
        (
            "sole-proprietor",
            "requires_registered_subscriber = true   # as for person: the subject takes SNILS, "
            "INN, OGRNIP\n",
        ),
    ):
        home = tmp_path / profile
        home.mkdir()
        off = settings_text(line, "requires_registered_subscriber = false\n")
        (home / "settings.toml").write_text(off)
        with pytest.raises(SettingsError) as caught:
            load_settings(home)
        assert str(caught.value) == (
            f"profiles.{profile}.requires_registered_subscriber: must be true for a profile "
            "whose subject takes SNILS, INN, INNLE, OGRN, OGRNIP (D2, P2, P3)"
        )
    home = tmp_path / "unset"
    home.mkdir()
    (home / "settings.toml").write_text(
        settings_text("requires_registered_subscriber = true\n", "\n")
        + '\n[profiles.plain]\nsubject_attributes = ["CN", "SN", "GN"]\n'
    )
    settings = load_settings(home)
    assert settings.profile("person").requires_registered_subscriber is None
    assert settings.profile("person").registered_subscribers_only  # unset: on, by SNILS
    assert settings.profile("organisation").registered_subscribers_only
    assert not settings.profile("tls-client").registered_subscribers_only
    assert not settings.profile("plain").registered_subscribers_only  # names alone: not
