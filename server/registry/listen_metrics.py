"""Prometheus metrics of a process's dedicated LISTEN connections (`ca_registry_listen_*`,
server/registry/notifications.py), registered on the CA's own registry (STYLE.md, "one
composition root"); only where the engine notifies (PostgreSQL)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ListenMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.up = Gauge(
            "ca_registry_listen_up",
            "1 while this process's dedicated connection listens on the channel, 0 while it "
            "is lost (followers then only poll).",
            ["channel"],
            registry=r,
        )
        self.reconnects = Counter(
            "ca_registry_listen_reconnects",
            "Times this process listened again on the channel after its connection was "
            "lost or could not be opened.",
            ["channel"],
            registry=r,
        )
