"""The CA key compromise procedure (regulation K4; issue 15, step 6): a new generation at
once without links, the old CA certificate and its links revoked in a CRL signed by the
new key, the old generation's certificates revoked (OCSP at once) or marked, refusals that
change nothing, the audit entries; the ordinary revocation still refuses the CA's own
certificates. A real registry file, the software backend, the clock injected; OpenSSL and
pkilint as relying parties."""

from __future__ import annotations

import dataclasses
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from protocols import ocsp
from protocols.crl import CRLReason
from server.authority import Authority, IssuedCertificate
from server.enrollment.root_distribution import ca_certificates
from server.errors import CAError, ErrorKind
from server.generations.compromise import Compromised, compromise
from server.registry.registry_copy import row_counts
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.csr_factory import make_csr
from tests.lint import lint_certificate, lint_crl
from tests.local_ca import LocalCA
from tests.unit.server.test_crl_remove_from_crl import pem
from tests.unit.server.test_rollover import SECRET, ask, certificate, roll

GROUNDS = "the CA key's backup was found copied (incident report 7)"


@dataclass
class Before:
    """Generation 1 with a certificate issued under it and a rollover to generation 2."""

    status: StatusPublication
    authority: Authority
    old: IssuedCertificate
    held: IssuedCertificate


@pytest.fixture
async def before(local_ca: LocalCA) -> Before:
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          status)  # fmt: skip
    old = await authority.issue("tls-client", make_csr([("CN", "old")]), "t")
    held = await authority.issue("tls-client", make_csr([("CN", "held")]), "t")
    await Revocation(local_ca.registry, local_ca.clock, status).suspend(held.serial, "officer")
    local_ca.clock.advance(days=30)
    await roll(local_ca, status)
    return Before(status, authority, old, held)


async def declare(
    local_ca: LocalCA, before: Before, generation: int = 1, grounds: str = GROUNDS, **ca: str
) -> Compromised:
    settings = dataclasses.replace(
        local_ca.settings, ca=dataclasses.replace(local_ca.settings.ca, **ca)
    )
    return await compromise(settings, local_ca.registry, local_ca.backend, before.authority,
                            before.status, local_ca.clock(), SECRET, "api:officer", generation,
                            grounds)  # fmt: skip


async def test_k4_compromise_revokes_the_old_ca_certificate_in_a_crl_signed_by_the_new_key(
    local_ca: LocalCA, before: Before, tmp_path: Path
) -> None:
    """OpenSSL cannot check a trust anchor against a CRL (`verify -crl_check` never looks
    its own root up), so the CRL's signature and entries are checked directly."""
    done = await declare(local_ca, before)
    links = [link.serial for link in await local_ca.registry.links("demo")]
    assert len(links) == 2 and done.revoked == (done.old.serial, *links)
    await before.status.crls.rebuild()
    published = before.status.crls.current(0, False, done.new.id)
    assert published is not None
    crl = x509.load_der_x509_crl(published.der)
    new_root, old_root = (
        certificate(done.new.certificate_der),
        certificate(done.old.certificate_der),
    )
    assert crl.is_signature_valid(new_root.public_key())
    assert not crl.is_signature_valid(old_root.public_key())
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == done.new.key_id
    entries = {format(r.serial_number, "x"): r for r in crl}
    assert sorted(entries) == sorted(done.revoked)
    for entry in entries.values():
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        assert reason is x509.ReasonFlags.ca_compromise
    assert old_root.serial_number == int(done.old.serial, 16)
    checked = subprocess.run(
        ["openssl", "crl", "-noout", "-CAfile", str(pem(tmp_path, "new", done.new.certificate_der)),
         "-in", str(pem(tmp_path, "crl", published.der, crl=True))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (checked.returncode, checked.stderr.strip()) == (0, "verify OK")
    assert lint_crl(published.der) == []
    # The compromised generation's own CRLs do not list its CA certificate.
    own = before.status.crls.current(0, False, done.old.id)
    assert own is not None
    assert int(done.old.serial, 16) not in [
        r.serial_number for r in x509.load_der_x509_crl(own.der)
    ]


async def test_k4_a_compromise_makes_a_new_generation_without_links(
    local_ca: LocalCA, before: Before
) -> None:
    links_before = await local_ca.registry.links("demo")
    done = await declare(local_ca, before)
    generations = {g.id: g.state for g in await local_ca.registry.generations("demo")}
    assert generations == {1: "compromised", 2: "active", 3: "active"} and done.new.id == 3
    assert await local_ca.registry.links("demo") == links_before
    # EST cacerts and CMP caCerts hand out generations 2 and 3, without the links of 1.
    second = (await local_ca.registry.generations("demo"))[1]
    handed_out = await ca_certificates(local_ca.registry, "demo", local_ca.clock())
    assert handed_out == [second.certificate_der, done.new.certificate_der]
    issued = await before.authority.issue("tls-client", make_csr([("CN", "after")]), "t")
    assert issued.issuer_der == done.new.certificate_der
    certificate(done.new.certificate_der).verify_directly_issued_by(
        certificate(done.new.certificate_der)
    )


async def test_k4_certificates_under_the_compromised_key_answer_revoked_at_once(
    local_ca: LocalCA, before: Before
) -> None:
    """`before.status` answered good from memory before; the command returns once every
    live process (this one) applied the revocations."""
    first = (await local_ca.registry.generations("demo"))[0]
    assert (await ask(before.status, first.certificate_der, before.old.serial)).status is (
        ocsp.CertStatus.GOOD)  # fmt: skip
    done = await declare(local_ca, before)
    assert done.certificates.mode == "revoke" and done.certificates.count >= 2
    for serial in (before.old.serial, before.held.serial):
        single = await ask(before.status, done.old.certificate_der, serial)
        assert (single.status, single.revocation_reason) == (
            ocsp.CertStatus.REVOKED,
            int(CRLReason.cACompromise),
        )
        record = await local_ca.registry.get_certificate(serial)
        assert record is not None and record.status.value == "revoked"
        [*_, change] = await local_ca.registry.status_history(serial)
        assert (change.change.value, change.reason, change.actor, change.grounds) == (
            "revoke", "cACompromise", "api:officer", GROUNDS)  # fmt: skip
    # The old key's own CRL lists them too (it keeps publishing, see
    # server/generations/compromise.py).
    await before.status.crls.rebuild()
    own = before.status.crls.current(0, False, done.old.id)
    assert own is not None
    listed = {r.serial_number for r in x509.load_der_x509_crl(own.der)}
    assert {int(before.old.serial, 16), int(before.held.serial, 16)} <= listed


async def test_k4_mark_setting_leaves_certificates_good_but_recorded(
    local_ca: LocalCA, before: Before
) -> None:
    done = await declare(local_ca, before, compromise_certificates="mark")
    assert done.certificates.mode == "mark" and done.certificates.count >= 2
    single = await ask(before.status, done.old.certificate_der, before.old.serial)
    assert single.status is ocsp.CertStatus.GOOD
    record = await local_ca.registry.get_certificate(before.old.serial)
    assert record is not None and record.status.value == "good"
    [entry] = [e for e in await local_ca.registry.search.audit_entries(1000, None)
               if e.action == "ca.generation.compromise"]  # fmt: skip
    assert entry.details["certificates"] == "mark"
    [marked] = [e for e in await local_ca.registry.search.audit_entries(1000, None)
                if e.action == "certificate.mark.compromise"]  # fmt: skip
    assert (marked.actor, marked.target, marked.details["grounds"]) == (
        "api:officer", "generation 1", GROUNDS)  # fmt: skip
    assert {before.old.serial, before.held.serial} <= set(marked.details["serials"])
    assert not [e for e in await local_ca.registry.search.audit_entries(1000, None)
                if e.action == "certificate.revoke.compromise"]  # fmt: skip
    states = {g.id: g.state for g in await local_ca.registry.generations("demo")}
    assert states[1] == "compromised" and record.generation_id == 1


async def test_k4_the_audit_entries_record_who_when_and_the_grounds(
    local_ca: LocalCA, before: Before
) -> None:
    done = await declare(local_ca, before)
    entries = await local_ca.registry.search.audit_entries(1000, None)
    [declared] = [e for e in entries if e.action == "ca.generation.compromise"]
    assert (declared.actor, declared.at, declared.target) == (
        "api:officer",
        local_ca.clock().replace(microsecond=0),
        done.new.serial,
    )
    assert declared.details == {"ca": "demo", "generation": 1, "to": done.new.id,
                                "grounds": GROUNDS, "revoked": list(done.revoked),
                                "certificates": "revoke"}  # fmt: skip
    [revoked] = [e for e in entries if e.action == "certificate.revoke.compromise"]
    assert revoked.actor == "api:officer" and revoked.target == "generation 1"
    assert revoked.details["grounds"] == GROUNDS and revoked.details["reason"] == "cACompromise"
    assert {before.old.serial, before.held.serial} <= set(revoked.details["serials"])
    assert (await local_ca.registry.verify_audit_chain()).intact


@pytest.mark.parametrize(
    ("generation", "grounds", "kind", "message"),
    [
        (1, "  ", ErrorKind.MALFORMED, "a CA key compromise needs its grounds (K4)"),
        (9, GROUNDS, ErrorKind.NOT_FOUND, "no generation 9 of CA 'demo'"),
    ],
)
async def test_k4_a_compromise_without_grounds_or_of_an_unknown_generation_changes_nothing(
    local_ca: LocalCA, before: Before, generation: int, grounds: str, kind: ErrorKind,
    message: str,
) -> None:  # fmt: skip
    counts = await row_counts(local_ca.registry)
    with pytest.raises(CAError) as refused:
        await declare(local_ca, before, generation, grounds)
    assert (refused.value.kind, refused.value.message) == (kind, message)
    assert await row_counts(local_ca.registry) == counts


async def test_k4_a_compromise_of_a_generation_not_live_is_refused_and_changes_nothing(
    local_ca: LocalCA, before: Before
) -> None:
    await declare(local_ca, before)
    counts = await row_counts(local_ca.registry)
    with pytest.raises(CAError) as refused:
        await declare(local_ca, before)
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED,
        "generation 1 of CA 'demo' is compromised, not active: only a live generation's key"
        " can be declared compromised; nothing was recorded",
    )
    assert await row_counts(local_ca.registry) == counts


async def test_revoke_still_refuses_ca_and_link_certificates(
    local_ca: LocalCA, before: Before
) -> None:
    done = await declare(local_ca, before)
    revocation = Revocation(local_ca.registry, local_ca.clock, before.status)
    own = [
        done.old.serial,
        done.new.serial,
        *[link.serial for link in await local_ca.registry.links("demo")],
    ]
    for serial in own:
        with pytest.raises(CAError) as refused:
            await revocation.revoke(serial, CRLReason.cACompromise, "officer")
        assert refused.value.kind is ErrorKind.FORBIDDEN, serial
        assert "CA key change procedure" in refused.value.message


async def test_k4_refused_when_the_issuing_ca_certificate_is_not_valid_now(
    local_ca: LocalCA, before: Before
) -> None:
    """The new CA certificate is made like the issuing generation's (generation 2)."""
    issuing = await local_ca.registry.active_generation("demo")
    assert issuing is not None and issuing.id == 2
    local_ca.clock.advance(seconds=(issuing.not_after - local_ca.clock()).total_seconds())
    counts = await row_counts(local_ca.registry)
    with pytest.raises(CAError) as refused:
        await declare(local_ca, before)
    assert (refused.value.kind, refused.value.message) == (
        ErrorKind.REJECTED, "generation 2's CA certificate is not valid now")  # fmt: skip
    assert await row_counts(local_ca.registry) == counts


async def test_k4_the_new_ca_certificate_takes_the_current_settings_content(
    local_ca: LocalCA, before: Before
) -> None:
    """As a rollover's NewWithNew: with ca.subject_sign_tool set, the Russian profile's CA
    content (subjectSignTool, RFC 9215 5.3), and pkilint clean."""
    done = await declare(local_ca, before, subject_sign_tool="Test tool")
    new = certificate(done.new.certificate_der)
    tool = new.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.2.643.100.111"))
    assert tool.critical is False
    assert lint_certificate(done.new.certificate_der) == []
