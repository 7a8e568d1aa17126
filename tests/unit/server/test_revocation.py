"""Revocation, suspension, resumption and their refusals (R7)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from protocols.crl import CRLReason
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import create_generation
from server.generations.responder import issue_ocsp_responder
from server.registry import CertificateStatus, StatusChangeKind
from server.serials import parse_serial
from server.status.revocation import parse_reason
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA


async def issue(ca: LocalCA, name: str = "device") -> str:
    return (await ca.authority.issue("tls-client", make_csr([("CN", name)]), "t")).serial


async def test_revoke_records_reason_actor_and_invalidity_date(local_ca: LocalCA) -> None:
    serial = await issue(local_ca)
    compromised = local_ca.clock.now - timedelta(hours=3)
    record = await local_ca.revocation.revoke(
        serial.upper(), CRLReason.keyCompromise, "officer:anna", compromised
    )
    assert record.status is CertificateStatus.REVOKED
    last = (await local_ca.registry.status_history(serial))[-1]
    assert (last.change, last.reason, last.actor) == (
        StatusChangeKind.REVOKE, "keyCompromise", "officer:anna",
    )  # fmt: skip
    assert last.invalidity_date == compromised
    assert (await local_ca.registry.verify_audit_chain()).intact


async def test_second_revocation_is_refused(local_ca: LocalCA) -> None:
    serial = await issue(local_ca)
    await local_ca.revocation.revoke(serial, CRLReason.superseded, "o")
    with pytest.raises(CAError) as caught:
        await local_ca.revocation.revoke(serial, CRLReason.superseded, "o")
    assert caught.value.kind is ErrorKind.ALREADY_REVOKED
    assert len(await local_ca.registry.status_history(serial)) == 2


async def test_revoking_an_expired_certificate_is_refused(local_ca: LocalCA) -> None:
    serial = await issue(local_ca)
    local_ca.clock.advance(days=400)
    with pytest.raises(CAError) as caught:
        await local_ca.revocation.revoke(serial, CRLReason.unspecified, "o")
    assert caught.value.kind is ErrorKind.EXPIRED


async def test_unknown_serial_and_bad_serial(local_ca: LocalCA) -> None:
    with pytest.raises(CAError) as caught:
        await local_ca.revocation.revoke("abcdef", CRLReason.unspecified, "o")
    assert caught.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(CAError) as caught:
        await local_ca.revocation.revoke("xyz", CRLReason.unspecified, "o")
    assert caught.value.kind is ErrorKind.MALFORMED


async def test_future_invalidity_date_is_refused(local_ca: LocalCA) -> None:
    serial = await issue(local_ca)
    with pytest.raises(CAError, match="future"):
        await local_ca.revocation.revoke(
            serial, CRLReason.keyCompromise, "o", local_ca.clock.now + timedelta(days=1)
        )


async def test_suspend_resume_then_revoke(local_ca: LocalCA) -> None:
    serial = await issue(local_ca)
    assert (await local_ca.revocation.suspend(serial, "o")).status is CertificateStatus.HOLD
    with pytest.raises(CAError) as caught:
        await local_ca.revocation.suspend(serial, "o")
    assert caught.value.kind is ErrorKind.REJECTED
    assert (await local_ca.revocation.resume(serial, "o")).status is CertificateStatus.GOOD
    with pytest.raises(CAError, match="is good"):
        await local_ca.revocation.resume(serial, "o")
    held = await local_ca.revocation.revoke(serial, CRLReason.certificateHold, "o")
    assert held.status is CertificateStatus.HOLD
    final = await local_ca.revocation.revoke(serial, CRLReason.keyCompromise, "o")
    assert final.status is CertificateStatus.REVOKED
    changes = [c.change for c in await local_ca.registry.status_history(serial)]
    assert changes == [StatusChangeKind.ISSUE, StatusChangeKind.HOLD, StatusChangeKind.RELEASE,
                       StatusChangeKind.HOLD, StatusChangeKind.REVOKE]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "reason"),
    [("keyCompromise", CRLReason.keyCompromise),
     ("key_compromise", CRLReason.keyCompromise),
     ("CESSATION-OF-OPERATION", CRLReason.cessationOfOperation)],
)  # fmt: skip
def test_reason_names(text: str, reason: CRLReason) -> None:
    assert parse_reason(text) is reason


def test_unknown_reason_lists_the_known_ones() -> None:
    with pytest.raises(CAError, match="keyCompromise"):
        parse_reason("lost-it")


@pytest.mark.parametrize("text", ["", "-5", "1_0", "0x", "g1", "ab" * 21])
def test_serials_that_are_not_hex_are_malformed(text: str) -> None:
    with pytest.raises(CAError) as caught:
        parse_serial(text)
    assert caught.value.kind is ErrorKind.MALFORMED


@pytest.mark.parametrize(("text", "serial"), [("0A:1b", "a1b"), ("0x00FF", "ff"), (" 7 ", "7")])
def test_serials_in_the_forms_operators_paste(text: str, serial: str) -> None:
    assert parse_serial(text) == serial


async def test_k4_the_cas_own_certificates_are_refused_by_the_ordinary_revocation(
    local_ca: LocalCA,
) -> None:
    """The CA certificate of every generation and every OCSP responder certificate: revoke
    (whatever the reason), suspend and resume are refused naming the CA key change
    procedure, and nothing is recorded (K4: compromise is a CA key change)."""
    first = await local_ca.authority.generation()
    second = await create_generation(local_ca.settings, local_ca.registry, local_ca.backend,
                                     local_ca.authority, local_ca.clock(), "t")  # fmt: skip
    await issue_ocsp_responder(local_ca.settings, local_ca.backend, local_ca.authority, second,
                               local_ca.clock(), "t")  # fmt: skip
    own = {first.serial: f"the CA certificate of generation {first.id}",
           second.serial: f"the CA certificate of generation {second.id}"}  # fmt: skip
    for generation in (first, second):
        responder = await local_ca.registry.ocsp_responder(generation.id)
        assert responder is not None
        own[responder[0]] = f"an OCSP responder certificate of generation {generation.id}"
    audit_before = (await local_ca.registry.verify_audit_chain()).entries
    revocation = local_ca.revocation
    for serial, what in own.items():
        for change in (
            lambda: revocation.revoke(serial, CRLReason.cACompromise, "officer"),  # noqa: B023
            lambda: revocation.revoke(serial, CRLReason.keyCompromise, "officer"),  # noqa: B023
            lambda: revocation.suspend(serial, "officer"),  # noqa: B023
            lambda: revocation.resume(serial, "officer"),  # noqa: B023
        ):
            with pytest.raises(CAError) as caught:
                await change()
            assert (caught.value.kind, caught.value.message) == (
                ErrorKind.FORBIDDEN,
                f"certificate {serial} is {what}: the ordinary revocation does not apply to "
                "the CA's own certificates; CA key compromise is handled by the CA key "
                "change procedure (README: The CA's own certificates)",
            )
        record = await local_ca.registry.get_certificate(serial)
        assert record is not None and record.status is CertificateStatus.GOOD
        history = await local_ca.registry.status_history(serial)
        assert [change.change for change in history] == [StatusChangeKind.ISSUE]
    assert (await local_ca.registry.verify_audit_chain()).entries == audit_before


async def test_k4_a_tls_server_certificate_is_an_ordinary_one(local_ca: LocalCA) -> None:
    """The server's TLS identity is an end-entity certificate of the tls-server profile
    (server/node/tls.py): revoked like any other, its key being the server's, not the CA's."""
    request = make_csr([("CN", "ca.example")], dns=("ca.example",))
    serial = (await local_ca.authority.issue("tls-server", request, "init")).serial
    assert await local_ca.registry.ca_own_certificate(serial) is None
    record = await local_ca.revocation.revoke(serial, CRLReason.keyCompromise, "officer")
    assert record.status is CertificateStatus.REVOKED
