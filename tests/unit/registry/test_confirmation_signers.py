"""The registry's confirmation certificates (issue #17, migration 0027), on both engines: the
key a generation's confirmation certificate certifies, the newest good one found, and its
key destroyed with the generation's others when the generation retires (K3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hsm.backend import KeyAlgorithm, KeyRef
from server.node.process_identity import this_process
from server.registry import (
    AuditEvent,
    CertificateIntent,
    CertificateStatus,
    Registry,
    StatusChange,
    StatusChangeKind,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
EC = KeyAlgorithm.EC_P256


async def a_generation(registry: Registry) -> int:
    ca = CertificateIntent("c1", None, "ca", "CN=CA", b"c1".ljust(32, b"\0"), NOW,
                           NOW + timedelta(days=3650), b"tbs-c1")  # fmt: skip
    return await registry.record_ca_generation(
        "demo", "key:c1", EC.value, b"c1", ca, b"der-c1", NOW,
        AuditEvent("init", "ca.generation.create", "c1"),
    )  # fmt: skip


async def a_confirmation_certificate(
    registry: Registry, generation: int, serial: str, days: int
) -> None:
    intent = CertificateIntent(
        serial=serial,
        generation_id=generation,
        profile="confirmation-signer",
        subject="CN=CA Confirmation Service",
        spki_sha256=serial.encode().ljust(32, b"\0"),
        not_before=NOW,
        not_after=NOW + timedelta(days=days),
        tbs=b"tbs-" + serial.encode(),
    )
    await registry.record_intent(intent, NOW, this_process(), "t")
    await registry.complete_issue(serial, b"der-" + serial.encode(), "t", NOW,
                                  AuditEvent("t", "certificate.issue", serial))  # fmt: skip
    await registry.record_confirmation_signer(serial, KeyRef(f"key:{serial}", EC))


async def test_the_newest_good_confirmation_certificate_of_a_generation_signs(
    registry: Registry,
) -> None:
    generation = await a_generation(registry)
    assert await registry.confirmation_signer(generation) is None
    await a_confirmation_certificate(registry, generation, "a1", 365)
    await a_confirmation_certificate(registry, generation, "a2", 400)
    found = await registry.confirmation_signer(generation)
    assert found is not None
    assert (found.serial, found.generation_id, found.key_uri, found.key_algorithm) == (
        "a2", generation, "key:a2", EC.value
    )  # fmt: skip
    assert (found.not_after, found.der) == (NOW + timedelta(days=400), b"der-a2")
    revoke = StatusChange("a2", StatusChangeKind.REVOKE, "keyCompromise", NOW, None, "t", NOW)
    await registry.change_status(revoke, (CertificateStatus.GOOD,), CertificateStatus.REVOKED,
                                 AuditEvent("t", "certificate.revoke", "a2"))  # fmt: skip
    found = await registry.confirmation_signer(generation)
    assert found is not None and found.serial == "a1"  # a revoked one never signs
    assert await registry.confirmation_signer(generation + 1) is None


async def test_k3_a_retired_generations_confirmation_keys_are_destroyed_with_its_others(
    registry: Registry,
) -> None:
    first = await a_generation(registry)
    await a_confirmation_certificate(registry, first, "a1", 30)
    second = await registry.record_ca_generation(
        "demo", "key:c2", EC.value, b"c2",
        CertificateIntent("c2", None, "ca", "CN=CA", b"c2".ljust(32, b"\0"), NOW,
                          NOW + timedelta(days=3650), b"tbs-c2"),
        b"der-c2", NOW, AuditEvent("init", "ca.generation.create", "c2"),
    )  # fmt: skip
    assert second > first
    assert not await registry.retirement.retire("demo", first, NOW + timedelta(days=30))
    assert await registry.retirement.retire("demo", first, NOW + timedelta(days=31))
    assert await registry.retirement.keys_to_destroy("demo") == [
        (first, [KeyRef("key:c1", EC), KeyRef("key:a1", EC)])
    ]
