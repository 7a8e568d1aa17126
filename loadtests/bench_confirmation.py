"""Benchmark: signature confirmations (S10) per second through the confirmation service.

    python loadtests/bench_confirmation.py [--count N] [--concurrency C]

A CA home is made by `init`, a document-signing certificate issued from it, and a
document signed once by `openssl cms -sign` (detached, CAdES). Each confirmation then does
what `POST /api/v1/confirmations` and `confirm` do for it: parse the CMS, check the digest,
the signature and signingCertificateV2, build the path to this CA's generation, read the
certificate's status history from the registry and check its use. Prints throughput and
latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization

from config import load_settings
from loadtests.bench_issuance import init_home
from server.context import open_ca
from tests.csr_factory import make_csr, new_key
from tests.document_signing import DOCUMENT_SIGNER_PROFILE

DOCUMENT = b"a contract of about a page\n" * 100


async def run(home: Path, count: int, concurrency: int) -> tuple[float, list[float]]:
    """Seconds for `count` confirmations, and each one's latency."""
    folder = home.parent
    with (home / "settings.toml").open("a", encoding="utf-8") as settings:
        settings.write(DOCUMENT_SIGNER_PROFILE)
    key = new_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    (folder / "signer.key").write_bytes(pem)
    async with open_ca(load_settings(home), signing=True) as ca:
        issued = await ca.authority.issue("document-signer", make_csr([("CN", "bench")], key), "b")
        (folder / "signer.der").write_bytes(issued.der)
        (folder / "document.bin").write_bytes(DOCUMENT)
        subprocess.run(["openssl", "cms", "-sign", "-binary", "-cades", "-in", "document.bin",
                        "-signer", "signer.der", "-inkey", "signer.key", "-outform", "DER",
                        "-out", "document.p7s"], cwd=folder, check=True)  # fmt: skip
        signature = (folder / "document.p7s").read_bytes()
        first = await ca.confirmations.check_signature(DOCUMENT, signature)
        assert first.verdict == "valid", first.as_dict()
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                started = time.perf_counter()
                report = await ca.confirmations.check_signature(DOCUMENT, signature)
                latencies.append(time.perf_counter() - started)
                assert report.verdict == "valid"

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return time.perf_counter() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-confirmation-") as temporary:
        folder = Path(temporary)
        init_home(folder, "soft")
        elapsed, latencies = asyncio.run(run(folder / "ca", args.count, args.concurrency))
    cuts = statistics.quantiles(latencies, n=100)
    print(f"confirmations: {args.count} in {elapsed:.2f} s = {args.count / elapsed:,.0f}/s "
          f"(concurrency {args.concurrency}); latency p50 {cuts[49] * 1000:.2f} ms, "
          f"p99 {cuts[98] * 1000:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
