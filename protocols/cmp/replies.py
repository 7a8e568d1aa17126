"""CMP responses (RFC 4210 5.3, RFC 9480, Lightweight CMP Profile RFC 9483 section 4) built.

Theory of operation (STYLE.md rule 5, "record intent, then sign"):

1. a ``*_body`` function returns the DER PKIBody of the answer: :func:`cert_rep_body`
   (ip/cp/kup, RFC 4210 5.3.4), :func:`pkiconf_body` (5.3.17), :func:`error_body` (5.3.21),
   :func:`rp_body` (5.3.10), :func:`genp_body` (5.3.20), :func:`poll_rep_body` (5.3.22);
2. the caller fills a :class:`ReplyHeader` (the request's transactionID, its senderNonce as
   recipNonce, a fresh senderNonce, the protection algorithm) and takes
   :func:`protected_part`: the DER ProtectedPart { header, body } (5.1.3), which it MACs
   (``protection.mac``) or has signed elsewhere (this package never signs);
3. :func:`assemble` joins the same header, the body, that protection and the extraCerts
   into the DER PKIMessage (5.1); :func:`assemble_unprotected` makes the unprotected error
   a responder sends when it cannot authenticate the request (RFC 9483 3.6.4).

Certificates are embedded byte for byte (checked to decode as a Certificate, never
re-encoded: a re-encoding could change a third party's certificate and break its
signature), which is why the header, CertRepMessage and PKIMessage are joined from DER
values here; the other structures are built with the ``pyasn1_alt_modules.rfc9480`` types.

:func:`cert_hash` is the certHash a certConf must carry for a certificate (5.3.18 as updated
by RFC 9480), :func:`ca_certs_value` the infoValue of a caCerts genp (RFC 9483 4.3.1),
:func:`root_ca_key_update_value` that of a rootCaKeyUpdate genp (4.3.2), and
:func:`parse_reply` reads a reply back (tests, clients written in Python).

Bad arguments raise ValueError with the field named.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pyasn1.type import univ
from pyasn1_alt_modules import rfc5280, rfc5652, rfc9480

from hsm import gost_engine
from protocols import gost
from protocols.cmp.crmf import (
    MalformedDER,
    checked_once,
    decode_der,
    encode_der,
    is_plain_directory_name,
    plain_algorithm,
)
from protocols.cmp.messages import (
    BODY_TAGS,
    ID_IT_IMPLICIT_CONFIRM,
    FailureInfo,
    PKIMessage,
    PKIStatus,
    parse_pki_message,
)
from protocols.der import contents as der_contents
from protocols.der import tlv as der_tlv
from protocols.x509.signatures import hash_for_oid

__all__ = [
    "ReplyHeader",
    "assemble",
    "assemble_protected",
    "assemble_unprotected",
    "ca_certs_value",
    "cert_hash",
    "cert_rep_body",
    "cert_req_template_value",
    "crls_value",
    "error_body",
    "genp_body",
    "key_pair_types_value",
    "lang_tags_value",
    "parse_reply",
    "pkiconf_body",
    "poll_rep_body",
    "preferred_symm_alg_value",
    "protected_part",
    "root_ca_key_update_value",
    "rp_body",
]

_CERT_REP_KINDS = frozenset({"ip", "cp", "kup", "ccp"})  # CertRepMessage bodies (5.1.2)
_ISSUED = frozenset({PKIStatus.accepted, PKIStatus.grantedWithMods})
_SEQUENCE = 0x30
_PKICONF = bytes.fromhex("b3020500")  # [19] EXPLICIT PKIConfirmContent ::= NULL
# The hash of a certificate's signature algorithm, by the names of protocols.x509.certificate.
# A Streebog hash is named as hsm.gost_engine.digest names it (cryptography has none).
_NAMED_SIGNATURE_HASHES: dict[str, hashes.HashAlgorithm | str] = {
    "sha256_ecdsa": hashes.SHA256(),
    "sha384_ecdsa": hashes.SHA384(),
    "sha256_rsa": hashes.SHA256(),
    "ed25519": hashes.SHA512(),
    **{gost.SIGNATURE_NAMES[size]: gost.DIGEST_NAMES[size] for size in (256, 512)},
}
# GOST R 34.11-2012 by OID, as a certConf's hashAlg or a certificate's signature names it
_STREEBOG_BY_OID = {
    **{gost.DIGEST_OIDS[size]: gost.DIGEST_NAMES[size] for size in (256, 512)},
    **{gost.SIGNATURE_OIDS[size]: gost.DIGEST_NAMES[size] for size in (256, 512)},
}
_ED25519 = x509.ObjectIdentifier("1.3.101.112")
_ED448 = x509.ObjectIdentifier("1.3.101.113")


@dataclass(frozen=True)
class ReplyHeader:
    """What the PKIHeader of a reply carries (RFC 4210 5.1.1, RFC 9483 3.1).

    ``sender`` and ``recipient`` are DER GeneralNames (the CA's directoryName; the request's
    sender). ``sender_nonce`` is fresh (16 random octets, made by the caller) and
    ``recip_nonce`` the request's senderNonce. ``protection_algorithm`` is the DER
    AlgorithmIdentifier of the protection (``protection.reply_mac`` or
    ``protection.signature_algorithm_der``); ``sender_kid`` the request's senderKID for a
    MAC, the signer's subjectKeyIdentifier for a signature. ``implicit_confirm`` puts
    id-it-implicitConfirm in generalInfo, granting it (5.1.1.1). ``pvno`` is 2 (cmp2000), or
    3 (cmp2021) when answering a cmp2021 request (RFC 4210 section 7 as updated by RFC 9480)."""

    sender: bytes
    recipient: bytes
    transaction_id: bytes
    sender_nonce: bytes
    recip_nonce: bytes | None
    message_time: datetime
    protection_algorithm: bytes
    sender_kid: bytes | None
    implicit_confirm: bool
    pvno: int = 2


# --- bodies -----------------------------------------------------------------------------


def cert_rep_body(
    kind: str,
    cert_req_id: int,
    status: PKIStatus,
    certificate: bytes | None,
    fail_info: Sequence[FailureInfo] = (),
    text: str | None = None,
    ca_pubs: Sequence[bytes] = (),
    private_key: bytes | None = None,
) -> bytes:
    """DER PKIBody ip, cp or kup (or ccp): a CertRepMessage (RFC 4210 5.3.4) with one
    CertResponse for ``cert_req_id``. A p10cr has no certReqId: RFC 9483 4.1.4 answers it
    with -1; OpenSSL 3.0 accepts 0 or -1 and echoes the value in its certConf.

    ``certificate`` (DER) goes in certifiedKeyPair; it is required when ``status`` is
    accepted or grantedWithMods and refused otherwise. ``ca_pubs`` (DER certificates) fill
    caPubs [1]. ``private_key``, the DER EnvelopedData (not its ContentInfo) of a key the CA
    generated, goes in certifiedKeyPair.privateKey [0] as EncryptedKey's envelopedData [0]
    (RFC 9480 2.7, RFC 9483 4.1.6; a cmp2021 message). Raises ValueError for another kind,
    a missing or superfluous certificate, failInfo with a certificate, or a certificate or
    EnvelopedData that does not decode. ``text`` is the statusString: the reason of a
    rejection, what was changed for grantedWithMods (RFC 9810 5.2.3)."""
    if kind not in _CERT_REP_KINDS:
        raise ValueError(f"{kind!r} is not a CertRepMessage body (ip, cp, kup, ccp)")
    if (certificate is not None) != (status in _ISSUED):
        raise ValueError(f"status {PKIStatus(status).name}: certificate must be present iff issued")
    if fail_info and status in _ISSUED:  # RFC 9483 4.1.1: failInfo MUST be absent then
        raise ValueError(f"status {PKIStatus(status).name}: failInfo must be absent")
    response = _integer_der(cert_req_id) + _status_info_der(status, tuple(fail_info), text)
    if private_key is not None and certificate is None:
        raise ValueError("a private key goes out only with its certificate")
    if certificate is not None:
        key_pair = der_tlv(0xA0, _certificate(certificate, "certificate"))
        if private_key is not None:
            enveloped = der_contents(_checked(private_key, rfc5652.EnvelopedData(), "privateKey"))
            key_pair += der_tlv(0xA0, der_tlv(0xA0, enveloped))  # [0] { [0] IMPLICIT }
        response += der_tlv(_SEQUENCE, key_pair)  # CertifiedKeyPair
    content = b""
    if ca_pubs:
        content = der_tlv(0xA1, _certificates(ca_pubs, "caPubs"))
    content += der_tlv(_SEQUENCE, der_tlv(_SEQUENCE, response))
    return _body(kind, der_tlv(_SEQUENCE, content))


def pkiconf_body() -> bytes:
    """DER PKIBody pkiconf: [19] PKIConfirmContent ::= NULL (RFC 4210 5.3.17)."""
    return _PKICONF


def error_body(
    fail_info: Sequence[FailureInfo], text: str, status: PKIStatus = PKIStatus.rejection
) -> bytes:
    """DER PKIBody error: ErrorMsgContent (RFC 4210 5.3.21) whose PKIStatusInfo carries
    ``status``, ``text`` as statusString and the ``fail_info`` bits (RFC 9483 3.6.4)."""
    content = rfc9480.ErrorMsgContent()
    content["pKIStatusInfo"] = _status_info(status, fail_info, text)
    return _body("error", encode_der(content))


def rp_body(statuses: Sequence[tuple[PKIStatus, Sequence[FailureInfo], str | None]]) -> bytes:
    """DER PKIBody rp: RevRepContent (RFC 4210 5.3.10) with one PKIStatusInfo per RevDetails
    of the rr, in the same order. Raises ValueError for an empty list (SIZE (1..MAX))."""
    if not statuses:
        raise ValueError("rp needs at least one status")
    content = rfc9480.RevRepContent()
    for status, fail_info, text in statuses:
        content["status"].append(_status_info(status, fail_info, text))
    return _body("rp", encode_der(content))


def genp_body(items: Sequence[tuple[str, bytes | None]]) -> bytes:
    """DER PKIBody genp: GenRepContent (RFC 4210 5.3.20), one InfoTypeAndValue per
    (infoType OID, DER infoValue or None for an absent value: RFC 9483 4.3 answers "no
    such information" that way). The values are embedded as given, after a check that each
    is one DER value."""
    content = rfc9480.GenRepContent()
    for info_type, value in items:
        item = rfc9480.InfoTypeAndValue()
        item["infoType"] = univ.ObjectIdentifier(info_type)
        if value is not None:
            _one_value(value, f"infoValue of {info_type}")
            item["infoValue"] = univ.Any(value)
        content.append(item)
    return _body("genp", encode_der(content))


def poll_rep_body(items: Sequence[tuple[int, int, str | None]]) -> bytes:
    """DER PKIBody pollRep: PollRepContent (RFC 4210 5.3.22), one entry per (certReqId,
    checkAfter in seconds, reason or None). Raises ValueError for an empty list or a
    negative checkAfter."""
    if not items:
        raise ValueError("pollRep needs at least one entry")
    content = rfc9480.PollRepContent()
    for cert_req_id, check_after, reason in items:
        if check_after < 0:
            raise ValueError(f"checkAfter {check_after} is negative")
        entry = content.componentType.clone()
        entry["certReqId"] = cert_req_id
        entry["checkAfter"] = check_after
        if reason:
            entry["reason"].append(reason)
        content.append(entry)
    return _body("pollRep", encode_der(content))


def _body(kind: str, content_der: bytes) -> bytes:
    """PKIBody alternative ``kind``: [n] EXPLICIT around the content (RFC 4210 5.1.2)."""
    return der_tlv(0xA0 | BODY_TAGS[kind], content_der)


def _status_info(status: PKIStatus, fail_info: Sequence[FailureInfo], text: str | None) -> Any:
    """PKIStatusInfo (RFC 4210 5.2.3): statusString only when there is text, failInfo only
    when there are bits."""
    info = rfc9480.PKIStatusInfo()
    info["status"] = int(PKIStatus(status))
    if text:
        info["statusString"].append(text)
    if fail_info:
        info["failInfo"] = rfc9480.PKIFailureInfo(binValue=_named_bits(fail_info))
    return info


@functools.lru_cache(maxsize=64)
def _status_info_der(
    status: PKIStatus, fail_info: tuple[FailureInfo, ...], text: str | None
) -> bytes:
    """The DER PKIStatusInfo, kept: every certificate answer carries the same one."""
    return encode_der(_status_info(status, fail_info, text))


@functools.lru_cache(maxsize=8)
def _integer_der(value: int) -> bytes:
    """The DER INTEGER, kept (a certReqId: 0, or -1 after a p10cr)."""
    return encode_der(univ.Integer(value))


def _named_bits(bits: Sequence[FailureInfo]) -> str:
    """The bits as a '0'/'1' string up to the highest one set: X.690 11.2.2 drops the
    trailing zero bits of a named bit list."""
    numbers = {int(FailureInfo(bit)) for bit in bits}
    return "".join("1" if n in numbers else "0" for n in range(max(numbers) + 1))


# --- header, protected part, message -------------------------------------------------------


def protected_part(header: ReplyHeader, body: bytes) -> bytes:
    """The DER ProtectedPart { header, body } (RFC 4210 5.1.3): the octets to MAC or sign."""
    return der_tlv(_SEQUENCE, _header_der(header) + _one_value(body, "body"))


def assemble(
    header: ReplyHeader, body: bytes, protection: bytes, extra_certs: Sequence[bytes] = ()
) -> bytes:
    """The DER PKIMessage (RFC 4210 5.1): the header, ``body``, ``protection`` (the MAC or
    signature over :func:`protected_part` of the same header and body) as the [0] BIT
    STRING, and ``extra_certs`` (DER, e.g. the CA's signing certificate first, RFC 9483
    3.3) as [1] extraCerts. Raises ValueError for an empty protection or protectionAlg
    (:func:`assemble_unprotected` makes unprotected messages)."""
    if not protection or not header.protection_algorithm:
        raise ValueError(
            "protection and protection_algorithm are required; see assemble_unprotected"
        )
    return assemble_protected(protected_part(header, body), protection, extra_certs)


def assemble_protected(part: bytes, protection: bytes, extra_certs: Sequence[bytes] = ()) -> bytes:
    """:func:`assemble` from the :func:`protected_part` the protection was made over, so
    that the header is not written (and its values checked) a second time."""
    if not protection:
        raise ValueError("protection is required; see assemble_unprotected")
    content = der_contents(part)
    content += der_tlv(0xA0, der_tlv(0x03, b"\x00" + protection))  # no unused bits
    if extra_certs:
        content += der_tlv(0xA1, _certificates(extra_certs, "extraCerts"))
    return der_tlv(_SEQUENCE, content)


def assemble_unprotected(
    header: ReplyHeader, body: bytes, extra_certs: Sequence[bytes] = ()
) -> bytes:
    """A DER PKIMessage without protection (RFC 4210 5.1.3: protection OPTIONAL): for an
    error the responder cannot protect because the request could not be authenticated
    (RFC 9483 3.6.4). ``header.protection_algorithm`` must be empty (no protectionAlg is
    written); an empty ``transaction_id`` leaves transactionID out. Clients accept such an
    answer only if told to (``openssl cmp -unprotected_errors``)."""
    if header.protection_algorithm:
        raise ValueError("an unprotected message has no protection_algorithm")
    content = _header_der(header) + _one_value(body, "body")
    if extra_certs:
        content += der_tlv(0xA1, _certificates(extra_certs, "extraCerts"))
    return der_tlv(_SEQUENCE, content)


def _header_der(header: ReplyHeader) -> bytes:
    """PKIHeader (RFC 4210 5.1.1) in field order, [n] EXPLICIT as the module says; an empty
    protection_algorithm or transaction_id is left out."""
    if header.pvno not in (2, 3):
        raise ValueError(f"pvno {header.pvno}: 2 (cmp2000) or 3 (cmp2021)")
    content = _PVNO[header.pvno]
    content += _checked_header_value(header.sender, "sender")
    content += _checked_header_value(header.recipient, "recipient")
    content += der_tlv(0xA0, _generalized_time(header.message_time))
    if header.protection_algorithm:
        algorithm = _checked_header_value(header.protection_algorithm, "protection_algorithm")
        content += der_tlv(0xA1, algorithm)
    if header.sender_kid is not None:
        content += der_tlv(0xA2, _octet_string(header.sender_kid))
    if header.transaction_id:
        content += der_tlv(0xA4, _octet_string(header.transaction_id))
    content += der_tlv(0xA5, _octet_string(header.sender_nonce))
    if header.recip_nonce is not None:
        content += der_tlv(0xA6, _octet_string(header.recip_nonce))
    if header.implicit_confirm:
        content += der_tlv(0xA8, _implicit_confirm_info())
    return der_tlv(_SEQUENCE, content)


_PVNO = {pvno: encode_der(univ.Integer(pvno)) for pvno in (2, 3)}
_HEADER_TYPES = {
    "sender": "GeneralName",
    "recipient": "GeneralName",
    "protection_algorithm": "AlgorithmIdentifier",
}
# What a walk of the DER accepts without pyasn1, by header field: a directoryName of the
# ordinary form, a plain AlgorithmIdentifier (crmf.is_plain_directory_name, plain_algorithm).
_PLAIN_HEADER_VALUES: dict[str, Callable[[bytes], bool]] = {
    "sender": is_plain_directory_name,
    "recipient": is_plain_directory_name,
    "protection_algorithm": lambda der: plain_algorithm(der) is not None,
}


def _checked_header_value(der: bytes, field: str) -> bytes:
    """``der`` unchanged, once it decodes as the header ``field``'s type; ValueError naming
    ``field`` if not. Checked by a walk of its DER when it is of the ordinary form (an
    answer's recipient is a new client's name, a MAC's protectionAlg carries a fresh salt in
    every answer), else once per value as pyasn1 decodes it (crmf.checked_once: the CA's
    name comes back in every answer)."""
    der = bytes(der)
    if _PLAIN_HEADER_VALUES[field](der):
        return der
    try:
        checked_once(der, _HEADER_TYPES[field])
    except MalformedDER as exc:
        raise ValueError(f"{field}: {exc}") from None
    return der


@functools.lru_cache(maxsize=1)
def _implicit_confirm_info() -> bytes:
    """generalInfo SEQUENCE OF InfoTypeAndValue { id-it-implicitConfirm, NULL } (5.1.1.1)."""
    item = rfc9480.InfoTypeAndValue()
    item["infoType"] = univ.ObjectIdentifier(ID_IT_IMPLICIT_CONFIRM)
    item["infoValue"] = univ.Any(encode_der(univ.Null("")))
    return der_tlv(_SEQUENCE, encode_der(item))


def _generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime YYYYMMDDHHMMSSZ, UTC, whole seconds (X.690 11.7)."""
    if moment.tzinfo is None:
        raise ValueError("message_time must be timezone-aware")
    return der_tlv(0x18, moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _octet_string(value: bytes) -> bytes:
    return der_tlv(0x04, bytes(value))


def _checked(der: bytes, spec: Any, field: str) -> bytes:
    """``der`` unchanged, once it decodes as ``spec``; ValueError naming ``field`` if not."""
    try:
        decode_der(der, spec, field)
    except MalformedDER as exc:
        raise ValueError(str(exc)) from None
    return bytes(der)


def _one_value(der: bytes, field: str) -> bytes:
    try:
        der_contents(der)
    except MalformedDER as exc:
        raise ValueError(f"{field}: {exc}") from None
    return bytes(der)


def _certificate(der: bytes, field: str) -> bytes:
    """``der`` unchanged, once it reads as one DER Certificate; ValueError naming ``field``.
    Read with cryptography's parser rather than pyasn1's: an answer carries up to five
    certificates, and pyasn1 took milliseconds for each (loadtests/bench_cmp.py)."""
    try:
        _readable_certificate(bytes(der))
    except ValueError as exc:
        raise ValueError(f"{field} does not decode: {exc}") from None
    return bytes(der)


@functools.lru_cache(maxsize=64)
def _readable_certificate(der: bytes) -> None:
    """Raises ValueError unless ``der`` is one DER Certificate; the certificates that pass
    are remembered (the CA's chain, in every answer), those that fail are not."""
    x509.load_der_x509_certificate(der)


def _certificates(certificates: Sequence[bytes], field: str) -> bytes:
    """SEQUENCE OF CMPCertificate, each embedded as given."""
    return der_tlv(_SEQUENCE, b"".join(_certificate(cert, field) for cert in certificates))


# --- helpers for callers ---------------------------------------------------------------------


def crls_value(crls: Sequence[bytes]) -> bytes:
    """DER infoValue of id-it-crls (RFC 9483 4.3.4): SEQUENCE SIZE (1..MAX) OF
    CertificateList, each CRL embedded as given. Raises ValueError for an empty list or an
    item that is not one DER CertificateList."""
    if not crls:
        raise ValueError("crls needs at least one CRL")
    return der_tlv(
        _SEQUENCE, b"".join(_checked(crl, rfc5280.CertificateList(), "crls") for crl in crls)
    )


# Key types as the profiles name them -> AlgorithmIdentifier of the key (RFC 5480 2.1.1,
# RFC 8410 3, RFC 9215 4.2), for keySpec's id-regCtrl-algId (RFC 9483 4.3.3). RSA is not
# among them: id-regCtrl-algId names "a cryptographic algorithm other than rsaEncryption";
# RSA is asked for by id-regCtrl-rsaKeyLen alone (RFC 9810 5.3.19, the certReqTemplate
# controls).
_ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"


def _gost_algorithm(parameter_set: gost.ParameterSet) -> bytes:
    """id-tc26-gost3410-12-256/512 with GostR3410-2012-PublicKeyParameters as RFC 9215
    writes them (protocols.gost.canonical_spki): digestParamSet with the CryptoPro sets only."""
    parameters = _oid_der(parameter_set.oid)
    if parameter_set.digest_in_spki:
        parameters += _oid_der(gost.DIGEST_OIDS[parameter_set.key_size])
    key_oid = gost.KEY_OIDS[parameter_set.key_size]
    return der_tlv(_SEQUENCE, _oid_der(key_oid) + der_tlv(_SEQUENCE, parameters))


@functools.cache
def _key_algorithms() -> dict[str, bytes]:
    """Key type -> the DER AlgorithmIdentifier of its public key."""
    return {
        "ec-p256": der_tlv(
            _SEQUENCE, _oid_der(_ID_EC_PUBLIC_KEY) + _oid_der("1.2.840.10045.3.1.7")
        ),
        "ec-p384": der_tlv(_SEQUENCE, _oid_der(_ID_EC_PUBLIC_KEY) + _oid_der("1.3.132.0.34")),
        "ed25519": der_tlv(_SEQUENCE, _oid_der("1.3.101.112")),
        **{p.key_type: _gost_algorithm(p) for p in gost.PARAMETER_SETS},
    }


def cert_req_template_value(
    key_types: Sequence[str], extensions: Sequence[bytes] = (), subject: bytes | None = None
) -> bytes:
    """DER infoValue of id-it-certReqTemplate (RFC 9483 4.3.3): CertReqTemplateContent
    { certTemplate, keySpec }, as the example of 4.3.3 writes it.

    certTemplate holds what the profile fixes: ``subject`` (DER Name) when given, and
    ``extensions`` (DER Extension values, e.g. the profile's keyUsage and extKeyUsage);
    never a publicKey ("The SubjectPublicKeyInfo field MUST be absent"). keySpec holds "one
    AttributeTypeAndValue per supported algorithm", the client picking one: an
    id-regCtrl-algId AlgorithmIdentifier per non-RSA key type ("ec-p256": id-ecPublicKey
    with the named curve as parameters, RFC 5480 2.1.1; "ed25519": id-Ed25519 without
    parameters, RFC 8410 3; "gost2012-256-a": id-tc26-gost3410-12-256 with the parameter
    set, RFC 9215 4.2) and an id-regCtrl-rsaKeyLen INTEGER per RSA size ("rsa-<bits>"),
    in the order given. Raises ValueError for no key types, an unknown one, or a subject or
    extension that does not decode."""
    if not key_types:
        raise ValueError("a template needs at least one key type")
    controls = []
    for key_type in key_types:
        if key_type.startswith("rsa-") and key_type[4:].isdigit():
            length = encode_der(univ.Integer(int(key_type[4:])))
            controls.append(_control(str(rfc9480.id_regCtrl_rsaKeyLen), length))
            continue
        algorithm = _key_algorithms().get(key_type)
        if algorithm is None:
            raise ValueError(f"unknown key type {key_type!r}")
        controls.append(_control(str(rfc9480.id_regCtrl_algId), algorithm))
    template = b""
    if subject is not None:  # [5] EXPLICIT Name (a CHOICE)
        template += der_tlv(0xA5, _checked(subject, rfc5280.Name(), "subject"))
    if extensions:  # [9] IMPLICIT Extensions
        checked = [_checked(e, rfc5280.Extension(), "extensions") for e in extensions]
        template += der_tlv(0xA9, b"".join(checked))
    certificate_template = der_tlv(_SEQUENCE, template)  # CertTemplate, RFC 4211 5
    return der_tlv(_SEQUENCE, certificate_template + der_tlv(_SEQUENCE, b"".join(controls)))


# RFC 9810 5.3.19.2/5.3.19.3: the key types as AlgorithmIdentifiers of their public keys
# (RFC 5480 2.1.1: id-ecPublicKey with the named curve; RFC 8017 A.1: rsaEncryption, NULL
# parameters; RFC 8410 3: id-Ed25519 without; RFC 9215 4.2: a GOST key's algorithm with its
# parameter set). "rsaEncryption and sha256WithRSAEncryption
# ... are considered to be equivalent": one rsaEncryption stands for every RSA size.
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
# GOST R 34.10-2012 keys sign, and agree keys (VKO_GOSTR3410_2012, RFC 7836).
_GOST_KEY_TYPES = frozenset(gost.SETS_BY_KEY_TYPE)
_SIGNING_KEY_TYPES = frozenset({"ec-p256", "ec-p384", "ed25519"}) | _GOST_KEY_TYPES
_ENCRYPTION_KEY_TYPES = frozenset({"ec-p256", "ec-p384"}) | _GOST_KEY_TYPES  # + RSA
_AES256_CBC = "2.16.840.1.101.3.4.1.42"  # RFC 3565 2.2


def key_pair_types_value(key_types: Sequence[str], purpose: str) -> bytes | None:
    """DER infoValue of id-it-signKeyPairTypes (``purpose`` "signing", RFC 9810
    5.3.19.2) or id-it-encKeyPairTypes ("encryption", 5.3.19.3): SEQUENCE SIZE (1..MAX) OF
    AlgorithmIdentifier, one per key type of ``key_types`` fit for the purpose (EC and
    Ed25519 sign, EC agrees keys, RSA and GOST do both), in order, each once; None when
    none is.
    Raises ValueError for an unknown key type or purpose."""
    if purpose not in ("signing", "encryption"):
        raise ValueError(f"purpose {purpose!r}: signing or encryption")
    fit = _SIGNING_KEY_TYPES if purpose == "signing" else _ENCRYPTION_KEY_TYPES
    algorithms: list[bytes] = []
    for key_type in key_types:
        if key_type.startswith("rsa-") and key_type[4:].isdigit():
            algorithm = der_tlv(_SEQUENCE, _oid_der(_RSA_ENCRYPTION) + encode_der(univ.Null("")))
        elif key_type in _key_algorithms():
            if key_type not in fit:
                continue
            algorithm = _key_algorithms()[key_type]
        else:
            raise ValueError(f"unknown key type {key_type!r}")
        if algorithm not in algorithms:
            algorithms.append(algorithm)
    return der_tlv(_SEQUENCE, b"".join(algorithms)) if algorithms else None


def preferred_symm_alg_value() -> bytes:
    """DER infoValue of id-it-preferredSymmAlg (RFC 9810 5.3.19.4): the AlgorithmIdentifier
    of AES-256-CBC (RFC 3565 2.2), what this server's EnvelopedData use (protocols/cms);
    no parameters, as no IV belongs to a preference."""
    return der_tlv(_SEQUENCE, _oid_der(_AES256_CBC))


def lang_tags_value(tags: Sequence[str]) -> bytes:
    """DER infoValue of id-it-suppLangTags (RFC 9810 5.3.19.13): SEQUENCE OF UTF8String;
    an answer holds exactly one, the tag chosen. Raises ValueError for none."""
    if not tags:
        raise ValueError("suppLangTags needs at least one tag")
    return der_tlv(_SEQUENCE, b"".join(der_tlv(0x0C, tag.encode("utf-8")) for tag in tags))


def _control(oid: str, value_der: bytes) -> bytes:
    """AttributeTypeAndValue { type, value } of Controls (RFC 4211 6)."""
    return der_tlv(_SEQUENCE, _oid_der(oid) + value_der)


def _oid_der(oid: str) -> bytes:
    return encode_der(univ.ObjectIdentifier(oid))


def ca_certs_value(certificates: Sequence[bytes]) -> bytes:
    """DER infoValue of id-it-caCerts (RFC 9483 4.3.1): SEQUENCE SIZE
    (1..MAX) OF CMPCertificate. Raises ValueError for an empty list (answer with an absent
    infoValue instead) or a certificate that does not decode."""
    if not certificates:
        raise ValueError("caCerts needs at least one certificate")
    return _certificates(certificates, "caCerts")


def root_ca_key_update_value(
    new_with_new: bytes, new_with_old: bytes, old_with_new: bytes | None = None
) -> bytes:
    """DER infoValue of id-it-rootCaKeyUpdate (RFC 9483 4.3.2; RFC 9810 5.3.19.15):
    RootCaKeyUpdateContent ::= SEQUENCE { newWithNew CMPCertificate, newWithOld [0]
    CMPCertificate OPTIONAL, oldWithNew [1] CMPCertificate OPTIONAL }. The tags are
    explicit (a tagged CHOICE). RFC 9483 4.3.2 makes newWithOld REQUIRED in an answer that
    has a value, so it is a required argument here. Raises ValueError for a certificate
    that does not decode."""
    content = _certificate(new_with_new, "newWithNew")
    content += der_tlv(0xA0, _certificate(new_with_old, "newWithOld"))
    if old_with_new is not None:
        content += der_tlv(0xA1, _certificate(old_with_new, "oldWithNew"))
    return der_tlv(_SEQUENCE, content)


def cert_hash(
    certificate_der: bytes,
    hash_algorithm: str | None = None,
    signature_algorithm_of_cert: str | None = None,
) -> bytes:
    """The certHash a certConf carries for ``certificate_der`` (RFC 4210 5.3.18 as updated
    by RFC 9480): the hash ``hash_algorithm`` (dotted OID, the certConf's hashAlg) when
    given, else the hash of the certificate's signature algorithm; for Ed25519 SHA-512 and
    for Ed448 SHAKE256 with 512-bit output (RFC 9481 section 3).

    ``signature_algorithm_of_cert`` may name that signature algorithm as
    ``protocols.x509.certificate`` does ("sha256_ecdsa", ...), which saves parsing the
    certificate; None reads it from the certificate. Raises ValueError for a hash this
    package does not know or a certificate that does not parse."""
    digest: hashes.HashAlgorithm | str
    if hash_algorithm is not None and hash_algorithm in gost.DIGEST_OIDS.values():
        digest = _STREEBOG_BY_OID[hash_algorithm]
    elif hash_algorithm is not None:
        try:
            digest = hash_for_oid(hash_algorithm)
        except MalformedDER as exc:
            raise ValueError(str(exc)) from None
    elif signature_algorithm_of_cert is not None:
        if signature_algorithm_of_cert not in _NAMED_SIGNATURE_HASHES:
            raise ValueError(f"unknown signature algorithm {signature_algorithm_of_cert!r}")
        digest = _NAMED_SIGNATURE_HASHES[signature_algorithm_of_cert]
    else:
        digest = _signature_hash_of(certificate_der)
    if isinstance(digest, str):
        try:
            return gost_engine.digest(digest, certificate_der)
        except gost_engine.GostError as exc:
            raise ValueError(f"{digest}: {exc}") from None
    hasher = hashes.Hash(digest)
    hasher.update(certificate_der)
    return hasher.finalize()


def _signature_hash_of(certificate_der: bytes) -> hashes.HashAlgorithm | str:
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except ValueError as exc:
        raise ValueError(f"certificate does not parse: {exc}") from None
    streebog = _STREEBOG_BY_OID.get(certificate.signature_algorithm_oid.dotted_string)
    if streebog is not None:  # RFC 9215 3.2: signwithdigest-gost3410-12-256/512
        return streebog
    if certificate.signature_algorithm_oid == _ED25519:
        return hashes.SHA512()
    if certificate.signature_algorithm_oid == _ED448:
        return hashes.SHAKE256(64)
    digest = certificate.signature_hash_algorithm
    if digest is None:
        raise ValueError(f"no hash known for {certificate.signature_algorithm_oid.dotted_string}")
    return digest


def parse_reply(der: bytes) -> PKIMessage:
    """A reply read back: the same as ``messages.parse_pki_message``."""
    return parse_pki_message(der)
