"""Benchmark: signatures/s and latency through the signing pipeline, from a busy event loop.

    python loadtests/bench_signing_pipeline.py [--quick] [--seconds S] [--no-http]

For backend (software, SoftHSM2) x algorithm (P-256, RSA-2048) x batch limit (1, 8, 64) x
signer processes (1, 2), it runs `--concurrency` callers of `await pipeline.sign()` for a
few seconds in an event loop that also serves HTTP: an aiohttp server on 127.0.0.1 in the
same loop, hammered by a client process (keep-alive connections, bounded in time). The
baseline is the same backend called directly in a loop in this process, one signature per
call, with nothing else running. Everything is loopback; everything is torn down at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hsm.backend import KeyAlgorithm, KeyRef, SigningBackend
from hsm.backend_spec import BackendSpec
from hsm.pipeline import SigningPipeline
from hsm.signer_pool import SignerPool
from loadtests.process_cpu import cpu_seconds

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
SECRET_ENV = "BENCH_SIGNING_SECRET"
SECRET = "bench-secret-1234"
INIT_TOKEN = ["softhsm2-util", "--init-token", "--free", "--label"]
ALGORITHMS = (KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048)
BATCHES = (1, 8, 64)
SIGNERS = (1, 2)
MESSAGE = b"\x30\x82\x01\x0a" + os.urandom(300)  # about the size of a small TBSCertificate


@dataclass
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    http_rps: float = 0.0
    signer_cpu: float = 0.0  # cores used by the signer processes during the cell
    loop_cpu: float = 0.0  # cores used by this (event loop) process during the cell


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# --- HTTP load: a client process hammering the loop's server ------------------------------


def http_client(port: int, seconds: float, connections: int) -> None:
    """Run in a child process: GET / on keep-alive connections until the deadline."""
    deadline = time.monotonic() + seconds
    counts = [0] * connections

    def hammer(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline and counts[i] < 2_000_000:
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                return
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


async def handle(request: web.Request) -> web.Response:
    served = request.app[SERVED]
    served[0] += 1
    if served[0] == 50:
        request.app[WARM].set()
    return web.json_response({"status": "good", "served": served[0]})


SERVED = web.AppKey("served", list)
WARM = web.AppKey("warm", asyncio.Event)


async def run_cell(
    pool: SignerPool, key: KeyRef, batch: int, seconds: float, concurrency: int, http: bool
) -> Result:
    sockets = pool.socket_paths
    app = web.Application()
    app[SERVED] = [0]
    app[WARM] = asyncio.Event()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = None
    if http:
        client = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--http-client", str(port), str(seconds + 2)
        )
    pipeline = SigningPipeline(sockets, max_batch=batch, max_queue=100_000)
    await pipeline.start()
    latencies: list[float] = []
    try:
        for _ in range(50):  # warm up keys and connections
            await pipeline.sign(key, MESSAGE)
        if http:
            await app[WARM].wait()  # the client is connected and hammering
        served0 = app[SERVED][0]
        cpu0 = sum(cpu_seconds(pid) for pid in pool.pids), time.process_time()
        start = time.perf_counter()
        deadline = start + seconds

        async def caller() -> None:
            clock = time.perf_counter
            while clock() < deadline:
                t = clock()
                await pipeline.sign(key, MESSAGE)
                latencies.append(clock() - t)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        signer_cpu = (sum(cpu_seconds(pid) for pid in pool.pids) - cpu0[0]) / elapsed
        loop_cpu = (time.process_time() - cpu0[1]) / elapsed
        served = app[SERVED][0] - served0
    finally:
        await pipeline.close()
        if client is not None:
            if client.returncode is None:
                client.terminate()
            await client.wait()
        await runner.cleanup()
    latencies.sort()
    return Result(
        len(latencies) / elapsed,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        served / elapsed,
        signer_cpu,
        loop_cpu,
    )


def direct(backend: SigningBackend, key: KeyRef, seconds: float) -> Result:
    """The baseline: one signature per backend call, in a plain loop. The best of three
    slices, so that a moment of outside load does not flatter the pipeline."""
    backend.sign_many(key, [MESSAGE])
    clock = time.perf_counter
    best: Result | None = None
    for _ in range(3):
        latencies = []
        start = clock()
        deadline = start + seconds / 3
        while (t := clock()) < deadline:
            backend.sign_many(key, [MESSAGE])
            latencies.append(clock() - t)
        elapsed = clock() - start
        latencies.sort()
        result = Result(
            len(latencies) / elapsed,
            percentile(latencies, 0.5) * 1000,
            percentile(latencies, 0.99) * 1000,
        )
        if best is None or result.rate > best.rate:
            best = result
    assert best is not None
    return best


# --- set-up --------------------------------------------------------------------------------


@contextmanager
def environment() -> Iterator[dict[str, tuple[BackendSpec, dict[KeyAlgorithm, KeyRef]]]]:
    base = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    os.environ[SECRET_ENV] = SECRET
    try:
        key_dir = base / "keys"
        key_dir.mkdir(mode=0o700)
        specs: dict[str, tuple[BackendSpec, dict[KeyAlgorithm, KeyRef]]] = {}
        soft = BackendSpec(kind="soft", key_dir=str(key_dir), secret_env=SECRET_ENV)
        specs["software"] = (soft, _make_keys(soft))
        if Path(SOFTHSM).exists() and shutil.which("softhsm2-util"):
            (base / "tokens").mkdir()
            conf = base / "softhsm2.conf"
            conf.write_text(f"directories.tokendir = {base / 'tokens'}\nlog.level = ERROR\n")
            os.environ["SOFTHSM2_CONF"] = str(conf)
            subprocess.run(
                [*INIT_TOKEN, "bench", "--pin", SECRET, "--so-pin", "so-" + SECRET],
                check=True,
                capture_output=True,
            )
            hsm = BackendSpec(
                kind="pkcs11", module_path=SOFTHSM, token_label="bench", secret_env=SECRET_ENV
            )
            specs["softhsm"] = (hsm, _make_keys(hsm))
        yield specs
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _make_keys(spec: BackendSpec) -> dict[KeyAlgorithm, KeyRef]:
    backend = spec.open()
    try:
        return {alg: backend.generate_key(f"bench-{alg.value}", alg) for alg in ALGORITHMS}
    finally:
        backend.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per cell instead of 3")
    parser.add_argument("--seconds", type=float, help="seconds per cell")
    parser.add_argument("--concurrency", type=int, default=256, help="concurrent sign() callers")
    parser.add_argument("--connections", type=int, default=4, help="HTTP client connections")
    parser.add_argument("--no-http", action="store_true", help="leave the event loop idle")
    parser.add_argument("--http-client", nargs=2, metavar=("PORT", "SECONDS"), help="internal")
    args = parser.parse_args()
    if args.http_client:
        http_client(int(args.http_client[0]), float(args.http_client[1]), args.connections)
        return 0
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    http = not args.no_http
    print(
        f"{os.cpu_count()} CPUs; {seconds:.1f} s per cell; {args.concurrency} callers; "
        f"event loop {'serving HTTP to a client process' if http else 'idle'}; "
        "direct = backend.sign_many([m]) in a plain loop (best of 3 slices); "
        "signerCPU/loopCPU = cores used; eff = (sig/s per signer core) / direct sig/s",
        flush=True,
    )
    header = (
        f"{'backend':9} {'alg':9} {'batch':>5} {'signers':>7} {'sig/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'HTTP/s':>7} {'direct/s':>9} {'ratio':>6} {'signerCPU':>9} "
        f"{'loopCPU':>7} {'eff':>5}"
    )
    print(header)
    print("-" * len(header), flush=True)
    with environment() as specs, tempfile.TemporaryDirectory(prefix="run-", dir="/tmp") as run:
        for name, (spec, keys) in specs.items():
            baselines = {}
            backend = spec.open()
            try:
                for alg, key in keys.items():
                    baselines[alg] = direct(backend, key, seconds)
            finally:
                backend.close()
            for alg, base in baselines.items():
                print(
                    f"{name:9} {alg.value:9} {'direct':>5} {'-':>7} {base.rate:9.0f} "
                    f"{base.p50_ms:8.3f} {base.p99_ms:8.3f}",
                    flush=True,
                )
            for signers in SIGNERS:
                with SignerPool(spec, Path(run) / f"{name}-{signers}", signers) as pool:
                    for alg, key in keys.items():
                        for batch in BATCHES:
                            r = asyncio.run(
                                run_cell(pool, key, batch, seconds, args.concurrency, http)
                            )
                            ratio = r.rate / baselines[alg].rate
                            # signatures per CPU-second of the signers, relative to direct
                            efficiency = ratio / r.signer_cpu if r.signer_cpu else 0.0
                            print(
                                f"{name:9} {alg.value:9} {batch:5} {signers:7} {r.rate:9.0f} "
                                f"{r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.http_rps:7.0f} "
                                f"{baselines[alg].rate:9.0f} {ratio:6.2f} "
                                f"{r.signer_cpu:9.2f} {r.loop_cpu:7.2f} {efficiency:5.2f}",
                                flush=True,
                            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
