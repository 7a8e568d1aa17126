"""`registry copy` moves a whole registry between engines and back with every value
unchanged, in dependency order and in batches, into an empty target only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from protocols.crl import CRLReason
from server.authority import Authority
from server.enrollment.credentials import EnrollmentCredentials
from server.errors import CAError, ErrorKind
from server.ra.applications import ApplicationPending
from server.registry import (
    CertificateIntent,
    CertificateStatus,
    CMPDelivery,
    CMPOpening,
    IntentHolds,
    Registry,
)
from server.registry.catalogue import read_tables
from server.registry.records import AuditEvent, RootCA, RootCRL, RootLink
from server.registry.registry_copy import copy_registry, ocsp_answers, row_counts, sample_serials
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.csr_factory import PERSON, make_csr
from tests.local_ca import LocalCA, approved_application, opened_local_ca, ra_services

OpenEmpty = Callable[[str], Awaitable[Registry]]


@pytest.fixture
async def open_empty(tmp_path: Path, registry_url: str) -> AsyncIterator[OpenEmpty]:
    """Opens new, empty registries by name: "there" on each engine in turn (the fixture
    registry_url of tests/unit/registry/conftest.py), the others on SQLite."""
    opened: list[Registry] = []

    async def open_empty(name: str) -> Registry:
        url = registry_url if name == "there" else f"sqlite:///{tmp_path / name}.sqlite3"
        opened.append(await Registry.open_url(url))
        return opened[-1]

    yield open_empty
    for registry in opened:
        await registry.close()


@pytest.fixture
async def local_ca(tmp_path: Path) -> AsyncIterator[LocalCA]:
    (tmp_path / "ca").mkdir()
    async with opened_local_ca(tmp_path / "ca") as ca:
        yield ca


@pytest.fixture
async def populated(local_ca: LocalCA) -> Registry:
    """A registry holding some of everything: certificates with pre-signed OCSP answers,
    a revocation and a suspension, CRLs, a subscriber with an identity record and an
    issued application, an application holding its enrollment credential (which refers
    back to it), a CMP transaction, two open intents (one holding nothing, one holding the
    CMP transaction) with their owners, outbox events and the audit trail of all of it."""
    registry = local_ca.registry
    status = StatusPublication(local_ca.settings, registry, local_ca.signer, local_ca.clock,
                               serving=True, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    await status.ocsp.sign_missing()
    authority = Authority(local_ca.settings, registry, local_ca.signer, local_ca.clock, status)
    revocation = Revocation(registry, local_ca.clock, status)
    serials = [
        (await authority.issue("tls-client", make_csr([("CN", f"copy-{n}")]), "t")).serial
        for n in range(6)
    ]
    await revocation.revoke(serials[0], CRLReason.keyCompromise, "t")
    await revocation.suspend(serials[1], "t")
    held = await approved_application(local_ca, "person")
    await authority.issue("person", make_csr(PERSON), "t", **held)
    credentials = EnrollmentCredentials(
        local_ca.settings, registry, lambda: b"k" * 32, local_ca.clock
    )
    await credentials.create("tls-client", "CN=later", timedelta(hours=1), "t")
    credential, _ = await credentials.create("tls-client", "CN=asks", timedelta(hours=1), "t")
    _, applications = ra_services(local_ca, credentials)
    request = make_csr([("CN", "asks")])
    with pytest.raises(ApplicationPending):  # an application holding its credential
        await applications.enroll(credential, request, "pkcs10", request, "t")
    await registry.cmp.open(CMPOpening(b"\x01" * 16, "cmp-client", local_ca.clock(), b"\x02" * 16))
    cmp_hold = IntentHolds(cmp=CMPDelivery(b"\x01" * 16, 0, b"\x03" * 16, None))
    for n, holds in enumerate((IntentHolds(), cmp_hold)):
        now = local_ca.clock()
        open_intent = CertificateIntent(f"0{n}", None, "tls-client", "CN=open", bytes([n]) * 32,
                                        now, now + timedelta(days=1), b"tbs")  # fmt: skip
        await registry.record_intent(open_intent, now, f"owner-{n}", "t", holds)
    await status.crls.sync()
    await _roots_rolled_over(registry, local_ca.clock())
    return registry


async def _roots_rolled_over(registry: Registry, now: datetime) -> None:
    """A root kept in the home and the root that succeeded it (`root rollover`: a column
    of root_cas referring to root_cas, migration 0025), their CRLs and links."""
    end = now + timedelta(days=7300)
    old = RootCA("demo-root", b"\x01" * 20, "file:old", "ec-p256", b"old root", end)
    new = RootCA("demo-root-02", b"\x02" * 20, "file:new", "ec-p256", b"new root", end,
                 succeeds="demo-root")  # fmt: skip
    audit = AuditEvent("t", "ca.root.create", "1")
    await registry.roots.record_root(old, RootCRL(1, now, end, b"crl 1"), audit, now)
    links = [RootLink(f"0{n}", kind, issuer, subject, now, end, kind.encode())
             for n, (kind, issuer, subject) in enumerate((
                 ("new_with_old", "demo-root", "demo-root-02"),
                 ("old_with_new", "demo-root-02", "demo-root")))]  # fmt: skip
    await registry.roots.record_root_rollover(new, RootCRL(2, now, end, b"crl 2"), links,
                                              audit, now)  # fmt: skip


async def contents(registry: Registry) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order, through the registry's own engine."""
    async with registry.snapshot() as db:
        tables = await read_tables(db, registry.engine.dialect)
        dump = {}
        for table in tables.values():
            columns = ", ".join(sorted(table.columns))
            sql = f"SELECT {columns} FROM {table.name} ORDER BY {', '.join(table.key)}"
            async with db.execute(sql) as cursor:
                dump[table.name] = [tuple(row) for row in await cursor.fetchall()]
        return dump


async def test_a_registry_goes_to_either_engine_and_back_with_every_value_unchanged(
    populated: Registry, open_empty: OpenEmpty
) -> None:
    there, back = await open_empty("there"), await open_empty("back")
    copied_there = await copy_registry(populated, there, batch_rows=2)  # batches, and a cycle
    copied_back = await copy_registry(there, back, batch_rows=3)
    original = await contents(populated)
    assert await contents(back) == original
    assert [i.owner for i in await back.open_intents()] == ["owner-0", "owner-1"]
    wanted = ("certificates", "status_changes", "ocsp_responses", "crls", "subscribers",
              "identity_records", "applications", "enrollment_credentials", "cmp_transactions",
              "outbox_events", "audit_log", "intent_holds", "root_cas", "root_crls",
              "root_links")  # fmt: skip
    assert all(original[table] for table in wanted), [t for t in wanted if not original[t]]
    counts = await row_counts(populated)
    assert copied_there == copied_back == counts == await row_counts(back)
    serials = await sample_serials(populated, 100)
    assert len(serials) == counts["ocsp_responses"] >= 7
    sample = await sample_serials(populated, 5)
    assert 2 <= len(set(sample)) == len(sample) <= 5
    assert await ocsp_answers(back, serials) == await ocsp_answers(populated, serials)
    assert (await back.verify_audit_chain()).intact


async def test_ids_handed_out_after_a_copy_follow_the_copied_ones(
    populated: Registry, open_empty: OpenEmpty, local_ca: LocalCA
) -> None:
    """Identity columns (here status changes') continue after the copied ids on the
    target instead of handing out one already taken."""
    target = await open_empty("there")
    await copy_registry(populated, target)
    records = await target.search.certificates(None, "tls-client", None, 100, None)
    serial = min(r.serial for r in records if r.status is CertificateStatus.GOOD)
    history = await target.status_history(serial)
    await Revocation(target, local_ca.clock).revoke(serial, CRLReason.superseded, "t")
    assert len(await target.status_history(serial)) == len(history) + 1


async def test_a_target_that_is_not_empty_is_refused_and_left_as_it_was(
    populated: Registry, open_empty: OpenEmpty
) -> None:
    target = await open_empty("there")
    await copy_registry(populated, target)
    before = await contents(target)
    with pytest.raises(CAError) as refused:
        await copy_registry(populated, target)
    assert refused.value.kind is ErrorKind.REJECTED
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("the target registry is not empty (table ")
    assert await contents(target) == before
