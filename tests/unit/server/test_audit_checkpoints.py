"""Checkpoints anchoring the audit trail's head outside the registry (D3): signed with the
CA key, one line each in the home's checkpoint file; `verify` detects the deletion of the
newest entries below a checkpoint, an edited entry, and a forged checkpoint. Real files:
the registry is edited with sqlite3 as someone holding the file would."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.audit_checkpoints import (
    SIGNED_PREFIX,
    AuditCheckpoints,
    Checkpoint,
    describe,
)
from server.registry import AuditEvent
from tests.local_ca import LocalCA, settings_for

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def checkpoints(local_ca: LocalCA) -> AuditCheckpoints:
    return AuditCheckpoints(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock)


async def grow(local_ca: LocalCA, count: int) -> None:
    for n in range(count):
        await local_ca.registry.append_audit(AuditEvent("test", "test.event", f"t-{n}"), AT)


def delete_newest(local_ca: LocalCA, count: int) -> None:
    """What someone with the registry file does: drop the append-only trigger, delete."""
    path = local_ca.settings.registry_file
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.execute(
            "DELETE FROM audit_log WHERE seq > (SELECT max(seq) FROM audit_log) - ?", (count,)
        )


async def test_an_intact_trail_is_reported_intact_since_the_newest_checkpoint(
    local_ca: LocalCA,
) -> None:
    anchors = checkpoints(local_ca)
    assert (await anchors.verify()).newest is None
    number, first = await anchors.write() or (0, None)
    assert number == 1 and first is not None
    head = await local_ca.registry.audit_head()
    assert head == (first.seq, first.hash)
    await grow(local_ca, 3)
    report = await anchors.verify()
    assert report.intact and report.newest == first and report.newest_number == 1
    assert report.unanchored == 3
    text = "\n".join(describe(report))
    assert f"intact since checkpoint 1 at {first.at} (entry {first.seq})" in text
    assert f"3 entries after entry {first.seq} are not anchored" in text
    assert stat.S_IMODE(anchors.path.stat().st_mode) == 0o600


async def test_deleting_the_newest_entries_below_a_checkpoint_is_detected(
    local_ca: LocalCA,
) -> None:
    anchors = checkpoints(local_ca)
    await grow(local_ca, 4)
    _, anchored = await anchors.write() or (0, None)
    assert anchored is not None
    delete_newest(local_ca, 2)
    report = await anchors.verify()
    assert not report.intact
    assert report.problem == (
        f"audit trail truncated: entry {anchored.seq - 1} onwards missing, the table ends at"
        f" entry {anchored.seq - 2} but checkpoint 1 at {anchored.at} (entry {anchored.seq})"
        " anchored it"
    )


async def test_deleting_entries_after_the_newest_checkpoint_cannot_be_proven(
    local_ca: LocalCA,
) -> None:
    """What a checkpoint cannot do, said plainly: entries after it are not anchored."""
    anchors = checkpoints(local_ca)
    await anchors.write()
    await grow(local_ca, 2)
    delete_newest(local_ca, 2)
    report = await anchors.verify()
    assert report.intact and report.unanchored == 0


async def test_an_entry_rewritten_with_a_recomputed_chain_differs_from_its_checkpoint(
    local_ca: LocalCA,
) -> None:
    """The chain alone is fooled by an edit whose hashes are all recomputed (no key is
    needed for that); the checkpoint's signed hash is not."""
    anchors = checkpoints(local_ca)
    _, anchored = await anchors.write() or (0, None)
    assert anchored is not None
    delete_newest(local_ca, 1)
    await local_ca.registry.append_audit(AuditEvent("forger", "test.event", "t"), AT)
    report = await anchors.verify()
    assert report.problem == (
        f"audit entry {anchored.seq} altered: its hash differs from checkpoint 1 at"
        f" {anchored.at} (entry {anchored.seq})"
    )


async def test_an_edited_entry_breaks_the_chain(local_ca: LocalCA) -> None:
    anchors = checkpoints(local_ca)
    await anchors.write()
    path = local_ca.settings.registry_file
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 1")
    report = await anchors.verify()
    assert report.first_broken_seq == 1
    assert report.problem == "audit trail broken at entry 1 (altered or removed)"


async def test_a_forged_checkpoint_is_detected(local_ca: LocalCA) -> None:
    anchors = checkpoints(local_ca)
    await grow(local_ca, 2)
    _, real = await anchors.write() or (0, None)
    assert real is not None
    delete_newest(local_ca, 2)
    # The forger anchors the shortened trail: same format, a signature not by the CA key.
    head = await local_ca.registry.audit_head()
    assert head is not None
    forged = Checkpoint(real.ca, real.generation, head[0], head[1], real.at, real.signature)
    anchors.path.write_text(forged.to_line() + "\n", encoding="utf-8")  # the real one hidden
    report = await anchors.verify()
    assert report.problem == (
        "checkpoint 1: its signature does not verify with the CA certificate of generation"
        f" {real.generation} (forged or altered)"
    )


async def test_an_unreadable_checkpoint_line_is_named(local_ca: LocalCA) -> None:
    anchors = checkpoints(local_ca)
    await anchors.write()
    with anchors.path.open("a", encoding="utf-8") as handle:
        handle.write('{"ca": "demo"}\n')
    assert (await anchors.verify()).problem == "checkpoint 2: not a checkpoint (KeyError)"


async def test_write_if_moved_anchors_only_a_head_that_moved(local_ca: LocalCA) -> None:
    anchors = checkpoints(local_ca)
    assert await anchors.write_if_moved() is not None
    assert await anchors.write_if_moved() is None
    await grow(local_ca, 1)
    moved = await anchors.write_if_moved()
    assert moved is not None and moved[0] == 2
    assert len(anchors.path.read_text(encoding="utf-8").splitlines()) == 2


async def test_the_duty_loop_anchors_the_head(local_ca: LocalCA, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, CA_AUDIT__CHECKPOINT_INTERVAL_SECONDS="0.05")
    anchors = AuditCheckpoints(settings, local_ca.registry, local_ca.signer, local_ca.clock)
    loop = asyncio.create_task(anchors.run())
    try:
        await grow(local_ca, 1)
        head = await local_ca.registry.audit_head()
        assert head is not None
        async with asyncio.timeout(30):
            while (report := await anchors.verify()).newest is None or report.unanchored:
                await asyncio.sleep(0.02)
        assert report.intact and report.newest is not None and report.newest.seq == head[0]
    finally:
        loop.cancel()


class FailsOnce:
    """The registry, whose first `audit_head` fails as a driver error would."""

    def __init__(self, registry: object) -> None:
        self._registry = registry
        self.failed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._registry, name)

    async def audit_head(self) -> tuple[int, bytes] | None:
        if not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database is locked")
        return await self._registry.audit_head()  # type: ignore[attr-defined, no-any-return]


async def test_the_duty_loop_outlives_a_registry_failure(local_ca: LocalCA, tmp_path: Path) -> None:
    """A failure that is no CAError (the driver's) is logged; the next interval anchors."""
    settings = settings_for(tmp_path, CA_AUDIT__CHECKPOINT_INTERVAL_SECONDS="0.05")
    registry = FailsOnce(local_ca.registry)
    anchors = AuditCheckpoints(settings, registry, local_ca.signer, local_ca.clock)  # type: ignore[arg-type]
    await grow(local_ca, 1)
    loop = asyncio.create_task(anchors.run())
    try:
        async with asyncio.timeout(30):
            while (report := await anchors.verify()).newest is None:
                await asyncio.sleep(0.02)
        assert registry.failed and not loop.done()
        assert report.intact and report.unanchored == 0
    finally:
        loop.cancel()


def test_signed_bytes_cannot_pass_for_a_der_structure() -> None:
    """Certificates, CRLs and OCSP responses sign a DER SEQUENCE (RFC 5280 4.1, 5.1; RFC
    6960 4.2.1): their to-be-signed octets begin with 0x30. A checkpoint's never do."""
    checkpoint = Checkpoint("demo", 1, 7, bytes(32), "2026-11-28T12:00:00Z")
    assert checkpoint.signed_bytes().startswith(SIGNED_PREFIX)
    assert checkpoint.signed_bytes()[0] != 0x30


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[]",
        json.dumps({"ca": "demo", "generation": "1", "seq": 1, "hash": "00", "at": "t",
                    "signature": ""}),
        json.dumps({"ca": "demo", "generation": 1, "seq": 1, "hash": "zz", "at": "t",
                    "signature": ""}),
        json.dumps({"ca": "demo", "generation": 1, "seq": 1, "hash": "00", "at": "t",
                    "signature": "!!"}),
    ],
)  # fmt: skip
def test_a_line_that_is_not_a_checkpoint_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="not a checkpoint"):
        Checkpoint.from_line(line)


def test_a_checkpoint_line_round_trips() -> None:
    checkpoint = Checkpoint("demo", 2, 9, bytes(range(32)), "2026-11-28T12:00:00Z", b"sig")
    assert Checkpoint.from_line(checkpoint.to_line()) == checkpoint
    assert json.loads(checkpoint.to_line())["signature"] == base64.b64encode(b"sig").decode()
