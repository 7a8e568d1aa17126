"""A compromised generation keeps its own OCSP responder (regulation K3, K4; server/
server/generations/compromise.py): its key goes on signing its CRLs and renewing its responder
certificate, so the answers about its certificates (revoked by the compromise) keep
verifying for relying parties who still trust its CA certificate, past the first
responder certificate's end. A real registry file, the software backend, the clock
injected; `openssl ocsp` as the relying party."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography import x509

from server.authority import Authority
from server.generations.compromise import compromise
from server.generations.responder import issue_ocsp_responder
from server.registry import CAGeneration
from server.status.publication import StatusPublication
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA
from tests.unit.server.test_ca_life import leaf_name, openssl_ocsp
from tests.unit.server.test_rollover import SECRET

GROUNDS = "the CA key's backup was found copied"


async def test_k4_a_compromised_generation_s_responder_is_renewed_by_its_own_key(
    local_ca: LocalCA, tmp_path: Path
) -> None:
    async def renew(generation: CAGeneration) -> None:  # as server/context.py renews one
        await issue_ocsp_responder(local_ca.settings, local_ca.backend, authority, generation,
                                   local_ca.clock(), "ca:responder-renewal")  # fmt: skip

    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True, renew_responder=renew)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          status)  # fmt: skip
    issued = await authority.issue("tls-client", make_csr([("CN", "held")]), "t")
    done = await compromise(local_ca.settings, local_ca.registry, local_ca.backend, authority,
                            status, local_ca.clock(), SECRET, "api:officer", 1,
                            GROUNDS)  # fmt: skip
    old = done.old
    first = await local_ca.registry.ocsp_responder(old.id)
    assert first is not None
    first_responder = await local_ca.registry.get_certificate(first[0])
    assert first_responder is not None

    # Inside ca.ocsp_responder_renew_before_days of its end (30-day responders, 10 days):
    # renewed, by the compromised generation's own key, as the issuing generation's is.
    local_ca.clock.advance(days=21)
    await status.maintain_ocsp()
    renewed = await local_ca.registry.ocsp_responder(old.id)
    assert renewed is not None and renewed[0] != first[0]
    record = await local_ca.registry.get_certificate(renewed[0])
    assert record is not None and record.der is not None and record.generation_id == old.id
    responder = x509.load_der_x509_certificate(record.der)
    responder.verify_directly_issued_by(x509.load_der_x509_certificate(old.certificate_der))
    assert responder.not_valid_after_utc > first_responder.not_after
    generations = {g.id: g.state for g in await local_ca.registry.generations("demo")}
    assert generations == {1: "compromised", 2: "active"}

    # Past the first responder certificate's end, the answer about the certificate the
    # compromise revoked still verifies against the compromised CA certificate (RFC 6960
    # 4.2.2.2: a delegated responder certified by the CA that issued the certificate).
    local_ca.clock.now = first_responder.not_after + timedelta(days=1)
    await status.maintain_ocsp()
    out = await openssl_ocsp(tmp_path, status, local_ca.clock(), old, issued, renewed[0])
    assert "Response verify OK" in out and "times invalid" not in out, out
    assert f"{leaf_name(issued)}: revoked" in out, out
