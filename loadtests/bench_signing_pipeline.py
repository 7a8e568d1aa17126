"""Benchmark: signatures/s and latency through the signing pipeline, from a busy event loop.

    python loadtests/bench_signing_pipeline.py [--quick] [--seconds S] [--no-http]
        [--paramset A] [--gost512] [--repeats N] [--loop-work-us W] [--reference-http]
        [--reference-only]

Two parts. Every event loop here is uvloop's, as in `serve`'s workers and signer processes.

The reference (issue #16). For P-256 and GOST R 34.10-2012 256-bit (gost-engine's
parameter set `--paramset`, CryptoPro-A by default; 512-bit TC26-A too with `--gost512`):
the signing library's own single-core loop, loadtests/engine_sign_loop.c compiled here
with `cc` against the system libcrypto (the GOST engine loaded by ENGINE_by_id), run just
before and just after the pipeline cells, whose mean is the reference, and once more
beside a process spinning on another CPU (`shared/s`: what a core gives on this machine
beside a busy neighbour, as a signer process has the event loop's; on a VM whose vCPUs
share a core it is well below the loop alone); without `cc` a Python loop stands in,
labelled so. The pipeline cells: the software backend in signer
processes (the configured default count, and 2) fed by SigningPipeline at the configured
batch limit, from `--concurrency` callers that each hold the loop for `--loop-work-us` of
CPU before each sign() (a spin, standing in for a worker decoding a request and building
the to-be-signed bytes), and with `--reference-http` the HTTP load below as well. This
repeats `--repeats` times, interleaved, and prints the range of each ratio. Only GOST
2012-256 has a target: the pipeline at >= 80% of the engine's loop.

The matrix, unless `--reference-only`. For backend (software, SoftHSM2) x algorithm
(P-256, RSA-2048), and GOST 2012-256 (CryptoPro-A) in a token of SoftHSM2 built with its
GOST mechanisms (`softhsm-gost`, when scripts/build_softhsm_gost.sh has built it), x batch
limit (1, 8, 64) x signer processes (1, 2), it runs
`--concurrency` callers of `await pipeline.sign()` for a few seconds in an event loop that
also serves HTTP: an aiohttp server on 127.0.0.1 in the same loop, hammered by a client
process (keep-alive connections, bounded in time). The baseline is the same backend
called directly in a loop in this process, one signature per call, with nothing else
running. Everything is loopback; everything is torn down at the end.
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import PipelineSettings
from hsm import gost_engine
from hsm.backend import KeyAlgorithm, KeyRef, SigningBackend
from hsm.backend_spec import BackendSpec
from hsm.pipeline import SigningPipeline
from hsm.signer_pool import SignerPool
from loadtests.process_cpu import cpu_seconds

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_GOST = Path(__file__).resolve().parent.parent / ".venv" / "softhsm2-gost"
SECRET_ENV = "BENCH_SIGNING_SECRET"
SECRET = "bench-secret-1234"
INIT_TOKEN = ["softhsm2-util", "--init-token", "--free", "--label"]
ALGORITHMS = (KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048)
BATCHES = (1, 8, 64)
SIGNERS = (1, 2)
MESSAGE = b"\x30\x82\x01\x0a" + os.urandom(396)  # about the size of a TBSCertificate
ENGINE_LOOP = Path(__file__).resolve().parent / "engine_sign_loop.c"
TARGET = 0.80  # issue #16: GOST 2012-256 through the pipeline, of the engine's own loop


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
    pool: SignerPool,
    key: KeyRef,
    batch: int,
    seconds: float,
    concurrency: int,
    http: bool,
    work_us: float = 0.0,
) -> Result:
    """`concurrency` callers sign MESSAGE back to back for `seconds`, each first holding
    the loop for `work_us` microseconds of CPU (a spin, standing in for a worker decoding
    a request and building the to-be-signed bytes), with the HTTP client if `http`."""
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
            work = work_us / 1e6
            while (t := clock()) < deadline:
                while clock() - t < work:
                    pass
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


# --- the reference comparison (issue #16) -------------------------------------------------


@dataclass(frozen=True)
class EngineLoop:
    """The library's own single-core loop: the compiled C program, or, without one, a
    Python loop (`program` None) that `label` says is not the engine's own."""

    program: Path | None
    label: str


def build_engine_loop(folder: Path) -> EngineLoop:
    """Compile engine_sign_loop.c with `cc` against the system libcrypto, or say why not."""
    cc = shutil.which("cc")
    if cc is None:
        why = "no C compiler (cc)"
    else:
        program = folder / "engine_sign_loop"
        built = subprocess.run(
            [cc, "-O2", str(ENGINE_LOOP), "-lcrypto", "-o", str(program)],
            capture_output=True,
            text=True,
        )
        if built.returncode == 0:
            return EngineLoop(program, f"C loop ({ENGINE_LOOP.name}, cc -O2 -lcrypto)")
        why = f"cc failed: {built.stderr.strip().splitlines()[-1:]}"
    return EngineLoop(
        None,
        f"PYTHON LOOP, not the engine's own ({why}): hsm/gost_engine.py and cryptography "
        "called once per signature",
    )


def engine_rate(loop: EngineLoop, algorithm: KeyAlgorithm, seconds: float) -> float:
    """Signatures/s of one key of `algorithm` signing MESSAGE in `loop`, on one core."""
    if loop.program is not None:
        name = f"gost2012_{algorithm.gost_bits}" if algorithm.is_gost else "ec-p256"
        paramset = algorithm.gost_paramset if algorithm.is_gost else "-"
        out = subprocess.run(
            [str(loop.program), name, paramset, str(seconds), str(len(MESSAGE))],
            check=True,
            capture_output=True,
            text=True,
        )
        return float(out.stdout)
    if algorithm.is_gost:
        gost = gost_engine.generate_private_key(algorithm.gost_bits, algorithm.gost_paramset)
        try:
            return _python_loop(lambda: gost.sign(MESSAGE), seconds)
        finally:
            gost.close()
    p256, ecdsa = ec.generate_private_key(ec.SECP256R1()), ec.ECDSA(hashes.SHA256())
    return _python_loop(lambda: p256.sign(MESSAGE, ecdsa), seconds)


@contextmanager
def spinning() -> Iterator[None]:
    """Another process spinning on a CPU meanwhile, as the event loop's process is a busy
    neighbour to a signer process. On a VM whose vCPUs share a physical core, or on a busy
    host, the engine's loop is slower beside it: that much of a gap is the machine's."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def _python_loop(sign: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while (end := time.perf_counter()) < deadline:
        for _ in range(64):
            sign()
        count += 64
    return count / (end - start)


def reference_algorithms(paramset: str, gost512: bool) -> list[KeyAlgorithm]:
    """P-256 and the GOST keys asked for; GOST left out, saying why, without the engine."""
    algorithms = [KeyAlgorithm.EC_P256]
    missing = gost_engine.available()
    if missing is not None:
        print(f"GOST LEFT OUT: {missing}", flush=True)
        return algorithms
    algorithms.append(KeyAlgorithm(f"gost2012-256-{paramset.lower()}"))
    if gost512:
        algorithms.append(KeyAlgorithm.GOST2012_512_A)
    return algorithms


def reference(
    spec: BackendSpec, algorithms: list[KeyAlgorithm], run: Path, args: argparse.Namespace
) -> None:
    """Print the interleaved repeats (engine loop, pipeline cells, engine loop) and the
    range of each ratio, and whether GOST 2012-256 met its target in each repeat."""
    settings = PipelineSettings()
    counts = sorted({settings.signer_processes, 2})
    loop = build_engine_loop(run)
    backend = spec.open()
    try:
        keys = {alg: backend.generate_key(f"ref-{alg.value}", alg) for alg in algorithms}
    finally:
        backend.close()
    busy = f"{args.loop_work_us:g} us of CPU on the loop before each sign()" + (
        ", and the HTTP client" if args.reference_http else ""
    )
    print(
        f"\nreference: engine/s = {loop.label}, the mean of a run just before and one just "
        f"after the algorithm's pipeline cells; shared/s = the same loop beside a process "
        f"spinning on another CPU, as a signer is beside the event loop (what a core gives "
        f"here beside a busy neighbour); pipeline = software backend in N signer "
        f"processes ({settings.signer_processes} by default in config), batch limit "
        f"{settings.max_batch}, {busy}; ratio = sig/s / engine/s; eff = ratio per signer "
        f"core used; {args.repeats} interleaved repeats",
        flush=True,
    )
    header = (
        f"{'alg':16} {'signers':>7} {'engine/s':>15} {'shared/s':>8} {'sig/s':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'ratio':>6} {'signerCPU':>9} {'loopCPU':>7} {'eff':>5}"
    )
    print(header)
    print("-" * len(header), flush=True)
    ratios: dict[tuple[KeyAlgorithm, int], list[float]] = {}
    with ExitStack() as stack:
        pools = {n: stack.enter_context(SignerPool(spec, run / f"ref-{n}", n)) for n in counts}
        for _ in range(args.repeats):
            for alg, key in keys.items():
                before = engine_rate(loop, alg, args.seconds)
                cells = {
                    n: uvloop.run(
                        run_cell(
                            pool,
                            key,
                            settings.max_batch,
                            args.seconds,
                            args.concurrency,
                            args.reference_http,
                            args.loop_work_us,
                        )
                    )
                    for n, pool in pools.items()
                }
                after = engine_rate(loop, alg, args.seconds)
                with spinning():
                    shared = engine_rate(loop, alg, args.seconds)
                engine = (before + after) / 2
                for n, r in cells.items():
                    ratio = r.rate / engine
                    ratios.setdefault((alg, n), []).append(ratio)
                    efficiency = ratio / r.signer_cpu if r.signer_cpu else 0.0
                    print(
                        f"{alg.value:16} {n:7} {before:7.0f}/{after:<7.0f} {shared:8.0f} "
                        f"{r.rate:7.0f} "
                        f"{r.p50_ms:7.2f} {r.p99_ms:7.2f} {ratio:6.2f} {r.signer_cpu:9.2f} "
                        f"{r.loop_cpu:7.2f} {efficiency:5.2f}",
                        flush=True,
                    )
    for (alg, n), found in ratios.items():
        span = f"{min(found):.0%}..{max(found):.0%} of the engine's loop"
        if alg.is_gost and alg.gost_bits == 256:
            passed = sum(ratio >= TARGET for ratio in found)
            print(
                f"TARGET GOST 2012-256 ({alg.gost_paramset}), {n} signer process(es): {span}; "
                f">= {TARGET:.0%} in {passed} of {len(found)} repeats",
                flush=True,
            )
        else:
            print(f"{alg.value}, {n} signer process(es): {span} (no target)", flush=True)


# --- set-up --------------------------------------------------------------------------------


@contextmanager
def environment(
    softhsm: bool,
) -> Iterator[dict[str, tuple[BackendSpec, dict[KeyAlgorithm, KeyRef]]]]:
    base = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    os.environ[SECRET_ENV] = SECRET
    try:
        key_dir = base / "keys"
        key_dir.mkdir(mode=0o700)
        specs: dict[str, tuple[BackendSpec, dict[KeyAlgorithm, KeyRef]]] = {}
        soft = BackendSpec(kind="soft", key_dir=str(key_dir), secret_env=SECRET_ENV)
        specs["software"] = (soft, _make_keys(soft))
        if softhsm and Path(SOFTHSM).exists() and shutil.which("softhsm2-util"):
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
            gost_module = SOFTHSM_GOST / "lib" / "softhsm" / "libsofthsm2.so"
            if gost_module.exists():  # the same token folder: one SOFTHSM2_CONF per process
                gost_util = str(SOFTHSM_GOST / "bin" / "softhsm2-util")
                subprocess.run(
                    [gost_util, *INIT_TOKEN[1:], "bench-gost", "--pin", SECRET,
                     "--so-pin", "so-" + SECRET],
                    check=True, capture_output=True,
                )  # fmt: skip
                gost_hsm = BackendSpec(
                    kind="pkcs11", module_path=str(gost_module), token_label="bench-gost",
                    secret_env=SECRET_ENV,
                )  # fmt: skip
                specs["softhsm-gost"] = (
                    gost_hsm, _make_keys(gost_hsm, (KeyAlgorithm.GOST2012_256_A,))
                )  # fmt: skip
            else:
                print(f"SOFTHSM-GOST LEFT OUT: {gost_module} not built", flush=True)
        yield specs
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _make_keys(
    spec: BackendSpec, algorithms: tuple[KeyAlgorithm, ...] = ALGORITHMS
) -> dict[KeyAlgorithm, KeyRef]:
    backend = spec.open()
    try:
        return {alg: backend.generate_key(f"bench-{alg.value}", alg) for alg in algorithms}
    finally:
        backend.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per cell instead of 3")
    parser.add_argument("--seconds", type=float, help="seconds per cell")
    parser.add_argument("--concurrency", type=int, default=256, help="concurrent sign() callers")
    parser.add_argument("--connections", type=int, default=4, help="HTTP client connections")
    parser.add_argument("--no-http", action="store_true", help="leave the event loop idle")
    parser.add_argument("--paramset", default="A", help="GOST 2012-256 parameter set (A)")
    parser.add_argument("--gost512", action="store_true", help="also GOST 2012-512 (TC26-A)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved reference pairs")
    parser.add_argument("--reference-only", action="store_true", help="skip the matrix")
    parser.add_argument(
        "--loop-work-us", type=float, default=20.0, help="reference: loop CPU per sign() (20)"
    )
    parser.add_argument(
        "--reference-http", action="store_true", help="reference: the HTTP client as well"
    )
    parser.add_argument("--http-client", nargs=2, metavar=("PORT", "SECONDS"), help="internal")
    args = parser.parse_args()
    if args.http_client:
        http_client(int(args.http_client[0]), float(args.http_client[1]), args.connections)
        return 0
    if args.paramset.upper() not in gost_engine.PARAMSETS_256:
        parser.error(f"--paramset: one of {', '.join(sorted(gost_engine.PARAMSETS_256))}")
    args.seconds = seconds = args.seconds or (1.0 if args.quick else 3.0)
    args.http = http = not args.no_http
    busy = (
        "also serving HTTP (aiohttp, a JSON answer per GET) to a client process on "
        f"{args.connections} keep-alive connections"
        if http
        else "otherwise idle"
    )
    print(
        f"{os.cpu_count()} CPUs; {seconds:.1f} s per cell; {args.concurrency} callers awaiting "
        f"pipeline.sign() back to back; matrix: event loop {busy}; message {len(MESSAGE)} "
        "octets",
        flush=True,
    )
    with (
        environment(softhsm=not args.reference_only) as specs,
        tempfile.TemporaryDirectory(prefix="run-", dir="/tmp") as run,
    ):
        algorithms = reference_algorithms(args.paramset, args.gost512)
        reference(specs["software"][0], algorithms, Path(run), args)
        if not args.reference_only:
            matrix(specs, Path(run), args)
    return 0


def matrix(
    specs: dict[str, tuple[BackendSpec, dict[KeyAlgorithm, KeyRef]]],
    run: Path,
    args: argparse.Namespace,
) -> None:
    """Backend x algorithm x batch limit x signer processes, against each backend called
    directly."""
    seconds, http = args.seconds, args.http
    print(
        "\nmatrix: direct = backend.sign_many([m]) in a plain loop (best of 3 slices); "
        "signerCPU/loopCPU = cores used; eff = (sig/s per signer core) / direct sig/s",
        flush=True,
    )
    header = (
        f"{'backend':12} {'alg':14} {'batch':>5} {'signers':>7} {'sig/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'HTTP/s':>7} {'direct/s':>9} {'ratio':>6} {'signerCPU':>9} "
        f"{'loopCPU':>7} {'eff':>5}"
    )
    print(header)
    print("-" * len(header), flush=True)
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
                f"{name:12} {alg.value:14} {'direct':>5} {'-':>7} {base.rate:9.0f} "
                f"{base.p50_ms:8.3f} {base.p99_ms:8.3f}",
                flush=True,
            )
        for signers in SIGNERS:
            with SignerPool(spec, run / f"{name}-{signers}", signers) as pool:
                for alg, key in keys.items():
                    for batch in BATCHES:
                        r = uvloop.run(run_cell(pool, key, batch, seconds, args.concurrency, http))
                        ratio = r.rate / baselines[alg].rate
                        # signatures per CPU-second of the signers, relative to direct
                        efficiency = ratio / r.signer_cpu if r.signer_cpu else 0.0
                        print(
                            f"{name:12} {alg.value:14} {batch:5} {signers:7} {r.rate:9.0f} "
                            f"{r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.http_rps:7.0f} "
                            f"{baselines[alg].rate:9.0f} {ratio:6.2f} "
                            f"{r.signer_cpu:9.2f} {r.loop_cpu:7.2f} {efficiency:5.2f}",
                            flush=True,
                        )


if __name__ == "__main__":
    sys.exit(main())
