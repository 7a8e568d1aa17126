"""OCSP CertIDs hashed with GOST R 34.11-2012 (Streebog-256/512, RFC 6960 4.1.1 with the
RFC 9215 digest OIDs), as Russian clients send them (reference/ru-profile.md 7).

Vectors: requests made here by `openssl ocsp -md_gost12_256/-md_gost12_512 -reqout` with
gost-engine loaded by configuration, for a GOST CA certificate made by `openssl req -x509`;
the expected hashes computed by gostcrypto, apart from the engine that protocols/ uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509

from protocols import der, gost, ocsp
from protocols.der import spki_parts
from tests.gost_support import openssl, require_engine, streebog


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ca.pem, a self-signed GOST 2012-256 (TC26-A) CA certificate."""
    require_engine()
    work = tmp_path_factory.mktemp("gost-ocsp")
    openssl(work, "genpkey", "-algorithm", "gost2012_256", "-pkeyopt", "paramset:TCA",
            "-out", "ca.key")  # fmt: skip
    openssl(work, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=GOST OCSP CA/C=RU",
            "-md_gost12_256", "-days", "30", "-out", "ca.pem")  # fmt: skip
    return work


def _issuer_parts(work: Path) -> tuple[bytes, bytes]:
    """(subject Name DER, SubjectPublicKeyInfo DER) of ca.pem."""
    openssl(work, "x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der")
    tbs = asn1_x509.Certificate.load((work / "ca.der").read_bytes())["tbs_certificate"]
    return tbs["subject"].dump(), tbs["subject_public_key_info"].dump()


@pytest.mark.parametrize(("flag", "name"), [("-md_gost12_256", "streebog256"),
                                            ("-md_gost12_512", "streebog512")])  # fmt: skip
@pytest.mark.parametrize("nonce", [True, False])
def test_rfc6960_4_1_1_streebog_cert_id_from_openssl_decodes(
    issuer: Path, flag: str, name: str, nonce: bool
) -> None:
    openssl(issuer, "ocsp", "-issuer", "ca.pem", flag, "-serial", "0x99", "-reqout", "req.der",
            *([] if nonce else ["-no_nonce"]))  # fmt: skip
    request = ocsp.parse_ocsp_request((issuer / "req.der").read_bytes())
    [cert_id] = request.cert_ids
    assert (cert_id.hash_algorithm, cert_id.serial) == (name, 0x99)
    assert (request.nonce is not None) is nonce
    name_der, spki_der = _issuer_parts(issuer)
    parts = spki_parts(spki_der)
    assert parts is not None and gost.is_gost_spki(spki_der)
    # what the client computed, what gostcrypto computes, what protocols/ computes
    assert cert_id.issuer_name_hash == streebog(name, name_der)
    assert cert_id.issuer_key_hash == streebog(name, parts[1][1:])
    assert ocsp.issuer_name_hash(name_der, name) == cert_id.issuer_name_hash
    assert ocsp.issuer_key_hash(spki_der, name) == cert_id.issuer_key_hash
    # and the CertID made here is the client's, octet for octet (NULL parameters, as OpenSSL)
    assert ocsp.cert_id_for(name_der, spki_der, 0x99, name).der == cert_id.der


@pytest.mark.parametrize("name", ["streebog256", "streebog512"])
@pytest.mark.parametrize("null_parameters", [True, False])
def test_rfc6960_4_1_1_streebog_cert_ids_round_trip_in_a_request_of_two(
    issuer: Path, name: str, null_parameters: bool
) -> None:
    """Two CertIDs (the general parser, not the one-CertID fast path), each repeated as sent."""
    name_der, spki_der = _issuer_parts(issuer)
    made = [
        ocsp.cert_id_for(name_der, spki_der, serial, name, null_parameters) for serial in (1, 2)
    ]
    requests = b"".join(der.tlv(0x30, cert_id.der) for cert_id in made)
    request_der = der.tlv(0x30, der.tlv(0x30, der.tlv(0x30, requests)))
    parsed = ocsp.parse_ocsp_request(request_der)
    assert list(parsed.cert_ids) == made
    assert ocsp.HASH_ALGORITHMS[name] == gost.DIGEST_OIDS[int(name[-3:])]
