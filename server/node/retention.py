"""Retention (C1; 152-FZ art. 5 part 7): personal data are removed once kept as long as their
purpose needs ([retention], `confirmation.files_kept_days`). A background duty of the
process holding the duty lease (server/node/duties.py, server/context.py `_builder_loops`),
every `retention.interval_hours`; `python -m server retention run` runs it at once.

Each kind is removed whole or not at all, with one audit entry `retention.remove` naming the
kind and how many, never what (server/registry/retention_store.py says what each removes):
- `attachments`: attachment records (a document's name and SHA-256) of ended applications;
- `subscribers`: subscribers whose personal data and identity records were erased;
- `confirmation_files`: answered confirmation cases whose files were removed from the home.
A kind with nothing to remove writes no entry, so a second run changes nothing. (Cases'
files are recorded 500 cases a transaction, each with its entry, as they leave the disk
batch by batch.)

Confirmation files are removed before the registry records it, never after: a crash in
between leaves cases not yet recorded whose files are (partly) gone, which the next run
finds again, removes what is left of (a folder already gone is no error) and records. The
other order could leave files recorded removed yet still on disk, personal data that no
run would look for again. Reading a case whose files are gone is no harm: the registry
keeps their names, sizes and SHA-256, and its files were due for removal already.

A due case whose folder is not in this home (kept on another node's disk, when
`confirmation.files` is not one folder shared by every node) is recorded all the same; so
each run also removes the folders in this home of cases recorded removed (left on a node
that was not the duty holder then, or brought back by restoring an old copy of the home),
and logs how many.

The registry of certificates and the audit trail are never removed (S5, D3). Logs are not
this duty's: the server writes them to stderr, and journald or logrotate keeps them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter

from config import Settings
from server.clock import Clock
from server.node.periodic import every
from server.registry import AuditEvent, interfaces

log = logging.getLogger("server.retention")

ACTOR = "ca:retention"
ACTION = "retention.remove"
ATTACHMENTS = "attachments"
SUBSCRIBERS = "subscribers"
CONFIRMATION_FILES = "confirmation_files"
KINDS = (ATTACHMENTS, SUBSCRIBERS, CONFIRMATION_FILES)
_CASES_AT_ONCE = 500  # confirmation cases whose files are removed per transaction


@dataclass(frozen=True)
class Removed:
    """How many of each kind were removed (or, for a dry run, are due)."""

    attachments: int = 0
    subscribers: int = 0
    confirmation_files: int = 0

    def counts(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in KINDS}


class Retention:
    def __init__(
        self,
        settings: Settings,
        registry: interfaces.Retention,
        clock: Clock,
        metrics: CollectorRegistry,
    ) -> None:
        self._retention = settings.retention
        self._files_kept_days = settings.confirmation.files_kept_days
        self._case_folder = settings.resolve(settings.confirmation.files)
        self._records = registry.retention
        self._clock = clock
        self._removed = Counter(
            "ca_retention_removed",
            "Personal data removed by the retention duty once kept as long as the settings "
            "say (C1): attachment records, erased subscribers, confirmation cases' files.",
            ["kind"],
            registry=metrics,
        )
        for kind in KINDS:
            self._removed.labels(kind)  # every kind reported, 0 until something is removed

    async def run(self) -> None:
        """Remove what expired every `retention.interval_hours` until cancelled; a failed
        round is logged and tried again at the next."""
        await every(
            self._retention.interval_hours * 3600, self.remove_expired, log,
            "retention: removing expired personal data failed",
        )  # fmt: skip

    async def due(self) -> Removed:
        """What `remove_expired` would remove now, removing nothing."""
        now = self._clock()
        attachments = subscribers = 0
        if cutoff := self._cutoff(now, self._retention.attachments_days):
            attachments = await self._records.attachments_due(cutoff)
        if cutoff := self._cutoff(now, self._retention.subscriber_days):
            subscribers = await self._records.subscribers_due(cutoff)
        return Removed(attachments, subscribers, await self._records.case_files_due_count(now))

    async def remove_expired(self) -> Removed:
        """Remove each kind whose period ended (see the module); how many of each."""
        now = self._clock()
        attachments = subscribers = 0
        if cutoff := self._cutoff(now, self._retention.attachments_days):
            days = self._retention.attachments_days
            attachments = await self._records.remove_attachments(
                cutoff, now, lambda count: self._audit(ATTACHMENTS, count, days)
            )
        if cutoff := self._cutoff(now, self._retention.subscriber_days):
            days = self._retention.subscriber_days
            subscribers = await self._records.erase_subscribers(
                cutoff, now, lambda count: self._audit(SUBSCRIBERS, count, days)
            )
        removed = Removed(attachments, subscribers, await self._remove_case_files(now))
        await self._remove_leftover_folders()
        for kind, count in removed.counts().items():
            if count:
                self._removed.labels(kind).inc(count)
                log.info("retention: %d %s removed", count, kind.replace("_", " "))
        return removed

    async def _remove_case_files(self, now: datetime) -> int:
        """Remove the files of answered cases past `files_until`, then record it (see the
        module for why in this order), a batch at a time; how many cases."""
        total = 0
        while case_ids := await self._records.case_files_due(now, _CASES_AT_ONCE):
            await asyncio.to_thread(self._remove_folders, case_ids)
            total += await self._records.case_files_removed(
                case_ids,
                now,
                lambda count: self._audit(CONFIRMATION_FILES, count, self._files_kept_days),
            )
            if len(case_ids) < _CASES_AT_ONCE:
                break
        return total

    async def _remove_leftover_folders(self) -> None:
        """Remove the folders in this home of cases recorded removed (see the module)."""
        names = await asyncio.to_thread(self._folder_names)
        leftovers: list[str] = []
        for start in range(0, len(names), _CASES_AT_ONCE):
            batch = names[start : start + _CASES_AT_ONCE]
            leftovers += await self._records.case_files_recorded_removed(batch)
        if leftovers:
            await asyncio.to_thread(self._remove_folders, leftovers)
            log.warning("retention: %d folders of confirmation cases recorded removed were "
                        "still in %s: removed", len(leftovers), self._case_folder)  # fmt: skip

    def _folder_names(self) -> list[str]:
        try:
            return sorted(entry.name for entry in self._case_folder.iterdir() if entry.is_dir())
        except FileNotFoundError:  # no case was ever kept in this home
            return []

    def _remove_folders(self, case_ids: list[str]) -> None:
        """Remove each case's folder; one gone already (a run a crash cut short) is no
        error. Raises OSError when one cannot be removed: nothing is recorded then."""
        for case_id in case_ids:
            folder = self._case_folder / case_id
            if folder.exists():
                shutil.rmtree(folder)

    @staticmethod
    def _cutoff(now: datetime, days: int) -> datetime | None:
        """What ended at or before this has been kept `days`; None when kept for ever."""
        return now - timedelta(days=days) if days else None

    @staticmethod
    def _audit(kind: str, count: int, days: int) -> AuditEvent:
        """The audit entry of one kind's removal: how many, never what."""
        return AuditEvent(ACTOR, ACTION, kind, {"kind": kind, "count": count, "kept_days": days})
