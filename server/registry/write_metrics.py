"""Prometheus metrics of group commit (`ca_registry_write_*`, server/registry/group_commit.py),
registered on the CA's own registry (STYLE.md, "one composition root")."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WriteMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.group_size = Histogram(
            "ca_registry_write_group_size",
            "Requests whose writes shared one write transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.group_seconds = Histogram(
            "ca_registry_write_group_seconds",
            "Time a group took from its BEGIN to its COMMIT, a second try included.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.retries = Counter(
            "ca_registry_write_group_retries",
            "Groups run again with a savepoint per request because one failed in the fast try.",
            registry=r,
        )
        self.waiting = Gauge(
            "ca_registry_write_queue", "Writes waiting for a group to begin.", registry=r
        )
