"""Prometheus metrics of status publication (`ca_ocsp_*`, `ca_crl_*`), registered on the
CA's own registry (STYLE.md, "one composition root")."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OCSP_OUTCOMES = (
    "cached", "signed", "fresh", "unknown", "malformed", "unauthorized", "try_later", "error",
)  # fmt: skip


class StatusMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self._builder_gauges: list[Gauge] = []  # set only by the process holding the duties
        responses = Counter(
            "ca_ocsp_responses",
            "OCSP answers by outcome: cached (pre-signed), signed (a CertID hash signed on "
            "first use), fresh (nonce or several certificates), unknown, and errors.",
            ["outcome"],
            registry=r,
        )
        self.ocsp = {outcome: responses.labels(outcome) for outcome in OCSP_OUTCOMES}
        self.ocsp_presigned = Gauge(
            "ca_ocsp_presigned_responses", "Pre-signed OCSP responses held in memory.", registry=r
        )
        self.ocsp_next_update = self._builder_gauge(
            "ca_ocsp_next_update_timestamp_seconds",
            "The soonest nextUpdate of the stored pre-signed OCSP responses, by CA generation "
            "(Unix time): set by the process holding the duties, which re-signs them.",
            ["generation"],
            registry=r,
        )
        self.crl_builds = Counter("ca_crl_builds", "CRL rebuilds (all shards).", registry=r)
        self.crl_build_seconds = Histogram(
            "ca_crl_build_seconds",
            "Time to read, build, sign and store every CRL of a rebuild.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.crl_entries = self._builder_gauge(
            "ca_crl_entries",
            "Entries in the published CRLs, by CA generation.",
            ["kind", "generation"],
            registry=r,
        )
        self.crl_number = self._builder_gauge(
            "ca_crl_number",
            "The last cRLNumber published, by CA generation.",
            ["generation"],
            registry=r,
        )
        self.crl_next_update = self._builder_gauge(
            "ca_crl_next_update_timestamp_seconds",
            "nextUpdate of the CRLs last published, by CA generation (Unix time): set by the "
            "process holding the duties, which rebuilds them.",
            ["generation"],
            registry=r,
        )

    def _builder_gauge(self, name: str, documentation: str, labels: list[str], **kw: Any) -> Gauge:
        gauge = Gauge(name, documentation, labels, **kw)
        self._builder_gauges.append(gauge)
        return gauge

    def forget_builder_measures(self) -> None:
        """Drop every series of the gauges only the duty holder sets: this process no
        longer holds the duties."""
        for gauge in self._builder_gauges:
            gauge.clear()
