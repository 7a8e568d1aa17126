"""Where a CA generation publishes its CRLs and its certificate: one name per generation,
shard and kind, used both in certificates (cRLDistributionPoints, freshestCRL, AIA
caIssuers) and by the HTTP adapters that serve them.

Every live generation keeps its own CRLs, signed by its own key, until its last certificate
expires (regulation K3), so the generations' files must coexist. The CA's first generation
publishes under the CA's name, the names certificates issued before any rollover carry; a
later one under the CA's name and its key identifier (subjectKeyIdentifier, lowercase hex),
as Russian relying parties expect files named by key id (ru-profile.md section 7):

    /crl/<ca>.crl, /crl/<ca>-delta.crl                 one shard (the default)
    /crl/<ca>-s<k>.crl, /crl/<ca>-s<k>-delta.crl       shard k of N (crl.shards = N > 1)
    /ca/<ca>.crt                                       the CA certificate
    /crl/<ca>-<keyid>[-s<k>][-delta].crl, /ca/<ca>-<keyid>.crt    a later generation
"""

from __future__ import annotations

from collections.abc import Iterable

from server.registry import CAGeneration


def published_name(generation: CAGeneration) -> str:
    """The name a generation's CRLs and CA certificate are published under."""
    if generation.first:
        return generation.ca_name
    return f"{generation.ca_name}-{generation.key_id.hex()}"


def crl_file_name(generation: CAGeneration, shard: int, shards: int, delta: bool) -> str:
    name = published_name(generation)
    base = name if shards == 1 else f"{name}-s{shard}"
    return f"{base}{'-delta' if delta else ''}.crl"


def crl_url(base_url: str, generation: CAGeneration, shard: int, shards: int, delta: bool) -> str:
    return f"{base_url.rstrip('/')}/crl/{crl_file_name(generation, shard, shards, delta)}"


def ca_certificate_url(base_url: str, generation: CAGeneration) -> str:
    """The AIA caIssuers URL of the certificates the generation issues (RFC 5280 4.2.2.1)."""
    return f"{base_url.rstrip('/')}/ca/{published_name(generation)}.crt"


def generation_named(generations: Iterable[CAGeneration], name: str) -> CAGeneration | None:
    """The generation published under `name` (`/ca/<name>.crt`), or None."""
    return next((g for g in generations if published_name(g) == name), None)
