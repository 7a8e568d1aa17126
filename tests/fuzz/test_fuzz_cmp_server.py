"""server/cmp/server.py and server/web/cmp.py under mutated real requests: whatever comes in, the
answer is one DER PKIMessage (RFC 9483 3.6.4: errors are CMP error messages; over HTTP
always 200 `application/pkixcmp`, RFC 6712 3.3), nothing reaches the `unexpected` callback,
and a refusal (an error body, or an ip/cp/kup/rp with status rejection) leaves the registry
as it was: no certificate issued or revoked, no status change, no credential claimed or
used, no CMP transaction left under way (a refused request's transactionID stays used, by
design).

Seeds: OpenSSL's and Bouncy Castle's saved requests (tests/fuzz/conftest.py; protected by
secrets and keys this CA does not know, so they exercise reading, the header and
authentication) and requests of tests/cmp_client.py that this CA serves: a MAC ir, a
signed cr, an rr, a certConf awaiting its confirmation, and genm (caCerts,
certReqTemplate, rootCaCert). A mutant may also succeed when the mutation hit something
harmless (a messageTime digit, a freeText); only refusals must change nothing.

The CA lives in an event loop of the test's own (asyncio.Runner): Hypothesis drives a
synchronous check per example, which runs the request in that loop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from protocols import cmp
from protocols.der import elements, tlv
from server.cmp.server import CMPServer
from server.node.tls import ServerIdentity
from server.web.cmp import CONTENT_TYPE, add_routes
from server.web.identity import SERVER_IDENTITY_KEY
from server.web.unexpected import UNEXPECTED_KEY
from tests.cmp_client import (
    CMPClient,
    cert_conf_content,
    cert_req_messages,
    cert_request,
    genm_content,
    mac_client,
    make_server,
    read_answer,
    registry_state,
    rr_content,
    server_identity,
    sign,
    signing_client,
)
from tests.fuzz.conftest import Seeds
from tests.fuzz.mutations import FUZZ, FUZZ_SLOW, mutated
from tests.local_ca import LocalCA, opened_local_ca

PROFILE = "tls-client"
ID_IT_ROOT_CA_CERT = "1.3.6.1.5.5.7.4.20"
REFUSING_STATUSES = frozenset({cmp.PKIStatus.rejection})


@dataclasses.dataclass(frozen=True)
class Reprotectable:
    """A request of ours cut at its protection: a mutant of ``content`` (the header and
    body octets, RFC 4210 5.1.3 ProtectedPart) is protected again with the client's secret
    or key, so that it passes authentication and the mutation reaches the rules."""

    content: bytes
    protect: Callable[[bytes], bytes]
    extra_certs: bytes  # the [1] extraCerts TLV as sent, or b""

    def assemble(self, content: bytes) -> bytes:
        protection = self.protect(tlv(0x30, content))
        return tlv(0x30, content + tlv(0xA0, tlv(0x03, b"\x00" + protection)) + self.extra_certs)


def reprotectable(client: CMPClient, der: bytes) -> Reprotectable:
    parts = elements(der)
    extra_certs = next((raw for tag, raw in parts[2:] if tag == 0xA1), b"")
    secret, key = client.secret, client.key
    if secret is not None:
        algorithm = cmp.parse_pki_message(der).header.protection_algorithm
        assert algorithm is not None

        def protect(part: bytes) -> bytes:
            return cmp.mac(algorithm, secret, part)

    else:

        def protect(part: bytes) -> bytes:
            return sign(key, part)[1]

    return Reprotectable(parts[0][1] + parts[1][1], protect, extra_certs)


def requests(raw: list[bytes], ours: list[Reprotectable]) -> st.SearchStrategy[bytes]:
    """Mutants of the saved requests as they are, and of ours protected again."""
    again = st.sampled_from(ours).flatmap(lambda seed: mutated([seed.content]).map(seed.assemble))
    return st.one_of(mutated(raw), again)


@dataclasses.dataclass
class World:
    """A CA, its CMP server and the seed requests, in one event loop."""

    local_ca: LocalCA
    server: CMPServer
    identity: ServerIdentity
    requests: st.SearchStrategy[bytes]
    unexpected: list[BaseException] = dataclasses.field(default_factory=list)

    async def answer_is_one_message_and_refusals_change_nothing(
        self, data: bytes, send: Callable[[bytes], Any]
    ) -> None:
        before = await registry_state(self.local_ca.registry)
        answer = await send(data)
        assert self.unexpected == []
        reply = read_answer(answer)  # exactly one DER PKIMessage, or this raises
        assert reply.der == answer
        refused = reply.body_type == "error" or (
            reply.body_type in ("ip", "cp", "kup", "rp") and reply.status in REFUSING_STATUSES
        )
        if refused:
            assert await registry_state(self.local_ca.registry) == before, reply


async def client_requests(
    ca: LocalCA, server: CMPServer, identity: ServerIdentity
) -> list[Reprotectable]:
    """Requests this CA serves, made by tests/cmp_client.py and not sent."""
    mac = await mac_client(ca, server=server, identity=identity)
    signer = await signing_client(ca, await mac_client(ca, server=server, identity=identity))
    holder = await signing_client(ca, await mac_client(ca, server=server, identity=identity))
    held = x509.load_der_x509_certificate(holder.chain[0])
    confirming = await mac_client(ca, server=server, identity=identity)
    issued = await confirming.send("ir", cert_req_messages(cert_request(
        key=ec.generate_private_key(ec.SECP256R1()))), new=True)  # fmt: skip
    assert issued.certificate is not None, issued
    generation = await ca.registry.active_generation(ca.settings.ca.name)
    assert generation is not None
    key = ec.generate_private_key(ec.SECP256R1())
    enrol = cert_req_messages(cert_request(key=key))
    serial, issuer = held.serial_number, held.issuer
    made = [
        (mac, mac.request("ir", enrol, new=True)),
        (signer, signer.request("cr", enrol, new=True)),
        (holder, holder.request("rr", rr_content(serial, issuer, 1), new=True)),
        (confirming, confirming.request("certConf", cert_conf_content(issued.certificate))),
        (mac, mac.request("genm", genm_content((cmp.ID_IT_CA_CERTS, None)), new=True)),
        (signer, signer.request("genm", genm_content((cmp.ID_IT_CERT_REQ_TEMPLATE, None)))),
        (mac, mac.request("genm", genm_content((ID_IT_ROOT_CA_CERT, generation.certificate_der)))),
    ]
    return [reprotectable(client, der) for client, der in made]


@pytest.fixture
def world(seeds: Seeds, tmp_path: Path) -> Iterator[tuple[asyncio.Runner, World]]:
    with asyncio.Runner() as runner:
        opened = opened_local_ca(tmp_path)
        ca = runner.run(opened.__aenter__())
        try:
            server = runner.run(make_server(ca))
            identity = runner.run(server_identity(ca))
            ours = runner.run(client_requests(ca, server, identity))
            yield runner, World(ca, server, identity, requests(seeds.cmp, ours))
        finally:
            runner.run(opened.__aexit__(None, None, None))


def test_rfc9483_3_6_4_any_mutated_request_gets_one_pki_message_and_refusals_change_nothing(
    world: tuple[asyncio.Runner, World],
) -> None:
    runner, state = world

    async def send(data: bytes) -> bytes:
        return await state.server.handle(data, PROFILE, state.identity, state.unexpected.append)

    @FUZZ
    @given(state.requests)
    def check(data: bytes) -> None:
        runner.run(state.answer_is_one_message_and_refusals_change_nothing(data, send))

    check()


class Recorder:
    """Stands in for server/web/unexpected.py's UnexpectedErrors: keeps what it is given."""

    def __init__(self, into: list[BaseException]) -> None:
        self._into = into

    def record(self, protocol: str, failure: BaseException, where: str = "") -> str:
        self._into.append(failure)
        return "recorded"


async def started(app: web.Application) -> TestClient[Any, Any]:
    """A client of ``app`` served on loopback, made in the running loop."""
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


def test_rfc6712_3_3_any_mutated_request_over_http_is_200_pkixcmp_and_refusals_change_nothing(
    world: tuple[asyncio.Runner, World],
) -> None:
    """The HTTP adapter (server/web/cmp.py) around the same server: never a 500."""
    runner, state = world
    ca_key = web.AppKey("ca", SimpleNamespace)
    app = web.Application()

    async def current() -> Any:  # server/cmp/identity.py's CMPIdentities.current
        return state.identity

    app[ca_key] = SimpleNamespace(settings=state.local_ca.settings, cmp=state.server,
                                  cmp_identity=SimpleNamespace(current=current))  # fmt: skip
    app[UNEXPECTED_KEY] = Recorder(state.unexpected)  # type: ignore[assignment]
    app[SERVER_IDENTITY_KEY] = state.identity
    add_routes(app, ca_key)  # type: ignore[arg-type]
    client = runner.run(started(app))

    async def post(data: bytes) -> bytes:
        response = await client.post("/.well-known/cmp", data=data,
                                     headers={"Content-Type": CONTENT_TYPE})  # fmt: skip
        body = await response.read()
        assert (response.status, response.content_type) == (200, CONTENT_TYPE), body[:200]
        return body

    try:

        @FUZZ_SLOW
        @given(state.requests)
        def check(data: bytes) -> None:
            runner.run(state.answer_is_one_message_and_refusals_change_nothing(data, post))

        check()
    finally:
        runner.run(client.close())
