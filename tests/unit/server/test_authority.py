"""Issuance rules (server/authority.py) on a real registry and real keys."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

from config import load_settings
from hsm.backend import HSMError, KeyRef
from hsm.pipeline import WrongSignature
from server.authority import Authority
from server.errors import CAError, ErrorKind
from server.registry import CertificateStatus, Registry
from server.registry.engine import Engine
from server.status.publication import StatusPublication
from tests.csr_factory import ORGANISATION, PERSON, make_csr, new_key, tamper
from tests.lint import lint_certificate
from tests.local_ca import BackendSigner, LocalCA, approved_application
from tests.wrong_signer import OtherKeyBackend


def rows(ca: LocalCA) -> int:
    with sqlite3.connect(ca.settings.registry_file) as db:
        return db.execute("SELECT count(*) FROM certificates").fetchone()[0]


async def route(ca: LocalCA, profile: str) -> dict[str, str]:
    """The registered subscriber and approved application a profile with personal
    identifiers needs (none for the others): these tests are of issuance's own rules."""
    if profile in ca.settings.profiles and ca.settings.profile(profile).registered_subscribers_only:
        return await approved_application(ca, profile)
    return {}


async def ca_certificate(ca: LocalCA) -> x509.Certificate:
    return x509.load_der_x509_certificate((await ca.authority.generation()).certificate_der)


@pytest.mark.parametrize(
    ("profile", "subject", "san"),
    [
        ("tls-server", [("CN", "www.example.ru"), ("O", "Example")],
         {"dns": ("www.example.ru", "example.ru"), "ips": ("127.0.0.1",)}),
        ("tls-client", [("CN", "device-42")], {}),
        ("person", PERSON, {"emails": ("ivanov@example.ru",)}),
        ("organisation", ORGANISATION, {}),
    ],
)  # fmt: skip
async def test_issued_certificates_verify_and_lint_clean(
    local_ca: LocalCA, profile: str, subject: list, san: dict
) -> None:
    issued = await local_ca.authority.issue(
        profile, make_csr(subject, **san), "test", **await route(local_ca, profile)
    )
    certificate = x509.load_der_x509_certificate(issued.der)
    certificate.verify_directly_issued_by(await ca_certificate(local_ca))
    assert format(certificate.serial_number, "x") == issued.serial
    assert lint_certificate(issued.der) == []
    record = await local_ca.registry.get_certificate(issued.serial)
    assert record is not None and record.der == issued.der and record.profile == profile


async def test_person_certificate_carries_the_russian_profile(local_ca: LocalCA) -> None:
    issued = await local_ca.authority.issue(
        "person", make_csr(PERSON), "test", **await route(local_ca, "person")
    )
    certificate = asn1_x509.Certificate.load(issued.der)
    types = {
        atv["type"].dotted: atv["value"].__class__.__name__
        for rdn in certificate.subject.chosen
        for atv in rdn
    }
    assert types["1.2.643.100.3"] == "Any" or "NumericString" in types["1.2.643.100.3"]
    assert b"\x12\x0b11223344595" in issued.der  # SNILS as NumericString (tag 0x12)
    assert b"\x12\x0c500100732259" in issued.der  # INN as NumericString
    parsed = x509.load_der_x509_certificate(issued.der)
    oids = {extension.oid.dotted_string for extension in parsed.extensions}
    assert {"1.2.643.100.111", "1.2.643.100.112", "1.2.643.100.114", "2.5.29.16"} <= oids
    policies = parsed.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["1.2.643.100.113.1"]
    usage_period = parsed.extensions.get_extension_for_oid(x509.ObjectIdentifier("2.5.29.16"))
    assert not usage_period.critical


async def test_organisation_certificate_has_ogrn_and_innle(local_ca: LocalCA) -> None:
    issued = await local_ca.authority.issue(
        "organisation", make_csr(ORGANISATION), "test", **await route(local_ca, "organisation")
    )
    assert b"\x12\x0d1027700132195" in issued.der
    assert b"\x12\x0a7707083893" in issued.der


async def test_extensions_follow_the_profile_and_settings(local_ca: LocalCA) -> None:
    issued = await local_ca.authority.issue(
        "tls-server", make_csr([("CN", "a.example")], dns=("a.example",)), "test"
    )
    certificate = x509.load_der_x509_certificate(issued.der)
    ca = await ca_certificate(local_ca)
    ext = certificate.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    key_usage = ext.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [oid.dotted_string for oid in eku] == ["1.3.6.1.5.5.7.3.1"]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
    cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == "http://127.0.0.1:8080/crl/demo.crl"
    aia = {(d.access_method.dotted_string, d.access_location.value)
           for d in ext.get_extension_for_class(x509.AuthorityInformationAccess).value}  # fmt: skip
    assert aia == {
        ("1.3.6.1.5.5.7.48.1", "http://127.0.0.1:8080/ocsp"),
        ("1.3.6.1.5.5.7.48.2", "http://127.0.0.1:8080/ca/demo.crt"),
    }


async def test_serials_are_positive_random_and_unique(local_ca: LocalCA) -> None:
    serials = set()
    for n in range(40):
        issued = await local_ca.authority.issue("tls-client", make_csr([("CN", f"d{n}")]), "t")
        serials.add(int(issued.serial, 16))
    assert len(serials) == 40
    assert all(0 < s < 2**127 for s in serials)
    assert max(s.bit_length() for s in serials) > 120  # random high bits, not a counter


async def test_validity_never_passes_the_ca_certificate(local_ca: LocalCA) -> None:
    ca = await ca_certificate(local_ca)
    local_ca.clock.now = ca.not_valid_after_utc - timedelta(days=10)
    issued = await local_ca.authority.issue("tls-client", make_csr([("CN", "late")]), "t")
    certificate = x509.load_der_x509_certificate(issued.der)
    assert certificate.not_valid_after_utc == ca.not_valid_after_utc


async def test_validity_never_passes_the_private_key_lifetime(local_ca: LocalCA) -> None:
    extra = "[profiles.short-key]\nvalidity_days = 365\nprivate_key_usage_days = 100\n"
    settings_text = local_ca.settings.home / "settings.toml"
    settings_text.write_text(settings_text.read_text() + extra)
    settings = load_settings(local_ca.settings.home, environ={})
    authority = Authority(settings, local_ca.registry, local_ca.signer, local_ca.clock)
    issued = await authority.issue("short-key", make_csr([("CN", "k1")]), "t")
    certificate = x509.load_der_x509_certificate(issued.der)
    assert certificate.not_valid_after_utc == local_ca.clock.now + timedelta(days=100)
    period = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier("2.5.29.16"))
    assert period.value.not_after == certificate.not_valid_after_utc.replace(tzinfo=None)


async def test_subject_given_by_the_caller_replaces_the_request(local_ca: LocalCA) -> None:
    csr = make_csr([("CN", "what the client claims")])
    issued = await local_ca.authority.issue(
        "tls-client", csr, "t", subject=[("CN", "verified name")]
    )
    certificate = x509.load_der_x509_certificate(issued.der)
    assert certificate.subject.rfc4514_string() == "CN=verified name"


@pytest.mark.parametrize(
    ("profile", "csr", "kind", "message"),
    [
        ("tls-client", b"not a request", ErrorKind.MALFORMED, "PKCS#10"),
        ("tls-client", tamper(make_csr([("CN", "x")])), ErrorKind.BAD_POP, "does not verify"),
        ("no-such", make_csr([("CN", "x")]), ErrorKind.REJECTED, "no certificate profile"),
        ("tls-server", make_csr([("CN", "x"), ("emailAddress", "a@b.c")], dns=("x",)),
         ErrorKind.REJECTED, "does not allow subject attribute emailAddress"),
        ("tls-server", make_csr([("CN", "x")]), ErrorKind.REJECTED, "requires a subjectAltName"),
        ("tls-client", make_csr([("CN", "x")], ips=("10.0.0.1",)), ErrorKind.REJECTED,
         "does not allow ip subjectAltName"),
        ("person", make_csr([a for a in PERSON if a[0] != "SNILS"]), ErrorKind.REJECTED,
         "requires subject attribute SNILS"),
        ("person", make_csr([(a, "11223344596" if a == "SNILS" else v) for a, v in PERSON]),
         ErrorKind.REJECTED, "SNILS"),
        ("organisation", make_csr([(a, "1027700132196" if a == "OGRN" else v)
                                   for a, v in ORGANISATION]), ErrorKind.REJECTED, "OGRN"),
        ("person", make_csr(PERSON, key=new_key("ed25519")), ErrorKind.REJECTED,
         "does not allow ed25519"),
        ("tls-client", make_csr([("CN", "x"), ("CN", "y")]), ErrorKind.REJECTED, "twice"),
        ("tls-client", make_csr([("CN", "x")], key=ec.generate_private_key(ec.SECP256K1())),
         ErrorKind.REJECTED, "unsupported public key: elliptic curve secp256k1"),
    ],
)  # fmt: skip
async def test_refusals_name_their_reason_and_leave_no_row(
    local_ca: LocalCA, profile: str, csr: bytes, kind: ErrorKind, message: str
) -> None:
    registered = await route(local_ca, profile)
    before = rows(local_ca)
    with pytest.raises(CAError) as caught:
        await local_ca.authority.issue(profile, csr, "test", **registered)
    assert caught.value.kind is kind
    assert message in caught.value.message
    assert rows(local_ca) == before


async def test_a_public_key_is_certified_once(local_ca: LocalCA) -> None:
    key = new_key()
    await local_ca.authority.issue("tls-client", make_csr([("CN", "one")], key=key), "t")
    before = rows(local_ca)
    with pytest.raises(CAError) as caught:
        await local_ca.authority.issue("tls-client", make_csr([("CN", "two")], key=key), "t")
    assert caught.value.kind is ErrorKind.DUPLICATE
    assert rows(local_ca) == before


async def test_the_ca_key_itself_cannot_be_certified(local_ca: LocalCA) -> None:
    generation = await local_ca.authority.generation()
    path = generation.key_uri.removeprefix("file:")
    with open(path, "rb") as handle:
        ca_key = serialization.load_pem_private_key(handle.read(), b"test passphrase")
    with pytest.raises(CAError) as caught:
        await local_ca.authority.issue("tls-client", make_csr([("CN", "ca?")], key=ca_key), "t")
    assert caught.value.kind is ErrorKind.DUPLICATE


class FailingSigner:
    """A pipeline whose every request fails with `error`."""

    def __init__(self, error: HSMError) -> None:
        self.error = error

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        future.set_exception(self.error)
        return future

    submit_verified = submit


@pytest.mark.parametrize(
    ("signer", "kind"),
    [
        (FailingSigner(HSMError("token removed")), ErrorKind.UNAVAILABLE),
        (FailingSigner(WrongSignature("the signer's answer is for another message")),
         ErrorKind.INTERNAL),
        ("other key", ErrorKind.INTERNAL),  # signs with another key: it does not verify
    ],
)  # fmt: skip
async def test_a_failure_while_signing_leaves_no_row(
    local_ca: LocalCA, signer: FailingSigner | str, kind: ErrorKind
) -> None:
    if signer == "other key":
        signer = BackendSigner(OtherKeyBackend(local_ca.backend))
    authority = Authority(local_ca.settings, local_ca.registry, signer, local_ca.clock)
    key = new_key()
    before = rows(local_ca)
    with pytest.raises(CAError) as caught:
        await authority.issue("tls-client", make_csr([("CN", "x")], key=key), "t")
    assert caught.value.kind is kind
    assert rows(local_ca) == before
    # The key was not left reserved by the failed attempt.
    await local_ca.authority.issue("tls-client", make_csr([("CN", "x")], key=key), "t")


async def test_the_ocsp_responder_key_matches_its_certificate(local_ca: LocalCA) -> None:
    generation = await local_ca.authority.generation()
    responder = await local_ca.registry.ocsp_responder(generation.id)
    assert responder is not None
    serial, key = responder
    record = await local_ca.registry.get_certificate(serial)
    assert record is not None and record.profile == "ocsp-responder" and record.der
    certificate = x509.load_der_x509_certificate(record.der)
    certificate.verify_directly_issued_by(await ca_certificate(local_ca))
    signature = local_ca.backend.sign_many(key, [b"an OCSP response"])[0]
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, b"an OCSP response", ec.ECDSA(hashes.SHA256()))
    assert lint_certificate(record.der) == []


class FollowedRegistry(Registry):
    """A real registry whose intents each share their group with a follower that waits
    in the transaction until `go`, after the intent's own work ran."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.entered, self.go = asyncio.Event(), asyncio.Event()
        self.followers: list[asyncio.Future[None]] = []

    async def record_intent(self, *args: Any, **kwargs: Any) -> None:
        recording = asyncio.ensure_future(super().record_intent(*args, **kwargs))
        self.followers.append(asyncio.ensure_future(self.writes.run(self._follow)))
        await recording

    async def _follow(self, db: object) -> None:
        self.entered.set()
        await self.go.wait()


async def test_an_issuance_cancelled_while_its_intent_commits_with_a_group_leaves_no_row(
    local_ca: LocalCA,
) -> None:
    """Group commit (server/registry/group_commit.py): an intent whose caller is cancelled
    after its work ran commits with its group; the issuance then discards it."""
    registry = FollowedRegistry(local_ca.registry.engine)
    authority = Authority(local_ca.settings, registry, local_ca.signer, local_ca.clock)
    before = rows(local_ca)
    async with asyncio.timeout(60):
        issuing = asyncio.ensure_future(
            authority.issue("tls-client", make_csr([("CN", "cancelled")]), "t")
        )
        await registry.entered.wait()  # the intent's work ran; its group has not committed
        issuing.cancel()
        registry.go.set()
        with pytest.raises(asyncio.CancelledError):
            await issuing
        await asyncio.gather(*registry.followers)
    assert await local_ca.registry.open_intents() == []
    assert rows(local_ca) == before


class QueueWatchingSigner:
    """Signs at once, and notes how many requests were queued each time the loop got
    control after one: what a pipeline worker would find to put in one batch."""

    def __init__(self, signer: Any) -> None:
        self._signer = signer
        self.queued = 0
        self.batches: list[int] = []

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        if not self.queued:
            asyncio.get_running_loop().call_soon(self._take)
        self.queued += 1
        return self._signer.submit(key, data)

    def submit_verified(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        if not self.queued:
            asyncio.get_running_loop().call_soon(self._take)
        self.queued += 1
        return self._signer.submit_verified(key, data)

    def _take(self) -> None:
        self.batches.append(self.queued)
        self.queued = 0


@pytest.mark.parametrize("fails", [False, True])
async def test_a_certificate_and_its_response_are_signed_in_one_batch(
    local_ca: LocalCA, fails: bool
) -> None:
    """The certificate's signature and its OCSP response's are both queued before the loop
    runs anything else: one batch, one round trip. A response that cannot be made leaves
    nothing recorded, and the certificate's signature is given up."""
    signer = QueueWatchingSigner(local_ca.signer)
    status = StatusPublication(local_ca.settings, local_ca.registry, signer, local_ca.clock)
    await status.ocsp.load_issuers()
    publisher: Any = status
    if fails:
        publisher = FailingResponses()
    authority = Authority(local_ca.settings, local_ca.registry, signer, local_ca.clock, publisher)
    if fails:
        with pytest.raises(CAError, match="no response"):
            await authority.issue("tls-client", make_csr([("CN", "a")]), "test")
        assert await local_ca.registry.open_intents() == []
        assert signer.batches == [1]
        return
    issued = await authority.issue("tls-client", make_csr([("CN", "a")]), "test")
    assert signer.batches == [2]
    response = await local_ca.registry.status.ocsp_response(issued.serial)
    assert response is not None and response.status is CertificateStatus.GOOD


class FailingResponses:
    async def prepare_issued(self, serial: str, generation_id: int) -> None:
        raise CAError(ErrorKind.UNAVAILABLE, "no response")

    def issued(self, row: object) -> None:
        raise AssertionError("nothing was issued")
