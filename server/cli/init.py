"""`python -m server init`: a new CA home, with a new CA (the first node) or joined to the
CA of an existing registry (`--join`, a further node: server/cli/join.py), or the key of
an issuing CA and its request to a parent outside (`--csr`: server/cli/subordinate.py), or
an issuing CA under a root kept in the home, its key offline (`--hierarchy root+issuing`:
server/cli/root.py).

A new CA is made whole before the registry `registry.url` names sees a row: its
generation, OCSP responder, CMP protection and TLS certificates, with their audit entries,
are recorded in a scratch SQLite registry, which is then copied into the real one in one
transaction (server/registry/registry_copy.py). So a failed `init` leaves that registry as
it was, on either engine: on PostgreSQL the append-only audit table refuses DELETE and
TRUNCATE, and the rows of a half-made CA could not be taken back. Whatever `init` wrote
into the home is removed too, and the keys it made in the CA's backend are destroyed (a
token keeps them otherwise, and the next `init` would find their labels taken), so the
same command can simply be run again.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from config import Settings
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend
from server.authority import Authority
from server.cli import join as cli_join
from server.cli import root as cli_root
from server.cli import subordinate
from server.cli.commands import actor
from server.cli.settings_file import write_settings
from server.cmp.identity import issue_cmp_identity
from server.context import (
    backend_spec,
    destroy_backend_keys,
    open_backend,
    open_ca,
    open_registry,
)
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import create_generation
from server.generations.responder import issue_ocsp_responder
from server.node.home_permissions import make_private
from server.node.tls import issue_server_certificate
from server.registry import CAGeneration
from server.registry.registry_copy import copy_registry, row_counts

SCRATCH_REGISTRY = "registry.sqlite3"  # in a private temporary folder
log = logging.getLogger("server.cli.init")


@dataclass(frozen=True)
class NewCA:
    generation: CAGeneration
    responder_serial: str
    cmp_serial: str


async def init(args: argparse.Namespace) -> int:
    home: Path = args.home
    if (home / "settings.toml").exists():
        raise CAError(ErrorKind.REJECTED, f"{home} already holds a CA (settings.toml exists)")
    created = not home.exists()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = set(home.iterdir())
    make_private(home)  # whatever mode it had: nothing written below is ever shared
    try:
        settings = write_settings(home, args)
        if args.join:
            lines = await cli_join.join(settings, args)
        elif args.csr:
            await _prepare_new_ca(settings)
            lines = subordinate.write_request(settings, args.csr)
        elif args.hierarchy:
            made = await new_ca(settings, cli_root.issuing_ca_under_root)
            lines = [*report(settings, made), *cli_root.report(settings)]
        else:
            lines = report(settings, await new_ca(settings))
        make_private(home)  # what init wrote, and what was there before it
    except BaseException:
        _remove_written(home, created, existing)
        raise
    for line in lines:
        print(line)
    return 0


# Makes and records the CA generation: the new key's self-signed certificate, or the
# pending key's from a parent outside (server/cli/subordinate.py).
MakeGeneration = Callable[
    [Settings, cli_root.HierarchyRegistry, SigningBackend, Authority, datetime],
    Awaitable[CAGeneration],
]


async def _self_signed(
    settings: Settings,
    registry: cli_root.HierarchyRegistry,
    backend: SigningBackend,
    authority: Authority,
    now: datetime,
) -> CAGeneration:
    return await create_generation(settings, registry, backend, authority, now, actor())


async def new_ca(settings: Settings, make_generation: MakeGeneration = _self_signed) -> NewCA:
    """The new CA, made in a scratch registry and then copied whole into `registry.url`."""
    await _prepare_new_ca(settings)
    with tempfile.TemporaryDirectory(prefix="ca-init-") as scratch:
        url = f"sqlite:///{Path(scratch).resolve() / SCRATCH_REGISTRY}"
        staged = dataclasses.replace(
            settings, registry=dataclasses.replace(settings.registry, url=url)
        )
        keys_made: list[KeyRef] = []
        try:
            made = await _make_ca(staged, make_generation, keys_made)
            await _move_registry(settings, url)
        except BaseException:
            await asyncio.to_thread(_destroy_keys_made, settings, keys_made)
            raise
    return made


async def _prepare_new_ca(settings: Settings) -> None:
    """What a new CA key needs: the PIN, the software backend's key folder, and an empty
    registry (checked before keys are made for nothing)."""
    _ensure_secret(settings)
    if settings.hsm.backend == "soft":
        settings.resolve(settings.hsm.key_dir).mkdir(mode=0o700, exist_ok=True)
    await _refuse_a_used_registry(settings)


async def _make_ca(
    settings: Settings, make_generation: MakeGeneration, keys_made: list[KeyRef]
) -> NewCA:
    backend = _KeysMade(open_backend(settings), keys_made)
    try:
        async with open_ca(settings) as ca:
            now = ca.clock()
            generation = await make_generation(settings, ca.registry, backend, ca.authority, now)
            responder = await issue_ocsp_responder(
                settings, backend, ca.authority, generation, now, actor()
            )
            secret = backend_spec(settings).read_secret()
            cmp_server = await issue_cmp_identity(
                settings, ca.authority, generation, now, secret, actor()
            )
            if settings.server.https:
                await issue_server_certificate(settings, ca.authority, secret, actor())
    finally:
        backend.close()
    return NewCA(generation, responder, cmp_server)


class _KeysMade:
    """The CA's backend during `init`, noting in `keys` every key it makes."""

    def __init__(self, backend: SigningBackend, keys: list[KeyRef]) -> None:
        self._backend = backend
        self._keys = keys

    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        key = self._backend.generate_key(label, algorithm)
        self._keys.append(key)
        return key

    def public_key_der(self, key: KeyRef) -> bytes:
        return self._backend.public_key_der(key)

    def sign_many(self, key: KeyRef, messages: Sequence[bytes]) -> list[bytes]:
        return self._backend.sign_many(key, messages)

    def destroy_key(self, key: KeyRef) -> None:
        self._backend.destroy_key(key)

    def close(self) -> None:
        self._backend.close()


def _destroy_keys_made(settings: Settings, keys: list[KeyRef]) -> None:
    """Destroy the keys a failed `init` made; a failure to is a warning (the command's
    error stays the failure that stopped it)."""
    if not keys:
        return
    try:
        destroy_backend_keys(settings, keys)
    except (CAError, HSMError) as exc:
        log.warning("init failed; the keys it made were not all destroyed: %s", exc)


async def _move_registry(settings: Settings, scratch_url: str) -> None:
    """Every row of the scratch registry into `registry.url`, in one transaction that
    refuses a registry holding rows (another `init` may have filled it meanwhile)."""
    source = await open_registry(settings, scratch_url)
    try:
        target = await open_registry(settings)
        try:
            await copy_registry(source, target)
        finally:
            await target.close()
    finally:
        await source.close()


def report(settings: Settings, made: NewCA) -> list[str]:
    generation = made.generation
    lines = [
        f"CA {settings.ca.name!r} initialised in {settings.home}",
        f"  CA certificate serial {generation.serial}, valid until {generation.not_after:%Y-%m-%d}",
        f"  OCSP responder certificate serial {made.responder_serial}",
        f"  CMP protection certificate serial {made.cmp_serial}",
        f"  key backend {settings.hsm.backend}, algorithm {settings.ca.algorithm}",
    ]
    if settings.server.https:
        lines.append(
            f"  TLS server certificate {settings.server.tls_cert} for {settings.server.https}"
        )
    return lines


def _remove_written(home: Path, created: bool, existing: set[Path]) -> None:
    """Undo what a failed `init` wrote into the home: the home itself if it made it, else
    every entry it added. A symbolic link goes as a link (never what it points to: `--join
    --cmp-keys` links the cluster's shared folder)."""
    if created:
        shutil.rmtree(home, ignore_errors=True)
        return
    for path in set(home.iterdir()) - existing:
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


async def _refuse_a_used_registry(settings: Settings) -> None:
    """A new CA starts from an empty registry: one holding rows is another CA's."""
    registry = await open_registry(settings)
    try:
        counts = await row_counts(registry)
    finally:
        await registry.close()
    used = [table for table, count in counts.items() if count]
    if used:
        raise CAError(
            ErrorKind.REJECTED,
            f"the registry registry.url names is not empty (table {used[0]} has rows): "
            "init needs a new, empty database (to add a node to its CA: init --join)",
        )


def _ensure_secret(settings: Settings) -> None:
    """The PIN / passphrase comes from the environment or the PIN file. For the software
    backend of a demo CA, `init` makes a random one in the PIN file (mode 0600)."""
    hsm = settings.hsm
    if hsm.pin_env and os.environ.get(hsm.pin_env):
        return
    if hsm.pin_file and settings.resolve(hsm.pin_file).exists():
        return
    if hsm.backend == "soft" and hsm.pin_file:
        path = settings.resolve(hsm.pin_file)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        return
    raise CAError(
        ErrorKind.UNAVAILABLE,
        f"no PIN: set {hsm.pin_env or 'hsm.pin_env'} or write it to hsm.pin_file",
    )
