"""The home's roots in their succession (regulation K2 applied to the root: `root
rollover`, server/hierarchy/root_rollover.py): which root signs what is new, and which
still answer for what they signed.

A root rollover adds a root that succeeds the newest one. The NEWEST root certifies the
issuing CA's next generations; EVERY LIVE root (its certificate not expired) keeps signing
the CRL for what it signed, with its own key (K3), and is published. A later root is
named as a CA's later generation is (server/status/distribution_points.py): the first
keeps `root.name`, a later one adds its key identifier, `<root.name>-<key id hex>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from server.errors import CAError, ErrorKind
from server.registry import interfaces
from server.registry.records import RootCA


def later_root_name(first_name: str, key_id: bytes) -> str:
    """The name a later root is published under (`/ca/<name>.crt`, `/crl/<name>.crl`)."""
    return f"{first_name}-{key_id.hex()}"


def in_succession(roots: Sequence[RootCA]) -> list[RootCA]:
    """`roots`, the first one first, then each one's successor."""
    successors = {root.succeeds: root for root in roots}
    ordered: list[RootCA] = []
    current = successors.get(None)
    while current is not None:
        ordered.append(current)
        current = successors.get(current.name)
    return ordered


class Dated(Protocol):
    """A root as read or as published: what its liveness depends on."""

    @property
    def not_after(self) -> datetime: ...


def is_live(root: Dated, now: datetime) -> bool:
    """Whether the root's certificate is still valid (RFC 5280 4.1.2.5: notAfter
    included): it answers for what it signed."""
    return now <= root.not_after


def live_roots(roots: Sequence[RootCA], now: datetime) -> list[RootCA]:
    """The live roots, in succession."""
    return [root for root in in_succession(roots) if is_live(root, now)]


def certifying_root(roots: Sequence[RootCA], chain: Sequence[bytes]) -> RootCA | None:
    """The root of the home whose certificate is the whole `chain` of a generation (it
    certified that generation), or None: a generation of a parent outside, or self-signed."""
    return next((root for root in roots if tuple(chain) == (root.certificate_der,)), None)


async def all_roots(records: interfaces.RootRecords, name: str) -> list[RootCA]:
    """The home's roots in succession. Raises CAError(NOT_FOUND) when the registry holds
    no root `name` (the first one's, `root.name`)."""
    roots = in_succession(await records.root_cas())
    if not roots or roots[0].name != name:
        raise CAError(ErrorKind.NOT_FOUND, f"the registry holds no root CA {name!r}")
    return roots


async def newest_root(records: interfaces.RootRecords, name: str) -> RootCA:
    """The newest root: the one that certifies from now on. Raises as `all_roots`."""
    return (await all_roots(records, name))[-1]
