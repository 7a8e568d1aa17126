"""A rollover of the self-signed CA (regulation K2; RFC 9810 4.4 root CA key update; issue
15, step 2): the new generation and its link certificates, issuance moving to it at once,
the old generation keeping its CRLs and OCSP, running processes learning the new
generation without a restart, and a rollover that another overtook refused. A real
registry file, the software backend, the clock injected; OpenSSL and pkilint as relying
parties."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp

from config import load_settings
from protocols import ocsp
from protocols.crl import CRLReason
from protocols.x509 import extensions as ext
from server.authority import Authority, IssuedCertificate
from server.cmp.identity import CMPIdentities
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.generations.rollover import RolledOver, rollover
from server.registry import CAGeneration, Rollover
from server.registry.registry_copy import row_counts
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.cmp_client import (
    IMPLICIT_CONFIRM,
    cert_req_messages,
    cert_request,
    mac_client,
    signing_client,
)
from tests.csr_factory import make_csr
from tests.lint import lint_certificate
from tests.local_ca import LocalCA
from tests.unit.server.test_cmp_rfc9483_kur_suite import ca_pubs_of, new_key, rejected
from tests.unit.server.test_crl_remove_from_crl import pem

SECRET = "test home secret"


@dataclass
class Rolled:
    old_certificate: IssuedCertificate  # issued under generation 1 before the rollover
    done: RolledOver
    status: StatusPublication  # made before the rollover: it knew generation 1 only
    authority: Authority
    revocation: Revocation

    async def issue(self, name: str) -> IssuedCertificate:
        return await self.authority.issue("tls-client", make_csr([("CN", name)]), "t")


async def roll(
    local_ca: LocalCA, status: StatusPublication, reason: str = "scheduled"
) -> RolledOver:
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          status)  # fmt: skip
    return await rollover(local_ca.settings, local_ca.registry, local_ca.backend, authority,
                          local_ca.clock(), SECRET, "cli:operator", reason)  # fmt: skip


@pytest.fixture
async def rolled(local_ca: LocalCA) -> Rolled:
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          status)  # fmt: skip
    old = await authority.issue("tls-client", make_csr([("CN", "old")]), "t")
    local_ca.clock.advance(days=30)
    done = await roll(local_ca, status)
    return Rolled(old, done, status, authority, Revocation(local_ca.registry, local_ca.clock,
                                                           status))  # fmt: skip


def certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def key_ids(der: bytes) -> tuple[bytes, bytes]:
    """(subjectKeyIdentifier, authorityKeyIdentifier keyIdentifier)."""
    loaded = certificate(der)
    ski = loaded.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = loaded.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    return ski, aki.key_identifier


def spki(der: bytes) -> bytes:
    return asn1_x509.Certificate.load(der).public_key.dump()


def ocsp_request(ca_der: bytes, serial: str) -> bytes:
    ca = asn1_x509.Certificate.load(ca_der)
    cert_id = ocsp.cert_id_for(ca.subject.dump(), ca.public_key.dump(), int(serial, 16))
    builder = x509_ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        cert_id.issuer_name_hash, cert_id.issuer_key_hash, cert_id.serial, hashes.SHA1()
    )
    return builder.build().public_bytes(Encoding.DER)


async def ask(status: StatusPublication, ca_der: bytes, serial: str) -> ocsp.ParsedSingle:
    answer = await status.ocsp.answer(ocsp_request(ca_der, serial))
    result, singles, _ = ocsp.parse_ocsp_response(answer.der)
    assert result is ocsp.OCSPResponseStatus.successful
    return singles[0]


def responder_of(answer_der: bytes) -> x509.Certificate:
    [responder] = x509_ocsp.load_der_ocsp_response(answer_der).certificates
    return responder


# -- the certificates of the key update (RFC 9810 4.4) -----------------------------------


async def test_rfc9810_4_4_new_with_new_is_the_old_certificate_with_a_new_key(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    old, new = rolled.done.old, rolled.done.new
    old_cert, new_cert = certificate(old.certificate_der), certificate(new.certificate_der)
    assert new.id == old.id + 1 and new.state == "active" and not new.first
    assert new_cert.subject == new_cert.issuer == old_cert.subject
    assert spki(new.certificate_der) != spki(old.certificate_der)
    assert key_ids(new.certificate_der) == (new.key_id, new.key_id)
    assert new.key_id == ext.key_identifier(spki(new.certificate_der)) != old.key_id
    new_cert.verify_directly_issued_by(new_cert)  # self-signed
    now = local_ca.clock()
    assert new_cert.not_valid_before_utc == now.replace(microsecond=0)
    days = local_ca.settings.ca.validity_days
    assert new_cert.not_valid_after_utc == (now + timedelta(days=days)).replace(microsecond=0)

    def others(c: x509.Certificate) -> list[x509.Extension[Any]]:
        kept = (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)
        return [e for e in c.extensions if not isinstance(e.value, kept)]

    assert others(new_cert) == others(old_cert)


async def test_rfc9810_4_4_new_with_old_certifies_the_new_key_under_the_old_key(
    rolled: Rolled,
) -> None:
    done = rolled.done
    link = certificate(done.new_with_old.der)
    old_cert = certificate(done.old.certificate_der)
    new_cert = certificate(done.new.certificate_der)
    recorded = done.new_with_old
    assert (recorded.kind, recorded.issuer_generation_id, recorded.subject_generation_id) == (
        "new_with_old", done.old.id, done.new.id)  # fmt: skip
    assert link.issuer == old_cert.subject and link.subject == new_cert.subject
    assert spki(done.new_with_old.der) == spki(done.new.certificate_der)
    assert key_ids(done.new_with_old.der) == (done.new.key_id, done.old.key_id)
    link.verify_directly_issued_by(old_cert)  # the old key signed it
    assert link.not_valid_before_utc == new_cert.not_valid_before_utc
    assert link.not_valid_after_utc == old_cert.not_valid_after_utc  # at the latest OldWithOld's
    assert link.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


async def test_rfc9810_4_4_old_with_new_certifies_the_old_key_under_the_new_key(
    rolled: Rolled,
) -> None:
    done = rolled.done
    link = certificate(done.old_with_new.der)
    old_cert = certificate(done.old.certificate_der)
    new_cert = certificate(done.new.certificate_der)
    recorded = done.old_with_new
    assert (recorded.kind, recorded.issuer_generation_id, recorded.subject_generation_id) == (
        "old_with_new", done.new.id, done.old.id)  # fmt: skip
    assert link.issuer == new_cert.subject and link.subject == old_cert.subject
    assert spki(done.old_with_new.der) == spki(done.old.certificate_der)
    assert key_ids(done.old_with_new.der) == (done.old.key_id, done.new.key_id)
    link.verify_directly_issued_by(new_cert)  # the new key signed it
    assert (link.not_valid_before_utc, link.not_valid_after_utc) == (
        old_cert.not_valid_before_utc, old_cert.not_valid_after_utc)  # fmt: skip


async def test_rfc9810_4_4_the_links_and_the_new_ca_certificate_pass_pkilint(
    rolled: Rolled,
) -> None:
    done = rolled.done
    for der in (done.new.certificate_der, done.new_with_old.der, done.old_with_new.der):
        assert lint_certificate(der) == []


async def test_rfc9810_4_4_the_registry_keeps_the_links_and_refuses_to_revoke_them(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    done = rolled.done
    assert await local_ca.registry.links("demo") == [done.new_with_old, done.old_with_new]
    for link in (done.new_with_old, done.old_with_new):
        with pytest.raises(CAError) as refused:
            await rolled.revocation.revoke(link.serial, CRLReason.superseded, "officer")
        assert refused.value.kind is ErrorKind.FORBIDDEN
        assert refused.value.message.startswith(
            f"certificate {link.serial} is a link certificate of generation "
            f"{link.subject_generation_id} (RFC 9810 4.4): the ordinary revocation"
        )
    assert await local_ca.registry.ca_own_certificate(done.new.serial) == (
        f"the CA certificate of generation {done.new.id}")  # fmt: skip


def openssl_verify(at: Any, trusted: Path, leaf: Path, *untrusted: Path) -> str:
    extra = [arg for path in untrusted for arg in ("-untrusted", str(path))]
    return subprocess.run(
        ["openssl", "verify", "-attime", str(int(at.timestamp())), "-CAfile", str(trusted),
         *extra, str(leaf)],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip


async def test_rfc9810_4_4_openssl_builds_chains_across_generations_with_the_links(
    rolled: Rolled, local_ca: LocalCA, tmp_path: Path
) -> None:
    done, now = rolled.done, local_ca.clock()
    new_leaf = pem(tmp_path, "new-leaf", (await rolled.issue("new")).der)
    old_leaf = pem(tmp_path, "old-leaf", rolled.old_certificate.der)
    new_root = pem(tmp_path, "new-root", done.new.certificate_der)
    old_root = pem(tmp_path, "old-root", done.old.certificate_der)
    old_with_new = pem(tmp_path, "old-with-new", done.old_with_new.der)
    new_with_old = pem(tmp_path, "new-with-old", done.new_with_old.der)
    assert openssl_verify(now, new_root, new_leaf) == f"{new_leaf}: OK\n"
    # A relying party that trusts only the new root, with OldWithNew as intermediate.
    assert openssl_verify(now, new_root, old_leaf, old_with_new) == f"{old_leaf}: OK\n"
    assert openssl_verify(now, new_root, old_leaf) != f"{old_leaf}: OK\n"
    # One that trusts only the old root, with NewWithOld.
    assert openssl_verify(now, old_root, new_leaf, new_with_old) == f"{new_leaf}: OK\n"


# -- issuance after the rollover (K2, D10) ------------------------------------------------


async def test_k2_rollover_moves_issuance_to_the_new_generation_at_once(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    new = rolled.done.new
    issued = await rolled.issue("new")  # the Authority was made before the rollover
    leaf = certificate(issued.der)
    assert issued.issuer_der == new.certificate_der
    leaf.verify_directly_issued_by(certificate(new.certificate_der))
    assert key_ids(issued.der)[1] == new.key_id
    name = f"demo-{new.key_id.hex()}"
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [str(p.full_name[0].value) for p in points] == [f"http://127.0.0.1:8080/crl/{name}.crl"]
    access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ca_issuers = [str(a.access_location.value) for a in access
                  if a.access_method == x509.AuthorityInformationAccessOID.CA_ISSUERS]  # fmt: skip
    assert ca_issuers == [f"http://127.0.0.1:8080/ca/{name}.crt"]
    record = await local_ca.registry.get_certificate(issued.serial)
    assert record is not None and record.generation_id == new.id


async def test_d10_new_certificates_capped_by_the_new_ca_certificate(local_ca: LocalCA) -> None:
    # The new CA certificate is made for 30 days; the profile's certificates last longer,
    # the old CA certificate much longer.
    settings = load_settings(local_ca.settings.home, {"CA_CA__VALIDITY_DAYS": "30"})
    status = StatusPublication(settings, local_ca.registry, local_ca.signer, local_ca.clock,
                               builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(settings, local_ca.registry, local_ca.signer, local_ca.clock, status)
    done = await rollover(settings, local_ca.registry, local_ca.backend, authority,
                          local_ca.clock(), SECRET, "t", "short")  # fmt: skip
    assert done.new.not_after == local_ca.clock() + timedelta(days=30) < done.old.not_after
    issued = await authority.issue("tls-client", make_csr([("CN", "capped")]), "t")
    assert certificate(issued.der).not_valid_after_utc == done.new.not_after.replace(microsecond=0)
    # NewWithOld ends with NewWithNew when that is sooner than OldWithOld.
    assert certificate(done.new_with_old.der).not_valid_after_utc == (
        done.new.not_after.replace(microsecond=0))  # fmt: skip


# -- status after the rollover (K3, RFC 6960) --------------------------------------------


async def test_k3_old_certificates_keep_old_crl_and_ocsp_after_rollover(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    done, old = rolled.done, rolled.old_certificate
    await rolled.revocation.revoke(old.serial, CRLReason.keyCompromise, "officer")
    await rolled.status.crls.rebuild()
    serial = int(old.serial, 16)
    old_crl = rolled.status.crls.current(0, False, done.old.id)
    new_crl = rolled.status.crls.current(0, False, done.new.id)
    assert old_crl is not None and new_crl is not None
    listed = {g: [r.serial_number for r in x509.load_der_x509_crl(c.der)]
              for g, c in ((done.old.id, old_crl), (done.new.id, new_crl))}  # fmt: skip
    assert listed == {done.old.id: [serial], done.new.id: []}
    x509.load_der_x509_crl(old_crl.der).is_signature_valid(
        certificate(done.old.certificate_der).public_key())  # fmt: skip
    single = await ask(rolled.status, done.old.certificate_der, old.serial)
    assert (single.status, single.revocation_reason) == (ocsp.CertStatus.REVOKED, 1)
    # Under the new key's issuerKeyHash the old certificate is not known.
    other = await ask(rolled.status, done.new.certificate_der, old.serial)
    assert other.status is ocsp.CertStatus.UNKNOWN


async def test_rfc6960_4_2_2_2_new_generation_has_its_own_responder_answering_at_once(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    """`rolled.status` learnt generation 1 before the rollover and was never told to read
    the generations again: the first issuance under the new one stores its response."""
    done = rolled.done
    issued = await rolled.issue("new")
    stored = await local_ca.registry.status.ocsp_response(issued.serial)  # with the certificate
    assert stored is not None and stored.generation_id == done.new.id
    answer = await rolled.status.ocsp.answer(ocsp_request(done.new.certificate_der, issued.serial))
    result, [single], _ = ocsp.parse_ocsp_response(answer.der)
    assert (result, single.status) == (ocsp.OCSPResponseStatus.successful, ocsp.CertStatus.GOOD)
    responder = responder_of(answer.der)
    assert format(responder.serial_number, "x") == done.responder_serial
    responder.verify_directly_issued_by(certificate(done.new.certificate_der))
    assert lint_certificate(responder.public_bytes(Encoding.DER)) == []


async def test_rfc6960_4_2_2_2_another_process_answers_for_the_new_generation_within_a_second(
    local_ca: LocalCA,
) -> None:
    """A server process that read the generations before the rollover answers a request
    naming the new CA key once a second has passed since that read (it reads them again
    for an unknown issuer, at most once a second)."""
    builder = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                local_ca.clock, builder=True)  # fmt: skip
    await builder.ocsp.load_issuers()
    other_registry = await open_registry(local_ca.settings)
    try:
        worker = StatusPublication(local_ca.settings, other_registry, local_ca.signer,
                                   local_ca.clock, serving=False)  # fmt: skip
        await worker.ocsp.load_issuers()
        done = await roll(local_ca, builder)
        authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer,
                              local_ca.clock, builder)  # fmt: skip
        issued = await authority.issue("tls-client", make_csr([("CN", "new")]), "t")
        request = ocsp_request(done.new.certificate_der, issued.serial)
        answer = await worker.ocsp.answer(request)
        assert ocsp.parse_ocsp_response(answer.der)[0] is ocsp.OCSPResponseStatus.unauthorized
        local_ca.clock.advance(seconds=1)
        single = await ask(worker, done.new.certificate_der, issued.serial)
        assert single.status is ocsp.CertStatus.GOOD
        assert worker.ocsp.responders_expiring(done.new.not_after + timedelta(days=1)) != []
    finally:
        await other_registry.close()


@pytest.mark.parametrize("builder", [True, False])
async def test_rfc6960_4_2_2_2_every_process_takes_up_the_new_generation_at_its_ocsp_upkeep(
    local_ca: LocalCA, builder: bool
) -> None:
    """The periodic OCSP upkeep (publication.OCSP_REFRESH_EVERY_S) reads the generations in
    the process holding the duties as in the others: afterwards a request naming the new
    CA key is answered with no further read."""
    issuing = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                local_ca.clock, builder=True)  # fmt: skip
    await issuing.ocsp.load_issuers()
    process = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                local_ca.clock, builder=builder)  # fmt: skip
    await process.ocsp.load_issuers()
    done = await roll(local_ca, issuing)
    await process.maintain_ocsp()
    registry = local_ca.registry
    original = registry.generations

    async def refused(ca_name: str) -> list[CAGeneration]:
        raise AssertionError("read again")

    registry.generations = refused  # type: ignore[method-assign]
    try:
        single = await ask(process, done.new.certificate_der, done.cmp_serial)
    finally:
        registry.generations = original  # type: ignore[method-assign]
    assert single.status is ocsp.CertStatus.GOOD


async def test_rfc6960_2_3_unknown_issuers_read_the_generations_at_most_once_a_second(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    stranger = rolled.old_certificate.der  # a leaf's name and key: no issuer of ours
    reads: list[str] = []
    registry = local_ca.registry
    original = registry.generations

    async def counted(ca_name: str) -> list[CAGeneration]:
        reads.append(ca_name)
        return await original(ca_name)

    registry.generations = counted  # type: ignore[method-assign]
    request = ocsp_request(stranger, "1")
    unauthorized = ocsp.OCSPResponseStatus.unauthorized
    local_ca.clock.advance(seconds=5)
    for _ in range(3):
        answer = await rolled.status.ocsp.answer(request)
        assert ocsp.parse_ocsp_response(answer.der)[0] is unauthorized
    assert len(reads) == 1
    local_ca.clock.advance(seconds=1)
    await rolled.status.ocsp.answer(request)
    assert len(reads) == 2


# -- CMP after the rollover (RFC 9483 3.3) -----------------------------------------------


async def test_rfc9483_3_3_cmp_protection_certificate_under_the_new_generation(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    done = rolled.done
    identities = CMPIdentities(local_ca.settings, local_ca.registry, rolled.authority,
                               local_ca.clock, lambda: SECRET)  # fmt: skip
    identity = await identities.current()
    assert identity is not None
    leaf, ca = identity.chain
    assert ca == done.new.certificate_der
    assert format(certificate(leaf).serial_number, "x") == done.cmp_serial
    certificate(leaf).verify_directly_issued_by(certificate(ca))


async def test_rfc9483_4_1_1_an_ir_after_the_rollover_is_answered_under_the_new_generation(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    """An ir by MAC, then one signed by the certificate it got: the certificates chain to
    the new CA certificate, caPubs is the new one, and the signed answer is protected by
    the new generation's CMP protection certificate, its chain in extraCerts."""
    done = rolled.done
    identities = CMPIdentities(local_ca.settings, local_ca.registry, rolled.authority,
                               local_ca.clock, lambda: SECRET)  # fmt: skip
    identity = await identities.current()
    client = await mac_client(local_ca, identity=identity)
    answer = await client.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(answer) == ("ip", "accepted", frozenset()), answer
    assert ca_pubs_of(answer) == [done.new.certificate_der]
    assert answer.certificate is not None
    certificate(answer.certificate).verify_directly_issued_by(certificate(done.new.certificate_der))
    enrolling = await mac_client(local_ca, server=client.server, identity=identity)
    holder = await signing_client(local_ca, enrolling)
    signed = await holder.send("ir", cert_req_messages(cert_request(key=new_key())), new=True,
                               generalInfo=IMPLICIT_CONFIRM)  # fmt: skip
    assert rejected(signed) == ("ip", "accepted", frozenset()), signed
    assert signed.protected
    assert identity is not None and list(signed.message.extra_certs[:2]) == identity.chain


# -- a rollover another overtook ----------------------------------------------------------


async def test_k2_rollover_refused_when_another_rollover_won(
    local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two rollovers from generation 1: the second records first (while the first is
    signing). The first is refused by name and records nothing; the keys it made are
    named in a warning (nothing destroys a key yet)."""
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    registry = local_ca.registry
    record = registry.record_rollover
    before: dict[str, Any] = {}

    async def overtaken(rollover_record: Rollover, at: Any) -> int:
        monkeypatch.setattr(registry, "record_rollover", record)
        before["winner"] = await roll(local_ca, status, "the other operator")
        before["rows"] = await row_counts(registry)
        before["generations"] = await registry.generations("demo")
        before["links"] = await registry.links("demo")
        before["audit"] = await registry.audit_head()
        return await record(rollover_record, at)

    monkeypatch.setattr(registry, "record_rollover", overtaken)
    with pytest.raises(CAError) as refused:
        await roll(local_ca, status)
    assert refused.value.kind is ErrorKind.REJECTED
    assert refused.value.message == (
        "generation 1 is no longer the active generation of CA 'demo': another rollover came"
        " first; nothing was recorded"
    )
    assert await row_counts(registry) == before["rows"]
    assert await registry.generations("demo") == before["generations"]
    assert await registry.links("demo") == before["links"]
    assert await registry.audit_head() == before["audit"]
    assert [g.id for g in before["generations"]] == [1, 2]
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("rollover not recorded; keys made for it left in the backend: ")
    assert warning.count("file:") == 2 and "-ca-g2-" in warning and "-ocsp-g2-" in warning


async def test_k2_rollover_is_audited_and_the_chain_verifies(
    rolled: Rolled, local_ca: LocalCA
) -> None:
    done = rolled.done
    report = await local_ca.registry.verify_audit_chain()
    assert report.intact
    entries = [e for e in await local_ca.registry.search.audit_entries(100, None)
               if e.action == "ca.generation.rollover"]  # fmt: skip
    assert [(e.actor, e.target, e.details) for e in entries] == [(
        "cli:operator", done.new.serial,
        {"ca": "demo", "from": done.old.id, "to": done.new.id, "reason": "scheduled",
         "links": [done.new_with_old.serial, done.old_with_new.serial]},
    )]  # fmt: skip
