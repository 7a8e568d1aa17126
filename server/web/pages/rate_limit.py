"""How often one client may search the public pages: a token bucket per client address,
in a table of fixed size. Behind a reverse proxy the client's address is the one the
proxy puts in X-Forwarded-For, when the proxy is one of server.trusted_proxies.

Each address has a bucket of `burst` tokens that refills at `per_second`; a search takes
one, and a search that finds the bucket empty is refused with the seconds until a token is
back (the 429's Retry-After, RFC 6585 4). The table holds at most `clients` addresses: a
new one pushes out the one least recently seen, which then starts again with a full
bucket. So memory stays bounded whatever the number of addresses, at the price that a
client seen rarely among very many others may search a little more than its rate. Time is
an argument (monotonic seconds): the tests never sleep. A table of one bucket, used with
one key, is a ceiling for all clients together.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Sequence

IPV6_CLIENT_PREFIX = 64  # one IPv6 client: a /64, what a network hands one subscriber


def client_address(peer: str, forwarded_for: Sequence[str], trusted_proxies: Sequence[str]) -> str:
    """The client's address: `peer`, unless `peer` is one of `trusted_proxies` (addresses or
    networks, server.trusted_proxies), then the nearest address of the X-Forwarded-For
    values `forwarded_for` that is not a trusted proxy, read from the right (each proxy
    appends the address it was reached from, and only the trusted ones' entries can be
    believed; anything left of the first untrusted one the client may have written). An
    entry that is not an address ends the walk at the last trusted hop."""
    networks = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]

    def trusted(text: str) -> bool | None:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return None
        return any(address in network for network in networks)

    if not networks or not trusted(peer):
        return peer
    client = peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        is_trusted = trusted(hop)
        if is_trusted is None:
            break
        client = hop
        if not is_trusted:
            break
    return client


def client_of(remote: str) -> str:
    """The bucket's key for a peer address: an IPv4 address itself, an IPv6 address's /64
    (a client given a /64 could otherwise take a new bucket with each of its addresses, and
    push everyone else's out of the table)."""
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote  # not an IP address (a Unix socket): one bucket for it
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # IPv4 over an IPv6 socket
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(address)


class ClientRateLimit:
    def __init__(self, per_second: float, burst: int, clients: int) -> None:
        if per_second <= 0 or burst < 1 or clients < 1:
            raise ValueError("a rate limit needs a positive rate, burst and table size")
        self._per_second = per_second
        self._burst = float(burst)
        self._clients = clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, client: str, now: float) -> int:
        """0 when `client` may go on (a token is spent), else the whole seconds until it
        may (at least 1)."""
        tokens, at = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - at) * self._per_second)
        if tokens >= 1:
            tokens -= 1
            wait = 0
        else:
            wait = max(1, math.ceil((1 - tokens) / self._per_second))
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self._clients:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)
