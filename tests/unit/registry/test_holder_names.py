"""The holder-name look-up of the public page (S6, migration 0030), on both engines: a
certificate is found by its subject's CN or O, exactly or by a prefix, ignoring case in
Cyrillic as in Latin; only issued certificates, each once, at most the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.node.process_identity import this_process
from server.registry import AuditEvent, CertificateIntent, Registry
from server.registry.holder_names import (
    BATCH,
    holder_names,
    name_earlier_certificates,
    prefix_range,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


async def a_certificate(registry: Registry, serial: str, subject: str, issue: bool = True) -> None:
    intent = CertificateIntent(serial, None, "tls-client", subject,
                               serial.encode().ljust(32, b"\0"), NOW, NOW + timedelta(days=30),
                               b"tbs-" + serial.encode())  # fmt: skip
    await registry.record_intent(intent, NOW, this_process(), "t")
    if issue:
        await registry.complete_issue(serial, b"der-" + serial.encode(), "t", NOW,
                                      AuditEvent("t", "certificate.issue", serial))  # fmt: skip


async def found(registry: Registry, name: str, prefix: bool, limit: int = 20) -> list[str]:
    records = await registry.search.certificates_by_holder(name, prefix, limit)
    return [record.serial for record in records]


def test_holder_names_are_the_folded_cn_and_o_each_once() -> None:
    assert holder_names("CN=Иванов  Иван,O=ООО «Ромашка»,C=RU") == ["иванов иван", "ооо «ромашка»"]
    assert holder_names("CN=Plant,O=PLANT,OU=Shop") == ["plant"]
    assert holder_names("CN=a\\,b<c>") == ["a,b<c>"]
    assert holder_names("") == [] and holder_names("C=RU") == []


def test_a_prefix_range_holds_exactly_the_names_that_start_with_it() -> None:
    low, high = prefix_range("ИВ")
    assert (low, high) == ("ив", "иг")
    names = ["и", "ив", "ивa", "иванов", "ивя\U0010ffff", "иг", "ивz"]
    assert [n for n in names if low <= n < high] == [n for n in names if n.startswith("ив")]


async def test_s6_a_holder_is_found_by_cn_or_o_exactly_or_by_prefix_ignoring_case(
    registry: Registry,
) -> None:
    await a_certificate(registry, "01", "CN=Иванов Иван,O=ООО Ромашка")
    await a_certificate(registry, "02", "CN=Петров Пётр,O=ООО Ромашка")
    await a_certificate(registry, "03", "CN=ivanov,O=Plant")
    await a_certificate(registry, "04", "CN=Иванова Анна,O=ООО Ромашка", issue=False)
    assert await found(registry, "ИВАНОВ ИВАН", prefix=False) == ["01"]
    assert await found(registry, "иванов", prefix=False) == []
    assert await found(registry, "Иванов", prefix=True) == ["01"]  # 04 is not issued
    assert await found(registry, "ооо ромашка", prefix=False) == ["01", "02"]
    assert await found(registry, "ООО Р", prefix=True) == ["01", "02"]
    assert await found(registry, "IVAN", prefix=True) == ["03"]
    assert await found(registry, "plant", prefix=False) == ["03"]
    assert await found(registry, "ООО Ромашка", prefix=True, limit=1) == ["01"]
    for nothing in ("%", "_", "иванов иван x", "   ", ""):
        assert await found(registry, nothing, prefix=True) == []


async def test_s6_a_certificate_named_twice_by_one_name_is_found_once(registry: Registry) -> None:
    await a_certificate(registry, "0a", "CN=Plant,O=Plant Works")
    await a_certificate(registry, "0b", "CN=Plant Works,O=Plant Works")
    assert await found(registry, "plant", prefix=True) == ["0a", "0b"]
    assert await found(registry, "plant", prefix=True, limit=1) == ["0a"]


async def test_s6_certificates_issued_before_migration_0030_are_named_at_the_next_opening(
    registry_url: str,
) -> None:
    registry = await Registry.open_url(registry_url)
    try:
        for n in range(BATCH + 2):  # more than one batch
            await a_certificate(registry, f"{n + 1:04x}", f"CN=Старый {n},O=Plant")
        # the registry as migration 0030 leaves one made before it: no names, all pending
        async with registry.transaction() as db:
            await db.execute("DELETE FROM certificate_holder_names", ())
            await db.execute(
                "INSERT INTO holder_names_pending (serial)"
                " SELECT serial FROM certificates WHERE state = 'issued'",
                (),
            )
        assert await found(registry, "старый 7", prefix=False) == []
    finally:
        await registry.close()
    reopened = await Registry.open_url(registry_url)
    try:
        assert await found(reopened, "СТАРЫЙ 7", prefix=False) == ["0008"]
        assert len(await found(reopened, "plant", prefix=False, limit=BATCH + 10)) == BATCH + 2
        assert await name_earlier_certificates(reopened.engine) == 0  # nothing left
    finally:
        await reopened.close()
