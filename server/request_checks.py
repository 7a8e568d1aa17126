"""The checks a certificate request passes before anything is signed.

- proof of possession: the request's signature verifies (D8);
- the key type is one the profile allows, and has a key usage the profile grants;
- the subject holds only the profile's attributes, each once, none empty, the required
  ones present, in the profile's order; a subject given by the caller (an enrollment
  credential, a subscriber record: D2) replaces the request's;
- subjectAltName entries only of the types the profile takes;
- key usages a request (a CMP template) asks for, only among the profile's requestable ones.

Anything else is refused with CAError, never silently copied or dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509

from config import ProfileSettings
from protocols.x509 import csr as csr_codec
from protocols.x509 import extensions as ext
from protocols.x509 import names
from protocols.x509.ru_identifiers import InvalidIdentifier
from server.errors import CAError, ErrorKind


@dataclass(frozen=True)
class SubjectAltNames:
    dns: list[str]
    ips: list[str]
    emails: list[str]

    @property
    def empty(self) -> bool:
        return not (self.dns or self.ips or self.emails)


def parse_request(data: bytes) -> csr_codec.CSR:
    """A PKCS#10 request with its proof of possession checked (D8).

    Raises CAError: MALFORMED, BAD_POP."""
    try:
        return csr_codec.parse_csr(data)
    except csr_codec.BadProofOfPossession as exc:
        raise CAError(ErrorKind.BAD_POP, "the request's signature does not verify") from exc
    except csr_codec.MalformedCSR as exc:
        raise CAError(ErrorKind.MALFORMED, f"not a PKCS#10 request: {exc}") from exc


# Key usages a key type cannot have: RFC 5480 section 3 (EC: no key or data encipherment),
# RFC 8410 section 5 (Ed25519: signatures only), RFC 4055 / 3279 2.3.1 (RSA: no keyAgreement).
_PROHIBITED_USAGES = {
    "ec": {"key_encipherment", "data_encipherment"},
    "ed25519": {"key_encipherment", "data_encipherment", "key_agreement"},
    "rsa": {"key_agreement"},
}


def key_usage_for(usages: Sequence[str], key_type: str) -> set[str]:
    """The profile's key usages that the subject's key type can have."""
    family = key_type.split("-")[0]
    return set(usages) - _PROHIBITED_USAGES.get(family, set())


def with_requested_usages(
    extensions: list[asn1_x509.Extension],
    profile: ProfileSettings,
    key_type: str,
    requested: Sequence[str],
) -> list[asn1_x509.Extension]:
    """The profile's extensions with keyUsage widened by what the request asks among the
    profile's requestable_key_usages that the key type can have (RFC 9810 5.2.3: the
    template honoured where policy allows; RFC 5480 3 and RFC 4055 1.2 by key type)."""
    granted = key_usage_for(profile.key_usage, key_type)
    extra = key_usage_for(profile.requestable_key_usages, key_type) & set(requested)
    if extra <= granted:
        return extensions
    usage = ext.key_usage(granted | extra)
    return [usage if e["extn_id"].native == "key_usage" else e for e in extensions]


def check_key_algorithm(
    spki_der: bytes, profile: ProfileSettings, profile_name: str, known: str | None = None
) -> str:
    """The key's description (`ec-p256`, `rsa-3072`, ...) when the profile takes it;
    `known` is that description worked out already (CSR.key_type).

    Raises CAError(REJECTED)."""
    try:
        description = known or csr_codec.key_description(spki_der)
    except ValueError as exc:
        raise CAError(ErrorKind.REJECTED, f"unsupported public key: {exc}") from exc
    if description not in profile.key_algorithms:
        raise CAError(
            ErrorKind.REJECTED,
            f"profile {profile_name!r} does not allow {description} keys "
            f"(allowed: {', '.join(profile.key_algorithms)})",
        )
    if not key_usage_for(profile.key_usage, description):
        raise CAError(
            ErrorKind.REJECTED, f"profile {profile_name!r} has no key usage for {description} keys"
        )
    return description


def subject_attributes(
    requested: Sequence[tuple[str, str]], profile: ProfileSettings, profile_name: str
) -> list[tuple[str, str]]:
    """The subject in the profile's attribute order; refuses what the profile does not take.

    Raises CAError(REJECTED)."""
    allowed = set(profile.subject_attributes)
    seen: dict[str, str] = {}
    for attribute, value in requested:
        if attribute not in allowed:
            raise CAError(
                ErrorKind.REJECTED,
                f"profile {profile_name!r} does not allow subject attribute {attribute}",
            )
        if attribute in seen:
            raise CAError(ErrorKind.REJECTED, f"subject attribute {attribute} appears twice")
        if not value.strip():
            raise CAError(ErrorKind.REJECTED, f"subject attribute {attribute} is empty")
        seen[attribute] = value
    for attribute in profile.required_attributes:
        if attribute not in seen:
            raise CAError(
                ErrorKind.REJECTED,
                f"profile {profile_name!r} requires subject attribute {attribute}",
            )
    ordered = [(a, seen[a]) for a in profile.subject_attributes if a in seen]
    try:
        names.name_der(ordered)
    except InvalidIdentifier as exc:
        raise CAError(ErrorKind.REJECTED, str(exc)) from exc
    except ValueError as exc:
        raise CAError(ErrorKind.REJECTED, f"subject: {exc}") from exc
    return ordered


def subject_alt_names(
    request: csr_codec.CSR,
    profile: ProfileSettings,
    profile_name: str,
    subject: Sequence[tuple[str, str]],
) -> SubjectAltNames:
    """The request's subjectAltName entries as far as the profile allows them, plus any
    emailAddress of the subject: RFC 5280 4.1.2.6 wants new certificates to carry e-mail
    addresses as rfc822Name in subjectAltName.

    Raises CAError(REJECTED)."""
    san = SubjectAltNames(
        dns=list(request.dns_names), ips=list(request.ip_addresses), emails=list(request.emails)
    )
    check_alt_name_types(san, profile.san_types, profile_name)
    if "email" in profile.san_types:
        known = {email.lower() for email in san.emails}
        san.emails.extend(
            value
            for name, value in subject
            if name == "emailAddress" and value.lower() not in known
        )
    if profile.require_san and san.empty:
        raise CAError(ErrorKind.REJECTED, f"profile {profile_name!r} requires a subjectAltName")
    return san


def check_alt_name_types(san: SubjectAltNames, san_types: Sequence[str], profile_name: str) -> None:
    """Raises CAError(REJECTED) for an entry of a type the profile does not take."""
    for kind, values in (("dns", san.dns), ("ip", san.ips), ("email", san.emails)):
        if values and kind not in san_types:
            raise CAError(
                ErrorKind.REJECTED,
                f"profile {profile_name!r} does not allow {kind} subjectAltName entries",
            )
