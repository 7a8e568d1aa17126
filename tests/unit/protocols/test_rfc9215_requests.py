"""Certification requests with GOST R 34.10-2012 keys: PKCS#10 (RFC 2986 section 3, the
request's signature as proof of possession) and CRMF (RFC 4211 4.1, POPOSigningKey), under
id-tc26-signwithdigest-gost3410-12-256/512 (RFC 9215).

The PKCS#10 vectors are made here by `openssl req -engine gost` (reference/ru-profile.md
6.1), as a Russian subscriber's tools would, for every 256-bit parameter set and each
512-bit one; the CRMF ones are written by hand and signed by hsm.gost_engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import core
from cryptography import x509
from hypothesis import given

from hsm import gost_engine
from protocols import der, gost
from protocols.cmp import crmf
from protocols.x509 import signatures
from protocols.x509.csr import BadProofOfPossession, MalformedCSR, key_description, parse_csr
from protocols.x509.spki import certificate_spki
from tests import gost_oracle
from tests.fuzz.mutations import FUZZ, hostile
from tests.gost_support import (
    RFC9215_256_TC26A_CERTIFICATE,
    openssl,
    require_engine,
)

SETS = [(256, p) for p in sorted(gost_engine.PARAMSETS_256)] + [
    (512, p) for p in sorted(gost_engine.PARAMSETS_512)
]
RFC9215_256_TC26A_SPKI = certificate_spki(RFC9215_256_TC26A_CERTIFICATE)
NO_POP = "the request's signature does not verify with its key"


@pytest.fixture(scope="module")
def csrs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, str], bytes]:
    """One CSR per parameter set, each from its own key, by the openssl command line."""
    require_engine()
    work = tmp_path_factory.mktemp("gost-csr")
    made = {}
    for bits, name in SETS:
        key = f"key-{bits}-{name}.pem"
        openssl(work, "genpkey", "-algorithm", f"gost2012_{bits}", "-pkeyopt", f"paramset:{name}",
                "-out", key)  # fmt: skip
        openssl(work, "req", "-new", "-key", key, "-subj", f"/CN=GOST {bits} {name}/O=Example",
                f"-md_gost12_{bits}", "-outform", "DER", "-out", f"{key}.csr")  # fmt: skip
        made[bits, name] = (work / f"{key}.csr").read_bytes()
    return made


@pytest.mark.parametrize(("bits", "name"), SETS)
def test_rfc2986_3_gost_request_from_openssl_proves_possession(
    csrs: dict[tuple[int, str], bytes], bits: int, name: str
) -> None:
    parsed = parse_csr(csrs[bits, name])
    assert parsed.subject == (("O", "Example"), ("CN", f"GOST {bits} {name}"))
    assert parsed.key_type == f"gost2012-{bits}-{name.lower()}"
    key = gost.read_spki(parsed.spki_der)
    assert parsed.spki_der == gost.canonical_spki(key)
    # the vector is what we think it is: gostcrypto verifies it apart from the engine
    request = x509.load_der_x509_csr(csrs[bits, name])
    assert request.signature_algorithm_oid.dotted_string == gost.SIGNATURE_OIDS[bits]
    assert gost_oracle.verify(parsed.spki_der, request.signature, request.tbs_certrequest_bytes)


@pytest.mark.parametrize(("bits", "name"), [(256, "A"), (256, "TCA"), (512, "C")])
def test_rfc2986_3_tampered_gost_request_is_refused(
    csrs: dict[tuple[int, str], bytes], bits: int, name: str
) -> None:
    sent = csrs[bits, name]
    bad_signature = sent[:-1] + bytes([sent[-1] ^ 1])
    with pytest.raises(BadProofOfPossession) as refused:
        parse_csr(bad_signature)
    assert str(refused.value) == NO_POP
    at = sent.index(f"GOST {bits} {name}".encode())
    other_subject = sent[:at] + b"H" + sent[at + 1 :]  # "HOST ...": the signed info changed
    with pytest.raises(BadProofOfPossession) as refused:
        parse_csr(other_subject)
    assert str(refused.value) == NO_POP


def _with_signature_algorithm(csr: bytes, algorithm: bytes) -> bytes:
    """The CertificationRequest with another signatureAlgorithm, the rest as it was."""
    outer = der.one(csr, 0, len(csr), 0x30)
    info, _, signature = der.children(csr, outer.start, outer.end)
    return der.tlv(
        0x30, csr[info.offset : info.end] + algorithm + csr[signature.offset : signature.end]
    )


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


def test_rfc9215_signature_parameters_absent_or_null_both_accepted(
    csrs: dict[tuple[int, str], bytes],
) -> None:
    """gost-engine writes NULL; RFC 9215's examples leave the parameters out."""
    sent = csrs[256, "A"]
    assert b"\x30\x0c" + _oid(gost.SIGNATURE_OIDS[256]) + b"\x05\x00" in sent  # NULL
    absent = _with_signature_algorithm(sent, der.tlv(0x30, _oid(gost.SIGNATURE_OIDS[256])))
    assert parse_csr(absent).key_type == parse_csr(sent).key_type == "gost2012-256-a"


def test_rfc9215_signature_parameters_other_than_null_are_refused(
    csrs: dict[tuple[int, str], bytes],
) -> None:
    algorithm = der.tlv(0x30, _oid(gost.SIGNATURE_OIDS[256]) + _oid(gost.DIGEST_OIDS[256]))
    with pytest.raises(MalformedCSR) as refused:
        parse_csr(_with_signature_algorithm(csrs[256, "A"], algorithm))
    assert str(refused.value) == (
        "signature algorithm 1.2.643.7.1.1.3.2 with parameters other than NULL"
    )


def test_rfc9215_signature_algorithm_of_the_other_key_size_is_refused(
    csrs: dict[tuple[int, str], bytes],
) -> None:
    algorithm = der.tlv(0x30, _oid(gost.SIGNATURE_OIDS[512]) + b"\x05\x00")
    with pytest.raises(MalformedCSR) as refused:
        parse_csr(_with_signature_algorithm(csrs[256, "TCB"], algorithm))
    assert str(refused.value) == (
        "signature algorithm 1.2.643.7.1.1.3.3 does not fit a GOST R 34.10-2012 256-bit, TC26-B key"
    )


def test_rfc9215_the_key_oid_as_signature_algorithm_is_not_a_gost_signature(
    csrs: dict[tuple[int, str], bytes],
) -> None:
    """CMS SignerInfo names the key's OID (ru-profile.md 5.2); a request does not (openssl req
    writes the signwithdigest OID), so here it is not taken for one."""
    algorithm = der.tlv(0x30, _oid(gost.KEY_OIDS[256]) + b"\x05\x00")
    with pytest.raises(MalformedCSR) as refused:
        parse_csr(_with_signature_algorithm(csrs[256, "A"], algorithm))
    assert str(refused.value) == (
        "signature algorithm 1.2.643.7.1.1.1.1 does not fit a "
        "GOST R 34.10-2012 256-bit, CryptoPro-A key"
    )


# --- CRMF ----------------------------------------------------------------------------------


def _cert_req_messages(key: gost_engine.PrivateKey, algorithm: bytes, tamper: bool) -> bytes:
    """CertReqMessages of one CertReqMsg: certReqId 0, a template of subject [5] and
    publicKey [6], and a POPOSigningKey [1] without poposkInput over the DER certReq."""
    spki = key.public_key_der()
    subject = x509.Name.from_rfc4514_string("CN=GOST device").public_bytes()
    template = der.tlv(0xA5, subject) + b"\xa6" + spki[1:]
    cert_req = der.tlv(0x30, b"\x02\x01\x00" + der.tlv(0x30, template))
    signature = key.sign(cert_req)
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    popo = der.tlv(0xA1, algorithm + der.tlv(0x03, b"\x00" + signature))
    return der.tlv(0x30, der.tlv(0x30, cert_req + popo))


@pytest.mark.parametrize(("bits", "name"), [(256, "A"), (256, "TCA"), (512, "B")])
@pytest.mark.parametrize("null", [True, False])
def test_rfc4211_4_1_gost_poposigningkey_verifies(bits: int, name: str, null: bool) -> None:
    require_engine()
    key = gost_engine.generate_private_key(bits, name)
    algorithm = der.tlv(0x30, _oid(gost.SIGNATURE_OIDS[bits]) + (b"\x05\x00" if null else b""))
    for tamper in (False, True):
        messages = _cert_req_messages(key, algorithm, tamper)
        by_pyasn1 = crmf.parse_cert_req_messages(messages)
        by_parts = crmf.cert_requests_by_parts(messages)
        assert by_parts is None or by_parts == by_pyasn1
        [request] = by_pyasn1
        assert request.pop == "signature"
        assert request.pop_valid is not tamper
        assert request.spki_der == key.public_key_der()


def test_rfc4211_4_1_gost_pop_under_the_other_size_or_a_foreign_key_does_not_count() -> None:
    require_engine()
    key = gost_engine.generate_private_key(256, "TCA")
    wrong_size = der.tlv(0x30, _oid(gost.SIGNATURE_OIDS[512]))
    [request] = crmf.parse_cert_req_messages(_cert_req_messages(key, wrong_size, False))
    assert not request.pop_valid
    other = gost_engine.generate_private_key(256, "TCA").public_key_der()
    message = b"signed octets"
    signature = key.sign(message)
    algorithm = der.tlv(0x30, _oid(gost.SIGNATURE_OIDS[256]))
    assert signatures.signature_valid(key.public_key_der(), algorithm, message, signature)
    assert not signatures.signature_valid(other, algorithm, message, signature)


def test_openssl_conf_helper_loads_the_engine(tmp_path: Path) -> None:
    """Streebog by name with no -engine flag: only the configuration can have loaded it."""
    require_engine()
    (tmp_path / "m").write_bytes(b"message")
    answer = openssl(tmp_path, "dgst", "-md_gost12_256", "-r", "m").stdout
    assert answer.split()[0] == gost_engine.digest("streebog256", b"message").hex()


def test_rfc2986_mutated_gost_requests_are_a_csr_or_refused(
    csrs: dict[tuple[int, str], bytes],
) -> None:
    """Any octets near a GOST request parse or raise the codec's two errors, nothing else
    (the engine's errors included); what parses has a key the CA can name."""
    seeds = [csrs[256, "A"], csrs[256, "TCA"], csrs[512, "B"]]

    @FUZZ
    @given(hostile(seeds))
    def check(data: bytes) -> None:
        try:
            request = parse_csr(data)
        except (MalformedCSR, BadProofOfPossession):
            return
        assert key_description(request.spki_der) == request.key_type

    check()


@FUZZ
@given(hostile([RFC9215_256_TC26A_SPKI]))
def test_rfc9215_any_octets_are_a_gost_key_or_value_error(data: bytes) -> None:
    try:
        key = gost.read_spki(data)
    except ValueError:
        return
    assert gost.read_spki(gost.canonical_spki(key)) == key
