"""A throw-away CMP responder for the OpenSSL round trips of test_cmp.py.

It speaks CMP over HTTP (RFC 6712: POST application/pkixcmp) on 127.0.0.1 from a thread, and
does with ``protocols.cmp`` what a CA server does: parse the request, check its protection
(MAC with the shared secret, or signature with the first extraCerts certificate), issue a
certificate from a test CA built with `cryptography` for the requested subject and key,
answer ip/cp/kup (granting implicitConfirm when asked), pkiconf for a certConf whose certHash
it recomputes with ``cert_hash``, rp for rr, genp with caCerts for genm, or a chosen error.
The answer is MAC-protected with the request's scheme and a fresh salt, or signed by the CA
key, as the request was. Whatever surprises it goes into ``problems`` for the test to check.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from cryptography.x509.oid import NameOID

from protocols import cmp
from protocols.x509.names import format_dn

CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CMP Test CA")])
ENROLMENT_REPLY = {"ir": "ip", "cr": "cp", "kur": "kup", "p10cr": "cp"}


def directory_name(name: x509.Name) -> bytes:
    """DER GeneralName directoryName: [4] EXPLICIT, Name being a CHOICE (RFC 5280 4.2.1.6)."""
    der = name.public_bytes()
    assert len(der) < 0x80
    return bytes((0xA4, len(der))) + der


@dataclass
class TestCA:
    """An EC P-256 CA made for one test: issues certificates for any subject and key."""

    __test__ = False  # not a pytest class

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls) -> TestCA:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(CA_NAME, key.public_key()).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
        return cls(key, builder.sign(key, hashes.SHA256()))

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)

    @property
    def key_id(self) -> bytes:
        return x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()).digest

    def issue(self, subject: x509.Name, public_key: Any) -> bytes:
        """A DER end-entity certificate for ``subject`` and ``public_key``."""
        builder = _builder(subject, public_key).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
        )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(Encoding.DER)


def _builder(subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(CA_NAME)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
    )


@dataclass
class CMPResponder:
    """The CMP logic: :meth:`answer` turns one DER request into one DER reply.

    ``refuse`` answers every certificate request with that error; ``unprotected_errors``
    sends errors without protection; ``p10cr_cert_req_id`` is the certReqId of the cp to a
    p10cr; ``pvno``, when set, overrides the reply's pvno."""

    ca: TestCA
    secret: bytes = b""
    refuse: tuple[cmp.FailureInfo, str] | None = None
    unprotected_errors: bool = False
    p10cr_cert_req_id: int = 0
    pvno: int | None = None
    seen: list[cmp.PKIMessage] = field(default_factory=list)
    issued: list[bytes] = field(default_factory=list)
    confirmed: list[cmp.CertConfirm] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def answer(self, der: bytes) -> bytes:
        message = cmp.parse_pki_message(der)
        self.seen.append(message)
        self._check_protection(message)
        kind, body, implicit = self._body(message)
        if kind == "error" and self.unprotected_errors:
            reply = cmp.assemble_unprotected(self._header(message, b"", None, False), body)
        else:
            reply = self._protect(message, body, implicit)
        self.sent.append(reply)
        return reply

    def _check_protection(self, message: cmp.PKIMessage) -> None:
        if message.header.protection_oid in (cmp.PASSWORD_BASED_MAC, cmp.PBMAC1):
            try:
                cmp.verify_mac(message, self.secret, 100, 100_000)
            except cmp.MACError as exc:
                self.problems.append(f"{message.body_type}: {exc}")
        elif not message.extra_certs or not cmp.verify_signature(message, message.extra_certs[0]):
            self.problems.append(f"{message.body_type}: signature protection does not verify")

    def _body(self, message: cmp.PKIMessage) -> tuple[str, bytes, bool]:
        kind = message.body_type
        if kind in ENROLMENT_REPLY and self.refuse is not None:
            return "error", cmp.error_body([self.refuse[0]], self.refuse[1]), False
        if kind in ("ir", "cr", "kur"):
            request = message.cert_requests[0]
            if not request.pop_valid:
                self.problems.append(f"{kind}: POP does not verify")
            assert request.spki_der is not None and request.subject is not None
            subject = x509.Name.from_rfc4514_string(format_dn(request.subject))
            public_key = load_der_public_key(request.spki_der)
            return self._cert_rep(message, request.cert_req_id, subject, public_key)
        if kind == "p10cr":
            assert message.p10_request is not None
            csr = x509.load_der_x509_csr(message.p10_request)
            return self._cert_rep(message, self.p10cr_cert_req_id, csr.subject, csr.public_key())
        if kind == "certConf":
            return "pkiconf", self._confirm(message), False
        if kind == "rr":
            return "rp", cmp.rp_body([(cmp.PKIStatus.accepted, (), None)]), False
        if kind == "genm":
            value = cmp.ca_certs_value([self.ca.der])
            return "genp", cmp.genp_body([(cmp.ID_IT_CA_CERTS, value)]), False
        self.problems.append(f"unexpected {kind}")
        return "error", cmp.error_body([cmp.FailureInfo.badRequest], f"no {kind}"), False

    def _cert_rep(
        self, message: cmp.PKIMessage, cert_req_id: int, subject: x509.Name, public_key: Any
    ) -> tuple[str, bytes, bool]:
        certificate = self.ca.issue(subject, public_key)
        self.issued.append(certificate)
        kind = ENROLMENT_REPLY[message.body_type]
        ca_pubs = [self.ca.der] if kind == "ip" else []
        body = cmp.cert_rep_body(
            kind, cert_req_id, cmp.PKIStatus.accepted, certificate, ca_pubs=ca_pubs
        )
        return kind, body, message.header.implicit_confirm

    def _confirm(self, message: cmp.PKIMessage) -> bytes:
        last_nonce = cmp.parse_reply(self.sent[-1]).header.sender_nonce if self.sent else None
        if message.header.recip_nonce != last_nonce:
            self.problems.append("certConf: recipNonce is not our last senderNonce")
        for confirm in message.cert_confirms:
            self.confirmed.append(confirm)
            if confirm.cert_hash != cmp.cert_hash(self.issued[-1], confirm.hash_algorithm):
                self.problems.append("certConf: certHash differs from cert_hash()")
        return cmp.pkiconf_body()

    def _header(
        self, message: cmp.PKIMessage, algorithm: bytes, kid: bytes | None, implicit: bool
    ) -> cmp.ReplyHeader:
        header = message.header
        return cmp.ReplyHeader(
            sender=directory_name(CA_NAME),
            recipient=header.sender,
            transaction_id=header.transaction_id or b"",
            sender_nonce=secrets.token_bytes(16),
            recip_nonce=header.sender_nonce,
            message_time=datetime.now(UTC),
            protection_algorithm=algorithm,
            sender_kid=kid,
            implicit_confirm=implicit,
            pvno=self.pvno if self.pvno is not None else header.pvno,
        )

    def _protect(self, message: cmp.PKIMessage, body: bytes, implicit: bool) -> bytes:
        if message.header.protection_oid in (cmp.PASSWORD_BASED_MAC, cmp.PBMAC1):
            protect = cmp.reply_mac(message)
            header = self._header(message, protect.algorithm, message.header.sender_kid, implicit)
            protection = protect.mac(self.secret, cmp.protected_part(header, body))
            return cmp.assemble(header, body, protection)
        algorithm = cmp.signature_algorithm_der("sha256_ecdsa")
        header = self._header(message, algorithm, self.ca.key_id, implicit)
        signature = self.ca.key.sign(cmp.protected_part(header, body), ec.ECDSA(hashes.SHA256()))
        return cmp.assemble(header, body, signature, [self.ca.der])


def spki_of(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


class HTTPResponder:
    """:class:`CMPResponder` behind HTTP on 127.0.0.1 (RFC 6712 3.3-3.4), in a thread.

    Use as a context manager; ``url`` is what ``openssl cmp -server`` takes. A failure of the
    CMP logic is recorded in ``cmp.problems`` and answered with HTTP 500."""

    def __init__(self, logic: CMPResponder) -> None:
        self.cmp = logic
        self.paths: list[str] = []
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                responder.paths.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    reply, status = responder.cmp.answer(body), 200
                except Exception as exc:  # recorded for the test, answered 500
                    responder.cmp.problems.append(f"responder failed: {exc!r}")
                    reply, status = b"", 500
                self.send_response(status)
                self.send_header("Content-Type", "application/pkixcmp")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}/pkix/"

    def __enter__(self) -> HTTPResponder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
