"""Where CRLs are published: one name per CA, shard and kind, used both in certificates
(cRLDistributionPoints, freshestCRL) and by the HTTP adapter that serves them.

    /crl/<ca>.crl, /crl/<ca>-delta.crl                 one shard (the default)
    /crl/<ca>-s<k>.crl, /crl/<ca>-s<k>-delta.crl       shard k of N (crl.shards = N > 1)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CRLName:
    shard: int
    delta: bool


def crl_file_name(ca_name: str, shard: int, shards: int, delta: bool) -> str:
    base = ca_name if shards == 1 else f"{ca_name}-s{shard}"
    return f"{base}{'-delta' if delta else ''}.crl"


def crl_url(base_url: str, ca_name: str, shard: int, shards: int, delta: bool) -> str:
    return f"{base_url.rstrip('/')}/crl/{crl_file_name(ca_name, shard, shards, delta)}"


def parse_crl_file_name(file_name: str, ca_name: str, shards: int) -> CRLName | None:
    """The shard and kind a published file name stands for, or None."""
    stem = file_name.removesuffix(".crl")
    if stem == file_name:
        return None
    delta = stem.endswith("-delta")
    stem = stem.removesuffix("-delta")
    if shards == 1:
        return CRLName(0, delta) if stem == ca_name else None
    prefix = f"{ca_name}-s"
    number = stem.removeprefix(prefix)
    if number == stem or not number.isdigit() or str(int(number)) != number:
        return None
    shard = int(number)
    return CRLName(shard, delta) if shard < shards else None
