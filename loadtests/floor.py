"""The floor: what one enrollment costs the machine with plain `cryptography`, on one core.

    python loadtests/floor.py [--count N]

The loop of one enrollment without the server around it: verify a PKCS#10 request's
signature, build and sign its certificate (P-256 CA key, the extensions a tls-client
certificate carries), sign its OCSP response, and insert the row (certificate, its
response) into a temporary SQLite file, committing every GROUP rows, as group commit does.
The requests (a fresh P-256 key each) are made before the clock starts.

The enrollment benchmarks (bench_issuance.py, bench_est.py, bench_cmp.py) measure it in
the same run as their path and print the path's rate as a share of it: the gap is what the
server adds (parsing in Python, the pipeline's round trips, the registry, HTTP, TLS).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.csr_factory import make_csr

GROUP = 64  # rows per commit


@dataclass(frozen=True)
class Rate:
    """Enrollments per second and the latency of one, in milliseconds."""

    per_second: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, count: int, elapsed: float, latencies: list[float]) -> Rate:
        times = sorted(latencies)

        def pct(q: float) -> float:
            return times[min(len(times) - 1, int(q * len(times)))] * 1000

        return cls(count / elapsed, pct(0.5), pct(0.99))

    def line(self, what: str, floor: Rate | None = None) -> str:
        share = f" = {100 * self.per_second / floor.per_second:.0f}% of the floor" if floor else ""
        return (
            f"{what}: {self.per_second:,.0f}/s{share}, "
            f"p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms"
        )


def mean(*rates: Rate) -> Rate:
    """The floor measured before and after a path, as one (the machine's load drifts)."""
    n = len(rates)
    return Rate(
        sum(r.per_second for r in rates) / n,
        sum(r.p50_ms for r in rates) / n,
        sum(r.p99_ms for r in rates) / n,
    )


def requests(count: int) -> list[bytes]:
    """`count` DER PKCS#10 requests, each with a fresh P-256 key."""
    return [make_csr([("CN", f"floor-{n}")]) for n in range(count)]


def measure(csrs: list[bytes]) -> Rate:
    """Run the loop of one enrollment over `csrs` on this thread (one core)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Floor CA")])
    now = datetime.now(UTC).replace(microsecond=0)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    crl = x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier("http://ca.test/crl/floor.crl")],
                                None, None, None)]
    )  # fmt: skip
    aia = x509.AuthorityInformationAccess(
        [x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                x509.UniformResourceIdentifier("http://ca.test/ocsp")),
         x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                x509.UniformResourceIdentifier("http://ca.test/ca/floor.crt"))]
    )  # fmt: skip
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    with tempfile.TemporaryDirectory(prefix="floor-") as folder:
        db = sqlite3.connect(os.path.join(folder, "floor.sqlite3"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE certificates (serial TEXT PRIMARY KEY, spki_sha256 BLOB UNIQUE,"
            " subject TEXT, not_before TEXT, not_after TEXT, der BLOB, ocsp BLOB)"
        )
        latencies: list[float] = []
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        for n, der in enumerate(csrs):
            begun = time.perf_counter()
            csr = x509.load_der_x509_csr(der)
            if not csr.is_signature_valid:
                raise RuntimeError("a request's signature does not verify")
            public_key = csr.public_key()
            spki = public_key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            certificate = (
                x509.CertificateBuilder()
                .subject_name(csr.subject)
                .issuer_name(ca_name)
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(now + timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(usage, critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
                .add_extension(authority_key_id, critical=False)
                .add_extension(crl, critical=False)
                .add_extension(aia, critical=False)
                .sign(ca_key, hashes.SHA256())
            )
            response = (
                ocsp.OCSPResponseBuilder()
                .add_response(certificate, ca, hashes.SHA1(), ocsp.OCSPCertStatus.GOOD,
                              now, now + timedelta(days=1), None, None)
                .responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
                .sign(ca_key, hashes.SHA256())
            )  # fmt: skip
            db.execute(
                "INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?)",
                (format(certificate.serial_number, "x"), hashlib.sha256(spki).digest(),
                 certificate.subject.rfc4514_string(), now.isoformat(),
                 (now + timedelta(days=365)).isoformat(),
                 certificate.public_bytes(serialization.Encoding.DER),
                 response.public_bytes(serialization.Encoding.DER)),
            )  # fmt: skip
            if (n + 1) % GROUP == 0:
                db.execute("COMMIT")
                db.execute("BEGIN IMMEDIATE")
            latencies.append(time.perf_counter() - begun)
        db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
    return Rate.of(len(csrs), elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    print(measure(requests(args.count)).line("floor (plain cryptography, one core)"))


if __name__ == "__main__":
    main()
