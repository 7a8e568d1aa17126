"""CMP codec (protocols/cmp): OpenSSL's requests parsed, our replies accepted by OpenSSL.

Vectors and their origin: the third party is the OpenSSL 3.0 CLI, ``openssl cmp``.

1. Requests: in a temporary directory OpenSSL makes an EC P-256 key, a PKCS#10 request, and
   sends ir, cr, kur, p10cr, rr and genm to a port nobody listens on with ``-reqout``, which
   saves each request although the transfer fails. MAC-protected ones use reference "1234"
   and secret "s3cret" (PasswordBasedMac: owf SHA-256, HMAC-SHA1, 500 iterations by
   default; ``-digest sha512 -mac hmacWithSHA256`` for another pair); signature-protected
   ones use a client certificate issued by a throw-away CA made with `cryptography` (OpenSSL
   leaves a self-signed signer certificate out of extraCerts). The parsed fields are checked
   against what OpenSSL was told, and the MACs and signatures OpenSSL made must verify.
2. Round trips: ``cmp_responder.py`` answers OpenSSL over HTTP with replies built by this
   package (ip/cp/kup with the issued certificate, pkiconf, rp, genp, errors, MAC- or
   signature-protected); OpenSSL must accept them, save the certificate, confirm it with
   the certHash ``cert_hash`` computes, print our error texts, and refuse a reply whose MAC
   was made with another secret or whose pvno is 3 (OpenSSL 3.0 speaks cmp2000 only).
3. Bad input: truncated, random, trailing, indefinite-length, wrong-pvno messages, and
   mutations of OpenSSL's requests, must raise CMPFormatError and nothing else.

OpenSSL 3.0 cannot make PBMAC1 (RFC 9481 6.1; ``-mac`` only chooses the HMAC inside
PasswordBasedMac), so PBMAC1 is checked against an independent computation with
`cryptography` (PBKDF2HMAC then HMAC) instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import NameOID
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4055, rfc4210, rfc5280, rfc8018, rfc9480

from protocols import cmp, der, gost
from protocols.cmp import crmf
from protocols.cmp import messages as cmp_messages
from protocols.cmp import protection as cmp_protection
from protocols.cmp import replies as cmp_replies
from protocols.x509 import csr as x509_csr
from protocols.x509 import extensions as x509_extensions
from server.cmp.cert_requests import certification_request
from tests.unit.protocols.cmp_responder import (
    CA_NAME,
    CMPResponder,
    HTTPResponder,
    TestCA,
    directory_name,
    spki_of,
)

SECRET = b"s3cret"
MAC_ARGS = ["-ref", "1234", "-secret", "pass:s3cret"]
NULL_DN = bytes.fromhex("a4023000")  # GeneralName directoryName of the empty Name
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
SHA384 = "2.16.840.1.101.3.4.2.2"


# --- OpenSSL's requests -------------------------------------------------------------------


@dataclasses.dataclass
class Work:
    """The temporary directory of the OpenSSL requests and what they were made from."""

    path: Path
    ca: TestCA
    key: ec.EllipticCurvePrivateKey
    client: bytes  # DER certificate of CN=client for ``key``, issued by ``ca``
    csr: bytes  # DER PKCS#10 of CN=p10
    requests: dict[str, bytes]

    @property
    def spki(self) -> bytes:
        return spki_of(self.key.public_key())


def _openssl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _unused_port() -> int:
    """A port that was free a moment ago: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _saved_request(path: Path, name: str, *args: str) -> bytes:
    """The request OpenSSL saves with -reqout before failing to connect."""
    server = f"127.0.0.1:{_unused_port()}"
    result = _openssl(path, "cmp", "-server", server, "-reqout", f"{name}.der", *args)
    assert result.returncode != 0  # nobody listens
    saved = path / f"{name}.der"
    assert saved.exists(), result.stdout + result.stderr
    return saved.read_bytes()


ENROL = ["-subject", "/CN=dev", "-newkey", "key.pem", "-certout", "out.pem"]
SIGNED = ["-cert", "client.pem", "-key", "key.pem"]
REQUESTS: dict[str, list[str]] = {
    "ir": ["-cmd", "ir", *MAC_ARGS, *ENROL],
    "ir_implicit": [
        "-cmd", "ir", *MAC_ARGS, *ENROL, "-implicit_confirm", "-digest", "sha512",
        "-mac", "hmacWithSHA256",
    ],
    "ir_raverified": ["-cmd", "ir", *MAC_ARGS, *ENROL, "-popo", "0"],
    "ir_no_pop": ["-cmd", "ir", *MAC_ARGS, *ENROL, "-popo", "-1"],
    "ir_keyenc": ["-cmd", "ir", *MAC_ARGS, *ENROL, "-popo", "2"],
    "ir_sans": ["-config", "sans.cnf", "-reqexts", "sans", "-cmd", "ir", *MAC_ARGS, *ENROL],
    "cr": ["-cmd", "cr", *SIGNED, *ENROL],
    "kur": ["-cmd", "kur", *SIGNED, "-newkey", "key.pem", "-certout", "out.pem"],
    "p10cr": ["-cmd", "p10cr", *MAC_ARGS, "-csr", "x.csr", "-certout", "out.pem"],
    "rr": ["-cmd", "rr", *SIGNED, "-oldcert", "client.pem", "-revreason", "1"],
    "genm": ["-cmd", "genm", *MAC_ARGS, "-infotype", "caCerts"],
}  # fmt: skip
SANS_CNF = (
    "[sans]\nsubjectAltName = DNS:example.com, IP:192.0.2.1, IP:2001:db8::1, "
    "email:dev@example.org\n"
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Work:
    path = tmp_path_factory.mktemp("cmp")
    keygen = ("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    assert _openssl(path, *keygen, "-out", "key.pem").returncode == 0
    assert _openssl(path, "req", "-new", "-key", "key.pem", "-subj", "/CN=p10",
                    "-outform", "DER", "-out", "x.csr").returncode == 0  # fmt: skip
    key = load_pem_private_key((path / "key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ca = TestCA.create()
    client = ca.issue(x509.Name.from_rfc4514_string("CN=client"), key.public_key())
    pem = x509.load_der_x509_certificate(client).public_bytes(Encoding.PEM)
    (path / "client.pem").write_bytes(pem)
    (path / "ca.pem").write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    (path / "sans.cnf").write_text(SANS_CNF)
    requests = {name: _saved_request(path, name, *args) for name, args in REQUESTS.items()}
    return Work(path, ca, key, client, (path / "x.csr").read_bytes(), requests)


def _parsed(work: Work, name: str) -> cmp.PKIMessage:
    return cmp.parse_pki_message(work.requests[name])


def test_ir_header_from_openssl(work: Work) -> None:
    message = _parsed(work, "ir")
    header = message.header
    assert message.body_type == "ir"
    assert header.pvno == 2
    assert header.sender == directory_name(_cn("dev"))  # OpenSSL: the subject as sender
    assert header.recipient == NULL_DN
    assert header.sender_kid == b"1234"
    assert header.recip_kid is None
    assert header.transaction_id is not None and len(header.transaction_id) == 16
    assert header.sender_nonce is not None and len(header.sender_nonce) == 16
    assert header.recip_nonce is None
    assert header.implicit_confirm is False
    assert header.message_time is not None
    assert abs(header.message_time - datetime.now(UTC)) < timedelta(minutes=10)
    assert header.protection_oid == cmp.PASSWORD_BASED_MAC
    assert header.protection_algorithm is not None
    assert header.protection_algorithm in message.der
    assert message.protection is not None and len(message.protection) == 20  # HMAC-SHA1
    assert message.extra_certs == ()
    assert (message.cert_confirms, message.revocations, message.p10_request) == ((), (), None)


def test_ir_request_from_openssl(work: Work) -> None:
    (request,) = _parsed(work, "ir").cert_requests
    assert request == cmp.CertRequest(
        cert_req_id=0,
        subject=(("CN", "dev"),),
        spki_der=work.spki,
        dns_names=(),
        ip_addresses=(),
        emails=(),
        pop="signature",
        pop_valid=True,
    )


def test_ir_mac_from_openssl(work: Work) -> None:
    message = _parsed(work, "ir")
    assert cmp.mac_parameters(message) == (cmp.PASSWORD_BASED_MAC, 500)
    cmp.verify_mac(message, SECRET, 100, 1000)
    with pytest.raises(cmp.MACError, match="does not verify"):
        cmp.verify_mac(message, b"s3cret!", 100, 1000)
    with pytest.raises(cmp.MACError, match="500 outside"):
        cmp.verify_mac(message, SECRET, 100, 499)
    with pytest.raises(cmp.MACError, match="500 outside"):
        cmp.verify_mac(message, SECRET, 501, 10_000)


def test_ir_with_implicit_confirm_sha512_and_hmac_sha256(work: Work) -> None:
    message = _parsed(work, "ir_implicit")
    assert message.header.implicit_confirm is True
    assert message.protection is not None and len(message.protection) == 32  # HMAC-SHA256
    params = _pbm_parameters(message)
    assert str(params["owf"]["algorithm"]) == "2.16.840.1.101.3.4.2.3"  # SHA-512
    assert str(params["mac"]["algorithm"]) == "1.2.840.113549.2.9"  # hmacWithSHA256
    cmp.verify_mac(message, SECRET, 100, 1000)
    with pytest.raises(cmp.MACError):
        cmp.verify_mac(message, b"other", 100, 1000)


@pytest.mark.parametrize(
    ("name", "pop"),
    [("ir_raverified", "raVerified"), ("ir_no_pop", "none"), ("ir_keyenc", "keyEncipherment")],
)
def test_other_proofs_of_possession_from_openssl(work: Work, name: str, pop: str) -> None:
    (request,) = _parsed(work, name).cert_requests
    assert (request.pop, request.pop_valid) == (pop, False)
    assert request.spki_der == work.spki


def test_tampered_pop_signature_does_not_verify(work: Work) -> None:
    der = bytearray(work.requests["ir"])
    message = cmp.parse_pki_message(bytes(der))
    assert message.protection is not None
    # The body ends with the POP signature (its last octet belongs to ECDSA's s); after it
    # comes only [0] { BIT STRING { 0, MAC } }, five header octets and the MAC.
    der[len(der) - (5 + len(message.protection)) - 1] ^= 0x01
    (request,) = cmp.parse_pki_message(bytes(der)).cert_requests
    assert (request.pop, request.pop_valid) == ("signature", False)


def test_subject_alt_names_from_openssl(work: Work) -> None:
    (request,) = _parsed(work, "ir_sans").cert_requests
    assert request.dns_names == ("example.com",)
    assert request.ip_addresses == ("192.0.2.1", "2001:db8::1")
    assert request.emails == ("dev@example.org",)
    assert request.pop_valid


def test_cr_with_signature_protection_from_openssl(work: Work) -> None:
    message = _parsed(work, "cr")
    client = x509.load_der_x509_certificate(work.client)
    ski = client.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert message.body_type == "cr"
    assert message.header.protection_oid == ECDSA_SHA256
    assert message.header.sender == directory_name(_cn("client"))
    assert message.header.recipient == directory_name(CA_NAME)  # the issuer of -cert
    assert message.header.sender_kid == ski
    assert message.extra_certs[0] == work.client
    assert cmp.verify_signature(message, message.extra_certs[0])
    assert not cmp.verify_signature(message, work.ca.der)
    protection = message.protection
    assert protection is not None
    flipped = protection[:-1] + bytes((protection[-1] ^ 1,))
    assert not cmp.verify_signature(dataclasses.replace(message, protection=flipped), work.client)
    with pytest.raises(cmp.MACError, match="not a MAC"):
        cmp.mac_parameters(message)
    with pytest.raises(cmp.MACError):
        cmp.verify_mac(message, SECRET, 1, 1000)
    with pytest.raises(ValueError, match="does not parse"):
        cmp.verify_signature(message, b"\x30\x03\x02\x01\x01")
    (request,) = message.cert_requests
    assert (request.subject, request.pop_valid) == ((("CN", "dev"),), True)


def test_kur_from_openssl(work: Work) -> None:
    message = _parsed(work, "kur")
    assert message.body_type == "kur"
    assert cmp.verify_signature(message, work.client)
    (request,) = message.cert_requests
    assert request.subject == (("CN", "client"),)  # OpenSSL copies the old subject
    assert (request.spki_der, request.pop_valid) == (work.spki, True)


def test_p10cr_from_openssl(work: Work) -> None:
    message = _parsed(work, "p10cr")
    assert message.body_type == "p10cr"
    assert message.p10_request == work.csr
    assert message.cert_requests == ()
    cmp.verify_mac(message, SECRET, 100, 1000)


def test_rr_from_openssl(work: Work) -> None:
    message = _parsed(work, "rr")
    client = x509.load_der_x509_certificate(work.client)
    assert message.body_type == "rr"
    assert message.revocations == (
        cmp.RevocationRequest(
            serial=client.serial_number,
            issuer=client.issuer.public_bytes(),
            reason=1,
            template_fields=("serialNumber", "issuer"),
            entry_extensions=(cmp.ID_CE_CRL_REASONS,),
            reasons=(1,),
        ),
    )
    assert cmp.verify_signature(message, message.extra_certs[0])


def test_genm_from_openssl(work: Work) -> None:
    message = _parsed(work, "genm")
    assert message.body_type == "genm"
    assert message.general_info_types == (cmp.ID_IT_CA_CERTS,)
    cmp.verify_mac(message, SECRET, 100, 1000)


def test_reply_mac_keeps_the_scheme_with_a_fresh_salt(work: Work) -> None:
    message = _parsed(work, "ir_implicit")
    before = _pbm_parameters(message)
    first, second = cmp.reply_mac(message), cmp.reply_mac(message)
    for protect in (first, second):
        # the MAC made with what reply_mac read is the one its algorithm's DER gives
        assert protect.mac(SECRET, b"part") == cmp.mac(protect.algorithm, SECRET, b"part")
        after = _pbm_parameters(_with_algorithm(message, protect.algorithm))
        assert len(after["salt"]) == len(before["salt"]) == 16
        assert bytes(after["salt"]) != bytes(before["salt"])
        for field in ("owf", "iterationCount", "mac"):
            assert after[field] == before[field]
    assert first.algorithm != second.algorithm


def _pbm_parameters(message: cmp.PKIMessage) -> Any:
    assert message.header.protection_algorithm is not None
    algorithm, _ = decoder.decode(
        message.header.protection_algorithm, asn1Spec=rfc5280.AlgorithmIdentifier()
    )
    assert str(algorithm["algorithm"]) == cmp.PASSWORD_BASED_MAC
    params, _ = decoder.decode(bytes(algorithm["parameters"]), asn1Spec=rfc4210.PBMParameter())
    return params


def _with_algorithm(message: cmp.PKIMessage, algorithm: bytes) -> cmp.PKIMessage:
    header = dataclasses.replace(message.header, protection_algorithm=algorithm)
    return dataclasses.replace(message, header=header)


# --- round trips: OpenSSL as the client of our replies ------------------------------------


@pytest.fixture
def run_openssl(work: Work) -> Iterator[Any]:
    """Runs ``openssl cmp`` against a responder; yields a function returning
    (responder logic, exit code, output)."""

    def run(args: list[str], **options: Any) -> tuple[CMPResponder, int, str]:
        (work.path / "out.pem").unlink(missing_ok=True)
        logic = CMPResponder(work.ca, secret=options.pop("secret", SECRET), **options)
        with HTTPResponder(logic) as server:
            result = _openssl(work.path, "cmp", "-server", server.url, *args)
        assert all(path == "/pkix/" for path in server.paths)
        return logic, result.returncode, result.stdout + result.stderr

    yield run


def _saved_certificate(work: Work, name: str = "out.pem") -> bytes:
    return x509.load_pem_x509_certificate((work.path / name).read_bytes()).public_bytes(
        Encoding.DER
    )


@pytest.mark.parametrize("implicit", [False, True], ids=["certConf", "implicitConfirm"])
def test_openssl_enrols_with_mac(work: Work, run_openssl: Any, implicit: bool) -> None:
    extra = ["-implicit_confirm"] if implicit else []
    logic, code, output = run_openssl(
        ["-cmd", "ir", *MAC_ARGS, *ENROL, "-cacertsout", "capubs.pem", *extra]
    )
    assert code == 0, output
    assert logic.problems == []
    assert _saved_certificate(work) == logic.issued[0]
    assert _saved_certificate(work, "capubs.pem") == work.ca.der  # caPubs of the ip
    ir, ip = logic.seen[0], cmp.parse_reply(logic.sent[0])
    assert ip.body_type == "ip"
    assert ip.header.transaction_id == ir.header.transaction_id
    assert ip.header.recip_nonce == ir.header.sender_nonce
    assert ip.header.implicit_confirm is implicit
    assert ip.header.sender_kid == b"1234"
    if implicit:
        assert [m.body_type for m in logic.seen] == ["ir"]
    else:
        assert [m.body_type for m in logic.seen] == ["ir", "certConf"]
        (confirm,) = logic.confirmed  # its certHash was checked against cert_hash()
        assert (confirm.cert_req_id, confirm.hash_algorithm) == (0, None)
        assert confirm.status in (None, cmp.PKIStatus.accepted)
        assert cmp.parse_reply(logic.sent[1]).body_type == "pkiconf"


def test_openssl_refuses_a_reply_mac_made_with_another_secret(work: Work, run_openssl: Any) -> None:
    logic, code, output = run_openssl(["-cmd", "ir", *MAC_ARGS, *ENROL], secret=b"wrong")
    assert code != 0
    assert "wrong pbm value" in output
    assert logic.problems == ["ir: MAC does not verify"]  # and we refused theirs
    assert not (work.path / "out.pem").exists()


def test_openssl_prints_our_error(work: Work, run_openssl: Any) -> None:
    refuse = (cmp.FailureInfo.badPOP, "proof of possession refused by the test")
    logic, code, output = run_openssl(["-cmd", "ir", *MAC_ARGS, *ENROL], refuse=refuse)
    assert code != 0
    assert "PKIFailureInfo: badPOP" in output
    assert "proof of possession refused by the test" in output
    assert cmp.parse_reply(logic.sent[0]).error_text == (
        "badPOP: proof of possession refused by the test"
    )
    assert not (work.path / "out.pem").exists()


def test_openssl_reads_an_unprotected_error_only_when_told(work: Work, run_openssl: Any) -> None:
    refuse = (cmp.FailureInfo.badMessageCheck, "cannot authenticate you")
    args = ["-cmd", "ir", *MAC_ARGS, *ENROL]
    _logic, code, output = run_openssl(args, refuse=refuse, unprotected_errors=True)
    assert code != 0 and "missing protection" in output
    assert "cannot authenticate you" not in output
    logic, code, output = run_openssl(
        [*args, "-unprotected_errors"], refuse=refuse, unprotected_errors=True
    )
    assert code != 0
    assert "ignoring missing protection of error response" in output
    assert 'StatusString: "cannot authenticate you"' in output
    reply = cmp.parse_reply(logic.sent[0])
    assert (reply.protection, reply.header.protection_algorithm) == (None, None)


@pytest.mark.parametrize("trust", ["-srvcert", "-trusted"])
@pytest.mark.parametrize("command", ["cr", "kur"])
def test_openssl_enrols_with_signatures(
    work: Work, run_openssl: Any, command: str, trust: str
) -> None:
    subject = ["-subject", "/CN=dev"] if command == "cr" else []
    args = ["-cmd", command, *SIGNED, *subject, "-newkey", "key.pem", "-certout", "out.pem"]
    logic, code, output = run_openssl([*args, trust, "ca.pem"])
    assert code == 0, output
    assert logic.problems == []  # their signatures verified with verify_signature
    assert _saved_certificate(work) == logic.issued[0]
    reply = cmp.parse_reply(logic.sent[0])
    assert reply.body_type == {"cr": "cp", "kur": "kup"}[command]
    assert reply.header.protection_oid == ECDSA_SHA256
    assert reply.header.sender_kid == work.ca.key_id
    assert reply.extra_certs == (work.ca.der,)
    assert [m.body_type for m in logic.seen] == [command, "certConf"]


def test_openssl_revokes_and_asks_for_ca_certs(work: Work, run_openssl: Any) -> None:
    logic, code, output = run_openssl(
        ["-cmd", "rr", *SIGNED, "-oldcert", "client.pem", "-srvcert", "ca.pem"]
    )
    assert code == 0, output
    assert logic.problems == []
    assert cmp.parse_reply(logic.sent[0]).body_type == "rp"
    logic, code, output = run_openssl(["-cmd", "genm", *MAC_ARGS, "-infotype", "caCerts"])
    assert code == 0, output
    assert "genp contains ITAV of type: id-it-caCerts" in output
    assert logic.problems == []


@pytest.mark.parametrize("cert_req_id", [0, -1])
def test_openssl_p10cr_round_trip(work: Work, run_openssl: Any, cert_req_id: int) -> None:
    logic, code, output = run_openssl(
        ["-cmd", "p10cr", *MAC_ARGS, "-csr", "x.csr", "-certout", "out.pem"],
        p10cr_cert_req_id=cert_req_id,
    )
    assert code == 0, output
    assert logic.problems == []
    assert x509.load_der_x509_certificate(logic.issued[0]).subject == _cn("p10")
    assert [c.cert_req_id for c in logic.confirmed] == [cert_req_id]  # echoed in certConf


def test_openssl_30_refuses_pvno_3(work: Work, run_openssl: Any) -> None:
    """RFC 4210 section 7 as updated by RFC 9480: cmp2021 is answered with cmp2021; OpenSSL
    3.0 sends and accepts only cmp2000, so the reply must follow the request's pvno (and
    the field is really written)."""
    logic, code, output = run_openssl(["-cmd", "ir", *MAC_ARGS, *ENROL], pvno=3)
    assert code != 0 and "unexpected pvno" in output
    assert cmp.parse_reply(logic.sent[0]).header.pvno == 3


# --- PBMAC1, checked against cryptography ----------------------------------------------------


def _pbmac1_algorithm(
    salt: bytes, iterations: int, key_length: int | None, prf: str | None, scheme: str
) -> bytes:
    """AlgorithmIdentifier { id-PBMAC1, PBMAC1-params { PBKDF2, messageAuthScheme } }."""
    pbkdf2 = rfc8018.PBKDF2_params()
    pbkdf2["salt"]["specified"] = salt
    pbkdf2["iterationCount"] = iterations
    if key_length is not None:
        pbkdf2["keyLength"] = key_length
    if prf is not None:
        pbkdf2["prf"]["algorithm"] = univ.ObjectIdentifier(prf)
        pbkdf2["prf"]["parameters"] = univ.Any(b"\x05\x00")
    params = rfc8018.PBMAC1_params()
    params["keyDerivationFunc"]["algorithm"] = rfc8018.id_PBKDF2
    params["keyDerivationFunc"]["parameters"] = univ.Any(encoder.encode(pbkdf2))
    params["messageAuthScheme"]["algorithm"] = univ.ObjectIdentifier(scheme)
    params["messageAuthScheme"]["parameters"] = univ.Any(b"\x05\x00")
    algorithm = rfc5280.AlgorithmIdentifier()
    algorithm["algorithm"] = rfc8018.id_PBMAC1
    algorithm["parameters"] = univ.Any(encoder.encode(params))
    return bytes(encoder.encode(algorithm))


def _reply_header(algorithm: bytes, **changes: Any) -> cmp.ReplyHeader:
    header = cmp.ReplyHeader(
        sender=directory_name(CA_NAME),
        recipient=directory_name(_cn("dev")),
        transaction_id=bytes(range(16)),
        sender_nonce=bytes(range(16, 32)),
        recip_nonce=bytes(range(32, 48)),
        message_time=datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=UTC),
        protection_algorithm=algorithm,
        sender_kid=b"1234",
        implicit_confirm=False,
    )
    return dataclasses.replace(header, **changes)


SHA256_HMAC = "1.2.840.113549.2.9"
PBMAC1_CASES = {
    # (prf OID or None for the DEFAULT hmacWithSHA1, keyLength or None, scheme, hash, key len)
    "sha256": (SHA256_HMAC, 32, SHA256_HMAC, hashes.SHA256(), 32),
    "sha512-scheme": (SHA256_HMAC, 64, "1.2.840.113549.2.11", hashes.SHA512(), 64),
    "defaults": (None, None, SHA256_HMAC, hashes.SHA256(), 32),
}


@pytest.mark.parametrize("case", PBMAC1_CASES)
def test_pbmac1_against_cryptography(case: str) -> None:
    prf, key_length, scheme, digest, length = PBMAC1_CASES[case]
    salt, iterations = bytes(range(100, 116)), 2048
    algorithm = _pbmac1_algorithm(salt, iterations, key_length, prf, scheme)
    header, body = _reply_header(algorithm), cmp.pkiconf_body()
    part = cmp.protected_part(header, body)
    prf_hash = hashes.SHA256() if prf else hashes.SHA1()
    key = PBKDF2HMAC(prf_hash, length, salt, iterations).derive(SECRET)
    signer = hmac.HMAC(key, digest)
    signer.update(part)
    expected = signer.finalize()
    assert cmp.mac(algorithm, SECRET, part) == expected
    message = cmp.parse_reply(cmp.assemble(header, body, expected))
    assert cmp.mac_parameters(message) == (cmp.PBMAC1, iterations)
    cmp.verify_mac(message, SECRET, 1000, 10_000)
    with pytest.raises(cmp.MACError, match="does not verify"):
        cmp.verify_mac(message, b"S3cret", 1000, 10_000)
    with pytest.raises(cmp.MACError, match="2048 outside"):
        cmp.verify_mac(message, SECRET, 4096, 10_000)
    protect = cmp.reply_mac(message)
    fresh = protect.algorithm
    new_salt = _salt_in(fresh)
    assert len(new_salt) == 16 and new_salt != salt
    assert fresh.replace(new_salt, salt) == algorithm  # only the salt differs
    reply_header = _reply_header(fresh)
    reply_part = cmp.protected_part(reply_header, body)
    reply_mac = protect.mac(SECRET, reply_part)
    assert reply_mac == cmp.mac(fresh, SECRET, reply_part)
    reply = cmp.parse_reply(cmp.assemble(reply_header, body, reply_mac))
    cmp.verify_mac(reply, SECRET, 1000, 10_000)


def _salt_in(pbmac1_algorithm: bytes) -> bytes:
    algorithm, _ = decoder.decode(pbmac1_algorithm, asn1Spec=rfc5280.AlgorithmIdentifier())
    params, _ = decoder.decode(bytes(algorithm["parameters"]), asn1Spec=rfc8018.PBMAC1_params())
    kdf, _ = decoder.decode(
        bytes(params["keyDerivationFunc"]["parameters"]), asn1Spec=rfc8018.PBKDF2_params()
    )
    return bytes(kdf["salt"]["specified"])


def test_password_based_mac_against_hashlib() -> None:
    """RFC 4210 5.1.3.1 written out: BASEKEY = SHA-256^n(secret || salt), HMAC-SHA256."""
    salt, iterations = b"NaCl" * 4, 1000
    pbm = rfc4210.PBMParameter()
    pbm["salt"] = salt
    pbm["owf"]["algorithm"] = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
    pbm["iterationCount"] = iterations
    pbm["mac"]["algorithm"] = univ.ObjectIdentifier(SHA256_HMAC)
    algorithm = rfc5280.AlgorithmIdentifier()
    algorithm["algorithm"] = rfc4210.id_PasswordBasedMac
    algorithm["parameters"] = univ.Any(encoder.encode(pbm))
    algorithm_der = bytes(encoder.encode(algorithm))
    key = SECRET + salt
    for _ in range(iterations):
        key = hashlib.sha256(key).digest()
    signer = hmac.HMAC(key, hashes.SHA256())
    signer.update(b"data")
    assert cmp.mac(algorithm_der, SECRET, b"data") == signer.finalize()


def test_unsupported_mac_parameters_raise_mac_error() -> None:
    md5_owf = _pbm_algorithm(owf="1.2.840.113549.2.5", mac=SHA256_HMAC, iterations=10)
    with pytest.raises(cmp.MACError, match=r"owf 1\.2\.840\.113549\.2\.5 is not supported"):
        cmp.mac(md5_owf, SECRET, b"data")
    with pytest.raises(cmp.MACError, match="outside"):
        cmp.mac(_pbm_algorithm(iterations=cmp_protection.MAX_ITERATIONS + 1), SECRET, b"x")
    with pytest.raises(cmp.MACError, match="outside"):
        cmp.mac(_pbm_algorithm(iterations=0), SECRET, b"x")
    with pytest.raises(cmp.MACError, match="not a MAC"):
        cmp.mac(cmp.signature_algorithm_der("sha256_ecdsa"), SECRET, b"x")
    with pytest.raises(cmp.MACError, match="does not decode"):
        cmp.mac(b"\x30\x03\x02\x01\x01", SECRET, b"x")
    not_pbkdf2 = _pbmac1_algorithm(b"salt" * 4, 10, 32, SHA256_HMAC, SHA256_HMAC).replace(
        bytes(encoder.encode(rfc8018.id_PBKDF2)), bytes(encoder.encode(rfc8018.id_PBES2))
    )
    with pytest.raises(cmp.MACError, match="is not PBKDF2"):
        cmp.mac(not_pbkdf2, SECRET, b"x")


def _pbm_algorithm(
    owf: str = "2.16.840.1.101.3.4.2.1", mac: str = SHA256_HMAC, iterations: int = 100
) -> bytes:
    pbm = rfc4210.PBMParameter()
    pbm["salt"] = b"0123456789abcdef"
    pbm["owf"]["algorithm"] = univ.ObjectIdentifier(owf)
    pbm["iterationCount"] = iterations
    pbm["mac"]["algorithm"] = univ.ObjectIdentifier(mac)
    algorithm = rfc5280.AlgorithmIdentifier()
    algorithm["algorithm"] = rfc4210.id_PasswordBasedMac
    algorithm["parameters"] = univ.Any(encoder.encode(pbm))
    return bytes(encoder.encode(algorithm))


def test_verify_mac_refuses_unprotected_and_signed_messages() -> None:
    header = _reply_header(b"")
    unprotected = cmp.parse_reply(cmp.assemble_unprotected(header, cmp.pkiconf_body()))
    with pytest.raises(cmp.MACError, match="no protectionAlg"):
        cmp.verify_mac(unprotected, SECRET, 1, 1000)
    with pytest.raises(cmp.MACError, match="no protectionAlg"):
        cmp.reply_mac(unprotected)
    assert not cmp.verify_signature(unprotected, TestCA.create().der)


# --- replies read back --------------------------------------------------------------------


def _body(der: bytes) -> Any:
    body, rest = decoder.decode(der, asn1Spec=rfc9480.PKIBody())
    assert rest == b""
    return body


def _cn(value: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])


def _bits(bit_string: Any) -> set[int]:
    return {index for index, bit in enumerate(bit_string) if bit}


def test_cert_rep_body_structure() -> None:
    ca = TestCA.create()
    leaf = ca.issue(_cn("leaf"), ec.generate_private_key(ec.SECP256R1()).public_key())
    der = cmp.cert_rep_body("kup", 7, cmp.PKIStatus.accepted, leaf, ca_pubs=[ca.der])
    assert der[0] == 0xA8  # [8] kup
    assert leaf in der and ca.der in der  # embedded byte for byte
    body = _body(der)
    assert body.getName() == "kup"
    (response,) = body["kup"]["response"]
    assert int(response["certReqId"]) == 7
    assert int(response["status"]["status"]) == 0
    assert not response["status"]["failInfo"].isValue
    certificate = response["certifiedKeyPair"]["certOrEncCert"]["certificate"]
    assert encoder.encode(certificate) == b"\xa0\x82" + len(leaf).to_bytes(2, "big") + leaf
    assert [encoder.encode(c) for c in body["kup"]["caPubs"]] == [ca.der]


def test_cert_rep_body_rejection() -> None:
    der = cmp.cert_rep_body(
        "cp",
        -1,
        cmp.PKIStatus.rejection,
        None,
        [cmp.FailureInfo.badCertTemplate, cmp.FailureInfo.badPOP],
        "no",
    )
    (response,) = _body(der)["cp"]["response"]
    assert int(response["certReqId"]) == -1
    status = response["status"]
    assert int(status["status"]) == 2
    assert [str(text) for text in status["statusString"]] == ["no"]
    assert _bits(status["failInfo"]) == {9, 19}
    assert len(status["failInfo"]) == 20  # X.690 11.2.2: trailing zero bits dropped
    assert not response["certifiedKeyPair"].isValue


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("ip", 0, cmp.PKIStatus.accepted, None), "certificate must be present"),
        (("ip", 0, cmp.PKIStatus.rejection, b"\x30\x00"), "certificate must be present"),
        (("rp", 0, cmp.PKIStatus.accepted, b"\x30\x00"), "not a CertRepMessage"),
        (("ip", 0, cmp.PKIStatus.accepted, b"\x30\x03\x02\x01\x01"), "does not decode"),
        # RFC 9483 4.1.1: failInfo MUST be absent when the status is accepted/grantedWithMods
        (
            ("cp", 0, cmp.PKIStatus.grantedWithMods, b"\x30\x00", [cmp.FailureInfo.badAlg]),
            "failInfo must be absent",
        ),
    ],
)
def test_cert_rep_body_refuses(arguments: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cmp.cert_rep_body(*arguments)


def test_error_body() -> None:
    der = cmp.error_body([cmp.FailureInfo.badMessageCheck], "MAC wrong")
    content = _body(der)["error"]
    assert int(content["pKIStatusInfo"]["status"]) == 2
    assert _bits(content["pKIStatusInfo"]["failInfo"]) == {1}
    waiting = _body(cmp.error_body([], "busy", cmp.PKIStatus.waiting))["error"]
    assert int(waiting["pKIStatusInfo"]["status"]) == 3
    assert not waiting["pKIStatusInfo"]["failInfo"].isValue
    header = _reply_header(b"")
    assert cmp.parse_reply(cmp.assemble_unprotected(header, der)).error_text == (
        "badMessageCheck: MAC wrong"
    )
    two = cmp.error_body([cmp.FailureInfo.badPOP, cmp.FailureInfo.badAlg], "a")
    assert cmp.parse_reply(cmp.assemble_unprotected(header, two)).error_text == "badAlg,badPOP: a"
    bare = cmp.error_body([], "")
    assert cmp.parse_reply(cmp.assemble_unprotected(header, bare)).error_text is None


def test_rp_genp_poll_rep_pkiconf_bodies() -> None:
    rp = _body(
        cmp.rp_body(
            [
                (cmp.PKIStatus.accepted, (), None),
                (cmp.PKIStatus.rejection, [cmp.FailureInfo.badCertId], "?"),
            ]
        )
    )["rp"]
    assert [int(s["status"]) for s in rp["status"]] == [0, 2]
    assert _bits(rp["status"][1]["failInfo"]) == {4}
    ca = TestCA.create()
    value = cmp.ca_certs_value([ca.der])
    genp = _body(cmp.genp_body([(cmp.ID_IT_CA_CERTS, value), (cmp.ID_IT_CRLS, None)]))["genp"]
    assert [str(item["infoType"]) for item in genp] == [cmp.ID_IT_CA_CERTS, cmp.ID_IT_CRLS]
    assert bytes(genp[0]["infoValue"]) == value
    assert not genp[1]["infoValue"].isValue
    certs, rest = decoder.decode(value, asn1Spec=rfc9480.CaCertsValue())
    assert rest == b"" and [encoder.encode(c) for c in certs] == [ca.der]
    poll = _body(cmp.poll_rep_body([(0, 30, "queued"), (1, 5, None)]))["pollRep"]
    assert [(int(p["certReqId"]), int(p["checkAfter"])) for p in poll] == [(0, 30), (1, 5)]
    assert [str(t) for t in poll[0]["reason"]] == ["queued"]
    assert _body(cmp.pkiconf_body()).getName() == "pkiconf"
    for bad in (lambda: cmp.rp_body([]), lambda: cmp.poll_rep_body([(0, -1, None)])):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="at least one"):
        cmp.ca_certs_value([])
    with pytest.raises(ValueError, match="infoValue"):
        cmp.genp_body([(cmp.ID_IT_CA_CERTS, b"\x30\x05")])


def test_rfc9810_5_3_19_15_root_ca_key_update_value_tags_the_links_explicitly() -> None:
    """RootCaKeyUpdateContent { newWithNew, newWithOld [0], oldWithNew [1] }: each
    certificate byte for byte, the two links under explicit tags (a tagged CHOICE);
    oldWithNew may be left out; it decodes under RFC 9480's ASN.1."""
    new, new_with_old, old_with_new = (TestCA.create().der for _ in range(3))
    value = cmp.root_ca_key_update_value(new, new_with_old, old_with_new)
    assert value == der.tlv(0x30, new + der.tlv(0xA0, new_with_old) + der.tlv(0xA1, old_with_new))
    decoded, rest = decoder.decode(value, asn1Spec=rfc9480.RootCaKeyUpdateContent())
    assert rest == b"" and encoder.encode(decoded["newWithNew"]) == new
    short = cmp.root_ca_key_update_value(new, new_with_old)
    assert short == der.tlv(0x30, new + der.tlv(0xA0, new_with_old))
    with pytest.raises(ValueError, match="newWithOld does not decode"):
        cmp.root_ca_key_update_value(new, b"\x30\x00")


@pytest.mark.parametrize("pvno", [2, 3])
def test_reply_header_round_trip(pvno: int) -> None:
    algorithm = cmp.signature_algorithm_der("sha256_ecdsa")
    header = _reply_header(algorithm, pvno=pvno, implicit_confirm=True)
    body = cmp.pkiconf_body()
    message = cmp.parse_reply(cmp.assemble(header, body, b"\x01\x02"))
    parsed = message.header
    assert parsed == cmp.Header(
        pvno=pvno,
        sender=header.sender,
        recipient=header.recipient,
        message_time=datetime(2025, 6, 1, 9, 30, 15, tzinfo=UTC),  # whole seconds
        protection_algorithm=algorithm,
        protection_oid=ECDSA_SHA256,
        sender_kid=b"1234",
        recip_kid=None,
        transaction_id=header.transaction_id,
        sender_nonce=header.sender_nonce,
        recip_nonce=header.recip_nonce,
        implicit_confirm=True,
        general_info=(cmp.GeneralInfo(cmp.ID_IT_IMPLICIT_CONFIRM, b"\x05\x00"),),
    )
    assert message.protected_part == cmp.protected_part(header, body)
    assert message.protection == b"\x01\x02"
    assert message.body_type == "pkiconf"
    bare = cmp.parse_reply(
        cmp.assemble_unprotected(
            _reply_header(b"", transaction_id=b"", sender_kid=None, recip_nonce=None), body
        )
    ).header
    assert (bare.transaction_id, bare.sender_kid, bare.recip_nonce) == (None, None, None)
    assert (bare.protection_algorithm, bare.implicit_confirm) == (None, False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sender": b"junk"}, "sender"),
        ({"recipient": b"\x30\x00"}, "recipient"),
        ({"protection_algorithm": b"\x04\x00"}, "protection_algorithm"),
        ({"message_time": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"pvno": 1}, "pvno"),
    ],
)
def test_reply_header_refuses(changes: dict[str, Any], message: str) -> None:
    header = _reply_header(cmp.signature_algorithm_der("ed25519"), **changes)
    with pytest.raises(ValueError, match=message):
        cmp.protected_part(header, cmp.pkiconf_body())


def test_reply_header_names_of_the_ordinary_form_are_checked_without_pyasn1() -> None:
    """RFC 4210 5.1.1: an answer's recipient is the requester's name, new with each client:
    a directoryName of the ordinary form is checked by a walk of its DER, with no pyasn1
    decoding; other names are still checked by pyasn1 (test_reply_header_refuses)."""
    algorithm = cmp.signature_algorithm_der("ed25519")
    for number in range(3):
        header = _reply_header(algorithm, recipient=directory_name(_cn(f"client-{number}")))
        misses = crmf.checked_once.cache_info().misses
        answer = cmp.assemble(header, cmp.pkiconf_body(), b"\x00")
        assert crmf.checked_once.cache_info().misses == misses
        assert cmp.parse_reply(answer).header.recipient == header.recipient
    for other in (NULL_DN, der.tlv(0x82, b"example.com")):  # pyasn1 checks them
        assert cmp.protected_part(_reply_header(algorithm, recipient=other), cmp.pkiconf_body())


def test_assemble_refuses() -> None:
    signed = _reply_header(cmp.signature_algorithm_der("ed25519"))
    body = cmp.pkiconf_body()
    with pytest.raises(ValueError, match="protection_algorithm are required"):
        cmp.assemble(_reply_header(b""), body, b"\x00")
    with pytest.raises(ValueError, match="protection_algorithm are required"):
        cmp.assemble(signed, body, b"")
    with pytest.raises(ValueError, match="no protection_algorithm"):
        cmp.assemble_unprotected(signed, body)
    with pytest.raises(ValueError, match="body"):
        cmp.assemble(signed, b"\xb3\x02\x05", b"\x00")  # truncated
    with pytest.raises(ValueError, match="extraCerts"):
        cmp.assemble(signed, body, b"\x00", [b"\x30\x00"])


def test_assemble_protected_is_assemble_from_the_protected_part() -> None:
    """The answer is joined from the very octets that were protected, header written once."""
    header = _reply_header(cmp.signature_algorithm_der("ed25519"))
    body = cmp.pkiconf_body()
    part = cmp.protected_part(header, body)
    certificates = [TestCA.create().der]
    assert cmp.assemble_protected(part, b"\x01\x02", certificates) == cmp.assemble(
        header, body, b"\x01\x02", certificates
    )
    with pytest.raises(ValueError, match="protection is required"):
        cmp.assemble_protected(part, b"")
    with pytest.raises(ValueError, match="extraCerts"):
        cmp.assemble_protected(part, b"\x00", [b"\x30\x00"])


def test_signature_algorithm_der() -> None:
    # RFC 5758 3.2 (no parameters), RFC 4055 5 (NULL parameters), RFC 8410 3 (none)
    assert cmp.signature_algorithm_der("sha256_ecdsa").hex() == "300a06082a8648ce3d040302"
    assert cmp.signature_algorithm_der("sha384_ecdsa").hex() == "300a06082a8648ce3d040303"
    assert cmp.signature_algorithm_der("sha256_rsa").hex() == "300d06092a864886f70d01010b0500"
    assert cmp.signature_algorithm_der("ed25519").hex() == "300506032b6570"
    with pytest.raises(ValueError, match="unsupported"):
        cmp.signature_algorithm_der("sha1_rsa")


def _pss_sha256() -> bytes:
    """RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (RFC 4055 3.1)."""
    sha256 = rfc5280.AlgorithmIdentifier()
    sha256["algorithm"] = rfc4055.id_sha256
    params = rfc4055.RSASSA_PSS_params()
    params["hashAlgorithm"]["algorithm"] = rfc4055.id_sha256
    params["maskGenAlgorithm"]["algorithm"] = rfc4055.id_mgf1
    params["maskGenAlgorithm"]["parameters"] = univ.Any(encoder.encode(sha256))
    params["saltLength"] = 32
    algorithm = rfc5280.AlgorithmIdentifier()
    algorithm["algorithm"] = rfc4055.id_RSASSA_PSS
    algorithm["parameters"] = univ.Any(encoder.encode(params))
    return bytes(encoder.encode(algorithm))


_RSA_KEY = rsa.generate_private_key(65537, 2048)
SIGNERS: dict[str, tuple[Any, bytes, Any]] = {
    "ed25519": (ed25519.Ed25519PrivateKey.generate(), cmp.signature_algorithm_der("ed25519"), None),
    "rsa-pkcs1": (_RSA_KEY, cmp.signature_algorithm_der("sha256_rsa"), padding.PKCS1v15()),
    "rsa-pss": (
        _RSA_KEY,
        _pss_sha256(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
    ),
    "p384": (
        ec.generate_private_key(ec.SECP384R1()),
        cmp.signature_algorithm_der("sha384_ecdsa"),
        ec.ECDSA(hashes.SHA384()),
    ),
}


@pytest.mark.parametrize("signer", SIGNERS)
def test_signature_protection_of_each_algorithm(signer: str) -> None:
    key, algorithm, scheme = SIGNERS[signer]
    ca = TestCA.create()
    certificate = ca.issue(_cn(signer), key.public_key())
    header, body = _reply_header(algorithm), cmp.genp_body([(cmp.ID_IT_CA_CERTS, None)])
    part = cmp.protected_part(header, body)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(part)
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(part, scheme, hashes.SHA256())
    else:
        signature = key.sign(part, scheme)
    message = cmp.parse_reply(cmp.assemble(header, body, signature, [certificate]))
    assert message.extra_certs == (certificate,)
    assert cmp.verify_signature(message, certificate)
    assert not cmp.verify_signature(message, ca.der)  # another key
    wrong_part = dataclasses.replace(message, protected_part=part + b"\x00")
    assert not cmp.verify_signature(wrong_part, certificate)


def test_cert_hash() -> None:
    ca = TestCA.create()
    leaf = ca.issue(_cn("leaf"), ec.generate_private_key(ec.SECP256R1()).public_key())
    assert cmp.cert_hash(leaf, None) == hashlib.sha256(leaf).digest()  # ecdsa-with-SHA256
    assert cmp.cert_hash(leaf, SHA384) == hashlib.sha384(leaf).digest()  # certConf hashAlg
    assert cmp.cert_hash(leaf, None, "sha384_ecdsa") == hashlib.sha384(leaf).digest()
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_cert = (
        x509.CertificateBuilder()
        .subject_name(_cn("ed"))
        .issuer_name(_cn("ed"))
        .public_key(ed_key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2026, 1, 1, tzinfo=UTC))
        .sign(ed_key, None)
        .public_bytes(Encoding.DER)
    )
    assert cmp.cert_hash(ed_cert, None) == hashlib.sha512(ed_cert).digest()  # RFC 9481 3.3
    p384 = ec.generate_private_key(ec.SECP384R1())
    p384_cert = (
        x509.CertificateBuilder()
        .subject_name(_cn("p384"))
        .issuer_name(_cn("p384"))
        .public_key(p384.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2026, 1, 1, tzinfo=UTC))
        .sign(p384, hashes.SHA384())
        .public_bytes(Encoding.DER)
    )
    assert cmp.cert_hash(p384_cert, None) == hashlib.sha384(p384_cert).digest()
    with pytest.raises(ValueError, match="unsupported hash"):
        cmp.cert_hash(leaf, "1.2.840.113549.2.5")  # MD5
    with pytest.raises(ValueError, match="unknown signature algorithm"):
        cmp.cert_hash(leaf, None, "md5_rsa")
    with pytest.raises(ValueError, match="does not parse"):
        cmp.cert_hash(b"\x30\x00", None)


# --- bad input ------------------------------------------------------------------------------


def _some_request(work: Work) -> bytes:
    return work.requests["ir"]


@pytest.mark.parametrize("cut", [1, 10, 100, -1, -30])
def test_truncated_message(work: Work, cut: int) -> None:
    with pytest.raises(cmp.CMPFormatError):
        cmp.parse_pki_message(_some_request(work)[:cut])


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(seed: int) -> None:
    generator = random.Random(seed)
    data = generator.randbytes(generator.randrange(0, 600))
    if seed % 2:
        data = b"\x30\x82" + len(data).to_bytes(2, "big") + data  # a SEQUENCE of noise
    with pytest.raises(cmp.CMPFormatError):
        cmp.parse_pki_message(data)


def test_empty_and_not_bytes() -> None:
    with pytest.raises(cmp.CMPFormatError):
        cmp.parse_pki_message(b"")
    with pytest.raises(cmp.CMPFormatError, match="bytes"):
        cmp.parse_pki_message("0\x00")  # type: ignore[arg-type]


def test_trailing_bytes(work: Work) -> None:
    der = _some_request(work)
    with pytest.raises(cmp.CMPFormatError, match="1 octets after"):
        cmp.parse_pki_message(der + b"\x00")
    with pytest.raises(cmp.CMPFormatError, match="octets after"):
        cmp.parse_pki_message(der + der)


@pytest.mark.parametrize("pvno", [0, 1, 4, 99])
def test_other_pvno_is_read_for_the_responder_to_refuse(work: Work, pvno: int) -> None:
    der = bytearray(_some_request(work))
    assert der[7:10] == b"\x02\x01\x02"  # INTEGER 2 first in the header (asn1parse offset 7)
    der[9] = pvno
    assert cmp.parse_pki_message(bytes(der)).header.pvno == pvno


def test_pvno_3_is_read(work: Work) -> None:
    der = bytearray(_some_request(work))
    der[9] = 3
    assert cmp.parse_pki_message(bytes(der)).header.pvno == 3


def test_indefinite_length(work: Work) -> None:
    der = _some_request(work)
    assert der[:2] == b"\x30\x82"
    with pytest.raises(cmp.CMPFormatError):
        cmp.parse_pki_message(b"\x30\x80" + der[4:] + b"\x00\x00")


def test_other_der_is_not_a_pki_message(work: Work) -> None:
    with pytest.raises(cmp.CMPFormatError, match="PKIMessage does not decode"):
        cmp.parse_pki_message(work.client)
    with pytest.raises(cmp.CMPFormatError):
        cmp.parse_pki_message(work.csr)


@pytest.mark.parametrize("name", ["ir", "ir_sans", "cr", "p10cr", "rr", "genm"])
def test_mutations_raise_only_cmp_format_error(work: Work, name: str) -> None:
    """One octet changed, anywhere, 300 times: the message parses or CMPFormatError."""
    generator = random.Random(name)
    original = work.requests[name]
    refused = 0
    for _ in range(300):
        der = bytearray(original)
        der[generator.randrange(len(der))] = generator.randrange(256)
        try:
            cmp.parse_pki_message(bytes(der))
        except cmp.CMPFormatError as exc:
            assert len(str(exc)) < 300  # short, never pyasn1's schema dump
            refused += 1
    assert refused > 30


def test_cmp_format_error_is_a_value_error() -> None:
    assert issubclass(cmp.CMPFormatError, ValueError)
    assert issubclass(cmp.MACError, ValueError)


def test_rfc9483_4_3_3_cert_req_template_value_one_control_per_key_type() -> None:
    """RFC 9483 4.3.3 (as its example writes it): keySpec holds one control per supported
    algorithm: id-regCtrl-algId with the key's AlgorithmIdentifier for EC (the curve as
    parameters, RFC 5480 2.1.1) and Ed25519 (none, RFC 8410 3), id-regCtrl-rsaKeyLen alone
    for each RSA size (algId is for "other than rsaEncryption", RFC 9810 5.3.19); the
    certTemplate holds the extensions given and no publicKey."""
    ku_der = x509_extensions.key_usage(["digital_signature"]).dump()
    value = cmp.cert_req_template_value(
        ["ec-p256", "ec-p384", "rsa-3072", "rsa-2048", "ed25519"], [ku_der]
    )
    content, rest = decoder.decode(value, asn1Spec=rfc9480.CertReqTemplateContent())
    assert rest == b""
    template = der.elements(value)[0][1]
    assert [tag for tag, _ in der.elements(template)] == [0xA9]  # extensions only
    assert ku_der in template
    controls = [(str(c["type"]), bytes(c["value"])) for c in content["keySpec"]]
    alg_id, rsa_len = str(rfc9480.id_regCtrl_algId), str(rfc9480.id_regCtrl_rsaKeyLen)
    assert [oid for oid, _ in controls] == [alg_id, alg_id, rsa_len, rsa_len, alg_id]
    algorithms = [
        decoder.decode(v, asn1Spec=rfc5280.AlgorithmIdentifier())[0] for _, v in controls
        if _ == alg_id
    ]  # fmt: skip
    assert [str(a["algorithm"]) for a in algorithms] == [
        "1.2.840.10045.2.1", "1.2.840.10045.2.1", "1.3.101.112",
    ]  # fmt: skip
    assert [str(decoder.decode(a["parameters"])[0]) for a in algorithms[:2]] == [
        "1.2.840.10045.3.1.7", "1.3.132.0.34",
    ]  # fmt: skip
    assert not algorithms[2]["parameters"].isValue
    assert [int(decoder.decode(v)[0]) for oid, v in controls if oid == rsa_len] == [3072, 2048]
    with pytest.raises(ValueError):
        cmp.cert_req_template_value(["dsa-1024"])


@pytest.mark.parametrize("parameter_set", gost.PARAMETER_SETS, ids=lambda p: p.title)
def test_rfc9483_4_3_3_a_gost_key_type_is_its_algorithm_with_its_parameter_set(
    parameter_set: gost.ParameterSet,
) -> None:
    """A GOST key type ("gost2012-256-a") is asked for by id-regCtrl-algId with the key's
    AlgorithmIdentifier as RFC 9215 4.2 writes it in a SubjectPublicKeyInfo (the algorithm
    of protocols.gost.canonical_spki); GOST keys sign and agree keys (RFC 9810 5.3.19.2,
    5.3.19.3), so both lists name it."""
    key_type = f"gost2012-{parameter_set.key_size}-{parameter_set.engine_name.lower()}"
    point = bytes(parameter_set.key_size // 4)
    spki = gost.canonical_spki(gost.GostPublicKey(parameter_set.key_size, parameter_set, point))
    expected = der.elements(spki)[0][1]
    value = cmp.cert_req_template_value([key_type, "ec-p256"])
    content, _ = decoder.decode(value, asn1Spec=rfc9480.CertReqTemplateContent())
    assert bytes(content["keySpec"][0]["value"]) == expected
    assert gost.read_parameters(
        parameter_set.key_size, der.elements(expected)[1][1]
    ) == parameter_set  # fmt: skip
    for purpose in ("signing", "encryption"):
        listed = cmp.key_pair_types_value([key_type, "rsa-2048"], purpose)
        assert listed is not None and der.elements(listed)[0][1] == expected


def _with_extra_certs(message: bytes, certificates: list[bytes]) -> bytes:
    """``message`` with its extraCerts replaced by ``certificates`` (any DER values)."""
    kept = b"".join(raw for tag, raw in der.elements(message) if tag != 0xA1)
    return der.tlv(0x30, kept + der.tlv(0xA1, der.tlv(0x30, b"".join(certificates))))


def _whole_reading(message: bytes) -> str:
    """The reason pyasn1 gives when it decodes ``message`` whole as a PKIMessage."""
    with pytest.raises(crmf.MalformedDER) as refused:
        crmf.decode_der(message, rfc9480.PKIMessage(), "PKIMessage")
    return str(refused.value)


def _with_sender(message: bytes, sender: bytes) -> bytes:
    """``message`` with its header's sender replaced by ``sender`` (any DER value)."""
    header, *rest = der.elements(message)
    fields = [raw for _tag, raw in der.elements(header[1])]
    fields[1] = sender
    return der.tlv(0x30, der.tlv(0x30, b"".join(fields)) + b"".join(raw for _tag, raw in rest))


def _whole_header(message: bytes) -> cmp.Header:
    """The Header read from pyasn1's decoding of ``message`` whole as a PKIMessage."""
    whole = crmf.decode_der(message, rfc9480.PKIMessage(), "PKIMessage")
    raw_header = der.elements(message)[0][1]
    return cmp_messages._header(cmp_messages._HeaderFields(whole["header"]), raw_header)


def _with_header_fields(message: bytes, fields: list[bytes]) -> bytes:
    """``message`` with its header's fields after pvno, sender and recipient replaced."""
    header, *rest = der.elements(message)
    kept = [raw for _tag, raw in der.elements(header[1])][:3]
    return der.tlv(
        0x30, der.tlv(0x30, b"".join(kept + fields)) + b"".join(raw for _tag, raw in rest)
    )


def test_header_fields_read_apart_are_read_as_the_whole_message_would_be(work: Work) -> None:
    """The header's fields that are new in each message (messageTime, protectionAlg, key
    ids, transactionID, nonces) are read on their own and the rest of the header is kept
    decoded: every request reads as when pyasn1 decodes it whole, and a header that does
    not decode is refused with the very reason the whole message's decoding gives."""
    kept = cmp_messages._header_frame.cache_info().hits
    for name, request in work.requests.items():
        for _ in range(2):  # the second time, the rest of the header from what was kept
            assert cmp.parse_pki_message(request).header == _whole_header(request), name
    assert cmp_messages._header_frame.cache_info().hits >= kept + len(work.requests)
    request = work.requests["ir_implicit"]
    fields = [raw for _tag, raw in der.elements(der.elements(request)[0][1])][3:]
    assert [raw[0] for raw in fields] == [0xA0, 0xA1, 0xA2, 0xA4, 0xA5, 0xA8]

    def replaced(tag: int, raw: bytes) -> list[bytes]:
        return [raw if field[0] == tag else field for field in fields]

    octets = der.tlv(0x04, b"\x01" * 16)
    readable = [
        [*fields[:-1], der.tlv(0xA6, octets), fields[-1]],  # a recipNonce, then generalInfo
        replaced(0xA2, der.tlv(0xA2, der.tlv(0x04, b""))),  # an empty senderKID
        replaced(0xA4, b"\xa4\x04\x04\x81\x01\x00"),  # a length not the shortest
        # a constructed OCTET STRING: pyasn1 reads it (BER), so it is read whole
        replaced(0xA2, der.tlv(0xA2, der.tlv(0x24, octets))),
    ]
    unreadable = [
        [*fields, der.tlv(0xA6, octets)],  # a recipNonce after generalInfo
        [der.tlv(0xA3, octets), *fields],  # a recipKID before messageTime
        [*fields[:-1], der.tlv(0xA5, octets), fields[-1]],  # senderNonce twice
        replaced(0xA0, der.tlv(0xA0, der.tlv(0x17, b"991231235959Z"))),  # a UTCTime
        replaced(0xA4, der.tlv(0xA4, der.tlv(0x02, b"\x01"))),  # an INTEGER
        replaced(0xA1, der.tlv(0xA1, der.tlv(0x30, der.tlv(0x02, b"\x01")))),  # no OID
        replaced(0xA5, der.tlv(0xA5, octets + octets)),  # two values in one field
    ]
    for changed in readable + unreadable:
        message = _with_header_fields(request, changed)
        try:
            expected = _whole_header(message)
        except crmf.MalformedDER as exc:
            with pytest.raises(cmp.CMPFormatError) as refused:
                cmp.parse_pki_message(message)
            assert str(refused.value) == str(exc)
            assert changed in unreadable
            continue
        assert cmp.parse_pki_message(message).header == expected
        assert changed in readable


def test_names_and_extra_certs_are_read_as_the_whole_message_would_be(work: Work) -> None:
    """The header's names and each certificate of extraCerts are checked on their own, and
    remembered; the message reads as when pyasn1 decoded it whole, and one that does not
    decode is refused with the very reason the whole message's decoding gives."""
    signed = _with_extra_certs(work.requests["cr"], [work.client, work.ca.der])
    for _ in range(2):  # the second time, from what was remembered
        message = cmp.parse_pki_message(signed)
        assert message.extra_certs == (work.client, work.ca.der)
        assert message.header.sender == directory_name(_cn("client"))
        assert message.der == signed and cmp.verify_signature(message, work.client)
    not_a_certificate = der.tlv(0x30, der.tlv(0x02, b"\x01"))
    not_a_name = der.tlv(0xA4, der.tlv(0x02, b"\x01"))  # a directoryName holding an INTEGER
    for bad in (
        _with_extra_certs(work.requests["cr"], [work.client, not_a_certificate]),
        _with_sender(work.requests["cr"], not_a_name),
        _with_sender(work.requests["ir"], not_a_certificate),
    ):
        with pytest.raises(cmp.CMPFormatError) as refused:
            cmp.parse_pki_message(bad)
        assert str(refused.value) == _whole_reading(bad)


def _read_whole(message: bytes, monkeypatch: pytest.MonkeyPatch) -> cmp.PKIMessage | str:
    """``message`` read from pyasn1's decoding of it whole (nothing read by parts), or the
    reason it is refused with."""
    with monkeypatch.context() as whole:
        whole.setattr(cmp_messages, "_decoded_by_parts", lambda _der: None)
        try:
            return cmp.parse_pki_message(message)
        except cmp.CMPFormatError as exc:
            return str(exc)


def _read(message: bytes) -> cmp.PKIMessage | str:
    try:
        return cmp.parse_pki_message(message)
    except cmp.CMPFormatError as exc:
        return str(exc)


def _same_reading(message: bytes, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether ``message`` reads (or is refused) exactly as when pyasn1 decodes it whole,
    each CertReqMsg's DER included."""
    fast, whole = _read(message), _read_whole(message, monkeypatch)
    if isinstance(fast, str) or isinstance(whole, str):
        return fast == whole
    return fast == whole and [r.der for r in fast.cert_requests] == [
        r.der for r in whole.cert_requests
    ]


def _by_parts(message: bytes) -> bool:
    """Whether the CertReqMessages of ``message`` are read by parts."""
    return crmf.cert_requests_by_parts(der.contents(der.elements(message)[1][1])) is not None


def _with_cert_req_msgs(message: bytes, messages: list[bytes]) -> bytes:
    """``message`` with its body's CertReqMessages made of ``messages`` (any DER values)."""
    header, body, *rest = der.elements(message)
    content = der.tlv(body[0], der.tlv(0x30, b"".join(messages)))
    return der.tlv(0x30, header[1] + content + b"".join(raw for _tag, raw in rest))


def test_cert_requests_read_by_parts_are_read_as_pyasn1_reads_them(
    work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CertReqMessages of an ordinary ir or cr are read by a walk of their DER: every
    request OpenSSL writes, and every alteration of one, reads as when pyasn1 decodes the
    message whole, or is refused with the same reason; the walk is taken for the ordinary
    ones and gives way to pyasn1 for the others."""
    taken = set()
    for name, request in work.requests.items():
        assert _same_reading(request, monkeypatch), name
        if der.elements(request)[1][0] in (0xA0, 0xA2, 0xA7) and _by_parts(request):
            taken.add(name)
    assert taken >= {"ir", "ir_implicit", "ir_no_pop", "cr"}
    assert not taken & {"ir_raverified", "ir_keyenc", "ir_sans", "kur", "p10cr", "rr", "genm"}

    request = work.requests["ir"]
    ((_tag, msg),) = der.elements(der.contents(der.elements(request)[1][1]))
    (_tag, cert_req), (_tag, popo) = der.elements(msg)
    (_tag, req_id), (_tag, template) = der.elements(cert_req)
    (_tag, subject), (_tag, key) = der.elements(template)
    (_tag, key_algorithm), (_tag, key_bits) = der.elements(key)
    (_tag, pop_algorithm), (_tag, signature) = der.elements(popo)
    ecdsa = der.tlv(0x30, der.tlv(0x06, bytes.fromhex("2a8648ce3d040302")))

    def message(
        cert_req_id: bytes = req_id, fields: list[bytes] | None = None, pop: bytes | None = popo
    ) -> bytes:
        chosen = [subject, key] if fields is None else fields
        request_der = der.tlv(0x30, cert_req_id + der.tlv(0x30, b"".join(chosen)))
        return der.tlv(0x30, request_der + (pop or b""))

    def name(*rdns: bytes) -> bytes:
        return der.tlv(0xA5, der.tlv(0x30, b"".join(rdns)))

    def rdn(*pairs: tuple[bytes, bytes]) -> bytes:
        return der.tlv(0x31, b"".join(der.tlv(0x30, oid + value) for oid, value in pairs))

    cn = der.tlv(0x06, bytes.fromhex("550403"))
    org = der.tlv(0x06, bytes.fromhex("55040a"))
    text = der.tlv(0x0C, b"dev")
    by_parts = [
        [message(), message(der.tlv(0x02, b"\x07"))],  # two CertReqMsgs
        [message(der.tlv(0x02, b"\xff"))],  # certReqId -1
        [message(pop=None)],  # no POP
        [message(fields=[subject])],  # no publicKey
        [message(fields=[key])],  # no subject
        [message(fields=[subject, der.tlv(0xA6, key_algorithm + der.tlv(0x03, b"\x00"))])],
        [message(pop=der.tlv(0xA1, pop_algorithm + signature[:-1] + b"\x00"))],  # wrong sig
        [message(pop=der.tlv(0xA1, ecdsa + signature))],  # no NULL parameters: same algorithm
        [message(fields=[name(rdn((cn, text)), rdn((org, text))), key])],
        [message(fields=[b"\xa3" + name(rdn((cn, text)))[1:], subject, key])],  # an issuer
        [message(fields=[b"\xa3" + name(rdn((cn, text)))[1:]])],  # an issuer alone
    ]
    whole = [
        [],  # no CertReqMsg: from here, refusals and forms the walk leaves to pyasn1
        [message(fields=[name(rdn((cn, der.tlv(0x02, b"\x01")))), key])],  # refused: INTEGER
        [message(fields=[name(rdn((der.tlv(0x06, b"\x55\x80\x03"), text))), key])],
        [message(der.tlv(0x02, b"\x00\x07"))],  # a certReqId not minimal
        [message(der.tlv(0x02, b""))],  # an empty INTEGER
        [message(fields=[name(rdn((org, text), (cn, text))), key])],  # a multi-valued RDN
        [message(fields=[name(), key])],  # an empty Name
        [message(fields=[name(rdn((der.tlv(0x06, b"\x55\x04\x80\x03"), text))), key])],
        [message(fields=[name(rdn((der.tlv(0x06, b"\x55\x04\x83"), text))), key])],
        [message(fields=[b"\xa5\x81" + subject[1:], key])],  # a length not the shortest
        [message(fields=[subject, der.tlv(0xA6, key_algorithm + b"\x03\x01\x07")])],
        [message(fields=[subject, der.tlv(0xA6, der.tlv(0x30, b"\x06\x00") + key_bits)])],
        [message(fields=[der.tlv(0xA4, der.tlv(0x30, b"")), subject, key])],  # validity
        [message(fields=[key, subject])],  # out of order
        [message(fields=[subject, subject, key])],  # twice
        [message(fields=[b"\xa3" + name(rdn((org, text), (cn, text)))[1:], subject, key])],
        [message(pop=der.tlv(0xA1, pop_algorithm + b"\x03\x02\x01\x00"))],  # unused bits
        [message(pop=der.tlv(0xA1, der.tlv(0xA0, b"") + pop_algorithm + signature))],
        [message(pop=bytes.fromhex("a0020500"))],  # raVerified
        [message() + der.tlv(0x30, b"")],  # a CertReqMsg with regInfo ... misplaced
        [der.tlv(0x30, der.elements(message())[0][1] + popo + der.tlv(0x30, b""))],  # regInfo
        [der.tlv(0x30, der.tlv(0x30, req_id + der.tlv(0x30, subject + key) + b"\x30\x00"))],
    ]
    for changed in by_parts + whole:
        for body_tag in (0xA0, 0xA2):  # ir and cr
            altered = _with_cert_req_msgs(request, changed)
            altered = der.tlv(0x30, b"".join(
                bytes((body_tag,)) + raw[1:] if index == 1 else raw
                for index, (_tag, raw) in enumerate(der.elements(altered))
            ))  # fmt: skip
            assert _same_reading(altered, monkeypatch), changed
            assert _by_parts(altered) == (changed in by_parts), changed


def test_protection_read_by_parts_is_read_as_pyasn1_reads_it(
    work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With its CertReqMessages read by parts, a message's protection of whole octets is
    read from the DER and the rest, placeholders only, decoded once and kept: every form
    of the elements after the body reads as when pyasn1 decodes the message whole, or is
    refused with the same reason."""
    kept = cmp_messages._placed_message.cache_info().hits
    for name in ("ir", "ir_implicit", "cr"):
        assert _same_reading(work.requests[name], monkeypatch), name
        assert _by_parts(work.requests[name])
    assert cmp_messages._placed_message.cache_info().hits >= kept + 2
    request = work.requests["cr"]
    header, body, protection, *rest = (raw for _tag, raw in der.elements(request))
    assert protection[0] == 0xA0
    bits = der.contents(der.contents(protection))
    altered = [
        [],  # no protection
        [der.tlv(0xA0, der.tlv(0x03, b"\x03" + bits[1:]))],  # unused bits
        [der.tlv(0xA0, der.tlv(0x03, b"\x08" + bits[1:]))],  # more than 7 unused bits
        [der.tlv(0xA0, der.tlv(0x03, b""))],  # an empty BIT STRING
        [der.tlv(0xA0, der.tlv(0x03, b"\x00"))],  # no octets
        [der.tlv(0xA0, der.tlv(0x23, der.tlv(0x03, bits)))],  # constructed (BER)
        [der.tlv(0xA0, b"\x03\x81" + bytes((len(bits),)) + bits)],  # a length not shortest
        [der.tlv(0xA0, der.tlv(0x04, bits))],  # an OCTET STRING
        [der.tlv(0xA0, der.tlv(0x03, bits) + der.tlv(0x03, bits))],  # two in one
        [protection, protection],  # twice
        [protection, der.tlv(0xA2, b"")],  # an unknown element after it
        [der.tlv(0xA2, b""), protection],  # and before it
    ]
    for elements in altered:
        message = der.tlv(0x30, header + body + b"".join(elements) + b"".join(rest))
        assert _same_reading(message, monkeypatch), elements


def test_certification_request_describes_the_key_once(work: Work) -> None:
    """The CSR an ir's template becomes carries its key's description, as key_description
    gives it, so that the issuance does not load the key again to describe it."""
    parsed, cert_req_id = certification_request(_parsed(work, "ir"))
    assert isinstance(parsed, x509_csr.CSR) and cert_req_id == 0
    assert parsed.key_type == x509_csr.key_description(work.spki) == "ec-p256"


def test_header_names_read_by_parts_are_read_as_pyasn1_reads_them(
    work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header's sender (a new client's name in each request) that is a directoryName of
    the ordinary form is checked by a walk of its DER, not decoded by pyasn1; every other
    name is decoded, and every one reads as when pyasn1 decodes the message whole, or is
    refused with the same reason."""
    cn = der.tlv(0x06, bytes.fromhex("550403"))
    text = der.tlv(0x0C, b"client-0427")

    def directory_name(*rdns: bytes) -> bytes:
        return der.tlv(0xA4, der.tlv(0x30, b"".join(rdns)))

    def rdn(*pairs: tuple[bytes, bytes]) -> bytes:
        return der.tlv(0x31, b"".join(der.tlv(0x30, oid + value) for oid, value in pairs))

    plain = [
        directory_name(rdn((cn, text))),
        directory_name(rdn((cn, text)), rdn((der.tlv(0x06, b"\x55\x04\x0a"), text))),
        directory_name(rdn((cn, der.tlv(0x02, b"\x01")))),  # any value: pyasn1's ANY
    ]
    others = [
        NULL_DN,
        directory_name(rdn((cn, text), (cn, text))),  # a multi-valued RDN
        directory_name(rdn((der.tlv(0x06, b"\x55\x80\x03"), text))),  # refused: 0x80
        directory_name(rdn((der.tlv(0x06, b""), text))),  # refused: empty OID
        directory_name(der.tlv(0x31, b"")),  # refused: an empty RDN
        b"\xa4\x81" + directory_name(rdn((cn, text)))[1:],  # a length not the shortest
        der.tlv(0x82, b"example.com"),  # a dNSName
        der.tlv(0xA4, der.tlv(0x02, b"\x01")),  # refused: an INTEGER for a Name
    ]
    for name in plain + others:
        assert crmf.is_plain_directory_name(name) == (name in plain), name
        for request in (work.requests["ir"], work.requests["cr"]):
            assert _same_reading(_with_sender(request, name), monkeypatch), name
    fresh = directory_name(rdn((cn, der.tlv(0x0C, b"client-0428"))))
    for request in (work.requests["ir"], work.requests["cr"]):
        misses = crmf.checked_once.cache_info().misses
        assert isinstance(_read(_with_sender(request, fresh)), cmp.PKIMessage)
        assert crmf.checked_once.cache_info().misses == misses  # not decoded by pyasn1


def _with_protection_algorithm(message: bytes, algorithm: bytes) -> bytes:
    """``message`` with its header's protectionAlg [1] replaced by ``algorithm``."""
    header, *rest = der.elements(message)
    fields = [
        der.tlv(0xA1, algorithm) if tag == 0xA1 else raw for tag, raw in der.elements(header[1])
    ]
    return der.tlv(0x30, der.tlv(0x30, b"".join(fields)) + b"".join(raw for _tag, raw in rest))


def _protection_algorithm(message: bytes) -> bytes:
    header = der.elements(message)[0][1]
    return next(der.contents(raw) for tag, raw in der.elements(header) if tag == 0xA1)


def test_algorithm_identifiers_read_by_parts_are_read_as_pyasn1_reads_them(
    work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 4210 5.1.1: protectionAlg, an AlgorithmIdentifier (RFC 5280 4.1.1.2). Of the plain
    form it is read by a walk of its DER (a MAC's carries a fresh salt in every message):
    what the walk reads, pyasn1 reads the same, OID and parameters; every other form is
    left to pyasn1; and a request carrying any of them reads, or is refused, as when
    pyasn1 decodes it whole."""
    pbm = _protection_algorithm(work.requests["ir"])
    oid = der.tlv(0x06, bytes.fromhex("2a8648ce3d040302"))  # ecdsa-with-SHA256
    null = der.tlv(0x05, b"")
    plain = [
        pbm,
        _protection_algorithm(work.requests["cr"]),
        der.tlv(0x30, oid),
        der.tlv(0x30, der.tlv(0x06, bytes.fromhex("2a864886f70d01010b")) + null),
        der.tlv(0x30, der.tlv(0x06, bytes.fromhex("8837")) + null),  # 2.999
        der.tlv(0x30, oid + der.tlv(0x02, b"\x01")),  # any one value: pyasn1's ANY
        der.tlv(0x30, oid + der.tlv(0x30, b"")),
        der.tlv(0x30, oid + der.tlv(0xA0, der.tlv(0x04, b"x" * 200))),
    ]
    others = [
        der.tlv(0x30, b""),  # refused: no OID
        der.tlv(0x30, der.tlv(0x06, b"")),  # refused: an empty OID
        der.tlv(0x30, der.tlv(0x06, b"\x2a\x80\x01")),  # refused: a subidentifier 0x80...
        der.tlv(0x30, der.tlv(0x06, b"\x2a\x86")),  # refused: the last one unfinished
        der.tlv(0x30, der.tlv(0x02, b"\x01")),  # refused: an INTEGER for the OID
        der.tlv(0x30, oid + null + null),  # refused: three values
        b"\x30\x81" + der.tlv(0x30, oid)[1:],  # a length not the shortest
        der.tlv(0x30, b"\x06\x81" + oid[1:]),  # the OID's
        der.tlv(0x30, oid + b"\x05\x81\x00"),  # the parameters'
        der.tlv(0x30, oid + b"\x1f\x21\x00"),  # a multi-octet tag in the parameters
        der.tlv(0x31, oid),  # refused: a SET
    ]
    for algorithm in plain + others:
        fast = crmf.plain_algorithm(algorithm)
        assert (fast is not None) == (algorithm in plain), algorithm.hex()
        if fast is not None:
            decoded, rest = decoder.decode(algorithm, asn1Spec=rfc5280.AlgorithmIdentifier())
            parameters = decoded["parameters"]
            assert not rest and fast == (
                str(decoded["algorithm"]),
                bytes(parameters) if parameters.isValue else None,
            )
        for name in ("ir", "cr"):
            altered = _with_protection_algorithm(work.requests[name], algorithm)
            assert _same_reading(altered, monkeypatch), (name, algorithm.hex())


def test_pbm_parameters_read_by_parts_are_read_as_pyasn1_reads_them(work: Work) -> None:
    """RFC 4210 5.1.3.1: PBMParameter { salt, owf, iterationCount, mac }. Of the plain form
    it is read by a walk of its DER: the same salt, algorithms, count and re-encoded tail
    (a reply's parameters) as pyasn1's decoding gives; every other form is left to
    pyasn1, which reads it or refuses it as before."""
    parameters = crmf.plain_algorithm(_protection_algorithm(work.requests["ir"]))
    assert parameters is not None and parameters[1] is not None
    salt, owf, count, mac = (raw for _tag, raw in der.elements(parameters[1]))
    sha256 = der.tlv(0x30, der.tlv(0x06, bytes.fromhex("608648016503040201")))

    def pbm(*fields: bytes) -> bytes:
        return der.tlv(0x30, b"".join(fields))

    plain = [
        parameters[1],
        pbm(salt, sha256, count, mac),  # owf without NULL parameters
        pbm(der.tlv(0x04, b""), owf, count, mac),  # an empty salt
        pbm(der.tlv(0x04, b"s" * 128), owf, count, mac),  # a long length, the longest salt
        pbm(salt, owf, der.tlv(0x02, b"\x00\x80"), mac),  # 128
        pbm(salt, owf, der.tlv(0x02, b"\xff"), mac),  # -1: refused later by the bounds
        pbm(salt, der.tlv(0x30, der.tlv(0x06, b"\x2a\x03")), count, mac),  # an unknown owf
    ]
    others = [
        pbm(der.tlv(0x04, b"s" * 129), owf, count, mac),  # refused: longer than 128 octets
        pbm(salt, owf, der.tlv(0x02, b"\x00\x01"), mac),  # an INTEGER not minimal
        pbm(salt, owf, der.tlv(0x02, b""), mac),  # refused: an empty INTEGER
        pbm(der.tlv(0x24, salt), owf, count, mac),  # a constructed salt (BER)
        pbm(b"\x04\x81" + salt[1:], owf, count, mac),  # a length not the shortest
        b"\x30\x81" + pbm(salt, owf, count, mac)[1:],
        pbm(salt, der.tlv(0x30, der.tlv(0x06, b"\x2a\x80\x03")), count, mac),  # refused: OID
        pbm(salt, owf, count),  # refused: no mac
        pbm(salt, owf, count, mac, mac),  # refused: five fields
        pbm(owf, salt, count, mac),  # refused: out of order
        der.tlv(0x31, salt + owf + count + mac),  # refused: a SET
    ]
    for case in plain + others:
        fast = cmp_protection._plain_pbm_parameters(case)
        assert (fast is not None) == (case in plain), case.hex()
        whole, read = (_or_refusal(read, case) for read in (
            cmp_protection._decoded_pbm_parameters, cmp_protection._pbm_parameters
        ))  # fmt: skip
        assert read == whole and (fast is None or fast == whole), case.hex()


def _or_refusal(read: Any, case: bytes) -> object:
    try:
        return read(case)
    except cmp.MACError as exc:
        return str(exc)


def test_a_fresh_salt_is_read_without_pyasn1(work: Work) -> None:
    """A MAC-protected request's protectionAlg, new in each request (RFC 4210 5.1.3.1: the
    salt), is read from its DER for the header, the protection's kind and count, the MAC
    and the answer's protection, whose own protectionAlg is checked the same way: no
    pyasn1 decoding, yet the MAC verifies and the answer's MAC is the one its DER gives."""
    request = work.requests["ir"]
    algorithm = _protection_algorithm(request)
    (_tag, oid), (_tag, parameters) = der.elements(algorithm)
    _salt, *rest = (raw for _tag, raw in der.elements(parameters))
    fresh = der.tlv(0x30, oid + der.tlv(0x30, der.tlv(0x04, b"n" * 16) + b"".join(rest)))
    assert fresh != algorithm
    misses = (crmf.checked_once.cache_info().misses, cmp_protection._decode.cache_info().misses)
    message = cmp.parse_pki_message(_with_protection_algorithm(request, fresh))
    assert message.header.protection_oid == cmp.PASSWORD_BASED_MAC
    assert cmp.protection_kind(message) == "mac"
    assert cmp.mac_parameters(message) == (cmp.PASSWORD_BASED_MAC, 500)
    reply = cmp.reply_mac(message)
    assert reply.mac(SECRET, b"part") == cmp.mac(reply.algorithm, SECRET, b"part")
    assert cmp_replies._checked_header_value(reply.algorithm, "protection_algorithm")
    assert misses == (
        crmf.checked_once.cache_info().misses,
        cmp_protection._decode.cache_info().misses,
    )


def test_object_identifiers_are_read_as_pyasn1_reads_them() -> None:
    """X.690 8.19: an OBJECT IDENTIFIER of DER's form is read once and kept; every other
    form is read, or refused with the same reason, as pyasn1 reads it."""
    forms = [
        bytes.fromhex("06082b0601050507040d"),  # id-it-implicitConfirm
        bytes.fromhex("06028837"),  # 2.999
        der.tlv(0x06, b"\x2a" + b"\x01" * 130),  # a long length
        bytes.fromhex("06032a8001"),  # refused: a subidentifier 0x80...
        bytes.fromhex("06022a86"),  # refused: unfinished
        bytes.fromhex("0600"),  # refused: empty
        bytes.fromhex("0681022a03"),  # a length not the shortest
        bytes.fromhex("020101"),  # refused: an INTEGER
        b"\x06",  # refused: truncated
    ]
    for form in forms:
        try:
            expected = str(crmf.decode_der(form, univ.ObjectIdentifier(), "infoType"))
        except crmf.MalformedDER as exc:
            expected = str(exc)
        try:
            read = crmf.object_identifier(form, "infoType")
        except crmf.MalformedDER as exc:
            read = str(exc)
        assert read == expected, form.hex()
    kept = crmf._plain_object_identifier.cache_info().hits
    assert crmf.object_identifier(forms[0], "infoType") == "1.3.6.1.5.5.7.4.13"
    assert crmf._plain_object_identifier.cache_info().hits == kept + 1
