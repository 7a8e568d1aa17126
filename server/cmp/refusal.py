"""The CMP server's refusal of a request, answered by an error message (RFC 9483 3.6.4) or,
for an rr, by an rp with status rejection (RFC 9483 4.2)."""

from __future__ import annotations

from protocols import cmp


class CMPRefusal(Exception):
    """A request refused with one PKIFailureInfo bit and a text for the client."""

    def __init__(self, failure: cmp.FailureInfo, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text
