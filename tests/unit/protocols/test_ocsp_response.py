"""OCSP responses end to end: build the SingleResponses and the ResponseData, sign them here
with `cryptography` (as the signer process would) with a delegated responder key (ECDSA
P-256 or RSA-2048), assemble, then check with three independent readers: `cryptography`
(`x509.ocsp.load_der_ocsp_response`, and the signature verified with the responder key),
`openssl ocsp` (signature, delegation, status and nonce check), and pkilint's OCSP response
linter (tests/lint.py). The PKI is made in the test (test_ocsp_request.PKI); time is fixed
and OpenSSL is told the same time (`-attime`, and a `-validity_period` wide enough for the
fixed thisUpdate/nextUpdate).
"""

import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp

from protocols.ocsp import (
    CertStatus,
    OCSPResponseStatus,
    ParsedSingle,
    assemble_ocsp_response,
    build_response_data,
    build_single_response,
    error_response,
    issuer_key_hash,
    parse_ocsp_request,
    parse_ocsp_response,
    signature_algorithm_for,
)
from tests.lint import lint_ocsp_response
from tests.unit.protocols.test_ocsp_request import NOW, PKI, openssl, openssl_request, spki_of

THIS_UPDATE = NOW - timedelta(hours=1)
NEXT_UPDATE = NOW + timedelta(days=4)
REVOKED_AT = datetime(2025, 5, 20, 12, 0, 5, tzinfo=UTC)
KINDS = ["ec-p256", "rsa-2048"]
# OpenSSL checks thisUpdate/nextUpdate against its clock: allow for the fixed dates.
WIDE_VALIDITY = str(100 * 365 * 24 * 3600)


def sign(key, tbs: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())


def respond(pki: PKI, kind: str, singles: list[bytes], nonce: bytes | None = None) -> bytes:
    """Build, sign with the responder key of ``kind``, assemble with its certificate."""
    key = pki.responder_keys[kind]
    spki = spki_of(key)
    data = build_response_data(issuer_key_hash(spki, "sha1"), NOW, singles, nonce)
    algorithm = signature_algorithm_for(spki)
    cert = pki.responders[kind].public_bytes(Encoding.DER)
    return assemble_ocsp_response(data, algorithm, sign(key, data), [cert])


def good(pki: PKI, serial: int, hash_algorithm: str = "sha1") -> bytes:
    cert_id = pki.cert_id(serial, hash_algorithm)
    return build_single_response(cert_id, CertStatus.GOOD, THIS_UPDATE, NEXT_UPDATE)


def revoked(pki: PKI, serial: int, reason: int | None) -> bytes:
    return build_single_response(
        pki.cert_id(serial), CertStatus.REVOKED, THIS_UPDATE, NEXT_UPDATE, REVOKED_AT, reason
    )


def unknown(pki: PKI, serial: int) -> bytes:
    return build_single_response(pki.cert_id(serial), CertStatus.UNKNOWN, THIS_UPDATE, None)


def run_openssl(*args: str | Path) -> tuple[int, str]:
    """The exit status and the output of the OpenSSL CLI, for runs expected to fail."""
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False
    )
    return result.returncode, result.stdout + result.stderr


def openssl_check(tmp_path: Path, paths: dict[str, Path], response: bytes, *args) -> str:
    """`openssl ocsp` reading the response: verifies signature and delegation (exit status
    0 and "Response verify OK"), prints the status of each -cert / -serial."""
    (tmp_path / "resp.der").write_bytes(response)
    return openssl(
        "ocsp",
        "-respin",
        tmp_path / "resp.der",
        "-issuer",
        paths["ca"],
        "-CAfile",
        paths["ca"],
        "-attime",
        str(int(NOW.timestamp())),
        "-validity_period",
        WIDE_VALIDITY,
        *args,
    )


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


@pytest.fixture()
def paths(pki: PKI, tmp_path: Path) -> dict[str, Path]:
    return pki.write(tmp_path)


# --- cryptography ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_cryptography_reads_good_with_nonce(pki, kind):
    der = respond(pki, kind, [good(pki, 0x1234)], nonce=b"\x01" * 16)
    response = x509_ocsp.load_der_ocsp_response(der)
    assert response.response_status is x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is x509_ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == 0x1234
    assert response.this_update_utc == THIS_UPDATE
    assert response.next_update_utc == NEXT_UPDATE
    assert response.produced_at_utc == NOW
    assert response.hash_algorithm.name == "sha1"
    assert response.issuer_key_hash == pki.cert_id(0x1234).issuer_key_hash
    assert response.responder_key_hash == issuer_key_hash(spki_of(pki.responder_keys[kind]), "sha1")
    assert response.responder_name is None
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"\x01" * 16
    assert response.certificates == [pki.responders[kind]]
    # The signature verifies with the responder key over tbsResponseData.
    public_key = pki.responder_keys[kind].public_key()
    if kind.startswith("ec"):
        public_key.verify(
            response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
        )
        assert response.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.3.2"
    else:
        public_key.verify(
            response.signature, response.tbs_response_bytes, padding.PKCS1v15(), hashes.SHA256()
        )
        assert response.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"


@pytest.mark.parametrize(
    ("reason", "flag"),
    [
        (1, x509.ReasonFlags.key_compromise),
        (6, x509.ReasonFlags.certificate_hold),
        (4, x509.ReasonFlags.superseded),
        (None, None),
    ],
)
def test_cryptography_reads_revoked(pki, reason, flag):
    der = respond(pki, "ec-p256", [revoked(pki, 0x42, reason)])
    response = x509_ocsp.load_der_ocsp_response(der)
    assert response.certificate_status is x509_ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == REVOKED_AT
    assert response.revocation_reason == flag
    assert len(response.extensions) == 0


def test_cryptography_reads_unknown_and_several(pki):
    singles = [good(pki, 0x1234), revoked(pki, 0x42, 1), unknown(pki, 0x99)]
    response = x509_ocsp.load_der_ocsp_response(respond(pki, "rsa-2048", singles))
    statuses = [(single.serial_number, single.certificate_status) for single in response.responses]
    assert statuses == [
        (0x1234, x509_ocsp.OCSPCertStatus.GOOD),
        (0x42, x509_ocsp.OCSPCertStatus.REVOKED),
        (0x99, x509_ocsp.OCSPCertStatus.UNKNOWN),
    ]
    assert list(response.responses)[2].next_update_utc is None


@pytest.mark.parametrize("status", [s for s in OCSPResponseStatus if s.value])
def test_error_responses(status, tmp_path):
    der = error_response(status)
    response = x509_ocsp.load_der_ocsp_response(der)
    assert response.response_status.value == status.value
    assert parse_ocsp_response(der) == (status, [], None)
    assert lint_ocsp_response(der) == []
    (tmp_path / "err.der").write_bytes(der)
    code, text = run_openssl("ocsp", "-respin", tmp_path / "err.der", "-resp_text", "-noverify")
    assert code == 1  # OpenSSL exits 1 for any responder error
    assert f"Responder Error: {status.name.lower()} ({status.value})" in text


def test_error_response_refuses_successful():
    with pytest.raises(ValueError):
        error_response(OCSPResponseStatus.successful)


# --- openssl -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_openssl_verifies_and_checks_nonce(pki, paths, tmp_path, kind):
    """With -reqin, OpenSSL compares the request's nonce with the response's (it fails with
    "Nonce Verify error" on a mismatch, see the next test). -cert would make a new request
    with a new nonce, so the status is read from -resp_text here."""
    request_der = openssl_request(tmp_path, paths, "-cert", paths["leaf-1234"])
    request = parse_ocsp_request(request_der)
    singles = [good(pki, cert_id.serial) for cert_id in request.cert_ids]
    der = respond(pki, kind, singles, request.nonce)
    text = openssl_check(tmp_path, paths, der, "-reqin", tmp_path / "req.der", "-resp_text")
    assert "Response verify OK" in text
    assert "WARNING: no nonce in response" not in text
    assert "Cert Status: good" in text
    key_hash = issuer_key_hash(spki_of(pki.responder_keys[kind]), "sha1")
    assert f"Responder Id: {key_hash.hex().upper()}" in text


def test_openssl_notices_a_wrong_or_missing_nonce(pki, paths, tmp_path):
    """The controls for the nonce check above."""
    openssl_request(tmp_path, paths, "-cert", paths["leaf-1234"])
    (tmp_path / "resp.der").write_bytes(respond(pki, "ec-p256", [good(pki, 0x1234)], b"wrong"))
    code, text = run_openssl(
        "ocsp",
        "-respin",
        tmp_path / "resp.der",
        "-reqin",
        tmp_path / "req.der",
        "-CAfile",
        paths["ca"],
        "-attime",
        str(int(NOW.timestamp())),
    )
    assert code == 1
    assert "Nonce Verify error" in text
    der = respond(pki, "ec-p256", [good(pki, 0x1234)])
    text = openssl_check(tmp_path, paths, der, "-reqin", tmp_path / "req.der")
    assert "WARNING: no nonce in response" in text


@pytest.mark.parametrize("kind", KINDS)
def test_openssl_reads_good_revoked_unknown(pki, paths, tmp_path, kind):
    singles = [good(pki, 0x1234), revoked(pki, 0x42, 6), unknown(pki, 0x99), revoked(pki, 7, None)]
    text = openssl_check(
        tmp_path,
        paths,
        respond(pki, kind, singles),
        "-no_nonce",
        "-cert",
        paths["leaf-1234"],
        "-cert",
        paths["leaf-42"],
        "-serial",
        "0x99",
        "-serial",
        "7",
    )
    assert "Response verify OK" in text
    assert f"{paths['leaf-1234']}: good" in text
    assert f"{paths['leaf-42']}: revoked" in text
    assert "Reason: certificateHold" in text
    assert "Revocation Time: May 20 12:00:05 2025 GMT" in text
    assert "0x99: unknown" in text
    assert "7: revoked" in text


def test_openssl_sha256_cert_id_echoed(pki, paths, tmp_path):
    request = parse_ocsp_request(
        openssl_request(tmp_path, paths, "-no_nonce", "-sha256", "-cert", paths["leaf-42"])
    )
    (cert_id,) = request.cert_ids
    single = build_single_response(cert_id, CertStatus.GOOD, THIS_UPDATE, NEXT_UPDATE)
    text = openssl_check(
        tmp_path,
        paths,
        respond(pki, "ec-p256", [single]),
        "-no_nonce",
        "-sha256",
        "-cert",
        paths["leaf-42"],
    )
    assert "Response verify OK" in text
    assert f"{paths['leaf-42']}: good" in text


def test_openssl_refuses_a_bad_signature(pki, paths, tmp_path):
    der = bytearray(respond(pki, "ec-p256", [good(pki, 0x1234)]))
    der[der.index(bytes.fromhex("1234")) + 1] ^= 1  # serial 0x1234 -> 0x1235, signed bytes
    (tmp_path / "resp.der").write_bytes(bytes(der))
    _, text = run_openssl(
        "ocsp",
        "-respin",
        tmp_path / "resp.der",
        "-issuer",
        paths["ca"],
        "-CAfile",
        paths["ca"],
        "-no_nonce",
        "-attime",
        str(int(NOW.timestamp())),
    )
    assert "Response Verify Failure" in text
    assert "Response verify OK" not in text


# --- pkilint -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("nonce", [None, b"\x07" * 32])
@pytest.mark.parametrize(
    "singles",
    [
        lambda pki: [good(pki, 0x1234)],
        lambda pki: [revoked(pki, 0x42, 1)],
        lambda pki: [revoked(pki, 0x42, None)],
        lambda pki: [unknown(pki, 0x99)],
        lambda pki: [good(pki, 1), revoked(pki, 2, 6), unknown(pki, 3), good(pki, 4, "sha256")],
    ],
    ids=["good", "revoked", "revoked-no-reason", "unknown", "several"],
)
def test_pkilint(pki, kind, nonce, singles):
    assert lint_ocsp_response(respond(pki, kind, singles(pki), nonce)) == []


def test_pkilint_notices_a_bad_response(pki):
    """The control for the lint above: a negative validity period is an ERROR."""
    single = build_single_response(pki.cert_id(1), CertStatus.GOOD, NOW, NOW)
    der = respond(pki, "ec-p256", [single])
    at = der.rindex(b"20250601093000Z")  # nextUpdate, the last time in the response
    der = der[:at] + b"20250601092959Z" + der[at + 15 :]
    assert any("negative_validity" in line for line in lint_ocsp_response(der))


# --- round trips and what is refused -----------------------------------------------------------


def test_round_trip(pki):
    moscow = timezone(timedelta(hours=3))
    cert_ids = [pki.cert_id(0x1234), pki.cert_id(0x42, "sha512"), pki.cert_id(0x99, "sha256")]
    singles = [
        build_single_response(
            cert_ids[0], CertStatus.GOOD, THIS_UPDATE.replace(microsecond=999_999), NEXT_UPDATE
        ),
        build_single_response(
            cert_ids[1],
            CertStatus.REVOKED,
            THIS_UPDATE.astimezone(moscow),
            None,
            REVOKED_AT.astimezone(moscow),
            6,
        ),
        build_single_response(cert_ids[2], CertStatus.UNKNOWN, THIS_UPDATE, NEXT_UPDATE),
    ]
    der = respond(pki, "ec-p256", singles, nonce=b"abc")
    assert parse_ocsp_response(der) == (
        OCSPResponseStatus.successful,
        [
            ParsedSingle(cert_ids[0], CertStatus.GOOD, THIS_UPDATE, NEXT_UPDATE, None, None),
            ParsedSingle(cert_ids[1], CertStatus.REVOKED, THIS_UPDATE, None, REVOKED_AT, 6),
            ParsedSingle(cert_ids[2], CertStatus.UNKNOWN, THIS_UPDATE, NEXT_UPDATE, None, None),
        ],
        b"abc",
    )


def test_round_trip_without_nonce_rsa(pki):
    status, singles, nonce = parse_ocsp_response(respond(pki, "rsa-2048", [unknown(pki, 5)]))
    assert status is OCSPResponseStatus.successful
    assert nonce is None
    assert [(single.cert_id.serial, single.status) for single in singles] == [
        (5, CertStatus.UNKNOWN)
    ]


def test_cert_id_copied_byte_for_byte(pki):
    cert_id = pki.cert_id(0x1234)
    single = build_single_response(cert_id, CertStatus.GOOD, THIS_UPDATE, None)
    assert single[2 : 2 + len(cert_id.der)] == cert_id.der


def test_response_data_copied_byte_for_byte_and_without_certs(pki):
    data = build_response_data(b"\x05" * 20, NOW, [good(pki, 1)])
    der = assemble_ocsp_response(data, "sha256_ecdsa", b"\x30\x06\x02\x01\x01\x02\x01\x01")
    response = x509_ocsp.load_der_ocsp_response(der)
    assert response.tbs_response_bytes == data
    assert response.certificates == []
    assert data.startswith(b"\x30") and b"\xa0\x03\x02\x01\x00" not in data[:8]  # no version


def test_ed25519_and_p384_algorithm_identifiers(pki):
    data = build_response_data(b"\x05" * 20, NOW, [good(pki, 1)])
    for name, oid in [("ed25519", "1.3.101.112"), ("sha384_ecdsa", "1.2.840.10045.4.3.3")]:
        response = x509_ocsp.load_der_ocsp_response(assemble_ocsp_response(data, name, b"s"))
        assert response.signature_algorithm_oid.dotted_string == oid


@pytest.mark.parametrize(
    "call",
    [
        lambda c: build_single_response(c, CertStatus.GOOD, NOW.replace(tzinfo=None), None),
        lambda c: build_single_response(c, CertStatus.GOOD, NOW, NOW - timedelta(seconds=1)),
        lambda c: build_single_response(c, CertStatus.GOOD, NOW, NOW.replace(tzinfo=None)),
        lambda c: build_single_response(c, CertStatus.REVOKED, NOW, None, NOW, 8),
        lambda c: build_single_response(c, CertStatus.REVOKED, NOW, None, NOW.replace(tzinfo=None)),
        lambda c: build_single_response(c, CertStatus.REVOKED, NOW, None),
        lambda c: build_single_response(c, CertStatus.GOOD, NOW, None, NOW),
        lambda c: build_single_response(c, CertStatus.UNKNOWN, NOW, None, None, 1),
        lambda c: build_single_response(c, CertStatus.REVOKED, NOW, None, NOW, 7),
        lambda c: build_single_response(c, CertStatus.REVOKED, NOW, None, NOW, 11),
        lambda c: build_response_data(b"\x05" * 32, NOW, [b"\x30\x00"]),
        lambda c: build_response_data(b"\x05" * 20, NOW, []),
        lambda c: build_response_data(b"\x05" * 20, NOW, [b"\x30\x00"], b""),
        lambda c: build_response_data(b"\x05" * 20, NOW.replace(tzinfo=None), [b"\x30\x00"]),
        lambda c: assemble_ocsp_response(b"\x30\x00", "md5_rsa", b"s"),
        lambda c: assemble_ocsp_response(b"\x30\x00", "sha256_ecdsa", b""),
        lambda c: assemble_ocsp_response(b"\x30\x01", "sha256_ecdsa", b"s"),
        lambda c: assemble_ocsp_response(b"\x30\x00\x00", "sha256_ecdsa", b"s"),
        lambda c: assemble_ocsp_response(b"\x30\x00", "sha256_ecdsa", b"s", [b"junk"]),
        lambda c: parse_ocsp_response(b"\x30\x03\x0a\x01\x00"),  # successful, no responseBytes
        lambda c: parse_ocsp_response(b"junk"),
    ],
)
def test_refused(pki, call):
    with pytest.raises(ValueError):
        call(pki.cert_id(1))
