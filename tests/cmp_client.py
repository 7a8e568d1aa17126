"""A CMP client built for the tests: it sends what OpenSSL 3.0 never sends on purpose.

Every header field can be left out or replaced (``send(omit={"messageTime"}, ...)``,
``send(transactionID=b"...")``), bodies are made field by field (``cert_request``,
``rr_body``, ``cert_conf_body``, ``genm_body``), and a request is protected by a MAC under
a shared secret or signed by a key whose certificates go in extraCerts, or left
unprotected. Answers come back as :class:`Answer`: body type, PKIStatus, failInfo names,
certificate, whether protected.

It talks to a :class:`server.cmp.server.CMPServer` in the same process (``make_server``), with the
registry and signer of ``tests/local_ca.py``: the real rules on a real SQLite file.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4210, rfc8018, rfc9480

from protocols import cmp
from protocols.der import contents as der_contents
from protocols.der import elements as der_children
from protocols.der import tlv
from server.cmp.server import CMPServer
from server.enrollment.credentials import EnrollmentCredentials
from server.enrollment.enroll import Enrollment, HolderEnrollment
from server.node.tls import ServerIdentity
from server.registry import CertificateStatus
from server.status.publication import StatusPublication
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA, ra_services

ECDSA_SHA256 = "1.2.840.10045.4.3.2"
SHA256_RSA = "1.2.840.113549.1.1.11"
ED25519 = "1.3.101.112"
# Body tags, [n] EXPLICIT (RFC 4210 5.1.2)
BODY = {name: 0xA0 | number for name, number in cmp.messages.BODY_TAGS.items()}


def directory_name(name: x509.Name | str) -> bytes:
    """DER GeneralName directoryName [4] (RFC 5280 4.2.1.6) of a Name or RFC 4514 text."""
    if isinstance(name, str):
        name = x509.Name.from_rfc4514_string(name)
    return tlv(0xA4, name.public_bytes())


NULL_DN = directory_name(x509.Name([]))


def pbm(iterations: int = 500, owf: str = "2.16.840.1.101.3.4.2.1",
        mac: str = "1.2.840.113549.2.9") -> bytes:  # fmt: skip
    """AlgorithmIdentifier of PasswordBasedMac (RFC 4210 5.1.3.1): SHA-256, HMAC-SHA256."""
    parameters = rfc4210.PBMParameter()
    parameters["salt"] = secrets.token_bytes(16)
    parameters["owf"]["algorithm"] = univ.ObjectIdentifier(owf)
    parameters["iterationCount"] = iterations
    parameters["mac"]["algorithm"] = univ.ObjectIdentifier(mac)
    return algorithm_identifier(str(rfc4210.id_PasswordBasedMac), encoder.encode(parameters))


def pbmac1(iterations: int = 500, prf: str | None = "1.2.840.113549.2.9",
           scheme: str = "1.2.840.113549.2.9") -> bytes:  # fmt: skip
    """AlgorithmIdentifier of PBMAC1 (RFC 9481 6.1.2, RFC 8018 A.5): PBKDF2 with ``prf``
    (None: left out, the DEFAULT hmacWithSHA1), 32-octet key, ``scheme`` HMAC."""
    kdf = rfc8018.PBKDF2_params()
    kdf["salt"]["specified"] = secrets.token_bytes(16)
    kdf["iterationCount"] = iterations
    kdf["keyLength"] = 32
    if prf is not None:
        kdf["prf"]["algorithm"] = univ.ObjectIdentifier(prf)
    parameters = rfc8018.PBMAC1_params()
    parameters["keyDerivationFunc"]["algorithm"] = rfc8018.id_PBKDF2
    parameters["keyDerivationFunc"]["parameters"] = univ.Any(encoder.encode(kdf))
    parameters["messageAuthScheme"]["algorithm"] = univ.ObjectIdentifier(scheme)
    return algorithm_identifier(str(rfc8018.id_PBMAC1), encoder.encode(parameters))


def with_protection(der: bytes, protect: Any) -> bytes:
    """``der`` (a PKIMessage) with its protection replaced by ``protect(ProtectedPart)``:
    header, body and extraCerts kept. For a protection the client does not make itself
    (a signature with another hash than its own, RFC 9481)."""
    message = cmp.parse_pki_message(der)
    parts = [raw for _tag, raw in der_children(der)]
    protection = tlv(0xA0, tlv(0x03, b"\x00" + protect(message.protected_part)))
    rest = [raw for raw in parts[2:] if raw[0] != 0xA0]
    return tlv(0x30, parts[0] + parts[1] + protection + b"".join(rest))


def algorithm_identifier(oid: str, parameters: bytes | None = None) -> bytes:
    return tlv(0x30, oid_der(oid) + (parameters or b""))


def oid_der(oid: str) -> bytes:
    return bytes(encoder.encode(univ.ObjectIdentifier(oid)))


def integer_der(value: int) -> bytes:
    return bytes(encoder.encode(univ.Integer(value)))


def sign(key: Any, data: bytes) -> tuple[str, bytes]:
    """(signature algorithm OID, signature) of ``data`` with ``key`` (RFC 9481 section 3)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ECDSA_SHA256, key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return SHA256_RSA, key.sign(data, PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ED25519, key.sign(data)
    raise TypeError(f"cannot sign with {type(key).__name__}")


def spki_of(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key
    return bytes(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def self_signed(key: ec.EllipticCurvePrivateKey, subject: str = "CN=outsider") -> bytes:
    """A self-signed certificate of `key`, of no CA of ours (an outsider's protection
    certificate), with a subjectKeyIdentifier for senderKID."""
    name = x509.Name.from_rfc4514_string(subject)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(moment).not_valid_after(moment + timedelta(days=3650))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return certificate.public_bytes(Encoding.DER)


def extension_der(extension: x509.ExtensionType, critical: bool = False) -> bytes:
    """Extension { extnID, critical, extnValue } (RFC 5280 4.1)."""
    value = extension.public_bytes()
    flag = bytes.fromhex("0101ff") if critical else b""
    return tlv(0x30, oid_der(extension.oid.dotted_string) + flag + tlv(0x04, value))


def cert_request(
    cert_req_id: int = 0,
    subject: x509.Name | str | None = "CN=device",
    key: Any = None,
    spki: bytes | None = None,
    extensions: Iterable[bytes] = (),
    pop: str = "signature",
    controls: bytes = b"",
    leading_fields: bytes = b"",
) -> bytes:
    """One CertReqMsg (RFC 4211 3): certReqId, a CertTemplate with subject [5], publicKey [6]
    (``spki``, else ``key``'s; neither: no publicKey, central key generation) and
    extensions [9] (DER Extension values), then POP: "signature" (POPOSigningKey over the
    DER CertRequest, RFC 4211 4.1, by ``key``), "raVerified" ([0] NULL), "none".
    ``controls`` is the DER Controls SEQUENCE, if any; ``leading_fields`` the DER of
    template fields [0]-[4] (version, serialNumber, signingAlg, issuer, validity) put
    before the subject (``validity_field``)."""
    template = leading_fields
    if subject is not None:
        if isinstance(subject, str):
            subject = x509.Name.from_rfc4514_string(subject)
        template += tlv(0xA5, subject.public_bytes())  # [5] EXPLICIT Name (a CHOICE)
    public = spki if spki is not None else (spki_of(key) if key is not None else None)
    if public is not None:
        template += b"\xa6" + public[1:]  # [6] IMPLICIT SubjectPublicKeyInfo
    extension_list = list(extensions)
    if extension_list:
        template += tlv(0xA9, b"".join(extension_list))  # [9] IMPLICIT Extensions
    request = tlv(0x30, integer_der(cert_req_id) + tlv(0x30, template) + controls)
    if pop == "signature":
        assert key is not None, "a signature POP needs the key"
        algorithm, signature = sign(key, request)
        popo = tlv(0xA1, algorithm_identifier(algorithm) + tlv(0x03, b"\x00" + signature))
    elif pop == "raVerified":
        popo = b"\x80\x00"  # [0] NULL
    else:
        popo = b""
    return tlv(0x30, request + popo)


def validity_field(not_before: datetime | None, not_after: datetime | None) -> bytes:
    """certTemplate validity [4] OptionalValidity { notBefore [0], notAfter [1] } of
    GeneralizedTime (RFC 4211 5; Time is a CHOICE, so the tags are explicit)."""
    content = b""
    for tag, moment in ((0xA0, not_before), (0xA1, not_after)):
        if moment is not None:
            content += tlv(tag, tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode()))
    return tlv(0xA4, content)


def cert_req_messages(*requests: bytes) -> bytes:
    return tlv(0x30, b"".join(requests))


def p10cr_content(csr_der: bytes) -> bytes:
    return csr_der


def cert_conf_content(
    certificate: bytes, cert_req_id: int = 0, status: int | None = None,
    fail_info: int | None = None, hash_algorithm: str | None = None,
) -> bytes:  # fmt: skip
    """CertConfirmContent with one CertStatus (RFC 4210 5.3.18, hashAlg [0] of RFC 9480)."""
    content = tlv(0x04, cmp.cert_hash(certificate, hash_algorithm)) + integer_der(cert_req_id)
    if status is not None:
        info = integer_der(status)
        if fail_info is not None:
            info += failure_bits([fail_info])
        content += tlv(0x30, info)
    if hash_algorithm is not None:
        content += tlv(0xA0, algorithm_identifier(hash_algorithm))
    return tlv(0x30, tlv(0x30, content))


def failure_bits(bits: Iterable[int]) -> bytes:
    """PKIFailureInfo BIT STRING DER with the named ``bits`` set (trailing zeros dropped)."""
    numbers = sorted(set(bits))
    octets = bytearray(numbers[-1] // 8 + 1)
    for bit in numbers:
        octets[bit // 8] |= 0x80 >> bit % 8
    return tlv(0x03, bytes([7 - numbers[-1] % 8]) + bytes(octets))


def rr_content(
    serial: int | None, issuer: x509.Name | None, reason: int | None = None,
    extra_template: bytes = b"", extra_entry_extensions: Iterable[bytes] = (),
) -> bytes:  # fmt: skip
    """RevReqContent with one RevDetails (RFC 4210 5.3.9, RFC 9483 4.2): certDetails with
    issuer [3] and serialNumber [1], crlEntryDetails with a CRLReason when given.
    ``extra_template`` is spliced into certDetails (e.g. a [5] subject)."""
    template = b""
    if serial is not None:
        template += b"\x81" + integer_der(serial)[1:]  # [1] IMPLICIT INTEGER
    if issuer is not None:
        template += tlv(0xA3, issuer.public_bytes())  # [3] EXPLICIT Name
    details = tlv(0x30, template + extra_template)
    entries = [
        tlv(0x30, oid_der("2.5.29.21") + tlv(0x04, bytes.fromhex("0a01") + bytes([reason])))
    ] if reason is not None else []  # fmt: skip
    entries += list(extra_entry_extensions)
    if entries:
        details += tlv(0x30, b"".join(entries))
    return tlv(0x30, tlv(0x30, details))


def genm_content(*items: tuple[str, bytes | None]) -> bytes:
    """GenMsgContent ::= SEQUENCE OF InfoTypeAndValue { infoType, infoValue OPTIONAL }."""
    return tlv(0x30, b"".join(tlv(0x30, oid_der(oid) + (value or b"")) for oid, value in items))


def poll_req_content(cert_req_id: int = 0) -> bytes:
    return tlv(0x30, tlv(0x30, integer_der(cert_req_id)))


def header_der(fields: dict[str, Any], omit: Iterable[str] = ()) -> bytes:
    """PKIHeader (RFC 4210 5.1.1) of the ``fields`` named as in the RFC (pvno, sender,
    recipient, messageTime, protectionAlg, senderKID, recipKID, transactionID, senderNonce,
    recipNonce, freeText, generalInfo), in order; a field in ``omit`` or None is left out.
    generalInfo is given as the DER SEQUENCE OF InfoTypeAndValue."""
    skip = set(omit)

    def present(name: str) -> bool:
        return name not in skip and fields.get(name) is not None

    content = integer_der(fields.get("pvno", 2))
    content += fields["sender"] + fields["recipient"]
    if present("messageTime"):
        moment = fields["messageTime"]
        text = moment.strftime("%Y%m%d%H%M%SZ") if isinstance(moment, datetime) else moment
        content += tlv(0xA0, tlv(0x18, text.encode() if isinstance(text, str) else text))
    if present("protectionAlg"):
        content += tlv(0xA1, fields["protectionAlg"])
    for name, tag in (("senderKID", 0xA2), ("recipKID", 0xA3), ("transactionID", 0xA4),
                      ("senderNonce", 0xA5), ("recipNonce", 0xA6)):  # fmt: skip
        if present(name):
            content += tlv(tag, tlv(0x04, fields[name]))
    if present("generalInfo"):
        content += tlv(0xA8, fields["generalInfo"])
    return tlv(0x30, content)


IMPLICIT_CONFIRM = tlv(0x30, tlv(0x30, oid_der(cmp.ID_IT_IMPLICIT_CONFIRM) + b"\x05\x00"))


@dataclass
class Answer:
    """A reply read: its body type, the first PKIStatusInfo's status and failInfo names, its
    statusString, the certificate issued, the pyasn1 value for anything else."""

    der: bytes
    message: cmp.PKIMessage
    decoded: Any
    status: cmp.PKIStatus | None
    fail_info: frozenset[str]
    text: str
    certificate: bytes | None

    @property
    def body_type(self) -> str:
        return self.message.body_type

    @property
    def protected(self) -> bool:
        return self.message.protection is not None

    def __repr__(self) -> str:
        status = None if self.status is None else self.status.name
        return (f"Answer({self.body_type}, {status}, "
                f"{sorted(self.fail_info)}, {self.text!r})")  # fmt: skip


def cert_req_id_of(answer: Answer) -> int:
    """The certReqId of the first CertResponse of an ip/cp/kup."""
    return int(answer.decoded["body"][answer.body_type]["response"][0]["certReqId"])


def read_answer(der: bytes) -> Answer:
    message = cmp.parse_pki_message(der)
    decoded, _ = decoder.decode(der, asn1Spec=rfc9480.PKIMessage())
    body = decoded["body"][message.body_type]
    info = None
    certificate = None
    if message.body_type in ("ip", "cp", "kup", "ccp"):
        response = body["response"][0]
        info = response["status"]
        if response["certifiedKeyPair"].isValue:
            chosen = response["certifiedKeyPair"]["certOrEncCert"]["certificate"]
            certificate = der_contents(bytes(encoder.encode(chosen)))
    elif message.body_type == "rp":
        info = body["status"][0]
    elif message.body_type == "error":
        info = body["pKIStatusInfo"]
    status = None
    names: frozenset[str] = frozenset()
    text = ""
    if info is not None:
        status = cmp.PKIStatus(int(info["status"]))
        if info["failInfo"].isValue:
            names = frozenset(
                cmp.FailureInfo(i).name for i, bit in enumerate(info["failInfo"]) if bit
            )
        if info["statusString"].isValue:
            text = "; ".join(str(s) for s in info["statusString"])
    if certificate is not None and certificate[:1] != b"\x30":
        certificate = b"\x30" + certificate[1:]
    return Answer(der, message, decoded, status, names, text, certificate)


@dataclass
class CMPClient:
    """One end entity (or RA) speaking to ``server``. Protected by a MAC when ``secret`` is
    set (senderKID ``kid``), else signed by ``key`` with ``chain`` (leaf first) in extraCerts
    when ``key`` is set, else unprotected. ``transaction_id``/``last_nonce`` carry a
    transaction on (``send(new=True)`` starts one)."""

    server: CMPServer
    clock: Any
    profile: str = "tls-client"
    identity: ServerIdentity | None = None
    sender: bytes = field(default_factory=lambda: directory_name("CN=device"))
    recipient: bytes = NULL_DN
    kid: bytes | None = None
    secret: bytes | None = None
    key: Any = None
    chain: list[bytes] = field(default_factory=list)
    transaction_id: bytes = b""
    last_nonce: bytes | None = None
    last_sender_nonce: bytes | None = None

    def request(
        self, body_name: str, content: bytes, new: bool = False,
        omit: Iterable[str] = (), extra_certs: list[bytes] | None = None,
        protection: bytes | None = None, **fields: Any,
    ) -> bytes:  # fmt: skip
        """The DER PKIMessage (not sent). ``fields`` override header fields by RFC name."""
        if new or not self.transaction_id:
            self.transaction_id = secrets.token_bytes(16)
            self.last_nonce = None
        values: dict[str, Any] = {
            "pvno": 2, "sender": self.sender, "recipient": self.recipient,
            "messageTime": self.clock(), "transactionID": self.transaction_id,
            "senderNonce": secrets.token_bytes(16), "recipNonce": self.last_nonce,
        }  # fmt: skip
        if self.secret is not None:
            values["protectionAlg"] = pbm()
            values["senderKID"] = self.kid
        elif self.key is not None:
            algorithm, _ = sign(self.key, b"")
            values["protectionAlg"] = algorithm_identifier(algorithm)
            values["senderKID"] = _ski(self.chain[0]) if self.chain else None
        values.update(fields)
        self.last_sender_nonce = values["senderNonce"]
        header = header_der(values, omit)
        body = tlv(BODY[body_name], content)
        protected_part = tlv(0x30, header + body)
        message = header + body
        if protection is None and "protectionAlg" in values and "protectionAlg" not in set(omit):
            if self.secret is not None:
                protection = cmp.mac(values["protectionAlg"], self.secret, protected_part)
            elif self.key is not None:
                protection = sign(self.key, protected_part)[1]
        if protection is not None:
            message += tlv(0xA0, tlv(0x03, b"\x00" + protection))
        certs = self.chain if extra_certs is None else extra_certs
        if certs and (self.key is not None or extra_certs is not None):
            message += tlv(0xA1, tlv(0x30, b"".join(certs)))
        return tlv(0x30, message)

    async def send(self, body_name: str, content: bytes, **options: Any) -> Answer:
        return await self.send_der(self.request(body_name, content, **options))

    async def send_der(self, der: bytes) -> Answer:
        answer = read_answer(await self.server.handle(der, self.profile, self.identity))
        self.last_nonce = answer.message.header.sender_nonce
        return answer


def _ski(certificate_der: bytes) -> bytes | None:
    certificate = x509.load_der_x509_certificate(certificate_der)
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        return None


async def make_server(local_ca: LocalCA, authority: Any = None) -> CMPServer:
    """A CMP server over the local CA's registry and signer, with CRLs built."""
    credentials = enrollment_credentials(local_ca)
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, serving=True, builder=True)  # fmt: skip
    await status.crls.sync()
    authority = authority or local_ca.authority
    applications = ra_services(local_ca, credentials, authority=authority)[1]
    enrollment = Enrollment(local_ca.settings, credentials, authority, applications)
    return CMPServer(
        local_ca.settings, local_ca.registry, credentials, enrollment, applications,
        HolderEnrollment(local_ca.registry, authority), local_ca.revocation,
        status.crls, local_ca.clock,
    )  # fmt: skip


def enrollment_credentials(local_ca: LocalCA) -> EnrollmentCredentials:
    key = b"k" * 32
    return EnrollmentCredentials(local_ca.settings, local_ca.registry, lambda: key, local_ca.clock)


async def server_identity(local_ca: LocalCA) -> ServerIdentity:
    """A key and certificate (tls-server profile) the server signs its answers with."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = make_csr([("CN", "cmp.test")], key=key, dns=("cmp.test",))
    leaf = await local_ca.authority.issue("tls-server", request, "test")
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    return ServerIdentity([leaf.der, generation.certificate_der], key)


async def mac_client(
    local_ca: LocalCA, server: CMPServer | None = None, profile: str = "tls-client",
    subject: str = "CN=device", identity: ServerIdentity | None = None,
) -> CMPClient:  # fmt: skip
    """A client with a fresh one-time enrollment credential (reference = senderKID)."""
    server = server or await make_server(local_ca)
    credential, secret = await enrollment_credentials(local_ca).create(
        profile, subject, timedelta(hours=1), "op"
    )
    return CMPClient(server, local_ca.clock, profile=profile, identity=identity,
                     kid=credential.id.encode(), secret=secret.encode())  # fmt: skip


async def signing_client(local_ca: LocalCA, client: CMPClient) -> CMPClient:
    """A client that holds a certificate of this CA (enrolled by ``client`` over MAC with
    implicit confirmation) and signs with its key, sender = its subject."""
    return await holder_client(local_ca, client)


async def holder_client(
    local_ca: LocalCA, client: CMPClient, extensions: Iterable[bytes] = (), key: Any = None
) -> CMPClient:
    """As ``signing_client``, the certificate asked for with template ``extensions`` (DER
    Extensions, ``extension_der``) and ``key`` (a new P-256 key if None)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = cert_request(key=key, extensions=extensions)
    answer = await client.send(
        "ir", cert_req_messages(request), new=True, generalInfo=IMPLICIT_CONFIRM
    )
    assert answer.certificate is not None, answer
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    subject = x509.load_der_x509_certificate(answer.certificate).subject
    identity = client.identity or await server_identity(local_ca)
    return CMPClient(client.server, local_ca.clock, profile=client.profile, key=key,
                     identity=identity,
                     chain=[answer.certificate, generation.certificate_der],
                     sender=directory_name(subject))  # fmt: skip


@dataclass
class Holder:
    """A client signing with its certificate of this CA, and that certificate."""

    client: CMPClient
    certificate: x509.Certificate
    local_ca: LocalCA

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")

    async def status(self) -> CertificateStatus:
        record = await self.local_ca.registry.get_certificate(self.serial)
        assert record is not None
        return record.status

    def rr(self, reason: int | None, extra_entry_extensions: Iterable[bytes] = ()) -> bytes:
        cert = self.certificate
        return rr_content(cert.serial_number, cert.issuer, reason,
                          extra_entry_extensions=extra_entry_extensions)  # fmt: skip


async def make_holder(local_ca: LocalCA) -> Holder:
    """A holder of a certificate of ``local_ca``, over a server of its own settings."""
    server = await make_server(local_ca)
    client = await signing_client(local_ca, await mac_client(local_ca, server=server))
    return Holder(client, x509.load_der_x509_certificate(client.chain[0]), local_ca)


async def rp_rejection(holder: Holder, content: bytes, failure: str) -> Answer:
    """Sends the rr; asserts a protected rp rejection with exactly ``failure`` and nothing
    changed (registry_state)."""
    before = await registry_state(holder.local_ca.registry)
    answer = await holder.client.send("rr", content, new=True)
    assert (answer.body_type, answer.status, answer.fail_info) == (
        "rp", cmp.PKIStatus.rejection, frozenset({failure}),
    ), answer  # fmt: skip
    assert answer.protected
    assert await registry_state(holder.local_ca.registry) == before
    return answer


def key_usage_der(**usages: bool) -> bytes:
    """A keyUsage Extension (RFC 5280 4.2.1.3) with the named bits set (cryptography's
    names: digital_signature=True, key_agreement=True, ...)."""
    bits = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
        False,
    )  # fmt: skip
    bits.update(usages)
    return extension_der(x509.KeyUsage(**bits), critical=True)


async def key_agreement_client(local_ca: LocalCA, client: CMPClient) -> CMPClient:
    """A holder whose EC certificate has keyAgreement beside digitalSignature (asked in the
    template, granted by tls-client's requestable_key_usages): it can receive a centrally
    generated key by key agreement (RFC 9483 4.1.6.2)."""
    usage = key_usage_der(digital_signature=True, key_agreement=True)
    return await holder_client(local_ca, client, [usage])


# --- RA mode (RFC 9483 5.2.2): nested messages ------------------------------------------


def nested_content(*messages: bytes) -> bytes:
    """NestedMessageContent ::= PKIMessages (RFC 9810 5.1.3.4): the DER PKIMessages given,
    in order (none: an empty SEQUENCE, which the RFC does not allow)."""
    return tlv(0x30, b"".join(messages))


def inner_answers(answer: Answer) -> list[Answer]:
    """The answers a nested answer carries, in order."""
    assert answer.body_type == "nested", answer
    return [read_answer(bytes(encoder.encode(inner))) for inner in answer.decoded["body"]["nested"]]


def header_of(der: bytes) -> cmp.Header:
    return cmp.parse_pki_message(der).header


async def ra_client(
    local_ca: LocalCA, name: str = "CN=RA", key_agreement: bool = False
) -> tuple[CMPClient, LocalCA]:
    """An RA: a key and a certificate of this CA (tls-client profile) that it signs its
    nested messages with, and the local CA whose settings trust it in ``[cmp.ras]``; the
    client talks to a server made over those settings (its ``identity`` signs answers).
    ``key_agreement``: the certificate also has keyAgreement (enrolled over CMP as
    CN=device, ``key_agreement_client``), so keys can be enveloped to it (RFC 9483 4.1.6.2)."""
    if key_agreement:
        holder = await key_agreement_client(local_ca, await mac_client(local_ca))
        key, certificate_der = holder.key, holder.chain[0]
        subject = x509.load_der_x509_certificate(certificate_der).subject
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name.from_rfc4514_string(name)
        request = make_csr([("CN", subject.rfc4514_string()[3:])], key=key)
        certificate_der = (await local_ca.authority.issue("tls-client", request, "test")).der
    fingerprint = hashes.Hash(hashes.SHA256())
    fingerprint.update(certificate_der)
    cmp_settings = replace(local_ca.settings.cmp, ras={"test-ra": fingerprint.finalize().hex()})
    trusting = replace(local_ca, settings=replace(local_ca.settings, cmp=cmp_settings))
    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    server = await make_server(trusting)
    client = CMPClient(server, local_ca.clock, key=key, identity=await server_identity(local_ca),
                       chain=[certificate_der, generation.certificate_der],
                       sender=directory_name(subject))  # fmt: skip
    return client, trusting


async def registry_state(registry: Any) -> tuple[Any, ...]:
    """What a refusal must leave as it was: every certificate with its status, the status
    changes, the enrollment credentials (claimed, used) and the CMP transactions still
    under way (a refused request's transactionID stays used, by design: server/cmp/server.py)."""
    queries = (
        "SELECT serial, status FROM certificates ORDER BY serial",
        "SELECT COUNT(*) FROM status_changes",
        "SELECT id, claimed_at, used_serial FROM enrollment_credentials ORDER BY id",
        "SELECT transaction_id, state FROM cmp_transactions WHERE state != 'done'"
        " ORDER BY transaction_id",
    )
    state = []
    async with registry.reading() as db:
        for query in queries:
            async with db.execute(query) as cursor:
                state.append(tuple(tuple(row) for row in await cursor.fetchall()))
    return tuple(state)


def genp_items(answer: Answer) -> list[tuple[str, bytes | None]]:
    """(infoType, DER infoValue or None) of each InfoTypeAndValue of a genp answer."""
    assert answer.body_type == "genp", answer
    return [
        (str(item["infoType"]), bytes(item["infoValue"]) if item["infoValue"].isValue else None)
        for item in answer.decoded["body"]["genp"]
    ]
