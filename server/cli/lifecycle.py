"""The CA key lifecycle's commands: `rollover` and `compromise` (server/generations/). They
can run while the server runs: the registry refuses a rollover that another one overtook,
and a compromise of a generation no longer active.

A CA under a parent outside rolls over by a request to the parent
(server/generations/subordinate_rollover.py): `rollover --csr FILE` makes the next key and its
request and writes the request to FILE; while that request is pending, the same command writes the
same request again (no second key: any node can, and the scheduled duty makes requests
that only the CLI writes out); `rollover --abandon` gives it up. The parent's answer is
imported with `import-ca-cert` (server/cli/import_ca.py).

An issuing CA under the root kept in the home (`init --hierarchy`) rolls over with
`rollover` alone, the root's key at hand: the root certifies the next key at once
(server/hierarchy/issuing_rollover.py).

The compromise of a CA under a parent outside (server/generations/subordinate_compromise.py) is
`compromise --csr FILE --revocation-request FILE`: the request for the new key and the CMP
revocation request for the parent are written before anything is recorded, and removed
again if the compromise is refused, so that a refused command changes nothing."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import Settings, load_settings
from hsm.backend import SigningBackend
from server.cli.commands import actor
from server.context import CA, backend_spec, open_backend, open_ca
from server.errors import CAError, ErrorKind
from server.generations.compromise import Compromised
from server.generations.rollover import RolledOver, rollover
from server.generations.subordinate_compromise import (
    ParentCompromise,
    discard,
    prepare_parent_compromise,
    record_parent_compromise,
    revoke_after_parent_compromise,
)
from server.generations.subordinate_rollover import (
    SubordinateRolloverRegistry,
    abandon_next_request,
    request_next_generation,
)
from server.hierarchy.issuing_compromise import compromise_under_root
from server.hierarchy.issuing_rollover import rollover_under_root
from server.hierarchy.offline_root import open_root_backend
from server.hierarchy.root_succession import all_roots, certifying_root


async def run_rollover(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    backend = open_backend(settings)
    try:
        async with open_ca(settings) as ca:
            if args.csr:
                lines = await _request(settings, ca.registry, backend, ca.clock(), args)
            elif args.abandon:
                request = await abandon_next_request(settings, ca.registry, backend, ca.clock(),
                                                     actor())  # fmt: skip
                lines = [f"CA {settings.ca.name!r}: request {request.id} for the next "
                         "generation abandoned, its key destroyed"]  # fmt: skip
            elif settings.root.name:
                lines = await _rollover_under_root(settings, ca, backend, args.reason)
            else:
                secret = backend_spec(settings).read_secret()
                done = await rollover(settings, ca.registry, backend, ca.authority, ca.clock(),
                                      secret, actor(), args.reason)  # fmt: skip
                lines = _rolled_over(settings, done)
    finally:
        backend.close()
    for line in lines:
        print(line)
    return 0


async def _rollover_under_root(
    settings: Settings, ca: CA, backend: SigningBackend, reason: str
) -> list[str]:
    secret = backend_spec(settings).read_secret()
    root_backend = open_root_backend(settings)  # before anything is made: the key at hand
    try:
        done = await rollover_under_root(
            settings, ca.registry, backend, root_backend, ca.authority, ca.clock(), secret,
            actor(), reason,
        )  # fmt: skip
    finally:
        root_backend.close()
    new = done.new
    root = await _root_of(settings, ca, new.parent_chain)
    return [
        f"CA {settings.ca.name!r} rolled over from generation {done.old.id} to {new.id}, "
        f"certified by the root CA {root!r}",
        f"  CA certificate serial {new.serial}, key id {new.key_id.hex()}, "
        f"valid until {new.not_after:%Y-%m-%d}",
        f"  OCSP responder certificate serial {done.responder_serial}",
        f"  CMP protection certificate serial {done.cmp_serial}",
    ]


async def _root_of(settings: Settings, ca: CA, chain: tuple[bytes, ...]) -> str:
    """The name of the home's root that certified a generation whose chain is `chain`
    (after a root rollover, not always `root.name`)."""
    roots = await all_roots(ca.registry.roots, settings.root.name)
    root = certifying_root(roots, chain)
    return root.name if root else settings.root.name


def _rolled_over(settings: Settings, done: RolledOver) -> list[str]:
    new = done.new
    return [
        f"CA {settings.ca.name!r} rolled over from generation {done.old.id} to {new.id}",
        f"  CA certificate serial {new.serial}, key id {new.key_id.hex()}, "
        f"valid until {new.not_after:%Y-%m-%d}",
        f"  NewWithOld link certificate serial {done.new_with_old.serial}",
        f"  OldWithNew link certificate serial {done.old_with_new.serial}",
        f"  OCSP responder certificate serial {done.responder_serial}",
        f"  CMP protection certificate serial {done.cmp_serial}",
    ]


async def _request(
    settings: Settings,
    registry: SubordinateRolloverRegistry,
    backend: SigningBackend,
    now: datetime,
    args: argparse.Namespace,
) -> list[str]:
    """The pending request's CSR written to `--csr` again, or (none pending) a new one."""
    ca = settings.ca.name
    pending = await registry.ca_requests.pending(ca)
    if pending is not None:
        _write_csr(args.csr, pending.csr_der)
        return [f"CA {ca!r}: request {pending.id} for the next generation, pending since "
                f"{pending.created_at:%Y-%m-%d %H:%M} UTC, written again to {args.csr} "
                "(no new key made)"]  # fmt: skip
    made = await request_next_generation(settings, registry, backend, now, actor(), args.reason)
    _write_csr(args.csr, made.csr_der)
    return [
        f"CA {ca!r}: request {made.id} for the next generation made, key "
        f"{made.key.uri} ({made.key.algorithm.value})",
        f"  certification request written to {args.csr}: the parent CA is to certify it, "
        "then import-ca-cert --cert FILE --chain FILE",
        "  the current generation goes on issuing until then",
    ]


def _write_csr(path: Path, csr_der: bytes) -> None:
    try:
        path.write_bytes(x509.load_der_x509_csr(csr_der).public_bytes(Encoding.PEM))
    except OSError as exc:
        raise CAError(ErrorKind.REJECTED, f"cannot write {path}: {exc.strerror} (the request "
                      "is recorded: rollover --csr FILE writes it again)") from None  # fmt: skip


async def run_compromise(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    if (args.csr is None) != (args.revocation_request is None):
        raise CAError(ErrorKind.MALFORMED, CSR_AND_REVOCATION_REQUEST)
    if args.csr is not None:
        for line in await _compromise_under_parent(settings, args):
            print(line)
        return 0
    async with open_ca(settings) as ca:
        if settings.root.name:
            done = await _compromise_under_root(settings, ca, args.generation, args.grounds)
            listed = f"the root CA {await _root_of(settings, ca, done.old.parent_chain)!r}'s CRL"
        else:
            done = await ca.compromise(args.generation, args.grounds, actor())
            listed = f"generation {done.new.id}'s CRL"
    new = done.new
    print(f"CA {settings.ca.name!r}: generation {done.old.id} compromised, generation "
          f"{new.id} made")  # fmt: skip
    print(f"  CA certificate serial {new.serial}, key id {new.key_id.hex()}, "
          f"valid until {new.not_after:%Y-%m-%d}")  # fmt: skip
    print(f"  revoked (cACompromise) in {listed}: {', '.join(done.revoked)}")
    certificates = done.certificates
    verb = "revoked" if certificates.mode == "revoke" else "marked, left good"
    print(f"  certificates of generation {done.old.id}: {certificates.count} {verb}")
    print(f"  OCSP responder certificate serial {done.responder_serial}")
    print(f"  CMP protection certificate serial {done.cmp_serial}")
    return 0


async def _compromise_under_root(
    settings: Settings, ca: CA, generation: int, grounds: str
) -> Compromised:
    """K4 for the issuing CA under the home's root: the root, its key at hand, certifies
    the new key and revokes the compromised CA certificate at once."""
    secret = backend_spec(settings).read_secret()
    root_backend = open_root_backend(settings)  # before anything is made: the key at hand
    backend = open_backend(settings)
    try:
        return await compromise_under_root(
            settings, ca.registry, backend, root_backend, ca.authority, ca.status, ca.clock(),
            secret, actor(), generation, grounds,
        )  # fmt: skip
    finally:
        backend.close()
        root_backend.close()


CSR_AND_REVOCATION_REQUEST = (
    "--csr and --revocation-request go together (a CA under a parent outside: the request for "
    "the new key and the revocation request for the parent); nothing was changed"
)


async def _compromise_under_parent(settings: Settings, args: argparse.Namespace) -> list[str]:
    """K4 for a CA under a parent outside: both files written before the compromise is
    recorded, removed again if it is refused."""
    backend = open_backend(settings)
    try:
        async with open_ca(settings) as ca:
            prepared = await prepare_parent_compromise(
                settings, ca.registry, backend, ca.clock(), args.generation, args.grounds
            )
            written: list[Path] = []
            try:
                csr_pem = x509.load_der_x509_csr(prepared.csr_der).public_bytes(Encoding.PEM)
                _write_new(args.csr, csr_pem, written)
                _write_new(args.revocation_request, prepared.revocation_request_der, written)
            except BaseException:
                _remove(written)
                discard(backend, prepared)
                raise
            try:  # refused: the new key destroyed, nothing recorded
                request_id = await record_parent_compromise(
                    settings, ca.registry, backend, prepared, ca.clock(), actor()
                )
            except BaseException:
                _remove(written)
                raise
            done = await revoke_after_parent_compromise(
                settings, ca.registry, ca.status, prepared, request_id, ca.clock(), actor()
            )
    finally:
        backend.close()
    return _compromised_under_parent(settings, done, args)


def _remove(written: list[Path]) -> None:
    for path in written:
        path.unlink(missing_ok=True)


def _write_new(path: Path, data: bytes, written: list[Path]) -> None:
    """Write `data` to `path`, which must not exist (a file the operator kept is never
    overwritten, nor removed on a refusal)."""
    try:
        with path.open("xb") as file:
            written.append(path)
            file.write(data)
    except OSError as exc:
        raise CAError(ErrorKind.REJECTED, f"cannot write {path}: {exc.strerror}; nothing was "
                      "changed") from None  # fmt: skip


def _compromised_under_parent(
    settings: Settings, done: ParentCompromise, args: argparse.Namespace
) -> list[str]:
    prepared = done.prepared
    old, name = prepared.old, settings.ca.name
    certificates = done.certificates
    verb = "revoked" if certificates.mode == "revoke" else "marked, left good"
    lines = [f"CA {name!r}: generation {old.id} compromised, its certificates "
             f"{certificates.count} {verb}"]  # fmt: skip
    if prepared.abandoned is not None:
        lines.append(f"  request {prepared.abandoned.id} for the next generation abandoned, "
                     "its key destroyed")  # fmt: skip
    lines += [
        f"  request {done.request_id} for the new key ({prepared.key.uri}) written to "
        f"{args.csr}: the parent CA is to certify it, then import-ca-cert --cert FILE "
        "--chain FILE",
        f"  revocation request (CMP rr, cACompromise) for CA certificate serial {old.serial} "
        f"written to {args.revocation_request}: send it to the parent CA",
    ]
    if done.issuing is None:
        lines.append("  no certificate is issued until the parent's certificate is imported")
    else:
        lines.append(f"  generation {done.issuing.id} issues until then")
    return lines
