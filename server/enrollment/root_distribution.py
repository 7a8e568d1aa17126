"""What the CA hands out so that clients learn its roots across key rollovers: the CA
certificates for EST /cacerts (RFC 7030 4.1.3) and CMP genm caCerts (RFC 9483 4.3.1), and
the answer to CMP genm rootCaCert, rootCaKeyUpdate (RFC 9483 4.3.2).

Only the active generations are handed out: a compromised generation's certificate is no
trust anchor to give anyone, and a retired one certifies nothing still valid. The link
certificates of a rollover (NewWithOld, OldWithNew; RFC 9810 4.4) go with them when both
generations they join are handed out, so a client that trusts either root can build a
chain to certificates of the other.

A rollover links one generation to the next only, so a client that trusts generation n
is answered with generation n+1 (NewWithNew), the link signed by its own root
(NewWithOld) and the reverse link (OldWithNew); asking again with n+1 moves it on until
it has the newest, for which there is no update.

A root CA kept in the home (`init --hierarchy`) is handed out too: every live root (its
certificate not expired; server/hierarchy/root_succession.py) and, after a `root
rollover`, the root link certificates between them, so that relying parties that trust
the old root reach the new one (RFC 7030 4.1.3; RFC 9483 4.3.1). A client naming one of
these roots in rootCaKeyUpdate is answered with the next root and its links (RFC 9483
4.3.2), as for the CA's own generations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from server.errors import CAError, ErrorKind
from server.hierarchy.root_succession import live_roots
from server.registry import CAGeneration, CALink, interfaces
from server.registry.records import RootCA, RootLink


class DistributionRegistry(interfaces.Generations, interfaces.Roots, Protocol):
    """The registry as root distribution reads it: the CA's generations and the home's
    roots."""


@dataclass(frozen=True)
class RootKeyUpdate:
    """RootCaKeyUpdateContent (RFC 9810 5.3.19.15) as DER certificates."""

    new_with_new: bytes
    new_with_old: bytes
    old_with_new: bytes | None


async def ca_certificates(
    registry: DistributionRegistry, ca_name: str, now: datetime
) -> list[bytes]:
    """Every active generation's CA certificate, oldest first, then the link certificates
    between them (NewWithOld before OldWithNew of each rollover), then the chain of a
    parent CA above them (issue 15, Hierarchy: the server serves the chain), then the
    home's live roots (at `now`) and the root links between them, each certificate once."""
    generations = _handed_out(await registry.generations(ca_name))
    links = _links_between(await registry.links(ca_name), generations)
    handed = [g.certificate_der for g in generations] + [link.der for link in links]
    parents = [der for g in generations for der in g.parent_chain]
    roots, root_links = await _live_roots(registry, now)
    above = [*parents, *(root.certificate_der for root in roots),
             *(link.der for link in root_links)]  # fmt: skip
    return handed + list(dict.fromkeys(der for der in above if der not in handed))


async def root_key_update(
    registry: DistributionRegistry,
    ca_name: str,
    current_root: bytes | None,
    now: datetime,
) -> RootKeyUpdate | None:
    """The update for a client trusting ``current_root`` (DER; None: it did not say, so
    the rollover into the issuing generation, or in a home whose root rolled over, into
    the newest root), or None when there is none: the client has the newest root, or no
    rollover with links leads on from its root. Raises CAError(NOT_FOUND) when
    ``current_root`` is the certificate of none of this CA's active generations or the
    home's live roots."""
    generations = _handed_out(await registry.generations(ca_name))
    links = _links_between(await registry.links(ca_name), generations)
    roots, root_links = await _live_roots(registry, now)
    if current_root is None:
        forward = _link(links, "new_with_old", subject=generations[-1].id) if generations else None
        if forward is None and roots:
            return _root_update(roots, root_links, roots[-1].succeeds, forward_to=roots[-1].name)
    else:
        root = next((g for g in generations if g.certificate_der == current_root), None)
        if root is None:
            home_root = next((r for r in roots if r.certificate_der == current_root), None)
            if home_root is None:
                raise CAError(ErrorKind.NOT_FOUND, "the rootCaCert is none of this CA's roots")
            return _root_update(roots, root_links, home_root.name)
        forward = _link(links, "new_with_old", issuer=root.id)
    if forward is None:
        return None
    new = next(g for g in generations if g.id == forward.subject_generation_id)
    backward = _link(links, "old_with_new", issuer=new.id, subject=forward.issuer_generation_id)
    return RootKeyUpdate(
        new_with_new=new.certificate_der,
        new_with_old=forward.der,
        old_with_new=backward.der if backward else None,
    )


async def _live_roots(
    registry: DistributionRegistry, now: datetime
) -> tuple[list[RootCA], list[RootLink]]:
    """The home's live roots in succession and the root links between them."""
    roots = live_roots(await registry.roots.root_cas(), now)
    names = {root.name for root in roots}
    links = [
        link
        for link in await registry.roots.links()
        if link.issuer_root in names and link.subject_root in names
    ]
    return roots, links


def _root_update(
    roots: list[RootCA], links: list[RootLink], old: str | None, forward_to: str | None = None
) -> RootKeyUpdate | None:
    """The update from the home root `old` to the root after it (RFC 9810 4.4), or None."""
    forward = next(
        (
            link
            for link in links
            if link.kind == "new_with_old"
            and link.issuer_root == old
            and forward_to in (None, link.subject_root)
        ),
        None,
    )
    if forward is None:
        return None
    new = next(root for root in roots if root.name == forward.subject_root)
    backward = next(
        (
            link
            for link in links
            if link.kind == "old_with_new"
            and (link.issuer_root, link.subject_root) == (new.name, old)
        ),
        None,
    )
    return RootKeyUpdate(
        new_with_new=new.certificate_der,
        new_with_old=forward.der,
        old_with_new=backward.der if backward else None,
    )


def _handed_out(generations: list[CAGeneration]) -> list[CAGeneration]:
    return [g for g in generations if g.state == "active"]


def _links_between(links: list[CALink], generations: list[CAGeneration]) -> list[CALink]:
    ids = {g.id for g in generations}
    return [
        link
        for link in links
        if link.issuer_generation_id in ids and link.subject_generation_id in ids
    ]


def _link(
    links: list[CALink], kind: str, issuer: int | None = None, subject: int | None = None
) -> CALink | None:
    return next(
        (
            link
            for link in links
            if link.kind == kind
            and issuer in (None, link.issuer_generation_id)
            and subject in (None, link.subject_generation_id)
        ),
        None,
    )
