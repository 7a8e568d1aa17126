"""`init --join URL`: a further node's home, for the CA whose registry URL names.

What a node shares with the others, and what is its own:
- shared, read from the registry: the CA itself (its generations, certificates, status,
  audit trail; `ca.name` must name it, `ca.subject` and `ca.algorithm` are taken from its
  active generation) and where its key lives. A PKCS#11 key is in the one token every node
  opens (`--backend pkcs11 --module --token-label`); a software key is a file of the one
  key folder every node mounts at the same absolute path, which the registry names
  (`hsm.key_dir` is set to it);
- shared, given by the operator: the home's secret (the PIN, in `hsm.pin_env`, or a copy
  of the first node's PIN file, `--pin-from`), which opens the CA key, the CMP protection
  keys and the TLS key and from which enrollment codes are derived; and `cmp-keys/`, the
  folder the duty holder of any node writes renewed CMP protection keys to (`--cmp-keys`
  links the shared folder into the home, or the home already has it mounted);
- the node's own: its settings file (listening addresses), its TLS identity (a key made
  here, never copied, with a `tls-server` certificate the CA issues for `server.https`),
  and its audit checkpoints file (checkpoints its own commands and duty holder write).

Before anything is recorded it checks, and refuses with a reason: that the registry holds
the CA named `ca.name` (a database holding no registry is not made one); that the CA key
is reachable with the secret and is the key of the CA certificate; that the CMP protection
key is in `cmp-keys/`. The registry then receives only what any node's command records:
the new TLS certificate, with its status, audit entry, outbox event and OCSP answer.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from asn1crypto import x509 as asn1_x509

from config import Settings, load_settings
from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from protocols.x509 import names
from server.cli.commands import actor
from server.cli.settings_file import set_toml_value
from server.cmp.identity import KEY_FOLDER
from server.context import backend_spec, open_ca, open_registry
from server.errors import CAError, ErrorKind
from server.node.tls import issue_server_certificate
from server.registry import CAGeneration
from server.registry.registry_copy import row_counts


async def join(settings: Settings, args: argparse.Namespace) -> list[str]:
    """Make `settings.home` a node of the CA in `registry.url` (see the module); the lines
    to print. Raises CAError naming what is missing or wrong."""
    if not settings.registry_url.startswith(("postgresql://", "postgres://")):
        raise CAError(ErrorKind.MALFORMED, "--join: nodes share a PostgreSQL registry "
                      "(postgresql://user@host/database)")  # fmt: skip
    _take_secret(settings, args.pin_from)
    generation = await _the_ca(settings)
    settings = _follow_the_ca(settings, generation)
    _check_ca_key(settings, generation)
    if args.cmp_keys is not None:
        _link_cmp_keys(settings, args.cmp_keys)
    async with open_ca(settings) as ca:
        if await ca.cmp_identity.current() is None:
            raise CAError(
                ErrorKind.UNAVAILABLE,
                f"no CMP protection key of this CA in {settings.resolve(KEY_FOLDER)}: "
                "link the first node's cmp-keys folder with --cmp-keys DIR (a shared mount)",
            )
        if settings.server.https:
            secret = backend_spec(settings).read_secret()
            await issue_server_certificate(settings, ca.authority, secret, actor())
    lines = [
        f"node of CA {settings.ca.name!r} made in {settings.home}",
        f"  CA certificate serial {generation.serial}, key {generation.key_uri}",
        f"  key backend {settings.hsm.backend}, algorithm {settings.ca.algorithm}",
    ]
    if settings.server.https:
        lines.append(
            f"  TLS server certificate {settings.server.tls_cert} for {settings.server.https}"
        )
    return lines


def _take_secret(settings: Settings, pin_from: Path | None) -> None:
    """The cluster's secret: in `hsm.pin_env`, or copied from `pin_from` into the home's
    `hsm.pin_file` (mode 0600). Never made up: a new secret would open nothing."""
    hsm = settings.hsm
    if pin_from is None:
        if (hsm.pin_env and os.environ.get(hsm.pin_env)) or (
            hsm.pin_file and settings.resolve(hsm.pin_file).exists()
        ):
            return
        raise CAError(
            ErrorKind.UNAVAILABLE,
            f"no PIN: --join needs the first node's secret: set {hsm.pin_env or 'hsm.pin_env'}"
            " or give --pin-from <a copy of its PIN file>",
        )
    if not hsm.pin_file:
        raise CAError(ErrorKind.MALFORMED, "--pin-from needs hsm.pin_file to copy it to")
    try:
        secret = pin_from.read_bytes()
    except OSError as exc:
        raise CAError(ErrorKind.UNAVAILABLE, f"cannot read {pin_from}: {exc.strerror}") from None
    target = settings.resolve(hsm.pin_file)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CAError(ErrorKind.REJECTED, f"--pin-from: {target} exists already") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)


async def _the_ca(settings: Settings) -> CAGeneration:
    """The CA's active generation. The database is looked at before it is opened as a
    registry, which would give one holding no registry the registry's (empty) tables."""
    looked_at = await open_registry(settings, migrate=False)
    try:
        holds_a_ca = bool((await row_counts(looked_at)).get("ca_generations"))
    finally:
        await looked_at.close()
    generation = None
    if holds_a_ca:
        registry = await open_registry(settings)
        try:
            generation = await registry.active_generation(settings.ca.name)
        finally:
            await registry.close()
    if generation is None:
        raise CAError(
            ErrorKind.REJECTED,
            f"the registry registry.url names holds no CA named {settings.ca.name!r}: --join "
            "needs the registry of a running CA (and --name, when the CA's is not the default)",
        )
    return generation


def _follow_the_ca(settings: Settings, generation: CAGeneration) -> Settings:
    """The settings with what the registry says of the CA: its subject and algorithm, and
    for a software key the shared folder holding it."""
    subject = names.attributes_of(
        asn1_x509.Certificate.load(generation.certificate_der).subject.dump()
    )
    values: dict[tuple[str, str], str] = {
        ("ca", "subject"): names.format_dn(subject),
        ("ca", "algorithm"): generation.key_algorithm,
    }
    in_file = generation.key_uri.startswith("file:")
    if in_file != (settings.hsm.backend == "soft"):
        where = "a key file" if in_file else "a PKCS#11 token"
        raise CAError(
            ErrorKind.REJECTED,
            f"the CA key is in {where} ({generation.key_uri}): join with "
            + ("--backend soft" if in_file else "--backend pkcs11 --module ... --token-label ..."),
        )
    if in_file:
        values["hsm", "key_dir"] = str(Path(generation.key_uri.removeprefix("file:")).parent)
    path = settings.home / "settings.toml"
    text = path.read_text(encoding="utf-8")
    for (section, key), value in values.items():
        text = set_toml_value(text, section, key, value)
    path.write_text(text, encoding="utf-8")
    return load_settings(settings.home)


def _check_ca_key(settings: Settings, generation: CAGeneration) -> None:
    """The CA key opens here with the secret, and is the CA certificate's key (issuing the
    TLS certificate then verifies a signature of it against the certificate)."""
    certificate = asn1_x509.Certificate.load(generation.certificate_der)
    expected = certificate["tbs_certificate"]["subject_public_key_info"].dump()
    key = KeyRef(generation.key_uri, KeyAlgorithm(generation.key_algorithm))
    try:
        backend = backend_spec(settings).open()
        try:
            found = backend.public_key_der(key)
        finally:
            backend.close()
    except HSMError as exc:
        raise CAError(
            ErrorKind.UNAVAILABLE, f"the CA key is not reachable from this node: {exc}"
        ) from None
    if found != expected:
        raise CAError(
            ErrorKind.REJECTED,
            f"the key {generation.key_uri} is not the key of the CA certificate (serial "
            f"{generation.serial}) in the registry: another CA's key or token?",
        )


def _link_cmp_keys(settings: Settings, shared: Path) -> None:
    link = settings.resolve(KEY_FOLDER)
    if not shared.is_dir():
        raise CAError(ErrorKind.UNAVAILABLE, f"--cmp-keys: {shared} is not a folder")
    if link.exists() or link.is_symlink():
        raise CAError(ErrorKind.REJECTED, f"--cmp-keys: {link} exists already")
    link.symlink_to(shared.resolve(), target_is_directory=True)
