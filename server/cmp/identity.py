"""The CMP server's own certificate: its CMP protection certificate (RFC 9483 3.2, 3.3), also
its KGA certificate (4.1.6) and the originator of key-agreement key packages (4.1.6.2).

Theory of operation:
- `issue_cmp_identity` makes a P-256 key and has the CA certify it, like the OCSP responder
  (server/generations/): a certificate of profile `cmp-server`, subject the CA's C and O with
  CN "<CA CN> CMP Server", valid `cmp.protection_validity_days` (never past the CA
  certificate), recorded in the registry like any certificate (listed by `list --profile
  cmp-server`, answered by OCSP, revocable).
- The key is a software key in a file, `<home>/cmp-keys/<serial>.key`, encrypted PKCS#8 under
  the CA home's secret, mode 0600, like the TLS key: it must do ECDH for 4.1.6.2 (static-
  static, RFC 6278), which the signing pipeline does not offer; it signs in this process
  like the TLS key did. The file is written before the certificate is recorded, so a
  recorded certificate never lacks its key (a file left by a failed issuance is removed).
- `CMPIdentities.current()` is the newest good, unexpired `cmp-server` certificate of the
  active CA generation whose key file is here, with its chain (that certificate, then the
  CA certificate: RFC 9483 3.3, the order of extraCerts). Each process keeps it for
  `RELOAD_EVERY_S` and then reads the registry again, so it takes up a renewal made by the
  process holding the duties.
- `CMPIdentities.run()` (the duty holder, server/context.py) issues one when there is none
  (a home made before this existed: at first start) and a new one
  `cmp.protection_renew_before_days` before the current one ends, checking every
  `CHECK_EVERY_S`; `init` issues the first. A renewal removes the key files of expired
  CMP protection certificates, so that `<home>/cmp-keys` holds a few keys, not one per
  renewal ever made.

Extended key usages (RFC 9810 4.5, which RFC 9480 2.2 added to RFC 4210):
- id-kp-cmcCA (RFC 6402 2.10): this is the CMP protection certificate of a CA, not of an RA.
  id-kp-cmcRA is not given: this server is the CA itself, and an EE or RA that checks for
  cmcRA (RFC 9483 5: an RA's protection certificate) must not take it for an RA.
- id-kp-cmKGA (RFC 9480 2.10, RFC 9483 4.1.6): the key packages of central key generation
  are signed by it, and a client checks that their signer is authorised to generate keys.
keyUsage: digitalSignature (protection, key packages) and keyAgreement (RFC 9483 4.1.6.2:
the originator's key agrees).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from config import Settings
from hsm.backend import HSMError
from protocols.x509 import extensions as ext
from protocols.x509 import names
from server.authority import Authority
from server.clock import Clock
from server.node.periodic import every
from server.node.tls import ServerIdentity
from server.registry import CAGeneration, CertificateStatus, interfaces
from server.serials import new_serial, serial_text

log = logging.getLogger(__name__)

CMP_SERVER_PROFILE = "cmp-server"
ID_KP_CMC_CA = "1.3.6.1.5.5.7.3.27"  # RFC 6402 2.10
ID_KP_CMC_RA = "1.3.6.1.5.5.7.3.28"  # RFC 6402 2.10 (an RA's; not ours)
ID_KP_CM_KGA = "1.3.6.1.5.5.7.3.32"  # RFC 9480 2.10
KEY_FOLDER = "cmp-keys"  # in the CA home
RELOAD_EVERY_S = 60.0  # how long a process keeps the identity before reading it again
CHECK_EVERY_S = 300.0  # how often the duty holder looks for a renewal due
_LISTED = 1000  # cmp-server certificates read at once (one per renewal)


def key_path(settings: Settings, serial: str) -> Path:
    """Where the key of the CMP protection certificate `serial` is kept."""
    return settings.resolve(KEY_FOLDER) / f"{serial}.key"


async def issue_cmp_identity(
    settings: Settings,
    authority: Authority,
    generation: CAGeneration,
    now: datetime,
    secret: str,
    actor: str,
) -> str:
    """Make the CMP server's key and certificate (see the module). Returns the serial."""
    key = ec.generate_private_key(ec.SECP256R1())
    spki_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ca_subject = names.attributes_of(
        asn1_x509.Certificate.load(generation.certificate_der).subject.dump()
    )
    common_name = dict(ca_subject).get("CN", settings.ca.name)
    subject = [(a, v) for a, v in ca_subject if a in ("C", "O")]
    subject.append(("CN", f"{common_name} CMP Server"))
    validity = timedelta(days=settings.cmp.protection_validity_days)
    serial = new_serial()
    path = key_path(settings, serial_text(serial))
    _write_key(path, key, secret)
    try:
        issued = await authority.sign_and_record(
            serial=serial,
            generation=generation,
            profile_name=CMP_SERVER_PROFILE,
            subject=subject,
            spki_der=spki_der,
            not_before=now,
            not_after=min(now + validity, generation.not_after),
            extensions=[
                ext.basic_constraints(ca=False),
                # RFC 9483 3.2 (signature protection), 4.1.6 (the key package's signature),
                # 4.1.6.2 (the originator's key agrees).
                ext.key_usage({"digital_signature", "key_agreement"}),
                # RFC 9810 4.5: a CA's CMP protection certificate (cmcCA) and a KGA's
                # (cmKGA, RFC 9483 4.1.6); see the module for why not cmcRA.
                ext.extended_key_usage([ID_KP_CMC_CA, ID_KP_CM_KGA]),
                ext.subject_key_identifier(spki_der),
                ext.authority_key_identifier(generation.key_id),
            ],
            actor=actor,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return issued.serial


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, secret: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret.encode("utf-8")),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@dataclass(frozen=True)
class _Held:
    identity: ServerIdentity | None
    not_after: datetime | None
    read_at: datetime


class CMPIdentityRegistry(interfaces.Generations, interfaces.Search, Protocol):
    """The registry as CMP identities use it."""


class CMPIdentities:
    """The current CMP protection identity of this CA, and (duty holder) its renewal."""

    def __init__(
        self,
        settings: Settings,
        registry: CMPIdentityRegistry,
        authority: Authority,
        clock: Clock,
        secret: Callable[[], str],
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._authority = authority
        self._clock = clock
        self._secret = secret
        self._held: _Held | None = None
        self._failing = False  # the last round of `check` failed (and was logged)

    async def current(self) -> ServerIdentity | None:
        """The identity CMP answers are signed with; None when there is none yet. Never
        raises: when the registry cannot be read, the one held goes on while it is valid."""
        now = self._clock()
        held = self._held
        if (
            held is None
            or held.identity is None
            or (now - held.read_at).total_seconds() >= RELOAD_EVERY_S
            or (held.not_after is not None and held.not_after <= now)
        ):
            try:
                held = self._held = await self._read(now)
            except Exception as exc:  # the registry's driver; logged, answered systemUnavail
                log.warning("CMP protection certificate not read: %s", type(exc).__name__)
                if held is None or held.not_after is None or held.not_after <= now:
                    return None
        return held.identity

    async def _read(self, now: datetime) -> _Held:
        generation = await self._registry.active_generation(self._settings.ca.name)
        if generation is None:
            return _Held(None, None, now)
        records = await self._registry.search.certificates(
            CertificateStatus.GOOD, CMP_SERVER_PROFILE, None, _LISTED, None
        )
        for record in reversed(records):  # the newest first
            if record.generation_id != generation.id or record.not_after <= now:
                continue
            if record.der is None:
                continue
            # RFC 9483 3.3: leaf, then chain (a parent CA outside's above this CA's own)
            chain = [record.der, generation.certificate_der, *generation.parent_chain]
            held = self._held
            if held is not None and held.identity is not None and held.identity.chain == chain:
                return _Held(held.identity, record.not_after, now)  # the key is read once
            path = key_path(self._settings, record.serial)
            if not path.exists():  # made by another node, or its key was removed
                continue
            try:
                key = await asyncio.to_thread(_read_key, path, self._secret())
            except (HSMError, OSError, ValueError, TypeError) as exc:  # logged, never the secret
                log.warning("CMP protection key %s cannot be read: %s", path, exc)
                continue
            return _Held(ServerIdentity(chain=chain, private_key=key), record.not_after, now)
        return _Held(None, None, now)

    async def renew_if_due(self) -> str | None:
        """Issue a new identity when there is none or the current one ends within
        `cmp.protection_renew_before_days`; the new serial, or None when none was due."""
        now = self._clock()
        self._held = await self._read(now)
        before = now + timedelta(days=self._settings.cmp.protection_renew_before_days)
        held = self._held
        if held.identity is not None and held.not_after is not None and held.not_after > before:
            return None
        generation = await self._authority.generation()
        serial = await issue_cmp_identity(
            self._settings, self._authority, generation, now, self._secret(), "ca:cmp-renewal"
        )
        log.info("CMP protection certificate %s issued", serial)
        self._held = await self._read(now)
        await self._remove_expired_keys(now)
        return serial

    async def _remove_expired_keys(self, now: datetime) -> None:
        """At a renewal, the key files of expired CMP protection certificates go: nothing
        signs or agrees with them again (`current` skips them), and one file a renewal
        would otherwise pile up in `<home>/cmp-keys` for ever. A revoked one may still be
        released from hold, so only expiry counts."""
        records = await self._registry.search.certificates(
            None, CMP_SERVER_PROFILE, None, _LISTED, None
        )
        for record in records:
            if record.not_after > now:
                continue
            path = key_path(self._settings, record.serial)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("key of the expired CMP protection certificate not removed: %s", exc)

    async def run(self) -> None:
        """The duty holder's loop: `check` now and every CHECK_EVERY_S (a failed check is
        logged and tried again). It ends only when the duty holder cancels it
        (server/context.py starts it again with the duties)."""
        await every(CHECK_EVERY_S, self.check, log, "CMP protection certificate upkeep failed")

    async def check(self) -> None:
        """One round of `run`: `renew_if_due`, never raising. A failure is logged once, with
        its traceback, not at every round while it lasts; the round that succeeds again
        says so."""
        try:
            await self.renew_if_due()
        except Exception:
            if not self._failing:
                log.exception("CMP protection certificate renewal failed")
                self._failing = True
            return
        if self._failing:
            log.info("CMP protection certificate renewal works again")
            self._failing = False


def _read_key(path: Path, secret: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), secret.encode("utf-8"))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold the EC key issue_cmp_identity makes")
    return key


def key_agreement_refusal(identity: ServerIdentity, recipient_certificate_der: bytes) -> str | None:
    """Why a key package cannot go to this recipient by key agreement with our CMP
    protection key (RFC 9483 4.1.6.2: static-static ECDH needs both keys on one curve), or
    None when it can (an RSA recipient gets key transport, 4.1.6.1: no originator)."""
    certificate = x509.load_der_x509_certificate(recipient_certificate_der)
    try:
        public_key = certificate.public_key()
    except UnsupportedAlgorithm:  # a GOST key, which no key package here is made for
        return (
            "central key generation delivers the key by key transport (RSA) or key "
            "agreement (EC) (RFC 9483 4.1.6), not to this certificate's key"
        )
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return None
    ours = identity.private_key.curve.name
    if public_key.curve.name != ours:
        return (
            f"central key generation by key agreement needs a protecting key on {ours} "
            f"(RFC 9483 4.1.6.2), not {public_key.curve.name}"
        )
    return None
