"""The public pages (issue #18; SEED-MAP S6, S12, U8): `GET /` lists the CA certificates
of every generation with their SHA-256 thumbprints and where CRLs, OCSP, EST and CMP are;
`GET /search` finds issued certificates by serial, key hash or holder name, escapes what it
shows, and answers 429 with Retry-After (RFC 6585 4) beyond a client's rate; both speak
Russian and English; every answer carries a Content-Security-Policy that allows nothing
but the page's own style."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from config import load_settings
from server.context import open_ca
from server.web.app import build_app
from server.web.pages.rate_limit import ClientRateLimit
from server.web.pages.render import CONTENT_SECURITY_POLICY, thumbprint
from server.web.pages.routes import ALL_SEARCHES_LIMIT_KEY, SEARCH_LIMIT_KEY
from tests.csr_factory import make_csr, new_key
from tests.local_ca import LocalCA, opened_local_ca, second_generation
from tests.unit.web.api_home import ClientFactory, Seed, Served

HOSTILE = "<script>alert(\"x\")</script>&'Co'"


@pytest.fixture
async def local_ca(tmp_path: Path) -> AsyncIterator[LocalCA]:
    async with opened_local_ca(tmp_path) as ca:
        yield ca


async def page(client: Any, path: str, status: int = 200, **headers: str) -> str:
    answer = await client.get(path, headers=headers)
    assert answer.status == status, await answer.text()
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.content_type == "text/html" and answer.charset == "utf-8"
    return await answer.text()


def key_hash(der: bytes) -> str:
    spki = x509.load_der_x509_certificate(der).public_key()
    return hashlib.sha256(
        spki.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()


def found_serials(html: str) -> list[str]:
    return re.findall(r'href="/api/v1/public/certificates/([0-9a-f]+)\.pem"', html)


async def test_s12_the_page_lists_every_generation_with_its_thumbprint_and_download(
    local_ca: LocalCA, aiohttp_client: ClientFactory
) -> None:
    first = await local_ca.authority.generation()
    second = await second_generation(local_ca)
    async with open_ca(local_ca.settings, signing=False) as ca:
        client = await aiohttp_client(build_app(ca))
        html = await page(client, "/")
        for generation in (first, second):
            digest = hashlib.sha256(generation.certificate_der).digest()
            assert thumbprint(digest) in html
            assert len(thumbprint(digest)) == 95  # AB:CD:... as openssl prints it
        name = f"demo-{second.key_id.hex()}"
        base = local_ca.settings.ca.base_url
        for href in (f"{base}/ca/demo.crt", f"{base}/ca/{name}.crt", f"{base}/crl/demo.crl",
                     f"{base}/crl/{name}.crl", f"{base}/crl/{name}-delta.crl", f"{base}/ocsp",
                     f"{base}/.well-known/cmp"):  # fmt: skip
            assert href in html
        # the page's download is the certificate it fingerprints
        answer = await client.get(f"/ca/{name}.crt")
        assert await answer.read() == second.certificate_der
        assert "openssl req -new" in html and "openssl cmp -server" in html


async def test_s6_search_by_serial_key_hash_and_holder_name_finds_the_certificate(
    served: Served,
) -> None:
    client = served.api.client
    serial = served.seed.serials[1]
    record = await served.ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    searches = {
        "serial": serial.upper(),
        "key": key_hash(record.der),
        "name": "DEVICE-1",  # its CN, in another case
    }
    for by, query in searches.items():
        html = await page(client, f"/search?by={by}&q={query}&lang=en")
        assert found_serials(html) == [serial], by
        assert "CN=device-1, O=Plant" in html and "Found: 1" in html
        download = await client.get(f"/api/v1/public/certificates/{serial}.der")
        assert await download.read() == record.der  # the link the page gives
    prefix = await page(client, "/search?by=name&match=prefix&q=dev&lang=en")
    assert sorted(found_serials(prefix)) == sorted(served.seed.serials)
    organisation = await page(client, "/search?by=name&q=plant&lang=en")
    assert sorted(found_serials(organisation)) == sorted(served.seed.serials)


async def test_s6_a_search_that_matches_nothing_says_so(served: Served) -> None:
    client = served.api.client
    for by, query in (("serial", "abcdef"), ("key", "00" * 32), ("name", "device-")):
        html = await page(client, f"/search?by={by}&q={query}&lang=en")
        assert found_serials(html) == [] and "Nothing found." in html
    russian = await page(client, "/search?by=name&q=nobody&lang=ru")
    assert "Ничего не найдено." in russian


async def test_s6_a_search_that_is_not_one_is_answered_400_on_the_page(served: Served) -> None:
    client = served.api.client
    bad_serial = await page(client, "/search?by=serial&q=xyz&lang=en", 400)
    assert "not a hexadecimal serial number: &#x27;xyz&#x27;" in bad_serial
    bad_key = await page(client, "/search?by=key&q=abc&lang=en", 400)
    assert "a key hash is 64 hexadecimal digits (SHA-256)" in bad_key
    empty = await page(client, "/search?by=name&q=+&lang=en", 400)
    assert "the search takes 1 to 200 characters" in empty
    form = await page(client, "/search?lang=en")  # no q: the form alone, no search
    assert '<form method="get" action="/search">' in form and "Found" not in form


async def test_s6_a_holder_name_with_html_metacharacters_is_escaped(
    local_ca: LocalCA, aiohttp_client: ClientFactory
) -> None:
    csr = make_csr([("CN", HOSTILE), ("O", "Plant")], new_key())
    issued = await local_ca.authority.issue("tls-client", csr, "test")
    async with open_ca(local_ca.settings, signing=False) as ca:
        client = await aiohttp_client(build_app(ca))
        html = await page(client, "/search?by=name&match=prefix&q=%3Cscript&lang=en")
    assert found_serials(html) == [issued.serial]
    assert "<script" not in html and "alert(" in html
    shown = "CN=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;Co&#x27;, O=Plant"
    assert f"<td>{shown}</td>" in html
    # the query echoed in the form's value attribute, escaped too
    assert 'value="&lt;script"' in html


async def test_rfc6585_searches_beyond_a_clients_rate_are_answered_429_with_retry_after(
    seed: Seed, aiohttp_client: ClientFactory
) -> None:
    async with open_ca(load_settings(seed.home), signing=False) as ca:
        app = build_app(ca)
        app[SEARCH_LIMIT_KEY] = ClientRateLimit(per_second=1 / 3600, burst=3, clients=16)
        client = await aiohttp_client(app)
        for _ in range(3):
            await page(client, "/search?by=name&q=device-0&lang=en")
        answer = await client.get("/search?by=name&q=device-0&lang=en")
        assert answer.status == 429 and answer.headers["Retry-After"] == "3600"
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "Too many searches. Try again in 3600 s." in await answer.text()
        await page(client, "/")  # the page itself is not limited
        await page(client, "/search?lang=en")  # nor the empty form


@pytest.mark.parametrize(("trusted", "second_client"), [('["127.0.0.1"]', 200), ("[]", 429)])
async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate(
    seed: Seed, aiohttp_client: ClientFactory, trusted: str, second_client: int
) -> None:
    """The test client is the proxy (127.0.0.1). Trusted, the X-Forwarded-For address is
    the client: another one is not held up by the first one's searches. Not trusted, the
    header is the client's own word and counts for nothing."""
    settings = load_settings(seed.home, environ={"CA_SERVER__TRUSTED_PROXIES": trusted})
    async with open_ca(settings, signing=False) as ca:
        app = build_app(ca)
        app[SEARCH_LIMIT_KEY] = ClientRateLimit(per_second=1 / 3600, burst=1, clients=16)
        client = await aiohttp_client(app)
        path = "/search?by=name&q=device-0&lang=en"
        first, second = {"X-Forwarded-For": "198.51.100.1"}, {"X-Forwarded-For": "198.51.100.2"}
        await page(client, path, **first)
        assert (await client.get(path, headers=first)).status == 429
        assert (await client.get(path, headers=second)).status == second_client


async def test_rfc6585_searches_beyond_the_rate_of_all_clients_together_are_answered_429(
    seed: Seed, aiohttp_client: ClientFactory
) -> None:
    """Many addresses, each within its own rate, still meet the ceiling of all searches."""
    async with open_ca(load_settings(seed.home), signing=False) as ca:
        app = build_app(ca)
        app[SEARCH_LIMIT_KEY] = ClientRateLimit(per_second=1.0, burst=100, clients=16)
        app[ALL_SEARCHES_LIMIT_KEY] = ClientRateLimit(per_second=1 / 60, burst=2, clients=1)
        client = await aiohttp_client(app)
        for _ in range(2):
            await page(client, "/search?by=name&q=device-0&lang=en")
        answer = await client.get("/search?by=name&q=device-0&lang=en")
        assert answer.status == 429 and answer.headers["Retry-After"] == "60"
        assert "Too many searches. Try again in 60 s." in await answer.text()


async def test_the_pages_speak_russian_by_default_and_english_when_asked(served: Served) -> None:
    client = served.api.client
    russian = await page(client, "/")
    assert '<html lang="ru">' in russian and "Сертификаты удостоверяющего центра" in russian
    english = await page(client, "/?lang=en")
    assert '<html lang="en">' in english and "Certificates of the CA" in english
    assert 'href="/?lang=ru"' in english and 'href="/?lang=en"' in russian
    chosen = await page(client, "/", **{"Accept-Language": "de-DE, en-GB;q=0.8, ru;q=0.5"})
    assert '<html lang="en">' in chosen
    overridden = await page(client, "/?lang=ru", **{"Accept-Language": "en"})
    assert '<html lang="ru">' in overridden
    answer = await client.get("/?lang=en")
    assert answer.headers["Content-Language"] == "en"
    assert answer.headers["Vary"] == "Accept-Language"


async def test_head_and_unknown_paths_answer_as_before(served: Served) -> None:
    client = served.api.client
    head = await client.head("/")
    assert head.status == 200 and await head.read() == b""
    for method in ("GET", "HEAD"):
        for path in ("/nope", "/index.html", "/search/more"):
            answer = await client.request(method, path)
            assert answer.status == 404, (method, path)
    assert (await client.post("/")).status == 405
