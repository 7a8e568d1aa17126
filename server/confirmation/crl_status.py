"""The status of another CA's certificate from that CA's CRL (RFC 5280 sections 5, 6.3),
fetched from the certificate's cRLDistributionPoints over HTTP.

Only what the CRL proves is taken from it: it must name the issuer, verify with the issuer's
key (GOST included, protocols.x509.signed_by) and be current (nextUpdate not passed). A
revocation listed with a revocationDate (or, for a key compromise, an invalidityDate) at or
before the signing time makes the signature invalid; a current CRL without the serial makes
the certificate good; no CRL that passes those checks leaves the status unknown, and the
verdict "indeterminate". Every fetch is bounded in time and size: the URLs come from a
certificate someone else made.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPException

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols.x509.signed_by import signed_by
from protocols.x509.spki import certificate_spki
from server.confirmation.certificate_rules import extension
from server.confirmation.report import Cause

FETCH_SECONDS = 10.0
MAX_CRL_BYTES = 16 * 1024 * 1024
MAX_URLS = 3


@dataclass(frozen=True)
class CRLLookup:
    causes: list[Cause]
    facts: dict[str, object]


class CRLStatus:
    def __init__(
        self, fetch_seconds: float = FETCH_SECONDS, max_bytes: int = MAX_CRL_BYTES
    ) -> None:
        self._fetch_seconds = fetch_seconds
        self._max_bytes = max_bytes

    async def status(
        self, certificate: x509.Certificate, issuer: x509.Certificate, at: datetime, now: datetime
    ) -> CRLLookup:
        """`certificate`'s status at `at` from a current CRL of `issuer`."""
        urls = distribution_urls(certificate)[:MAX_URLS]
        if not urls:
            return _unknown("the certificate names no HTTP CRL distribution point", None)
        problems = []
        for url in urls:
            try:
                crl_der = await self._fetch(url)
                crl = x509.load_der_x509_crl(crl_der)
                problem = _unusable(crl, crl_der, issuer, certificate, url, now)
                if problem is None:
                    return _from_crl(crl, certificate, at, url, now)
            except (OSError, ValueError, HTTPException, x509.DuplicateExtension) as exc:
                problem = str(exc) or type(exc).__name__  # URLError is an OSError
            problems.append(f"{url}: {problem}")
        return _unknown("no usable CRL: " + "; ".join(problems), urls[0])

    async def _fetch(self, url: str) -> bytes:
        return await asyncio.to_thread(_download, url, self._fetch_seconds, self._max_bytes)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx then fails as an HTTP error: the URL is the certificate's


_OPENER = urllib.request.build_opener(_NoRedirects)


def _download(url: str, seconds: float, max_bytes: int) -> bytes:
    """GET `url` in this thread: each read waits `seconds` at most, the whole transfer ends
    by then too (a server sending a byte at a time is cut off), `max_bytes` at most."""
    deadline = time.monotonic() + seconds
    body = bytearray()
    with _OPENER.open(url, timeout=seconds) as response:
        while chunk := response.read(65536):
            body += chunk
            if len(body) > max_bytes:
                raise ValueError(f"larger than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"not received within {seconds:g} s")
    return bytes(body)


def distribution_urls(certificate: x509.Certificate) -> list[str]:
    """The http(s) URIs of the certificate's cRLDistributionPoints (RFC 5280 4.2.1.13)."""
    return [
        name.value
        for point in extension(certificate.extensions, x509.CRLDistributionPoints) or ()
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
        and name.value.startswith(("http://", "https://"))
    ]


def _unusable(
    crl: x509.CertificateRevocationList,
    crl_der: bytes,
    issuer: x509.Certificate,
    certificate: x509.Certificate,
    url: str,
    now: datetime,
) -> str | None:
    """Why this CRL cannot tell `certificate`'s status (RFC 5280 6.3.3), or None: only a
    complete, current CRL of the issuer for end-entity certificates of every reason,
    signed by a key allowed to sign CRLs, with no critical extension unknown here."""
    if crl.issuer != issuer.subject:
        return "issued by another name than the certificate's issuer"
    usage = extension(issuer.extensions, x509.KeyUsage)
    if usage is not None and not usage.crl_sign:
        return "the issuer's keyUsage lacks cRLSign (RFC 5280 6.3.3 (f))"
    if not signed_by(crl_der, certificate_spki(issuer.public_bytes(Encoding.DER))):
        return "its signature does not verify with the issuer's key"
    if crl.next_update_utc is None or crl.next_update_utc < now:
        return "not current (nextUpdate passed)"
    for present in crl.extensions:
        if isinstance(present.value, x509.DeltaCRLIndicator):
            return "a delta CRL, not a complete one"
        if present.critical and isinstance(present.value, x509.UnrecognizedExtension):
            return f"a critical extension {present.oid.dotted_string} unknown here"
    point = extension(crl.extensions, x509.IssuingDistributionPoint)
    if point is None:
        return None
    if (point.only_some_reasons or point.indirect_crl or point.only_contains_attribute_certs
            or point.only_contains_ca_certs):  # fmt: skip
        return "a CRL of part of the issuer's certificates or reasons (RFC 5280 5.2.5)"
    uris = [
        name.value
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]
    if point.full_name and url not in uris:
        return "its issuingDistributionPoint names another point (RFC 5280 6.3.3 (b)(2)(i))"
    return None


def _from_crl(
    crl: x509.CertificateRevocationList,
    certificate: x509.Certificate,
    at: datetime,
    url: str,
    now: datetime,
) -> CRLLookup:
    facts: dict[str, object] = {
        "source": f"CRL {url}",
        "crl_this_update": crl.last_update_utc.isoformat(),
    }
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is None:
        if certificate.not_valid_after_utc < now and not _keeps_expired(crl):
            # RFC 5280 3.3: a CA may drop an expired certificate's entry
            return _unknown("the certificate has expired and the CRL need not list it", url)
        return CRLLookup([], {"status": "good", **facts})
    reason = _entry_reason(entry)
    effective = entry.revocation_date_utc
    invalid_from = extension(entry.extensions, x509.InvalidityDate)
    if invalid_from is not None:  # RFC 5280 5.3.2, whatever the reason
        effective = min(effective, invalid_from.invalidity_date_utc)
    if reason is x509.ReasonFlags.certificate_hold:
        facts |= {"status": "suspended", "suspended_at": effective.isoformat()}
        cause = Cause("suspended_at_signing", f"suspended since {effective.isoformat()} ({url})")
    else:
        facts |= {"status": "revoked", "reason": reason.value, "revoked_at": effective.isoformat()}
        text = f"revoked ({reason.value}) effective {effective.isoformat()} ({url})"
        cause = Cause("revoked_before_signing", text)
    if effective > at:
        return CRLLookup([], {**facts, "status": "good", "later": facts["status"]})
    return CRLLookup([cause], facts)


def _keeps_expired(crl: x509.CertificateRevocationList) -> bool:
    """ExpiredCertsOnCRL (X.509 (2019) 7.2.2, 2.5.29.60): the CA keeps expired entries."""
    return any(present.oid.dotted_string == "2.5.29.60" for present in crl.extensions)


def _entry_reason(entry: x509.RevokedCertificate) -> x509.ReasonFlags:
    reason = extension(entry.extensions, x509.CRLReason)
    return x509.ReasonFlags.unspecified if reason is None else reason.reason


def _unknown(text: str, url: str | None) -> CRLLookup:
    cause = Cause(
        "status_unknown",
        f"the status of another CA's certificate is unknown: {text}",
        indeterminate=True,
    )
    return CRLLookup([cause], {"status": "unknown", "source": f"CRL {url}" if url else "none"})
