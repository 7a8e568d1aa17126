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

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509

from protocols.cms.signed_check import NotSignedData, SignerCheck, check_signers, read_signed_data
from server.clock import Clock, utc_now
from server.confirmation.certificate_rules import (
    ca_facts,
    certificate_summary,
    cryptographic_causes,
    file_facts,
    path_causes,
    unproven_time,
    usage_causes,
    validity_causes,
)
from server.confirmation.crl_status import CRLStatus
from server.confirmation.report import Cause, ConfirmationReport
from server.confirmation.timestamp import check_timestamp
from server.confirmation.trust import KnownCA, TrustedCAs, certificates_in, known_ca
from server.registry import StatusChange, StatusChangeKind, interfaces
from server.serials import serial_text

MAX_SIGNERS = 16  # SignerInfos checked in one signature; each hashes the whole document
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
        facts: dict[str, object] = {"signature": file_facts(signature)}
        if document is not None:
            facts["document"] = file_facts(document)
        try:
            signed = read_signed_data(signature)
        except NotSignedData as exc:
            cause = Cause("not_signed_data", f"the signature file is not a CMS signature: {exc}")
            return ConfirmationReport("signature", now, (cause,), facts)
        if signed.content is None and document is None:
            cause = Cause("no_document", "the signature is detached: the signed document is needed")
            return ConfirmationReport("signature", now, (cause,), facts)
        if len(signed.signer_infos) > MAX_SIGNERS:
            text = (
                f"{len(signed.signer_infos)} SignerInfos: more than {MAX_SIGNERS} are not checked"
            )
            return ConfirmationReport("signature", now, (Cause("too_many_signers", text),), facts)
        # hashing a large document and checking signatures: off the event loop
        checks = await asyncio.to_thread(check_signers, signed, document)
        missing = [check.serial_number for check in checks if check.certificate_der is None]
        if any(serial is not None for serial in missing):
            known = await self._registry_certificates(missing)
            checks = await asyncio.to_thread(check_signers, signed, document, known)
        if document is None:
            facts["document"] = file_facts(signed.content or b"")
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
            summary = certificate_summary(parsed, der)
        except (ValueError, x509.DuplicateExtension) as exc:
            cause = Cause("not_a_certificate", f"the file is not an X.509 certificate: {exc}")
            return ConfirmationReport(
                "certificate", now, (cause,), {"file": file_facts(certificate)}
            )
        trusted = await self._trusted()
        facts: dict[str, object] = {"certificate": summary}
        issuers = [ca for ca in trusted.issuers_of(parsed) if ca.ours]
        if not issuers:
            cause = Cause(
                "not_issued_by_this_ca", "no certificate of this CA, of any generation, signed it"
            )
            return ConfirmationReport("certificate", now, (cause,), facts)
        issuer = issuers[0]
        facts["issued_by"] = ca_facts(issuer)
        causes = validity_causes(parsed, now, "now")
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
        if check.unsupported is not None:  # not known to fail: not known to hold either
            return [Cause("unsupported_algorithm", check.unsupported, indeterminate=True)], facts
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
        try:
            certificate = x509.load_der_x509_certificate(check.certificate_der)
            facts["certificate"] = certificate_summary(certificate, check.certificate_der)
        except (ValueError, x509.DuplicateExtension) as exc:
            return [
                Cause("bad_certificate", f"the signer's certificate does not parse: {exc}")
            ], facts
        causes = cryptographic_causes(check)
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
        invalid_then = validity_causes(certificate, at, "at signing")
        causes += invalid_then
        causes += usage_causes(certificate)
        path = trusted.path(certificate)
        if path is None:
            causes.append(
                Cause(
                    "untrusted_chain",
                    "the certificate does not chain to this CA or a CA trusted here",
                )
            )
            return causes, facts
        facts["chain"] = [ca_facts(ca) for ca in path]
        causes += path_causes(path, at)
        status_causes, status_at = await self._status(
            certificate, check.certificate_der, path[0], trusted, at
        )
        causes += status_causes
        facts["status_at_signing"] = status_at
        status_now: dict[str, object] = {}
        if path[0].ours and status_at.get("status") != "unknown":
            status_now = (
                await self._status(certificate, check.certificate_der, path[0], trusted, now)
            )[1]
            facts["status_now"] = status_now
        if source == "signingTime" and not invalid_then and status_at.get("status") == "good":
            causes += unproven_time(certificate, now, status_at, status_now)
        return causes, facts

    async def _timestamp(
        self, check: SignerCheck, trusted: TrustedCAs
    ) -> tuple[list[Cause], dict[str, object], datetime | None]:
        """The first signature timestamp of the SignerInfo (server/confirmation/timestamp.py)
        and its TSA certificate's status at genTime: genTime when both hold."""
        stamp = check_timestamp(check.timestamp_tokens[0], check.signature_value, trusted)
        if stamp.time is None or stamp.certificate is None:
            return stamp.causes, stamp.facts, None
        chain_causes = path_causes(stamp.path, stamp.time)
        if chain_causes:
            causes = [Cause("bad_timestamp", f"the TSA's chain: {c.text}") for c in chain_causes]
            return causes, stamp.facts, None
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
        own = next((ca for ca in trusted.cas if ca.ours and ca.der == der), None)
        if own is not None:  # a generation's or link certificate: revoked only by a compromise
            if own.revoked_at is not None and own.revoked_at <= at:
                text = f"this CA's certificate {serial} was revoked at {own.revoked_at.isoformat()}"
                revoked: dict[str, object] = {"status": "revoked", "source": "registry"}
                revoked["revoked_at"] = own.revoked_at.isoformat()
                return [Cause("revoked_before_signing", text)], revoked
            return [], {"status": "good", "source": "registry"}
        if issuer.generation_id is None:
            text = f"{issuer.source} certifies CA certificates only, and {serial} is none of them"
            return [Cause("not_in_registry", text)], {"status": "unknown", "source": "registry"}
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
        for source, der in self._trusted_cas:  # a self-signed one is an anchor; any other is
            certificate = x509.load_der_x509_certificate(der)  # checked as a path's CA
            anchor = certificate.subject == certificate.issuer
            cas.append(known_ca(der, f"trusted CA ({source})", anchor=anchor, ours=False))
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
    """When a revocation took effect for a relying party: from its invalidity date when it
    has one, the date the key is known or suspected to have been compromised "or that the
    certificate otherwise became invalid" (RFC 5280 5.3.2), whatever the reason."""
    if change.invalidity_date is not None:
        return min(change.effective_at, change.invalidity_date)
    return change.effective_at
