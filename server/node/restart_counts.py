"""Restarts made by `serve`'s supervisor, exported by its workers.

The supervisor is the parent process, which has no HTTP listener. It keeps its counts in a
small JSON file in the signers' private run folder (mode 0700), replaced whole by a rename
on every restart; each worker reads it when /metrics is scraped and exports
`ca_process_restarts_total{kind="signer"|"worker"}`. So whichever worker answers a scrape
reports the same numbers: the restarts made since this `serve` started (a restart of
`serve` itself resets them, as any Prometheus counter of a restarted process).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

KINDS = ("signer", "worker")
_HELP = "Child processes of serve restarted by its supervisor after they died, by kind."


class RestartCounts:
    """The supervisor's side: count and write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts = dict.fromkeys(KINDS, 0)
        self._write()

    def record(self, kind: str) -> None:
        self.counts[kind] += 1
        self._write()

    def _write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.counts), encoding="utf-8")
        os.replace(temporary, self.path)


class RestartCollector(Collector):
    """A worker's side: `ca_process_restarts_total`, read from the file at scrape time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("ca_process_restarts", _HELP, labels=["kind"])

    def collect(self) -> Iterator[CounterMetricFamily]:
        try:
            counts = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # the supervisor is gone: nothing to report
            return
        family = CounterMetricFamily("ca_process_restarts", _HELP, labels=["kind"])
        for kind in KINDS:
            family.add_metric([kind], float(counts.get(kind, 0)))
        yield family
