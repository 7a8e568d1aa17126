"""/healthz and /metrics on the CA key's lifetime (regulation K2; server/web/app.py): the
readiness warning is in the body of a 200, a problem is a 503, the seconds left of each
live generation's key are scraped, and so are the generations by state (K4)."""

from __future__ import annotations

import dataclasses
import re

from server.accounts import Role
from server.context import CA
from server.node.health import Readiness
from tests.unit.web.api_home import ClientFactory, Seed, Served
from tests.unit.web.edge import edge_client


class FixedHealth:
    """Readiness as server/node/health.py reports it, fixed by the test."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    async def readiness(self) -> Readiness:
        return self._readiness


async def healthz(seed: Seed, aiohttp_client: ClientFactory, readiness: Readiness
                  ) -> tuple[int, str]:  # fmt: skip
    def change(ca: CA) -> CA:
        return dataclasses.replace(ca, health=FixedHealth(readiness))  # type: ignore[arg-type]

    async with edge_client(seed, aiohttp_client, change) as (client, _):
        answer = await client.get("/healthz")
        return answer.status, await answer.text()


async def test_k2_healthz_answers_ok_with_the_rollover_window_warning(
    seed: Seed, aiohttp_client: ClientFactory
) -> None:
    warning = "CA key of generation 1 is within its rollover window (3.5 days left)"
    assert await healthz(seed, aiohttp_client, Readiness(None, warning)) == (
        200, f"ok; warning: {warning}\n"
    )  # fmt: skip
    assert await healthz(seed, aiohttp_client, Readiness(None)) == (200, "ok\n")


async def test_k2_healthz_answers_503_once_the_key_lifetime_ended(
    seed: Seed, aiohttp_client: ClientFactory
) -> None:
    problem = "the CA key of generation 1 is past its permitted lifetime (ended ...)"
    assert await healthz(seed, aiohttp_client, Readiness(problem)) == (
        503, f"unhealthy: {problem}\n"
    )  # fmt: skip


async def test_k2_metrics_show_the_key_usage_left_of_each_live_generation(
    seed: Seed, aiohttp_client: ClientFactory
) -> None:
    async with edge_client(seed, aiohttp_client) as (client, ca):
        text = await (await client.get("/metrics")).text()
        generation = await ca.registry.active_generation(ca.settings.ca.name)
        assert generation is not None
    found = re.findall(r'^ca_key_usage_remaining_seconds\{generation="(\d+)"\} (\S+)$', text,
                       re.MULTILINE)  # fmt: skip
    assert [g for g, _ in found] == [str(generation.id)]
    left = float(found[0][1])
    assert 0 < left <= (generation.not_after - generation.not_before).total_seconds()


def generation_states(text: str) -> dict[str, float]:
    found = re.findall(r'^ca_generations\{state="(\w+)"\} (\S+)$', text, re.MULTILINE)
    return {state: float(count) for state, count in found}


async def test_k4_metrics_show_a_compromise_on_every_scrape_and_after_a_restart(
    signing: Served, aiohttp_client: ClientFactory
) -> None:
    """`ca_generations{state}` is read from the registry when /metrics is scraped: a
    compromised generation is counted by every process, a restarted one included, which a
    counter of this process's compromises would not be (an alert: `ca_generations{state=
    "compromised"} > 0`)."""
    client = signing.api.client
    before = await (await client.get("/metrics")).text()
    assert generation_states(before) == {"active": 1, "compromised": 0, "retired": 0}
    officer = signing.seed.tokens[Role.OFFICER]
    await signing.api.call("POST", "/ca/generations/1/compromise", 200, token=officer,
                           body={"grounds": "the CA key's backup was found copied"})  # fmt: skip
    after = await (await client.get("/metrics")).text()
    assert generation_states(after) == {"active": 1, "compromised": 1, "retired": 0}
    async with edge_client(signing.seed, aiohttp_client) as (restarted, _):  # a new process
        text = await (await restarted.get("/metrics")).text()
    assert generation_states(text) == {"active": 1, "compromised": 1, "retired": 0}
