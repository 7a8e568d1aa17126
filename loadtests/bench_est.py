"""Benchmark: EST simpleenroll per second over keep-alive TLS, CA key P-256 on SoftHSM2.

    python loadtests/bench_est.py [--count N] [--connections C] [--client-threads T]
                                  [--workers W] [--tls12] [--backend soft|pkcs11]
                                  [--registry sqlite|postgresql]

Makes a CA home (SoftHSM2 token by default), N one-time enrollment codes and N PKCS#10
requests (before the clock starts), starts `python -m server serve` with W HTTP workers,
and drives it with wrk (T threads, C keep-alive TLS connections; 1 and 64 by default),
each request a new code and a new request, sent once. Each is a full enrollment: Basic
authentication with a code, CSR checks, issuance (intent, signature through the pipeline,
verification, registry), the OCSP response of the new certificate, certs-only CMS.
With `--registry postgresql` the registry is a throwaway PostgreSQL cluster started for
the run (loadtests/bench_ca.py, fsync on); its server's CPU is not in the figures.
wrk speaks TLS 1.3 unless --tls12: over TLS 1.2 the server also checks each request for
the session's tls-unique (RFC 7030 3.5), as the EST clients that bind to it need.

The client is wrk, not Python: the aiohttp client this benchmark used took about 0.4 ms
of CPU per request (0.4 of the 2 cores at 1,000/s), wrk takes 0.02-0.05 cores at these
rates. What each side used is printed:
wrk's CPU (cores), and the server's processes' (HTTP workers, signers) in CPU ms per
enrollment. Prints enrollments/s and p50/p99 latency, and the rate as a share of the
floor (loadtests/floor.py) measured before and after it in the same run; every answer
must be 200 with a certificate, or the run fails. Loopback only; bounded by N: when a
wrk thread has sent its last request it stops, so the last C answers in flight are not
counted (the rate errs low by at most C/N).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests import floor
from loadtests.bench_ca import make_ca, registry_url
from loadtests.process_cpu import cpu_seconds
from tests.csr_factory import make_csr
from tests.enrollment_codes import make_codes

_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


# wrk's done(): the failures every thread's response() counted, and the first one's text.
REPORT_FAILURES_LUA = (
    "function done(summary, latency, requests)\n"
    "  local total = 0\n"
    "  for _, thread in ipairs(threads) do\n"
    '    total = total + (tonumber(thread:get("failures")) or 0)\n'
    '    local first = thread:get("first")\n'
    '    if first then io.write("first failure: ", first, "\\n") end\n'
    "  end\n"
    '  io.write("failures: ", total, "\\n")\n'
    "end\n"
)


def write_script(path: Path) -> None:
    """The wrk script: each thread reads the jobs file (given as wrk's script argument),
    keeps its share, and prepares each request once."""
    path.write_text(
        "local threads, jobs, counter, finished = {}, {}, 0, nil\n"
        "function setup(thread)\n"
        '  thread:set("id", counter)\n'
        "  counter = counter + 1\n"
        "  table.insert(threads, thread)\n"
        "end\n"
        "local sent, answered, failures = 0, 0, 0\n"
        "function init(args)\n"
        '  local mine, n = tonumber(wrk.thread:get("id")), 0\n'
        "  local count = tonumber(args[2])\n"
        "  finished = args[3] .. mine\n"
        "  for line in io.lines(args[1]) do\n"
        "    if n % count == mine then\n"
        '      local basic, body = line:match("^(%S+) (%S+)$")\n'
        "      local headers = {\n"
        '        ["Content-Type"] = "application/pkcs10",\n'
        '        ["Authorization"] = "Basic " .. basic,\n'
        "      }\n"
        '      table.insert(jobs, wrk.format("POST", nil, headers, (body:gsub("|", "\\n"))))\n'
        "    end\n"
        "    n = n + 1\n"
        "  end\n"
        "end\n"
        "function request()\n"
        "  if sent >= #jobs then\n"
        '    io.open(finished, "w"):close()\n'
        "    wrk.thread:stop()\n"
        '    return ""\n'
        "  end\n"
        "  sent = sent + 1\n"
        "  return jobs[sent]\n"
        "end\n"
        "function response(status, headers, body)\n"
        '  if status ~= 200 or not body:find("MII", 1, true) then\n'
        "    failures = failures + 1\n"
        "    if failures == 1 then\n"
        '      wrk.thread:set("first", status .. " " .. body:sub(1, 80))\n'
        "    end\n"
        "  end\n"
        '  wrk.thread:set("failures", failures)\n'
        "end\n" + REPORT_FAILURES_LUA
    )


def write_jobs(path: Path, codes: list[tuple[str, str]], bodies: list[bytes]) -> None:
    """One line per enrollment: the Basic credentials, the base64 body ("|" for LF)."""
    with path.open("w") as out:
        for (user, secret), body in zip(codes, bodies, strict=True):
            basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
            out.write(f"{basic} {body.decode().replace(chr(10), '|')}\n")


def descendants(root: int) -> dict[str, list[int]]:
    """The processes under `root`, `root` included, by kind: "workers" (HTTP workers),
    "signers" (hsm.signer_process), "serve" (the supervisor)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    kinds: dict[str, list[int]] = {"serve": [root], "workers": [], "signers": []}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid in (pid for pid, ppid in parents.items() if ppid == parent):
            frontier.append(pid)
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"hsm.signer_process" in command:
                kinds["signers"].append(pid)
            elif b"multiprocessing" in command:
                kinds["workers"].append(pid)
    return kinds


def cpu_by_kind(kinds: dict[str, list[int]]) -> dict[str, float]:
    return {kind: sum(cpu_seconds(pid) for pid in pids) for kind, pids in kinds.items()}


# OpenSSL's configuration for a client that offers TLS 1.2 at most (wrk has no option).
TLS12_ONLY = """openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MaxProtocol = TLSv1.2
"""


def run_wrk(
    url: str, script: Path, jobs: Path, connections: int, threads: int, tls12: bool
) -> tuple[str, float]:
    """wrk's report and the CPU seconds it used. wrk runs for its -d duration whatever its
    threads do, so it is interrupted (its own way to end early) once every thread has sent
    its last request, which each says by making a file `<jobs>.finished<thread>`. With
    `tls12`, wrk offers TLS 1.2 at most."""
    env = dict(os.environ)
    if tls12:
        env["OPENSSL_CONF"] = str(jobs.with_name("tls12.cnf"))
        Path(env["OPENSSL_CONF"]).write_text(TLS12_ONLY)
    finished = [jobs.with_name(f"{jobs.name}.finished{n}") for n in range(threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    args = ["wrk", f"-t{threads}", f"-c{connections}", "-d600s", "--latency", "--timeout", "30s",
            "-s", str(script), url, "--", str(jobs), str(threads),
            str(jobs.with_name(jobs.name + ".finished"))]  # fmt: skip
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) as wrk:
        while wrk.poll() is None and not all(path.exists() for path in finished):
            time.sleep(0.005)
        wrk.send_signal(signal.SIGINT)
        out, _ = wrk.communicate(timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--client-threads", type=int, default=1, help="wrk -t")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--tls12", action="store_true", help="the client offers TLS 1.2 at most (tls-unique)"
    )
    parser.add_argument("--backend", choices=("soft", "pkcs11"), default="pkcs11")
    parser.add_argument("--floor-count", type=int, default=1000)
    parser.add_argument("--registry", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="bench-est-"))
    ca = None
    cluster = contextlib.ExitStack()
    try:
        ca = make_ca(folder, args.backend, registry_url(args.registry, cluster))
        codes = asyncio.run(make_codes(ca.home, args.count, prefix="bench"))
        bodies = [base64.encodebytes(make_csr([("CN", f"bench-{n}")])) for n in range(args.count)]
        jobs, script = folder / "jobs.txt", folder / "est.lua"
        write_jobs(jobs, codes, bodies)
        write_script(script)
        floor_csrs = floor.requests(args.floor_count)
        before = floor.measure(floor_csrs)
        ca.serve(args.workers)
        assert ca.server is not None
        server = descendants(ca.server.pid)
        cpu_before = cpu_by_kind(server)
        started = time.perf_counter()
        out, client_cpu = run_wrk(
            f"https://{ca.https}/.well-known/est/simpleenroll", script, jobs,
            args.connections, args.client_threads, args.tls12,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        cpu = {kind: used - cpu_before[kind] for kind, used in cpu_by_kind(server).items()}
        server_cpu = sum(cpu.values())
        base = floor.mean(before, floor.measure(floor_csrs))
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        latency = {q: float(v) * _UNITS[u] for q, v, u in _LATENCY.findall(out)}
        failures = int(re.search(r"failures: (\d+)", out).group(1))  # type: ignore[union-attr]
        # a thread that has sent its last request stops with its write unsent: "write"
        errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write \d+, timeout (\d+)", out
        )
        print(
            f"EST simpleenroll over keep-alive TLS, CA key ec-p256 on {args.backend}, "
            f"registry {args.registry}, "
            f"{args.workers} HTTP worker(s), wrk -t{args.client_threads} "
            f"-c{args.connections}{' TLS 1.2' if args.tls12 else ''}, {os.cpu_count()} CPUs"
        )
        print(base.line(f"floor ({args.floor_count} enrollments, before and after, one core)"))
        measured = floor.Rate(rate, latency.get("50", 0.0), latency.get("99", 0.0))
        print(measured.line(f"{done} enrollments", base) + f", failures {failures}")
        parts = ", ".join(f"{kind} {1000 * cpu[kind] / done:.2f}" for kind in cpu)
        print(
            f"CPU: server {1000 * server_cpu / done:.2f} ms per enrollment ({parts}; "
            f"{server_cpu / elapsed:.2f} cores), wrk {client_cpu / elapsed:.2f} cores"
        )
        if (
            failures
            or (errors and any(int(n) for n in errors.groups()))
            or done < args.count - args.connections
        ):
            print(out)
            print("server log (end):", ca.log.read_text()[-3000:])
            sys.exit(1)
    finally:
        if ca is not None:
            ca.stop()
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
