"""Status publication: the OCSP responder, the node's OCSP index file, the CRL publisher
and the feed that carries status changes between processes, started and stopped together
(ARCHITECTURE.md, "Status publication").

`prepare` and `committed` are what a status change calls around its transaction: the new
OCSP response is signed before the change is committed, and the change returns only once
every live server process serves it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import CollectorRegistry

from config import Settings
from protocols import crl as crl_codec
from server.clock import Clock
from server.node.periodic import every
from server.registry import (
    CAGeneration,
    CertificateRecord,
    CertificateStatus,
    OCSPResponseRow,
    interfaces,
)
from server.signing import Signer
from server.status.crl_publisher import CRLPublisher
from server.status.feed import StatusFeed, wait_until_applied
from server.status.metrics import StatusMetrics
from server.status.ocsp_index_keeper import OCSPIndexKeeper
from server.status.ocsp_responder import OCSPResponder

log = logging.getLogger("server.status")
OCSP_REFRESH_EVERY_S = 60.0


class StatusRegistry(
    interfaces.Status,
    interfaces.Generations,
    interfaces.OCSPResponders,
    interfaces.Certificates,
    Protocol,
):
    """The registry as status publication uses it."""


class StatusPublication:
    def __init__(
        self,
        settings: Settings,
        registry: StatusRegistry,
        signer: Signer,
        clock: Clock,
        *,
        serving: bool = False,
        builder: bool = False,
        metrics: CollectorRegistry | None = None,
        renew_responder: Callable[[CAGeneration], Awaitable[None]] | None = None,
    ) -> None:
        """`serving`: this process answers OCSP/CRL requests and follows the others.
        `builder`: this process also builds CRLs, refreshes OCSP responses and renews the
        OCSP responder certificates (with `renew_responder`). A serving process of `serve`
        starts as a follower and is switched by `become_builder` / `stop_building` as it
        gains or loses the duty lease (server/node/duties.py)."""
        self._renew_responder = renew_responder
        self._settings = settings
        self._registry = registry
        self._clock = clock
        self.serving = serving
        self.builder = builder
        self._metrics = StatusMetrics(metrics)
        self.ocsp = OCSPResponder(settings, registry, signer, clock, self._metrics)
        self.crls = CRLPublisher(settings, registry, signer, clock, self._metrics, builder=builder)
        self.feed = StatusFeed(
            registry,
            self.ocsp,
            settings.ocsp.poll_interval_ms / 1000,
            clock,
            on_change=self.crls.changed,
        )
        self.index = OCSPIndexKeeper(
            settings.resolve(settings.ocsp.index_file),
            registry,
            self.ocsp,
            self.feed.catch_up,
            settings.ocsp.index_rewrite_rows,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._taking_up: asyncio.Task[None] | None = None
        self._signing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ocsp.load_issuers()
        if not self.serving:
            return
        await self.index.start()  # answer from the node's index file, if it is good
        await self.feed.catch_up()  # ... and the changes since it from memory
        if self.builder:
            await self.ocsp.sign_missing()
        await self.crls.sync()
        await self.feed.mark()
        self._tasks = [
            asyncio.create_task(self.feed.run()),
            asyncio.create_task(self.crls.run()),
            asyncio.create_task(self._maintain_ocsp()),
            asyncio.create_task(self._keep_index()),
        ]

    def become_builder(self) -> None:
        """This process now holds the duties: build CRLs from now on (a rebuild is checked
        at once), and do the OCSP upkeep, in the background (`taken_up` waits for it);
        then sign missing OCSP responses (not waited for: until one is stored, a request
        for it is answered by signing it then)."""
        self.builder = self.crls.builder = True
        self._taking_up = asyncio.create_task(self._take_up())
        self._signing = asyncio.create_task(self._sign_missing())

    async def stop_building(self) -> None:
        """This process lost the duties: only follow what the builder stores, and stop
        reporting what only the builder measures (a value kept would age here while the
        new holder renews, and raise the nextUpdate alerts for nothing)."""
        self.builder = self.crls.builder = False
        self._metrics.forget_builder_measures()
        for task in (self._taking_up, self._signing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._taking_up = self._signing = None

    async def taken_up(self) -> None:
        """Wait until the work of `become_builder` is done (a server at start does)."""
        if self._taking_up is not None:
            await asyncio.shield(self._taking_up)

    async def _take_up(self) -> None:
        try:
            await self.crls.sync()
            await self.maintain_ocsp()
        except Exception:  # the periodic upkeep retries
            log.exception("OCSP upkeep on taking up the duties failed")

    async def _sign_missing(self) -> None:
        if self._taking_up is not None:
            await asyncio.wait([self._taking_up])
        try:
            signed = await self.ocsp.sign_missing()
        except Exception:
            log.exception("signing the missing OCSP responses failed")
            return
        if signed:
            log.info("signed and stored %d missing OCSP responses", signed)

    async def signed_missing(self) -> None:
        """Wait until the missing responses are signed, if they are being signed."""
        if self._signing is not None:
            await asyncio.wait([self._signing])

    async def stop(self) -> None:
        await self.stop_building()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.serving:
            await self.index.stop()
            await self.feed.leave()

    async def _keep_index(self) -> None:
        interval = self._settings.ocsp.poll_interval_ms / 1000
        await every(interval, self.index.check, log, "OCSP index upkeep failed")

    async def _maintain_ocsp(self) -> None:
        await every(OCSP_REFRESH_EVERY_S, self.maintain_ocsp, log, "OCSP maintenance failed")

    async def maintain_ocsp(self) -> None:
        """Every process: take up CA generations a rollover made and responder
        certificates renewed since. Builder: renew responder certificates due (RFC 6960
        4.2.2.2; every response is then re-signed by the new one) and re-sign responses
        near nextUpdate."""
        await self.ocsp.reload_issuers()
        if not self.builder:
            return
        renew_before = self._clock() + timedelta(
            days=self._settings.ca.ocsp_responder_renew_before_days
        )
        expiring = self.ocsp.responders_expiring(renew_before)
        if expiring and self._renew_responder is not None:
            for generation in expiring:
                await self._renew_responder(generation)
            await self.ocsp.reload_issuers()
            await self.ocsp.resign_all()
        await self.ocsp.refresh_all_due()
        await self.ocsp.measure_next_update()

    async def prepare_issued(self, serial: str, generation_id: int) -> OCSPResponseRow | None:
        """The signed `good` response of a certificate about to be stored."""
        return await self.ocsp.prepare(serial, generation_id, CertificateStatus.GOOD, None, None)

    def issued(self, row: OCSPResponseRow) -> None:
        """The certificate and its response are stored: answer from memory here too."""
        self.ocsp.apply([row])

    async def prepare(
        self,
        record: CertificateRecord,
        status: CertificateStatus,
        at: datetime,
        reason: int | None,
        invalidity_date: datetime | None,
    ) -> tuple[bytes | None, OCSPResponseRow | None]:
        """The CRL entry and the signed OCSP response of a status change about to be
        committed. `reason` is the CRLReason (None: unspecified, left out per RFC 5280
        5.3.1)."""
        serial, generation_id = record.serial, record.generation_id
        if status is CertificateStatus.GOOD:
            return None, await self.ocsp.prepare(serial, generation_id, status, None, None)
        entry = crl_codec.revoked_entry(int(serial, 16), at, reason, invalidity_date)
        return entry, await self.ocsp.prepare(serial, generation_id, status, at, reason)

    async def committed(self) -> None:
        """After the change's transaction: apply it here, wait until every live server
        process has applied it, then have CRLs rebuilt. Raises CAError(UNAVAILABLE) when a
        live process did not confirm in time."""
        await self.feed.catch_up()
        if self.serving:
            await self.feed.mark()
        await wait_until_applied(
            self._registry,
            self.ocsp.seq,
            self._settings.ocsp.propagation_timeout_seconds,
            self._clock,
        )
        self.crls.changed()
