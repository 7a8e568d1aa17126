"""The registry's side of the rollover of a CA under a parent outside (regulation K2;
migration 0023), on both engines: a pending request with its audit entry, at most one
pending per CA, its import recorded with the new generation, its parent chain and its
responder in one transaction, and refusals that record nothing."""

from __future__ import annotations

import dataclasses

import pytest

from server.errors import CAError, ErrorKind
from server.registry import GenerationRequest, Rollover
from server.registry.registry import Registry
from server.registry.registry_copy import row_counts
from tests.unit.registry.test_registry import NOW, a_generation, a_rollover

CHAIN = (b"der-intermediate", b"der-root")


def a_request(rolled_from: int, key: str = "key:next") -> GenerationRequest:
    return GenerationRequest(0, "demo", rolled_from, key, "ec-p256", b"csr-" + key.encode(), NOW,
                             "cli:operator", "scheduled", "pending")  # fmt: skip


def imported_generation(rolled_from: int, serial: str) -> Rollover:
    """The new generation an import records: no links, the parent's chain."""
    return dataclasses.replace(a_rollover(rolled_from, serial), links=(), parent_chain=CHAIN)


async def audit_actions(registry: Registry) -> list[str]:
    return [e.action for e in await registry.search.audit_entries(100, None)]


async def test_k2_a_request_is_recorded_pending_with_its_audit_entry(registry: Registry) -> None:
    first = await a_generation(registry, "demo", "c1")
    request_id = await registry.ca_requests.add(a_request(first), NOW)
    pending = await registry.ca_requests.pending("demo")
    assert pending == dataclasses.replace(a_request(first), id=request_id)
    assert await registry.ca_requests.pending("other") is None
    [entry] = [e for e in await registry.search.audit_entries(100, None)
               if e.action == "ca.generation.request"]  # fmt: skip
    assert (entry.actor, entry.target) == ("cli:operator", f"request {request_id}")
    assert entry.details == {"ca": "demo", "from": first, "key": "key:next",
                             "algorithm": "ec-p256", "reason": "scheduled"}  # fmt: skip


async def test_k2_a_second_pending_request_is_refused_with_nothing_recorded(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    await registry.ca_requests.add(a_request(first), NOW)
    before = await row_counts(registry)
    with pytest.raises(CAError) as refused:
        await registry.ca_requests.add(a_request(first, "key:other"), NOW)
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED,
        "CA 'demo' has a request for its next generation pending already: import the "
        "parent's certificate for it (import-ca-cert), write its CSR again (rollover --csr "
        "FILE) or abandon it (rollover --abandon); nothing was made",
    )
    assert await row_counts(registry) == before
    other = await a_generation(registry, "other", "o1")  # another CA has its own
    await registry.ca_requests.add(dataclasses.replace(a_request(other, "key:o"),
                                                       ca_name="other"), NOW)  # fmt: skip


async def test_k2_an_import_records_the_generation_its_chain_and_the_request_at_once(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    await registry.ca_requests.add(a_request(first), NOW)
    request = await registry.ca_requests.pending("demo")
    assert request is not None
    new = await registry.ca_requests.imported(request, imported_generation(first, "c2"), NOW)
    generations = await registry.generations("demo")
    assert [(g.id, g.state, g.parent_chain) for g in generations] == [
        (first, "active", ()), (new, "active", CHAIN)]  # fmt: skip
    active = await registry.active_generation("demo")
    assert active is not None and (active.id, active.serial) == (new, "c2")
    assert await registry.links("demo") == []
    assert await registry.ocsp_responder(new) is not None
    assert await registry.ca_requests.pending("demo") is None
    [closed] = await registry.ca_requests.requests("demo")
    assert (closed.state, closed.generation_id) == ("imported", new)
    [entry] = [e for e in await registry.search.audit_entries(100, None)
               if e.action == "ca.generation.rollover"]  # fmt: skip
    assert entry.details == {"ca": "demo", "from": first, "reason": "scheduled",
                             "request": request.id, "to": new}  # fmt: skip
    assert (await registry.verify_audit_chain()).intact
    await registry.ca_requests.add(a_request(new, "key:third"), NOW)  # the next may come


async def test_k2_an_import_of_a_request_no_longer_pending_records_nothing(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    await registry.ca_requests.add(a_request(first), NOW)
    request = await registry.ca_requests.pending("demo")
    assert request is not None
    await registry.ca_requests.imported(request, imported_generation(first, "c2"), NOW)
    before = await row_counts(registry)
    with pytest.raises(CAError) as refused:  # a second node imported the same answer
        await registry.ca_requests.imported(request, imported_generation(first, "c3"), NOW)
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED,
        f"request {request.id} of CA 'demo' for its next generation is no longer pending "
        "(imported or abandoned meanwhile); nothing was recorded",
    )
    assert await row_counts(registry) == before


async def test_k2_an_import_after_another_generation_came_records_nothing(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    await registry.ca_requests.add(a_request(first), NOW)
    request = await registry.ca_requests.pending("demo")
    assert request is not None
    await registry.record_rollover(a_rollover(first, "c2"), NOW)
    before = await row_counts(registry)
    with pytest.raises(CAError) as refused:
        await registry.ca_requests.imported(request, imported_generation(first, "c3"), NOW)
    assert refused.value.message == (
        f"generation {first} is no longer the active generation of CA 'demo': the request "
        "was made from it; nothing was recorded"
    )
    assert await row_counts(registry) == before
    assert await registry.ca_requests.pending("demo") == request


async def test_k2_an_abandoned_request_makes_room_for_another(registry: Registry) -> None:
    first = await a_generation(registry, "demo", "c1")
    await registry.ca_requests.add(a_request(first), NOW)
    request = await registry.ca_requests.pending("demo")
    assert request is not None
    await registry.ca_requests.abandon(request, "cli:operator", NOW)
    assert await registry.ca_requests.pending("demo") is None
    with pytest.raises(CAError):
        await registry.ca_requests.abandon(request, "cli:operator", NOW)
    await registry.ca_requests.add(a_request(first, "key:again"), NOW)
    states = [r.state for r in await registry.ca_requests.requests("demo")]
    assert states == ["abandoned", "pending"]
    assert (await audit_actions(registry)).count("ca.generation.request.abandon") == 1


# The compromise of a generation of such a CA (regulation K4;
# server/generations/subordinate_compromise.py)


def a_compromise_request(rolled_from: int, key: str = "key:new") -> GenerationRequest:
    return dataclasses.replace(a_request(rolled_from, key), reason="compromise")


async def test_k4_a_compromise_abandons_the_pending_request_and_records_the_new_one_at_once(
    registry: Registry,
) -> None:
    first = await a_generation(registry, "demo", "c1")
    await registry.ca_requests.add(a_request(first), NOW)
    pending = await registry.ca_requests.pending("demo")
    assert pending is not None
    request_id = await registry.ca_requests.compromised(
        first, a_compromise_request(first), pending, "key copied", "revoke", NOW
    )
    assert [(g.id, g.state) for g in await registry.generations("demo")] == [(first, "compromised")]
    assert await registry.active_generation("demo") is None
    requests = await registry.ca_requests.requests("demo")
    assert [(r.id, r.state, r.rolled_from) for r in requests] == [
        (pending.id, "abandoned", first), (request_id, "pending", first)]  # fmt: skip
    entries = (await registry.search.audit_entries(100, None))[-3:]
    assert [e.action for e in entries] == [
        "ca.generation.request.abandon",
        "ca.generation.request",
        "ca.generation.compromise",
    ]
    assert (entries[2].actor, entries[2].target, entries[2].details) == (
        "cli:operator", f"generation {first}",
        {"ca": "demo", "generation": first, "grounds": "key copied", "request": request_id,
         "certificates": "revoke"})  # fmt: skip
    assert (await registry.verify_audit_chain()).intact


async def test_k4_a_compromise_refused_records_nothing(registry: Registry) -> None:
    """The pending request it read closed meanwhile (another node imported or abandoned
    it), another one pending, the generation compromised already: each refused whole."""
    first = await a_generation(registry, "demo", "c1")

    async def refused(abandoned: GenerationRequest | None, key: str) -> str:
        before = await row_counts(registry)
        with pytest.raises(CAError) as refusal:
            await registry.ca_requests.compromised(
                first, a_compromise_request(first, key), abandoned, "g", "revoke", NOW
            )
        assert refusal.value.kind is ErrorKind.REJECTED
        assert await row_counts(registry) == before
        return refusal.value.message

    await registry.ca_requests.add(a_request(first), NOW)
    closed = await registry.ca_requests.pending("demo")
    assert closed is not None
    await registry.ca_requests.abandon(closed, "cli:operator", NOW)
    assert await refused(closed, "key:a") == (
        f"request {closed.id} of CA 'demo' for its next generation is no longer pending "
        "(imported or abandoned meanwhile); nothing was recorded"
    )
    await registry.ca_requests.add(a_request(first, "key:other"), NOW)
    assert await refused(None, "key:b") == (
        "CA 'demo' has a request for its next generation pending already: import the "
        "parent's certificate for it (import-ca-cert), write its CSR again (rollover --csr "
        "FILE) or abandon it (rollover --abandon); nothing was made"
    )
    other = await registry.ca_requests.pending("demo")
    await registry.ca_requests.compromised(first, a_compromise_request(first), other, "g",
                                           "mark", NOW)  # fmt: skip
    assert await refused(None, "key:c") == (
        f"generation {first} of CA 'demo' is compromised, not active: only a live generation's "
        "key can be declared compromised; nothing was recorded"
    )


async def test_k4_the_compromise_request_is_imported_though_its_generation_is_not_active(
    registry: Registry,
) -> None:
    """The request made at the compromise of the issuing generation is imported while no
    generation was made after that one, even with an older one still active (it issues
    meanwhile); one made after it refuses the import, nothing recorded."""
    first = await a_generation(registry, "demo", "c1")
    await registry.ca_requests.add(a_request(first), NOW)
    request = await registry.ca_requests.pending("demo")
    assert request is not None
    second = await registry.ca_requests.imported(request, imported_generation(first, "c2"), NOW)
    await registry.ca_requests.compromised(second, a_compromise_request(second), None, "g",
                                           "revoke", NOW)  # fmt: skip
    compromise_request = await registry.ca_requests.pending("demo")
    assert compromise_request is not None
    active = await registry.active_generation("demo")
    assert active is not None and active.id == first  # the older one issues meanwhile
    third = await registry.ca_requests.imported(
        compromise_request, imported_generation(second, "c3"), NOW
    )
    assert [(g.id, g.state) for g in await registry.generations("demo")] == [
        (first, "active"), (second, "compromised"), (third, "active")]  # fmt: skip

    # a generation made after the compromised one: its request's import is refused
    await registry.ca_requests.compromised(third, a_compromise_request(third, "key:4"), None,
                                           "g", "revoke", NOW)  # fmt: skip
    late = await registry.ca_requests.pending("demo")
    assert late is not None
    await registry.record_rollover(a_rollover(first, "c4"), NOW)
    before = await row_counts(registry)
    with pytest.raises(CAError) as refused:
        await registry.ca_requests.imported(late, imported_generation(third, "c5"), NOW)
    assert refused.value.message == (
        f"generation {third} is no longer the active generation of CA 'demo': the request was "
        "made from it; nothing was recorded"
    )
    assert await row_counts(registry) == before
