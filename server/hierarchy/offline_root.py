"""A root CA in the home, above the issuing CA (issue 15, Hierarchy: `init --hierarchy
root+issuing`), whose key is used only offline.

The root's key lives in a backend of its own (`[root]`: by default encrypted files in
`root/keys` under a PIN of its own, or a token of its own), which the server never opens:
only commands do (`init`, `rollover`, `compromise`, `root crl|revoke|rollover`;
server/cli/root.py), and they can run with the server down. Between uses the key folder
and the PIN (or the token) can be taken offline; the server needs neither. `root
rollover` (server/hierarchy/root_rollover.py) adds a root with a new key that succeeds the
old one (server/hierarchy/root_succession.py): the functions here act for the root they
are given.

What the root makes is recorded in the registry (server/registry/root_store.py) with an
audit entry, and published by the server from there: its certificate at
`/ca/<root>.crt` and its newest CRL at `/crl/<root>.crl`, the URLs the issuing CA's
certificates carry (cRLDistributionPoints, AIA caIssuers; RFC 5280 4.2.1.13, 4.2.2.1).

The root signs only the issuing CA's certificates (basicConstraints cA, pathLenConstraint
0: the issuing CA certifies end entities only), its own CRLs and, at a root rollover, the
link certificates. Every signature is made by the root's backend in the command's process,
not through the server's signing pipeline, and each certificate and CRL is checked against
its issuer's key before it is recorded.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from config import Settings
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend
from hsm.backend_spec import BackendSpec
from protocols import crl as crl_codec
from protocols.x509 import csr as csr_codec
from protocols.x509 import extensions as ext
from protocols.x509 import names
from protocols.x509.certificate import (
    CertificateTemplate,
    assemble_certificate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from protocols.x509.signed_by import directly_issued_by, signed_by
from protocols.x509.spki import certificate_spki
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import ca_certificate_extensions
from server.registry import AuditEvent
from server.registry.interfaces import RootRecords
from server.registry.records import RootCA, RootCRL
from server.serials import new_serial, serial_text

AUTHORITY_KEY_IDENTIFIER = "2.5.29.35"
BASIC_CONSTRAINTS = "2.5.29.19"
NO_ROOT = "this home has no root CA (root.name is empty: it was not made by init --hierarchy)"


def root_backend_spec(settings: Settings) -> BackendSpec:
    """The root's backend: its own key folder or token, its own PIN."""
    root = settings.root
    return BackendSpec(
        kind="pkcs11" if root.backend == "pkcs11" else "soft",
        key_dir=str(settings.resolve(root.key_dir)),
        module_path=settings.hsm.module,
        token_label=root.token_label,
        secret_env=root.pin_env,
        secret_file=str(settings.resolve(root.pin_file)) if root.pin_file else "",
    )


def open_root_backend(settings: Settings) -> SigningBackend:
    """The root's backend, opened with its PIN; CAError(UNAVAILABLE) naming where the PIN
    was looked for (never the PIN) when it cannot be, as when the root is offline."""
    try:
        return root_backend_spec(settings).open()
    except HSMError as exc:
        raise CAError(ErrorKind.UNAVAILABLE, f"the root CA's key is not at hand: {exc}") from exc


def prepare_root_backend(settings: Settings) -> None:
    """What a new root key needs: for the soft backend its key folder and, with no PIN in
    the environment, a random PIN in `root.pin_file` (mode 0600), as `init` makes the CA's."""
    root = settings.root
    if root.backend != "soft":
        return
    settings.resolve(root.key_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    if root.pin_env and os.environ.get(root.pin_env):
        return
    if root.pin_file and not settings.resolve(root.pin_file).exists():
        path = settings.resolve(root.pin_file)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")


def root_crl_url(settings: Settings, name: str) -> str:
    """Where the root published as `name` publishes its CRL (RFC 5280 4.2.1.13)."""
    return f"{settings.ca.base_url.rstrip('/')}/crl/{name}.crl"


def root_certificate_url(settings: Settings, name: str) -> str:
    """Where the root published as `name` publishes its certificate (RFC 5280 4.2.2.1)."""
    return f"{settings.ca.base_url.rstrip('/')}/ca/{name}.crt"


def root_certificate_extensions(
    settings: Settings, spki_der: bytes
) -> tuple[asn1_x509.Extension, ...]:
    """The extensions of a self-signed root certificate for the key `spki_der`: what a CA
    certificate of this home carries (the Russian profile's content included when set),
    its key usage limited to certificates and CRLs."""
    return tuple(
        ext.key_usage({"key_cert_sign", "crl_sign"})
        if extension["extn_id"].native == "key_usage"
        else extension
        for extension in ca_certificate_extensions(settings, spki_der)
    )


async def create_root(
    settings: Settings, records: RootRecords, backend: SigningBackend, now: datetime, actor: str
) -> RootCA:
    """Make the root's key and self-signed certificate, and record them with the root's
    first CRL (empty) and the audit entry `ca.root.create`."""
    root_settings = settings.root
    try:
        subject = names.build_name(names.parse_dn(root_settings.subject))
    except ValueError as exc:
        raise CAError(ErrorKind.REJECTED, f"root.subject: {exc}") from exc
    algorithm = KeyAlgorithm(root_settings.algorithm or settings.ca.algorithm)
    key = backend.generate_key(f"{root_settings.name}-root", algorithm)
    spki_der = backend.public_key_der(key)
    extensions = root_certificate_extensions(settings, spki_der)
    template = CertificateTemplate(
        serial=new_serial(),
        issuer=subject,
        subject=subject,
        spki_der=spki_der,
        not_before=now,
        not_after=now + timedelta(days=root_settings.validity_days),
        extensions=extensions,
        signature_algorithm=signature_algorithm_for(spki_der),
    )
    der = sign_certificate(backend, key, template, None)
    root = RootCA(
        name=root_settings.name,
        key_id=ext.key_identifier(spki_der),
        key_uri=key.uri,
        key_algorithm=algorithm.value,
        certificate_der=der,
        not_after=template.not_after,
    )
    crl = sign_crl(settings, root, backend, 1, now, [])
    audit = AuditEvent(
        actor=actor,
        action="ca.root.create",
        target=serial_text(template.serial),
        details={"root": root.name, "algorithm": algorithm.value, "crl_number": crl.number},
    )
    await records.record_root(root, crl, audit, now)
    return root


async def certify_issuing_ca(
    settings: Settings,
    records: RootRecords,
    backend: SigningBackend,
    root: RootCA,
    spki_der: bytes,
    now: datetime,
    actor: str,
) -> bytes:
    """The root's certificate for the issuing CA's key `spki_der`, recorded with the audit
    entry `ca.root.certify`: subject `ca.subject`; the content a CA certificate of this
    home carries, with basicConstraints pathLenConstraint 0, the root's key identifier,
    and where the root publishes its CRL and certificate; valid `ca.validity_days`, never
    past the root's certificate (D10). Returns its DER."""
    try:
        subject = names.build_name(names.parse_dn(settings.ca.subject))
    except ValueError as exc:
        raise CAError(ErrorKind.REJECTED, f"ca.subject: {exc}") from exc
    if not now < root.not_after:
        raise CAError(ErrorKind.REJECTED, f"the root CA {root.name!r}'s certificate has expired")
    root_certificate = asn1_x509.Certificate.load(root.certificate_der)
    usage_days = settings.ca.key_usage_days
    own = (AUTHORITY_KEY_IDENTIFIER, BASIC_CONSTRAINTS)
    content = ca_certificate_extensions(settings, spki_der)
    extensions = [
        ext.basic_constraints(ca=True, path_len=0),
        *(extension for extension in content if extension["extn_id"].dotted not in own),
        ext.authority_key_identifier(root.key_id),
        ext.crl_distribution_points([root_crl_url(settings, root.name)]),
        ext.authority_information_access(
            ca_issuers_urls=[root_certificate_url(settings, root.name)]
        ),
    ]
    if usage_days:  # K1: the key's permitted lifetime, as `init` states it for a root CA
        extensions.append(ext.private_key_usage_period(now, now + timedelta(days=usage_days)))
    template = CertificateTemplate(
        serial=new_serial(),
        issuer=root_certificate.subject,
        subject=subject,
        spki_der=spki_der,
        not_before=now,
        not_after=min(now + timedelta(days=settings.ca.validity_days), root.not_after),
        extensions=tuple(extensions),
        signature_algorithm=signature_algorithm_for(root_certificate.public_key.dump()),
    )
    key = KeyRef(root.key_uri, KeyAlgorithm(root.key_algorithm))
    der = sign_certificate(backend, key, template, root.certificate_der)
    serial = serial_text(template.serial)
    audit = AuditEvent(
        actor=actor,
        action="ca.root.certify",
        target=serial,
        details={"root": root.name, "ca": settings.ca.name,
                 "key_sha256": csr_codec.spki_sha256(spki_der).hex()},
    )  # fmt: skip
    subject_text = names.format_dn(names.attributes_of(subject.dump()))
    await records.record_issued(root.name, serial, subject_text, template.not_after, der, audit,
                                now)  # fmt: skip
    return der


@dataclass(frozen=True)
class RootRevocation:
    serial: str
    crl: RootCRL


async def revoke(
    settings: Settings,
    records: RootRecords,
    backend: SigningBackend,
    root: RootCA,
    serial: str,
    reason: crl_codec.CRLReason,
    now: datetime,
    actor: str,
    grounds: str,
) -> RootRevocation:
    """Revoke a certificate the root signed and publish the root CRL that lists it, in one
    transaction with the audit entry `ca.root.revoke`. CAError(NOT_FOUND) for a serial the
    root did not sign, CAError(REJECTED) for one revoked already; nothing changed."""
    entry = crl_codec.revoked_entry(int(serial, 16), now, int(reason))
    crl = await next_crl(settings, records, backend, root, now, [entry])
    audit = AuditEvent(
        actor=actor,
        action="ca.root.revoke",
        target=serial,
        details={"root": root.name, "reason": reason.name, "grounds": grounds,
                 "crl_number": crl.number},
    )  # fmt: skip
    await records.record_revocation(root.name, serial, entry, crl, audit, now)
    return RootRevocation(serial, crl)


async def publish_crls(
    settings: Settings,
    records: RootRecords,
    backend: SigningBackend,
    roots: Sequence[RootCA],
    now: datetime,
    actor: str,
) -> list[RootCRL]:
    """Sign and publish the next CRL of each of `roots`, each with its own key (K3: a
    root rolled over keeps signing the CRL for what it signed), numbered in that order, in
    one transaction with an audit entry `ca.root.crl` each."""
    number = await records.last_crl_number()
    signed: list[tuple[str, RootCRL, AuditEvent]] = []
    for root in roots:
        number += 1
        entries = await records.revoked_entries(root.name)
        crl = sign_crl(settings, root, backend, number, now, entries)
        details: dict[str, object] = {"root": root.name,
                                      "next_update": crl.next_update.isoformat()}  # fmt: skip
        audit = AuditEvent(actor=actor, action="ca.root.crl", target=str(crl.number),
                           details=details)  # fmt: skip
        signed.append((root.name, crl, audit))
    await records.record_crls(signed, now)
    return [crl for _, crl, _ in signed]


async def next_crl(
    settings: Settings,
    records: RootRecords,
    backend: SigningBackend,
    root: RootCA,
    now: datetime,
    added: list[bytes],
) -> RootCRL:
    """`root`'s next CRL, numbered above every root CRL: what it revoked, and `added`."""
    number = await records.last_crl_number() + 1
    entries = [*await records.revoked_entries(root.name), *added]
    return sign_crl(settings, root, backend, number, now, entries)


def sign_crl(
    settings: Settings,
    root: RootCA,
    backend: SigningBackend,
    number: int,
    now: datetime,
    entries: list[bytes],
) -> RootCRL:
    """A full CRL of the root (RFC 5280 5.1): every certificate it revoked, numbered
    `number`, valid `root.crl_validity_days`; checked against the root's key."""
    certificate = asn1_x509.Certificate.load(root.certificate_der)
    algorithm = signature_algorithm_for(certificate.public_key.dump())
    next_update = now + timedelta(days=settings.root.crl_validity_days)
    template = crl_codec.CRLTemplate(
        issuer_name_der=certificate.subject.dump(),
        authority_key_id=root.key_id,
        crl_number=number,
        this_update=now,
        next_update=min(next_update, root.not_after),
        entries=entries,
        signature_algorithm=algorithm,
    )
    tbs = crl_codec.build_tbs_cert_list(template)
    (signature,) = backend.sign_many(KeyRef(root.key_uri, KeyAlgorithm(root.key_algorithm)), [tbs])
    der = crl_codec.assemble_crl(tbs, algorithm, signature)
    if not signed_by(der, certificate_spki(root.certificate_der)):
        raise CAError(ErrorKind.INTERNAL, "a root CRL signed does not verify")
    return RootCRL(number, template.this_update, template.next_update, der)


def sign_certificate(
    backend: SigningBackend, key: KeyRef, template: CertificateTemplate, issuer_der: bytes | None
) -> bytes:
    """Sign `template` with `key` and check it against its issuer (None: itself)."""
    tbs = build_tbs_certificate(template)
    (signature,) = backend.sign_many(key, [tbs])
    der = assemble_certificate(tbs, template.signature_algorithm, signature)
    certificate = x509.load_der_x509_certificate(der)
    issuer = x509.load_der_x509_certificate(issuer_der) if issuer_der else certificate
    if not directly_issued_by(certificate, issuer):
        raise CAError(ErrorKind.INTERNAL, "a certificate the root signed does not verify")
    return der
