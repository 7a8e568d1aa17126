"""X.509 v2 CRLs (RFC 5280 section 5): entries made once, a CRL joined from them.

Theory of operation (STYLE.md rule 5, "record intent, then sign"):

1. when a certificate is revoked or held, the caller makes its CRL entry once with
   :func:`revoked_entry` (RFC 5280 5.1.2.6) and keeps those DER bytes with the status row;
2. to publish, the caller fills a :class:`CRLTemplate` with the kept entries and calls
   :func:`build_tbs_cert_list`, which joins the entries as they are into the DER
   TBSCertList (5.1.2): a CRL of a million entries is one ``bytes.join``, not a million
   ASN.1 objects;
3. the caller has those bytes signed elsewhere (this package never signs; same schemes and
   algorithm names as :mod:`protocols.x509.certificate`) and :func:`assemble_crl` wraps
   them, byte for byte, into the CertificateList (5.1.1).

Kinds of CRL one template can describe:

* a full CRL: ``delta_base`` None; ``freshest_crl`` names the delta CRL URL when deltas
  are published (freshestCRL, 5.2.6);
* a delta CRL: ``delta_base`` is the number of the full CRL it updates (deltaCRLIndicator,
  5.2.4, critical); it may carry ``removeFromCRL`` entries (5.3.1) for certificates
  released from hold since that full CRL;
* a shard of a partitioned CRL: ``distribution_point`` is the shard's URL
  (issuingDistributionPoint, 5.2.5, critical); :func:`crl_shard` says which shard a serial
  belongs to. A shard's deltas carry the same distribution point as the shard.

The caller keeps the CRL number (5.2.3: monotonic, full and delta CRLs share one sequence)
and keeps each serial in at most one entry per CRL; entries are not re-parsed here.
:func:`parse_crl` reads a CRL back, for tests and the server's own checks.

Relying parties and deltas (tested in tests/unit/protocols/test_crl.py): OpenSSL 3.0 uses
a delta only when the full CRL (or the certificate) carries freshestCRL, and only with
X509_V_FLAG_USE_DELTAS *and* X509_V_FLAG_EXTENDED_CRL_SUPPORT; without the latter it takes
a newer delta found beside the full CRL for a complete CRL and misses what only the full
CRL lists. Publish deltas only at their own URL, never in the same bundle as the full CRL.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509

# The DER helpers of certificate.py are shared rather than copied (private there, and kept
# private: one implementation of the time rule and of the algorithm identifiers).
from protocols.x509.certificate import (
    _algorithm_identifier,
    _sequence,
    _tagged,
    _time,
)

__all__ = [
    "CRLReason",
    "CRLTemplate",
    "ParsedCRL",
    "assemble_crl",
    "build_tbs_cert_list",
    "crl_shard",
    "parse_crl",
    "revoked_entry",
]

_VERSION_V2 = b"\x02\x01\x01"  # Version ::= v2(1), not tagged in a TBSCertList (RFC 5280 5.1.2.1)
_MAX_SERIAL = 1 << (20 * 8 - 1)  # RFC 5280 4.1.2.2: at most 20 octets, positive
_MAX_CRL_NUMBER = 1 << (20 * 8 - 1)  # RFC 5280 5.2.3: non-negative, at most 20 octets


class CRLReason(enum.IntEnum):
    """CRLReason (RFC 5280 5.3.1); 7 is not used."""

    unspecified = 0
    keyCompromise = 1
    cACompromise = 2
    affiliationChanged = 3
    superseded = 4
    cessationOfOperation = 5
    certificateHold = 6
    removeFromCRL = 8
    privilegeWithdrawn = 9
    aACompromise = 10


def _entry_extension(name: str, value: object) -> bytes:
    """One non-critical crlEntryExtension (RFC 5280 5.3: reasonCode and invalidityDate are
    non-critical)."""
    return asn1_crl.CRLEntryExtension(
        {"extn_id": name, "critical": False, "extn_value": value}
    ).dump()


# reasonCode extension DER per reason, made once (5.3.1). unspecified has none: "the
# reason code CRL entry extension SHOULD be absent instead of using the unspecified (0)".
_REASON_EXTENSIONS: dict[CRLReason, bytes] = {
    reason: _entry_extension("crl_reason", asn1_crl.CRLReason(int(reason)))
    for reason in CRLReason
    if reason is not CRLReason.unspecified
}
_REMOVE_FROM_CRL = _REASON_EXTENSIONS[CRLReason.removeFromCRL]
_INVALIDITY_DATE_ID = core.ObjectIdentifier("2.5.29.24").dump()  # id-ce-invalidityDate, 5.3.2


def revoked_entry(
    serial: int,
    revocation_date: datetime,
    reason: int | None = None,
    invalidity_date: datetime | None = None,
) -> bytes:
    """One element of revokedCertificates (RFC 5280 5.1.2.6): SEQUENCE { userCertificate,
    revocationDate, crlEntryExtensions OPTIONAL }, with reasonCode (5.3.1) unless the reason
    is None or unspecified, and invalidityDate (5.3.2, always GeneralizedTime) when given.
    Times lose their microseconds; revocationDate is UTCTime through 2049 and
    GeneralizedTime from 2050 (5.1.2.4).

    ``removeFromCRL`` (8) entries belong in delta CRLs only; :func:`build_tbs_cert_list`
    refuses them in a full CRL.

    Raises ValueError if the serial is not positive or exceeds 20 octets, a datetime is
    naive, or the reason is not a CRLReason value."""
    if not 0 < serial < _MAX_SERIAL:
        raise ValueError("serial number must be positive and at most 20 octets")
    fields = core.Integer(serial).dump() + _time("revocation_date", revocation_date).dump()
    extensions = b""
    if reason is not None:
        try:
            code = CRLReason(reason)
        except ValueError:
            raise ValueError(f"not a CRLReason (RFC 5280 5.3.1): {reason!r}") from None
        extensions = _REASON_EXTENSIONS.get(code, b"")
    if invalidity_date is not None:
        if invalidity_date.tzinfo is None:
            raise ValueError("invalidity_date must be timezone-aware")
        moment = invalidity_date.astimezone(UTC).replace(microsecond=0)
        # 5.3.2: InvalidityDate ::= GeneralizedTime, whatever the year.
        # Extension SEQUENCE { extnID, extnValue OCTET STRING { GeneralizedTime } } joined
        # by hand: asn1crypto's Extension costs five times the rest of the entry.
        value = _tagged(0x04, core.GeneralizedTime(moment).dump())
        extensions += _sequence(_INVALIDITY_DATE_ID + value)
    if extensions:
        fields += _sequence(extensions)  # crlEntryExtensions, a bare SEQUENCE (no tag)
    return _sequence(fields)


@dataclass(frozen=True)
class CRLTemplate:
    """Everything in a TBSCertList. Datetimes must be timezone-aware; microseconds are
    dropped. ``entries`` are :func:`revoked_entry` DERs, joined in the order given.
    ``signature_algorithm`` is one of the names of :mod:`protocols.x509.certificate`
    ("sha256_ecdsa", "sha384_ecdsa", "sha256_rsa", "ed25519", "gost2012_256",
    "gost2012_512")."""

    issuer_name_der: bytes
    authority_key_id: bytes
    crl_number: int
    this_update: datetime
    next_update: datetime
    entries: Sequence[bytes]
    signature_algorithm: str
    delta_base: int | None = None
    distribution_point: str | None = None
    freshest_crl: str | None = None


def _crl_extension(name: str, value: object, critical: bool = False) -> bytes:
    return asn1_crl.TBSCertListExtension(
        {"extn_id": name, "critical": critical, "extn_value": value}
    ).dump()


def _full_name(uri: str) -> dict[str, object]:
    """DistributionPointName ::= fullName [0] GeneralNames, one uniformResourceIdentifier."""
    return {"full_name": [asn1_x509.GeneralName(name="uniform_resource_identifier", value=uri)]}


def _crl_extensions(template: CRLTemplate) -> bytes:
    """crlExtensions (RFC 5280 5.2) in the order AKI, cRLNumber, deltaCRLIndicator, IDP,
    freshestCRL."""
    # 5.2.1: MUST, keyIdentifier form (matching the CA's subjectKeyIdentifier).
    parts = [
        _crl_extension("authority_key_identifier", {"key_identifier": template.authority_key_id})
    ]
    parts.append(_crl_extension("crl_number", template.crl_number))  # 5.2.3: MUST, non-critical
    if template.delta_base is not None:
        indicator = _crl_extension("delta_crl_indicator", template.delta_base, critical=True)
        parts.append(indicator)  # 5.2.4: critical, the base CRL's number
    if template.distribution_point is not None:
        # 5.2.5: critical; only distributionPoint present, the other fields at their DEFAULT.
        idp = {"distribution_point": _full_name(template.distribution_point)}
        parts.append(_crl_extension("issuing_distribution_point", idp, critical=True))
    if template.freshest_crl is not None:
        # 5.2.6: non-critical, CRLDistributionPoints syntax.
        points = [{"distribution_point": _full_name(template.freshest_crl)}]
        parts.append(_crl_extension("freshest_crl", points))
    return _sequence(b"".join(parts))


def _check(template: CRLTemplate) -> None:
    if not 0 <= template.crl_number < _MAX_CRL_NUMBER:
        raise ValueError("CRL number must be non-negative and at most 20 octets (RFC 5280 5.2.3)")
    if not template.authority_key_id:
        raise ValueError("authority key identifier is empty (RFC 5280 5.2.1)")
    if template.delta_base is not None:
        if not 0 <= template.delta_base < template.crl_number:
            # 5.2.4: the base is an earlier CRL of the same numbering sequence (5.2.3).
            raise ValueError("delta_base must be non-negative and below the delta's CRL number")
        if template.freshest_crl is not None:
            raise ValueError("freshestCRL MUST NOT appear in delta CRLs (RFC 5280 5.2.6)")
    for field, moment in (
        ("this_update", template.this_update),
        ("next_update", template.next_update),
    ):
        if moment.tzinfo is None:
            raise ValueError(f"{field} must be timezone-aware")
    if template.next_update.replace(microsecond=0) < template.this_update.replace(microsecond=0):
        raise ValueError("nextUpdate is before thisUpdate (RFC 5280 5.1.2.5)")
    try:
        asn1_x509.Name.load(template.issuer_name_der, strict=True).native  # noqa: B018
    except ValueError as exc:
        raise ValueError(f"issuer name does not parse ({exc})") from None


def build_tbs_cert_list(template: CRLTemplate) -> bytes:
    """The DER TBSCertList (version v2) of ``template`` (RFC 5280 5.1.2), its
    revokedCertificates the entries joined as they are and absent when there are none
    (5.1.2.6).

    Raises ValueError if the CRL number or base CRL number is negative or over 20 octets,
    the base is not below the CRL number, a delta CRL asks for freshestCRL, nextUpdate
    precedes thisUpdate, a datetime is naive, the issuer name does not parse, the AKI is
    empty, the algorithm is not supported, or a full CRL holds a removeFromCRL entry
    (5.3.1)."""
    _check(template)
    head = b"".join(
        [
            _VERSION_V2,
            _algorithm_identifier(template.signature_algorithm).dump(),
            template.issuer_name_der,
            _time("this_update", template.this_update).dump(),
            _time("next_update", template.next_update).dump(),  # 5.1.2.5: conforming CAs MUST
        ]
    )
    tail = _tagged(0xA0, _crl_extensions(template))  # [0] EXPLICIT Extensions
    # One join copies the entries once: with a million entries of ~50 octets, each further
    # copy of the ~50 MB would cost as much as building everything else.
    revoked_length = sum(map(len, template.entries))
    revoked_header = _header(0x30, revoked_length) if revoked_length else b""  # 5.1.2.6
    body_length = len(head) + len(revoked_header) + revoked_length + len(tail)
    prefix = _header(0x30, body_length) + head + revoked_header
    tbs = b"".join([prefix, *template.entries, tail])
    if template.delta_base is None and tbs.find(_REMOVE_FROM_CRL, len(prefix), -len(tail)) >= 0:
        # A full CRL must not carry removeFromCRL (5.3.1). Its reasonCode TLV is 10 octets;
        # only a serial could hold them by chance (about 2^-76 for a random 20-octet one).
        raise ValueError("removeFromCRL entries belong in delta CRLs only (RFC 5280 5.3.1)")
    return tbs


def assemble_crl(tbs_der: bytes, signature_algorithm: str, signature: bytes) -> bytes:
    """The DER CertificateList: SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
    (RFC 5280 5.1.1), with ``tbs_der`` copied byte for byte.

    Only the head of ``tbs_der`` is read (outer SEQUENCE, version, signature): a full
    parse would walk every entry of a large CRL.

    Raises ValueError if ``tbs_der`` is not one SEQUENCE starting with version v2 and an
    AlgorithmIdentifier, that algorithm differs from ``signature_algorithm`` (5.1.1.2
    requires them equal), or the signature is empty."""
    if not signature:
        raise ValueError("empty signature")
    algorithm = _algorithm_identifier(signature_algorithm).dump()
    try:
        tag, start, end = _tlv(tbs_der, 0)
        if tag != 0x30 or end != len(tbs_der):
            raise ValueError("not one SEQUENCE")
        _, _, version_end = _tlv(tbs_der, start)
        if tbs_der[start:version_end] != _VERSION_V2:
            raise ValueError("version is not v2")
        _, _, algorithm_end = _tlv(tbs_der, version_end)
    except ValueError as exc:
        raise ValueError(f"not a DER TBSCertList ({exc})") from None
    if tbs_der[version_end:algorithm_end] != algorithm:
        raise ValueError("signature algorithm differs from the one inside the TBSCertList")
    trailer = algorithm + core.OctetBitString(signature).dump()
    return b"".join([_header(0x30, len(tbs_der) + len(trailer)), tbs_der, trailer])


def _header(tag: int, length: int) -> bytes:
    """The identifier and definite length octets of a DER TLV (X.690 8.1.2, 8.1.3), for
    bodies joined without building them first (``_tagged`` takes the body)."""
    if length < 0x80:
        return bytes([tag, length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets


def _tlv(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start, end) of the contents of the TLV at ``offset``: single-octet tags and
    definite lengths (X.690 8.1.2, 8.1.3). Raises ValueError if it runs past the end."""
    if offset + 2 > len(der):
        raise ValueError("truncated")
    tag, first = der[offset], der[offset + 1]
    offset += 2
    length = first
    if first & 0x80:
        count = first & 0x7F
        if not 0 < count <= 4 or offset + count > len(der):
            raise ValueError("bad length")
        length = int.from_bytes(der[offset : offset + count], "big")
        offset += count
    if offset + length > len(der):
        raise ValueError("truncated")
    return tag, offset, offset + length


def crl_shard(serial: int, shards: int) -> int:
    """The shard (0 .. shards-1) of a partitioned CRL holding ``serial``: ``serial % shards``.

    Stable for a given number of shards: a certificate's CDP names its shard at issuance, so
    the number of shards of a CA generation must never change (a new count means a new
    generation, or old certificates pointing at shards that no longer list them). Serials
    are random (RFC 5280 4.1.2.2 / CA/B BR 7.1), so shards fill evenly.

    Raises ValueError if ``shards`` is below 1 or the serial is not positive."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    if serial <= 0:
        raise ValueError("serial number must be positive")
    return serial % shards


@dataclass(frozen=True)
class ParsedCRL:
    """What :func:`parse_crl` reads. ``entries`` maps serial -> (revocation date, reason,
    invalidity date); the reason is None when reasonCode is absent (which is how
    :func:`revoked_entry` writes unspecified). Datetimes are UTC."""

    crl_number: int
    delta_base: int | None
    this_update: datetime
    next_update: datetime | None
    entries: dict[int, tuple[datetime, int | None, datetime | None]]


class CRLFormatError(ValueError):
    """Not a DER CertificateList this codec can read."""


def parse_crl(der: bytes) -> ParsedCRL:
    """Read a DER CertificateList (RFC 5280 5.1). Does not check the signature. Every entry
    is decoded with asn1crypto, about 0.1 ms each: for checks of a large CRL, prefer
    `cryptography`'s loader.

    Raises CRLFormatError, for any input, if the DER does not parse as a CertificateList,
    it has no CRL number (5.2.3), or an entry repeats a serial or has an unknown reason
    code."""
    if not isinstance(der, bytes):
        raise CRLFormatError("a CertificateList is bytes")
    try:
        crl = asn1_crl.CertificateList.load(der, strict=True)
        tbs = crl["tbs_cert_list"]
        number = crl.crl_number_value
        base = crl.delta_crl_indicator_value
        this_update = tbs["this_update"].native
        next_update = tbs["next_update"].native
        entries: dict[int, tuple[datetime, int | None, datetime | None]] = {}
        for entry in tbs["revoked_certificates"]:
            serial = entry["user_certificate"].native
            if serial in entries:
                raise CRLFormatError(f"serial {serial:#x} listed twice")
            reason = entry.crl_reason_value
            invalidity = entry.invalidity_date_value
            entries[serial] = (
                entry["revocation_date"].native,
                None if reason is None else _reason_code(reason),
                None if invalidity is None else invalidity.native,
            )
    except CRLFormatError:
        raise
    except Exception as exc:  # asn1crypto raises what it likes (ValueError, TypeError,
        # KeyError, OverflowError, RecursionError...) for octets it cannot read: one error
        raise CRLFormatError(f"not a DER CertificateList ({_first_line(exc)})") from None
    if number is None:
        raise CRLFormatError("CRL has no cRLNumber (RFC 5280 5.2.3)")
    return ParsedCRL(
        crl_number=number.native,
        delta_base=None if base is None else base.native,
        this_update=this_update,
        next_update=next_update,
        entries=entries,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def _reason_code(reason: asn1_crl.CRLReason) -> int:
    """The ENUMERATED value of a reasonCode; ValueError if it is not one of 5.3.1."""
    return int(CRLReason(int.from_bytes(reason.contents, "big", signed=True)))
