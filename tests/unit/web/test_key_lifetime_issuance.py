"""K1 at the HTTP edge: once the issuing CA key is past its permitted lifetime
(`ca.key_usage_days` from its certificate's start here; server/node/key_lifetime.py), an
enrollment is refused as each protocol says the service is unavailable: EST HTTP 503 with
Retry-After and a text body (RFC 7030 4.2.3), CMP an error message with failInfo
systemUnavail (RFC 9810 5.2.3, RFC 9483 3.6.4), HTTP 200 `application/pkixcmp` (RFC 6712
3.3). Nothing is recorded and the enrollment code stays usable. The seeded CA's first
generation was made without privateKeyUsagePeriod, so the setting alone bounds its key
(the certificate's own statement is tested in tests/unit/server/test_key_usage_issuance.py);
the CA is opened at a time the test sets, without signing: nothing gets as far as a
signature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from config import load_settings
from protocols import cmp
from protocols.der import tlv
from server.context import CA, backend_spec, open_ca
from server.node.key_lifetime import KEY_PAST_ITS_LIFETIME
from server.node.tls import load_server_identity
from server.web.app import build_app
from tests.cmp_client import BODY, cert_req_messages, cert_request, read_answer
from tests.local_ca import Clock
from tests.unit.web.api_home import ClientFactory, Seed
from tests.unit.web.edge import ESTAnswer, est_over_tls, est_simpleenroll, registry_state
from tests.unit.web.test_error_policy_cmp import CT, mac_request

KEY_USAGE_DAYS = 20  # above ca.rollover_before_days (14), as settings require


@asynccontextmanager
async def past_key_lifetime(seed: Seed) -> AsyncIterator[tuple[CA, Clock, str]]:
    """The seeded CA with `ca.key_usage_days` set, opened at a clock the test moves, and
    the message its refusal carries once its key's lifetime ended."""
    path = seed.home / "settings.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count("\nkey_usage_days = 0 ") == 1
    path.write_text(text.replace("\nkey_usage_days = 0 ", f"\nkey_usage_days = {KEY_USAGE_DAYS} "),
                    encoding="utf-8")  # fmt: skip
    settings = load_settings(seed.home)
    clock = Clock(datetime.now(UTC))
    async with open_ca(settings, signing=False, clock=clock) as ca:
        generation = await ca.authority.generation()
        end = generation.not_before + timedelta(days=KEY_USAGE_DAYS)
        clock.now = end
        yield ca, clock, KEY_PAST_ITS_LIFETIME.format(generation=generation.id, end=end)


async def test_k1_rfc7030_4_2_3_est_enrollment_past_the_key_lifetime_is_503(
    seed: Seed, aiohttp_server: ClientFactory
) -> None:
    async with past_key_lifetime(seed) as (ca, _, message):
        port, ca_pem = await est_over_tls(ca, aiohttp_server)
        credential, code = await ca.credentials.create(
            "tls-client", "CN=device", timedelta(hours=1), "test"
        )
        before = await registry_state(ca)
        answer = await est_simpleenroll(port, ca_pem, credential.id, code)
        assert answer == ESTAnswer(503, "text/plain", "5", message + "\n")
        assert await registry_state(ca) == before
        assert not (await ca.credentials.find_each([credential.id]))[credential.id].spent


async def post_cmp(client: Any, der: bytes) -> bytes:
    response = await client.post("/.well-known/cmp", data=der, headers={"Content-Type": CT})
    assert response.status == 200
    assert response.content_type == CT
    body: bytes = await response.read()
    return body


async def test_k1_rfc9483_3_6_4_cmp_ir_past_the_key_lifetime_is_system_unavail(
    seed: Seed, aiohttp_client: ClientFactory
) -> None:
    settings = load_settings(seed.home)
    identity = load_server_identity(settings, backend_spec(settings).read_secret())
    async with past_key_lifetime(seed) as (ca, _, message):
        client = await aiohttp_client(build_app(ca, identity))
        key = ec.generate_private_key(ec.SECP256R1())
        body = tlv(BODY["ir"], cert_req_messages(cert_request(key=key)))
        request = await mac_request(ca, body)
        credential_id = cmp.parse_pki_message(request).header.sender_kid
        assert credential_id is not None
        before = await registry_state(ca)
        answer = read_answer(await post_cmp(client, request))
        # RFC 9483 3.6.4: not about the request's body, so an error message, not an ip
        assert answer.body_type == "error", answer
        assert (answer.status, answer.fail_info, answer.text) == (
            cmp.PKIStatus.rejection, {"systemUnavail"}, message)  # fmt: skip
        assert answer.protected  # RFC 9483 3.6.4: protected as the request was (MAC)
        assert await registry_state(ca) == before
        found = await ca.credentials.find_each([credential_id.decode()])
        assert not found[credential_id.decode()].spent
        await client.close()
