"""The root CA kept in the home (server/hierarchy/offline_root.py): made by `init
--hierarchy root+issuing` (`issuing_ca_under_root`), then used only by `python -m server
root ACTION --home DIR`, with the root's PIN at hand and the server up or down:

- `root show`: every root (the first and each a rollover made), what each signed, its
  newest CRL, the links between them;
- `root crl`: sign and publish the next CRL of every live root, each with its own key
  (before the published ones' nextUpdate);
- `root revoke --serial HEX --grounds TEXT`: revoke an issuing CA certificate a root
  signed (cACompromise), and publish that root's CRL that lists it;
- `root rollover [--reason TEXT]`: the root's key change (server/hierarchy/
  root_rollover.py).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Protocol

from cryptography import x509

from config import Settings, load_settings
from hsm.backend import KeyAlgorithm, SigningBackend
from protocols.crl import CRLReason
from server.authority import Authority
from server.cli.commands import actor
from server.clock import utc_now
from server.context import open_registry
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import LifecycleRegistry
from server.generations.parent import import_ca_certificate
from server.hierarchy import offline_root
from server.hierarchy.root_rollover import RootRolledOver, roll_over_root
from server.hierarchy.root_succession import all_roots, is_live, live_roots
from server.registry import CAGeneration, interfaces
from server.registry.records import RootCA
from server.serials import parse_serial


class HierarchyRegistry(LifecycleRegistry, interfaces.Roots, Protocol):
    """The registry as `init --hierarchy` uses it."""


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
    if args.action != "rollover" and args.reason is not None:
        raise CAError(ErrorKind.MALFORMED, "--reason is an option of root rollover")
    registry = await open_registry(settings)
    try:
        records = registry.roots
        roots = await all_roots(records, settings.root.name)
        if args.action == "show":
            lines = await _show(records, roots)
        else:
            lines = await _sign(settings, records, roots, args)
    finally:
        await registry.close()
    for line in lines:
        print(line)
    return 0


async def _sign(
    settings: Settings,
    records: interfaces.RootRecords,
    roots: list[RootCA],
    args: argparse.Namespace,
) -> list[str]:
    """`root crl`, `root revoke` and `root rollover`: what needs the root's key."""
    if args.action == "revoke":
        grounds = (args.grounds or "").strip()
        if not args.serial or not grounds:
            raise CAError(ErrorKind.MALFORMED, "root revoke needs --serial and --grounds")
        serial = parse_serial(args.serial)
        signer = await _signer_of(records, roots, serial)
    backend = offline_root.open_root_backend(settings)
    try:
        now = utc_now()
        if args.action == "rollover":
            reason = (args.reason or "").strip() or "scheduled"
            done = await roll_over_root(settings, records, backend, now, actor(), reason)
            return _rolled_over(done)
        if args.action == "crl":
            live = live_roots(roots, now)
            if not live:
                raise CAError(ErrorKind.REJECTED, "no root CA of this home is valid now: "
                              "none signs a CRL")  # fmt: skip
            crls = await offline_root.publish_crls(settings, records, backend, live, now, actor())
            return [f"root CA {root.name!r}: CRL number {crl.number} published, next update "
                    f"{crl.next_update:%Y-%m-%d %H:%M:%S}Z"
                    for root, crl in zip(live, crls, strict=True)]  # fmt: skip
        if not is_live(signer, now):
            raise CAError(ErrorKind.REJECTED, f"root CA {signer.name!r}'s certificate has "
                          "ended: it signs no more CRLs")  # fmt: skip
        done_revoke = await offline_root.revoke(settings, records, backend, signer, serial,
                                                CRLReason.cACompromise, now, actor(),
                                                grounds)  # fmt: skip
    finally:
        backend.close()
    return [f"root CA {signer.name!r}: certificate {done_revoke.serial} revoked "
            f"(cACompromise), CRL number {done_revoke.crl.number} published"]  # fmt: skip


async def _signer_of(records: interfaces.RootRecords, roots: list[RootCA], serial: str) -> RootCA:
    """The root that signed `serial`. Raises CAError(NOT_FOUND) when none did."""
    for root in roots:
        if any(signed == serial for signed, _, _ in await records.issued(root.name)):
            return root
    names = ", ".join(repr(root.name) for root in roots)
    plural = "s" if len(roots) > 1 else ""
    raise CAError(ErrorKind.NOT_FOUND, f"root{plural} {names} signed no certificate {serial}")


def _rolled_over(done: RootRolledOver) -> list[str]:
    new = x509.load_der_x509_certificate(done.new.certificate_der)
    return [
        f"root CA {done.old.name!r} rolled over to {done.new.name!r}",
        f"  root certificate serial {new.serial_number:x}, key id {done.new.key_id.hex()}, "
        f"valid until {done.new.not_after:%Y-%m-%d}",
        f"  NewWithOld link certificate serial {done.new_with_old.serial}",
        f"  OldWithNew link certificate serial {done.old_with_new.serial}",
        f"  CRL number {done.crl.number} published, next update "
        f"{done.crl.next_update:%Y-%m-%d %H:%M:%S}Z",
        f"  the new root certifies the issuing CA's next generation: run rollover; "
        f"{done.old.name!r} signs its CRL (root crl) until {done.old.not_after:%Y-%m-%d}",
    ]


async def _show(records: interfaces.RootRecords, roots: list[RootCA]) -> list[str]:
    links = await records.links()
    lines: list[str] = []
    for root in roots:
        certificate = x509.load_der_x509_certificate(root.certificate_der)
        crl = await records.latest_crl(root.name)
        lines += [
            f"root CA {root.name!r}: {certificate.subject.rfc4514_string()}",
            f"  certificate serial {certificate.serial_number:x}, key id {root.key_id.hex()}, "
            f"valid until {root.not_after:%Y-%m-%d}",
        ]
        if root.succeeds is not None:
            pair = {root.name, root.succeeds}
            joining = [f"{_LINK_NAMES[link.kind]} link {link.serial}" for link in links
                       if {link.issuer_root, link.subject_root} == pair]  # fmt: skip
            lines.append(f"  succeeds {root.succeeds!r}: {', '.join(joining)}")
        if crl is not None:
            lines.append(
                f"  CRL number {crl.number}, next update {crl.next_update:%Y-%m-%d %H:%M:%S}Z"
            )
        for serial, der, revoked in await records.issued(root.name):
            issued = x509.load_der_x509_certificate(der)
            state = "revoked" if revoked else f"valid until {issued.not_valid_after_utc:%Y-%m-%d}"
            lines.append(f"  signed {serial}: {issued.subject.rfc4514_string()}, {state}")
    return lines


_LINK_NAMES = {"new_with_old": "NewWithOld", "old_with_new": "OldWithNew"}


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
