"""A crash mid-issuance leaves nothing stuck: each crash point is reached through our own
seams (a signer that answers only when told, a registry closed under the request, an
owner process that is gone), on a real SQLite file; then the sweeper settles what is left
and every code works exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import CollectorRegistry

from config import Settings
from protocols.x509 import names
from server.authority import Authority, IssuedCertificate
from server.context import open_registry
from server.enrollment.credentials import REFUSAL, EnrollmentCredentials
from server.enrollment.enroll import Enrollment
from server.errors import CAError, ErrorKind
from server.node.intent_sweeper import IntentSweeper
from server.node.process_identity import OwnerState, owner_state, this_process
from server.ra.applications import Applications
from server.ra.subscribers import Subscribers
from server.registry import Registry
from server.registry.records import AuditEntry, to_text
from server.status.publication import StatusPublication
from tests.csr_factory import make_csr, new_key
from tests.local_ca import Crash, DiesAfterCommit, GatedSigner, LocalCA

HOUR = timedelta(hours=1)


@dataclass
class Process:
    """The services of one server process over the shared registry file."""

    registry: Registry
    signer: GatedSigner | None
    credentials: EnrollmentCredentials
    applications: Applications
    enrollment: Enrollment


def services(
    local_ca: LocalCA,
    registry: Registry,
    authority: Authority,
    settings: Settings | None = None,
    signer: GatedSigner | None = None,
) -> Process:
    settings, clock = settings or local_ca.settings, local_ca.clock
    credentials = EnrollmentCredentials(settings, registry, lambda: b"k" * 32, clock)
    subscribers = Subscribers(settings, registry, credentials, clock)
    applications = Applications(settings, registry, credentials, authority, subscribers, clock)
    enrollment = Enrollment(settings, credentials, authority, applications)
    return Process(registry, signer, credentials, applications, enrollment)


async def doomed_process(
    local_ca: LocalCA, owner: str, settings: Settings | None = None
) -> Process:
    """A second process on the same registry file, owned by `owner`, whose signer answers
    only when told."""
    settings = settings or local_ca.settings
    registry = await open_registry(settings)
    signer = GatedSigner(local_ca.backend)
    authority = Authority(settings, registry, signer, local_ca.clock, owner=owner)
    return services(local_ca, registry, authority, settings, signer)


async def enrolling(
    process: Process, key: ec.EllipticCurvePrivateKey | None = None
) -> tuple[str, str, asyncio.Task[IssuedCertificate]]:
    """A new code of `process` enrolling `key`, stopped at the signer: its intent is
    recorded, holding the code. The code's id, its secret, and the request under way."""
    credential, secret = await process.credentials.create("tls-client", "CN=d", HOUR, "op")
    request = asyncio.create_task(
        process.enrollment.enroll(credential.id, secret, make_csr([], key=key), "est")
    )
    assert process.signer is not None
    await process.signer.asked.wait()
    return credential.id, secret, request


async def crash(process: Process, request: asyncio.Task[object], signed: bool) -> None:
    """The process dies: nothing it does from now on reaches the registry. With `signed`,
    its signature arrives first (the certificate exists but is never recorded)."""
    await process.registry.close()
    assert process.signer is not None
    if signed:
        process.signer.open()
    else:
        request.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await request
    assert request.done()


@pytest.fixture
def restarted(local_ca: LocalCA) -> Process:
    """The services of the process that comes after the crash."""
    return services(local_ca, local_ca.registry, local_ca.authority)


def sweeper(local_ca: LocalCA, metrics: CollectorRegistry | None = None) -> IntentSweeper:
    return IntentSweeper(local_ca.settings, local_ca.registry, local_ca.clock, metrics)


async def refused(coroutine: Awaitable[object]) -> CAError:
    with pytest.raises(CAError) as caught:
        await coroutine
    return caught.value


async def settlements(local_ca: LocalCA) -> list[AuditEntry]:
    entries = await local_ca.registry.search.audit_entries(1000, None)
    return [entry for entry in entries if entry.action == "intent.settle"]


async def works_exactly_once(
    process: Process, code: tuple[str, str], key: ec.EllipticCurvePrivateKey
) -> IssuedCertificate:
    """The code enrolls the key once (so neither is held any longer), then never again."""
    issued = await process.enrollment.enroll(*code, make_csr([], key=key), "est")
    again = await refused(process.enrollment.enroll(*code, make_csr([]), "est"))
    assert (again.kind, again.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)
    return issued


async def test_a_crash_before_the_signature_is_settled_and_frees_the_code_and_the_key(
    local_ca: LocalCA, gone_owner: str, restarted: Process
) -> None:
    doomed = await doomed_process(local_ca, gone_owner)
    key = new_key()
    credential_id, secret, request = await enrolling(doomed, key)
    await crash(doomed, request, signed=False)
    (left,) = await local_ca.registry.open_intents()
    assert (left.owner, left.credential_id) == (gone_owner, credential_id)
    held = await refused(restarted.enrollment.enroll(credential_id, secret, make_csr([]), "e"))
    assert held.kind is ErrorKind.UNAUTHORIZED  # what main left for ever
    assert held.message == REFUSAL

    metrics = CollectorRegistry()
    assert await sweeper(local_ca, metrics).sweep() == 1
    counted = {"why": "owner gone"}
    assert metrics.get_sample_value("ca_unfinished_issuance_settled_total", counted) == 1
    assert await local_ca.registry.open_intents() == []
    (entry,) = await settlements(local_ca)
    assert (entry.actor, entry.target) == ("ca:intent-sweeper", left.serial)
    assert entry.details == {
        "outcome": "never issued", "why": "owner gone", "owner": gone_owner,
        "credential": credential_id, "application": None,
    }  # fmt: skip
    issued = await works_exactly_once(restarted, (credential_id, secret), key)
    assert await local_ca.registry.get_certificate(issued.serial) is not None
    assert (await local_ca.registry.verify_audit_chain()).intact


async def test_a_certificate_signed_but_not_recorded_is_settled_as_never_issued(
    local_ca: LocalCA, gone_owner: str, restarted: Process
) -> None:
    doomed = await doomed_process(local_ca, gone_owner)
    key = new_key()
    credential_id, secret, request = await enrolling(doomed, key)
    await crash(doomed, request, signed=True)  # signed, never recorded: it never left
    (left,) = await local_ca.registry.open_intents()

    assert await sweeper(local_ca).sweep() == 1
    assert await local_ca.registry.get_certificate(left.serial) is None
    assert await local_ca.registry.open_intents() == []
    (entry,) = await settlements(local_ca)
    assert entry.details["outcome"] == "never issued"
    await works_exactly_once(restarted, (credential_id, secret), key)


async def test_a_crash_after_the_certificate_is_recorded_leaves_its_code_spent(
    local_ca: LocalCA, restarted: Process
) -> None:
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock)  # fmt: skip
    await status.ocsp.load_issuers()
    dying = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                      DiesAfterCommit(status))  # fmt: skip
    doomed = services(local_ca, local_ca.registry, dying)
    credential, secret = await doomed.credentials.create("tls-client", "CN=d", HOUR, "op")
    with pytest.raises(Crash):  # recorded; the answer never leaves
        await doomed.enrollment.enroll(credential.id, secret, make_csr([]), "est")

    assert await sweeper(local_ca).sweep() == 0
    listing = await restarted.credentials.listing(unused_only=False)
    ((listed, serial),) = listing
    assert listed.id == credential.id and serial is not None
    assert await local_ca.registry.get_certificate(serial) is not None
    spent = await refused(restarted.enrollment.enroll(credential.id, secret, make_csr([]), "e"))
    assert (spent.kind, spent.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)
    assert await settlements(local_ca) == []


async def test_an_intent_refused_for_its_key_never_holds_the_code(
    local_ca: LocalCA, restarted: Process
) -> None:
    key = new_key()
    await local_ca.authority.issue("tls-client", make_csr([("CN", "x")], key=key), "cli")
    credential, secret = await restarted.credentials.create("tls-client", "CN=d", HOUR, "op")
    duplicate = await refused(
        restarted.enrollment.enroll(credential.id, secret, make_csr([], key=key), "est")
    )
    assert duplicate.kind is ErrorKind.DUPLICATE
    assert await local_ca.registry.open_intents() == []
    await works_exactly_once(restarted, (credential.id, secret), new_key())


async def test_a_crash_while_approving_gives_the_application_back(
    local_ca: LocalCA, gone_owner: str
) -> None:
    profiles = dict(local_ca.settings.profiles)
    profiles["tls-client"] = dataclasses.replace(profiles["tls-client"], requires_approval=True)
    settings = dataclasses.replace(local_ca.settings, profiles=profiles)
    desk = services(local_ca, local_ca.registry, local_ca.authority, settings)
    credential, secret = await desk.credentials.create("tls-client", "CN=d", HOUR, "op")
    csr = make_csr([])
    waiting = await refused(desk.enrollment.enroll(credential.id, secret, csr, "est"))
    assert waiting.kind is ErrorKind.PENDING
    (application,) = await desk.applications.by_state("submitted")
    doomed = await doomed_process(local_ca, gone_owner, settings)
    approving = asyncio.create_task(doomed.applications.approve(application.id, "officer"))
    assert doomed.signer is not None
    await doomed.signer.asked.wait()
    await crash(doomed, approving, signed=True)
    held = await refused(desk.applications.reject(application.id, "officer", "no"))
    assert held.kind is ErrorKind.REJECTED
    assert held.message == f"application {application.id} is being decided"

    assert await sweeper(local_ca).sweep() == 1
    (entry,) = await settlements(local_ca)
    assert (entry.details["application"], entry.details["credential"]) == (application.id, None)
    (again,) = await desk.applications.by_state("submitted")
    assert (again.decided_by, again.decided_at, again.serial) == (None, None, None)
    approval = await desk.applications.approve(application.id, "officer")
    assert approval.issued is not None and approval.application.state == "issued"
    got = await desk.enrollment.enroll(credential.id, secret, csr, "est")  # the client repeats
    assert got.serial == approval.issued.serial
    listing = await desk.credentials.listing(unused_only=False)
    assert [(c.id, serial) for c, serial in listing] == [(credential.id, got.serial)]


async def test_a_live_request_is_not_swept_before_the_timeout(
    local_ca: LocalCA, restarted: Process
) -> None:
    live = await doomed_process(local_ca, this_process())
    _, _, request = await enrolling(live)
    local_ca.clock.advance(seconds=local_ca.settings.enrollment.intent_timeout_seconds - 1)
    assert await sweeper(local_ca).sweep() == 0
    live.signer.open()
    issued = await request
    assert await local_ca.registry.get_certificate(issued.serial) is not None
    await live.registry.close()


async def test_a_request_that_outlives_the_timeout_is_settled_and_then_fails_whole(
    local_ca: LocalCA, restarted: Process
) -> None:
    stuck = await doomed_process(local_ca, this_process())
    key = new_key()
    credential_id, secret, request = await enrolling(stuck, key)
    (left,) = await local_ca.registry.open_intents()
    local_ca.clock.advance(seconds=local_ca.settings.enrollment.intent_timeout_seconds)
    assert await sweeper(local_ca).sweep() == 1
    (entry,) = await settlements(local_ca)
    assert entry.details["why"] == "timed out"
    stuck.signer.open()  # its signature comes after all: the certificate never leaves
    late = await refused(request)
    assert late.kind is ErrorKind.INTERNAL
    assert late.message == f"no pending intent for serial {left.serial}"
    assert await local_ca.registry.get_certificate(left.serial) is None
    await works_exactly_once(restarted, (credential_id, secret), key)
    await stuck.registry.close()


async def test_an_owner_that_cannot_be_told_is_settled_only_after_the_timeout(
    local_ca: LocalCA, restarted: Process
) -> None:
    elsewhere = await doomed_process(local_ca, "another-host/boot/123/456")
    credential_id, secret, request = await enrolling(elsewhere)
    await crash(elsewhere, request, signed=False)
    local_ca.clock.advance(seconds=local_ca.settings.enrollment.intent_timeout_seconds - 1)
    assert await sweeper(local_ca).sweep() == 0
    local_ca.clock.advance(seconds=1)
    assert await sweeper(local_ca).sweep() == 1
    await works_exactly_once(restarted, (credential_id, secret), new_key())


def test_owner_state_tells_a_running_process_from_a_gone_one(gone_owner: str) -> None:
    assert owner_state(this_process()) is OwnerState.ALIVE
    assert owner_state(gone_owner) is OwnerState.GONE
    host, boot, pid, start, ns, machine = this_process().split("/")
    assert machine, "this machine has a machine id (/etc/machine-id)"
    reused = f"{host}/{boot}/{pid}/{int(start) + 1}/{ns}/{machine}"
    assert owner_state(reused) is OwnerState.GONE
    rebooted = f"{host}/another-boot/{pid}/{start}/{ns}/{machine}"
    assert owner_state(rebooted) is OwnerState.GONE
    assert owner_state(f"elsewhere/{boot}/{pid}/{start}/{ns}/{machine}") is OwnerState.UNKNOWN
    # a process of another container with the same host name: its pids mean nothing here
    other_container = f"{host}/{boot}/{pid}/{int(start) + 1}/pid:[1]/{machine}"
    assert owner_state(other_container) is OwnerState.UNKNOWN


def test_a_process_of_another_machine_with_our_host_name_is_never_taken_as_gone() -> None:
    """Nodes on several machines share one PostgreSQL registry; two machines may carry the
    same host name, and both run in the initial pid namespace, which has the same number
    everywhere. Another boot id then means another machine (unless its machine id is ours,
    or it is unknown), and that process's pid says nothing here: it may well be alive."""
    host, _, pid, start, ns, _ = this_process().split("/")
    other_machine = f"{host}/its-boot/{pid}/{int(start) + 1}/{ns}/another-machine-id"
    assert owner_state(other_machine) is OwnerState.UNKNOWN
    written_without_machine_id = f"{host}/its-boot/{pid}/{int(start) + 1}/{ns}"
    assert owner_state(written_without_machine_id) is OwnerState.UNKNOWN


def claimed_the_old_way(local_ca: LocalCA, credential_id: str) -> None:
    """What versions before migration 0012 wrote first, in a transaction of its own."""
    path = local_ca.settings.registry_file
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE enrollment_credentials SET claimed_at = ? WHERE id = ?",
            (to_text(local_ca.clock()), credential_id),
        )


async def test_a_code_an_older_version_left_claimed_is_given_back_after_the_timeout(
    local_ca: LocalCA, restarted: Process
) -> None:
    credential, secret = await restarted.credentials.create("tls-client", "CN=d", HOUR, "op")
    claimed_the_old_way(local_ca, credential.id)  # and then it crashed
    stuck = await refused(restarted.enrollment.enroll(credential.id, secret, make_csr([]), "e"))
    assert stuck.kind is ErrorKind.UNAUTHORIZED
    local_ca.clock.advance(seconds=local_ca.settings.enrollment.intent_timeout_seconds - 1)
    assert await sweeper(local_ca).sweep() == 0
    local_ca.clock.advance(seconds=1)
    assert await sweeper(local_ca).sweep() == 1
    entries = await local_ca.registry.search.audit_entries(1000, None)
    (entry,) = [e for e in entries if e.action == "credential.settle"]
    assert (entry.target, entry.details["outcome"]) == (credential.id, "released")
    await works_exactly_once(restarted, (credential.id, secret), new_key())


async def test_a_code_an_older_version_issued_with_but_never_spent_is_spent_for_it(
    local_ca: LocalCA, restarted: Process
) -> None:
    credential, secret = await restarted.credentials.create(
        "tls-client", "CN=device-9,O=Plant", HOUR, "op"
    )
    other, _ = await restarted.credentials.create("tls-client", "CN=other", HOUR, "op")
    claimed_the_old_way(local_ca, credential.id)
    claimed_the_old_way(local_ca, other.id)
    issued = await local_ca.authority.issue(  # what the older version did next, then crashed
        "tls-client", make_csr([]), "est", subject=names.parse_dn("CN=device-9,O=Plant")
    )
    local_ca.clock.advance(seconds=local_ca.settings.enrollment.intent_timeout_seconds)
    assert await sweeper(local_ca).sweep() == 2
    listing = dict(
        (c.id, serial) for c, serial in await restarted.credentials.listing(unused_only=False)
    )
    assert listing == {credential.id: issued.serial, other.id: None}
    spent = await refused(restarted.enrollment.enroll(credential.id, secret, make_csr([]), "e"))
    assert (spent.kind, spent.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)
    entries = await local_ca.registry.search.audit_entries(1000, None)
    outcomes = {e.target: e.details for e in entries if e.action == "credential.settle"}
    assert outcomes[credential.id]["outcome"] == "spent"
    assert outcomes[credential.id]["serial"] == issued.serial
    assert outcomes[other.id]["outcome"] == "released"


async def test_two_codes_an_older_version_left_for_one_subject_spend_its_certificate_once(
    local_ca: LocalCA, restarted: Process
) -> None:
    """Both claimed the old way for the same subject, one certificate issued: one code is
    spent for it, the other given back at the next sweep, never both spent on it."""
    first, _ = await restarted.credentials.create("tls-client", "CN=twin", HOUR, "op")
    second, _ = await restarted.credentials.create("tls-client", "CN=twin", HOUR, "op")
    claimed_the_old_way(local_ca, first.id)
    claimed_the_old_way(local_ca, second.id)
    issued = await local_ca.authority.issue(
        "tls-client", make_csr([]), "est", subject=names.parse_dn("CN=twin")
    )
    local_ca.clock.advance(seconds=local_ca.settings.enrollment.intent_timeout_seconds)
    assert await sweeper(local_ca).sweep() == 1
    assert await sweeper(local_ca).sweep() == 1
    spent = [serial for _, serial in await restarted.credentials.listing(unused_only=False)]
    assert sorted(spent, key=str) == sorted([issued.serial, None], key=str)
