"""Enrollment codes made in-process (what `python -m server enroll-code` does, without a
process start per code), for tests and load tests that need many."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from config import load_settings
from server.context import backend_spec, open_registry
from server.enrollment.credentials import EnrollmentCredentials, derivation_key


async def make_codes(
    home: Path, count: int, profile: str = "tls-client", prefix: str = "load"
) -> list[tuple[str, str]]:
    """`count` (id, secret) pairs for subjects CN=<prefix>-<n>."""
    settings = load_settings(home)
    registry = await open_registry(settings)
    try:
        credentials = EnrollmentCredentials(
            settings, registry, lambda: derivation_key(backend_spec(settings).read_secret())
        )
        codes = []
        for n in range(count):
            credential, secret = await credentials.create(
                profile, f"CN={prefix}-{n}", timedelta(hours=1), "test"
            )
            codes.append((credential.id, secret))
        return codes
    finally:
        await registry.close()
