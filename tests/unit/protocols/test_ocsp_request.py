"""OCSP requests: parsed from what real clients send, the GET form decoded, bad input refused.

Vectors and their origin:
- requests written by `openssl ocsp -reqout` (OpenSSL 3.0 CLI) in the test, for a CA and
  leaves made with `cryptography` in the test: one certificate with and without nonce,
  several certificates and serials, SHA-256 CertIDs;
- requests built by `cryptography`'s `x509.ocsp.OCSPRequestBuilder`;
- requests crafted with asn1crypto (`request_der` below) for what clients should not send:
  oversized and empty nonces, unknown critical extensions, an MD5 CertID, a signed request;
- garbage: truncations, trailing bytes, 1 MiB of random octets, and random mutations of a
  good request (any bytes either parse or raise MalformedOCSPRequest).
"""

import base64
import random
import subprocess
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocols.ocsp import (
    CertID,
    MalformedOCSPRequest,
    cert_id_for,
    decode_get_path,
    issuer_key_hash,
    issuer_name_hash,
    parse_ocsp_request,
)

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
HASHES = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def spki_of(key) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


class PKI:
    """A CA (EC P-256), leaves with the given serials, and delegated OCSP responders
    (id-kp-OCSPSigning, RFC 6960 4.2.2.2) with EC P-256 and RSA-2048 keys, all made with
    `cryptography`; valid from a day before NOW for ten years."""

    def __init__(self, serials=(0x1234, 0x0ABCDEF0123456789, 0x42)) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "OCSP Test CA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Demo"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
            ]
        )
        self.name_der = self.name.public_bytes()
        self.spki = spki_of(self.key)
        self.cert = self._issue(
            self.name,
            self.key,
            1,
            [
                (x509.BasicConstraints(ca=True, path_length=None), True),
                (_key_usage(cert_sign=True), True),
            ],
        )
        self.leaves = {
            serial: self._issue(
                _cn(f"leaf {serial:x}"), ec.generate_private_key(ec.SECP256R1()), serial, []
            )
            for serial in serials
        }
        self.responder_keys = {
            "ec-p256": ec.generate_private_key(ec.SECP256R1()),
            "rsa-2048": rsa.generate_private_key(65537, 2048),
        }
        self.responders = {
            kind: self._issue(
                _cn(f"OCSP responder {kind}"),
                key,
                0x0C5F + index,
                [
                    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
                    (x509.OCSPNoCheck(), False),
                    (_key_usage(), True),
                ],
            )
            for index, (kind, key) in enumerate(self.responder_keys.items())
        }

    def _issue(self, subject, key, serial, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=3650))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(self.key, hashes.SHA256())

    def write(self, directory: Path) -> dict[str, Path]:
        """PEM files: ca.pem, leaf-<serial hex>.pem, responder-<kind>.pem."""
        paths = {"ca": directory / "ca.pem"}
        paths["ca"].write_bytes(self.cert.public_bytes(Encoding.PEM))
        for serial, leaf in self.leaves.items():
            paths[f"leaf-{serial:x}"] = directory / f"leaf-{serial:x}.pem"
            paths[f"leaf-{serial:x}"].write_bytes(leaf.public_bytes(Encoding.PEM))
        for kind, cert in self.responders.items():
            paths[f"responder-{kind}"] = directory / f"responder-{kind}.pem"
            paths[f"responder-{kind}"].write_bytes(cert.public_bytes(Encoding.PEM))
        return paths

    def cert_id(self, serial: int, hash_algorithm: str = "sha1") -> CertID:
        return cert_id_for(self.name_der, self.spki, serial, hash_algorithm)


def _cn(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _key_usage(cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def openssl(*args: str | Path) -> str:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def openssl_request(tmp_path: Path, paths: dict[str, Path], *args: str | Path) -> bytes:
    out = tmp_path / "req.der"
    openssl("ocsp", "-issuer", paths["ca"], *args, "-reqout", out)
    return out.read_bytes()


def request_der(
    cert_ids=None,
    extensions=(),
    single_extensions=None,
    signed: bool = False,
    version: int | None = None,
) -> bytes:
    """An OCSPRequest (RFC 6960 4.1.1) crafted field by field, so that it can hold what
    asn1crypto would refuse to build. ``cert_ids`` are asn1crypto CertId dicts;
    ``extensions`` and ``single_extensions`` are (extnID, critical, extnValue octets)."""
    if cert_ids is None:
        cert_ids = [_cert_id_dict()]
    requests = []
    for index, cert_id in enumerate(cert_ids):
        body = asn1_ocsp.CertId(cert_id).dump()
        if index == 0 and single_extensions is not None:
            body += tlv(0xA0, extensions_der(single_extensions))
        requests.append(tlv(0x30, body))
    tbs = b"" if version is None else tlv(0xA0, core.Integer(version).dump())
    tbs += tlv(0x30, b"".join(requests))
    if extensions:
        tbs += tlv(0xA2, extensions_der(extensions))
    body = tlv(0x30, tbs)
    if signed:
        signature = asn1_ocsp.Signature(
            {
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": b"\x30\x06\x02\x01\x01\x02\x01\x01",
            }
        )
        body += tlv(0xA0, signature.dump())
    return tlv(0x30, body)


def extensions_der(extensions) -> bytes:
    return tlv(
        0x30,
        b"".join(
            tlv(
                0x30,
                core.ObjectIdentifier(oid).dump()
                + (b"\x01\x01\xff" if critical else b"")
                + tlv(0x04, value),
            )
            for oid, critical, value in extensions
        ),
    )


def tlv(tag: int, body: bytes) -> bytes:
    """DER TLV, written here independently of protocols.ocsp."""
    length = len(body)
    if length < 0x80:
        return bytes((tag, length)) + body
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + body


def _cert_id_dict(algorithm: str = "sha1", serial: int = 7, size: int = 20) -> dict:
    return {
        "hash_algorithm": {"algorithm": algorithm, "parameters": core.Null()},
        "issuer_name_hash": b"\x01" * size,
        "issuer_key_hash": b"\x02" * size,
        "serial_number": serial,
    }


def nonce_extension(nonce: bytes, critical: bool = False) -> tuple[str, bool, bytes]:
    return ("1.3.6.1.5.5.7.48.1.2", critical, core.OctetString(nonce).dump())


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


@pytest.fixture()
def paths(pki: PKI, tmp_path: Path) -> dict[str, Path]:
    return pki.write(tmp_path)


# --- openssl ocsp -reqout ------------------------------------------------------------------


def test_openssl_request_with_default_nonce(pki, paths, tmp_path):
    der = openssl_request(tmp_path, paths, "-cert", paths["leaf-1234"])
    request = parse_ocsp_request(der)
    assert request.cert_ids == (pki.cert_id(0x1234),)  # CertID DER equal too (NULL params)
    assert request.nonce is not None and len(request.nonce) == 16  # OpenSSL's default


def test_openssl_request_without_nonce(pki, paths, tmp_path):
    der = openssl_request(tmp_path, paths, "-no_nonce", "-cert", paths["leaf-1234"])
    assert parse_ocsp_request(der).nonce is None


def test_openssl_request_with_explicit_nonce(pki, paths, tmp_path):
    der = openssl_request(tmp_path, paths, "-nonce", "-cert", paths["leaf-42"])
    request = parse_ocsp_request(der)
    assert request.cert_ids == (pki.cert_id(0x42),)
    text = openssl("ocsp", "-reqin", tmp_path / "req.der", "-req_text", "-noverify")
    assert request.nonce is not None
    assert request.nonce.hex().upper() in text.replace(":", "")


def test_openssl_request_several_certificates_and_serials(pki, paths, tmp_path):
    der = openssl_request(
        tmp_path,
        paths,
        "-cert",
        paths["leaf-1234"],
        "-cert",
        paths["leaf-abcdef0123456789"],
        "-serial",
        "0x99",
        "-sha256",
        "-cert",
        paths["leaf-42"],
        "-serial",
        "12345678901234567890",
    )
    request = parse_ocsp_request(der)
    assert request.cert_ids == (
        pki.cert_id(0x1234),
        pki.cert_id(0x0ABCDEF0123456789),
        pki.cert_id(0x99),
        pki.cert_id(0x42, "sha256"),
        pki.cert_id(12345678901234567890, "sha256"),
    )


@pytest.mark.parametrize("algorithm", ["-sha256", "-sha384", "-sha512"])
def test_openssl_request_sha2_cert_id(pki, paths, tmp_path, algorithm):
    der = openssl_request(tmp_path, paths, algorithm, "-cert", paths["leaf-1234"])
    (cert_id,) = parse_ocsp_request(der).cert_ids
    assert cert_id == pki.cert_id(0x1234, algorithm[1:])
    assert len(cert_id.issuer_key_hash) == HASHES[algorithm[1:]].digest_size


# --- cryptography OCSPRequestBuilder ---------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(HASHES))
def test_cryptography_request(pki, algorithm):
    leaf = pki.leaves[0x0ABCDEF0123456789]
    built = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, pki.cert, HASHES[algorithm])
        .add_extension(x509.OCSPNonce(b"n" * 32), critical=False)
        .build()
    )
    request = parse_ocsp_request(built.public_bytes(Encoding.DER))
    (cert_id,) = request.cert_ids
    assert cert_id.hash_algorithm == algorithm
    assert cert_id.issuer_name_hash == built.issuer_name_hash
    assert cert_id.issuer_key_hash == built.issuer_key_hash
    assert cert_id.serial == built.serial_number
    assert cert_id == pki.cert_id(leaf.serial_number, algorithm)
    assert request.nonce == b"n" * 32


def test_cryptography_request_without_nonce(pki):
    built = x509_ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        b"\x11" * 20, b"\x22" * 20, 5, hashes.SHA1()
    )
    request = parse_ocsp_request(built.build().public_bytes(Encoding.DER))
    assert request.nonce is None
    assert request.cert_ids[0].issuer_key_hash == b"\x22" * 20


# --- CertID ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(HASHES))
def test_hashes_match_cryptography(pki, algorithm):
    leaf = pki.leaves[0x42]
    built = x509_ocsp.OCSPRequestBuilder().add_certificate(leaf, pki.cert, HASHES[algorithm])
    request = built.build()
    assert issuer_name_hash(pki.name_der, algorithm) == request.issuer_name_hash
    assert issuer_key_hash(pki.spki, algorithm) == request.issuer_key_hash


@pytest.mark.parametrize("kind", ["ec-p256", "rsa-2048"])
def test_issuer_key_hash_is_over_the_bit_string_value(pki, kind):
    """RFC 6960 4.1.1: the subjectPublicKey value (EC point, RSAPublicKey), not the SPKI."""
    public_key = pki.responder_keys[kind].public_key()
    if kind.startswith("ec"):
        value = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        value = public_key.public_bytes(Encoding.DER, PublicFormat.PKCS1)
    for algorithm in HASHES:
        digest = hashes.Hash(HASHES[algorithm])
        digest.update(value)
        assert issuer_key_hash(spki_of(pki.responder_keys[kind]), algorithm) == digest.finalize()


def test_cert_id_der_is_what_asn1crypto_reads(pki):
    cert_id = pki.cert_id(0x1234, "sha384")
    read = asn1_ocsp.CertId.load(cert_id.der)
    assert read["hash_algorithm"]["algorithm"].native == "sha384"
    assert read["hash_algorithm"]["parameters"].native is None  # NULL
    assert read["issuer_key_hash"].native == cert_id.issuer_key_hash
    assert read["serial_number"].native == 0x1234


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_rfc6960_4_1_1_cert_id_with_null_or_absent_parameters_parses_back(pki, algorithm):
    """RFC 5754 2: hashAlgorithm parameters NULL (OpenSSL) or absent (Bouncy Castle); the
    responder keeps a response under each form's DER (RFC 6960 4.2.1)."""
    null = pki.cert_id(0x80, algorithm)
    absent = cert_id_for(pki.name_der, pki.spki, 0x80, algorithm, null_parameters=False)
    assert null.der.count(b"\x05\x00") - absent.der.count(b"\x05\x00") == 1
    assert len(null.der) == len(absent.der) + 2
    for cert_id in (null, absent):
        (parsed,) = parse_ocsp_request(
            tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, cert_id.der))))
        ).cert_ids
        assert parsed == cert_id


def test_cert_id_refuses_unknown_hash_and_bad_spki(pki):
    with pytest.raises(ValueError, match="hash algorithm"):
        cert_id_for(pki.name_der, pki.spki, 1, "md5")
    with pytest.raises(ValueError):
        issuer_key_hash(b"\x30\x00", "sha1")


# --- GET ---------------------------------------------------------------------------------------


def _tricky_request() -> tuple[bytes, str]:
    """A request whose base64 holds '+', '/' and '=' padding (searched deterministically)."""
    for serial in range(1, 10_000):
        der = request_der([_cert_id_dict(serial=serial)], [nonce_extension(b"x" * 7)])
        text = base64.b64encode(der).decode()
        if "+" in text and "/" in text and text.endswith("="):
            return der, text
    raise AssertionError("no request with '+', '/' and '=' found")


def test_get_path_forms():
    der, text = _tricky_request()
    url_safe = base64.urlsafe_b64encode(der).decode()
    forms = [
        urllib.parse.quote(text, safe=""),  # RFC 6960 A.1: URL-encoded
        urllib.parse.quote(text, safe="/"),  # '/' left as segments, '+' and '=' encoded
        text,  # raw: '+' and '/' as they are, '/' making several segments
        text.rstrip("="),  # no padding
        urllib.parse.quote(text.rstrip("="), safe=""),
        url_safe,  # base64url (RFC 4648 section 5)
        url_safe.rstrip("="),
        text.replace("=", "%3d"),  # lower-case percent-encoding
    ]
    for form in forms:
        assert decode_get_path(form) == der, form
    assert parse_ocsp_request(decode_get_path(forms[0])).nonce == b"x" * 7


@pytest.mark.parametrize(
    "path",
    [
        "",
        "=",
        "%",
        "%ZZ",
        "MFMw U",
        "MFMw\n",
        "MFMw%20",
        "M",
        "MFMwU",
        "MF=Mw",
        "MFMw===",
        "é",
        "%C3%A9",
        "%FF",
        "MFMw/",
    ],
)
def test_get_path_refused(path):
    with pytest.raises(MalformedOCSPRequest):
        decode_get_path(path)


# --- what parses, what is malformed ------------------------------------------------------------


def test_md5_cert_id_parses_with_dotted_oid():
    (cert_id,) = parse_ocsp_request(request_der([_cert_id_dict("md5", size=16)])).cert_ids
    assert cert_id.hash_algorithm == "1.2.840.113549.2.5"
    assert cert_id.issuer_key_hash == b"\x02" * 16


def test_cert_id_without_null_parameters():
    cert_id = _cert_id_dict("sha256", size=32)
    cert_id["hash_algorithm"] = {"algorithm": "sha256"}
    (parsed,) = parse_ocsp_request(request_der([cert_id])).cert_ids
    assert parsed.hash_algorithm == "sha256"
    assert parsed.der == asn1_ocsp.CertId(cert_id).dump()  # as sent, without NULL


def test_signed_request_accepted_signature_ignored():
    request = parse_ocsp_request(request_der(signed=True))
    assert request.cert_ids[0].serial == 7


def test_explicit_v1_tolerated_other_versions_refused():
    assert parse_ocsp_request(request_der(version=0)).cert_ids[0].serial == 7
    with pytest.raises(MalformedOCSPRequest, match="version"):
        parse_ocsp_request(request_der(version=1))


def test_negative_and_large_serials():
    cert_ids = [_cert_id_dict(serial=-5), _cert_id_dict(serial=(1 << 159) + 3)]
    request = parse_ocsp_request(request_der(cert_ids))
    assert [cert_id.serial for cert_id in request.cert_ids] == [-5, (1 << 159) + 3]


def test_known_critical_extensions_accepted():
    acceptable = asn1_ocsp.AcceptableResponses(["basic_ocsp_response"]).dump()
    request = parse_ocsp_request(
        request_der(
            extensions=[
                nonce_extension(b"\x00", critical=True),
                ("1.3.6.1.5.5.7.48.1.4", True, acceptable),
            ],
            single_extensions=[("1.3.6.1.5.5.7.48.1.7", True, b"\x30\x00")],
        )
    )
    assert request.nonce == b"\x00"


def test_unknown_non_critical_extensions_ignored():
    request = parse_ocsp_request(
        request_der(
            extensions=[("1.2.3.4", False, b"\x05\x00")],
            single_extensions=[("1.2.3.5", False, b"\x05\x00")],
        )
    )
    assert request.nonce is None


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (request_der(extensions=[nonce_extension(b"n" * 33)]), "33 octets"),
        (request_der(extensions=[nonce_extension(b"")]), "0 octets"),
        (request_der(extensions=[("1.3.6.1.5.5.7.48.1.2", False, b"raw nonce")]), "OCTET STRING"),
        (request_der(extensions=[("1.2.3.4", True, b"\x05\x00")]), "critical request"),
        (request_der(single_extensions=[("1.2.3.4", True, b"\x05\x00")]), "critical single"),
        (request_der(extensions=[nonce_extension(b"a"), nonce_extension(b"b")]), "repeats"),
        (request_der(cert_ids=[]), "empty"),
    ],
    ids=["nonce-33", "nonce-empty", "nonce-raw", "critical", "critical-single", "two", "none"],
)
def test_malformed_requests(der, message):
    with pytest.raises(MalformedOCSPRequest, match=message):
        parse_ocsp_request(der)


def test_max_nonce_length_is_the_callers():
    der = request_der(extensions=[nonce_extension(b"n" * 64)])
    assert parse_ocsp_request(der, max_nonce_length=64).nonce == b"n" * 64
    with pytest.raises(MalformedOCSPRequest):
        parse_ocsp_request(der, max_nonce_length=63)


def test_garbage_truncated_trailing():
    good = request_der(extensions=[nonce_extension(b"n" * 16)])
    parse_ocsp_request(good)
    bad = [
        b"",
        b"\x00",
        b"\x30",
        b"\x30\x00",
        b"\x30\x80" + good[2:] + b"\x00\x00",  # indefinite length
        b"hello, OCSP",
        good + b"\x00",
        good + good,
        *(good[:cut] for cut in range(len(good))),
        random.Random(1).randbytes(1 << 20),
        b"\x30\x84\xff\xff\xff\xff" + good,
    ]
    for der in bad:
        with pytest.raises(MalformedOCSPRequest):
            parse_ocsp_request(der)


def test_any_bytes_parse_or_are_malformed():
    """Property: random mutations of a good request either parse or raise
    MalformedOCSPRequest, never another exception."""
    rng = random.Random(6960)
    seed = request_der(
        [_cert_id_dict(), _cert_id_dict("sha256", 99, 32)],
        [nonce_extension(b"n" * 16)],
        single_extensions=[("1.3.6.1.5.5.7.48.1.7", False, b"\x30\x00")],
        signed=True,
    )
    outcomes = {"parsed": 0, "malformed": 0}
    for _ in range(5000):
        der = bytearray(seed)
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            position = rng.randrange(len(der))
            if choice < 0.6:
                der[position] = rng.randrange(256)
            elif choice < 0.8:
                del der[position]
            else:
                der.insert(position, rng.randrange(256))
        try:
            parse_ocsp_request(bytes(der))
            outcomes["parsed"] += 1
        except MalformedOCSPRequest:
            outcomes["malformed"] += 1
    assert outcomes["parsed"] and outcomes["malformed"]


def test_any_path_decodes_or_is_malformed():
    """Property: any string either decodes or raises MalformedOCSPRequest."""
    rng = random.Random(5019)
    alphabet = "AMFw09+/=-_%2bBfFé \n\x00"
    outcomes = {"decoded": 0, "malformed": 0}
    for _ in range(5000):
        path = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        try:
            assert isinstance(decode_get_path(path), bytes)
            outcomes["decoded"] += 1
        except MalformedOCSPRequest:
            outcomes["malformed"] += 1
    assert outcomes["decoded"] and outcomes["malformed"]


@pytest.mark.parametrize(
    "seed",
    [
        request_der([_cert_id_dict()], [nonce_extension(b"n" * 16)]),
        request_der([_cert_id_dict("sha256", 2**70, 32)], [nonce_extension(b"\x00" * 32)]),
        request_der([_cert_id_dict("sha1", -5)]),
    ],
    ids=["sha1-nonce", "sha256-long-nonce", "no-nonce"],
)
def test_the_common_shape_fast_path_answers_as_the_full_parser(seed):
    """The straight-line reader of the usual request (`_parse_common`) either declines or
    gives exactly what the full parser gives; it never accepts what the full parser
    refuses. Checked on every truncation and on random mutations of usual requests."""
    from protocols.der import DERError
    from protocols.ocsp.request import _parse, _parse_common

    rng = random.Random(8954)
    candidates = [seed[:cut] for cut in range(len(seed))]
    for _ in range(20000):
        der = bytearray(seed)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(der))
            choice = rng.random()
            if choice < 0.7:
                der[position] = rng.randrange(256)
            elif choice < 0.85:
                del der[position]
            else:
                der.insert(position, rng.randrange(256))
        candidates.append(bytes(der))
    taken = 0
    for der in [seed, *candidates]:
        fast = _parse_common(der, 32)
        try:
            full = _parse(der, 32)
        except (DERError, MalformedOCSPRequest):
            assert fast is None, der.hex()
            continue
        if fast is not None:
            taken += 1
            assert fast == full, der.hex()
    assert _parse_common(seed, 32) is not None and taken > 100
