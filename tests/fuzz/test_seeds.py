"""The fuzz tests start from messages our parsers read: every OpenSSL and Bouncy Castle
seed decodes (RFC 4210 5.1, RFC 6960 4.1.1, RFC 2986, RFC 5280 5.1), so mutants reach
the inner parsers rather than dying at the first octet."""

from __future__ import annotations

from protocols import cmp, crl, ocsp
from protocols.x509 import csr
from tests.fuzz.conftest import Seeds


def test_rfc4210_rfc6960_rfc2986_rfc5280_every_seed_decodes(seeds: Seeds) -> None:
    assert len(seeds.cmp) == 8 and len(seeds.ocsp) == 5 and len(seeds.csr) == 3
    kinds = sorted(cmp.parse_pki_message(message).body_type for message in seeds.cmp)
    assert kinds == ["cr", "genm", "genm", "ir", "ir", "p10cr", "p10cr", "rr"]
    nonces = [ocsp.parse_ocsp_request(request).nonce is not None for request in seeds.ocsp]
    assert nonces == [True, False, True, True, False]
    names = [dict(csr.parse_csr(request).subject)["CN"] for request in seeds.csr]
    assert names == ["seed", "p10", "bc-seed"]
    assert crl.parse_crl(seeds.crl[0]).entries == {}
