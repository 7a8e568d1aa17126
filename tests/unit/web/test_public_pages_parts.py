"""The public pages' pure parts: the per-client search limit (a token bucket in a table of
fixed size, time given) and the choice of language (RFC 9110 12.5.4 Accept-Language)."""

from __future__ import annotations

import pytest

from server.web.pages.language import chosen_language
from server.web.pages.rate_limit import ClientRateLimit, client_address, client_of
from server.web.pages.render import openssl_slash_name


def test_a_client_gets_its_burst_then_waits_for_the_refill() -> None:
    limit = ClientRateLimit(per_second=0.5, burst=2, clients=8)
    assert [limit.take("a", 100.0) for _ in range(2)] == [0, 0]
    assert limit.take("a", 100.0) == 2  # one token every 2 s
    assert limit.take("a", 101.0) == 1  # half a token back: 1 s more
    assert limit.take("a", 102.0) == 0
    assert limit.take("b", 102.0) == 0  # another client has its own bucket
    assert limit.take("a", 1000.0) == 0 and limit.take("a", 1000.0) == 0  # never above burst
    assert limit.take("a", 1000.0) == 2


def test_the_table_keeps_at_most_its_size_forgetting_the_least_recent() -> None:
    limit = ClientRateLimit(per_second=1 / 3600, burst=1, clients=3)
    for client in ("a", "b", "c"):
        assert limit.take(client, 0.0) == 0
    assert limit.take("a", 1.0) == 3599  # "a" seen again: now the most recent
    for n in range(1000):
        limit.take(f"x{n}", 2.0)
    assert len(limit) == 3
    assert limit.take("b", 3.0) == 0  # forgotten, so a full bucket again


def test_an_ipv6_client_is_its_64_so_its_other_addresses_share_its_bucket() -> None:
    limit = ClientRateLimit(per_second=1 / 3600, burst=1, clients=8)
    assert limit.take(client_of("2001:db8:1:2::1"), 0.0) == 0
    assert limit.take(client_of("2001:db8:1:2:ffff::7"), 0.0) == 3600  # the same /64
    assert limit.take(client_of("2001:db8:1:3::1"), 0.0) == 0  # the next /64: another client
    assert client_of("192.0.2.7") == "192.0.2.7"
    assert client_of("::ffff:192.0.2.7") == "192.0.2.7"  # IPv4 over an IPv6 socket
    assert client_of("") == ""


def test_a_limit_without_a_rate_is_refused() -> None:
    for per_second, burst, clients in ((0, 1, 1), (1, 0, 1), (1, 1, 0)):
        with pytest.raises(ValueError, match="positive rate, burst and table size"):
            ClientRateLimit(per_second, burst, clients)


@pytest.mark.parametrize(
    ("parameter", "header", "language"),
    [
        (None, None, "ru"),
        ("en", None, "en"),
        ("ru", "en", "ru"),
        ("de", "en-US,en;q=0.9", "en"),  # an unknown ?lang= is not a choice
        (None, "de-DE, en-GB;q=0.8, ru;q=0.5", "en"),
        (None, "ru;q=0.1, en;q=0.8", "en"),
        (None, "en;q=0.5, ru;q=0.5", "en"),  # equal q: the first
        (None, "en;q=0, fr", "ru"),  # q=0: not acceptable
        (None, "EN-us", "en"),
        (None, "en;q=x", "ru"),
        (None, "*", "ru"),
    ],
)
def test_rfc9110_12_5_4_the_language_by_parameter_then_accept_language_then_russian(
    parameter: str | None, header: str | None, language: str
) -> None:
    assert chosen_language(parameter, header) == language


def test_the_cmp_recipient_is_written_as_openssl_reads_a_name() -> None:
    """RFC 4514 text (least significant first, backslash escapes) turned into OpenSSL's
    "/type=value" form (most significant first), where a backslash or slash is escaped."""
    assert openssl_slash_name("CN=Demo CA,O=Demo,C=RU") == "/C=RU/O=Demo/CN=Demo CA"
    assert openssl_slash_name(r"CN=A\, B/C\\,O=Demo") == r"/O=Demo/CN=A, B\/C\\"


PROXY = ["10.0.0.0/8", "2001:db8:ff::/48"]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("192.0.2.7", ["198.51.100.1"], "192.0.2.7"),  # not a proxy: its header is not believed
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["203.0.113.9, 198.51.100.1"], "198.51.100.1"),  # the left is the client's
        ("10.0.0.2", ["198.51.100.1, 10.0.0.3"], "198.51.100.1"),  # through two proxies
        ("10.0.0.2", ["198.51.100.1", "10.0.0.3"], "198.51.100.1"),  # in two header fields
        ("10.0.0.2", ["10.0.0.4, 10.0.0.3"], "10.0.0.4"),  # proxies all the way: the first
        ("10.0.0.2", ["198.51.100.1, unknown"], "10.0.0.2"),  # not an address: the last proxy
        ("10.0.0.2", [], "10.0.0.2"),
        ("2001:db8:ff::1", ["2001:db8:1:2::7"], "2001:db8:1:2::7"),
    ],
)
def test_behind_a_trusted_proxy_the_client_is_the_nearest_untrusted_forwarded_address(
    peer: str, forwarded_for: list[str], client: str
) -> None:
    assert client_address(peer, forwarded_for, PROXY) == client


def test_without_trusted_proxies_the_forwarded_address_is_never_believed() -> None:
    assert client_address("10.0.0.2", ["198.51.100.1"], []) == "10.0.0.2"
