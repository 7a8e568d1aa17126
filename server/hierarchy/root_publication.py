"""What the server publishes of the roots kept in the home (server/hierarchy/
offline_root.py): each root's certificate at `/ca/<root>.crt` and its newest CRL at
`/crl/<root>.crl`, the URLs in the issuing CA's certificates (RFC 5280 4.2.1.13,
4.2.2.1), for the first root and every one a `root rollover` made (their names: server/
hierarchy/root_succession.py); and the metrics an operator alerts on, since only the
operator, with the root's key at hand, can act on them:

- `ca_root_crl_next_update_timestamp_seconds{root}`: each live root's newest CRL's
  nextUpdate (`root crl` signs the next, for every live root);
- `ca_root_key_usage_remaining_seconds{root}`: seconds left of each live root's key, and
  of the newest root's in any case (negative once past). A root's key is used as long as
  its certificate is valid; `root rollover` changes the newest one's
  `ca.rollover_before_days` before that end (K2), which no duty can do for an offline key.

The roots sign rarely and offline, by command, into the registry; each process reads
them from there at most once every `REFRESH_S`, so a request for an unknown name costs no
read of its own, and a new root or root CRL is served everywhere within that time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge

from server.clock import Clock
from server.hierarchy.root_succession import in_succession, is_live
from server.registry import interfaces
from server.registry.records import RootCRL
from server.status.crl_publisher import PublishedCRL

REFRESH_S = 60.0


@dataclass(frozen=True)
class PublishedRoot:
    """A root of the home as published: `newest` certifies from now on."""

    name: str
    not_after: datetime
    newest: bool
    crl: PublishedCRL | None


class RootPublication:
    def __init__(
        self, registry: interfaces.Roots, metrics: CollectorRegistry, clock: Clock
    ) -> None:
        self._records = registry.roots
        self._clock = clock
        self._read_at: float | None = None
        self._reading = asyncio.Lock()
        self._roots: list[PublishedRoot] = []  # in succession
        self._certificates: dict[str, bytes] = {}  # by root name
        self._crls: dict[str, PublishedCRL] = {}  # by file name, <root>.crl
        self._next_update = Gauge(
            "ca_root_crl_next_update_timestamp_seconds",
            "nextUpdate of the newest CRL of each live root CA kept in the home (`root crl` "
            "signs the next ones offline; relying parties that check the chain fail once it "
            "passes).",
            ["root"],
            registry=metrics,
        )
        self._remaining = Gauge(
            "ca_root_key_usage_remaining_seconds",
            "Seconds left of each live root CA key kept in the home (its certificate's "
            "validity), and of the newest one's in any case, negative once past; `root "
            "rollover` changes the newest root's key, offline (K2).",
            ["root"],
            registry=metrics,
        )

    async def certificate(self, name: str) -> bytes | None:
        """The DER certificate of the root named `name`, or None."""
        await self._refresh()
        return self._certificates.get(name)

    async def crl(self, file_name: str) -> PublishedCRL | None:
        """The newest CRL of the root published as `file_name` (`<root>.crl`), or None."""
        await self._refresh()
        return self._crls.get(file_name)

    async def roots(self) -> list[PublishedRoot]:
        """The home's roots, the first one first (none in a home without a root)."""
        await self._refresh()
        return self._roots

    async def refresh_metrics(self) -> None:
        await self._refresh()
        now = self._clock()
        self._next_update.clear()
        self._remaining.clear()
        for root in self._roots:
            live = is_live(root, now)
            if live or root.newest:
                self._remaining.labels(root.name).set((root.not_after - now).total_seconds())
            if live and root.crl is not None:
                self._next_update.labels(root.name).set(root.crl.next_update.timestamp())

    async def _refresh(self) -> None:
        async with self._reading:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < REFRESH_S:
                return
            self._read_at = now
            read = await self._records.roots()
        crls = {root.name: crl for root, crl in read}
        ordered = in_succession([root for root, _ in read])
        self._roots = [
            PublishedRoot(
                name=root.name,
                not_after=root.not_after,
                newest=root is ordered[-1],
                crl=_published(crls[root.name]),
            )
            for root in ordered
        ]
        self._certificates = {root.name: root.certificate_der for root in ordered}
        self._crls = {f"{r.name}.crl": r.crl for r in self._roots if r.crl is not None}


def _published(crl: RootCRL | None) -> PublishedCRL | None:
    if crl is None:
        return None
    return PublishedCRL(
        der=crl.der,
        number=crl.number,
        this_update=crl.this_update,
        next_update=crl.next_update,
        etag=hashlib.sha1(crl.der).hexdigest(),
    )
