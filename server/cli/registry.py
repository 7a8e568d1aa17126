"""`registry copy`: move a CA home's registry to another database (SQLite to PostgreSQL,
back, or between two of either), then prove the copy before anyone points a server at it.

The copy itself is server/registry/registry_copy.py. The proof: every table has as many
rows on both sides, `audit verify` passes on the target (the hash chain, and the home's
signed checkpoints, which anchor the source's trail), and the stored OCSP answers of a
sample of certificates are the same on both sides.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from config import Settings, SettingsError, load_settings
from config.registry_url import resolve, url_problem
from server.audit_checkpoints import AnchorReport, AuditAnchorStore, AuditCheckpoints
from server.clock import utc_now
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.registry import Registry
from server.registry.registry_copy import (
    copy_registry,
    ocsp_answers,
    row_counts,
    sample_serials,
)

OCSP_SAMPLE = 100


async def run_registry(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    source_url = _url(settings, args.source, "--from")
    target_url = _url(settings, args.target, "--to")
    if source_url == target_url:
        raise CAError(ErrorKind.MALFORMED, "--from and --to name the same registry")
    source = await open_registry(settings, source_url)
    try:
        target = await open_registry(settings, target_url)
        try:
            copied = await copy_registry(source, target)
            lines = await _check(settings, source, target, copied)
        finally:
            await target.close()
    finally:
        await source.close()
    for line in lines:
        print(line)
    print(f"to use the copy, set registry.url = {json.dumps(args.target)} in settings.toml")
    return 0


def _url(settings: Settings, url: str, option: str) -> str:
    problem = url_problem(url)
    if problem is not None:
        raise SettingsError(f"{option}: must be {problem}")
    return resolve(url, settings.home)


async def _check(
    settings: Settings, source: Registry, target: Registry, copied: dict[str, int]
) -> list[str]:
    """What the copy holds, or CAError(INTERNAL) naming the first difference."""
    before, after = await row_counts(source), await row_counts(target)
    for table, count in sorted(after.items()):
        if before.get(table, 0) != count or copied.get(table, 0) != count:
            raise CAError(
                ErrorKind.INTERNAL,
                f"table {table}: {before.get(table, 0)} rows in the source, "
                f"{copied.get(table, 0)} copied, {count} in the target (was the source in "
                "use? stop its servers, then copy again into a new, empty database)",
            )
    audit = await _verify_audit(settings, target)
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


async def _verify_audit(settings: Settings, registry: AuditAnchorStore) -> AnchorReport:
    """`audit verify` on `registry`: its hash chain and the home's signed checkpoints."""
    return await AuditCheckpoints(settings, registry, _NoSigner(), utc_now).verify()


class _NoSigner:
    def submit(self, key: object, data: bytes) -> Any:
        raise CAError(ErrorKind.INTERNAL, "verifying the audit trail signs nothing")
