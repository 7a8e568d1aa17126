"""The audit trail's hash chain (D3).

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical
fields, so changing, removing or reordering any entry breaks every hash after it. The first
entry chains to 32 zero octets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from server.registry.records import ChainReport

GENESIS = bytes(32)


def canonical_details(details: dict[str, object]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    prev_hash: bytes, seq: int, at: str, actor: str, action: str, target: str, details: str
) -> bytes:
    fields = json.dumps([seq, at, actor, action, target, details], ensure_ascii=False)
    return hashlib.sha256(prev_hash + fields.encode("utf-8")).digest()


def verify_chain(rows: Iterable[tuple[int, str, str, str, str, str, bytes, bytes]]) -> ChainReport:
    """Check rows (seq, at, actor, action, target, details, prev_hash, hash) in seq order."""
    expected_prev = GENESIS
    count = 0
    for seq, at, actor, action, target, details, prev_hash, digest in rows:
        count += 1
        recomputed = entry_hash(prev_hash, seq, at, actor, action, target, details)
        if prev_hash != expected_prev or digest != recomputed:
            return ChainReport(entries=count, intact=False, first_broken_seq=seq)
        expected_prev = digest
    return ChainReport(entries=count, intact=True)
