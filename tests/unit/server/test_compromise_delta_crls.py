"""The CA's own certificates a compromise revoked (ca_revocations, K4) and the delta CRLs of
the generation that lists them (RFC 5280 5.2.4). A delta CRL lists only the certificates
whose status changed since its base, a complete CRL of the same generation (same issuer,
same key) that the relying party combines it with. The generation listing them is the one
the compromise made, recorded in the transaction that recorded the revocations, so every
complete CRL it ever signs lists them, and so does every base of its deltas: base and delta
together always show them revoked, while the delta itself does not repeat them, as the
base's unchanged entries are not repeated. This test holds both as the base moves
(`crl.base_interval_hours`) and other revocations come. A real registry file, the software
backend, the clock injected; the CRLs parsed, signatures checked, pkilint."""

from __future__ import annotations

from cryptography import x509

from protocols.crl import CRLReason
from server.authority import Authority
from server.generations.compromise import compromise
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.csr_factory import make_csr
from tests.lint import lint_crl
from tests.local_ca import LocalCA
from tests.unit.server.test_rollover import SECRET, roll

GROUNDS = "the CA key's backup was found copied"


def entries(crl: x509.CertificateRevocationList) -> dict[str, x509.ReasonFlags | None]:
    found = {}
    for entry in crl:
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        found[format(entry.serial_number, "x")] = reason
    return found


async def test_rfc5280_5_2_4_every_delta_base_lists_what_a_compromise_revoked(
    local_ca: LocalCA,
) -> None:
    settings = local_ca.settings
    assert settings.crl.deltas and settings.crl.shards == 1
    status = StatusPublication(settings, local_ca.registry, local_ca.signer, local_ca.clock,
                               builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(settings, local_ca.registry, local_ca.signer, local_ca.clock, status)
    revocation = Revocation(local_ca.registry, local_ca.clock, status)
    local_ca.clock.advance(days=30)
    await roll(local_ca, status)  # generation 2, with the links to generation 1
    done = await compromise(settings, local_ca.registry, local_ca.backend, authority, status,
                            local_ca.clock(), SECRET, "api:officer", 1, GROUNDS)  # fmt: skip
    assert len(done.revoked) == 3  # generation 1's CA certificate and both links
    lister = done.new
    root = x509.load_der_x509_certificate(lister.certificate_der).public_key()

    fulls: dict[int, x509.CertificateRevocationList] = {}
    revoked_later: list[str] = []
    for round_ in range(4):
        if round_:  # the base moves on every crl.base_interval_hours; revocations come
            local_ca.clock.advance(hours=settings.crl.base_interval_hours / 2 + 1)
            issued = await authority.issue("tls-client", make_csr([("CN", f"c{round_}")]), "t")
            await revocation.revoke(issued.serial, CRLReason.keyCompromise, "officer")
            revoked_later.append(issued.serial)
        await status.crls.rebuild()
        full_published = status.crls.current(0, False, lister.id)
        delta_published = status.crls.current(0, True, lister.id)
        assert full_published is not None and delta_published is not None
        full = x509.load_der_x509_crl(full_published.der)
        delta = x509.load_der_x509_crl(delta_published.der)
        for crl, der in ((full, full_published.der), (delta, delta_published.der)):
            assert crl.is_signature_valid(root)  # type: ignore[arg-type]
            assert lint_crl(der) == []
        fulls[full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number] = full
        base_number = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value
        base = fulls[base_number.crl_number]  # a complete CRL of the same generation
        base_entries, delta_entries = entries(base), entries(delta)
        for serial in done.revoked:
            assert base_entries[serial] is x509.ReasonFlags.ca_compromise
            assert serial not in delta_entries  # unchanged since the base
        combined = {**base_entries, **delta_entries}  # as a relying party combines them
        assert set(done.revoked) | set(revoked_later) <= set(combined)
        assert set(delta_entries) <= set(revoked_later)
    assert len(fulls) == 4
    final_base = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value
    assert final_base.crl_number != min(fulls)  # the base moved on at least once
