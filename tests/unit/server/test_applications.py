"""Applications: requests of a profile that requires approval wait for an operator
(RFC 7030 4.2.3); approval issues from the kept request and the credential's subject (D2)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import timedelta

import pytest
from cryptography import x509

from hsm.backend import HSMError
from server.authority import Authority
from server.enrollment.credentials import REFUSAL, EnrollmentCredentials
from server.enrollment.enroll import Enrollment, HolderEnrollment, ServerKeyGeneration
from server.errors import CAError, ErrorKind
from server.ra.applications import Applications
from server.request_checks import parse_request
from tests.csr_factory import make_csr, new_key
from tests.local_ca import GatedSigner, LocalCA, ra_services
from tests.unit.server.test_authority import FailingSigner

HOUR = timedelta(hours=1)


@dataclasses.dataclass
class Desk:
    credentials: EnrollmentCredentials
    applications: Applications
    enrollment: Enrollment

    async def code(self, subject: str = "CN=device-1,O=Plant") -> tuple[str, str]:
        credential, secret = await self.credentials.create("tls-client", subject, HOUR, "op")
        return credential.id, secret


@pytest.fixture
def desk(local_ca: LocalCA) -> Desk:
    profiles = dict(local_ca.settings.profiles)
    profiles["tls-client"] = dataclasses.replace(profiles["tls-client"], requires_approval=True)
    settings = dataclasses.replace(local_ca.settings, profiles=profiles)
    credentials = EnrollmentCredentials(
        settings, local_ca.registry, lambda: b"k" * 32, local_ca.clock
    )
    applications = ra_services(local_ca, credentials, settings)[1]
    return Desk(
        credentials,
        applications,
        Enrollment(settings, credentials, local_ca.authority, applications),
    )


async def refused(coroutine) -> CAError:  # type: ignore[no-untyped-def]
    with pytest.raises(CAError) as caught:
        await coroutine
    return caught.value


def rows(local_ca: LocalCA, table: str) -> int:
    path = local_ca.settings.registry_file
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_a_request_waits_for_approval_then_gets_its_certificate(
    desk: Desk, local_ca: LocalCA
) -> None:
    code = await desk.code()
    csr = make_csr([])
    first = await refused(desk.enrollment.enroll(*code, csr, "est:a"))
    assert first.kind is ErrorKind.PENDING
    waiting = await desk.applications.by_state("submitted")
    assert [(a.profile, a.subject, a.credential_id) for a in waiting] == [
        ("tls-client", "CN=device-1,O=Plant", code[0])
    ]
    assert first.message == f"application {waiting[0].id} awaits an operator"
    certificates = rows(local_ca, "certificates")
    again = await refused(desk.enrollment.enroll(*code, csr, "est:a"))  # the client repeats
    assert again.kind is ErrorKind.PENDING
    assert rows(local_ca, "applications") == 1 and rows(local_ca, "certificates") == certificates

    issued = (await desk.applications.approve(waiting[0].id, "officer")).issued
    assert issued is not None
    subject = x509.load_der_x509_certificate(issued.der).subject.rfc4514_string()
    assert subject == "CN=device-1,O=Plant"  # the credential's, not the request's (D2)
    assert await desk.enrollment.enroll(*code, csr, "est:a") == issued  # the repeat gets it
    done = await desk.applications.by_state("issued")
    assert [(a.id, a.serial, a.decided_by) for a in done] == [
        (waiting[0].id, issued.serial, "officer")
    ]
    another = await refused(desk.enrollment.enroll(*code, make_csr([]), "est:a"))
    assert (another.kind, another.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)  # spent
    second = await refused(desk.applications.approve(waiting[0].id, "officer"))
    assert second.kind is ErrorKind.REJECTED and "issued already" in second.message


async def test_a_request_parsed_already_waits_as_its_octets_would(desk: Desk) -> None:
    """EST over TLS 1.2 parses a request for its tls-unique and hands it on parsed: the
    application keeps the request's octets, so the repeat, sent again as octets, is the
    same request and gets the certificate approval issued."""
    code = await desk.code()
    csr = make_csr([])
    first = await refused(desk.enrollment.enroll(*code, parse_request(csr), "est:a"))
    assert first.kind is ErrorKind.PENDING
    (waiting,) = await desk.applications.by_state("submitted")
    issued = (await desk.applications.approve(waiting.id, "officer")).issued
    assert issued is not None
    assert await desk.enrollment.enroll(*code, csr, "est:a") == issued


async def test_a_rejected_application_tells_the_client_why(desk: Desk) -> None:
    code = await desk.code()
    csr = make_csr([("CN", "device-1"), ("O", "Plant")])
    await refused(desk.enrollment.enroll(*code, csr, "est:a"))
    (application,) = await desk.applications.by_state()
    assert (await refused(desk.applications.reject(application.id, "officer", " "))).kind is (
        ErrorKind.REJECTED
    )
    await desk.applications.reject(application.id, "officer", "no such device in the plant")
    answer = await refused(desk.enrollment.enroll(*code, csr, "est:a"))
    assert answer.kind is ErrorKind.REJECTED
    assert answer.message.endswith("was rejected: no such device in the plant")
    late = await refused(desk.applications.approve(application.id, "officer"))
    assert late.kind is ErrorKind.REJECTED and "rejected already" in late.message
    # The credential stays spent: a new request with it is refused, not a new application.
    other = await refused(desk.enrollment.enroll(*code, make_csr([]), "est:a"))
    assert (other.kind, other.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)
    assert len(await desk.applications.by_state()) == 1


async def test_a_request_the_profile_refuses_is_no_application(
    desk: Desk, local_ca: LocalCA
) -> None:
    code = await desk.code()
    for csr, kind in (
        (make_csr([], key=new_key("ed25519")), ErrorKind.REJECTED),  # key type
        (make_csr([("CN", "someone else")]), ErrorKind.REJECTED),  # subject (D2)
        (b"\x30\x03\x02\x01\x01", ErrorKind.MALFORMED),
    ):
        assert (await refused(desk.enrollment.enroll(*code, csr, "est:a"))).kind is kind
    assert rows(local_ca, "applications") == 0
    pending = await refused(desk.enrollment.enroll(*code, make_csr([]), "est:a"))
    assert pending.kind is ErrorKind.PENDING  # the credential was left usable


async def test_a_failed_approval_leaves_the_application_waiting(
    desk: Desk, local_ca: LocalCA
) -> None:
    code = await desk.code()
    await refused(desk.enrollment.enroll(*code, make_csr([]), "est:a"))
    (application,) = await desk.applications.by_state()
    down = Authority(local_ca.settings, local_ca.registry, FailingSigner(HSMError("gone")),
                     local_ca.clock)  # fmt: skip
    failing = ra_services(local_ca, desk.credentials, authority=down)[1]
    error = await refused(failing.approve(application.id, "officer"))
    assert error.kind is ErrorKind.UNAVAILABLE
    (still,) = await desk.applications.by_state("submitted")
    assert (still.decided_by, still.decided_at, still.serial) == (None, None, None)
    assert (await desk.applications.approve(application.id, "officer")).application.serial


async def test_an_application_being_approved_cannot_be_rejected(
    desk: Desk, local_ca: LocalCA
) -> None:
    code = await desk.code()
    await refused(desk.enrollment.enroll(*code, make_csr([]), "est:a"))
    (application,) = await desk.applications.by_state()
    signer = GatedSigner(local_ca.backend)
    slow = Authority(local_ca.settings, local_ca.registry, signer, local_ca.clock)
    approving = asyncio.create_task(
        ra_services(local_ca, desk.credentials, authority=slow)[1].approve(
            application.id, "officer-1"
        )
    )
    await signer.asked.wait()  # its intent is recorded, holding the application
    error = await refused(desk.applications.reject(application.id, "officer-2", "no"))
    assert error.kind is ErrorKind.REJECTED and "being decided" in error.message
    second = await refused(desk.applications.approve(application.id, "officer-2"))
    assert second.kind is ErrorKind.REJECTED and "being decided" in second.message
    signer.open()
    assert (await approving).application.state == "issued"


async def test_serverkeygen_does_not_wait_for_approval(desk: Desk, local_ca: LocalCA) -> None:
    """D5: a key the CA makes is never kept, so it cannot wait for an operator."""
    code = await desk.code()
    keygen = ServerKeyGeneration(
        desk.enrollment, HolderEnrollment(local_ca.registry, local_ca.authority)
    )
    error = await refused(keygen.generate(*code, make_csr([]), "est:a", "tls-client"))
    assert error.kind is ErrorKind.REJECTED and "requires approval" in error.message
    assert rows(local_ca, "applications") == 0
