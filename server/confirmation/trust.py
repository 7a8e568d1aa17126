"""The CA certificates a confirmation knows, and the path from a signer's certificate up
to one it trusts (RFC 5280 section 6.1, checked at the time that matters: the signing time).

Known CA certificates: every generation of this CA (its own certificate, and the chain above
it when a parent CA outside signed it), the link certificates of its rollovers, the roots
kept in the home with their links, and the CAs the operator lists as trusted
(`confirmation.trusted_ca_files`). Trust anchors among them: the self-signed ones of this
CA's, the top of an imported parent chain (the operator imported it), and the operator's.
A certificate of an old generation therefore chains to that generation's own certificate,
or through a link certificate to a newer one: both are this CA.

Each step is a name match and a signature check (protocols.x509.signed_by, GOST
included), so a path is found by search rather than assumed from names alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols.x509.signed_by import directly_issued_by
from server.errors import CAError, ErrorKind

MAX_PATH = 8  # CA certificates above a signer; deeper hierarchies are not this CA's business


@dataclass(frozen=True)
class KnownCA:
    certificate: x509.Certificate
    der: bytes
    source: str  # where it comes from, for the report: "this CA, generation 2", ...
    anchor: bool
    ours: bool  # this CA's own (a generation, a link, a home root)
    generation_id: int | None = None  # a generation's own certificate: it issues subscribers'
    revoked_at: datetime | None = None  # a compromise revoked it (K4)


def known_ca(
    der: bytes,
    source: str,
    *,
    anchor: bool,
    ours: bool,
    generation_id: int | None = None,
    revoked_at: datetime | None = None,
) -> KnownCA:
    certificate = x509.load_der_x509_certificate(der)
    return KnownCA(certificate, der, source, anchor, ours, generation_id, revoked_at)


class TrustedCAs:
    def __init__(self, cas: Iterable[KnownCA]) -> None:
        self._cas: list[KnownCA] = []
        seen: set[bytes] = set()
        for ca in cas:
            if ca.der not in seen:
                seen.add(ca.der)
                self._cas.append(ca)

    @property
    def cas(self) -> Sequence[KnownCA]:
        return self._cas

    def path(self, leaf: x509.Certificate) -> tuple[KnownCA, ...] | None:
        """The CA certificates from `leaf`'s issuer up to a trust anchor, the anchor last;
        None when no known CA signed it or no path reaches an anchor. Anchors are
        preferred at each step, then this CA's own certificates."""
        return self._search(leaf, (), frozenset())

    def issuers_of(self, certificate: x509.Certificate) -> list[KnownCA]:
        """The known CAs whose name and key issued `certificate`."""
        candidates = [ca for ca in self._cas if ca.certificate.subject == certificate.issuer]
        candidates.sort(key=lambda ca: (not ca.anchor, not ca.ours))
        return [ca for ca in candidates if directly_issued_by(certificate, ca.certificate)]

    def _search(
        self, certificate: x509.Certificate, above: tuple[KnownCA, ...], visited: frozenset[bytes]
    ) -> tuple[KnownCA, ...] | None:
        if len(above) >= MAX_PATH:
            return None
        for issuer in self.issuers_of(certificate):
            if issuer.der in visited:
                continue
            path = (*above, issuer)
            if issuer.anchor:
                return path
            found = self._search(issuer.certificate, path, visited | {issuer.der})
            if found is not None:
                return found
        return None


def read_trusted_ca_files(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    """(file name, DER) of every certificate in the operator's trusted CA files. Raises
    CAError(MALFORMED) naming an unreadable file."""
    found = []
    for path in paths:
        try:
            found += [(path.name, der) for der in certificates_in(path.read_bytes())]
        except (OSError, ValueError) as exc:
            raise CAError(
                ErrorKind.MALFORMED, f"confirmation.trusted_ca_files: {path}: {exc}"
            ) from exc
    return found


def certificates_in(data: bytes) -> list[bytes]:
    """The certificates of a file, DER: PEM (one or more) or one DER. Raises ValueError."""
    if b"-----BEGIN" in data:
        return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
    return [x509.load_der_x509_certificate(data).public_bytes(Encoding.DER)]
