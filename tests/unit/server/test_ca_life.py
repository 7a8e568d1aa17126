"""The whole life of a CA key (issue 15, Proof; regulation K2, K3, K4), driven by the
injected clock: issue under generation 1, the scheduled rollover when its window opens,
issue under generation 2, chains across generations through the link certificates, an old
certificate revoked through the old key's CRL and OCSP, pkilint on every CA, link and
responder certificate and CRL, rootCaKeyUpdate, the retirement of generation 1 when its
last certificate expires; then, generation 2's key long past its permitted lifetime, issuance
refused under it (K1) until the duty rolls over to generation 3, and a compromise of
generation 3.

In this process (tests/local_ca.py: a real SQLite registry, the software backend), since a
server process cannot take an injected clock; OpenSSL is the relying party, at the
clock's time (`-attime`). The answers are asked of the CA's OCSP responder in this process
and handed to `openssl ocsp -respin`, which checks them as a client would.

What the tools here cannot do, asserted otherwise: OpenSSL 3.0 has no `openssl cmp -infotype
rootCaKeyUpdate` (3.2+), so tests/cmp_client.py asks for it; `openssl ocsp` checks an
answer's thisUpdate/nextUpdate against the machine's time whatever `-attime` says, so the
distance to the injected clock is given as `-validity_period`; OpenSSL never checks a trust
anchor against a CRL, so generation 2's CA certificate revoked in generation 3's CRL is
checked on the CRL itself (signature and entry)."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry

from hsm.backend import KeyRef
from protocols import cmp, ocsp
from protocols.crl import CRLReason
from server.authority import Authority, IssuedCertificate
from server.cmp.identity import issue_cmp_identity
from server.errors import CAError, ErrorKind
from server.generations.compromise import compromise
from server.generations.rollover import RolledOver, rollover
from server.node.generation_retirement import GenerationRetirement
from server.node.key_lifetime import KEY_PAST_ITS_LIFETIME, key_usage_end, rollover_due
from server.node.scheduled_rollover import ScheduledRollover
from server.registry import CAGeneration
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.cmp_client import genm_content, genp_items, mac_client
from tests.csr_factory import make_csr
from tests.lint import lint_certificate, lint_crl
from tests.local_ca import LocalCA
from tests.unit.server.test_crl_remove_from_crl import pem
from tests.unit.server.test_rollover import SECRET, ask, ocsp_request, responder_of
from tests.unit.server.test_root_distribution import ID_IT_ROOT_CA_CERT, content

KEY_USAGE_DAYS = 20  # generation 1's key: the rollover window opens 14 days before its end


def openssl(*args: object) -> str:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    return f"rc={done.returncode}\n{done.stdout}{done.stderr}"


def at(clock_now: datetime) -> str:
    return str(int(clock_now.timestamp()))


def verify(now: datetime, root: Path, leaf: Path, *extra: object) -> str:
    return openssl("verify", "-attime", at(now), "-CAfile", root, *extra, leaf)


def leaf_name(issued: IssuedCertificate) -> str:
    return f"leaf-{issued.serial}.pem"


async def openssl_ocsp(
    folder: Path, status: StatusPublication, now: datetime, issuer: CAGeneration,
    issued: IssuedCertificate, responder_serial: str,
) -> str:  # fmt: skip
    """The CA's answer for `issued`, checked by `openssl ocsp` against the issuer's root
    (the delegated responder certificate must chain to it, RFC 6960 4.2.2.2) after its
    embedded responder is found to be the generation's own."""
    answer = await status.ocsp.answer(ocsp_request(issuer.certificate_der, issued.serial))
    assert responder_of(answer.der).serial_number == int(responder_serial, 16)
    response = folder / f"ocsp-{issued.serial}.der"
    response.write_bytes(answer.der)
    root = pem(folder, f"root-{issuer.id}", issuer.certificate_der)
    leaf = pem(folder, leaf_name(issued).removesuffix(".pem"), issued.der)
    # `-attime` sets the time of the certificate checks only; the answer's thisUpdate and
    # nextUpdate are checked against the machine's time, so the distance from it to the
    # injected clock is allowed (and no more than five minutes besides).
    skew = abs(datetime.now(UTC) - now) + timedelta(minutes=5)
    return openssl("ocsp", "-respin", response, "-issuer", root, "-CAfile", root, "-cert",
                   leaf, "-attime", at(now), "-validity_period",
                   int(skew.total_seconds()))  # fmt: skip


async def test_issue15_a_whole_ca_life_driven_by_the_clock(
    local_ca: LocalCA, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        local_ca.settings,
        ca=dataclasses.replace(local_ca.settings.ca, key_usage_days=KEY_USAGE_DAYS),
    )
    registry, clock = local_ca.registry, local_ca.clock
    status = StatusPublication(settings, registry, local_ca.signer, clock, builder=True)
    await status.ocsp.load_issuers()
    authority = Authority(settings, registry, local_ca.signer, clock, status)
    revocation = Revocation(registry, clock, status)

    async def issue(name: str) -> IssuedCertificate:
        return await authority.issue("tls-client", make_csr([("CN", name)]), "t")

    # 1. Certificates under generation 1, beside its CMP server certificate (made by init).
    first = await registry.active_generation("demo")
    assert first is not None and first.id == 1
    first_cmp = await issue_cmp_identity(settings, authority, first, clock(), SECRET, "t")
    old_revoked, old_good = await issue("old-revoked"), await issue("old-good")
    assert old_revoked.issuer_der == first.certificate_der

    # 2. K2: the scheduled duty rolls over when the window opens (key lifetime less 14
    # days, server/node/key_lifetime.py), not a second before.
    async def roll(generation: CAGeneration) -> RolledOver:
        return await rollover(settings, registry, local_ca.backend, authority, clock(), SECRET,
                              "ca:scheduled-rollover", "scheduled",
                              rolled_from=generation.id)  # fmt: skip

    duty = ScheduledRollover(settings.ca, registry, roll, clock, CollectorRegistry())
    due = rollover_due(settings.ca, first)
    assert due == first.not_before + timedelta(days=KEY_USAGE_DAYS - 14)
    clock.now = due - timedelta(seconds=1)
    assert await duty.rollover_if_due() is None
    assert [g.id for g in await registry.generations("demo")] == [1]
    clock.now = due
    done = await duty.rollover_if_due()
    assert done is not None and (done.old.id, done.new.id) == (1, 2)
    second = done.new

    # 3. Issuance moves to generation 2 at once.
    new_good = await issue("new-good")
    assert new_good.issuer_der == second.certificate_der

    # 4. RFC 9810 4.4 / RFC 4210 4.4: a relying party trusting only one root builds the
    # chain to a certificate of the other generation through the link certificates.
    folder = tmp_path
    old_root = pem(folder, "old-root", first.certificate_der)
    new_root = pem(folder, "new-root", second.certificate_der)
    old_with_new = pem(folder, "old-with-new", done.old_with_new.der)
    new_with_old = pem(folder, "new-with-old", done.new_with_old.der)
    old_leaf = pem(folder, "old-good", old_good.der)
    new_leaf = pem(folder, "new-good", new_good.der)
    now = clock()
    assert "rc=0" in verify(now, new_root, old_leaf, "-untrusted", old_with_new)
    assert "rc=0" in verify(now, old_root, new_leaf, "-untrusted", new_with_old)
    # Without the link, neither chain exists: the links are what the chains go through.
    assert "rc=0" not in verify(now, new_root, old_leaf)
    assert "rc=0" not in verify(now, old_root, new_leaf)

    # 5. K3: an old certificate revoked after the rollover is revoked by the old key
    # (RFC 5280 6.3 with generation 1's CRL; RFC 6960 with generation 1's responder), and
    # the CRL and OCSP agree for both generations.
    clock.advance(hours=1)
    await revocation.revoke(old_revoked.serial, CRLReason.keyCompromise, "officer")
    await status.crls.rebuild()
    now = clock()
    crls = {}
    for generation in (first, second):
        published = status.crls.current(0, False, generation.id)
        assert published is not None
        crls[generation.id] = pem(folder, f"crl-{generation.id}", published.der, crl=True)
    revoked_leaf = pem(folder, "old-revoked", old_revoked.der)
    checked = verify(now, old_root, revoked_leaf, "-crl_check", "-CRLfile", crls[1])
    assert "rc=0" not in checked and "certificate revoked" in checked, checked
    assert "rc=0" in verify(now, old_root, old_leaf, "-crl_check", "-CRLfile", crls[1])
    # A relying party trusting only the new root checks the old certificate against the
    # old key's CRL through OldWithNew (the CRL's signer in its chain).
    across = verify(now, new_root, revoked_leaf, "-untrusted", old_with_new, "-crl_check",
                    "-CRLfile", crls[1])  # fmt: skip
    assert "rc=0" not in across and "certificate revoked" in across, across
    assert "rc=0" in verify(now, new_root, old_leaf, "-untrusted", old_with_new, "-crl_check",
                            "-CRLfile", crls[1])  # fmt: skip
    assert "rc=0" in verify(now, new_root, new_leaf, "-crl_check", "-CRLfile", crls[2])
    responders = {}
    for generation in (first, second):
        row = await registry.ocsp_responder(generation.id)
        assert row is not None
        responders[generation.id] = row[0]
    for generation, issued, word in (
        (first, old_revoked, ": revoked"),
        (first, old_good, ": good"),
        (second, new_good, ": good"),
    ):
        out = await openssl_ocsp(folder, status, now, generation, issued,
                                 responders[generation.id])  # fmt: skip
        assert "Response verify OK" in out and "times invalid" not in out, out
        assert f"{leaf_name(issued)}{word}" in out, out

    # 6. pkilint (RFC 5280): every CA, link, responder and CMP server certificate and every
    # CRL (full and delta, each shard) of both generations.
    ders = [first.certificate_der, second.certificate_der]
    ders += [link.der for link in await registry.links("demo")]
    for serial in (*responders.values(), first_cmp, done.cmp_serial):
        record = await registry.get_certificate(serial)
        assert record is not None and record.der is not None
        ders.append(record.der)
    assert len(ders) == 8
    for der in ders:
        assert lint_certificate(der) == []
    linted = 0
    for generation in (first, second):
        for shard in range(settings.crl.shards):
            for delta in (False, True):
                published = status.crls.current(shard, delta, generation.id)
                if published is not None:
                    assert lint_crl(published.der) == []
                    linted += 1
    assert linted >= 2

    # 7. RFC 9483 4.3.2 / RFC 9810 5.3.19.15: rootCaKeyUpdate for a client holding the old
    # root. OpenSSL 3.0 here has no `openssl cmp -infotype rootCaKeyUpdate` (3.2+), so the
    # test CMP client asks the CA's CMP server in this process.
    client = await mac_client(local_ca)
    answer = await client.send(
        "genm", genm_content((ID_IT_ROOT_CA_CERT, first.certificate_der)), new=True
    )
    [(info_type, value)] = genp_items(answer)
    assert info_type == cmp.ID_IT_ROOT_CA_KEY_UPDATE
    assert content(value) == (second.certificate_der, done.new_with_old.der,
                              done.old_with_new.der)  # fmt: skip

    # 8. K3: generation 1 retires the second after the last certificate its key signed
    # ends (notAfter inclusive, RFC 5280 4.1.2.5): its leaves, its responder, the link
    # NewWithOld, and its keys are destroyed.
    destroyed: list[KeyRef] = []

    async def destroy(keys: list[KeyRef]) -> None:
        for key in keys:
            local_ca.backend.destroy_key(key)
            destroyed.append(key)

    retirement = GenerationRetirement(settings, registry, destroy, clock, CollectorRegistry())
    signed_by_first = [old_revoked.serial, old_good.serial, responders[1], first_cmp]
    ends = [done.new_with_old.not_after]
    for serial in signed_by_first:
        record = await registry.get_certificate(serial)
        assert record is not None
        ends.append(record.not_after)
    last = max(ends)
    clock.now = last
    assert await retirement.retire_due() == []
    await status.crls.rebuild()
    crl_before = await registry.status.latest_crl_number(first.id, 0, False)
    clock.advance(seconds=1)
    assert await retirement.retire_due() == [first.id]
    assert [g.state for g in await registry.generations("demo")] == ["retired", "active"]
    responder_key = await registry.ocsp_responder(first.id)
    assert responder_key is not None
    assert sorted(k.uri for k in destroyed) == sorted([first.key_uri, responder_key[1].uri])
    # Its CRL is no longer rebuilt; OCSP for it answers unauthorized (RFC 6960 2.3: the
    # server cannot answer authoritatively for it, server/status/ocsp_responder.py).
    clock.advance(hours=1)
    await status.crls.rebuild()
    await status.maintain_ocsp()
    assert await registry.status.latest_crl_number(first.id, 0, False) == crl_before
    assert [g.id for g in status.crls.generations] == [second.id]
    answer_der = (await status.ocsp.answer(ocsp_request(first.certificate_der,
                                                        old_good.serial))).der  # fmt: skip
    result, singles, _ = ocsp.parse_ocsp_response(answer_der)
    assert (result, singles) == (ocsp.OCSPResponseStatus.unauthorized, [])

    # 9. K1: generation 2's key is long past its permitted lifetime (KEY_USAGE_DAYS from
    # its start): nothing is issued under it, nothing recorded, until the scheduled duty
    # (due since its window opened) rolls the CA over to generation 3; issuance works again
    # at once.
    certificates = await registry.search.certificates(None, None, None, 1000, None)
    with pytest.raises(CAError) as refused:
        await issue("refused")
    assert refused.value.kind is ErrorKind.UNAVAILABLE
    end = key_usage_end(settings.ca, second)
    assert end == second.not_before + timedelta(days=KEY_USAGE_DAYS) < clock()
    assert str(refused.value) == KEY_PAST_ITS_LIFETIME.format(generation=second.id, end=end)
    assert await registry.search.certificates(None, None, None, 1000, None) == certificates
    rolled = await duty.rollover_if_due()
    assert rolled is not None and (rolled.old.id, rolled.new.id) == (2, 3)
    third = rolled.new

    # 10. K4: generation 3's key declared compromised: generation 4 at once (no links),
    # generation 3's CA certificate revoked (cACompromise, RFC 5280 5.3.1) in generation
    # 4's CRL, generation 3's unexpired certificates answer revoked at once.
    late = await issue("new-late")
    assert late.issuer_der == third.certificate_der
    assert (await ask(status, third.certificate_der, late.serial)).status is ocsp.CertStatus.GOOD
    declared = await compromise(settings, registry, local_ca.backend, authority, status,
                                clock(), SECRET, "api:officer", third.id,
                                "the CA key's backup was found copied")  # fmt: skip
    assert declared.new.id == 4
    assert {g.id: g.state for g in await registry.generations("demo")} == {
        1: "retired", 2: "active", 3: "compromised", 4: "active"}  # fmt: skip
    await status.crls.rebuild()
    fourth_crl = status.crls.current(0, False, declared.new.id)
    assert fourth_crl is not None
    crl = x509.load_der_x509_crl(fourth_crl.der)
    assert crl.is_signature_valid(
        x509.load_der_x509_certificate(declared.new.certificate_der).public_key()
    )
    entry = crl.get_revoked_certificate_by_serial_number(int(third.serial, 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.ca_compromise
    assert lint_crl(fourth_crl.der) == []
    single = await ask(status, third.certificate_der, late.serial)
    assert (single.status, single.revocation_reason) == (
        ocsp.CertStatus.REVOKED, int(CRLReason.cACompromise))  # fmt: skip
