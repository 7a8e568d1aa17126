"""Benchmark: CMP ir and cr per second over HTTP, CA key P-256 on SoftHSM2 (or soft).

    python loadtests/bench_cmp.py [--count N] [--concurrency C] [--workers W]
                                  [--backend soft|pkcs11] [--registry sqlite|postgresql]

Makes a CA home, N one-time enrollment codes and, before the clock starts, N `ir` requests
(MAC-protected with each code, implicitConfirm asked, a fresh P-256 key each) and N `cr`
requests (signature-protected by one holder certificate, a fresh key each), all written by
OpenSSL's own `openssl cmp -reqout` against a port nobody listens on. Then it starts
`python -m server serve` and replays them from a separate client process (aiohttp,
keep-alive, C requests in flight), each answer read back: every one must be an ip / cp
with a certificate, or the run fails. Each request is a full CMP transaction: header
checks, MAC or signature check, transactionID recorded, CRMF proof of possession,
issuance (intent, signature through the pipeline, verification, registry, OCSP response),
the protected answer. Prints requests/s and p50/p99 latency of each kind, and each rate
as a share of the floor (loadtests/floor.py) measured before and after them in the same run.
With `--registry postgresql` the registry is a throwaway PostgreSQL cluster started for
the run (loadtests/bench_ca.py, fsync on).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509

from loadtests import floor
from loadtests.bench_ca import free_port, make_ca, registry_url
from protocols import cmp
from tests.enrollment_codes import make_codes

ROOT = Path(__file__).resolve().parent.parent


def openssl(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)


def saved_request(folder: Path, name: str, recipient: str, *args: str | Path) -> bytes:
    """A request as OpenSSL writes it (-reqout) before it fails to connect."""
    key = folder / f"{name}.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    out = folder / f"{name}.der"
    made = openssl("cmp", "-server", f"127.0.0.1:{free_port()}", "-recipient", recipient,
                   "-newkey", key, "-reqout", out, "-certout", folder / f"{name}.pem",
                   *args)  # fmt: skip
    if not out.exists():
        raise RuntimeError(f"openssl cmp wrote no request: {made.stderr.decode()[-500:]}")
    return out.read_bytes()


def client(url: str, jobs: list[tuple[str, bytes]], concurrency: int,
           results: multiprocessing.Queue) -> None:  # fmt: skip
    import aiohttp

    async def run() -> None:
        latencies: dict[str, list[float]] = {}
        failures: list[str] = []
        elapsed: dict[str, float] = {}
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            for kind in ("ir", "cr"):
                queue = [body for k, body in reversed(jobs) if k == kind]
                times = latencies.setdefault(kind, [])

                async def worker(queue: list[bytes] = queue, times: list[float] = times) -> None:
                    while queue:
                        body = queue.pop()
                        started = time.perf_counter()
                        headers = {"Content-Type": "application/pkixcmp"}
                        async with session.post(url, data=body, headers=headers) as answer:
                            payload = await answer.read()
                        times.append(time.perf_counter() - started)
                        reply = cmp.parse_pki_message(payload)
                        if reply.body_type not in ("ip", "cp"):
                            failures.append(f"{reply.body_type}: {reply.error_text}")

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                elapsed[kind] = time.perf_counter() - started
        results.put((elapsed, latencies, failures))

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", choices=("soft", "pkcs11"), default="pkcs11")
    parser.add_argument("--floor-count", type=int, default=1000)
    parser.add_argument("--registry", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-cmp-"))
    ca = None
    cluster = contextlib.ExitStack()
    try:
        url = registry_url(args.registry, cluster)
        ca = make_ca(folder, args.backend, url, CA_CMP__MAX_CLOCK_SKEW_SECONDS="3600")
        home, http, cli = ca.home, ca.http, ca.cli
        ca_pem = folder / "ca.pem"
        ca_pem.write_text(cli("ca-cert"))
        subject = x509.load_pem_x509_certificate(ca_pem.read_bytes()).subject
        recipient = "/" + "/".join(reversed(subject.rfc4514_string().split(",")))
        codes = asyncio.run(make_codes(home, args.count + 1, prefix="bench"))
        holder_ref, holder_secret = codes.pop()
        holder_subject = f"/CN=bench-{args.count}"  # make_codes' subject of the last code
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            irs = list(pool.map(
                lambda item: saved_request(
                    folder, f"ir-{item[0]}", recipient, "-cmd", "ir", "-ref", item[1][0],
                    "-secret", f"pass:{item[1][1]}", "-subject", f"/CN=bench-{item[0]}",
                    "-implicit_confirm",
                ),
                enumerate(codes),
            ))  # fmt: skip
        ca.serve(args.workers)
        holder, holder_key = folder / "holder.pem", folder / "holder.key"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", holder_key)  # fmt: skip
        enrolled = openssl("cmp", "-server", f"{http}/.well-known/cmp", "-recipient", recipient,
                           "-cmd", "ir", "-ref", holder_ref, "-secret", f"pass:{holder_secret}",
                           "-subject", holder_subject, "-newkey", holder_key,
                           "-implicit_confirm", "-certout", holder)  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            crs = list(pool.map(
                lambda n: saved_request(
                    folder, f"cr-{n}", recipient, "-cmd", "cr", "-cert", holder,
                    "-key", holder_key, "-subject", holder_subject, "-implicit_confirm",
                ),
                range(args.count),
            ))  # fmt: skip
        print(f"made {len(irs)} ir and {len(crs)} cr requests with openssl cmp in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        jobs = [("ir", body) for body in irs] + [("cr", body) for body in crs]
        floor_csrs = floor.requests(args.floor_count)
        before = floor.measure(floor_csrs)
        results: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(
            target=client,
            args=(f"http://{http}/.well-known/cmp", jobs, args.concurrency, results),
        )
        process.start()
        elapsed, latencies, failures = results.get(timeout=900)
        process.join()
        base = floor.mean(before, floor.measure(floor_csrs))
        print(f"CMP over HTTP, CA key ec-p256 on {args.backend}, registry {args.registry}, "
              f"{args.workers} HTTP worker(s), {args.concurrency} in flight")  # fmt: skip
        print(base.line(f"floor ({args.floor_count} enrollments, before and after, one core)"))
        for kind, protection in (("ir", "MAC (PBM)"), ("cr", "signature")):
            times = latencies[kind]
            rate = floor.Rate.of(len(times), elapsed[kind], times)
            print(rate.line(f"{kind} ({protection}), {len(times)}", base))
        print(f"failures {len(failures)}")
        if failures:
            print("first failures:", failures[:3])
            print("server log (end):", ca.log.read_text()[-3000:])
            sys.exit(1)
    finally:
        if ca is not None:
            ca.stop()
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
