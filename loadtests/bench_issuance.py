"""Benchmark: certificates issued per second through the whole core.

    python loadtests/bench_issuance.py [--count N] [--concurrency C] [--backend soft|pkcs11]

Each issuance parses and checks a PKCS#10 request, builds the certificate, records the
intent in SQLite, signs through the pipeline (signer processes), verifies the signature and
stores the certificate with its status row and audit entry. Requests are made before the
clock starts (each with a fresh P-256 key). Prints throughput and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import load_settings
from server.context import open_ca
from tests.csr_factory import make_csr
from tests.softhsm import make_token


def init_home(folder: Path, backend: str) -> dict[str, str]:
    env: dict[str, str] = {}
    args = [sys.executable, "-m", "server", "init", "--home", str(folder / "ca")]
    if backend == "pkcs11":
        token = make_token(folder)
        env = {**token.environment(), "CA_HSM_PIN": token.pin}
        args += ["--backend", "pkcs11", "--token-label", token.label]
    os.environ.update(env)
    subprocess.run(args, check=True, capture_output=True, env=os.environ)
    return env


async def run(home: Path, count: int, concurrency: int) -> None:
    csrs = [make_csr([("CN", f"bench-{n}")]) for n in range(count)]
    settings = load_settings(home)
    async with open_ca(settings) as ca:
        latencies: list[float] = []
        queue = list(reversed(csrs))

        async def worker() -> None:
            while queue:
                csr = queue.pop()
                started = time.perf_counter()
                await ca.authority.issue("tls-client", csr, "bench")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    print(f"{count} certificates, concurrency {concurrency}: {count / elapsed:,.0f}/s, "
          f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", choices=("soft", "pkcs11"), default="soft")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-issuance-"))
    try:
        init_home(folder, args.backend)
        print(f"backend {args.backend}, CA key ec-p256, profile tls-client")
        asyncio.run(run(folder / "ca", args.count, args.concurrency))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
