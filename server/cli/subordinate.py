"""An issuing CA whose parent is outside, first half: `init --csr FILE` makes the CA key
and writes a PKCS#10 request for the parent to certify, and leaves the home waiting for
the parent's certificate (`import-ca-cert`, server/cli/import_ca.py). Until then the
home holds no CA generation, and the server refuses to start.

The pending key is named in the home's `ca-pending.json` (its URI and algorithm; never a
PIN): the file is how the home says it waits."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef
from server.context import open_backend
from server.errors import CAError, ErrorKind
from server.generations.parent import request_ca_certificate

PENDING = "ca-pending.json"


def write_request(settings: Settings, csr_path: Path) -> list[str]:
    """Make the CA key, write the request to `csr_path` (PEM) and mark the home pending."""
    backend = open_backend(settings)
    try:
        request = request_ca_certificate(settings, backend)
    finally:
        backend.close()
    try:
        csr_path.write_bytes(x509.load_der_x509_csr(request.csr_der).public_bytes(Encoding.PEM))
    except OSError as exc:
        raise CAError(ErrorKind.REJECTED, f"cannot write {csr_path}: {exc.strerror}") from None
    pending = {"key_uri": request.key.uri, "algorithm": request.key.algorithm.value}
    (settings.home / PENDING).write_text(json.dumps(pending, indent=2) + "\n")
    return [
        f"CA {settings.ca.name!r} key made in {settings.home}, waiting for its certificate",
        f"  certification request written to {csr_path}: the parent CA is to certify it, "
        "then import-ca-cert",
        f"  key backend {settings.hsm.backend}, algorithm {settings.ca.algorithm}",
    ]


def waiting(home: Path) -> bool:
    """Whether the home waits for its first CA certificate (`init --csr`)."""
    return (home / PENDING).exists()


def pending_key(home: Path) -> KeyRef:
    """The key the home waits to have certified; CAError(REJECTED) when it waits for none."""
    try:
        pending = json.loads((home / PENDING).read_text())
    except FileNotFoundError:
        raise CAError(
            ErrorKind.REJECTED,
            f"{home} waits for no CA certificate (it was not made by init --csr, "
            "or its certificate is imported already)",
        ) from None
    return KeyRef(pending["key_uri"], KeyAlgorithm(pending["algorithm"]))


def imported(home: Path) -> None:
    """The home waits no more: its CA certificate is recorded."""
    (home / PENDING).unlink()


def refuse_pending(home: Path) -> None:
    """A home still waiting for its CA certificate cannot serve: it has no CA yet."""
    if waiting(home):
        raise CAError(
            ErrorKind.UNAVAILABLE,
            f"{home} waits for its CA certificate from the parent CA (init --csr): "
            "import it first (import-ca-cert)",
        )
