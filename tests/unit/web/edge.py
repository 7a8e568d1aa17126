"""Helpers of the error-policy tests at the HTTP edge (STYLE.md rule 6): the seeded CA
served through `build_app`, possibly with a service swapped for a fake of our own that
fails; what the registry holds, to show a refusal changed nothing; the unexpected-error
counter as /metrics shows it; and the log records that carry a traceback."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from config import load_settings
from server.context import CA, backend_spec, open_ca
from server.node.tls import load_server_identity
from server.web.app import build_app
from tests.unit.web.api_home import ClientFactory, Seed


@asynccontextmanager
async def edge_client(
    seed: Seed, aiohttp_client: ClientFactory, change: Callable[[CA], CA] = lambda ca: ca
) -> AsyncIterator[tuple[Any, CA]]:
    """A test client of the whole application of the seeded CA (not signing), with the
    server's TLS identity as `serve` loads it, and the CA as served: `change` may swap its
    services for fakes."""
    settings = load_settings(seed.home)
    identity = load_server_identity(settings, backend_spec(settings).read_secret())
    async with open_ca(settings, signing=False) as opened:
        ca = change(opened)
        client = await aiohttp_client(build_app(ca, identity))
        yield client, ca
        await client.close()


async def registry_state(ca: CA) -> tuple[object, ...]:
    """Every certificate with its status, and the audit trail's length."""
    certificates = await ca.registry.search.certificates(None, None, None, 1000, None)
    audit = await ca.registry.search.audit_entries(1000, None)
    return tuple((c.serial, c.status) for c in certificates), len(audit)


async def unexpected_count(client: Any, protocol: str) -> float:
    """ca_unexpected_errors_total{protocol} as /metrics shows it."""
    text = await (await client.get("/metrics")).text()
    found = re.search(rf'^ca_unexpected_errors_total\{{protocol="{protocol}"\}} (\S+)$', text,
                      re.MULTILINE)  # fmt: skip
    assert found is not None, text
    return float(found.group(1))


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info]
