"""Every live CA generation publishes its own CRLs at its own distribution points
(regulation K3: an old CA key keeps signing CRLs for the certificates it issued until the
last one expires; issue 15, step 1). Two generations made as `init` makes one (there is no
rollover yet), a real registry file, the clock injected; OpenSSL and pkilint as relying
parties."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry

from config import load_settings
from protocols import cmp
from protocols import crl as crl_codec
from protocols.crl import CRLReason
from protocols.der import elements, tlv
from server.authority import Authority, IssuedCertificate
from server.registry import CAGeneration
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.cmp_client import genm_content, genp_items, mac_client
from tests.csr_factory import make_csr
from tests.lint import lint_crl
from tests.local_ca import LocalCA, second_generation
from tests.unit.server.test_crl_remove_from_crl import openssl_verify, pem

BASE = "http://127.0.0.1:8080"


@dataclass
class TwoGenerations:
    first: CAGeneration
    second: CAGeneration
    old: IssuedCertificate  # issued under the first
    new: IssuedCertificate  # issued under the second
    status: StatusPublication
    revocation: Revocation
    shards: int

    def shard(self, issued: IssuedCertificate) -> int:
        return crl_codec.crl_shard(int(issued.serial, 16), self.shards)

    def crl_name(self, generation: CAGeneration, shard: int, delta: bool) -> str:
        """The file name of a CRL, written out here, not by the code under test."""
        name = "demo" if generation == self.first else f"demo-{generation.key_id.hex()}"
        part = f"-s{shard}" if self.shards > 1 else ""
        return f"{name}{part}{'-delta' if delta else ''}.crl"


async def two_generations(local_ca: LocalCA, shards: int = 1) -> TwoGenerations:
    """A certificate issued under the first generation, a second generation, and a
    certificate issued under it; the CRLs built once (the deltas' base)."""
    settings = load_settings(local_ca.settings.home, {"CA_CRL__SHARDS": str(shards)})
    status = StatusPublication(settings, local_ca.registry, local_ca.signer, local_ca.clock,
                               builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(settings, local_ca.registry, local_ca.signer, local_ca.clock, status)
    first = await authority.generation()
    old = await authority.issue("tls-client", make_csr([("CN", "old")]), "t")
    second = await second_generation(local_ca)
    await status.ocsp.reload_issuers()
    new = await authority.issue("tls-client", make_csr([("CN", "new")]), "t")
    await status.crls.rebuild()
    revocation = Revocation(local_ca.registry, local_ca.clock, status)
    return TwoGenerations(first, second, old, new, status, revocation, shards)


def uri(certificate_or_crl: x509.Certificate | x509.CertificateRevocationList, kind: type) -> str:
    """The one URI of a cRLDistributionPoints, freshestCRL or issuingDistributionPoint."""
    value = certificate_or_crl.extensions.get_extension_for_class(kind).value
    points = [value] if kind is x509.IssuingDistributionPoint else list(value)
    [point] = points
    [name] = point.full_name
    return str(name.value)


@pytest.mark.parametrize("shards", [1, 2])
async def test_k3_rfc5280_5_each_live_generation_signs_its_own_crls_listing_what_it_issued(
    local_ca: LocalCA, shards: int
) -> None:
    """Full and delta CRLs of every shard of both generations: the generation's issuer
    name, AKI = its key id, a signature of its key (not the other's), its own
    distribution point names, and only the certificate it issued that was revoked."""
    world = await two_generations(local_ca, shards)
    for issued in (world.old, world.new):
        await world.revocation.revoke(issued.serial, CRLReason.keyCompromise, "o")
    local_ca.clock.advance(seconds=1)
    await world.status.crls.rebuild()
    pairs = ((world.first, world.second, world.old), (world.second, world.first, world.new))
    for generation, other, revoked in pairs:
        ca = x509.load_der_x509_certificate(generation.certificate_der)
        other_key = x509.load_der_x509_certificate(other.certificate_der).public_key()
        for shard in range(shards):
            for delta in (False, True):
                published = world.status.crls.current(shard, delta, generation.id)
                assert published is not None
                crl = x509.load_der_x509_crl(published.der)
                assert crl.issuer == ca.subject
                aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
                assert aki.value.key_identifier == generation.key_id
                assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
                assert not crl.is_signature_valid(other_key)  # type: ignore[arg-type]
                listed = set(crl_codec.parse_crl(published.der).entries)
                expected = {int(revoked.serial, 16)} if world.shard(revoked) == shard else set()
                assert listed == expected
                if shards > 1:
                    idp = uri(crl, x509.IssuingDistributionPoint)
                    assert idp == f"{BASE}/crl/{world.crl_name(generation, shard, delta)}"
                if not delta:
                    freshest = uri(crl, x509.FreshestCRL)
                    assert freshest == f"{BASE}/crl/{world.crl_name(generation, shard, True)}"


async def test_k3_a_revocation_under_the_old_generation_lands_in_its_crl_only(
    local_ca: LocalCA, tmp_path: Path
) -> None:
    """OpenSSL, holding both CA certificates (one subject, two keys) and both full CRLs,
    finds the old certificate revoked by the old key's CRL and the new one good."""
    world = await two_generations(local_ca)
    await world.revocation.revoke(world.old.serial, CRLReason.keyCompromise, "o")
    local_ca.clock.advance(seconds=1)
    await world.status.crls.rebuild()
    crls = world.status.crls
    old_crl, new_crl = (crls.current(0, False, g.id) for g in (world.first, world.second))
    assert old_crl is not None and new_crl is not None
    assert set(crl_codec.parse_crl(old_crl.der).entries) == {int(world.old.serial, 16)}
    assert crl_codec.parse_crl(new_crl.der).entries == {}
    new_delta = crls.current(0, True, world.second.id)
    assert new_delta is not None and crl_codec.parse_crl(new_delta.der).entries == {}

    cas = tmp_path / "cas.pem"
    cas.write_bytes(b"".join(
        pem(tmp_path, f"ca{g.id}", g.certificate_der).read_bytes()
        for g in (world.first, world.second)
    ))  # fmt: skip
    lists = [pem(tmp_path, f"crl{n}", c.der, crl=True) for n, c in enumerate((old_crl, new_crl))]
    old_leaf, new_leaf = (pem(tmp_path, i.serial, i.der) for i in (world.old, world.new))
    refused = openssl_verify(local_ca.clock.now, cas, old_leaf, *lists)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    good = openssl_verify(local_ca.clock.now, cas, new_leaf, *lists)
    assert good.returncode == 0, good.stdout + good.stderr


@pytest.mark.parametrize("shards", [1, 2])
async def test_rfc5280_4_2_1_13_cdp_freshest_and_aia_name_the_issuing_generation(
    local_ca: LocalCA, shards: int
) -> None:
    """The first generation keeps the names certificates carried before (so they stay
    valid); the second's add its key id in lowercase hex."""
    world = await two_generations(local_ca, shards)
    keyid = world.second.key_id.hex()
    assert keyid == keyid.lower() and len(keyid) == 40
    for issued, name in ((world.old, "demo"), (world.new, f"demo-{keyid}")):
        certificate = x509.load_der_x509_certificate(issued.der)
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        generation = world.first if issued is world.old else world.second
        assert aki.value.key_identifier == generation.key_id
        part = f"-s{world.shard(issued)}" if shards > 1 else ""
        assert uri(certificate, x509.CRLDistributionPoints) == f"{BASE}/crl/{name}{part}.crl"
        assert uri(certificate, x509.FreshestCRL) == f"{BASE}/crl/{name}{part}-delta.crl"
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
        ca_issuers = [
            str(d.access_location.value)
            for d in access.value
            if d.access_method == x509.AuthorityInformationAccessOID.CA_ISSUERS
        ]
        assert ca_issuers == [f"{BASE}/ca/{name}.crt"]


async def test_rfc5280_5_2_3_a_new_generation_continues_the_cas_crl_numbers(
    local_ca: LocalCA,
) -> None:
    """Both generations have one issuer name: no two of their CRLs share a cRLNumber, the
    second's first is above every number of the first made before it, and each
    generation's own numbers still increase, delta after full."""
    settings = local_ca.settings
    status = StatusPublication(settings, local_ca.registry, local_ca.signer, local_ca.clock,
                               builder=True)  # fmt: skip
    for _ in range(3):
        local_ca.clock.advance(seconds=1)
        await status.crls.rebuild()
    last = status.crls.current(0, True)
    assert last is not None and last.number == 6  # three rebuilds of a full and a delta
    first = await local_ca.authority.generation()
    second = await second_generation(local_ca)
    numbers: dict[int, list[int]] = {}
    for _ in range(2):
        local_ca.clock.advance(seconds=1)
        await status.crls.rebuild()
        for generation in status.crls.generations:
            for delta in (False, True):
                published = status.crls.current(0, delta, generation.id)
                assert published is not None
                assert crl_codec.parse_crl(published.der).crl_number == published.number
                numbers.setdefault(generation.id, []).append(published.number)
    assert numbers == {first.id: [7, 8, 11, 12], second.id: [9, 10, 13, 14]}


async def test_crl_metrics_are_per_generation(local_ca: LocalCA) -> None:
    """ca_crl_number, ca_crl_entries and ca_crl_next_update_timestamp_seconds carry the
    generation (its id) they are about."""
    metrics = CollectorRegistry()
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True, metrics=metrics)  # fmt: skip
    first = await local_ca.authority.generation()
    issued = await local_ca.authority.issue("tls-client", make_csr([("CN", "old")]), "t")
    revocation = Revocation(local_ca.registry, local_ca.clock, status)
    await revocation.revoke(issued.serial, CRLReason.superseded, "o")
    second = await second_generation(local_ca)
    await status.crls.rebuild()
    for generation, number, entries in ((first, 2, 1), (second, 4, 0)):
        label = {"generation": str(generation.id)}
        assert metrics.get_sample_value("ca_crl_number", label) == number
        assert metrics.get_sample_value("ca_crl_entries", {"kind": "full", **label}) == entries
        next_update = local_ca.clock() + timedelta(hours=local_ca.settings.crl.validity_hours)
        assert metrics.get_sample_value("ca_crl_next_update_timestamp_seconds", label) == (
            next_update.timestamp())  # fmt: skip


async def test_a_process_that_loses_the_duties_stops_reporting_what_only_the_holder_measures(
    local_ca: LocalCA,
) -> None:
    """The CRL and OCSP nextUpdate gauges (and the CRL's number and entries) are set by the
    duty holder; a process that lost the duties drops them, so that its last values do not
    age into a false CRLNearNextUpdate / OCSPNearNextUpdate alert after a failover."""
    metrics = CollectorRegistry()
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True, metrics=metrics)  # fmt: skip
    await status.ocsp.load_issuers()
    await local_ca.authority.issue("tls-client", make_csr([("CN", "measured")]), "t")
    await status.ocsp.sign_missing()  # as a duty holder does at taking up
    await status.crls.rebuild()
    await status.maintain_ocsp()
    label = {"generation": str((await local_ca.authority.generation()).id)}
    names = ("ca_crl_next_update_timestamp_seconds", "ca_ocsp_next_update_timestamp_seconds",
             "ca_crl_number")  # fmt: skip
    assert None not in [metrics.get_sample_value(name, label) for name in names]
    await status.stop_building()
    assert [metrics.get_sample_value(name, label) for name in names] == [None, None, None]
    assert metrics.get_sample_value("ca_crl_entries", {"kind": "full", **label}) is None


async def test_rfc5280_5_pkilint_passes_both_generations_crls(local_ca: LocalCA) -> None:
    world = await two_generations(local_ca, shards=2)
    for issued in (world.old, world.new):
        await world.revocation.revoke(issued.serial, CRLReason.superseded, "o")
    local_ca.clock.advance(seconds=1)
    await world.status.crls.rebuild()
    for generation in (world.first, world.second):
        for shard in range(2):
            for delta in (False, True):
                published = world.status.crls.current(shard, delta, generation.id)
                assert published is not None
                assert lint_crl(published.der) == [], (generation.id, shard, delta)


async def test_k3_a_retired_generation_publishes_no_crl(local_ca: LocalCA) -> None:
    """Only live generations publish: one whose state is 'retired' gets no new CRL, and the
    issuing generation's CRL is what `current` gives without a generation."""
    world = await two_generations(local_ca)
    async with local_ca.registry.transaction() as db:
        await db.execute(
            "UPDATE ca_generations SET state = 'retired' WHERE id = ?", (world.first.id,)
        )
    local_ca.clock.advance(seconds=1)
    before = world.status.crls.current(0, False, world.first.id)
    await world.status.crls.rebuild()
    assert [g.id for g in world.status.crls.generations] == [world.second.id]
    assert world.status.crls.current(0, False, world.first.id) == before  # not rebuilt
    # its last CRL stays at its name until its nextUpdate (test_generation_retirement.py)
    assert before is not None and world.status.crls.named("demo.crl") == before
    issuing = world.status.crls.current(0, False)
    assert issuing == world.status.crls.current(0, False, world.second.id)
    assert issuing is not None and issuing == world.status.crls.named(
        f"demo-{world.second.key_id.hex()}.crl"
    )


def crl_status(url: str, this_update: datetime | None = None) -> bytes:
    """CRLStatus { source dpn [0] { fullName [0] { URI [6] } }, thisUpdate OPTIONAL }
    (RFC 9483 4.3.4)."""
    source = tlv(0xA0, tlv(0xA0, tlv(0x86, url.encode())))
    known = b"" if this_update is None else tlv(0x18, f"{this_update:%Y%m%d%H%M%SZ}".encode())
    return tlv(0x30, source + known)


async def test_rfc9483_4_3_4_crl_status_list_covers_every_live_generation(
    local_ca: LocalCA,
) -> None:
    """A client naming either generation's distribution point gets that generation's
    newer full CRL, both when it names both, none when it has the current ones."""
    first = await local_ca.authority.generation()
    second = await second_generation(local_ca)
    client = await mac_client(local_ca)  # its server builds both generations' CRLs
    crls = client.server._crls
    old_crl, new_crl = (crls.current(0, False, g.id) for g in (first, second))
    assert old_crl is not None and new_crl is not None
    old_url, new_url = f"{BASE}/crl/demo.crl", f"{BASE}/crl/demo-{second.key_id.hex()}.crl"

    async def newer(*statuses: bytes) -> list[bytes] | None:
        content = genm_content((cmp.ID_IT_CRL_STATUS_LIST, tlv(0x30, b"".join(statuses))))
        [(info_type, value)] = genp_items(await client.send("genm", content, new=True))
        assert info_type == cmp.ID_IT_CRLS
        return None if value is None else [whole for _, whole in elements(value)]

    assert await newer(crl_status(old_url)) == [old_crl.der]
    assert await newer(crl_status(new_url)) == [new_crl.der]
    assert await newer(crl_status(new_url), crl_status(old_url)) == [old_crl.der, new_crl.der]
    has_both = (crl_status(u, c.this_update) for u, c in ((old_url, old_crl), (new_url, new_crl)))
    assert await newer(*has_both) is None
    assert await newer(crl_status(f"{BASE}/crl/demo-{first.key_id.hex()}.crl")) is None


async def test_rfc9810_5_3_19_6_current_crl_is_the_issuing_generations(
    local_ca: LocalCA,
) -> None:
    second = await second_generation(local_ca)
    client = await mac_client(local_ca)
    content = genm_content((cmp.ID_IT_CURRENT_CRL, None))
    [(info_type, value)] = genp_items(await client.send("genm", content, new=True))
    published = client.server._crls.current(0, False, second.id)
    assert info_type == cmp.ID_IT_CURRENT_CRL
    assert published is not None and value == published.der
    crl = x509.load_der_x509_crl(published.der)
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier == second.key_id
