"""EST at the HTTP edge (RFC 7030 over a real TLS listener in this process, with the
server's own TLS settings): an unexpected failure, injected through a fake enrollment
service (STYLE.md rule 8), is answered as EST's table says for an internal error, HTTP
500 with a short text body and no detail (RFC 7030 4.2.3 leaves the body of an error to
the server), logged once with its traceback and counted; the registry is unchanged."""

from __future__ import annotations

import base64
import dataclasses
import logging
import ssl
from datetime import timedelta
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
from tests.unit.web.edge import registry_state, tracebacks


class FailingEnrollment:
    """The enrollment service (server/enrollment/enroll.py) that breaks."""

    async def enroll(self, *args: object, **kwargs: object) -> Any:
        raise RuntimeError("the disk caught fire")


async def test_rfc7030_4_2_3_an_unexpected_failure_is_500_text_without_detail(
    seed: Seed, aiohttp_server: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = load_settings(seed.home)
    secret = backend_spec(settings).read_secret()
    async with open_ca(settings, signing=False) as opened:
        ca: CA = dataclasses.replace(opened, enrollment=FailingEnrollment())  # type: ignore[arg-type]
        ca_pem = der_to_pem((await ca.authority.generation()).certificate_der)
        app = build_app(ca, load_server_identity(settings, secret))
        server = await aiohttp_server(app, ssl=server_context(settings, secret, ca_pem))
        credential, code = await ca.credentials.create(
            "tls-client", "CN=device", timedelta(hours=1), "test"
        )
        before = await registry_state(ca)
        basic = base64.b64encode(f"{credential.id}:{code}".encode()).decode()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"https://127.0.0.1:{server.port}/.well-known/est/simpleenroll",
                data=base64.encodebytes(make_csr([("CN", "device")])),
                headers={"Content-Type": "application/pkcs10", "Authorization": f"Basic {basic}"},
                ssl=ssl.create_default_context(cadata=ca_pem),
            ) as response,
        ):
            assert response.status == 500
            assert response.content_type == "text/plain"
            assert await response.text() == "internal error\n"
        counted = ca.metrics.get_sample_value("ca_unexpected_errors_total", {"protocol": "est"})
        assert counted == 1
        assert await registry_state(ca) == before
    (logged,) = tracebacks(caplog)
    assert logged.exc_info is not None and str(logged.exc_info[1]) == "the disk caught fire"
    assert logged.getMessage().startswith("est: unexpected error (request ")
