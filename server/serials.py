"""Certificate serial numbers: how one is made, and how it is written and read as text.

A serial carries 126 random bits (CA/B Baseline Requirements 7.1 ask for 64); the registry
and every operator-facing answer write it as lower-case hexadecimal without leading zeros.
"""

from __future__ import annotations

import secrets

from server.errors import CAError, ErrorKind


def new_serial() -> int:
    """A positive serial of 127 bits, 126 of them random (the lowest is set so it is never
    zero): far above the 64 random bits CA/B Baseline Requirements 7.1 ask for."""
    return secrets.randbits(127) | 1


def serial_text(serial: int) -> str:
    return format(serial, "x")


def parse_serial(text: str) -> str:
    """Accept the forms operators paste (upper case, colons, leading zeros, 0x)."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    if not cleaned or len(cleaned) > 40 or any(c not in "0123456789abcdef" for c in cleaned):
        raise CAError(ErrorKind.MALFORMED, f"not a hexadecimal serial number: {text!r}")
    return serial_text(int(cleaned, 16))
