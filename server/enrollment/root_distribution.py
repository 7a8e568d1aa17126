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
"""

from __future__ import annotations

from dataclasses import dataclass

from server.errors import CAError, ErrorKind
from server.registry import CAGeneration, CALink, interfaces


@dataclass(frozen=True)
class RootKeyUpdate:
    """RootCaKeyUpdateContent (RFC 9810 5.3.19.15) as DER certificates."""

    new_with_new: bytes
    new_with_old: bytes
    old_with_new: bytes | None


async def ca_certificates(registry: interfaces.Generations, ca_name: str) -> list[bytes]:
    """Every active generation's CA certificate, oldest first, then the link certificates
    between them (NewWithOld before OldWithNew of each rollover), then the chain of a
    parent CA outside above them (issue 15, Hierarchy: the server serves the chain), each
    certificate once."""
    generations = _handed_out(await registry.generations(ca_name))
    links = _links_between(await registry.links(ca_name), generations)
    handed = [g.certificate_der for g in generations] + [link.der for link in links]
    parents = (der for g in generations for der in g.parent_chain)
    return handed + list(dict.fromkeys(der for der in parents if der not in handed))


async def root_key_update(
    registry: interfaces.Generations, ca_name: str, current_root: bytes | None
) -> RootKeyUpdate | None:
    """The update for a client trusting ``current_root`` (DER; None: it did not say, so
    the rollover into the issuing generation), or None when there is none: the client
    has the newest root, or no rollover with links leads on from its root. Raises
    CAError(NOT_FOUND) when ``current_root`` is not the certificate of one of this CA's
    active generations."""
    generations = _handed_out(await registry.generations(ca_name))
    links = _links_between(await registry.links(ca_name), generations)
    if not generations:
        return None
    if current_root is None:
        forward = _link(links, "new_with_old", subject=generations[-1].id)
    else:
        root = next((g for g in generations if g.certificate_der == current_root), None)
        if root is None:
            raise CAError(ErrorKind.NOT_FOUND, "the rootCaCert is none of this CA's roots")
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
