"""The plain routes at the HTTP edge (health, CA certificates, CRLs; STYLE.md rule 6): a
failure nobody expected, injected through a fake of our own service, is answered 500 with
a short text and no detail (RFC 9110 15.6.1), logged once with its traceback and counted as
`ca_unexpected_errors_total{protocol="http"}`, never aiohttp's bare error page."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest

from server.context import CA
from tests.unit.web.api_home import ClientFactory, Seed
from tests.unit.web.edge import edge_client, tracebacks, unexpected_count


class FailingAuthority:
    """The issuing authority (server/authority.py) whose registry read breaks."""

    async def generation(self) -> Any:
        raise RuntimeError("the disk caught fire")


def failing_authority(ca: CA) -> CA:
    return dataclasses.replace(ca, authority=FailingAuthority())  # type: ignore[arg-type]


class FailingGenerations:
    """The registry whose read of the CA generations (`/ca/<name>.crt`) breaks; the rest
    of it is the real one."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)

    async def generations(self, ca_name: str) -> Any:
        raise RuntimeError("the disk caught fire")


def failing_generations(ca: CA) -> CA:
    return dataclasses.replace(ca, registry=FailingGenerations(ca.registry))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "failing"),
    [("/ca/{name}.crt", failing_generations), ("/healthz", failing_authority)],
)
async def test_rfc9110_15_6_1_an_unexpected_failure_is_500_text_without_detail(
    seed: Seed,
    aiohttp_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    path: str,
    failing: Callable[[CA], CA],
) -> None:
    caplog.set_level(logging.INFO)
    async with edge_client(seed, aiohttp_client, failing) as (client, ca):
        answer = await client.get(path.format(name=ca.settings.ca.name))
        assert answer.status == 500
        assert answer.content_type == "text/plain"
        assert await answer.text() == "internal error\n"
        assert await unexpected_count(client, "http") == 1
    (logged,) = tracebacks(caplog)
    assert logged.exc_info is not None and str(logged.exc_info[1]) == "the disk caught fire"
    assert logged.getMessage().startswith("http /")
    assert "unexpected error (request " in logged.getMessage()
