"""The retirement of CA generations (regulation K3; server/node/generation_retirement.py).

Retiring is two steps, each a transaction of its own, so that a crash between them loses
nothing: `retire` marks the generation 'retired' (its CRLs and OCSP answers stop), then,
once the backend destroyed its keys, `keys_destroyed` records that with the audit entry.
A retired generation whose keys are not recorded destroyed is found again by
`keys_to_destroy` until they are.

`retire` checks what makes a retirement right in its own statement, so that nothing
recorded between the duty's read and the write (a responder certificate renewed, a
rollover) can be overtaken: the generation is active, not the CA's issuing one (the newest
active), and no certificate it signed, and no link certificate it signed, is valid at
`now` (notAfter is inclusive, RFC 5280 4.1.2.5). Each NOT EXISTS is one index seek
(migration 0020). A compromised generation retires the same way: its CRLs and OCSP answers
(every certificate it issued listed revoked, or marked) are owed until the last of them
expires, and no longer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from hsm.backend import KeyAlgorithm, KeyRef
from server.registry.records import AuditEvent, to_text

if TYPE_CHECKING:
    from server.registry.registry import Registry


class RetirementStore:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def retire(self, ca_name: str, generation_id: int, now: datetime) -> bool:
        """Mark the generation retired when it may be (see the module): active or
        compromised, not the issuing one, nothing it signed valid; whether it was."""
        moment = to_text(now)
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                "UPDATE ca_generations SET state = 'retired'"
                " WHERE id = ? AND ca_name = ? AND state IN ('active', 'compromised')"
                " AND id < (SELECT MAX(id) FROM ca_generations"
                "  WHERE ca_name = ? AND state = 'active')"
                " AND NOT EXISTS (SELECT 1 FROM certificates"
                "  WHERE generation_id = ? AND not_after >= ?)"
                " AND NOT EXISTS (SELECT 1 FROM ca_links"
                "  WHERE issuer_generation_id = ? AND not_after >= ?)",
                (generation_id, ca_name, ca_name, generation_id, moment, generation_id, moment),
            )
            return cursor.rowcount == 1

    async def keys_to_destroy(self, ca_name: str) -> list[tuple[int, list[KeyRef]]]:
        """(generation id, its CA key and every OCSP responder and confirmation key it had)
        of each retired generation of the CA whose keys are not recorded destroyed, oldest
        first."""
        async with (
            self._registry.reading() as db,
            db.execute(
                "SELECT g.id, g.key_uri, g.key_algorithm, r.key_uri, r.key_algorithm"
                " FROM ca_generations g LEFT JOIN (SELECT generation_id, key_uri,"
                "  key_algorithm, not_after FROM ocsp_responders UNION ALL"
                "  SELECT generation_id, key_uri, key_algorithm, not_after"
                "  FROM confirmation_signers) r ON r.generation_id = g.id"
                " WHERE g.ca_name = ? AND g.state = 'retired' AND g.keys_destroyed_at IS NULL"
                " ORDER BY g.id, r.not_after",
                (ca_name,),
            ) as cursor,
        ):
            rows = [tuple(row) async for row in cursor]
        found: dict[int, list[KeyRef]] = {}
        for generation_id, key_uri, key_algorithm, responder_uri, responder_algorithm in rows:
            keys = found.setdefault(generation_id, [KeyRef(key_uri, KeyAlgorithm(key_algorithm))])
            if responder_uri is not None:
                keys.append(KeyRef(responder_uri, KeyAlgorithm(responder_algorithm)))
        return list(found.items())

    async def keys_destroyed(self, generation_id: int, audit: AuditEvent, at: datetime) -> None:
        """Record that the retired generation's keys are destroyed, with `audit`."""
        async with self._registry.transaction() as db:
            await db.execute(
                "UPDATE ca_generations SET keys_destroyed_at = ? WHERE id = ?",
                (to_text(at), generation_id),
            )
            await self._registry.append_audit_in(db, audit, at)
