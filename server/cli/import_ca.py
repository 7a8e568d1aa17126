"""`python -m server import-ca-cert`: the second half of an issuing CA under a parent
outside (`init --csr`, server/cli/subordinate.py). The parent's certificate for the
pending key and the parent's chain become the CA's generation 1, and the home gets what
`init` makes once the CA key exists (OCSP responder, CMP protection and TLS server
certificates), made in a scratch registry and copied whole as `init` does: a refused or
failed import changes nothing, and the home waits as before."""

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
from server.errors import CAError, ErrorKind
from server.lifecycle import LifecycleRegistry, import_ca_certificate
from server.node.home_permissions import make_private
from server.registry import CAGeneration


async def import_ca_cert(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    key = subordinate.pending_key(settings.home)
    certificates = _read_certificates(args.cert, "--cert")
    if len(certificates) != 1:
        raise CAError(ErrorKind.MALFORMED, f"--cert: {args.cert} holds {len(certificates)} "
                      "certificates, not one")  # fmt: skip
    chain = _read_certificates(args.chain, "--chain")

    async def imported(
        settings: Settings,
        registry: LifecycleRegistry,
        backend: SigningBackend,
        authority: Authority,
        now: datetime,
    ) -> CAGeneration:
        spki_der = backend.public_key_der(key)
        return await import_ca_certificate(
            settings, registry, key, spki_der, certificates[0], chain, now, actor()
        )

    made = await cli_init.new_ca(settings, imported)
    subordinate.imported(settings.home)
    make_private(settings.home)
    for line in cli_init.report(settings, made):
        print(line)
    return 0


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
