"""Prometheus metrics of the signing pipeline, registered on a registry passed in (never
the global one: see STYLE.md, "one composition root")."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TIME_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class PipelineMetrics:
    """The `ca_signing_*` metrics. `registry=None` makes a private registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge(
            "ca_signing_queue_depth", "Sign requests waiting for a signer.", registry=r
        )
        self.batch_size = Histogram(
            "ca_signing_batch_size",
            "Signatures per batch sent to a signer process.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.wait_seconds = Histogram(
            "ca_signing_wait_seconds",
            "Time from a sign request's arrival to its dispatch in a batch.",
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.signer_latency_seconds = Histogram(
            "ca_signing_signer_latency_seconds",
            "Round trip of one batch to a signer process (HSM time included).",
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.signatures = Counter(
            "ca_signing_signatures", "Signatures returned to callers.", registry=r
        )
        self.failures = Counter(
            "ca_signing_failures",
            "Sign requests that ended in an error, by kind (unavailable, signer, internal; "
            "wrong: a signature asked for verified did not verify or was for another message).",
            ["kind"],
            registry=r,
        )
        self.busy_rejections = Counter(
            "ca_signing_busy_rejections",
            "Sign requests refused because the queue was full.",
            registry=r,
        )
        self.connections_up = Gauge(
            "ca_signing_signer_connections_up", "Connections to signer processes that are up.",
            registry=r,
        )  # fmt: skip
        self.signers_up = Gauge(
            "ca_signing_signers_up",
            "Signer processes with at least one connection up (a signer killed between "
            "batches is noticed within the reconnect delay).",
            registry=r,
        )

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth at scrape time instead of on every request."""
        self.queue_depth.set_function(lambda: float(depth()))
