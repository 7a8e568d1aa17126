"""The fuzz tests start from messages our parsers read: every OpenSSL and Bouncy Castle
seed decodes (RFC 4210 5.1, RFC 6960 4.1.1, RFC 2986, RFC 5280 5.1), so mutants reach
the inner parsers rather than dying at the first octet."""

from __future__ import annotations

from protocols import cmp, crl, ocsp
from protocols.x509 import csr
from tests.fuzz.conftest import Seeds


def test_rfc4210_rfc6960_rfc2986_rfc5280_every_seed_decodes(seeds: Seeds) -> None:
    assert len(seeds.cmp) == 8 and len(seeds.ocsp) == 5 and len(seeds.csr) == 3
    messages = [cmp.parse_pki_message(message) for message in seeds.cmp]
    kinds = sorted(message.body_type for message in messages)
    assert kinds == ["cr", "genm", "genm", "ir", "ir", "p10cr", "p10cr", "rr"]
    signed = [m.body_type for m in messages if cmp.verify_signature(m, seeds.certificate)]
    assert signed == ["cr", "rr"]  # the rest are MAC-protected: reference 1234, s3cret
    for message in messages:
        if message.body_type not in signed:
            cmp.verify_mac(message, b"s3cret", 1, 10_000)
    nonces = [ocsp.parse_ocsp_request(request).nonce is not None for request in seeds.ocsp]
    assert nonces == [True, False, True, True, False]
    names = [dict(csr.parse_csr(request).subject)["CN"] for request in seeds.csr]
    assert names == ["seed", "p10", "bc-seed"]
    assert crl.parse_crl(seeds.crl[0]).entries == {}
