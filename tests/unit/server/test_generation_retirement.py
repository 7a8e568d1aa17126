"""The retirement of an old CA generation (end of regulation K3; issue 15, step 5): retired
the second after the last certificate its key signed expires, never the issuing one, its
keys destroyed in the backend with the audit entry, its CRLs and OCSP stopped. A real
registry file, the software backend, the clock injected."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config import load_settings
from hsm.backend import HSMError, KeyRef
from protocols import ocsp
from server.authority import Authority, IssuedCertificate
from server.cmp.identity import issue_cmp_identity, key_path
from server.context import open_ca, open_registry
from server.generations.compromise import compromise
from server.generations.rollover import RolledOver, rollover
from server.node.generation_retirement import Destroy, GenerationRetirement
from server.status.distribution_points import crl_file_name
from server.status.publication import StatusPublication
from server.web.ocsp_listener import RenderedAnswers
from tests.csr_factory import make_csr
from tests.local_ca import Clock, LocalCA
from tests.unit.server.test_rollover import ask, ocsp_request

SECRET = "test home secret"


@dataclass
class Retiring:
    old_leaf: IssuedCertificate  # under generation 1, the last of its certificates to end
    done: RolledOver
    status: StatusPublication  # a builder that knew generation 1 before the rollover
    duty: GenerationRetirement
    metrics: CollectorRegistry
    destroyed: list[KeyRef]
    last_expiry: datetime  # the old leaf's notAfter


@pytest.fixture
async def retiring(local_ca: LocalCA) -> Retiring:
    """A rollover to a CA certificate of 30 days: generation 1's responder and its link
    NewWithOld end then, its leaf (397 days) long after."""
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          status)  # fmt: skip
    leaf = await authority.issue("tls-client", make_csr([("CN", "old")]), "t")
    short = load_settings(local_ca.settings.home, {"CA_CA__VALIDITY_DAYS": "30"})
    done = await rollover(short, local_ca.registry, local_ca.backend, authority,
                          local_ca.clock(), SECRET, "cli:operator", "scheduled")  # fmt: skip
    destroyed: list[KeyRef] = []

    async def destroy(keys: list[KeyRef]) -> None:
        for key in keys:
            local_ca.backend.destroy_key(key)
            destroyed.append(key)

    metrics = CollectorRegistry()
    duty = GenerationRetirement(local_ca.settings, local_ca.registry, destroy, local_ca.clock,
                                metrics)  # fmt: skip
    record = await local_ca.registry.get_certificate(leaf.serial)
    assert record is not None
    assert record.not_after > done.new_with_old.not_after  # the leaf is the last to end
    return Retiring(leaf, done, status, duty, metrics, destroyed, record.not_after)


async def states(local_ca: LocalCA) -> list[str]:
    return [g.state for g in await local_ca.registry.generations("demo")]


def key_file(key_uri: str) -> Path:
    return Path(key_uri.removeprefix("file:"))


async def test_k3_generation_retires_when_its_last_certificate_expires(
    retiring: Retiring, local_ca: LocalCA
) -> None:
    """Not while its leaf is valid, on its last second (notAfter is inclusive, RFC 5280
    4.1.2.5) included; the second after, with the audit entry and the metric."""
    old = retiring.done.old
    local_ca.clock.now = retiring.done.new_with_old.not_after + timedelta(days=1)
    assert await retiring.duty.retire_due() == []
    local_ca.clock.now = retiring.last_expiry
    assert await retiring.duty.retire_due() == []
    assert await states(local_ca) == ["active", "active"]
    assert key_file(old.key_uri).exists()
    local_ca.clock.advance(seconds=1)
    assert await retiring.duty.retire_due() == [old.id]
    assert await states(local_ca) == ["retired", "active"]
    responder = await local_ca.registry.ocsp_responder(old.id)
    assert responder is not None
    uris = [old.key_uri, responder[1].uri]
    [entry] = [e for e in await local_ca.registry.search.audit_entries(100, None)
               if e.action == "ca.generation.retire"]  # fmt: skip
    assert (entry.actor, entry.target) == ("ca:retirement", str(old.id))
    assert entry.details == {"generation": old.id, "keys_destroyed": uris,
                             "cmp_keys_destroyed": []}  # fmt: skip
    assert (await local_ca.registry.verify_audit_chain()).intact
    assert retiring.metrics.get_sample_value("ca_generation_retirements_total") == 1
    assert await retiring.duty.retire_due() == []  # once
    assert retiring.metrics.get_sample_value("ca_generation_retirements_total") == 1


async def test_k3_the_issuing_generation_is_never_retired(local_ca: LocalCA) -> None:
    """Long after every certificate of the CA expired: the only generation, and after a
    rollover the new one, stay active; only the old one retires."""
    start = local_ca.clock()
    duty = GenerationRetirement(local_ca.settings, local_ca.registry, _refuse, local_ca.clock,
                                CollectorRegistry())  # fmt: skip
    local_ca.clock.advance(days=20 * 365)
    assert await duty.retire_due() == []
    assert await states(local_ca) == ["active"]
    local_ca.clock.now = start
    await rollover(local_ca.settings, local_ca.registry, local_ca.backend, local_ca.authority,
                   local_ca.clock(), SECRET, "cli:operator", "scheduled")  # fmt: skip
    local_ca.clock.advance(days=20 * 365)
    with pytest.raises(AssertionError, match="destroy"):  # generation 1's keys only
        await duty.retire_due()
    assert await states(local_ca) == ["retired", "active"]


async def _refuse(keys: list[KeyRef]) -> None:
    raise AssertionError(f"destroy {[k.uri for k in keys]}")


async def test_retired_key_is_gone_from_the_backend(retiring: Retiring, local_ca: LocalCA) -> None:
    """Software backend through the duty (PKCS#11: tests/unit/hsm/test_destroy_key.py): the
    old CA and responder key files are gone and sign no more; the new generation's stay."""
    done = retiring.done
    responder = await local_ca.registry.ocsp_responder(done.old.id)
    new_responder = await local_ca.registry.ocsp_responder(done.new.id)
    assert responder is not None and new_responder is not None
    local_ca.clock.now = retiring.last_expiry + timedelta(seconds=1)
    await retiring.duty.retire_due()
    assert [k.uri for k in retiring.destroyed] == [done.old.key_uri, responder[1].uri]
    for key in retiring.destroyed:
        assert not key_file(key.uri).exists()
        with pytest.raises(HSMError, match="cannot read key"):
            local_ca.backend.sign_many(key, [b"after retirement"])
    assert key_file(done.new.key_uri).exists() and key_file(new_responder[1].uri).exists()


async def test_k3_a_retired_generation_s_cmp_protection_key_files_are_destroyed(
    local_ca: LocalCA,
) -> None:
    """The CMP protection keys are files in `<home>/cmp-keys`, not backend keys: destroyed
    with the retirement as the software backend destroys a key, overwritten before removed
    (a second link to the file, made before, reads zeros), named by their certificates in
    the audit entry. Those of the new generation stay."""
    first = await local_ca.registry.active_generation("demo")
    assert first is not None
    cmp_serials = [
        await issue_cmp_identity(local_ca.settings, local_ca.authority, first, local_ca.clock(),
                                 SECRET, "t")
        for _ in range(2)
    ]  # fmt: skip
    files = [key_path(local_ca.settings, serial) for serial in cmp_serials]
    sizes = [path.stat().st_size for path in files]
    witnesses = [path.with_name(path.name + ".witness") for path in files]
    for path, witness in zip(files, witnesses, strict=True):
        os.link(path, witness)  # the same file under a second name
    done = await rollover(local_ca.settings, local_ca.registry, local_ca.backend,
                          local_ca.authority, local_ca.clock(), SECRET, "cli:operator",
                          "scheduled")  # fmt: skip
    duty = GenerationRetirement(local_ca.settings, local_ca.registry,
                                _destroy_with(local_ca), local_ca.clock,
                                CollectorRegistry())  # fmt: skip
    local_ca.clock.now = done.new_with_old.not_after  # the last certificate generation 1 signed
    assert await duty.retire_due() == []
    assert all(path.exists() for path in files)
    local_ca.clock.advance(seconds=1)
    assert await duty.retire_due() == [first.id]
    assert not any(path.exists() for path in files)
    for witness, size in zip(witnesses, sizes, strict=True):
        assert witness.read_bytes() == bytes(size)  # overwritten in place, then removed
    assert key_path(local_ca.settings, done.cmp_serial).exists()
    [entry] = [e for e in await local_ca.registry.search.audit_entries(100, None)
               if e.action == "ca.generation.retire"]  # fmt: skip
    assert sorted(entry.details["cmp_keys_destroyed"]) == sorted(cmp_serials)


def _destroy_with(local_ca: LocalCA) -> Destroy:
    async def destroy(keys: list[KeyRef]) -> None:
        for key in keys:
            local_ca.backend.destroy_key(key)

    return destroy


async def test_k3_keys_left_by_a_failed_destruction_are_destroyed_at_the_next_check(
    retiring: Retiring, local_ca: LocalCA
) -> None:
    """Retired but the backend failed: no audit entry yet; the next check destroys the keys
    and records the retirement once."""
    local_ca.clock.now = retiring.last_expiry + timedelta(seconds=1)
    failing = GenerationRetirement(local_ca.settings, local_ca.registry, _refuse, local_ca.clock,
                                   CollectorRegistry())  # fmt: skip
    with pytest.raises(AssertionError):
        await failing.retire_due()
    assert await states(local_ca) == ["retired", "active"]
    actions = [e.action for e in await local_ca.registry.search.audit_entries(100, None)]
    assert "ca.generation.retire" not in actions
    assert await retiring.duty.retire_due() == [retiring.done.old.id]
    actions = [e.action for e in await local_ca.registry.search.audit_entries(100, None)]
    assert actions.count("ca.generation.retire") == 1


async def test_k3_a_retired_generation_publishes_no_new_crl_and_ocsp_says_unauthorized_rfc6960_2_3(
    retiring: Retiring, local_ca: LocalCA
) -> None:
    """RFC 6960 2.3: unauthorized when the server cannot answer authoritatively, as for an
    issuer it does not serve; it cannot sign for a destroyed responder key, and signed
    answers of a retired issuer held in memory, or rendered by the OCSP listener, are not
    handed out either. The duty holder, a process that knew the generation (after its OCSP
    upkeep) and one started after answer so; the new generation's CRLs and OCSP go on."""
    done, status = retiring.done, retiring.status
    local_ca.clock.now = retiring.last_expiry + timedelta(seconds=1)
    await status.crls.rebuild()
    before = await local_ca.registry.status.latest_crl_number(done.old.id, 0, False)
    assert before is not None
    worker = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, serving=False)  # fmt: skip
    await worker.ocsp.load_issuers()
    request = ocsp_request(done.old.certificate_der, retiring.old_leaf.serial)
    rendered = RenderedAnswers(worker.ocsp)  # the OCSP listener's answers to repeats
    rendered.put(request, await worker.ocsp.answer(request))
    assert rendered.get(request) is not None
    await retiring.duty.retire_due()
    local_ca.clock.advance(hours=1)
    await status.crls.rebuild()
    assert await local_ca.registry.status.latest_crl_number(done.old.id, 0, False) == before
    assert [g.id for g in status.crls.generations] == [done.new.id]
    assert status.crls.current(0, False, done.new.id) is not None
    await status.maintain_ocsp()
    await worker.maintain_ocsp()
    assert rendered.get(request) is None
    fresh = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                              local_ca.clock, serving=False)  # fmt: skip
    await fresh.ocsp.load_issuers()
    for process in (status, worker, fresh):
        answer = await process.ocsp.answer(request)
        result, singles, _ = ocsp.parse_ocsp_response(answer.der)
        assert (result, singles) == (ocsp.OCSPResponseStatus.unauthorized, [])
    single = await ask(status, done.new.certificate_der, done.cmp_serial)
    assert single.status is ocsp.CertStatus.GOOD


async def test_rfc6960_4_2_2_1_a_retired_generation_holds_up_no_refresh_of_the_live_ones(
    retiring: Retiring, local_ca: LocalCA
) -> None:
    """RFC 6960 4.2.2.1 (nextUpdate): the builder re-signs each response before its
    nextUpdate. A retired generation's responses are never signed again and stay the
    oldest; read by nextUpdate alone they filled every batch, and once a retirement left a
    batch of them the live generation's responses went unrefreshed. Here a batch of one
    shows it. `ca_ocsp_next_update_timestamp_seconds` then gives each live generation's
    soonest nextUpdate, and none for the retired one."""
    done = retiring.done
    metrics = CollectorRegistry()
    builder = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                local_ca.clock, builder=True, metrics=metrics)  # fmt: skip
    await builder.ocsp.load_issuers()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          builder)  # fmt: skip
    local_ca.clock.advance(hours=1)  # its response's nextUpdate comes after the old leaf's
    leaf = await authority.issue("tls-client", make_csr([("CN", "new")]), "t")
    issued = await local_ca.registry.status.ocsp_response(leaf.serial)
    assert issued is not None
    local_ca.clock.now = retiring.last_expiry + timedelta(seconds=1)
    assert await retiring.duty.retire_due() == [done.old.id]
    await builder.ocsp.reload_issuers()
    refreshed = 0
    while count := await builder.ocsp.refresh_due(limit=1):
        refreshed += count
    assert refreshed >= 1
    renewed = await local_ca.registry.status.ocsp_response(leaf.serial)
    assert renewed is not None and renewed.next_update > issued.next_update
    await builder.ocsp.measure_next_update()
    gauge = "ca_ocsp_next_update_timestamp_seconds"
    soonest = metrics.get_sample_value(gauge, {"generation": str(done.new.id)})
    assert soonest is not None and soonest > local_ca.clock().timestamp()
    assert metrics.get_sample_value(gauge, {"generation": str(done.old.id)}) is None


async def retired_recorded(registry: Any) -> bool:
    """Whether the retirement's audit entry is recorded: its keys all destroyed."""
    entries = await registry.search.audit_entries(1000, None)
    return any(entry.action == "ca.generation.retire" for entry in entries)


async def test_k3_the_duty_runs_in_the_process_holding_the_duties_with_the_real_backend(
    tmp_path: Path,
) -> None:
    """`serve`'s duties retire generation 1 of a home rolled over by the command once its
    last certificate expired, destroying its key files in the home's backend and its CMP
    protection key file (made by `init`)."""
    home = tmp_path / "ca"
    for command in ("init", "rollover"):
        subprocess.run([sys.executable, "-m", "server", command, "--home", str(home)],
                       check=True, capture_output=True)  # fmt: skip
    settings = load_settings(home, environ={"CA_SUPERVISOR__DUTY_RENEW_SECONDS": "0.1"})
    registry = await open_registry(settings)
    try:
        first, second = await registry.generations("demo")
        clock = Clock(first.not_after + timedelta(seconds=1))  # NewWithOld ends with it
        async with open_ca(settings, serving=True, clock=clock):
            deadline = time.monotonic() + 30
            while first.state == "active" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                first = (await registry.generations("demo"))[0]
            while not await retired_recorded(registry) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        assert first.state == "retired"
        assert not key_file(first.key_uri).exists()
        assert key_file(second.key_uri).exists()
        cmp_keys = {record.generation_id: key_path(settings, record.serial)
                    for record in await registry.search.certificates(
                        None, "cmp-server", None, 10, None)}  # fmt: skip
        assert not cmp_keys[first.id].exists() and cmp_keys[second.id].exists()
    finally:
        await registry.close()


async def test_rfc5280_5_1_2_5_a_retired_generations_last_crl_is_served_until_its_next_update(
    retiring: Retiring, local_ca: LocalCA
) -> None:
    """The CRL the old key signed last stays at its name, in the duty holder and in a
    process started after the retirement, until its nextUpdate; then 404 (None)."""
    done, status = retiring.done, retiring.status
    local_ca.clock.now = retiring.last_expiry + timedelta(seconds=1)
    await status.crls.rebuild()
    last = status.crls.current(0, False, done.old.id)
    assert last is not None
    await retiring.duty.retire_due()
    await status.crls.sync()
    fresh = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                              local_ca.clock, serving=False)  # fmt: skip
    await fresh.crls.sync()
    shards = local_ca.settings.crl.shards
    name = crl_file_name(done.old, 0, shards, False)
    for process in (status, fresh):
        assert process.crls.named(name) == last
    local_ca.clock.now = last.next_update - timedelta(seconds=1)
    assert status.crls.named(name) == last and fresh.crls.named(name) == last
    local_ca.clock.now = last.next_update
    for process in (status, fresh):
        await process.crls.sync()
        assert process.crls.named(name) is None
    assert status.crls.named(crl_file_name(done.new, 0, shards, False)) is not None


async def test_k3_k4_a_compromised_generation_retires_when_its_last_certificate_expires(
    local_ca: LocalCA,
) -> None:
    """After a compromise (K4) the compromised generation's CRLs and OCSP answers, every
    certificate listed revoked, are owed until the last of them expires (K3), and no
    longer: then it retires and its keys are destroyed, as any old generation's."""
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          status)  # fmt: skip
    leaf = await authority.issue("tls-client", make_csr([("CN", "old")]), "t")
    done = await compromise(local_ca.settings, local_ca.registry, local_ca.backend, authority,
                            status, local_ca.clock(), SECRET, "cli:officer", 1,
                            "key copied")  # fmt: skip
    destroyed: list[KeyRef] = []

    async def destroy(keys: list[KeyRef]) -> None:
        destroyed.extend(keys)

    duty = GenerationRetirement(local_ca.settings, local_ca.registry, destroy, local_ca.clock,
                                CollectorRegistry())  # fmt: skip
    record = await local_ca.registry.get_certificate(leaf.serial)
    assert record is not None
    last = max(c.not_after for c in await _certificates_of(local_ca, done.old.id))
    assert last >= record.not_after
    local_ca.clock.now = last
    assert await duty.retire_due() == []
    assert await states(local_ca) == ["compromised", "active"]
    local_ca.clock.advance(seconds=1)
    assert await duty.retire_due() == [done.old.id]
    assert await states(local_ca) == ["retired", "active"]
    assert done.old.key_uri in [key.uri for key in destroyed]


async def _certificates_of(local_ca: LocalCA, generation_id: int) -> list[Any]:
    found = await local_ca.registry.search.certificates(None, None, None, 1000, None)
    return [c for c in found if c.generation_id == generation_id]
