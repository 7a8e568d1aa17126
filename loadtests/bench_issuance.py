"""Benchmark: certificates issued per second through the whole core.

    python loadtests/bench_issuance.py [--count N] [--concurrency C] [--backend soft|pkcs11]
                                       [--registry sqlite|postgresql]

Each issuance parses and checks a PKCS#10 request, builds the certificate, records the
intent in the registry, signs through the pipeline (signer processes, which verify the
certificate's signature), checks the certificate carries that signature and stores it with
its status row and audit entry. Requests are made before the clock starts (each with a
fresh P-256 key). Prints throughput and latency percentiles, and
the path's rate as a share of the floor (loadtests/floor.py) measured before and after it
in the same run, and the CPU time the core's process (its threads included, the signer
processes not) spent per issuance: a figure that holds when other work shares the machine.
With `--registry postgresql` the registry is a throwaway PostgreSQL cluster started for the
run (tests/postgres.py, fsync on); its server's CPU is not in that figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import load_settings
from loadtests import floor
from server.context import open_ca
from tests.csr_factory import make_csr
from tests.postgres import throwaway_cluster
from tests.softhsm import make_token


def init_home(
    folder: Path, backend: str, registry_url: str | None = None, algorithm: str = "ec-p256"
) -> dict[str, str]:
    env: dict[str, str] = {}
    args = [sys.executable, "-m", "server", "init", "--home", str(folder / "ca"),
            "--algorithm", algorithm]  # fmt: skip
    if registry_url is not None:
        args += ["--registry-url", registry_url]
    if backend == "pkcs11":
        token = make_token(folder)
        env = {**token.environment(), "CA_HSM_PIN": token.pin}
        args += ["--backend", "pkcs11", "--token-label", token.label]
    os.environ.update(env)
    subprocess.run(args, check=True, capture_output=True, env=os.environ)
    return env


async def run(home: Path, count: int, concurrency: int) -> tuple[floor.Rate, float]:
    """The rate of `count` issuances, and the process's CPU seconds per issuance."""
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

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return floor.Rate.of(count, elapsed, latencies), cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", choices=("soft", "pkcs11"), default="soft")
    parser.add_argument("--floor-count", type=int, default=1000)
    parser.add_argument("--registry", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--algorithm", default="ec-p256", help="the CA key's, e.g. gost2012-256 (init --algorithm)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-issuance-"))
    try:
        with contextlib.ExitStack() as stack:
            url = None
            if args.registry == "postgresql":
                cluster = stack.enter_context(throwaway_cluster(durable=True))
                url = asyncio.run(cluster.create_database())
            measure(folder, args, url)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(folder: Path, args: argparse.Namespace, registry_url: str | None) -> None:
    init_home(folder, args.backend, registry_url, args.algorithm)
    print(f"backend {args.backend}, registry {args.registry}, CA key {args.algorithm}, "
          "profile tls-client (P-256 subscriber keys)")  # fmt: skip
    csrs = floor.requests(args.floor_count)
    before = floor.measure(csrs)
    rate, cpu = asyncio.run(run(folder / "ca", args.count, args.concurrency))
    base = floor.mean(before, floor.measure(csrs))
    print(base.line(f"floor ({args.floor_count} enrollments, before and after, one core)"))
    what = f"issuance through the core ({args.count}, concurrency {args.concurrency})"
    print(rate.line(what, base))
    print(f"CPU of the core's process: {cpu * 1000:.2f} ms per issuance")


if __name__ == "__main__":
    main()
