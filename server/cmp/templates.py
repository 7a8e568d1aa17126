"""A CRMF certTemplate (or what a p10cr's PKCS#10 asks, :func:`pkcs10_template`) against the
certificate the CA issues for it: honoured, or the answer says so (RFC 4210 / RFC 9810 5.2.3
PKIStatus; RFC 4211 5; RFC 9483 4.1.1, 4.1.4).

The profile decides what a certificate carries (D2: the subject from the credential or the
protecting certificate; key usages, validity and the rest from the profile). So a template
asks, and the answer tells what became of the asking:

* before issuance, :func:`check_template` refuses what the CA will never grant, so that
  nothing is issued and nothing spent: fields RFC 4211 5 says MUST be omitted
  (serialNumber, signingAlg, issuerUID, subjectUID) and a version other than 2 (RFC 9483
  4.1.1) are badCertTemplate; basicConstraints cA=TRUE is notAuthorized (no profile here
  issues CA certificates), cA=FALSE with a pathLenConstraint or keyCertSign
  badCertTemplate (RFC 5280 4.2.1.9); a critical extension this CA does not know is
  badCertTemplate (RFC 5280 4.2: one it cannot process must not be ignored;
  unacceptedExtension is defined for time-stamping, RFC 3161 2.4.2, and RFC 9810 5.2.3 gives
  badCertTemplate for a template that cannot be honoured); a template that names nobody (no
  subject or a NULL-DN, and no subjectAltName) is badCertTemplate (RFC 9483 4.1.1, 4.1.3)
  unless the subject comes from a one-time
  enrollment code, which binds it by design (D2);
* after issuance, :func:`modifications` lists every requested extension, validity, issuer or
  subject the certificate does not carry as asked: any entry makes the answer
  grantedWithMods with that list as statusString, never a silent accepted.

Both raise or return; neither does I/O.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from protocols import cmp
from protocols.cmp.crmf import TemplateExtension
from protocols.x509 import csr as csr_codec
from protocols.x509 import names
from server.errors import CAError, ErrorKind

F = cmp.FailureInfo

SUBJECT_ALT_NAME = "2.5.29.17"
KEY_USAGE = "2.5.29.15"
EXTENDED_KEY_USAGE = "2.5.29.37"
BASIC_CONSTRAINTS = "2.5.29.19"
# Extensions whose meaning this CA knows (RFC 5280 4.2.1), by the name a statusString uses.
KNOWN_EXTENSIONS = {
    "2.5.29.14": "subjectKeyIdentifier",
    KEY_USAGE: "keyUsage",
    "2.5.29.16": "privateKeyUsagePeriod",
    SUBJECT_ALT_NAME: "subjectAltName",
    BASIC_CONSTRAINTS: "basicConstraints",
    "2.5.29.31": "cRLDistributionPoints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.35": "authorityKeyIdentifier",
    EXTENDED_KEY_USAGE: "extendedKeyUsage",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
}
# How each extension this CA compares by meaning is read (RFC 5280 4.2.1.2, .3, .6, .9, .12).
_SPECS: dict[str, type[core.Asn1Value]] = {
    KEY_USAGE: asn1_x509.KeyUsage,
    EXTENDED_KEY_USAGE: asn1_x509.ExtKeyUsageSyntax,
    SUBJECT_ALT_NAME: asn1_x509.GeneralNames,
    BASIC_CONSTRAINTS: asn1_x509.BasicConstraints,
}


class TemplateRejected(CAError):
    """A request body refused with a failInfo of its own (RFC 4210 5.2.3), answered in kind:
    an ip/cp/kup with status rejection (RFC 9483 3.6.2)."""

    def __init__(self, fail_info: cmp.FailureInfo, message: str) -> None:
        kind = ErrorKind.MALFORMED if fail_info is F.badRequest else ErrorKind.REJECTED
        super().__init__(kind, message)
        self.fail_info = fail_info


def pkcs10_template(csr_der: bytes) -> cmp.CertRequest | None:
    """What the PKCS#10 of a p10cr asks (RFC 9483 4.1.4), as a template to check and compare
    like a CRMF one: its subject and the extensions of its extensionRequest (RFC 2985
    5.4.2). None when it does not read or its signature does not verify: issuance refuses
    it then, with its own reason."""
    try:
        request = csr_codec.parse_csr(csr_der)
    except (csr_codec.MalformedCSR, csr_codec.BadProofOfPossession):
        return None
    return cmp.CertRequest(
        cert_req_id=-1, subject=request.subject, spki_der=request.spki_der, dns_names=(),
        ip_addresses=(), emails=(), pop="signature", pop_valid=False,
        extensions=tuple(TemplateExtension(*extension) for extension in request.extensions),
    )  # fmt: skip


def check_template(request: cmp.CertRequest, subject_from_code: bool) -> None:
    """Refuse, before anything is issued, a template this CA will not grant in any form.
    `subject_from_code`: the request is authenticated by a one-time enrollment code, which
    binds the subject (D2). Raises TemplateRejected."""
    if request.ca_fields:  # RFC 4211 5: assigned by the CA or deprecated: MUST be omitted
        raise TemplateRejected(
            F.badCertTemplate, f"certTemplate must omit {', '.join(request.ca_fields)}"
        )
    if request.version is not None and request.version != 2:  # RFC 9483 4.1.1
        raise TemplateRejected(F.badCertTemplate, "certTemplate version must be 2 (v3)")
    named_in_san = any(extension.oid == SUBJECT_ALT_NAME for extension in request.extensions)
    if not subject_from_code and not request.subject and not named_in_san:
        # RFC 9483 4.1.1, 4.1.3: the EE's identity is in the subject and/or subjectAltName;
        # a NULL-DN subject only with a subjectAltName. A one-time code names the subject
        # itself (D2), so there an empty template subject takes the code's.
        raise TemplateRejected(
            F.badCertTemplate, "certTemplate names no subject and no subjectAltName"
        )
    asked: dict[str, core.Asn1Value] = {}  # the extensions compared by meaning, read once
    for extension in request.extensions:
        if extension.oid in _SPECS:
            asked[extension.oid] = _read(extension.value, extension.oid)
        elif extension.critical and extension.oid not in KNOWN_EXTENSIONS:
            # RFC 5280 4.2: a critical extension that cannot be processed is not ignored
            raise TemplateRejected(
                F.badCertTemplate, f"critical extension {extension.oid} is not supported"
            )
    _check_basic_constraints(asked)


def _check_basic_constraints(asked: dict[str, core.Asn1Value]) -> None:
    """basicConstraints as asked (RFC 5280 4.2.1.9). cA=TRUE: every profile here is for end
    entities, so the requester is not authorized to what it asks: notAuthorized (RFC 9810
    5.2.3; the Siemens suite's basic "BasicConstraints" case, with CA certificates not
    allowed, expects an ip rejection notAuthorized: the template itself is sound). cA=FALSE
    with a pathLenConstraint, or with keyCertSign asked in keyUsage, contradicts itself
    (RFC 5280 4.2.1.9: "CAs MUST NOT include the pathLenConstraint field unless the cA
    boolean is asserted"; "If the cA boolean is not asserted, then the keyCertSign bit in
    the key usage extension MUST NOT be asserted"): badCertTemplate."""
    constraints = asked.get(BASIC_CONSTRAINTS)
    if constraints is None:
        return
    if constraints["ca"].native:
        raise TemplateRejected(
            F.notAuthorized, "basicConstraints cA=TRUE: this CA issues no CA certificates"
        )
    if constraints["path_len_constraint"].native is not None:
        raise TemplateRejected(
            F.badCertTemplate, "basicConstraints cA=FALSE with a pathLenConstraint"
        )
    usages = asked.get(KEY_USAGE)
    if usages is not None and "key_cert_sign" in usages.native:
        raise TemplateRejected(
            F.badCertTemplate, "keyUsage keyCertSign with basicConstraints cA=FALSE"
        )


def requested_key_usages(request: cmp.CertRequest) -> tuple[str, ...]:
    """The key usages the template's keyUsage extension asks for, by the names the profiles
    use ("digital_signature", "key_agreement", ...); none without that extension. Raises
    TemplateRejected when it does not decode."""
    for extension in request.extensions:
        if extension.oid == KEY_USAGE:
            return tuple(sorted(_read(extension.value, KEY_USAGE).native))
    return ()


def modifications(request: cmp.CertRequest, certificate_der: bytes) -> list[str]:
    """What the template asked that `certificate_der` does not carry as asked, one phrase
    each (statusString of grantedWithMods, RFC 9810 5.2.3); empty when it is honoured."""
    certificate = asn1_x509.Certificate.load(certificate_der)
    tbs = certificate["tbs_certificate"]
    changes: list[str] = []
    if request.extensions:  # asn1crypto parses lazily: the certificate's read when asked
        issued = {
            extension["extn_id"].dotted: extension["extn_value"].contents
            for extension in tbs["extensions"]
        }
        changes += [
            change
            for extension in request.extensions
            if (
                change := _extension_change(
                    extension.oid, extension.value, issued.get(extension.oid)
                )
            )
        ]
    if request.not_before is not None or request.not_after is not None:
        validity = tbs["validity"]
        changes += _time_change("notBefore", request.not_before, validity["not_before"].native)
        changes += _time_change("notAfter", request.not_after, validity["not_after"].native)
    if request.issuer is not None and not _same_name(request.issuer, tbs["issuer"].dump()):
        changes.append(f"issuer is {tbs['issuer'].human_friendly}")
    if request.subject and sorted(request.subject) != sorted(names.attributes_of(tbs["subject"])):
        changes.append(f"subject is {tbs['subject'].human_friendly}")
    return changes


def _extension_change(oid: str, asked: bytes, issued: bytes | None) -> str | None:
    name = KNOWN_EXTENSIONS.get(oid, oid)
    if issued is None:
        if oid == BASIC_CONSTRAINTS and not _read(asked, oid)["ca"]:
            return None  # cA=FALSE asked, an end-entity certificate issued
        return f"{name} not included"
    if issued == asked or (oid in _SPECS and _meaning(asked, oid) == _meaning(issued, oid)):
        return None
    if oid in _SPECS:
        return f"{name} set by the profile to {_describe(issued, oid)}"
    return f"{name} set by the CA"


def _time_change(field: str, asked: datetime | None, issued: datetime) -> list[str]:
    """Compared to the second: a Time carries no finer (RFC 5280 4.1.2.5)."""
    if asked is None or int(asked.timestamp()) == int(issued.timestamp()):
        return []
    return [f"{field} set to {issued.strftime('%Y-%m-%dT%H:%M:%SZ')}"]


def _read(value: bytes, oid: str) -> core.Asn1Value:
    try:
        parsed = _SPECS[oid].load(value)
        parsed.native  # noqa: B018 -- asn1crypto parses lazily: read it all now
    except (ValueError, TypeError) as exc:
        name = KNOWN_EXTENSIONS[oid]
        raise TemplateRejected(F.badCertTemplate, f"{name} does not decode: {exc}") from None
    return parsed


def _meaning(value: bytes, oid: str) -> object:
    """The extension as a comparable value: sets where order carries no meaning."""
    native = _read(value, oid).native
    if oid == SUBJECT_ALT_NAME:
        return frozenset((kind, str(v).lower()) for entry in native for kind, v in entry.items())
    if oid in (KEY_USAGE, EXTENDED_KEY_USAGE):
        return frozenset(native)
    return native


def _describe(value: bytes, oid: str) -> str:
    native = _read(value, oid).native
    if oid in (KEY_USAGE, EXTENDED_KEY_USAGE):
        return ", ".join(sorted(native))
    return str(native)


def _same_name(a: bytes, b: bytes) -> bool:
    return sorted(names.attributes_of(a)) == sorted(names.attributes_of(b))
