"""Benchmark: building and signing a large CRL, against `openssl ca -gencrl`.

    python loadtests/bench_crl_build.py [--sizes 100000,1000000] [--openssl-timeout 180]

For each size N, N revoked entries are made with `protocols.crl.revoked_entry` before the
clock starts (the server makes each one when it revokes, and keeps its DER). Timed: one
`build_tbs_cert_list` (a join of the entries), one P-256 ECDSA signature with
`cryptography` (SHA-256 of the whole TBSCertList), one `assemble_crl`. The result is then
checked, untimed, with `cryptography` (entry count, signature).

Baseline, same run: an OpenSSL CA directory with the same N revoked serials in `index.txt`
(same revocation times and reasons; keyCompromise entries as `keyTime` with the same
invalidity date) and the same P-256 key; timed: `openssl ca -gencrl`, which parses the
index, builds every entry, sorts, signs and writes PEM. Prints both and the ratio.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocols.crl import CRLReason, CRLTemplate, assemble_crl, build_tbs_cert_list, revoked_entry

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
# Reasons in turn, as OpenSSL's index.txt spells them (ca.c crl_reasons).
REASONS: list[tuple[int | None, str | None]] = [
    (CRLReason.keyCompromise, "keyTime"),
    (CRLReason.superseded, "superseded"),
    (CRLReason.certificateHold, "certificateHold"),
    (CRLReason.cessationOfOperation, "cessationOfOperation"),
    (None, None),
]


def make_ca(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    usage = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def revocations(count: int) -> list[tuple[int, datetime, int | None, str | None]]:
    """(serial, revocation time, reason, OpenSSL reason name): random 127-bit serials."""
    serials: set[int] = set()
    while len(serials) < count:
        serials.add(secrets.randbits(126) | 1 << 126)
    return [
        (serial, NOW - timedelta(seconds=n), *REASONS[n % len(REASONS)])
        for n, serial in enumerate(serials)
    ]


def ours(key, cert, rows) -> tuple[float, dict[str, float], bytes]:
    started = time.perf_counter()
    entries = [
        revoked_entry(serial, at, reason, at - timedelta(days=1) if reason == 1 else None)
        for serial, at, reason, _ in rows
    ]
    prepare = time.perf_counter() - started
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    template = CRLTemplate(
        issuer_name_der=cert.subject.public_bytes(),
        authority_key_id=ski,
        crl_number=1,
        this_update=NOW,
        next_update=NOW + timedelta(days=7),
        entries=entries,
        signature_algorithm="sha256_ecdsa",
    )
    t0 = time.perf_counter()
    tbs = build_tbs_cert_list(template)
    t1 = time.perf_counter()
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    t2 = time.perf_counter()
    der = assemble_crl(tbs, "sha256_ecdsa", signature)
    t3 = time.perf_counter()
    parts = {"entries made (untimed)": prepare, "build": t1 - t0, "sign": t2 - t1}
    parts["assemble"] = t3 - t2
    return t3 - t0, parts, der


def index_line(serial: int, at: datetime, name: str | None) -> str:
    revoked = at.strftime("%y%m%d%H%M%SZ")
    if name == "keyTime":  # reason keyCompromise with an invalidityDate (GeneralizedTime)
        revoked += ",keyTime," + (at - timedelta(days=1)).strftime("%Y%m%d%H%M%SZ")
    elif name is not None:
        revoked += "," + name
    return f"R\t351231000000Z\t{revoked}\t{serial:X}\tunknown\t/CN=x\n"


def openssl_gencrl(folder: Path, rows, timeout: float) -> tuple[float | None, str]:
    (folder / "index.txt").write_text("".join(index_line(s, at, n) for s, at, _, n in rows))
    (folder / "crlnumber").write_text("01\n")
    (folder / "openssl.cnf").write_text(
        f"""[ ca ]
default_ca = bench
[ bench ]
database = {folder}/index.txt
crlnumber = {folder}/crlnumber
certificate = {folder}/ca.pem
private_key = {folder}/ca.key
default_md = sha256
default_crl_days = 7
unique_subject = no
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""
    )
    command = ["openssl", "ca", "-gencrl", "-batch", "-config", str(folder / "openssl.cnf")]
    command += ["-out", str(folder / "crl.pem")]
    started = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"killed after {timeout:.0f} s"
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        return None, f"failed: {result.stderr.strip()[-300:]}"
    crl = x509.load_pem_x509_crl((folder / "crl.pem").read_bytes())
    size = len(crl.public_bytes(serialization.Encoding.DER))
    return elapsed, f"{len(crl)} entries, {size:,} bytes DER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--openssl-timeout", type=float, default=180.0)
    args = parser.parse_args()
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True)
    print(f"openssl: {version.stdout.strip()}; python {sys.version.split()[0]}")
    for size in (int(part) for part in args.sizes.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="bench-crl-"))
        try:
            key, cert = make_ca(folder)
            rows = revocations(size)
            seconds, parts, der = ours(key, cert, rows)
            crl = x509.load_der_x509_crl(der)
            assert len(crl) == size and crl.is_signature_valid(key.public_key())
            detail = ", ".join(f"{name} {value:.3f} s" for name, value in parts.items())
            print(f"N={size:,}: protocols.crl build+sign+assemble {seconds:.3f} s, "
                  f"{len(der):,} bytes DER ({detail})")  # fmt: skip
            baseline, note = openssl_gencrl(folder, rows, args.openssl_timeout)
            if baseline is None:
                print(f"N={size:,}: openssl ca -gencrl {note}")
                continue
            print(f"N={size:,}: openssl ca -gencrl {baseline:.3f} s ({note}, PEM written)")
            print(f"N={size:,}: ratio openssl / protocols.crl = {baseline / seconds:.1f}x")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
