"""Lint certificates with pkilint's RFC 5280 linter, taught the Russian profile (RFC 9215).

``lint_certificate(der)`` returns the ERROR and FATAL findings only; a test asserts the list
is empty. WARNING findings (RFC "SHOULD"s) are not returned; ``lint_findings(der,
"WARNING")`` lists them, ``"INFO"`` everything.

Why not the stock ``lint_pkix_cert`` executable: it decodes attribute types it does not know
as X.520 DirectoryString, so every RFC 9215 NumericString attribute (OGRN, SNILS, INNLE,
OGRNIP, INN) is a FATAL "invalid_asn1_syntax", and it cannot check the RFC 9215 extensions.
This module builds the same validator set as ``pkilint/bin/lint_pkix_cert.py`` (pkilint
0.13) with the RFC 9215 attribute and extension types of ``pyasn1_alt_modules.rfc9215``
added, so those attributes are decoded as NumericString with their SIZE constraints, and
subjectSignTool / issuerSignTool / identificationKind are decoded and size-checked too.
Pass ``russian=False`` to get the stock CLI's behaviour.
"""

from __future__ import annotations

from pkilint import loader, pkix
from pkilint.pkix import certificate, extension, name
from pkilint.pkix import crl as pkix_crl
from pkilint.pkix import ocsp as pkix_ocsp
from pkilint.validation import ValidationFindingSeverity
from pyasn1_alt_modules import rfc9215

__all__ = ["lint_certificate", "lint_crl", "lint_findings", "lint_ocsp_response"]

_SEVERITIES = ("FATAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")

RFC9215_ATTRIBUTES = {
    rfc9215.id_OGRN: rfc9215.OGRN(),
    rfc9215.id_SNILS: rfc9215.SNILS(),
    rfc9215.id_INNLE: rfc9215.INNLE(),
    rfc9215.id_OGRNIP: rfc9215.OGRNIP(),
    rfc9215.id_INN: rfc9215.INN(),
}
RFC9215_EXTENSIONS = {
    rfc9215.id_SubjectSignTool: rfc9215.SubjectSignTool(),
    rfc9215.id_IssuerSignTool: rfc9215.IssuerSignTool(),
    rfc9215.id_IdentificationKind: rfc9215.IdentificationKind(),
}


def _validator(russian: bool):
    attributes = dict(name.ATTRIBUTE_TYPE_MAPPINGS)
    extensions = dict(extension.EXTENSION_MAPPINGS)
    if russian:
        attributes.update(RFC9215_ATTRIBUTES)
        extensions.update(RFC9215_EXTENSIONS)
    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(attributes, extensions),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


_VALIDATORS = {True: _validator(True), False: _validator(False)}


def _findings(validator, document, severity: str) -> list[str]:
    """Findings at ``severity`` or above, one line each:
    "SEVERITY code @ node.path (Validator)[: message]"."""
    if severity not in _SEVERITIES:
        raise ValueError(f"severity must be one of {_SEVERITIES}")
    threshold = ValidationFindingSeverity[severity]  # FATAL=0 ... DEBUG=5
    findings = []
    for result in validator.validate(document.root):
        for description in result.finding_descriptions:
            finding = description.finding
            if finding.severity > threshold:
                continue
            line = f"{finding.severity.name} {finding.code} @ {result.node.path}"
            line += f" ({result.validator})"
            findings.append(line + (f": {description.message}" if description.message else ""))
    return findings


def lint_findings(der: bytes, severity: str = "WARNING", *, russian: bool = True) -> list[str]:
    """Every certificate finding at ``severity`` or above.

    Raises ValueError if pkilint cannot load the DER as a certificate."""
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    return _findings(_VALIDATORS[russian], document, severity)


def lint_certificate(der: bytes, *, russian: bool = True) -> list[str]:
    """The ERROR and FATAL findings of pkilint's RFC 5280 linter for the DER certificate;
    an empty list means it passes. Warnings are deliberately not returned (see
    :func:`lint_findings`). Raises ValueError for DER pkilint cannot load."""
    return [
        line
        for line in lint_findings(der, "ERROR", russian=russian)
        if line.startswith(("ERROR", "FATAL"))
    ]


def _crl_validator():
    """The validator set of pkilint's ``lint_crl -t CRL -p PKIX`` (pkilint/bin/lint_crl.py),
    with the RFC 9215 attribute types added so a Russian issuer name decodes. pkilint has
    no separate delta-CRL profile: full, delta and sharded CRLs are linted alike (the
    CRL/ARL type only matters to the CA/B "BR" profile, not used here)."""
    attributes = dict(name.ATTRIBUTE_TYPE_MAPPINGS)
    attributes.update(RFC9215_ATTRIBUTES)
    return pkix_crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(attributes),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            pkix_crl.create_issuer_validator_container([]),
            pkix_crl.create_validity_validator_container([]),
            pkix_crl.create_extensions_validator_container([]),
        ],
    )


_CRL_VALIDATOR = _crl_validator()


def lint_crl(der: bytes, severity: str = "ERROR") -> list[str]:
    """The findings of pkilint's RFC 5280 CRL linter for the DER CRL, at ``severity`` or
    above (by default ERROR and FATAL only; an empty list means it passes), one line each:
    "SEVERITY code @ node.path (Validator)[: message]". Raises ValueError for DER pkilint
    cannot load as a CertificateList."""
    document = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    return _findings(_CRL_VALIDATOR, document, severity)


def _ocsp_response_validator():
    """The validator set of pkilint's ``lint_ocsp_response`` (pkilint/bin/lint_ocsp_response.py:
    the response decoder, the attribute and extension decoders, no extra validators), with
    the RFC 9215 attribute types added so a Russian name in an embedded responder
    certificate decodes."""
    attributes = dict(name.ATTRIBUTE_TYPE_MAPPINGS)
    attributes.update(RFC9215_ATTRIBUTES)
    return pkix_ocsp.create_pkix_ocsp_response_validator_container(
        [
            pkix_ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(attributes),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )


_OCSP_RESPONSE_VALIDATOR = _ocsp_response_validator()


def lint_ocsp_response(der: bytes, severity: str = "ERROR") -> list[str]:
    """The findings of pkilint's RFC 6960 OCSP response linter for the DER OCSPResponse, at
    ``severity`` or above (by default ERROR and FATAL only; an empty list means it passes),
    one line each: "SEVERITY code @ node.path (Validator)[: message]". Raises ValueError for
    DER pkilint cannot load as an OCSPResponse."""
    document = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "ocsp")
    return _findings(_OCSP_RESPONSE_VALIDATOR, document, severity)
