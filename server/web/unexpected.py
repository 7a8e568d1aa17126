"""What every protocol adapter does with a failure it did not expect (STYLE.md rule 6):
log it once, with its traceback and a request id, count it in
`ca_unexpected_errors_total{protocol}`, and answer in the protocol's own words with no
detail (EST/API 500 "internal error", CMP systemFailure, OCSP internalError). The id in
the log line lets an operator find the traceback a client reports."""

from __future__ import annotations

import logging
import secrets
import weakref

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger(__name__)

PROTOCOLS = ("est", "cmp", "ocsp", "api", "http")  # http: the plain routes (app.py)


class UnexpectedErrors:
    """The log line and the counter of unexpected failures, one per CA (its metrics)."""

    def __init__(self, metrics: CollectorRegistry) -> None:
        self._counter = Counter(
            "ca_unexpected_errors",
            "Requests that failed with an unexpected exception, answered without detail",
            ["protocol"],
            registry=metrics,
        )
        for protocol in PROTOCOLS:
            self._counter.labels(protocol)

    def record(self, protocol: str, failure: BaseException, where: str = "") -> str:
        """Log `failure` with its traceback under a new request id (and `where`, e.g. the
        route), count it; the id."""
        request_id = secrets.token_hex(6)
        log.error(
            "%s%s: unexpected error (request %s)", protocol, f" {where}" if where else "",
            request_id, exc_info=failure,
        )  # fmt: skip
        self._counter.labels(protocol).inc()
        return request_id


_BY_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, UnexpectedErrors] = (
    weakref.WeakKeyDictionary()
)


def unexpected_errors(metrics: CollectorRegistry) -> UnexpectedErrors:
    """The CA's one UnexpectedErrors, however many listeners (HTTP, HTTPS, the OCSP
    listener) the process runs."""
    found = _BY_METRICS.get(metrics)
    if found is None:
        found = _BY_METRICS[metrics] = UnexpectedErrors(metrics)
    return found


UNEXPECTED_KEY = web.AppKey("unexpected", UnexpectedErrors)
