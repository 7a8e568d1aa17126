"""The scheduled CA key change (regulation K2): a background duty of the process holding the
duty lease (server/node/duties.py, server/context.py `_builder_loops`).

Every `CHECK_EVERY_S` (an hour) it reads the active generation; once the rollover is due
(`ca.rollover_before_days` before its key's permitted lifetime ends,
server/node/key_lifetime.py) it rolls the CA over exactly as `python -m server rollover`
does (server/generations/rollover.py, reason "scheduled"), which records the new generation
with its audit entry in one transaction.

It never rolls over twice for one generation: the rollover is asked to roll over from the
generation found due, and is refused (recording nothing) when that generation is no longer
the active one, whether an operator's rollover, another process or this one before a crash
got there first. After a rollover the new generation is active, and not due until its
own window opens.

A CA under a parent outside cannot roll over by itself: for a due generation with a parent
chain, `roll` makes the request for the next generation instead
(server/generations/subordinate_rollover.py), and the duty logs a WARNING saying what the operator
is to do (write the request with the CLI, have the parent certify it, import the answer). It
makes one request only: while the CA has one pending, a due generation is left alone (the
registry refuses a second pending request anyway). Once the answer is imported the new
generation is active and not due; if the request is abandoned, the next check makes
another while the generation is still due.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from config.settings import CASettings
from server.clock import Clock
from server.errors import CAError
from server.generations.rollover import RolledOver
from server.generations.subordinate_rollover import NextRequest
from server.node.key_lifetime import key_usage_end, rollover_due
from server.node.periodic import every
from server.registry import CAGeneration, interfaces

log = logging.getLogger("server.rollover")

CHECK_EVERY_S = 3600.0
SCHEDULED = "scheduled"  # the reason recorded in its audit entry and metric
SCHEDULED_ACTOR = "ca:scheduled-rollover"  # who its audit entries name

# rolls the CA over from the generation given (refused if it is no longer the active one),
# or, for a generation a parent outside certified, makes the request for the next one
Roll = Callable[[CAGeneration], Awaitable[RolledOver | NextRequest]]


class ScheduledRolloverRegistry(interfaces.Generations, interfaces.GenerationRequests, Protocol):
    """The registry as the scheduled rollover reads it."""


class ScheduledRollover:
    def __init__(
        self,
        ca: CASettings,
        registry: ScheduledRolloverRegistry,
        roll: Roll,
        clock: Clock,
        metrics: CollectorRegistry,
        root_name: str = "",
    ) -> None:
        """`root_name`: the root CA kept in the home (`root.name`), which certifies the
        requests the duty makes, offline, when an operator runs `rollover`."""
        self._root_name = root_name
        self._ca = ca
        self._registry = registry
        self._roll = roll
        self._clock = clock
        self._rollovers = Counter(
            "ca_rollovers",
            "CA key rollovers this process made, by reason.",
            ["reason"],
            registry=metrics,
        )
        self._requests = Counter(
            "ca_generation_requests",
            "Requests to a parent CA outside for the CA's next generation this process made, "
            "by reason.",
            ["reason"],
            registry=metrics,
        )

    async def run(self) -> None:
        """Check every `CHECK_EVERY_S` until cancelled; a failed check is logged and tried
        again at the next."""
        await every(
            CHECK_EVERY_S, self.rollover_if_due, log, "scheduled rollover: the check failed"
        )

    async def rollover_if_due(self) -> RolledOver | NextRequest | None:
        """Roll over from the active generation if its rollover is due; the rollover made,
        the request made (a CA under a parent outside), or None (not due, no active
        generation, a request pending already, or another rollover came first)."""
        generation = await self._registry.active_generation(self._ca.name)
        if generation is None or self._clock() < rollover_due(self._ca, generation):
            return None
        if generation.parent_chain and await self._registry.ca_requests.pending(self._ca.name):
            return None  # made before: the parent's answer is awaited
        try:
            done = await self._roll(generation)
        except CAError as exc:
            log.warning("scheduled rollover from generation %d refused: %s", generation.id, exc)
            return None
        if isinstance(done, NextRequest):
            self._requests.labels(SCHEDULED).inc()
            if self._root_name:
                log.warning(
                    "scheduled rollover (K2): CA %r generation %d (key usable until %s) is "
                    "certified by the root CA %r kept in the home, which is offline: request %d "
                    "for its next generation made; run `python -m server rollover --home HOME` "
                    "with the root's key at hand",
                    self._ca.name, generation.id,
                    f"{key_usage_end(self._ca, generation):%Y-%m-%d}", self._root_name, done.id,
                )  # fmt: skip
                return done
            log.warning(
                "scheduled rollover (K2): CA %r generation %d (key usable until %s) was "
                "certified by a parent CA outside: request %d for its next generation made; "
                "write it with `python -m server rollover --home HOME --csr FILE`, have the "
                "parent certify it, then `python -m server import-ca-cert --home HOME --cert "
                "FILE --chain FILE`",
                self._ca.name, generation.id, f"{key_usage_end(self._ca, generation):%Y-%m-%d}",
                done.id,
            )  # fmt: skip
            return done
        self._rollovers.labels(SCHEDULED).inc()
        log.info(
            "scheduled rollover (K2): CA %r moved from generation %d (key usable until "
            "%s) to generation %d (certificate serial %s)",
            self._ca.name, done.old.id, f"{key_usage_end(self._ca, done.old):%Y-%m-%d}",
            done.new.id, done.new.serial,
        )  # fmt: skip
        return done
