"""Benchmark: how OCSP grows with the registry: start-up, memory per worker, answer rates.

    python loadtests/bench_ocsp_scale.py [--certs N] [--workers W] [--seconds S]
                                         [--home DIR]

Makes a CA home (or reuses `--home`, seeded once and kept: seeding 1,000,000 takes
minutes), seeds its registry with N certificates, 10% revoked (loadtests/seed_registry.py:
benchmark seeding that bypasses issuance, no OCSP responses), and starts
`python -m server serve` with W workers and the dedicated OCSP listener:

  1. first start: time to `serving`, to the first correct answer, until every missing
     response is signed and stored (the signing rate), and until the node's OCSP index file
     reflects them all;
  2. restart: time to `serving` and to correct answers for a sample of serials (good and
     revoked), the figure issue #14 bounds at 10 s for 1,000,000 certificates;
  3. memory of each worker (from /proc/PID/smaps_rollup): RSS, PSS (shared pages divided
     among the processes mapping them) and private (anonymous and private pages: what each
     worker adds), after the answer-rate cells touched the requests' responses;
  4. wrk (keep-alive, one thread, C connections, S seconds): (a) GET pre-signed, (c) POST
     with a nonce, signed live, each over R random seeded serials.

Every answer of the samples is checked (status as seeded, the serial, the signature). The
temp folder is removed at the end; a `--home` is kept.

Measured on the 2-core machine shared with other work (load average about 5), 2 workers,
before (every worker loading every response) and after the node's OCSP index file:
- 100,000 certificates, the same minute: missing responses signed at 1,177/s (serving only
  after 85 s) against 4,204/s (serving after 4.2 s); restart 11.6 s against 5.9 s; per
  worker RSS 287 against 177 MiB, PSS 267 against 112, private 263 against 65.
- 1,000,000 certificates: restart 167.5 s against 11.7 s (of which the OCSP part, from
  the worker's start of status publication to serving, 0.1 s: the rest is starting Python
  processes on a loaded machine); per worker RSS 2,064 against 891 MiB (the mapped file's
  pages, shared), PSS 2,042 against 471, private 2,038 against 68; missing responses
  signed in `serve` at 2,877/s while the file was written anew nine times.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import load_settings
from loadtests.bench_ocsp import (
    ROOT,
    Processes,
    Request,
    check_answer,
    cli,
    export_material,
    fetch,
    get_path,
    make_requests,
    run_wrk,
    stored_responses,
    temp_folder,
    wait_for_line,
    write_lua,
)
from loadtests.seed_registry import Seeded, registry_file, seed
from server.status.ocsp_index import IndexCorrupt, OCSPIndex
from tests.ports import free_port

READY_TIMEOUT_S = 3600.0
SAMPLE = 50


def seeded_of(db_path: Path) -> list[Seeded]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT serial, status FROM certificates WHERE profile = 'tls-client'"
            " AND state = 'issued'"
        ).fetchall()
    return [Seeded(int(serial, 16), status == "revoked") for serial, status in rows]


def index_current(path: Path, db_path: Path) -> bool:
    """The index file reflects every stored response (a restart then loads none)."""
    try:
        index = OCSPIndex(path)
    except (OSError, IndexCorrupt):
        return False
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
        last = db.execute("SELECT coalesce(max(seq), 0) FROM ocsp_responses").fetchone()[0]
    index.close()
    return index.seq >= last


def worker_pids(server: subprocess.Popen) -> list[int]:
    """The HTTP workers of `serve` (its children running server.web.serve's worker)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    pids = []
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:  # spawned workers (not the resource tracker)
            pids.append(pid)
    return pids


def memory_of(pid: int) -> dict[str, int]:
    """kB figures of /proc/PID/smaps_rollup."""
    figures = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        figures[name.rstrip(":")] = int(value)
    return figures


def answered(base: str, requests: list[Request], material_responder: object) -> bool:
    try:
        for request in requests:
            check_answer(
                fetch(base + get_path("/ocsp/", request.der), None),
                request,
                material_responder,  # type: ignore[arg-type]
            )
    except (OSError, AssertionError, ValueError):
        return False
    return True


def run(args: argparse.Namespace, folder: Path, processes: Processes) -> None:
    rng = random.Random(args.random_seed)
    home = args.home or folder / "ca"
    port, ocsp_port = free_port(), free_port()
    if not (home / "settings.toml").exists():
        cli(home, "init", "--http", f"127.0.0.1:{port}")
    settings = load_settings(home)
    db_path = registry_file(settings)
    seeded = seeded_of(db_path)
    if len(seeded) < args.certs:
        started = time.perf_counter()
        seed(home, args.certs - len(seeded), 0.1)
        print(f"seeded {args.certs - len(seeded):,} certificates in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        seeded = seeded_of(db_path)
    print(f"registry: {len(seeded):,} certificates, {stored_responses(db_path):,} stored "
          f"OCSP responses", flush=True)  # fmt: skip
    material = export_material(home, folder)
    sample = make_requests(material, seeded, SAMPLE, nonce=False, rng=rng)
    base = f"http://127.0.0.1:{ocsp_port}"

    def start(log: Path) -> tuple[subprocess.Popen, float]:
        env = {**os.environ, "CA_SERVER__WORKERS": str(args.workers),
               "CA_SERVER__OCSP": f"127.0.0.1:{ocsp_port}"}  # fmt: skip
        started = time.perf_counter()
        server = processes.start(
            [sys.executable, "-m", "server", "serve", "--home", str(home),
             "--http", f"127.0.0.1:{port}"], log, cwd=ROOT, env=env,
        )  # fmt: skip
        wait_for_line(log, server, "serving CA", READY_TIMEOUT_S)
        serving = time.perf_counter() - started
        while not answered(base, sample, material.responder):
            if server.poll() is not None or time.perf_counter() - started > READY_TIMEOUT_S:
                raise RuntimeError(f"no correct answers: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        first = time.perf_counter() - started
        print(f"  `serving` after {serving:.1f} s, {SAMPLE} correct answers after {first:.1f} s",
              flush=True)  # fmt: skip
        return server, started

    missing = len(seeded) - stored_responses(db_path)
    print(f"start 1 ({args.workers} workers), {missing:,} responses missing", flush=True)
    server, started = start(folder / "server-1.log")
    while (stored := stored_responses(db_path)) < len(seeded):
        if server.poll() is not None:
            raise RuntimeError("the server exited while signing the missing responses")
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    print(f"  every response stored after {seconds:.1f} s ({missing / seconds:,.0f} signed/s "
          f"since the start)", flush=True)  # fmt: skip
    index_path = settings.resolve(settings.ocsp.index_file)
    while not index_current(index_path, db_path):
        if server.poll() is not None or time.perf_counter() - started > READY_TIMEOUT_S:
            raise RuntimeError("the OCSP index file was not written")
        time.sleep(0.5)
    print(f"  the node's OCSP index file current after {time.perf_counter() - started:.1f} s "
          f"({index_path.stat().st_size / 2**20:,.0f} MiB)", flush=True)  # fmt: skip
    processes.stop(server)

    print(f"start 2 ({args.workers} workers), restart with {stored:,} stored responses",
          flush=True)  # fmt: skip
    server, _ = start(folder / "server-2.log")

    plain = make_requests(material, seeded, args.requests, nonce=False, rng=rng)
    nonced = make_requests(material, seeded, args.requests, nonce=True, rng=rng)
    get_lua, nonce_lua = folder / "get.lua", folder / "nonce.lua"
    write_lua(get_lua, "GET", [(get_path("/ocsp/", r.der), None) for r in plain])
    write_lua(nonce_lua, "POST", [("/ocsp", r.der) for r in nonced])
    for scenario, script in (("(a) GET pre-signed", get_lua), ("(c) POST nonce", nonce_lua)):
        result = run_wrk(scenario, "ours", base + "/ocsp", script, args.seconds,
                         args.connections)  # fmt: skip
        print(f"  {scenario:<20} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:.2f} ms  "
              f"p99 {result.p99_ms:.2f} ms" + (f"  ({result.errors})" if result.errors else ""),
              flush=True)  # fmt: skip
    for pid in worker_pids(server):
        figures = memory_of(pid)
        private = figures["Private_Clean"] + figures["Private_Dirty"]
        print(f"  worker {pid}: RSS {figures['Rss'] / 1024:,.0f} MiB, PSS "
              f"{figures['Pss'] / 1024:,.0f} MiB, private {private / 1024:,.0f} MiB",
              flush=True)  # fmt: skip
    processes.stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk cell")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--requests", type=int, default=2000, help="distinct requests")
    parser.add_argument("--home", type=Path, help="a CA home to reuse (kept)")
    parser.add_argument("--random-seed", type=int, default=1)
    args = parser.parse_args()
    processes = Processes()
    with temp_folder() as folder:
        try:
            run(args, folder, processes)
        finally:
            processes.stop_all()
            if args.home is not None:  # the servers' logs stay beside the kept home
                for log in folder.glob("server-*.log"):
                    shutil.copy(log, args.home / log.name)


if __name__ == "__main__":
    main()
