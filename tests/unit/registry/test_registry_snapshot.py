"""`backup` saves the registry as of one moment while certificates are being issued: on
SQLite through the online backup API, on PostgreSQL by `copy_registry` from one snapshot
into a SQLite file. Each saved file is a whole registry: every certificate has its status
row, the audit chain holds, and it lies between the counts before and after it was taken."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from server.registry import Registry
from server.registry.registry_copy import row_counts
from server.registry.registry_snapshot import save_into_sqlite, save_sqlite_file
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA, opened_local_ca

SNAPSHOTS = 4


async def _issue_until(local_ca: LocalCA, done: asyncio.Event) -> int:
    issued = 0
    while not done.is_set():
        await local_ca.authority.issue("tls-client", make_csr([("CN", f"d{issued}")]), "test")
        issued += 1
    return issued


async def _issued_without_their_status(registry: Registry) -> int:
    """Certificates recorded issued whose `issue` status change is missing: a file copied
    page by page while a transaction committed could hold one without the other."""
    async with (
        registry.snapshot() as db,
        db.execute(
            "SELECT count(*) FROM certificates c WHERE c.state = 'issued' AND NOT EXISTS"
            " (SELECT 1 FROM status_changes s WHERE s.serial = c.serial AND s.change = 'issue')"
        ) as cursor,
    ):
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _save(local_ca: LocalCA, target: Path) -> dict[str, int]:
    registry_file = local_ca.settings.registry_file
    if registry_file is not None:
        return await save_sqlite_file(registry_file, target)
    return await save_into_sqlite(local_ca.registry, target)


async def test_a_snapshot_under_issuance_is_one_moment_of_the_registry(
    registry_url: str, tmp_path: Path
) -> None:
    (tmp_path / "ca").mkdir()
    async with opened_local_ca(tmp_path / "ca", CA_REGISTRY__URL=registry_url) as local_ca:
        done = asyncio.Event()
        issuing = asyncio.create_task(_issue_until(local_ca, done))
        saved = []
        try:
            for n in range(SNAPSHOTS):
                await asyncio.sleep(0.05)  # let issuance commit between snapshots
                before = await row_counts(local_ca.registry)
                target = tmp_path / f"snapshot-{n}.sqlite3"
                counts = await _save(local_ca, target)
                after = await row_counts(local_ca.registry)
                assert before["certificates"] <= counts["certificates"] <= after["certificates"]
                saved.append((target, counts))
        finally:
            done.set()
            issued = await issuing
    assert issued > 0 and saved[0][1]["certificates"] < saved[-1][1]["certificates"]
    for target, counts in saved:
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.glob(f"{target.name}*")) == [target.name]
        copy = await Registry.open_url(f"sqlite:///{target}", migrate=False)
        try:
            assert await row_counts(copy) == counts
            assert await _issued_without_their_status(copy) == 0
            assert (await copy.verify_audit_chain()).intact
        finally:
            await copy.close()
