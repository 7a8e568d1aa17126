"""The one error type of the CA core.

Every refusal the core makes is a `CAError` with a kind from a closed set. Each protocol
adapter maps kinds to its own reply once (EST HTTP status, CMP PKIFailureInfo, OCSP
responseStatus, CLI exit). The message is for the requester: short, one line, and never
carries a secret or personal data.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.StrEnum):
    MALFORMED = "malformed"
    BAD_POP = "bad-pop"
    REJECTED = "rejected"  # refused by policy or profile
    UNAUTHORIZED = "unauthorized"
    # The regulation permits this only by another procedure, whoever asks (a personal
    # certificate without an approved application, the CA's own certificate by an ordinary
    # revocation); the message names that procedure.
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    ALREADY_REVOKED = "already-revoked"
    DUPLICATE = "duplicate"  # public key or serial already certified
    EXPIRED = "expired"
    PENDING = "pending"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CAError(Exception):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message
