"""`/crl/...` and `/ca/...` serve every live CA generation's CRLs and certificate under its
own name (server/status/distribution_points.py; regulation K3): the first generation's
names are today's, a later one's carry its key id; any other name is 404 as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from server.context import open_ca
from server.status.publication import StatusPublication
from server.web.app import build_app
from tests.local_ca import LocalCA, opened_local_ca, second_generation
from tests.unit.web.api_home import ClientFactory


@pytest.fixture
async def local_ca(tmp_path: Path) -> AsyncIterator[LocalCA]:
    async with opened_local_ca(tmp_path) as ca:
        yield ca


async def test_k3_crl_and_ca_routes_serve_each_generation_and_404_unknown_names(
    local_ca: LocalCA, aiohttp_client: ClientFactory
) -> None:
    first = await local_ca.authority.generation()
    second = await second_generation(local_ca)
    builder = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                local_ca.clock, builder=True)  # fmt: skip
    await builder.crls.rebuild()  # what the duty holder stores; the server below reads it
    keyid = second.key_id.hex()
    async with open_ca(local_ca.settings, signing=False) as ca:
        await ca.status.crls.reload()
        client: Any = await aiohttp_client(build_app(ca))
        for generation, name in ((first, "demo"), (second, f"demo-{keyid}")):
            for delta, suffix in ((False, ""), (True, "-delta")):
                answer = await client.get(f"/crl/{name}{suffix}.crl")
                assert (answer.status, answer.content_type) == (200, "application/pkix-crl")
                published = builder.crls.current(0, delta, generation.id)
                assert published is not None and await answer.read() == published.der
                crl = x509.load_der_x509_crl(published.der)
                aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
                assert aki.value.key_identifier == generation.key_id
            answer = await client.get(f"/ca/{name}.crt")
            assert (answer.status, answer.content_type) == (200, "application/pkix-cert")
            assert await answer.read() == generation.certificate_der
        for path in (
            f"/crl/demo-{first.key_id.hex()}.crl",  # the first generation has no key id name
            f"/crl/demo-{keyid.upper()}.crl",
            f"/crl/demo-{keyid}-s0.crl",  # not partitioned
            f"/crl/other-{keyid}.crl",
            f"/crl/demo-{keyid}",
            f"/ca/demo-{first.key_id.hex()}.crt",
            f"/ca/demo-{keyid[:-2]}.crt",
            "/ca/other.crt",
        ):
            answer = await client.get(path)
            text = "no such CRL\n" if path.startswith("/crl/") else "no such CA\n"
            assert (answer.status, await answer.text()) == (404, text), path
        await client.close()
