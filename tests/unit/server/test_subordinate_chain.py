"""A CA under a parent outside serves the parent's chain (issue 15, Hierarchy, second
bullet): EST /cacerts (RFC 7030 4.1.3) and CMP genm caCerts (RFC 9483 4.3.1) carry this
CA's certificate and the parent's chain; an ip's extraCerts carry the issued certificate's
chain up to the parent's root and its caPubs the parent's root (RFC 9483 4.1.1); the CMP
protection certificate comes with its chain up to that root (RFC 9483 3.3)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from protocols import cmp
from server.authority import der_to_pem
from server.cmp.identity import CMPIdentities
from server.enrollment import root_distribution
from server.errors import CAError, ErrorKind
from server.generations.compromise import compromise
from server.generations.rollover import rollover
from server.node.tls import issue_server_certificate, server_context
from server.status.publication import StatusPublication
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    cert_req_messages,
    cert_request,
    genm_content,
    genp_items,
    mac_client,
    tlv,
)
from tests.csr_factory import make_csr
from tests.subordinate_ca import SubordinateCA, opened_subordinate_ca
from tests.unit.server.test_cmp_rfc9483_enrolment import key
from tests.unit.server.test_cmp_rfc9483_kur_suite import ca_pubs_of


@pytest.fixture
async def sub_ca(tmp_path: Path) -> AsyncIterator[SubordinateCA]:
    async with opened_subordinate_ca(tmp_path) as ca:
        yield ca


async def own_and_parents(sub_ca: SubordinateCA) -> list[bytes]:
    """This CA's certificate, then the intermediate, then the parent's root."""
    local_ca = sub_ca.local_ca
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    parents = [p.certificate.public_bytes(Encoding.DER) for p in (sub_ca.intermediate,
                                                                sub_ca.root)]  # fmt: skip
    return [generation.certificate_der, *parents]


async def test_rfc7030_4_1_3_cacerts_carries_the_parent_chain(sub_ca: SubordinateCA) -> None:
    local_ca = sub_ca.local_ca
    handed = await root_distribution.ca_certificates(
        local_ca.registry, local_ca.settings.ca.name, local_ca.clock()
    )
    assert handed == await own_and_parents(sub_ca)


async def test_rfc9483_4_3_1_ca_certs_carries_the_parent_chain(sub_ca: SubordinateCA) -> None:
    client = await mac_client(sub_ca.local_ca)
    answer = await client.send("genm", genm_content((cmp.ID_IT_CA_CERTS, None)), new=True)
    expected = await own_and_parents(sub_ca)
    assert genp_items(answer) == [(cmp.ID_IT_CA_CERTS, tlv(0x30, b"".join(expected)))]


async def test_rfc9483_4_1_1_ip_extra_certs_carry_the_chain_and_ca_pubs_the_root(
    sub_ca: SubordinateCA,
) -> None:
    client = await mac_client(sub_ca.local_ca)
    answer = await client.send("ir", cert_req_messages(cert_request(key=key())), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert (answer.body_type, answer.status) == ("ip", 0), answer
    chain = await own_and_parents(sub_ca)
    assert answer.message.extra_certs == tuple(chain)
    assert ca_pubs_of(answer) == [chain[-1]]


async def test_rfc9483_3_3_the_protection_certificate_comes_with_the_parent_chain(
    sub_ca: SubordinateCA,
) -> None:
    local_ca = sub_ca.local_ca
    identities = CMPIdentities(local_ca.settings, local_ca.registry, local_ca.authority,
                               local_ca.clock, lambda: "secret")  # fmt: skip
    await identities.renew_if_due()
    identity = await identities.current()
    assert identity is not None
    assert identity.chain[1:] == await own_and_parents(sub_ca)


async def test_hierarchy_rollover_of_a_ca_under_a_parent_is_refused(sub_ca: SubordinateCA) -> None:
    """Its rollover is a request to the parent (server/generations/subordinate_rollover.py): the
    self-signed rollover refuses it rather than make it a root of its own; nothing made."""
    local_ca = sub_ca.local_ca
    before = await local_ca.registry.generations(local_ca.settings.ca.name)
    keys = sorted((local_ca.settings.home / "keys").iterdir())
    with pytest.raises(CAError) as raised:
        await rollover(local_ca.settings, local_ca.registry, local_ca.backend,
                       local_ca.authority, local_ca.clock(), "secret", "cli:operator",
                       "scheduled")  # fmt: skip
    assert raised.value.kind is ErrorKind.REJECTED
    assert str(raised.value) == (
        f"generation {before[0].id} was certified by a parent CA outside: its rollover is a "
        "new key and a request to the parent (rollover --csr FILE, then import-ca-cert), not a "
        "self-signed certificate; nothing was made"
    )
    assert await local_ca.registry.generations(local_ca.settings.ca.name) == before
    assert sorted((local_ca.settings.home / "keys").iterdir()) == keys


async def test_k4_self_signed_compromise_of_a_ca_under_a_parent_is_refused(
    sub_ca: SubordinateCA,
) -> None:
    """The self-signed compromise (and so the API's) refuses it rather than answer with a
    self-signed successor, which would make this CA a root of its own, and says what to run
    (the parent revokes and certifies a new key: tests/unit/server/
    test_cli_subordinate_compromise.py); nothing changed, no key made."""
    local_ca = sub_ca.local_ca
    before = await local_ca.registry.generations(local_ca.settings.ca.name)
    keys = sorted((local_ca.settings.home / "keys").iterdir())
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    with pytest.raises(CAError) as raised:
        await compromise(local_ca.settings, local_ca.registry, local_ca.backend,
                         local_ca.authority, status, local_ca.clock(), "secret",
                         "cli:operator", before[0].id, "the key was copied")  # fmt: skip
    assert raised.value.kind is ErrorKind.REJECTED
    assert str(raised.value) == (
        f"generation {before[0].id} was certified by a parent CA outside: its compromise "
        "hands the parent a request for a new key and a revocation request, files only the "
        "command line writes: run `python -m server compromise --home HOME --generation "
        f"{before[0].id} --grounds TEXT --csr FILE --revocation-request FILE`; nothing was "
        "changed"
    )
    assert await local_ca.registry.generations(local_ca.settings.ca.name) == before
    assert sorted((local_ca.settings.home / "keys").iterdir()) == keys


async def test_hierarchy_tls_chains_to_the_parent_root_and_accepts_own_clients(
    sub_ca: SubordinateCA,
) -> None:
    """The HTTPS listener's chain file carries the parent's chain, so a client trusting
    only the parent's root accepts the server; and the listener accepts a client certificate
    this CA issued though its own certificate is no self-signed root (RFC 7030 3.3.2)."""
    local_ca = sub_ca.local_ca
    settings = local_ca.settings
    await issue_server_certificate(settings, local_ca.authority, "secret", "t")
    generation = await local_ca.registry.active_generation(settings.ca.name)
    assert generation is not None
    server = server_context(settings, "secret", der_to_pem(generation.certificate_der))
    client_key = key()
    issued = await local_ca.authority.issue(
        "tls-client", make_csr([("CN", "device")], key=client_key), "t"
    )
    folder = settings.home
    (folder / "client.pem").write_text(issued.pem)
    (folder / "client.key").write_bytes(
        client_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.load_verify_locations(cadata=der_to_pem(sub_ca.root.certificate.public_bytes(
        Encoding.DER)))  # fmt: skip
    client.load_cert_chain(folder / "client.pem", folder / "client.key")

    left, right = socket.socketpair()
    with left, right:
        accepted = asyncio.to_thread(_handshake, server, left, True)
        connected = asyncio.to_thread(_handshake, client, right, False)
        peer, _ = await asyncio.gather(accepted, connected)
    assert peer is not None and peer["serialNumber"] == issued.serial.upper().rjust(
        len(peer["serialNumber"]), "0"
    )


def _handshake(context: ssl.SSLContext, sock: socket.socket, server_side: bool) -> dict | None:
    with context.wrap_socket(sock, server_side=server_side) as wrapped:
        return wrapped.getpeercert() if server_side else None
