"""A real CA home for the API tests: made by `python -m server init`, then seeded with
certificates, one account per role, and applications awaiting a decision. A CA opened
without signing starts in milliseconds; with signing (revocation, approval) it starts its
signer process, about a second."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from config import load_settings
from server.accounts import Accounts, Requester, Role
from server.clock import Clock, utc_now
from server.context import CA, open_ca
from server.ra.applications import ApplicationPending
from server.web.app import build_app
from tests.csr_factory import make_csr, new_key
from tests.unit.web.openapi_check import API, Document

SEEDER = Requester(actor="test-seed", role=Role.ADMIN)


@dataclass
class Seed:
    home: Path
    tokens: dict[Role, str] = field(default_factory=dict)  # account name = role's value
    serials: list[str] = field(default_factory=list)  # tls-client certificates, good
    client_key_pem: bytes = b""  # the key of serials[-1]
    applications: list[str] = field(default_factory=list)  # submitted, with a request


@dataclass
class Served:
    api: API
    ca: CA
    seed: Seed
    home: Path


async def seed_home(home: Path) -> Seed:
    seed = Seed(home)
    async with open_ca(load_settings(home)) as ca:
        key = None
        for n in range(3):
            key = new_key()
            csr = make_csr([("CN", f"device-{n}"), ("O", "Plant")], key)
            seed.serials.append((await ca.authority.issue("tls-client", csr, "test")).serial)
        assert key is not None
        seed.client_key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        accounts = Accounts(ca.registry, ca.clock)
        for role in Role:
            seed.tokens[role] = (await accounts.create(role.value, role, SEEDER))[1]
        for n in range(2):
            credential, _ = await ca.credentials.create(
                "tls-client", f"CN=waiting-{n},O=Plant", timedelta(hours=1), "test"
            )
            csr = make_csr([])
            try:
                await ca.applications.enroll(credential, csr, "pkcs10", csr, "est:test")
            except ApplicationPending as pending:
                seed.applications.append(pending.application_id)
    return seed


ClientFactory = Callable[..., Awaitable[Any]]


@asynccontextmanager
async def serve(
    seed: Seed, aiohttp_client: ClientFactory, signing: bool, clock: Clock = utc_now
) -> AsyncIterator[Served]:
    """The API of the seeded CA, reading the time from `clock`."""
    async with open_ca(load_settings(seed.home), signing=signing, clock=clock) as ca:
        client = await aiohttp_client(build_app(ca))
        response = await client.get("/api/v1/openapi.json")
        assert response.status == 200
        document = Document(await response.json())
        yield Served(API(client, document), ca, seed, seed.home)
        await client.close()
