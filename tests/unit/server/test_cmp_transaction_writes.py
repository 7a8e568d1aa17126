"""A CMP enrolment opens its transaction in the write that records its intent (issue #14:
fewer transactions per request), and the rules of RFC 4210 5.1.1 hold as they did: a
transactionID is used once, also by two requests at once, and a request refused by
issuance keeps its transactionID used while leaving nothing else behind.

Driven by tests/cmp_client.py against a real CMPServer over tests/local_ca.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from server.registry import CertificateStatus
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    Answer,
    CMPClient,
    cert_req_messages,
    cert_request,
    mac_client,
    make_server,
)
from tests.local_ca import LocalCA


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def ir(client: CMPClient, new: bool = True, **options: Any) -> Answer:
    return await client.send("ir", cert_req_messages(cert_request(key=key())), new=new,
                             generalInfo=IMPLICIT_CONFIRM, **options)  # fmt: skip


def count_writes(local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The registry's writes from now on, each named by its work function."""
    writes = local_ca.registry.writes
    run, names = writes.run, []

    async def counted(work: Callable[[Any], Awaitable[Any]], **options: Any) -> Any:
        names.append(work.__name__)
        return await run(work, **options)

    monkeypatch.setattr(writes, "run", counted)
    return names


async def test_an_ir_writes_its_intent_and_its_certificate_and_nothing_else(
    local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await mac_client(local_ca)
    writes = count_writes(local_ca, monkeypatch)
    answer = await ir(client)
    assert (answer.body_type, answer.status) == ("ip", 0), answer
    assert writes == ["record", "complete"]
    transaction = await local_ca.registry.cmp.get(client.transaction_id)
    assert transaction is not None and transaction.state == "done"  # implicitly confirmed
    assert transaction.serial is not None and transaction.requester == client.kid.decode()


async def test_two_requests_with_one_transaction_id_at_once_issue_one_certificate(
    local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both pass the header's check (neither is recorded yet); the intent's write claims
    the transactionID, so the second is transactionIdInUse and leaves no row, its code
    unspent."""
    server = await make_server(local_ca)
    first, second = await mac_client(local_ca, server), await mac_client(local_ca, server)
    first.transaction_id = second.transaction_id = b"\x07" * 16

    async def unrecorded(_transaction_id: bytes) -> None:
        return None

    monkeypatch.setattr(local_ca.registry.cmp, "get", unrecorded)
    answers = await asyncio.gather(ir(first, new=False), ir(second, new=False))
    kinds = sorted((a.body_type, tuple(sorted(a.fail_info))) for a in answers)
    assert kinds == [("error", ("transactionIdInUse",)), ("ip", ())], answers
    assert len(await local_ca.registry.search.certificates(None, "tls-client", None, 10, None)) == 1
    assert await local_ca.registry.open_intents() == []
    monkeypatch.undo()
    loser = first if answers[0].body_type == "error" else second
    again = await ir(loser)  # a new transactionID: the code was not spent
    assert (again.body_type, again.status) == ("ip", 0), again


async def test_a_request_refused_by_issuance_keeps_its_transaction_id_used(
    local_ca: LocalCA,
) -> None:
    """Refused in the write that would record its intent (the key is certified already,
    S13), which leaves nothing: the transactionID is then recorded used, nothing else."""
    client = await mac_client(local_ca)
    same = key()
    issued = await client.send("ir", cert_req_messages(cert_request(key=same)), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert issued.status == 0, issued
    other = await mac_client(local_ca, client.server)
    refused = await other.send("ir", cert_req_messages(cert_request(key=same)), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert (refused.body_type, refused.fail_info) == ("ip", {"badCertTemplate"}), refused
    transaction = await local_ca.registry.cmp.get(other.transaction_id)
    assert transaction is not None and (transaction.state, transaction.serial) == ("done", None)
    (only,) = await local_ca.registry.search.certificates(None, "tls-client", None, 10, None)
    assert only.status is CertificateStatus.GOOD
    third = await mac_client(local_ca, client.server)
    third.transaction_id = other.transaction_id
    reused = await ir(third, new=False)
    assert (reused.body_type, reused.fail_info) == ("error", {"transactionIdInUse"}), reused
