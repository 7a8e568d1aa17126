"""EST at the HTTP edge (RFC 7030 over a real TLS listener in this process, with the
server's own TLS settings): an unexpected failure, injected through a fake enrollment
service (STYLE.md rule 8), is answered as EST's table says for an internal error, HTTP
500 with a short text body and no detail (RFC 7030 4.2.3 leaves the body of an error to
the server), logged once with its traceback and counted; the registry is unchanged."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Any

import pytest

from config import load_settings
from server.context import CA, open_ca
from tests.unit.web.api_home import ClientFactory, Seed
from tests.unit.web.edge import est_over_tls, est_simpleenroll, registry_state, tracebacks


class FailingEnrollment:
    """The enrollment service (server/enrollment/enroll.py) that breaks."""

    async def enroll(self, *args: object, **kwargs: object) -> Any:
        raise RuntimeError("the disk caught fire")


async def test_rfc7030_4_2_3_an_unexpected_failure_is_500_text_without_detail(
    seed: Seed, aiohttp_server: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = load_settings(seed.home)
    async with open_ca(settings, signing=False) as opened:
        ca: CA = dataclasses.replace(opened, enrollment=FailingEnrollment())  # type: ignore[arg-type]
        port, ca_pem = await est_over_tls(ca, aiohttp_server)
        credential, code = await ca.credentials.create(
            "tls-client", "CN=device", timedelta(hours=1), "test"
        )
        before = await registry_state(ca)
        answer = await est_simpleenroll(port, ca_pem, credential.id, code)
        assert (answer.status, answer.content_type, answer.text) == (
            500,
            "text/plain",
            "internal error\n",
        )
        counted = ca.metrics.get_sample_value("ca_unexpected_errors_total", {"protocol": "est"})
        assert counted == 1
        assert await registry_state(ca) == before
    (logged,) = tracebacks(caplog)
    assert logged.exc_info is not None and str(logged.exc_info[1]) == "the disk caught fire"
    assert logged.getMessage().startswith("est: unexpected error (request ")
