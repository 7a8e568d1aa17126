"""What the public page says of the CA (S12, U8; issue #18): its certificates of every
generation, the home's roots, the link certificates between them, with their thumbprints
and validity; where its CRLs, OCSP, EST and CMP are. The same names and URLs the
certificates carry (server/status/distribution_points.py, server/hierarchy/offline_root.py)
and the same certificates EST `cacerts` hands out (server/enrollment/root_distribution.py),
here every generation, retired and compromised ones too, each with its state: a relying
party that meets an old certificate needs to know what became of its issuer.

Each certificate is read from its DER (protocols.x509.certificate_facts, which reads GOST
certificates too), so the page shows what the certificate itself says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from config import Settings
from protocols.x509.certificate_facts import certificate_facts
from protocols.x509.names import format_dn
from server.hierarchy.offline_root import root_certificate_url, root_crl_url
from server.hierarchy.root_publication import RootPublication
from server.registry import CAGeneration, interfaces
from server.status.distribution_points import ca_certificate_url, crl_url, published_name


class DirectoryRegistry(interfaces.Generations, interfaces.Roots, Protocol):
    """The registry as the directory reads it: the CA's generations and links, the home's
    root links."""


@dataclass(frozen=True)
class PublishedCertificate:
    """A CA certificate on the page. `kind`: "generation", "root" or "link"; `state`:
    "active", "retired", "compromised" (a generation's, server/registry) or "expired"
    (notAfter passed, whatever the state); `download`: its `/ca/<name>.crt` URL (links
    have none: EST `cacerts` and CMP caCerts hand them out); `crls`: the CRL URLs it
    publishes under."""

    kind: str
    name: str
    subject: str
    serial: str
    not_before: datetime
    not_after: datetime
    state: str
    sha256: bytes
    download: str | None
    crls: tuple[str, ...]


@dataclass(frozen=True)
class CADirectory:
    certificates: tuple[PublishedCertificate, ...]
    ocsp_url: str
    est_url: str | None  # None without an HTTPS listener: EST needs TLS (RFC 7030 3.3)
    cmp_url: str
    est_labels: tuple[str, ...]
    cmp_labels: tuple[str, ...]


async def ca_directory(
    registry: DirectoryRegistry, roots: RootPublication, settings: Settings, now: datetime
) -> CADirectory:
    """The directory at `now`: generations oldest first, then their links, then the roots
    (the first first) and their links."""
    base = settings.ca.base_url.rstrip("/")
    generations = await registry.generations(settings.ca.name)
    listed = [_generation(g, settings, now) for g in generations]
    listed += [_link(link.der, link.kind, now) for link in await registry.links(settings.ca.name)]
    for root in await roots.roots():
        der = await roots.certificate(root.name)
        if der is None:  # read between two refreshes; the next one has it
            continue
        crls = (root_crl_url(settings, root.name),) if root.crl is not None else ()
        listed.append(_entry("root", root.name, der, "active", now,
                             root_certificate_url(settings, root.name), crls))  # fmt: skip
    listed += [_link(link.der, link.kind, now) for link in await registry.roots.links()]
    return CADirectory(
        certificates=tuple(listed),
        ocsp_url=settings.ca.ocsp_url or f"{base}/ocsp",
        est_url=_est_url(settings),
        cmp_url=f"{base}/.well-known/cmp",
        est_labels=tuple(sorted(settings.est.labels)),
        cmp_labels=tuple(sorted(settings.cmp.labels)),
    )


def _generation(
    generation: CAGeneration, settings: Settings, now: datetime
) -> PublishedCertificate:
    base, shards = settings.ca.base_url, settings.crl.shards
    crls = [crl_url(base, generation, shard, shards, delta=False) for shard in range(shards)]
    if settings.crl.deltas:
        crls += [crl_url(base, generation, shard, shards, delta=True) for shard in range(shards)]
    return _entry("generation", published_name(generation), generation.certificate_der,
                  generation.state, now, ca_certificate_url(base, generation),
                  tuple(crls))  # fmt: skip


def _link(der: bytes, kind: str, now: datetime) -> PublishedCertificate:
    return _entry("link", kind, der, "active", now, None, ())


def _entry(
    kind: str,
    name: str,
    der: bytes,
    state: str,
    now: datetime,
    download: str | None,
    crls: tuple[str, ...],
) -> PublishedCertificate:
    facts = certificate_facts(der)
    return PublishedCertificate(
        kind=kind,
        name=name,
        subject=format_dn(facts.subject),
        serial=f"{facts.serial:x}",
        not_before=facts.not_before,
        not_after=facts.not_after,
        state="expired" if now > facts.not_after else state,
        sha256=facts.sha256,
        download=download,
        crls=crls,
    )


def _est_url(settings: Settings) -> str | None:
    """EST's base on the HTTPS listener, named by base_url's host (the listener's own
    address may be a wildcard) and the listener's port."""
    if not settings.server.https:
        return None
    host = urlsplit(settings.ca.base_url).hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host  # an IPv6 address (RFC 3986 3.2.2)
    port = settings.server.https.rsplit(":", 1)[1]
    return f"https://{host}:{port}/.well-known/est"
