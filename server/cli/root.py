"""The root CA kept in the home (server/hierarchy/offline_root.py): made by `init
--hierarchy root+issuing` (`issuing_ca_under_root`), then used only by `python -m server
root ACTION --home DIR`, with the root's PIN at hand and the server up or down:

- `root show`: the root, what it signed, its newest CRL;
- `root crl`: sign and publish its next CRL (before the published one's nextUpdate);
- `root revoke --serial HEX --grounds TEXT`: revoke an issuing CA certificate it signed
  (cACompromise), and publish the CRL that lists it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from cryptography import x509

from config import Settings, load_settings
from hsm.backend import KeyAlgorithm, SigningBackend
from protocols.crl import CRLReason
from server.authority import Authority
from server.cli.commands import actor
from server.clock import utc_now
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.hierarchy import offline_root
from server.lifecycle import LifecycleRegistry, import_ca_certificate
from server.registry import CAGeneration, interfaces
from server.registry.records import RootCA
from server.serials import parse_serial

Command = Callable[[str, Any, str], argparse.ArgumentParser]
HIERARCHIES = ("root+issuing",)


class HierarchyRegistry(LifecycleRegistry, interfaces.Roots, Protocol):
    """The registry as `init --hierarchy` uses it."""


def add_commands(command: Command) -> None:
    root = command(
        "root",
        run_root,
        "the root CA kept in this home (init --hierarchy root+issuing), with its own PIN: "
        "`show`; `crl` signs and publishes its next CRL; `revoke --serial --grounds` "
        "revokes an issuing CA certificate it signed (cACompromise)",
    )
    root.add_argument("action", choices=("show", "crl", "revoke"))
    root.add_argument("--serial", help="revoke: the certificate's serial, hexadecimal")
    root.add_argument("--grounds", help="revoke: what the revocation rests on (audit)")


async def issuing_ca_under_root(
    settings: Settings,
    registry: HierarchyRegistry,
    backend: SigningBackend,
    authority: Authority,
    now: datetime,
) -> CAGeneration:
    """`init --hierarchy root+issuing`'s generation 1: the root made in its own backend,
    then the issuing CA's key in the home's backend, certified by the root and recorded
    with the root as its chain, as `import-ca-cert` records a parent's certificate."""
    offline_root.prepare_root_backend(settings)
    root_backend = offline_root.open_root_backend(settings)
    try:
        root = await offline_root.create_root(settings, registry.roots, root_backend, now, actor())
        algorithm = KeyAlgorithm(settings.ca.algorithm)
        key = backend.generate_key(f"{settings.ca.name}-ca-g1", algorithm)
        spki_der = backend.public_key_der(key)
        certificate = await offline_root.certify_issuing_ca(
            settings, registry.roots, root_backend, root, spki_der, now, actor()
        )
    finally:
        root_backend.close()
    return await import_ca_certificate(
        settings, registry, key, spki_der, certificate, [root.certificate_der], now, actor()
    )


async def run_root(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    if not settings.root.name:
        raise CAError(ErrorKind.REJECTED, offline_root.NO_ROOT)
    if args.action != "revoke" and (args.serial or args.grounds):
        raise CAError(ErrorKind.MALFORMED, "--serial and --grounds are options of root revoke")
    registry = await open_registry(settings)
    try:
        records = registry.roots
        root = await records.root(settings.root.name)
        if root is None:
            raise CAError(ErrorKind.NOT_FOUND, f"the registry holds no root CA "
                          f"{settings.root.name!r}")  # fmt: skip
        if args.action == "show":
            lines = await _show(records, root)
        else:
            lines = await _sign(settings, records, root, args)
    finally:
        await registry.close()
    for line in lines:
        print(line)
    return 0


async def _sign(
    settings: Settings, records: interfaces.RootRecords, root: RootCA, args: argparse.Namespace
) -> list[str]:
    """`root crl` and `root revoke`: what needs the root's key."""
    if args.action == "revoke":
        grounds = (args.grounds or "").strip()
        if not args.serial or not grounds:
            raise CAError(ErrorKind.MALFORMED, "root revoke needs --serial and --grounds")
        serial = parse_serial(args.serial)
    backend = offline_root.open_root_backend(settings)
    try:
        now = utc_now()
        if args.action == "crl":
            crl = await offline_root.publish_crl(settings, records, backend, root, now, actor())
            return [f"root CA {root.name!r}: CRL number {crl.number} published, next update "
                    f"{crl.next_update:%Y-%m-%d %H:%M:%S}Z"]  # fmt: skip
        done = await offline_root.revoke(settings, records, backend, root, serial,
                                         CRLReason.cACompromise, now, actor(), grounds)  # fmt: skip
    finally:
        backend.close()
    return [f"root CA {root.name!r}: certificate {done.serial} revoked (cACompromise), "
            f"CRL number {done.crl.number} published"]  # fmt: skip


async def _show(records: interfaces.RootRecords, root: RootCA) -> list[str]:
    certificate = x509.load_der_x509_certificate(root.certificate_der)
    crl = await records.latest_crl(root.name)
    lines = [
        f"root CA {root.name!r}: {certificate.subject.rfc4514_string()}",
        f"  certificate serial {certificate.serial_number:x}, key id {root.key_id.hex()}, "
        f"valid until {root.not_after:%Y-%m-%d}",
    ]
    if crl is not None:
        lines.append(f"  CRL number {crl.number}, next update {crl.next_update:%Y-%m-%d %H:%M:%S}Z")
    for serial, der, revoked in await records.issued(root.name):
        issued = x509.load_der_x509_certificate(der)
        state = "revoked" if revoked else f"valid until {issued.not_valid_after_utc:%Y-%m-%d}"
        lines.append(f"  signed {serial}: {issued.subject.rfc4514_string()}, {state}")
    return lines


def report(settings: Settings) -> list[str]:
    """What `init --hierarchy` adds to init's report: where the root is, and that it is
    to be taken offline."""
    root = settings.root
    where = (f"key in {settings.resolve(root.key_dir)}" if root.backend == "soft"
             else f"key on token {root.token_label!r}")  # fmt: skip
    pins = [f"${root.pin_env}"] if root.pin_env else []
    pins += [str(settings.resolve(root.pin_file))] if root.pin_file else []
    return [
        f"  under root CA {root.name!r} ({root.subject}), {where}, PIN from {' or '.join(pins)}",
        "  the server never uses the root's key: take it and its PIN offline; bring them back "
        "for `root crl` before the root CRL's next update",
    ]
