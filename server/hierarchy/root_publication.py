"""What the server publishes of the root CA kept in the home (server/hierarchy/
offline_root.py): the root's certificate at `/ca/<root>.crt` and its newest CRL at
`/crl/<root>.crl`, the URLs in the issuing CA's certificates (RFC 5280 4.2.1.13,
4.2.2.1), and the metric an operator alerts on before that CRL runs out.

The root signs a CRL rarely and offline, by command, into the registry; each process reads
the roots from there at most once every `REFRESH_S`, so a request for an unknown name
costs no read of its own, and a new root CRL is served everywhere within that time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from prometheus_client import CollectorRegistry, Gauge

from server.registry import interfaces
from server.status.crl_publisher import PublishedCRL

REFRESH_S = 60.0


class RootPublication:
    def __init__(self, registry: interfaces.Roots, metrics: CollectorRegistry) -> None:
        self._records = registry.roots
        self._read_at: float | None = None
        self._reading = asyncio.Lock()
        self._certificates: dict[str, bytes] = {}  # by root name
        self._crls: dict[str, PublishedCRL] = {}  # by file name, <root>.crl
        self._next_update = Gauge(
            "ca_root_crl_next_update_timestamp_seconds",
            "nextUpdate of the newest CRL of the root CA kept in the home (`root crl` signs "
            "the next one offline; relying parties that check the chain fail once it passes).",
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

    async def refresh_metrics(self) -> None:
        await self._refresh()

    async def _refresh(self) -> None:
        async with self._reading:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < REFRESH_S:
                return
            self._read_at = now
            roots = await self._records.roots()
        self._certificates = {root.name: root.certificate_der for root, _ in roots}
        self._crls = {
            f"{root.name}.crl": PublishedCRL(
                der=crl.der,
                number=crl.number,
                this_update=crl.this_update,
                next_update=crl.next_update,
                etag=hashlib.sha1(crl.der).hexdigest(),
            )
            for root, crl in roots
            if crl is not None
        }
        self._next_update.clear()
        for name, published in self._crls.items():
            self._next_update.labels(name.removesuffix(".crl")).set(
                published.next_update.timestamp()
            )
