"""Enrollment with a one-time credential, shared by EST (Basic auth) and CMP (MAC).

The credential names the profile and the subject (D2); the request brings the key (with
its proof of possession, D8) and, as the profile allows, subjectAltName entries. A request
whose subject names anything other than the credential's subject is refused; an empty
request subject takes the credential's."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from config import Settings
from protocols.x509 import csr as csr_codec
from protocols.x509 import extensions as x509_extensions
from protocols.x509 import names
from server.authority import Authority, IssuedCertificate
from server.enrollment.credentials import (
    REFUSAL,
    EnrollmentCredential,
    EnrollmentCredentials,
    check_requested_names,
)
from server.enrollment.key_packages import encrypted_key_package
from server.enrollment.new_keys import new_key
from server.errors import CAError, ErrorKind
from server.node.tls import ServerIdentity
from server.ra import registered_issuance
from server.ra.applications import Applications
from server.registry import (
    NO_HOLDS,
    CertificateStatus,
    CMPDelivery,
    HoldRefused,
    IntentHolds,
    interfaces,
)
from server.request_checks import parse_request


class Enrollment:
    def __init__(
        self,
        settings: Settings,
        credentials: EnrollmentCredentials,
        authority: Authority,
        applications: Applications,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._authority = authority
        self._applications = applications

    async def enroll(
        self,
        credential_id: str,
        secret: str,
        csr_data: bytes | csr_codec.CSR,
        actor: str,
        profile: str | None = None,
        can_wait: bool = True,
    ) -> IssuedCertificate:
        """Issue one certificate against the credential, which is then spent (`csr_data`:
        a PKCS#10 request, or one parsed already with its signature checked). With
        `profile`, the credential must be for that profile (an EST label's, a CMP path's).
        A profile that requires approval makes the request an application (server/ra/
        applications.py); `can_wait` False refuses that instead.

        Raises CAError: UNAUTHORIZED (credential), FORBIDDEN (a credential for a profile
        with personal identifiers not bound to an approved application), MALFORMED /
        BAD_POP (request), REJECTED (another profile, a subject the credential does not
        allow, profile rules), PENDING (awaiting approval), DUPLICATE, BUSY, UNAVAILABLE.
        On any failure the credential can be used again (but for an application, which
        holds it). The credential is spent in the transaction that records the
        certificate."""
        credential = await self._credentials.verify(credential_id, secret)
        return await self.enroll_with(credential, csr_data, actor, profile, can_wait)

    def waits_for_approval(self, credential: EnrollmentCredential) -> bool:
        """Whether a request with `credential` becomes an application rather than a
        certificate: its profile requires approval and it is not an approved application's
        own credential."""
        profile = self._settings.profiles.get(credential.profile)
        approved = credential.application_id is not None
        return profile is not None and profile.requires_approval and not approved

    async def enroll_with(
        self,
        credential: EnrollmentCredential,
        request: bytes | csr_codec.CSR,
        actor: str,
        profile: str | None = None,
        can_wait: bool = True,
        kept: tuple[bytes, str] | None = None,
        delivery: CMPDelivery | None = None,
    ) -> IssuedCertificate:
        """`enroll` for a credential the caller has verified itself (CMP: by its MAC), with
        a PKCS#10 request or a request already parsed with its proof of possession checked
        (CRMF). A request that waits for approval is kept as `kept` (DER and format, see
        Applications.enroll); a PKCS#10 request is kept as it is. A certificate issued now
        goes out in the CMP transaction `delivery`, recorded with it."""
        if profile is not None and credential.profile != profile:
            raise CAError(
                ErrorKind.REJECTED,
                f"this credential is for profile {credential.profile!r}, not {profile!r}",
            )
        registered_issuance.check_enrollment(
            credential.profile, self._settings.profile(credential.profile),
            credential.application_id,
        )  # fmt: skip
        parsed = _parsed(request)  # once: the names are checked, then the same is issued
        check_requested_names(credential, parsed)
        if self.waits_for_approval(credential):
            if not can_wait:
                raise CAError(
                    ErrorKind.REJECTED,
                    f"profile {credential.profile!r} requires approval, and a key the CA "
                    "makes is never kept while a request waits (D5)",
                )
            if kept is None:  # a PKCS#10 request, as received or as parsed (EST)
                kept = (request if isinstance(request, bytes) else request.der, "pkcs10")
            return await self._applications.enroll(credential, *kept, parsed, actor)
        if credential.spent:  # refused before issuance's own rules; the hold decides races
            raise CAError(ErrorKind.UNAUTHORIZED, REFUSAL)
        holds = IntentHolds(credential_id=credential.id, cmp=delivery)
        try:
            return await self._authority.issue(
                credential.profile, parsed, actor, credential.subject, credential.subscriber_id,
                holds, credential.application_id,
            )  # fmt: skip
        except HoldRefused:  # expired, used, or held by another enrollment
            raise CAError(ErrorKind.UNAUTHORIZED, REFUSAL) from None


class HolderEnrollment:
    """Enrollment authenticated by a valid certificate of this CA: EST simplereenroll
    (RFC 7030 4.2.2: the same subject and subjectAltName, the same profile), and
    simpleenroll on labels that accept client certificates."""

    def __init__(self, registry: interfaces.Certificates, authority: Authority) -> None:
        self._registry = registry
        self._authority = authority

    async def reenroll(
        self,
        current_der: bytes,
        csr_data: bytes | csr_codec.CSR,
        actor: str,
        delivery: CMPDelivery | None = None,
    ) -> IssuedCertificate:
        """A certificate for `csr_data` with the current one's subject and subjectAltName,
        going out in the CMP transaction `delivery` if given (recorded with it).

        Raises CAError: UNAUTHORIZED (not a certificate of ours), ALREADY_REVOKED /
        REJECTED (revoked or suspended), FORBIDDEN (a profile with personal identifiers:
        each certificate has its own application), REJECTED (subject or subjectAltName
        changed, or the same key again: a key is certified once, S13), and what issuance
        raises."""
        current, profile = await self.holder(current_der, "renew")
        self._no_application(profile)
        request = _parsed(csr_data)
        subject = names.attributes_of(current.subject)
        if list(request.subject) != subject:
            raise CAError(ErrorKind.REJECTED, "the subject must be the current certificate's")
        if _san_of(current) != (
            set(request.dns_names),
            set(request.ip_addresses),
            set(request.emails),
        ):
            raise CAError(
                ErrorKind.REJECTED, "the subjectAltName must be the current certificate's"
            )
        return await self._authority.issue(
            profile, csr_data, actor, subject=subject, holds=_delivered_in(delivery)
        )

    async def enroll_as_holder(
        self,
        current_der: bytes,
        csr_data: bytes | csr_codec.CSR,
        actor: str,
        profile: str,
        delivery: CMPDelivery | None = None,
    ) -> IssuedCertificate:
        """EST simpleenroll authenticated by a TLS client certificate of this CA, where the
        label allows it (RFC 7030 3.3.2): a certificate of another profile for the same
        subject (D2: the subject is the one the CA already verified). The request's subject
        must be empty or that subject; its subjectAltName follows the profile.

        Raises what `reenroll` raises, but for the subjectAltName rule."""
        current, _ = await self.holder(current_der, "enroll")
        self._no_application(profile)
        subject = names.attributes_of(current.subject)
        requested = list(_parsed(csr_data).subject)
        if requested and requested != subject:
            raise CAError(ErrorKind.REJECTED, "the subject must be the client certificate's")
        return await self._authority.issue(
            profile, csr_data, actor, subject=subject, holds=_delivered_in(delivery)
        )

    async def enroll_for_ra(
        self,
        ra_der: bytes,
        csr_data: bytes | csr_codec.CSR,
        actor: str,
        profile: str,
        delivery: CMPDelivery | None = None,
    ) -> IssuedCertificate:
        """CMP replaced protection (RFC 9483 5.2.3.1): a trusted RA, authenticated by its
        certificate `ra_der`, asks for an end entity. The request's own subject and
        subjectAltName, as `profile`'s rules accept them: the operator who lists the RA
        (cmp.ras) trusts it with the subjects that profile allows.

        Raises what `enroll_as_holder` raises."""
        await self.holder(ra_der, "ask for an end entity")
        self._no_application(profile)
        return await self._authority.issue(profile, csr_data, actor, holds=_delivered_in(delivery))

    def _no_application(self, profile: str) -> None:
        """A certificate by the holder's current one has no application of its own: refused
        up front for a profile that needs one (P2; server/ra/registered_issuance.py)."""
        registered_issuance.check_issuance(profile, self._authority.profile(profile), None, None)

    async def holder(self, current_der: bytes, what: str) -> tuple[x509.Certificate, str]:
        """The client certificate, if it is ours and good; and its profile."""
        current = x509.load_der_x509_certificate(current_der)
        record = await self._registry.get_certificate(format(current.serial_number, "x"))
        if record is None or record.der != current_der:
            raise CAError(ErrorKind.UNAUTHORIZED, "the client certificate is not one of ours")
        if record.status is CertificateStatus.REVOKED:
            raise CAError(ErrorKind.ALREADY_REVOKED, f"a revoked certificate cannot {what}")
        if record.status is CertificateStatus.HOLD:
            raise CAError(ErrorKind.REJECTED, f"a suspended certificate cannot {what}")
        return current, record.profile


@dataclass(frozen=True)
class GeneratedKey:
    """The new private key as it leaves the CA: PKCS#8 (protected by TLS only), or the
    encrypted key package of server/enrollment/key_packages.py."""

    der: bytes
    encrypted: bool


class ServerKeyGeneration:
    """EST serverkeygen (RFC 7030 4.4, S4, U6): the CA makes the key pair. The private key
    is returned to the caller once and is never written to the registry or a log (D5).

    When the request carries an AsymmetricDecryptKeyIdentifier (4.4.1.2), the key is
    encrypted to the client's TLS client certificate of this CA with that
    subjectKeyIdentifier, and signed by this server (4.4.2); without such a certificate, or
    for a DecryptKeyIdentifier (4.4.1.1: no symmetric keys are shared with clients here),
    the request is refused before any key is made: never the key in clear instead."""

    def __init__(self, enrollment: Enrollment, holders: HolderEnrollment) -> None:
        self._enrollment = enrollment
        self._holders = holders

    async def generate(
        self,
        credential_id: str,
        secret: str,
        csr_data: bytes | csr_codec.CSR,
        actor: str,
        profile: str,
        client_certificate: bytes | None = None,
        package_signer: ServerIdentity | None = None,
    ) -> tuple[GeneratedKey, IssuedCertificate]:
        """(the new private key, the certificate). The client's request gives the key type
        (RFC 7030 4.4.1) and subjectAltName entries; the subject comes from the credential.
        Raises what `Enrollment.enroll` raises, and REJECTED / UNAUTHORIZED when the key
        cannot be encrypted as asked."""
        request = _parsed(csr_data)
        if request.decrypt_key_identifier is not None:
            raise CAError(
                ErrorKind.REJECTED,
                "no symmetric key is shared with clients here (RFC 7030 4.4.1.1): ask for "
                "the key encrypted to your certificate (AsymmetricDecryptKeyIdentifier)",
            )
        recipient = None
        if request.asymmetric_decrypt_key_identifier is not None:
            recipient = await self._recipient(
                request.asymmetric_decrypt_key_identifier, client_certificate, package_signer
            )
        key = new_key(csr_codec.key_description(request.spki_der))
        extensions = []
        if request.dns_names or request.ip_addresses or request.emails:
            extensions.append(
                x509_extensions.subject_alt_name(
                    request.dns_names, request.ip_addresses, request.emails
                )
            )
        own_request = key.certification_request(extensions)
        issued = await self._enrollment.enroll(
            credential_id, secret, own_request, actor, profile, can_wait=False
        )
        pkcs8 = key.pkcs8_der()
        if recipient is None:
            return GeneratedKey(pkcs8, encrypted=False), issued
        certificate, key_identifier, signer = recipient
        package = encrypted_key_package(pkcs8, signer, certificate, key_identifier)
        return GeneratedKey(package, encrypted=True), issued

    async def _recipient(
        self,
        key_identifier: bytes,
        client_certificate: bytes | None,
        package_signer: ServerIdentity | None,
    ) -> tuple[bytes, bytes, ServerIdentity]:
        """The certificate to encrypt to: the TLS client certificate, good and of this CA,
        whose subjectKeyIdentifier the request names."""
        if package_signer is None:
            raise CAError(ErrorKind.UNAVAILABLE, "this server cannot sign key packages")
        if client_certificate is None:
            raise CAError(
                ErrorKind.REJECTED,
                "an encrypted key needs the certificate it is encrypted to as the TLS "
                "client certificate (RFC 7030 4.4.1.2)",
            )
        certificate, _ = await self._holders.holder(client_certificate, "receive a key")
        try:
            ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            ski = None
        if ski is None or ski.value.digest != key_identifier:
            raise CAError(
                ErrorKind.REJECTED,
                "the AsymmetricDecryptKeyIdentifier is not the client certificate's "
                "subjectKeyIdentifier",
            )
        try:
            key: object = certificate.public_key()
        except UnsupportedAlgorithm:  # a GOST key: no key package is made for one here
            key = None
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise CAError(ErrorKind.REJECTED, "a key can be encrypted to RSA or EC keys only")
        return client_certificate, key_identifier, package_signer


def _delivered_in(delivery: CMPDelivery | None) -> IntentHolds:
    return NO_HOLDS if delivery is None else IntentHolds(cmp=delivery)


def _parsed(request: bytes | csr_codec.CSR) -> csr_codec.CSR:
    return request if isinstance(request, csr_codec.CSR) else parse_request(request)


def _san_of(certificate: x509.Certificate) -> tuple[set[str], set[str], set[str]]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set(), set()
    return (
        set(san.get_values_for_type(x509.DNSName)),
        {str(a) for a in san.get_values_for_type(x509.IPAddress)},
        set(san.get_values_for_type(x509.RFC822Name)),
    )
