"""Benchmark seeding: fill a CA home's registry with many real certificates, fast.

    python loadtests/seed_registry.py --home DIR [--certs N] [--revoked-fraction F]

THIS IS BENCHMARK SEEDING, NOT ISSUANCE. It bypasses every issuance rule (no PKCS#10
request, no proof of possession, no profile check on the subject, no intent recorded before
signing, no verify-after-sign except on a sample) and revocation's rules, and writes rows
straight into the registry tables of a CA home made by `python -m server init`. Never point
it at a CA that matters. Issuing 100,000 certificates through the Authority takes minutes
(about 200/s); this makes them at a few thousand per second on two cores.

What it writes, the way the server would have it:
- real certificates under the `tls-client` profile, each for a fresh P-256 key, with the
  extensions the Authority gives that profile (built by the same code), signed by the
  active generation's CA key read from the software backend (`sign_many` in batches);
- `certificates` rows in state 'issued' with their DER, TBS and unique spki_sha256;
- a `status_changes` 'issue' row for each, and for the revoked ones (`--revoked-fraction`,
  default 10%) a 'revoke' row with reason keyCompromise, status 'revoked' and the
  certificate's CRL entry (protocols.crl.revoked_entry);
- the matching `audit_log` entries, hash-chained, so `audit-verify` still passes.

No OCSP responses are written: the server signs the missing ones when it starts
(OCSPResponder.sign_missing, in the background).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from config import Settings, load_settings
from hsm.backend import KeyAlgorithm, KeyRef
from protocols.crl import CRLReason, revoked_entry
from protocols.x509 import csr as csr_codec
from protocols.x509 import names
from protocols.x509.certificate import (
    CertificateTemplate,
    assemble_certificate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from server.authority import Authority
from server.clock import utc_now
from server.context import backend_spec
from server.registry import CAGeneration
from server.registry.audit_chain import GENESIS, canonical_details, entry_hash
from server.registry.records import from_text, to_text
from server.request_checks import SubjectAltNames
from server.serials import new_serial, serial_text

PROFILE = "tls-client"
KEY_TYPE = "ec-p256"
ACTOR = "bench-seed"
REASON = CRLReason.keyCompromise
CHUNK = 2000


@dataclass(frozen=True)
class Seeded:
    """One seeded certificate: its serial and whether it is revoked."""

    serial: int
    revoked: bool


@dataclass(frozen=True)
class _Built:
    serial: str
    subject: str
    spki_sha256: bytes
    tbs: bytes
    der: bytes
    not_after: str


def active_generation(db: sqlite3.Connection, ca_name: str) -> CAGeneration:
    row = db.execute(
        "SELECT g.id, g.ca_name, g.key_uri, g.key_algorithm, g.serial, g.key_id, g.not_before,"
        " g.not_after, g.state, c.der, NOT EXISTS (SELECT 1 FROM ca_generations o"
        " WHERE o.ca_name = g.ca_name AND o.id < g.id) FROM ca_generations g JOIN certificates c"
        " ON c.serial = g.serial WHERE g.ca_name = ? AND g.state = 'active'"
        " ORDER BY g.id DESC LIMIT 1",
        (ca_name,),
    ).fetchone()
    if row is None:
        raise SystemExit(f"error: CA {ca_name!r} has no active generation (run init)")
    return CAGeneration(
        id=row[0], ca_name=row[1], key_uri=row[2], key_algorithm=row[3], serial=row[4],
        key_id=row[5], not_before=from_text(row[6]), not_after=from_text(row[7]),
        state=row[8], certificate_der=row[9], first=bool(row[10]),
    )  # fmt: skip


# -- building certificates (in worker processes) -------------------------------------------

_worker_state: dict[str, object] = {}


def registry_file(settings: Settings) -> Path:
    """The home's SQLite registry file: seeding writes SQLite only."""
    if settings.registry_file is None:
        raise SystemExit("seed_registry writes SQLite registries only (registry.url)")
    return settings.registry_file


def _init_worker(home: str) -> None:
    settings = load_settings(Path(home))
    with sqlite3.connect(registry_file(settings)) as db:
        generation = active_generation(db, settings.ca.name)
    _worker_state.update(
        settings=settings,
        generation=generation,
        backend=backend_spec(settings).open(),
        # Only for its extension builder (which caches the profile's extensions as DER):
        # the certificates get exactly the extensions issuance would give them.
        authority=Authority(settings, None, None),  # type: ignore[arg-type]
    )


def _build_chunk(first: int, count: int, not_before: datetime) -> list[_Built]:
    settings: Settings = _worker_state["settings"]  # type: ignore[assignment]
    generation: CAGeneration = _worker_state["generation"]  # type: ignore[assignment]
    authority: Authority = _worker_state["authority"]  # type: ignore[assignment]
    backend = _worker_state["backend"]
    ca_certificate = asn1_x509.Certificate.load(generation.certificate_der)
    ca_spki = ca_certificate.public_key.dump()
    algorithm = signature_algorithm_for(ca_spki)
    profile = settings.profiles[PROFILE]
    not_after = min(not_before + timedelta(days=profile.validity_days), generation.not_after)
    no_san = SubjectAltNames(dns=[], ips=[], emails=[])
    built: list[tuple[int, str, bytes, bytes]] = []
    for n in range(first, first + count):
        spki = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        serial = new_serial()
        subject = [("CN", f"bench-{n}")]
        extensions = authority._extensions(
            PROFILE, profile, KEY_TYPE, spki, generation, no_san, not_before, not_after, serial
        )
        template = CertificateTemplate(
            serial=serial,
            issuer=ca_certificate.subject,
            subject=names.build_name(subject),
            spki_der=spki,
            not_before=not_before,
            not_after=not_after,
            extensions=tuple(extensions),
            signature_algorithm=algorithm,
        )
        built.append((serial, names.format_dn(subject), spki, build_tbs_certificate(template)))
    key = KeyRef(generation.key_uri, KeyAlgorithm(generation.key_algorithm))
    signatures = backend.sign_many(key, [tbs for *_, tbs in built])  # type: ignore[attr-defined]
    result = [
        _Built(serial_text(serial), subject, csr_codec.spki_sha256(spki), tbs,
               assemble_certificate(tbs, algorithm, signature), to_text(not_after))
        for (serial, subject, spki, tbs), signature in zip(built, signatures, strict=True)
    ]  # fmt: skip
    # Verify-after-sign on a sample: the seeded certificates must chain to the CA.
    x509.load_der_x509_certificate(result[0].der).verify_directly_issued_by(
        x509.load_der_x509_certificate(generation.certificate_der)
    )
    return result


# -- writing rows (in this process) ---------------------------------------------------------


class _Audit:
    """Appends hash-chained audit entries as the registry would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        last = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        self.seq, self.prev = (last[0], last[1]) if last else (0, GENESIS)
        self.rows: list[tuple] = []

    def add(self, at: str, action: str, target: str, details: dict[str, object]) -> None:
        self.seq += 1
        text = canonical_details(details)
        digest = entry_hash(self.prev, self.seq, at, ACTOR, action, target, text)
        self.rows.append((self.seq, at, ACTOR, action, target, text, self.prev, digest))
        self.prev = digest


def _write(
    db: sqlite3.Connection,
    generation_id: int,
    chunk: list[_Built],
    revoked: list[bool],
    issued_at: datetime,
    revoked_at: datetime,
) -> None:
    issued_text, revoked_text = to_text(issued_at), to_text(revoked_at)
    audit = _Audit(db)
    certificates, changes = [], []
    for item, is_revoked in zip(chunk, revoked, strict=True):
        entry = revoked_entry(int(item.serial, 16), revoked_at, int(REASON)) if is_revoked else None
        certificates.append(
            (item.serial, generation_id, PROFILE, item.subject, item.spki_sha256, issued_text,
             item.not_after, "revoked" if is_revoked else "good", item.tbs, item.der,
             issued_text, entry)
        )  # fmt: skip
        changes.append((item.serial, "issue", None, issued_text, ACTOR, issued_text))
        audit.add(issued_text, "certificate.issue", item.serial,
                  {"profile": PROFILE, "subject": item.subject})  # fmt: skip
        if is_revoked:
            changes.append((item.serial, "revoke", REASON.name, revoked_text, ACTOR, revoked_text))
            audit.add(revoked_text, "certificate.revoke", item.serial, {"reason": REASON.name})
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT INTO certificates (serial, generation_id, profile, subject, spki_sha256,"
            " not_before, not_after, state, status, tbs, der, created_at, crl_entry)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'issued', ?, ?, ?, ?, ?)",
            certificates,
        )
        db.executemany(
            "INSERT INTO status_changes (serial, change, reason, effective_at, actor,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            changes,
        )
        db.executemany(
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            audit.rows,
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def seed(home: Path, count: int, revoked_fraction: float = 0.1, processes: int = 2) -> list[Seeded]:
    """Add `count` certificates to the registry of the CA home, every 1/`revoked_fraction`-th
    of them revoked. Returns them in the order written."""
    settings = load_settings(home)
    db = sqlite3.connect(registry_file(settings), isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=10000")
        generation = active_generation(db, settings.ca.name)
        issued_at = utc_now() - timedelta(minutes=10)
        revoked_at = issued_at + timedelta(minutes=5)
        every = round(1 / revoked_fraction) if revoked_fraction > 0 else 0
        seeded: list[Seeded] = []
        starts = list(range(0, count, CHUNK))
        with ProcessPoolExecutor(
            processes, initializer=_init_worker, initargs=(str(home),)
        ) as pool:
            futures = [
                pool.submit(_build_chunk, first, min(CHUNK, count - first), issued_at)
                for first in starts
            ]
            for first, future in zip(starts, futures, strict=True):
                chunk = future.result()
                revoked = [bool(every) and (first + n) % every == every - 1
                           for n in range(len(chunk))]  # fmt: skip
                _write(db, generation.id, chunk, revoked, issued_at, revoked_at)
                seeded += [
                    Seeded(int(c.serial, 16), r) for c, r in zip(chunk, revoked, strict=True)
                ]
        return seeded
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--certs", type=int, default=100_000)
    parser.add_argument("--revoked-fraction", type=float, default=0.1)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    seeded = seed(args.home, args.certs, args.revoked_fraction, args.processes)
    elapsed = time.perf_counter() - started
    revoked = sum(s.revoked for s in seeded)
    print(f"seeded {len(seeded)} certificates ({revoked} revoked) in {elapsed:.1f} s "
          f"({len(seeded) / elapsed:,.0f}/s)")  # fmt: skip


if __name__ == "__main__":
    main()
