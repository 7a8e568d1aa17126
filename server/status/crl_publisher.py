"""CRL publication (RFC 5280 section 5): full and delta CRLs of every live CA generation
(not retired), optionally partitioned into shards by serial.

- Each live generation publishes its own CRLs at its own distribution points
  (server/status/distribution_points.py), signed by its own key and listing only the
  certificates it issued: an old CA key keeps signing CRLs for its certificates until the
  last one expires (regulation K3). The issuing generation is the newest active one.

- Every revoked or held certificate carries the DER of its CRL entry, made when its status
  changed; a CRL is a join of those entries, so even a very long one builds in about a
  second.
- One process builds (the `builder`: the HTTP worker of `serve` holding the duty lease,
  server/node/duties.py); the others serve what it stored in the registry. A status change
  anywhere leads to one rebuild after `crl.coalesce_ms` (many changes in that window: one
  rebuild); CRLs are also rebuilt `crl.refresh_before_hours` before their nextUpdate.
- Each rebuild makes, for every shard, a full CRL and, when deltas are on, a delta CRL
  against a base full CRL that moves on every `crl.base_interval_hours` (5.2.4). Both take
  numbers from one increasing cRLNumber sequence (5.2.3), delta last, which the CA's
  generations share: they have one issuer name. Any change rebuilds every live generation's
  CRLs: simple, and a CRL of a generation the change did not touch is merely renewed.
- A held certificate is listed with certificateHold; once resumed it leaves the full CRL
  and is listed as removeFromCRL (5.3.1) in delta CRLs whose base, or any CRL made after
  that base, listed it (5.2.4): a relying party may combine the delta with a newer full
  CRL it cached, which listed a hold the base never saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from asn1crypto import x509 as asn1_x509

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef
from protocols import crl as crl_codec
from protocols.x509.certificate import signature_algorithm_for
from server.clock import Clock
from server.registry import (
    CAGeneration,
    CertificateStatus,
    CRLRow,
    StatusDelta,
    interfaces,
)
from server.signing import Signer, sign
from server.status.distribution_points import crl_file_name, crl_url
from server.status.metrics import StatusMetrics

log = logging.getLogger("server.crl_publisher")


@dataclass(frozen=True)
class PublishedCRL:
    der: bytes
    number: int
    this_update: datetime
    next_update: datetime
    etag: str


def _published(row: CRLRow) -> PublishedCRL:
    return PublishedCRL(
        der=row.der,
        number=row.number,
        this_update=row.this_update,
        next_update=row.next_update,
        etag=hashlib.sha1(row.der).hexdigest(),
    )


class CRLRegistry(interfaces.CRLStatus, interfaces.Generations, Protocol):
    """The registry as CRL publication uses it."""


class CRLPublisher:
    def __init__(
        self,
        settings: Settings,
        registry: CRLRegistry,
        signer: Signer,
        clock: Clock,
        metrics: StatusMetrics,
        builder: bool = True,
    ) -> None:
        self._metrics = metrics
        self._settings = settings
        self._crl = settings.crl
        self._registry = registry
        self._signer = signer
        self._clock = clock
        self.builder = builder
        # (generation id, shard, delta)
        self._published: dict[tuple[int, int, bool], PublishedCRL] = {}
        self._file_names: dict[str, tuple[int, int, bool]] = {}
        # Retired generations (regulation K3): their last CRLs are still served until their
        # nextUpdate (RFC 5280 5.1.2.5: relying parties may fetch them until then), each
        # read from the registry at most once by a process that did not hold it.
        self._retired: set[int] = set()
        self._retired_read: set[tuple[int, int, bool]] = set()
        self._live_generations: list[CAGeneration] = []  # as last read, oldest first
        self._change = asyncio.Event()
        self._syncing = asyncio.Lock()  # the run loop and a process taking up the duties

    def current(
        self, shard: int, delta: bool, generation_id: int | None = None
    ) -> PublishedCRL | None:
        """The CRL published for the shard and kind, of the generation given or else of
        the issuing one."""
        if generation_id is None:
            issuing = self._issuing()
            if issuing is None:
                return None
            generation_id = issuing.id
        return self._published.get((generation_id, shard, delta))

    def named(self, file_name: str) -> PublishedCRL | None:
        """The CRL published under this file name (`/crl/<file_name>`), or None."""
        key = self._file_names.get(file_name)
        if key is None:
            return None
        published = self._published.get(key)
        if (
            published is not None
            and key[0] in self._retired
            and published.next_update <= self._clock()
        ):
            del self._published[key]  # a retired generation's last CRL, past its nextUpdate
            return None
        return published

    @property
    def generations(self) -> list[CAGeneration]:
        """The live generations (not retired) as last read, oldest first."""
        return list(self._live_generations)

    def _issuing(self) -> CAGeneration | None:
        active = [g for g in self._live_generations if g.state == "active"]
        return active[-1] if active else None

    def changed(self) -> None:
        """A status changed somewhere: rebuild (builder) or re-read (others) soon."""
        self._change.set()

    async def run(self) -> None:
        """Keep the CRLs current until cancelled."""
        while True:
            try:
                await self.sync()
            except Exception:  # keep publishing; the next round retries
                log.exception("CRL publication failed")
            with contextlib.suppress(TimeoutError):  # a quiet second: check nextUpdate anyway
                await asyncio.wait_for(self._change.wait(), timeout=1.0)
                await asyncio.sleep(self._crl.coalesce_ms / 1000)  # coalesce a burst

    async def sync(self) -> None:
        """Builder: rebuild if anything changed or nextUpdate is near. Others: re-read."""
        async with self._syncing:
            self._change.clear()
            if self.builder and await self._stale():
                await self.rebuild()
            else:
                await self.reload()

    async def _live(self) -> list[CAGeneration]:
        """Read the live generations and the file names their CRLs are published under
        (retired generations' too: `named` serves their last CRL until its nextUpdate)."""
        generations = await self._registry.generations(self._settings.ca.name)
        live = [g for g in generations if g.state != "retired"]
        shards = self._crl.shards
        self._file_names = {
            crl_file_name(g, shard, shards, delta): (g.id, shard, delta)
            for g in generations
            for shard in range(shards)
            for delta in (False, True)
        }
        self._retired = {g.id for g in generations if g.state == "retired"}
        self._live_generations = live
        return live

    async def reload(self) -> None:
        store = self._registry.status
        for generation in await self._live():
            for shard in range(self._crl.shards):
                for delta in (False, True):
                    key = (generation.id, shard, delta)
                    held = self._published.get(key)
                    number = await store.latest_crl_number(generation.id, shard, delta)
                    if number is None or (held is not None and held.number == number):
                        continue  # nothing newer: do not read a long CRL again
                    row = await store.latest_crl(generation.id, shard, delta)
                    if row is not None:
                        self._published[key] = _published(row)
        await self._read_retired()

    async def _read_retired(self) -> None:
        """The last CRLs of retired generations this process does not hold, read once,
        kept only while before their nextUpdate."""
        now = self._clock()
        for generation_id in self._retired:
            for shard in range(self._crl.shards):
                for delta in (False, True):
                    key = (generation_id, shard, delta)
                    if key in self._published or key in self._retired_read:
                        continue
                    self._retired_read.add(key)
                    row = await self._registry.status.latest_crl(generation_id, shard, delta)
                    if row is not None and row.next_update > now:
                        self._published[key] = _published(row)

    async def _stale(self) -> bool:
        """Whether any live generation has no CRL yet, one near its nextUpdate, or one
        that does not reflect the last status change."""
        last_change: int | None = None
        now = self._clock()
        for generation in await self._live():
            row = await self._registry.status.latest_crl(generation.id, 0, delta=False)
            if row is None:
                return True
            if row.next_update - now <= timedelta(hours=self._crl.refresh_before_hours):
                return True
            if last_change is None:
                last_change = await self._registry.status.last_change_id()
            if row.base_change_id < last_change:
                return True
        return False

    async def rebuild(self) -> None:
        """Build, sign and store the full (and delta) CRL of every shard of every live
        generation."""
        with self._metrics.crl_build_seconds.time():
            for generation in await self._live():
                await self._rebuild(generation)
        self._metrics.crl_builds.inc()

    async def _rebuild(self, generation: CAGeneration) -> None:
        store = self._registry.status
        now = self._clock()
        next_update = now + timedelta(hours=self._crl.validity_hours)
        keep_since = now - timedelta(days=self._crl.keep_expired_days)
        change_id, entries = await store.crl_snapshot(generation.id, keep_since)
        per_kind = 2 if self._crl.deltas else 1
        number = await store.allocate_crl_numbers(generation.id, per_kind * self._crl.shards)
        rows: list[CRLRow] = []
        changes: dict[int, list[StatusDelta]] = {}  # by base change id: read once per base
        for shard in range(self._crl.shards):
            shard_entries = [der for serial, der in entries if self._shard(serial) == shard]
            full = await self._sign_crl(
                generation, shard, number, now, next_update, shard_entries, None, change_id
            )
            rows.append(full)
            number += 1
            if self._crl.deltas:
                base = await store.delta_base(
                    generation.id, shard, now - timedelta(hours=self._crl.base_interval_hours)
                )
                base = base or full
                if base.base_change_id not in changes:
                    changes[base.base_change_id] = await store.changes_after(base)
                delta = await self._delta(
                    generation, shard, number, now, next_update, base, change_id,
                    changes[base.base_change_id],
                )  # fmt: skip
                rows.append(delta)
                number += 1
        await store.store_crls(rows)
        for row in rows:
            key = (generation.id, row.shard, row.delta_base is not None)
            self._published[key] = _published(row)
        label = str(generation.id)
        self._metrics.crl_number.labels(label).set(rows[-1].number)
        self._metrics.crl_next_update.labels(label).set(next_update.timestamp())
        self._metrics.crl_entries.labels("full", label).set(len(entries))

    async def _delta(
        self,
        generation: CAGeneration,
        shard: int,
        number: int,
        now: datetime,
        next_update: datetime,
        base: CRLRow,
        change_id: int,
        changes: list[StatusDelta],
    ) -> CRLRow:
        entries = []
        for delta in changes:
            if self._shard(delta.serial) != shard:
                continue
            if delta.crl_entry is not None:
                entries.append(delta.crl_entry)
            elif delta.listed_since_base and delta.status is CertificateStatus.GOOD:
                # RFC 5280 5.2.4: resumed after the base or a later CRL (which a relying
                # party may hold as its complete CRL) listed it on hold
                entries.append(
                    crl_codec.revoked_entry(
                        int(delta.serial, 16), now, crl_codec.CRLReason.removeFromCRL
                    )
                )
        return await self._sign_crl(
            generation, shard, number, now, next_update, entries, base.number, change_id
        )

    def _shard(self, serial: str) -> int:
        return crl_codec.crl_shard(int(serial, 16), self._crl.shards)

    async def _sign_crl(
        self,
        generation: CAGeneration,
        shard: int,
        number: int,
        now: datetime,
        next_update: datetime,
        entries: list[bytes],
        delta_base: int | None,
        change_id: int,
    ) -> CRLRow:
        ca = asn1_x509.Certificate.load(generation.certificate_der)
        base_url, shards = self._settings.ca.base_url, self._crl.shards
        algorithm = signature_algorithm_for(ca.public_key.dump())
        template = crl_codec.CRLTemplate(
            issuer_name_der=ca.subject.dump(),
            authority_key_id=generation.key_id,
            crl_number=number,
            this_update=now,
            next_update=next_update,
            entries=entries,
            signature_algorithm=algorithm,
            delta_base=delta_base,
            distribution_point=(
                crl_url(base_url, generation, shard, shards, delta_base is not None)
                if shards > 1
                else None
            ),
            freshest_crl=(
                crl_url(base_url, generation, shard, shards, True)
                if self._crl.deltas and delta_base is None
                else None
            ),
        )
        tbs = crl_codec.build_tbs_cert_list(template)
        key = KeyRef(generation.key_uri, KeyAlgorithm(generation.key_algorithm))
        signature = await sign(self._signer, key, tbs)
        return CRLRow(
            generation_id=generation.id,
            shard=shard,
            number=number,
            delta_base=delta_base,
            base_change_id=change_id,
            this_update=now,
            next_update=next_update,
            der=crl_codec.assemble_crl(tbs, algorithm, signature),
        )
