"""Checking an applicant's data against state registers (R2: EGRUL, EGRIP, the tax
register). The CA may check; it is not obliged to, and this server talks to no register
itself. A deployment plugs in a `RegisterCheck`; the default checks nothing and says so in
every application it sees, so no record ever suggests a check that did not happen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from server.registry.records import SubscriberRow


@dataclass(frozen=True)
class RegisterCheckResult:
    passed: bool
    note: str  # recorded with the application; the reason of a refusal (R4)


class RegisterCheck(Protocol):
    async def check(self, subscriber: SubscriberRow) -> RegisterCheckResult: ...


class NoRegisterCheck:
    """`ra.register_check = "none"`: nothing is checked, and the record says so."""

    async def check(self, subscriber: SubscriberRow) -> RegisterCheckResult:
        return RegisterCheckResult(
            passed=True, note="not checked against state registers (ra.register_check = none)"
        )
