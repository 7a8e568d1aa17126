"""The proof that a registry copy is whole, run by `registry copy` and by `restore` before
anyone points a server at the copy:
- every table has as many rows in the source, in what was copied and in the target (for a
  restore, the source first matches the counts the archive's manifest recorded);
- `audit verify` passes on the target: the hash chain, and the home's signed checkpoints,
  which anchor the source's trail (server/audit_checkpoints.py);
- the stored OCSP answers of a sample of certificates are the same on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config import Settings
from server.audit_checkpoints import AnchorReport, AuditAnchorStore, AuditCheckpoints
from server.clock import utc_now
from server.errors import CAError, ErrorKind
from server.registry import Registry
from server.registry.registry_copy import ocsp_answers, row_counts, sample_serials

OCSP_SAMPLE = 100


async def match_recorded(registry: Registry, recorded: Mapping[str, int]) -> None:
    """Raises CAError(INTERNAL) naming the first table whose rows differ from `recorded`,
    the counts a backup's manifest took with the snapshot (checked before it is loaded)."""
    counts = await row_counts(registry)
    for table in sorted(set(recorded) | set(counts)):
        if recorded.get(table, 0) != counts.get(table, 0):
            raise CAError(
                ErrorKind.INTERNAL,
                f"table {table}: {recorded.get(table, 0)} rows in the manifest, "
                f"{counts.get(table, 0)} in the archive's registry",
            )


async def prove_copy(
    settings: Settings, source: Registry, target: Registry, copied: Mapping[str, int]
) -> list[str]:
    """The lines saying what the copy holds; raises CAError(INTERNAL) naming the first
    difference."""
    before, after = await row_counts(source), await row_counts(target)
    for table, count in sorted(after.items()):
        if before.get(table, 0) != count or copied.get(table, 0) != count:
            raise CAError(
                ErrorKind.INTERNAL,
                f"table {table}: {before.get(table, 0)} rows in the source, "
                f"{copied.get(table, 0)} copied, {count} in the target (was the source in "
                "use? stop its servers, then copy again into a new, empty database)",
            )
    audit = await verify_audit(settings, target)
    if audit.problem is not None:
        raise CAError(ErrorKind.INTERNAL, f"audit verify on the target: {audit.problem}")
    serials = await sample_serials(source, OCSP_SAMPLE)
    if await ocsp_answers(source, serials) != await ocsp_answers(target, serials):
        raise CAError(ErrorKind.INTERNAL, "the target's stored OCSP answers differ")
    lines = [f"{table}: {count} rows" for table, count in sorted(after.items())]
    lines.append(f"copied {sum(after.values())} rows in {len(after)} tables")
    lines.append(
        f"audit verify on the target: {audit.entries} entries intact, "
        f"{audit.checkpoints} checkpoints of this home hold"
    )
    lines.append(f"OCSP: the answers for {len(serials)} sampled certificates are the same")
    return lines


async def verify_audit(settings: Settings, registry: AuditAnchorStore) -> AnchorReport:
    """`audit verify` on `registry`: its hash chain and the home's signed checkpoints."""
    return await AuditCheckpoints(settings, registry, _NoSigner(), utc_now).verify()


class _NoSigner:
    def submit(self, key: object, data: bytes) -> Any:
        raise CAError(ErrorKind.INTERNAL, "verifying the audit trail signs nothing")
