"""The public search of issued certificates (S6; issue #18): by serial number, by the
SHA-256 of the SubjectPublicKeyInfo DER, or by the holder's name as the certificate's
subject gives it (commonName or organizationName; exactly or by its beginning, ignoring
case: server/registry/holder_names.py). At most `MAX_RESULTS` are answered, and only what
the certificate itself shows (the JSON public API's rule, server/web/api/public.py)."""

from __future__ import annotations

import enum
from typing import Protocol

from server.errors import CAError, ErrorKind
from server.registry import CertificateRecord, interfaces
from server.serials import parse_serial

MAX_RESULTS = 20
MAX_QUERY = 200  # characters of a search text


class SearchBy(enum.StrEnum):
    SERIAL = "serial"
    KEY = "key"  # SHA-256 of the SubjectPublicKeyInfo DER, hexadecimal
    NAME = "name"


class SearchRegistry(interfaces.Certificates, interfaces.Search, Protocol):
    """The registry as the search reads it."""


async def find_certificates(
    registry: SearchRegistry, by: SearchBy, text: str, prefix: bool
) -> list[CertificateRecord]:
    """The issued certificates `text` finds `by` one key (`prefix`: a name's beginning).
    Raises CAError(MALFORMED) for a serial or key hash that is not one, or a text that is
    empty or longer than MAX_QUERY."""
    text = text.strip()
    if not text or len(text) > MAX_QUERY:
        raise CAError(ErrorKind.MALFORMED, f"the search takes 1 to {MAX_QUERY} characters")
    if by is SearchBy.NAME:
        return await registry.search.certificates_by_holder(text, prefix, MAX_RESULTS)
    if by is SearchBy.SERIAL:
        record = await registry.get_certificate(parse_serial(text))
    else:
        record = await registry.search.certificate_by_spki(key_hash(text))
    return [record] if record is not None and record.der is not None else []


def key_hash(text: str) -> bytes:
    """The SHA-256 a key is looked up by, from hexadecimal (colons and spaces allowed).
    Raises CAError(MALFORMED) for anything else."""
    cleaned = text.lower().replace(":", "").replace(" ", "")
    try:
        digest = bytes.fromhex(cleaned)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise CAError(ErrorKind.MALFORMED, "a key hash is 64 hexadecimal digits (SHA-256)")
    return digest
