"""What a confirmation check finds: a verdict, every cause of a "no" named (V2), and the
facts checked (times, serials, issuers, statuses), ready for JSON.

The verdicts follow ETSI EN 319 102-1's three: "valid" (every check passed), "invalid" (a
check failed: the signature, the document, the certificate or its use), "indeterminate"
(nothing failed, but something needed for a "valid" could not be established, such as the
status of another CA's certificate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

VERDICTS = ("valid", "invalid", "indeterminate")


@dataclass(frozen=True)
class Cause:
    """One reason against "valid": a stable code for programs, a sentence for people."""

    code: str
    text: str
    indeterminate: bool = False  # a missing fact rather than a failed check


@dataclass(frozen=True)
class ConfirmationReport:
    kind: str  # "signature" (S10) or "certificate" (S11)
    checked_at: datetime
    causes: tuple[Cause, ...]
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if any(not cause.indeterminate for cause in self.causes):
            return "invalid"
        return "indeterminate" if self.causes else "valid"

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "verdict": self.verdict,
            "checked_at": self.checked_at.isoformat(),
            "causes": [{"code": cause.code, "text": cause.text} for cause in self.causes],
            **self.facts,
        }
