"""The API at the HTTP edge: a body nested deeper than the JSON parser's stack is a
malformed request (400, the document's JSON Error, RFC 8259 9 lets a parser limit
nesting), not a 500 with a traceback; an unexpected failure, injected through a fake
credentials service (STYLE.md rule 8), is 500 with the JSON Error and a request id only,
logged once with its traceback and counted."""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import pytest

from server.accounts import Role
from server.context import CA
from tests.unit.web.api_home import ClientFactory, Seed, Served
from tests.unit.web.edge import edge_client, registry_state, tracebacks, unexpected_count


async def test_rfc8259_9_sixty_thousand_brackets_are_a_malformed_body(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    before = await registry_state(served.ca)
    answer = await served.api.call(
        "POST", "/credentials", 400, token=served.seed.tokens[Role.OPERATOR], data=b"[" * 60_000,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert answer == {"error": "malformed", "message": "the body is not JSON"}
    assert await registry_state(served.ca) == before
    assert await unexpected_count(served.api.client, "api") == 0
    assert tracebacks(caplog) == []


class FailingCredentials:
    """The enrollment credentials service (server/enrollment/credentials.py) that breaks."""

    async def create(self, *args: object, **kwargs: object) -> Any:
        raise RuntimeError("the disk caught fire")


async def test_an_unexpected_failure_is_500_with_a_request_id_logged_once(
    seed: Seed, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    def failing(ca: CA) -> CA:
        return dataclasses.replace(ca, credentials=FailingCredentials())  # type: ignore[arg-type]

    async with edge_client(seed, aiohttp_client, failing) as (client, ca):
        before = await registry_state(ca)
        response = await client.post(
            "/api/v1/credentials", json={"profile": "tls-client", "subject": "CN=device"},
            headers={"Authorization": f"Bearer {seed.tokens[Role.OPERATOR]}"},
        )  # fmt: skip
        assert response.status == 500
        answer = await response.json()
        assert answer["error"] == "internal"
        found = re.fullmatch(r"internal error \(request ([0-9a-f]{12})\)", answer["message"])
        assert found is not None
        assert await unexpected_count(client, "api") == 1
        assert await registry_state(ca) == before
    (logged,) = tracebacks(caplog)
    assert logged.exc_info is not None and str(logged.exc_info[1]) == "the disk caught fire"
    assert logged.getMessage() == (
        f"api POST /credentials: unexpected error (request {found.group(1)})"
    )
