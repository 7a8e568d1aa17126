"""K1 at issuance (server/authority.py, server/node/key_lifetime.py): the CA key signs
certificates only within its permitted lifetime, here the privateKeyUsagePeriod its CA
certificate states (a rollover made with `ca.key_usage_days` set; the settings the CA then
runs with say 0, so the statement alone decides). Outside it every certificate the CA
issues is refused, end-entity and CMP protection alike, with CAError(UNAVAILABLE) and the
exact reason, nothing recorded; CRLs and OCSP responder certificates are still signed by
that key (K3); a rollover makes issuance work again at once. The answers of EST and CMP at
the HTTP edge are tested in tests/unit/web/test_key_lifetime_issuance.py. A real registry
file, the software backend, the clock injected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509

from server.authority import Authority
from server.cmp.identity import KEY_FOLDER, issue_cmp_identity
from server.errors import CAError, ErrorKind
from server.generations.responder import issue_ocsp_responder
from server.generations.rollover import rollover
from server.node.key_lifetime import KEY_NOT_YET_USABLE, KEY_PAST_ITS_LIFETIME, key_usage_end
from server.registry import CAGeneration
from server.status.publication import StatusPublication
from tests.cmp_client import IMPLICIT_CONFIRM, cert_req_messages, cert_request, mac_client
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA
from tests.unit.server.test_cmp_rfc9483_kur_suite import new_key, rejected
from tests.unit.server.test_scheduled_rollover import SECRET, with_key_usage

KEY_USAGE_DAYS = 20


async def stated_generation(local_ca: LocalCA) -> CAGeneration:
    """Generation 2, whose CA certificate states its key's period: KEY_USAGE_DAYS from now."""
    done = await rollover(with_key_usage(local_ca.settings, KEY_USAGE_DAYS), local_ca.registry,
                          local_ca.backend, local_ca.authority, local_ca.clock(), SECRET,
                          "cli:operator", "scheduled")  # fmt: skip
    assert local_ca.settings.ca.key_usage_days == 0
    assert key_usage_end(local_ca.settings.ca, done.new) == (
        done.new.not_before + timedelta(days=KEY_USAGE_DAYS))  # fmt: skip
    return done.new


async def refusal(local_ca: LocalCA, authority: Authority | None = None) -> CAError:
    before = await local_ca.registry.search.certificates(None, None, None, 1000, None)
    with pytest.raises(CAError) as refused:
        await (authority or local_ca.authority).issue("tls-client", make_csr([("CN", "x")]), "t")
    assert refused.value.kind is ErrorKind.UNAVAILABLE
    assert await local_ca.registry.search.certificates(None, None, None, 1000, None) == before
    return refused.value


async def test_k1_nothing_is_issued_once_the_stated_key_usage_period_ended(
    local_ca: LocalCA,
) -> None:
    generation = await stated_generation(local_ca)
    end = generation.not_before + timedelta(days=KEY_USAGE_DAYS)
    local_ca.clock.now = end - timedelta(seconds=1)
    issued = await local_ca.authority.issue("tls-client", make_csr([("CN", "last")]), "t")
    assert issued.issuer_der == generation.certificate_der
    local_ca.clock.now = end  # privateKeyUsagePeriod's notAfter: the last moment is excluded
    refused = await refusal(local_ca)
    assert str(refused) == KEY_PAST_ITS_LIFETIME.format(generation=generation.id, end=end)
    assert str(refused) == (
        f"the CA key of generation 2 is past its permitted lifetime (ended "
        f"{end:%Y-%m-%d %H:%M} UTC): nothing is issued until a rollover to a new CA key"
    )

    # The CA's own CMP protection certificate too, and its key file is not left behind.
    keys = sorted(local_ca.settings.resolve(KEY_FOLDER).glob("*"))
    before = await local_ca.registry.search.certificates(None, None, None, 1000, None)
    with pytest.raises(CAError) as cmp_refused:
        await issue_cmp_identity(local_ca.settings, local_ca.authority, generation,
                                 local_ca.clock(), SECRET, "ca:cmp-renewal")  # fmt: skip
    assert (cmp_refused.value.kind, str(cmp_refused.value)) == (ErrorKind.UNAVAILABLE,
                                                                str(refused))  # fmt: skip
    assert sorted(local_ca.settings.resolve(KEY_FOLDER).glob("*")) == keys
    assert await local_ca.registry.search.certificates(None, None, None, 1000, None) == before


async def test_k1_nothing_is_issued_before_the_key_usage_period_begins(
    local_ca: LocalCA,
) -> None:
    generation = await stated_generation(local_ca)
    local_ca.clock.now = generation.not_before - timedelta(seconds=1)
    refused = await refusal(local_ca)
    assert str(refused) == KEY_NOT_YET_USABLE.format(generation=generation.id,
                                                     start=generation.not_before)  # fmt: skip


async def test_k3_past_its_lifetime_the_key_still_signs_crls_and_its_ocsp_responder(
    local_ca: LocalCA,
) -> None:
    """What the key signs for the certificates it issued goes on (K3): its CRLs, and its
    OCSP responder certificate when renewed (the responder signs its OCSP answers)."""
    generation = await stated_generation(local_ca)
    local_ca.clock.now = generation.not_before + timedelta(days=KEY_USAGE_DAYS + 1)
    await refusal(local_ca)
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    await status.crls.rebuild()
    published = status.crls.current(0, False, generation.id)
    assert published is not None
    crl = x509.load_der_x509_crl(published.der)
    assert crl.last_update_utc == local_ca.clock()
    ca_key = x509.load_der_x509_certificate(generation.certificate_der).public_key()
    assert crl.is_signature_valid(ca_key)  # type: ignore[arg-type]
    serial = await issue_ocsp_responder(
        local_ca.settings, local_ca.backend, local_ca.authority, generation, local_ca.clock(), "t"
    )
    record = await local_ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None and record.generation_id == generation.id
    x509.load_der_x509_certificate(record.der).verify_directly_issued_by(
        x509.load_der_x509_certificate(generation.certificate_der)
    )


async def test_k1_k2_a_rollover_makes_issuance_work_again_at_once(local_ca: LocalCA) -> None:
    """Refused, then `rollover` (as an operator runs it): the next issuance, direct or by
    CMP (RFC 9483 4.1.1), is under the new generation."""
    generation = await stated_generation(local_ca)
    local_ca.clock.now = generation.not_before + timedelta(days=KEY_USAGE_DAYS)
    await refusal(local_ca)
    client = await mac_client(local_ca)
    refused = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                                generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert (refused.body_type, refused.fail_info) == ("error", {"systemUnavail"}), refused

    done = await rollover(local_ca.settings, local_ca.registry, local_ca.backend,
                          local_ca.authority, local_ca.clock(), SECRET, "cli:operator",
                          "the key's lifetime ended")  # fmt: skip
    assert (done.old.id, done.new.id) == (generation.id, generation.id + 1)
    issued = await local_ca.authority.issue("tls-client", make_csr([("CN", "again")]), "t")
    assert issued.issuer_der == done.new.certificate_der
    answer = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    assert answer.certificate is not None
    x509.load_der_x509_certificate(answer.certificate).verify_directly_issued_by(
        x509.load_der_x509_certificate(done.new.certificate_der)
    )
