"""The automatic confirmation checks: a signed document (S10, V1, V2) and a certificate
alone (S11), answered as a ConfirmationReport.

A signature is valid (V1) when, for every SignerInfo: the signer's certificate is known, the
document's digest is the signed one and the signature value verifies with that certificate's
key (protocols.cms.signed_check); a CAdES signingCertificate(V2) names that certificate;
the certificate chains to a trusted CA (server/confirmation/trust.py) whose certificates
were valid and not revoked at the time of signing; the signer's certificate was valid and
neither revoked nor suspended then; and its key usage and extended key usage allow signing
documents. The time of signing is the signingTime attribute when there is one (RFC 5652
11.3: what the signer claims), else the time of the check. A certificate revoked after
signing leaves the signature valid, its status now reported beside it.

The status of this CA's certificates comes from the registry's status history (a key
compromise counts from its invalidity date, RFC 5280 5.3.2); that of another CA's
certificate from that CA's CRL (server/confirmation/crl_status.py), and without a usable
one the verdict is "indeterminate".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from protocols.cms.signed_check import NotSignedData, SignerCheck, check_signers, read_signed_data
from server.clock import Clock, utc_now
from server.confirmation.crl_status import CRLStatus
from server.confirmation.report import Cause, ConfirmationReport
from server.confirmation.timestamp import check_timestamp
from server.confirmation.trust import KnownCA, TrustedCAs, certificates_in, known_ca
from server.registry import StatusChange, StatusChangeKind, interfaces
from server.serials import serial_text

# Extended key usages that allow signing documents: any, e-mail protection (S/MIME, RFC
# 8550), document signing (RFC 9336) and Microsoft's document signing.
SIGNING_PURPOSES = frozenset(
    {
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string,
        ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string,
        "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning, RFC 9336
        "1.3.6.1.4.1.311.10.3.12",  # szOID_KP_DOCUMENT_SIGNING
    }
)
CLOCK_SKEW = timedelta(minutes=5)  # a signingTime this far ahead of the check is refused


class ConfirmationRegistry(
    interfaces.Certificates,
    interfaces.StatusHistory,
    interfaces.Generations,
    interfaces.CARevocations,
    interfaces.Roots,
    Protocol,
):
    """The registry as confirmations read it."""


class Confirmations:
    def __init__(
        self,
        registry: ConfirmationRegistry,
        ca_name: str,
        trusted_cas: Sequence[tuple[str, bytes]] = (),
        clock: Clock = utc_now,
        crl_status: CRLStatus | None = None,
    ) -> None:
        """`trusted_cas`: (where from, DER) of the other CAs the operator trusts; their
        certificates' status comes from `crl_status`."""
        self._registry = registry
        self._ca_name = ca_name
        self._trusted_cas = list(trusted_cas)
        self._clock = clock
        self._crls = crl_status or CRLStatus()

    async def check_signature(self, document: bytes | None, signature: bytes) -> ConfirmationReport:
        """S10: the report on `signature` (CMS SignedData, attached or detached) over
        `document` (None: the encapsulated content)."""
        now = self._clock()
        facts: dict[str, object] = {"signature": _file_facts(signature)}
        if document is not None:
            facts["document"] = _file_facts(document)
        try:
            signed = read_signed_data(signature)
        except NotSignedData as exc:
            cause = Cause("not_signed_data", f"the signature file is not a CMS signature: {exc}")
            return ConfirmationReport("signature", now, (cause,), facts)
        if signed.content is None and document is None:
            cause = Cause("no_document", "the signature is detached: the signed document is needed")
            return ConfirmationReport("signature", now, (cause,), facts)
        checks = check_signers(signed, document)
        missing = [check.serial_number for check in checks if check.certificate_der is None]
        if any(serial is not None for serial in missing):
            checks = check_signers(signed, document, await self._registry_certificates(missing))
        if document is None:
            facts["document"] = _file_facts(signed.content or b"")
        facts["attached"] = signed.content is not None
        if not checks:
            cause = Cause("no_signers", "the signature holds no SignerInfo")
            return ConfirmationReport("signature", now, (cause,), facts)
        trusted = await self._trusted()
        signers = []
        causes: list[Cause] = []
        for check in checks:
            signer_causes, signer_facts = await self._signer(check, trusted, now)
            signers.append(signer_facts)
            causes += [
                Cause(c.code, f"signer {check.index + 1}: {c.text}", c.indeterminate)
                for c in signer_causes
            ]
        facts["signers"] = signers
        return ConfirmationReport("signature", now, tuple(causes), facts)

    async def check_certificate(self, certificate: bytes) -> ConfirmationReport:
        """S11: whether `certificate` (DER or PEM) is authentically signed by this CA, any
        generation, and its status now."""
        now = self._clock()
        try:
            der = certificates_in(certificate)[0]
            parsed = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            cause = Cause("not_a_certificate", f"the file is not an X.509 certificate: {exc}")
            return ConfirmationReport(
                "certificate", now, (cause,), {"file": _file_facts(certificate)}
            )
        trusted = await self._trusted()
        facts: dict[str, object] = {"certificate": certificate_summary(parsed, der)}
        issuers = [ca for ca in trusted.issuers_of(parsed) if ca.ours]
        if not issuers:
            cause = Cause(
                "not_issued_by_this_ca", "no certificate of this CA, of any generation, signed it"
            )
            return ConfirmationReport("certificate", now, (cause,), facts)
        issuer = issuers[0]
        facts["issued_by"] = _ca_facts(issuer)
        causes = _validity_causes(parsed, now, "now")
        status_causes, status = await self._status(parsed, der, issuer, trusted, now)
        facts["status_now"] = status
        causes += [cause for cause in status_causes if cause.code != "revoked_before_signing"]
        if status.get("status") == "revoked":
            causes.append(Cause("revoked", f"the certificate is revoked ({status.get('reason')})"))
        return ConfirmationReport("certificate", now, tuple(causes), facts)

    async def _signer(
        self, check: SignerCheck, trusted: TrustedCAs, now: datetime
    ) -> tuple[list[Cause], dict[str, object]]:
        facts: dict[str, object] = {
            "index": check.index + 1,
            "digest_algorithm": check.digest_algorithm,
            "signature_algorithm": check.signature_algorithm,
            "signed_attributes": check.signed_attributes,
            "signing_time": check.signing_time.isoformat() if check.signing_time else None,
            "signing_certificate_attribute": check.signing_certificate,
        }
        if check.unsupported is not None:
            return [Cause("unsupported_algorithm", check.unsupported)], facts
        if check.certificate_der is None:
            who = (
                f"serial {check.serial_number:x}"
                if check.serial_number is not None
                else "its key identifier"
            )
            return [
                Cause(
                    "unknown_signer",
                    f"certificate ({who}) is in neither the signature nor the registry",
                )
            ], facts
        certificate = x509.load_der_x509_certificate(check.certificate_der)
        facts["certificate"] = certificate_summary(certificate, check.certificate_der)
        causes = _cryptographic_causes(check)
        at, source = (
            (check.signing_time, "signingTime")
            if check.signing_time
            else (now, "time of the check")
        )
        if check.signing_time and check.signing_time > now + CLOCK_SKEW:
            causes.append(
                Cause("signing_time_in_future", f"signingTime {at.isoformat()} is after the check")
            )
        if check.timestamp_tokens:
            stamp_causes, stamp_facts, stamped_at = await self._timestamp(check, trusted)
            causes += stamp_causes
            facts["timestamp"] = stamp_facts
            if stamped_at is not None:
                at, source = stamped_at, "signature timestamp"
        facts["time_checked"] = at.isoformat()
        facts["time_source"] = source
        causes += _validity_causes(certificate, at, "at signing")
        causes += _usage_causes(certificate)
        path = trusted.path(certificate)
        if path is None:
            causes.append(
                Cause(
                    "untrusted_chain",
                    "the certificate does not chain to this CA or a CA trusted here",
                )
            )
            return causes, facts
        facts["chain"] = [_ca_facts(ca) for ca in path]
        causes += _path_causes(path, at)
        status_causes, status_at = await self._status(
            certificate, check.certificate_der, path[0], trusted, at
        )
        causes += status_causes
        facts["status_at_signing"] = status_at
        if path[0].ours and status_at.get("status") != "unknown":
            now_facts = await self._status(
                certificate, check.certificate_der, path[0], trusted, now
            )
            facts["status_now"] = now_facts[1]
        return causes, facts

    async def _timestamp(
        self, check: SignerCheck, trusted: TrustedCAs
    ) -> tuple[list[Cause], dict[str, object], datetime | None]:
        """The first signature timestamp of the SignerInfo (server/confirmation/timestamp.py)
        and its TSA certificate's status at genTime: genTime when both hold."""
        stamp = check_timestamp(check.timestamp_tokens[0], check.signature_value, trusted)
        if stamp.time is None or stamp.certificate is None:
            return stamp.causes, stamp.facts, None
        tsa_causes, tsa_status = await self._status(
            stamp.certificate, stamp.certificate_der, stamp.path[0], trusted, stamp.time
        )
        facts = stamp.facts | {"tsa_status": tsa_status}
        if tsa_causes:
            causes = [
                Cause("bad_timestamp", f"the TSA's certificate: {cause.text}", cause.indeterminate)
                for cause in tsa_causes
            ]
            return causes, facts, None
        return [], facts, stamp.time

    async def _status(
        self,
        certificate: x509.Certificate,
        der: bytes,
        issuer: KnownCA,
        trusted: TrustedCAs,
        at: datetime,
    ) -> tuple[list[Cause], dict[str, object]]:
        """The certificate's status at `at`: from the registry for a certificate a
        generation of this CA issued, from the compromise records for this CA's own
        certificates (generations, links)."""
        serial = serial_text(certificate.serial_number)
        if not issuer.ours:
            lookup = await self._crls.status(certificate, issuer.certificate, at, self._clock())
            return lookup.causes, lookup.facts
        if issuer.generation_id is None or any(ca.der == der for ca in trusted.cas):
            own = await self._registry.ca_revocations(self._ca_name)
            revoked_at = own.get(serial)
            if revoked_at is not None and revoked_at <= at:
                text = f"this CA's certificate {serial} was revoked at {revoked_at.isoformat()}"
                revoked: dict[str, object] = {
                    "status": "revoked",
                    "revoked_at": revoked_at.isoformat(),
                }
                return [Cause("revoked_before_signing", text)], revoked | {"source": "registry"}
            return [], {"status": "good", "source": "registry"}
        record = await self._registry.get_certificate(serial)
        if record is None or record.der != der:
            text = (
                f"serial {serial} is not in this CA's registry"
                if record is None
                else f"the registry's certificate {serial} differs from this one"
            )
            return [Cause("not_in_registry", text)], {"status": "unknown", "source": "registry"}
        facts: dict[str, object] = {
            "status": "good",
            "source": "registry",
            "profile": record.profile,
        }
        change = status_at(await self._registry.status_history(serial), at)
        if change is None or change.change is StatusChangeKind.RELEASE:
            return [], facts
        if change.change is StatusChangeKind.REVOKE:
            invalidity = change.invalidity_date
            facts |= {
                "status": "revoked",
                "reason": change.reason,
                "revoked_at": change.effective_at.isoformat(),
                "invalidity_date": invalidity.isoformat() if invalidity else None,
            }
            return [
                Cause(
                    "revoked_before_signing",
                    f"revoked ({change.reason}) effective {_effective(change).isoformat()}",
                )
            ], facts
        facts |= {"status": "suspended", "suspended_at": change.effective_at.isoformat()}
        return [
            Cause("suspended_at_signing", f"suspended since {change.effective_at.isoformat()}")
        ], facts

    async def _trusted(self) -> TrustedCAs:
        """Every CA certificate this check knows, read from the registry now (a rollover or a
        compromise since the last check counts)."""
        revoked = await self._registry.ca_revocations(self._ca_name)
        cas: list[KnownCA] = []
        for generation in await self._registry.generations(self._ca_name):
            chain = generation.parent_chain
            own = known_ca(
                generation.certificate_der,
                f"this CA, generation {generation.id}",
                anchor=not chain,
                ours=True,
                generation_id=generation.id,
                revoked_at=revoked.get(generation.serial),
            )
            cas.append(own)
            parent = f"parent CA of generation {generation.id}"
            for position, der in enumerate(chain):
                cas.append(known_ca(der, parent, anchor=position == len(chain) - 1, ours=False))
        for link in await self._registry.links(self._ca_name):
            source = f"this CA, link certificate {link.serial}"
            cas.append(
                known_ca(
                    link.der, source, anchor=False, ours=True, revoked_at=revoked.get(link.serial)
                )
            )
        roots = self._registry.roots
        for root in await roots.root_cas():
            cas.append(
                known_ca(
                    root.certificate_der, f"this CA's root {root.name!r}", anchor=True, ours=True
                )
            )
        for root_link in await roots.links():
            cas.append(
                known_ca(
                    root_link.der,
                    f"this CA's root link {root_link.serial}",
                    anchor=False,
                    ours=True,
                )
            )
        for source, der in self._trusted_cas:
            cas.append(known_ca(der, f"trusted CA ({source})", anchor=True, ours=False))
        return TrustedCAs(cas)

    async def _registry_certificates(self, serials: Sequence[int | None]) -> list[bytes]:
        """The registry's certificates of these serials, so a signature made without its
        certificate (`openssl cms -nocerts`) is still checked; check_signers matches them to
        the SignerInfos by issuer and serial."""
        found = []
        for serial in serials:
            record = (
                None
                if serial is None
                else await self._registry.get_certificate(serial_text(serial))
            )
            if record is not None and record.der is not None:
                found.append(record.der)
        return found


def status_at(history: Sequence[StatusChange], at: datetime) -> StatusChange | None:
    """The change that decides a certificate's status at `at` (history in recorded order):
    a revocation effective by then, else the last hold or release effective by then."""
    deciding = None
    for change in history:
        if change.change is StatusChangeKind.ISSUE or _effective(change) > at:
            continue
        if change.change is StatusChangeKind.REVOKE:
            return change
        deciding = change
    return deciding


def _effective(change: StatusChange) -> datetime:
    """When a revocation took effect for a relying party: a key compromise from the date
    the key is known or suspected to have been compromised (RFC 5280 5.3.2)."""
    if change.reason == "keyCompromise" and change.invalidity_date is not None:
        return min(change.effective_at, change.invalidity_date)
    return change.effective_at


def _cryptographic_causes(check: SignerCheck) -> list[Cause]:
    causes = []
    if check.content_type_valid is False:
        causes.append(
            Cause(
                "content_type_mismatch",
                "the contentType attribute differs from the signed content's type",
            )
        )
    if check.message_digest_valid is False:
        causes.append(
            Cause(
                "bad_digest",
                "the document is not the one signed: its digest differs from messageDigest",
            )
        )
    if check.signature_valid is False:
        causes.append(
            Cause("bad_signature", "the signature value does not verify with the certificate's key")
        )
    if check.signing_certificate == "mismatch":
        causes.append(
            Cause(
                "signing_certificate_mismatch",
                "the signingCertificate attribute names another certificate",
            )
        )
    return causes


def _validity_causes(certificate: x509.Certificate, at: datetime, when: str) -> list[Cause]:
    if at < certificate.not_valid_before_utc:
        code = "not_yet_valid_at_signing" if when == "at signing" else "not_yet_valid"
        return [
            Cause(
                code,
                f"the certificate is valid from {certificate.not_valid_before_utc.isoformat()}",
            )
        ]
    if at > certificate.not_valid_after_utc:
        code = "expired_at_signing" if when == "at signing" else "expired"
        return [
            Cause(code, f"the certificate expired at {certificate.not_valid_after_utc.isoformat()}")
        ]
    return []


def _usage_causes(certificate: x509.Certificate) -> list[Cause]:
    """V1: the use matches the certificate (RFC 5280 4.2.1.3, 4.2.1.12)."""
    causes = []
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            causes.append(
                Cause(
                    "wrong_key_usage", "keyUsage allows neither digitalSignature nor nonRepudiation"
                )
            )
    except x509.ExtensionNotFound:
        pass
    purposes = _extended_key_usage(certificate)
    if purposes is not None and not SIGNING_PURPOSES & set(purposes):
        causes.append(
            Cause(
                "wrong_extended_key_usage",
                f"extendedKeyUsage {', '.join(purposes)} does not allow signing documents",
            )
        )
    return causes


def _path_causes(path: Sequence[KnownCA], at: datetime) -> list[Cause]:
    """RFC 5280 6.1.3/6.1.4 for the CA certificates below the anchor, at the signing time:
    valid then, a CA allowed to sign certificates, within path length limits; and none of
    this CA's own certificates revoked by a compromise by then."""
    causes = []
    for position, ca in enumerate(path):
        name = ca.certificate.subject.rfc4514_string()
        if ca.revoked_at is not None and ca.revoked_at <= at:
            causes.append(
                Cause(
                    "ca_revoked_before_signing",
                    f"CA certificate {name} ({ca.source}) revoked at {ca.revoked_at.isoformat()}",
                )
            )
        if ca.anchor:
            continue
        if not (ca.certificate.not_valid_before_utc <= at <= ca.certificate.not_valid_after_utc):
            causes.append(
                Cause(
                    "ca_not_valid_at_signing",
                    f"CA certificate {name} ({ca.source}) was not valid at {at.isoformat()}",
                )
            )
        try:
            constraints = ca.certificate.extensions.get_extension_for_class(
                x509.BasicConstraints
            ).value
        except x509.ExtensionNotFound:
            constraints = None
        below = sum(
            1 for lower in path[:position] if lower.certificate.subject != lower.certificate.issuer
        )
        if constraints is None or not constraints.ca:
            causes.append(Cause("untrusted_chain", f"{name} ({ca.source}) is not a CA certificate"))
        elif constraints.path_length is not None and below > constraints.path_length:
            causes.append(Cause("untrusted_chain", f"the path exceeds {name}'s pathLenConstraint"))
    return causes


def _extended_key_usage(certificate: x509.Certificate) -> list[str] | None:
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return [oid.dotted_string for oid in eku]


def certificate_summary(certificate: x509.Certificate, der: bytes) -> dict[str, object]:
    """The facts a report states about a certificate."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        key_usage = [name for name in _KEY_USAGE_NAMES if getattr(usage, name)]
    except x509.ExtensionNotFound:
        key_usage = None
    try:
        policies = [
            p.policy_identifier.dotted_string
            for p in certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
        ]
    except x509.ExtensionNotFound:
        policies = []
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": serial_text(certificate.serial_number),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(der).hexdigest(),
        "key_usage": key_usage,
        "extended_key_usage": _extended_key_usage(certificate),
        "policies": policies,
    }


_KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _ca_facts(ca: KnownCA) -> dict[str, object]:
    return {
        "subject": ca.certificate.subject.rfc4514_string(),
        "serial": serial_text(ca.certificate.serial_number),
        "not_before": ca.certificate.not_valid_before_utc.isoformat(),
        "not_after": ca.certificate.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(ca.der).hexdigest(),
        "source": ca.source,
    }


def _file_facts(data: bytes) -> dict[str, object]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
