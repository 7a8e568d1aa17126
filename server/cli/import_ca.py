"""`python -m server import-ca-cert`: the parent's answer for an issuing CA under a parent
outside.

For a home `init --csr` made (server/cli/subordinate.py), the second half of that CA: the
parent's certificate for the pending key and the parent's chain become the CA's generation
1, and the home gets what `init` makes once the CA key exists (OCSP responder, CMP
protection and TLS server certificates), made in a scratch registry and copied whole as
`init` does: a refused or failed import changes nothing, and the home waits as before.

For a CA that has a generation, the second half of its rollover (`rollover --csr`): the
parent's certificate for the key of the pending request in the registry becomes the next
generation (server/generations/subordinate_rollover.py), on any node of the CA, while it serves; so
does the parent's answer to the request `compromise --csr` made
(server/generations/subordinate_compromise.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import Settings, load_settings
from hsm.backend import SigningBackend
from server.authority import Authority
from server.cli import init as cli_init
from server.cli import subordinate
from server.cli.commands import actor
from server.context import backend_spec, open_backend, open_ca
from server.errors import CAError, ErrorKind
from server.generations.ca_certificate import LifecycleRegistry
from server.generations.parent import import_ca_certificate
from server.generations.subordinate_rollover import import_next_generation
from server.node.home_permissions import make_private
from server.registry import CAGeneration


async def import_ca_cert(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    certificates = _read_certificates(args.cert, "--cert")
    if len(certificates) != 1:
        raise CAError(ErrorKind.MALFORMED, f"--cert: {args.cert} holds {len(certificates)} "
                      "certificates, not one")  # fmt: skip
    chain = _read_certificates(args.chain, "--chain")
    if subordinate.waiting(settings.home):
        lines = await _first_generation(settings, certificates[0], chain)
    else:
        lines = await _next_generation(settings, certificates[0], chain)
    for line in lines:
        print(line)
    return 0


async def _first_generation(
    settings: Settings, certificate: bytes, chain: Sequence[bytes]
) -> list[str]:
    """Generation 1 of a home `init --csr` made, and what `init` issues with it."""
    key = subordinate.pending_key(settings.home)

    async def imported(
        settings: Settings,
        registry: LifecycleRegistry,
        backend: SigningBackend,
        authority: Authority,
        now: datetime,
    ) -> CAGeneration:
        spki_der = backend.public_key_der(key)
        return await import_ca_certificate(
            settings, registry, key, spki_der, certificate, chain, now, actor()
        )

    made = await cli_init.new_ca(settings, imported)
    subordinate.imported(settings.home)
    make_private(settings.home)
    return cli_init.report(settings, made)


async def _next_generation(
    settings: Settings, certificate: bytes, chain: Sequence[bytes]
) -> list[str]:
    """The next generation of a CA that has one, from its pending request."""
    backend = open_backend(settings)
    try:
        async with open_ca(settings) as ca:
            secret = backend_spec(settings).read_secret()
            done = await import_next_generation(settings, ca.registry, backend, ca.authority,
                                                certificate, chain, ca.clock(), secret,
                                                actor())  # fmt: skip
    finally:
        backend.close()
    new = done.new
    issuer = x509.load_der_x509_certificate(new.certificate_der).issuer.rfc4514_string()
    if done.old.state == "compromised":  # the request made at its compromise (K4)
        made = f"generation {new.id} made after the compromise of generation {done.old.id}"
    else:
        made = f"rolled over from generation {done.old.id} to {new.id}"
    return [
        f"CA {settings.ca.name!r} {made}: the parent's certificate for request "
        f"{done.request_id} imported",
        f"  CA certificate serial {new.serial}, key id {new.key_id.hex()}, "
        f"valid until {new.not_after:%Y-%m-%d}, issued by {issuer}",
        f"  OCSP responder certificate serial {done.responder_serial}",
        f"  CMP protection certificate serial {done.cmp_serial}",
        f"  generation {done.old.id} keeps its CRLs and OCSP until its certificates expire",
    ]


def _read_certificates(path: Path, option: str) -> Sequence[bytes]:
    """The DER certificates of a PEM file (one or more) or of a DER file (one)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CAError(
            ErrorKind.MALFORMED, f"{option}: cannot read {path}: {exc.strerror}"
        ) from None
    try:
        if b"-----BEGIN" in data:
            return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        return [x509.load_der_x509_certificate(data).public_bytes(Encoding.DER)]
    except ValueError:
        raise CAError(ErrorKind.MALFORMED, f"{option}: {path} holds no certificate") from None
