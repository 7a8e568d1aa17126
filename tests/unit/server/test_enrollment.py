"""One-time enrollment credentials and enrollment with them (D2: the subject comes from
the credential)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509

from server.enrollment.credentials import REFUSAL, EnrollmentCredentials
from server.enrollment.enroll import Enrollment
from server.errors import CAError, ErrorKind
from server.ra.applications import Applications
from server.request_checks import SubjectAltNames
from tests.csr_factory import make_csr, tamper
from tests.local_ca import LocalCA, ra_services


@pytest.fixture
def credentials(local_ca: LocalCA) -> EnrollmentCredentials:
    return EnrollmentCredentials(
        local_ca.settings, local_ca.registry, lambda: b"k" * 32, local_ca.clock
    )


@pytest.fixture
def applications(local_ca: LocalCA, credentials: EnrollmentCredentials) -> Applications:
    return ra_services(local_ca, credentials)[1]


@pytest.fixture
def enrollment(
    local_ca: LocalCA, credentials: EnrollmentCredentials, applications: Applications
) -> Enrollment:
    return Enrollment(local_ca.settings, credentials, local_ca.authority, applications)


async def refused(coroutine) -> CAError:  # type: ignore[no-untyped-def]
    with pytest.raises(CAError) as caught:
        await coroutine
    return caught.value


async def test_enrolling_spends_the_credential(
    local_ca: LocalCA, credentials: EnrollmentCredentials, enrollment: Enrollment
) -> None:
    credential, secret = await credentials.create(
        "tls-client", "CN=device-7,O=Plant", timedelta(hours=1), "op"
    )
    issued = await enrollment.enroll(credential.id, secret, make_csr([]), "est")
    certificate = x509.load_der_x509_certificate(issued.der)
    assert certificate.subject.rfc4514_string() == "CN=device-7,O=Plant"
    again = await refused(enrollment.enroll(credential.id, secret, make_csr([]), "est"))
    assert (again.kind, again.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)


async def test_every_bad_credential_gets_the_same_refusal(
    local_ca: LocalCA, credentials: EnrollmentCredentials, enrollment: Enrollment
) -> None:
    credential, secret = await credentials.create("tls-client", "CN=d", timedelta(hours=1), "op")
    for cid, sec in ((credential.id, secret + "x"), ("ec-0000000000000000", secret)):
        error = await refused(enrollment.enroll(cid, sec, make_csr([]), "est"))
        assert (error.kind, error.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)
    local_ca.clock.advance(hours=2)
    expired = await refused(enrollment.enroll(credential.id, secret, make_csr([]), "est"))
    assert (expired.kind, expired.message) == (ErrorKind.UNAUTHORIZED, REFUSAL)


async def test_a_failed_enrollment_leaves_the_credential_usable(
    credentials: EnrollmentCredentials, enrollment: Enrollment
) -> None:
    credential, secret = await credentials.create("tls-client", "CN=d", timedelta(hours=1), "op")
    bad_pop = await refused(
        enrollment.enroll(credential.id, secret, tamper(make_csr([("CN", "d")])), "est")
    )
    assert bad_pop.kind is ErrorKind.BAD_POP
    other = await refused(
        enrollment.enroll(credential.id, secret, make_csr([("CN", "someone else")]), "est")
    )
    assert other.kind is ErrorKind.REJECTED and "differs" in other.message
    await enrollment.enroll(credential.id, secret, make_csr([("CN", "d")]), "est")


async def test_credentials_are_checked_when_made(credentials: EnrollmentCredentials) -> None:
    hour = timedelta(hours=1)
    assert (
        await refused(credentials.create("nope", "CN=x", hour, "op"))
    ).kind is ErrorKind.REJECTED
    wrong = await refused(credentials.create("tls-server", "CN=x,emailAddress=a@b.c", hour, "op"))
    assert "emailAddress" in wrong.message


async def test_the_secret_is_never_stored(
    local_ca: LocalCA, credentials: EnrollmentCredentials
) -> None:
    _, secret = await credentials.create("tls-client", "CN=d", timedelta(hours=1), "op")
    path = local_ca.settings.registry_file
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert secret.encode() not in stored


async def test_a_credential_allows_only_the_alt_names_it_names(
    credentials: EnrollmentCredentials, enrollment: Enrollment
) -> None:
    """A code made for one server cannot certify another's name (D2)."""
    allowed = SubjectAltNames(dns=["WWW.Example.ru"], ips=["2001:db8:0::1"], emails=[])
    credential, secret = await credentials.create(
        "tls-server", "CN=www.example.ru", timedelta(hours=1), "op", allowed
    )
    for dns, ips, refusal in (
        (("bank.ru",), (), "DNS name bank.ru"),
        (("www.example.ru",), ("192.0.2.1",), "IP address 192.0.2.1"),
    ):
        error = await refused(
            enrollment.enroll(credential.id, secret, make_csr([], dns=dns, ips=ips), "est")
        )
        assert error.kind is ErrorKind.REJECTED
        assert error.message == f"this credential does not allow the {refusal}"
    request = make_csr([], dns=("www.EXAMPLE.ru",), ips=("2001:db8::1",))
    issued = await enrollment.enroll(credential.id, secret, request, "est")
    san = (
        x509.load_der_x509_certificate(issued.der)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    # DNS names compare without case (RFC 4343); the request's spelling is certified.
    assert san.get_values_for_type(x509.DNSName) == ["www.EXAMPLE.ru"]

    bare, bare_secret = await credentials.create(
        "tls-server", "CN=www.example.ru", timedelta(hours=1), "op"
    )
    error = await refused(
        enrollment.enroll(bare.id, bare_secret, make_csr([], dns=("www.example.ru",)), "est")
    )
    assert error.message == "this credential does not allow the DNS name www.example.ru"


@pytest.mark.parametrize(
    ("profile", "alt_names", "refusal"),
    [
        ("tls-server", SubjectAltNames(dns=["-bad-.ru"], ips=[], emails=[]), "not a DNS name"),
        ("tls-server", SubjectAltNames(dns=[], ips=["300.1.1.1"], emails=[]), "IP"),
        ("tls-server", SubjectAltNames(dns=[], ips=[], emails=["a@b.ru"]), "does not allow email"),
        ("tls-client", SubjectAltNames(dns=[], ips=[], emails=["no-at-sign"]), "not an e-mail"),
    ],
)
async def test_alt_names_are_checked_when_the_credential_is_made(
    credentials: EnrollmentCredentials, profile: str, alt_names: SubjectAltNames, refusal: str
) -> None:
    error = await refused(credentials.create(profile, "CN=x", timedelta(hours=1), "op",
                                             alt_names))  # fmt: skip
    assert error.kind is ErrorKind.REJECTED and refusal in error.message


async def test_the_secret_is_derived_again_for_mac_checks(
    local_ca: LocalCA, credentials: EnrollmentCredentials
) -> None:
    """CMP MAC protection needs the shared secret itself: it is derived from the id under
    the home's key, the same every time, different for each credential and each key."""
    credential, secret = await credentials.create("tls-client", "CN=d", timedelta(hours=1), "op")
    found = (await credentials.find_each([credential.id, "ec-0000000000000000"]))[credential.id]
    assert found is not None and credentials.mac_secret(found) == secret.encode()
    _, other_secret = await credentials.create("tls-client", "CN=e", timedelta(hours=1), "op")
    assert other_secret != secret and len(secret) == 32
    elsewhere = EnrollmentCredentials(
        local_ca.settings, local_ca.registry, lambda: b"another home" * 3, local_ca.clock
    )
    assert elsewhere.mac_secret(found) != secret.encode()
    assert await credentials.find_each(["ec-0000000000000000"]) == {}
