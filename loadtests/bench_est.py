"""Benchmark: EST simpleenroll per second over TLS, CA key P-256 on SoftHSM2.

    python loadtests/bench_est.py [--count N] [--concurrency C] [--workers W]
                                  [--backend soft|pkcs11]

Makes a CA home (SoftHSM2 token by default), N one-time enrollment codes and N PKCS#10
requests (before the clock starts), starts `python -m server serve`, and drives it from a
separate client process (aiohttp over TLS, keep-alive, C requests in flight). Each request
is a full enrollment: Basic authentication with a code, CSR checks, issuance (intent,
signature through the pipeline, verification, registry), the OCSP response of the new
certificate, certs-only CMS. Prints enrollments/s and p50/p99 latency, and the rate as a
share of the floor (loadtests/floor.py) measured before and after it in the same run;
every answer must be a certificate, or the run fails. Loopback only; bounded by N.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import shutil
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests import floor
from loadtests.bench_ca import make_ca
from tests.csr_factory import make_csr
from tests.enrollment_codes import make_codes


def client(url: str, ca_pem: str, jobs: list[tuple[str, str, bytes]], concurrency: int,
           results: multiprocessing.Queue) -> None:  # fmt: skip
    import aiohttp

    async def run() -> None:
        context = ssl.create_default_context(cadata=ca_pem)
        latencies: list[float] = []
        failures: list[str] = []
        queue = list(reversed(jobs))
        connector = aiohttp.TCPConnector(ssl=context, limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                while queue:
                    user, secret, body = queue.pop()
                    started = time.perf_counter()
                    headers = {
                        "Content-Type": "application/pkcs10",
                        "Authorization": aiohttp.encode_basic_auth(user, secret),
                    }
                    async with session.post(url, data=body, headers=headers) as answer:
                        payload = await answer.read()
                    latencies.append(time.perf_counter() - started)
                    if answer.status != 200 or b"MII" not in payload:
                        failures.append(f"{answer.status} {payload[:80]!r}")

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        results.put((elapsed, latencies, failures))

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", choices=("soft", "pkcs11"), default="pkcs11")
    parser.add_argument("--floor-count", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-est-"))
    ca = None
    try:
        ca = make_ca(folder, args.backend)
        codes = asyncio.run(make_codes(ca.home, args.count, prefix="bench"))
        jobs = [(user, secret, base64.encodebytes(make_csr([("CN", f"bench-{n}")])))
                for n, (user, secret) in enumerate(codes)]  # fmt: skip
        ca_pem = ca.cli("ca-cert")
        floor_csrs = floor.requests(args.floor_count)
        before = floor.measure(floor_csrs)
        ca.serve(args.workers)
        results: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(
            target=client,
            args=(f"https://{ca.https}/.well-known/est/simpleenroll", ca_pem, jobs,
                  args.concurrency, results),
        )  # fmt: skip
        process.start()
        elapsed, latencies, failures = results.get(timeout=600)
        process.join()
        base = floor.mean(before, floor.measure(floor_csrs))
        print(
            f"EST simpleenroll over TLS, CA key ec-p256 on {args.backend}, "
            f"{args.workers} HTTP worker(s), {args.concurrency} in flight"
        )
        print(base.line(f"floor ({args.floor_count} enrollments, before and after, one core)"))
        rate = floor.Rate.of(len(jobs), elapsed, latencies)
        print(rate.line(f"{len(jobs)} enrollments", base) + f", failures {len(failures)}")
        if failures:
            print("first failures:", failures[:3])
            print("server log (end):", ca.log.read_text()[-3000:])
            sys.exit(1)
    finally:
        if ca is not None:
            ca.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
