"""CRMF (RFC 4211): the CertReqMessages of ir, cr and kur read, proof of possession checked.

Theory of operation: :func:`parse_cert_req_messages` takes the DER CertReqMessages (the
contents of an ir [0], cr [2] or kur [7] PKIBody, RFC 4210 5.3.1 / 5.3.3 / 5.3.5) and returns
one :class:`CertRequest` per CertReqMsg: the certTemplate's subject, public key and
subjectAltName entries, the rest of the template as sent (extensions, validity, version,
issuer, the fields the CA assigns) for the CA to honour or say it did not, whether it asks
the CA for the key (RFC 9483 4.1.6), and how the requester proved possession of the private
key (RFC 4211 section 4). A signature POP (POPOSigningKey, RFC 4211 4.1) is verified here, over
the DER of certReq exactly as received (the octets are cut out of the message, never
re-encoded), with the key of the template. Only the form without poposkInput counts: RFC 4211
4.1 requires it when the template carries the subject and the key, which is all this CA
issues from.

The package's modules import from here, too, the pyasn1 decoding that never lets a pyasn1
exception out (:func:`decode_der`, from ``protocols.pyasn1_der``); signatures are checked
under their AlgorithmIdentifier by ``protocols.x509.signatures`` (RFC 9481 section 3). All
raise :class:`MalformedDER`, a ValueError; ``messages.py`` turns it into ``CMPFormatError``.

Nothing here does I/O; the ASN.1 types are those of ``pyasn1_alt_modules.rfc4211``.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4211, rfc5280, rfc9480

from protocols import der
from protocols.der import elements as der_children
from protocols.pyasn1_der import MalformedDER, decode_der, encode_der, short_reason
from protocols.x509.names import attributes_of, plain_attributes
from protocols.x509.signatures import decoded_signature_valid

__all__ = [
    "CertRequest",
    "MalformedDER",
    "OldCertID",
    "TemplateExtension",
    "cert_requests_by_parts",
    "decode_der",
    "encode_der",
    "is_plain_directory_name",
    "minimal_integer",
    "object_identifier",
    "parse_cert_req_messages",
    "plain_algorithm",
    "read_algorithm",
    "short_reason",
]

_ID_CE_SUBJECT_ALT_NAME = "2.5.29.17"  # RFC 5280 4.2.1.6
_ID_REG_CTRL_OLD_CERT_ID = "1.3.6.1.5.5.7.5.1.5"  # RFC 4211 6.5


@dataclass(frozen=True)
class TemplateExtension:
    """One Extension of certTemplate.extensions (RFC 4211 5, RFC 5280 4.1): the OID dotted,
    whether marked critical, the DER of extnValue's contents."""

    oid: str
    critical: bool
    value: bytes


@dataclass(frozen=True)
class OldCertID:
    """The id-regCtrl-oldCertID control of a CertRequest (RFC 4211 6.5; RFC 9483 4.1.3:
    the certificate a kur updates): the issuer as the DER GeneralName sent, the serial."""

    issuer: bytes
    serial_number: int


@dataclass(frozen=True)
class CertRequest:
    """One CertReqMsg of an ir, cr or kur (RFC 4211 sections 3-5).

    ``subject`` is in RFC 4514 text order, as ``protocols.x509.names.attributes_of`` gives
    it, or None when the template has no subject. ``spki_der`` is the template's publicKey as
    SubjectPublicKeyInfo DER, or None when absent (central key generation, RFC 9483 4.1.6).
    ``dns_names``, ``ip_addresses`` (``ipaddress`` text form) and ``emails`` come from a
    subjectAltName extension in certTemplate.extensions. ``pop`` is the ProofOfPossession
    alternative ("signature", "raVerified", "keyEncipherment", "keyAgreement") or "none";
    ``pop_valid`` is True only for a POPOSigningKey without poposkInput whose signature over
    the DER of certReq verifies under ``spki_der``.

    The rest of the template, for the CA to honour or to say it did not (RFC 4210 5.2.3
    grantedWithMods): ``extensions`` every requested extension as sent (subjectAltName
    included); ``not_before``/``not_after`` the requested validity (RFC 4211 5: "normally
    omitted"); ``version`` (RFC 9483 4.1.1: 2 if supplied); ``issuer`` the DER Name of the
    CA asked for; ``ca_fields`` the names of the fields RFC 4211 5 says MUST be omitted
    (serialNumber, signingAlg, issuerUID, subjectUID) that are present anyway.

    ``central_key_generation`` is True when the template asks the CA for the key (RFC 9483
    4.1.6): no publicKey, or one whose subjectPublicKey BIT STRING is empty and names only
    the algorithm wanted. ``old_cert_id`` is the oldCertID control, when sent (RFC 4211 6.5,
    RFC 9483 4.1.3). ``der`` is the CertReqMsg's DER as received."""

    cert_req_id: int
    subject: tuple[tuple[str, str], ...] | None
    spki_der: bytes | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    emails: tuple[str, ...]
    pop: str
    pop_valid: bool
    extensions: tuple[TemplateExtension, ...] = ()
    not_before: datetime | None = None
    not_after: datetime | None = None
    version: int | None = None
    issuer: bytes | None = None
    ca_fields: tuple[str, ...] = ()
    central_key_generation: bool = False
    old_cert_id: OldCertID | None = None
    der: bytes = field(default=b"", compare=False, repr=False)  # the CertReqMsg as received


# --- DER and pyasn1 helpers -------------------------------------------------------------


_CHECKED_SPECS: dict[str, Any] = {
    "GeneralName": rfc5280.GeneralName,
    "AlgorithmIdentifier": rfc5280.AlgorithmIdentifier,
    "CMPCertificate": rfc9480.CMPCertificate,
}


@functools.lru_cache(maxsize=512)
def checked_once(der: bytes, what: str) -> Any:
    """``der`` decoded as the type ``what`` names (a GeneralName, AlgorithmIdentifier or
    CMPCertificate), read-only; MalformedDER if it does not decode. The values that pass
    are remembered, those that fail are not: the same names and certificates come back in
    request after request, and in the answers to them; a request's protectionAlg is read
    for its header and again for its protection."""
    return decode_der(der, _CHECKED_SPECS[what](), what)


def _retagged(der: bytes, tag: int) -> bytes:
    """``der`` with its one-octet tag replaced: an IMPLICIT [n] SEQUENCE back to SEQUENCE."""
    return bytes((tag,)) + der[1:]


# --- CertReqMessages ----------------------------------------------------------------------


def parse_cert_req_messages(der: bytes, decoded: Any = None) -> tuple[CertRequest, ...]:
    """Every CertReqMsg of the DER CertReqMessages ``der`` (RFC 4211 section 3), in order.
    ``decoded``: the same value already decoded by pyasn1 (as part of its PKIMessage), so
    that it is not decoded twice.

    Raises MalformedDER when it does not decode or a subject, subjectAltName or validity is
    unreadable. A certReqId used twice is read as sent: refusing it is the CA's answer
    (RFC 9483 3.6.2: in an ip/cp/kup, not an error message)."""
    messages = (
        decode_der(der, rfc4211.CertReqMessages(), "CertReqMessages")
        if decoded is None
        else decoded
    )
    raw_messages = der_children(der)
    try:
        requests = tuple(
            _cert_request(message, raw)
            for message, (_tag, raw) in zip(messages, raw_messages, strict=True)
        )
    except (PyAsn1Error, UnicodeError) as exc:  # raised lazily by character strings
        raise MalformedDER(f"CertReqMessages: {short_reason(exc)}") from None
    return requests


def cert_requests_by_parts(der_: bytes) -> tuple[CertRequest, ...] | None:
    """The CertRequests of the DER CertReqMessages ``der_`` read by a walk of its DER, as
    :func:`parse_cert_req_messages` reads them from pyasn1's decoding, for the ordinary
    request (an ir or cr as OpenSSL writes it, about 300 µs less per request): each
    CertReqMsg a certReqId, a template of issuer, subject and publicKey only (each
    optional, in order), and no POP or a
    POPOSigningKey without poposkInput; DER's shortest lengths, a minimal certReqId, one
    attribute per RDN (pyasn1 re-encodes a SET OF sorted), BIT STRINGs of whole octets.
    None for anything else, or anything unreadable: the caller then decodes it with pyasn1,
    the definition, so that what is refused is refused with the same reason."""
    try:
        outer = _plain_one(der_, 0, len(der_), 0x30)
        messages = der.children(der_, outer.start, outer.end)
        if not messages:
            return None
        requests = []
        for message in messages:
            found = _cert_request_by_parts(der_, message)
            if found is None:
                return None
            requests.append(found)
    except ValueError:  # MalformedDER, and attributes_of's refusal of a subject
        return None
    return tuple(requests)


def _plain_one(data: bytes, start: int, end: int, tag: int) -> der.TLV:
    """:func:`protocols.der.one` with DER's shortest length (X.690 10.1)."""
    found = der.one(data, start, end, tag)
    return _plain(data, found)


def _plain(data: bytes, found: der.TLV) -> der.TLV:
    """``found`` if its length octets are DER's shortest; MalformedDER otherwise."""
    length = found.end - found.start
    shortest = 1 if length < 0x80 else 1 + (length.bit_length() + 7) // 8
    if found.start - found.offset != 1 + shortest:
        raise MalformedDER("not the shortest length")
    return found


def _cert_request_by_parts(data: bytes, message: der.TLV) -> CertRequest | None:
    """One CertReqMsg of the ordinary form (:func:`cert_requests_by_parts`), or None."""
    fields = der.children(data, _plain(data, message).start, message.end)
    if message.tag != 0x30 or not 1 <= len(fields) <= 2:
        return None
    cert_req = _plain(data, fields[0])
    popo = _plain(data, fields[1]) if len(fields) == 2 else None
    if cert_req.tag != 0x30 or (popo is not None and popo.tag != 0xA1):
        return None
    request_fields = der.children(data, cert_req.start, cert_req.end)
    if len(request_fields) != 2 or request_fields[0].tag != 0x02 or request_fields[1].tag != 0x30:
        return None
    cert_req_id = minimal_integer(data[request_fields[0].start : request_fields[0].end])
    template = _plain(data, request_fields[1])
    parts = der.children(data, template.start, template.end)
    tags = [part.tag for part in parts]
    if cert_req_id is None or tags != sorted(set(tags)) or not set(tags) <= {0xA3, 0xA5, 0xA6}:
        return None
    subject = spki_der = issuer = None
    empty_key = False
    for part in parts:
        _plain(data, part)
        if part.tag in (0xA3, 0xA5):
            name = _name_by_parts(data, part)
            if name is None:
                return None
            if part.tag == 0xA3:
                issuer = name
            else:  # a new subject in each request: read by a walk when plain
                subject = tuple(plain_attributes(name) or attributes_of(name))
        else:
            bits = _algorithm_and_bits(data, part)
            if bits is None:
                return None
            spki_der = b"\x30" + data[part.offset + 1 : part.end]
            empty_key = len(bits) == 0
    raw_message = data[message.offset : message.end]
    if popo is None:
        pop, pop_valid = "none", False
    else:
        pop, pop_valid = "signature", _pop_valid_by_parts(data, popo, cert_req, spki_der)
    return CertRequest(
        cert_req_id=cert_req_id,
        subject=subject,
        spki_der=spki_der,
        dns_names=(),
        ip_addresses=(),
        emails=(),
        pop=pop,
        pop_valid=pop_valid,
        issuer=issuer,
        central_key_generation=spki_der is None or empty_key,
        der=raw_message,
    )


def minimal_integer(contents: bytes) -> int | None:
    """A DER INTEGER's value (X.690 8.3.2: at least one octet, the first nine bits not all
    equal), None for any other contents."""
    if not contents or (
        len(contents) > 1 and (contents[0], contents[1] >> 7) in ((0, 0), (0xFF, 1))
    ):
        return None
    return int.from_bytes(contents, "big", signed=True)


def _name_by_parts(data: bytes, field: der.TLV) -> bytes | None:
    """The DER Name of certTemplate.issuer [3] or subject [5] (EXPLICIT), the octets pyasn1
    would encode again: an rdnSequence of at least one RDN, each one AttributeTypeAndValue
    of an OBJECT IDENTIFIER pyasn1 reads and a value of any tag; None otherwise."""
    name = _plain_one(data, field.start, field.end, 0x30)
    rdns = der.children(data, name.start, name.end)
    if not rdns:
        return None
    for rdn in rdns:
        if rdn.tag != 0x31:
            return None
        pair = _plain_one(data, _plain(data, rdn).start, rdn.end, 0x30)
        type_and_value = der.children(data, pair.start, pair.end)
        if len(type_and_value) != 2 or type_and_value[0].tag != 0x06:
            return None
        oid, _value = (_plain(data, part) for part in type_and_value)
        if not _plain_oid(data[oid.start : oid.end]):
            return None
    return data[name.offset : name.end]


def is_plain_directory_name(general_name: bytes) -> bool:
    """Whether the DER GeneralName ``general_name`` is a directoryName [4] that pyasn1 reads,
    by the walk of :func:`_name_by_parts` (a header's sender names a new client in each
    request: pyasn1 took about 100 µs to check it). False says nothing: the caller then
    checks it with pyasn1."""
    try:
        field = _plain_one(general_name, 0, len(general_name), 0xA4)
        return _name_by_parts(general_name, field) is not None
    except MalformedDER:
        return False


def plain_algorithm(algorithm_der: bytes) -> tuple[str, bytes | None] | None:
    """(OID, the parameters' whole TLV or None when absent) of a DER AlgorithmIdentifier in
    its plain form, read by a walk of its DER: a SEQUENCE of an OBJECT IDENTIFIER as DER
    writes it and at most one value more, every length DER's shortest. pyasn1 decodes all
    of these the same (its ANY takes whatever one value follows); a MAC-protected message's
    protectionAlg carries a fresh salt in every request and every answer, so pyasn1 would
    decode a new one each time (about 40 µs). None for any other form: the caller then
    reads it with pyasn1 (:func:`checked_once`) for the exact verdict."""
    try:
        outer = _plain_one(algorithm_der, 0, len(algorithm_der), 0x30)
        found = der.children(algorithm_der, outer.start, outer.end)
        parts = [_plain(algorithm_der, part) for part in found]
    except MalformedDER:
        return None
    if not 1 <= len(parts) <= 2 or parts[0].tag != 0x06:
        return None
    if not _plain_oid(algorithm_der[parts[0].start : parts[0].end]):
        return None
    parameters = algorithm_der[parts[1].offset : parts[1].end] if len(parts) == 2 else None
    oid = _plain_object_identifier(algorithm_der[parts[0].offset : parts[0].end])
    return oid, parameters


def read_algorithm(algorithm_der: bytes) -> tuple[str, bytes | None]:
    """(OID, the parameters' whole TLV or None when absent) of a DER AlgorithmIdentifier:
    :func:`plain_algorithm`, else as pyasn1 decodes it (:func:`checked_once`). Raises
    MalformedDER if it does not decode."""
    plain = plain_algorithm(algorithm_der)
    if plain is not None:
        return plain
    algorithm = checked_once(algorithm_der, "AlgorithmIdentifier")
    parameters = algorithm["parameters"]
    return str(algorithm["algorithm"]), bytes(parameters) if parameters.isValue else None


def object_identifier(oid_der: bytes, what: str) -> str:
    """The dotted text of the DER OBJECT IDENTIFIER ``oid_der`` as pyasn1 reads it; those of
    DER's form are kept (the same few algorithms and info types come back in every message).
    Raises MalformedDER naming ``what``."""
    length = len(oid_der) - 2
    if 0 <= length < 0x80 and oid_der[:2] == bytes((0x06, length)) and _plain_oid(oid_der[2:]):
        return _plain_object_identifier(oid_der)
    return str(decode_der(oid_der, univ.ObjectIdentifier(), what))


@functools.lru_cache(maxsize=256)
def _plain_object_identifier(oid_der: bytes) -> str:
    """The dotted text of an OBJECT IDENTIFIER of DER's form (:func:`_plain_oid`), kept."""
    return str(decode_der(oid_der, univ.ObjectIdentifier(), "OBJECT IDENTIFIER"))


def _plain_oid(contents: bytes) -> bool:
    """Whether ``contents`` are an OBJECT IDENTIFIER's as DER writes them (X.690 8.19): no
    subidentifier begins with 0x80, the last octet ends one."""
    if not contents or contents[-1] & 0x80 or contents[0] == 0x80:
        return False
    return all(
        contents[index] != 0x80 or contents[index - 1] & 0x80 for index in range(1, len(contents))
    )


def _algorithm_and_bits(data: bytes, field: der.TLV) -> bytes | None:
    """The BIT STRING's octets of a SEQUENCE { AlgorithmIdentifier, BIT STRING } of whole
    octets (a SubjectPublicKeyInfo, the tail of a POPOSigningKey), the AlgorithmIdentifier
    checked as pyasn1 reads it (:func:`checked_once`: the same few come back); None for
    another form. Raises MalformedDER for an AlgorithmIdentifier that does not decode."""
    parts = der.children(data, field.start, field.end)
    if len(parts) != 2 or parts[0].tag != 0x30 or parts[1].tag != 0x03:
        return None
    algorithm, bits = (_plain(data, part) for part in parts)
    checked_once(data[algorithm.offset : algorithm.end], "AlgorithmIdentifier")
    if bits.end - bits.start < 1 or data[bits.start] != 0:
        return None
    return data[bits.start + 1 : bits.end]


def _pop_valid_by_parts(
    data: bytes, popo: der.TLV, cert_req: der.TLV, spki_der: bytes | None
) -> bool:
    """:func:`_proof_of_possession`'s verdict on a [1] POPOSigningKey without poposkInput.
    Raises MalformedDER (the caller falls back) for another form."""
    signature = _algorithm_and_bits(data, popo)
    if signature is None:
        raise MalformedDER("not a plain POPOSigningKey")
    if spki_der is None:
        return False
    algorithm_parts = der.children(data, popo.start, popo.end)[0]
    algorithm = checked_once(
        data[algorithm_parts.offset : algorithm_parts.end], "AlgorithmIdentifier"
    )
    signed = data[cert_req.offset : cert_req.end]
    return decoded_signature_valid(spki_der, algorithm, signed, signature)


def _cert_request(message: Any, raw_message: bytes) -> CertRequest:
    """One CertReqMsg; ``raw_message`` is its DER as received (for the POP signature)."""
    cert_req = message["certReq"]
    template = cert_req["certTemplate"]
    spki_der = _template_public_key(template)
    dns_names, ip_addresses, emails = _template_alt_names(template)
    pop, pop_valid = _proof_of_possession(message, raw_message, spki_der)
    not_before, not_after = _template_validity(template)
    return CertRequest(
        cert_req_id=int(cert_req["certReqId"]),
        subject=_template_subject(template),
        spki_der=spki_der,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        emails=emails,
        pop=pop,
        pop_valid=pop_valid,
        extensions=_template_extensions(template),
        not_before=not_before,
        not_after=not_after,
        version=int(template["version"]) if template["version"].isValue else None,
        issuer=_template_issuer(template),
        ca_fields=tuple(name for name in _SET_BY_THE_CA if template[name].isValue),
        central_key_generation=spki_der is None or _without_key(template["publicKey"]),
        old_cert_id=_old_cert_id(cert_req["controls"]),
        der=raw_message,
    )


def _old_cert_id(controls: Any) -> OldCertID | None:
    """The id-regCtrl-oldCertID control (RFC 4211 6.5): CertId { issuer GeneralName,
    serialNumber INTEGER }. Raises MalformedDER when its value does not decode."""
    if not controls.isValue:
        return None
    for control in controls:
        if str(control["type"]) == _ID_REG_CTRL_OLD_CERT_ID:
            value = decode_der(bytes(control["value"]), rfc4211.OldCertId(), "oldCertID")
            return OldCertID(encode_der(value["issuer"]), int(value["serialNumber"]))
    return None


# RFC 4211 5: serialNumber and signingAlg are assigned by the CA, issuerUID and subjectUID
# are deprecated: each "MUST be omitted".
_SET_BY_THE_CA = ("serialNumber", "signingAlg", "issuerUID", "subjectUID")


def _without_key(public_key: Any) -> bool:
    """RFC 9483 4.1.6: a publicKey naming only the algorithm: its subjectPublicKey BIT
    STRING is empty (DER 03 01 00)."""
    return len(public_key["subjectPublicKey"]) == 0


def _template_extensions(template: Any) -> tuple[TemplateExtension, ...]:
    """certTemplate.extensions [9] as sent (RFC 4211 5)."""
    extensions = template["extensions"]
    if not extensions.isValue:
        return ()
    return tuple(
        TemplateExtension(
            oid=str(extension["extnID"]),
            critical=bool(extension["critical"]),
            value=bytes(extension["extnValue"]),
        )
        for extension in extensions
    )


def _template_validity(template: Any) -> tuple[datetime | None, datetime | None]:
    """certTemplate.validity [4] OptionalValidity (RFC 4211 5): (notBefore, notAfter)."""
    validity = template["validity"]
    if not validity.isValue:
        return None, None
    return _time(validity["notBefore"]), _time(validity["notAfter"])


def _time(value: Any) -> datetime | None:
    """A Time CHOICE (RFC 5280 4.1.2.5) as an aware datetime, or None when absent."""
    if not value.isValue:
        return None
    try:
        moment = value.getComponent().asDateTime
    except (PyAsn1Error, ValueError) as exc:
        raise MalformedDER(f"certTemplate validity: {short_reason(exc)}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _template_subject(template: Any) -> tuple[tuple[str, str], ...] | None:
    """certTemplate.subject ([5] Name, explicit because Name is a CHOICE) as pairs."""
    subject = template["subject"]
    if not subject.isValue:
        return None
    try:
        return tuple(attributes_of(encode_der(subject["rdnSequence"])))
    except ValueError as exc:
        raise MalformedDER(f"certTemplate subject: {exc}") from None


def _template_issuer(template: Any) -> bytes | None:
    """certTemplate.issuer ([3] Name, explicit: a CHOICE) as the DER Name."""
    issuer = template["issuer"]
    return encode_der(issuer["rdnSequence"]) if issuer.isValue else None


def _template_public_key(template: Any) -> bytes | None:
    """certTemplate.publicKey ([6] IMPLICIT SubjectPublicKeyInfo) as SPKI DER."""
    public_key = template["publicKey"]
    if not public_key.isValue:
        return None
    return _retagged(encode_der(public_key), 0x30)


def _template_alt_names(template: Any) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(dNSName, iPAddress, rfc822Name) entries of a subjectAltName in the template."""
    extensions = template["extensions"]
    dns: list[str] = []
    ips: list[str] = []
    emails: list[str] = []
    if not extensions.isValue:
        return (), (), ()
    for extension in extensions:
        if str(extension["extnID"]) != _ID_CE_SUBJECT_ALT_NAME:
            continue
        names = decode_der(
            bytes(extension["extnValue"]), rfc5280.SubjectAltName(), "subjectAltName"
        )
        for name in names:
            kind = name.getName()
            if kind == "dNSName":
                dns.append(str(name[kind]))
            elif kind == "rfc822Name":
                emails.append(str(name[kind]))
            elif kind == "iPAddress":
                ips.append(_ip_text(bytes(name[kind])))
    return tuple(dns), tuple(ips), tuple(emails)


def _ip_text(octets: bytes) -> str:
    """RFC 5280 4.2.1.6: 4 octets for IPv4, 16 for IPv6."""
    if len(octets) not in (4, 16):
        raise MalformedDER(f"subjectAltName iPAddress of {len(octets)} octets")
    return str(ipaddress.ip_address(octets))


def _proof_of_possession(message: Any, raw_message: bytes, spki: bytes | None) -> tuple[str, bool]:
    """(POP kind, verified). Only POPOSigningKey without poposkInput is verified (4.1)."""
    popo = message["popo"]
    if not popo.isValue:
        return "none", False
    kind = str(popo.getName())
    if kind != "signature":
        return kind, False
    signing_key = popo["signature"]
    if signing_key["poposkInput"].isValue or spki is None:
        return kind, False
    signature = signing_key["signature"]
    if len(signature) % 8:
        return kind, False
    raw_cert_req = der_children(raw_message)[0][1]
    # decoded with the message: not encoded to be decoded again
    algorithm = signing_key["algorithmIdentifier"]
    return kind, decoded_signature_valid(spki, algorithm, raw_cert_req, signature.asOctets())
