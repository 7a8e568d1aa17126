"""Helpers of the error-policy tests at the HTTP edge (STYLE.md rule 6): the seeded CA
served through `build_app`, possibly with a service swapped for a fake of our own that
fails; what the registry holds, to show a refusal changed nothing; the unexpected-error
counter as /metrics shows it; and the log records that carry a traceback."""

from __future__ import annotations

import base64
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from config import load_settings
from server.authority import der_to_pem
from server.context import CA, backend_spec, open_ca
from server.node.tls import load_server_identity, server_context
from server.web.app import build_app
from tests.csr_factory import make_csr
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


@dataclass(frozen=True)
class ESTAnswer:
    status: int
    content_type: str
    retry_after: str | None
    text: str


async def est_over_tls(ca: CA, aiohttp_server: ClientFactory) -> tuple[int, str]:
    """The application of `ca` on a real TLS listener with the server's own TLS settings
    (as `serve` has it): its port, and the CA certificate (PEM) a client trusts."""
    settings = ca.settings
    secret = backend_spec(settings).read_secret()
    ca_pem = der_to_pem((await ca.authority.generation()).certificate_der)
    app = build_app(ca, load_server_identity(settings, secret))
    server = await aiohttp_server(app, ssl=server_context(settings, secret, ca_pem))
    return server.port, ca_pem


async def est_simpleenroll(port: int, ca_pem: str, credential_id: str, code: str) -> ESTAnswer:
    """EST simpleenroll (RFC 7030 4.2.1) of a "CN=device" request with HTTP Basic
    credentials, over TLS trusting `ca_pem`; the answer as a client sees it."""
    basic = base64.b64encode(f"{credential_id}:{code}".encode()).decode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"https://127.0.0.1:{port}/.well-known/est/simpleenroll",
            data=base64.encodebytes(make_csr([("CN", "device")])),
            headers={"Content-Type": "application/pkcs10", "Authorization": f"Basic {basic}"},
            ssl=ssl.create_default_context(cadata=ca_pem),
        ) as response,
    ):
        return ESTAnswer(response.status, response.content_type,
                         response.headers.get("Retry-After"), await response.text())  # fmt: skip
