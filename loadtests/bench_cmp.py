"""Benchmark: CMP ir and cr per second over HTTP, CA key P-256 on SoftHSM2 (or soft).

    python loadtests/bench_cmp.py [--count N] [--connections C] [--workers W]
                                  [--backend soft|pkcs11] [--registry sqlite|postgresql]

Makes a CA home, N one-time enrollment codes and, before the clock starts, N `ir` requests
(MAC-protected with each code, implicitConfirm asked, a fresh P-256 key each) and N `cr`
requests (signature-protected by one holder certificate, a fresh key each), all written by
OpenSSL's own `openssl cmp -reqout` against a port nobody listens on. Then it starts
`python -m server serve` with W HTTP workers and replays them with wrk (one thread, C
keep-alive connections, 16 by default), first every ir, then every cr, each request sent
once. Each is a full CMP transaction: header checks, MAC or signature check, transactionID
recorded, CRMF proof of possession, issuance (intent, signature through the pipeline,
verification, registry, OCSP response), the protected answer.

The client is wrk, not Python, as in bench_est.py: the aiohttp client this benchmark used
took about 0.4 ms of CPU per request on the same two cores. Every answer must be a 200
whose PKIBody is an ip (for an ir) or a cp (for a cr), which wrk's script checks; afterwards
the registry must hold one new certificate per request, and a sample of the answers (the
first of each kind and every 100th) is read back with protocols/cmp: each must be the ip/cp
carrying one of those certificates. Otherwise the run fails. Prints requests/s and p50/p99
latency of each kind, the server's CPU per request (HTTP workers, signers) and wrk's, and
each rate as a share of the floor (loadtests/floor.py) measured before and after them in
the same run. With `--registry postgresql` the registry is a throwaway PostgreSQL cluster
started for the run (loadtests/bench_ca.py, fsync on).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509

from config import load_settings
from loadtests import floor
from loadtests.bench_ca import BenchCA, free_port, make_ca, registry_url
from loadtests.bench_est import REPORT_FAILURES_LUA, cpu_by_kind, descendants, run_wrk
from protocols import cmp
from server.context import open_registry
from tests.enrollment_codes import make_codes

ROOT = Path(__file__).resolve().parent.parent
_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SAMPLE_EVERY = 100  # answers read back: each thread's first and every 100th
# PKIBody tags of the answers (RFC 4210 5.1.2, [n] EXPLICIT): ip [1], cp [3].
ANSWER_TAG = {"ir": 0xA1, "cr": 0xA3}


def openssl(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)


def saved_request(folder: Path, name: str, recipient: str, *args: str | Path) -> Path:
    """A request as OpenSSL writes it (-reqout) before it fails to connect: its file."""
    key = folder / f"{name}.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    out = folder / f"{name}.der"
    made = openssl("cmp", "-server", f"127.0.0.1:{free_port()}", "-recipient", recipient,
                   "-newkey", key, "-reqout", out, "-certout", folder / f"{name}.pem",
                   *args)  # fmt: skip
    if not out.exists():
        raise RuntimeError(f"openssl cmp wrote no request: {made.stderr.decode()[-500:]}")
    return out


def write_script(path: Path) -> None:
    """The wrk script: each thread reads the jobs file (given as wrk's script argument; its
    first line: the expected PKIBody tag and where sampled answers go, then one request file
    a line), keeps its share of the request files, reads each once, and sends each once.
    A thread stops when every request it sent is answered; its connections with nothing
    left to send stay idle till then."""
    path.write_text(
        "local threads, jobs, counter = {}, {}, 0\n"
        "local finished, tag, samples\n"
        "function setup(thread)\n"
        '  thread:set("id", counter)\n'
        "  counter = counter + 1\n"
        "  table.insert(threads, thread)\n"
        "end\n"
        "local sent, answered, failures, peek = 0, 0, 0, false\n"
        "function init(args)\n"
        '  local mine, n = tonumber(wrk.thread:get("id")), 0\n'
        "  local count = tonumber(args[2])\n"
        "  finished, peek = args[3] .. mine, mine == 0\n"
        '  local headers = {["Content-Type"] = "application/pkixcmp"}\n'
        "  local lines = io.lines(args[1])\n"
        '  local expected, prefix = lines():match("^(%d+) (%S+)$")\n'
        "  tag, samples = tonumber(expected), prefix .. mine\n"
        "  for name in lines do\n"
        "    if n % count == mine then\n"
        '      local file = io.open(name, "rb")\n'
        '      table.insert(jobs, wrk.format("POST", nil, headers, file:read("*a")))\n'
        "      file:close()\n"
        "    end\n"
        "    n = n + 1\n"
        "  end\n"
        "end\n"
        "function request()\n"
        "  if peek then\n"
        "    -- wrk calls the first thread's request() once before it sends anything, to\n"
        "    -- count the requests it pipelines: that request is not sent\n"
        "    peek = false\n"
        '    return jobs[1] or ""\n'
        "  end\n"
        "  if sent >= #jobs then\n"
        '    return ""\n'
        "  end\n"
        "  sent = sent + 1\n"
        "  return jobs[sent]\n"
        "end\n"
        "local function length_end(body, at)\n"
        "  -- the index of a DER value's last header octet, its tag at `at`\n"
        "  local first = body:byte(at + 1)\n"
        "  if first < 128 then return at + 1, first end\n"
        "  local size = 0\n"
        "  for i = 1, first - 128 do size = size * 256 + body:byte(at + 1 + i) end\n"
        "  return at + 1 + first - 128, size\n"
        "end\n"
        "local function body_tag(body)\n"
        "  -- PKIMessage ::= SEQUENCE { header PKIHeader, body PKIBody, ... }\n"
        "  if #body < 8 or body:byte(1) ~= 0x30 then return nil end\n"
        "  local header = length_end(body, 1) + 1\n"
        "  local last, size = length_end(body, header)\n"
        "  return body:byte(last + size + 1)\n"
        "end\n"
        "function response(status, headers, body)\n"
        "  answered = answered + 1\n"
        "  if status ~= 200 or body_tag(body) ~= tag then\n"
        "    failures = failures + 1\n"
        "    if failures == 1 then\n"
        '      wrk.thread:set("first", status .. " " .. #body .. " octets")\n'
        "    end\n"
        "  end\n"
        "  if answered == 1 or answered % " + str(SAMPLE_EVERY) + " == 0 then\n"
        '    local file = io.open(samples .. "-" .. answered, "wb")\n'
        "    file:write(body)\n"
        "    file:close()\n"
        "  end\n"
        '  wrk.thread:set("failures", failures)\n'
        "  if answered == #jobs then\n"
        '    io.open(finished, "w"):close()\n'
        "    wrk.thread:stop()\n"
        "  end\n"
        "end\n" + REPORT_FAILURES_LUA
    )


async def issued_certificates(home: Path) -> dict[str, bytes]:
    """Every certificate in the registry whose subject names a benchmark code, by serial."""
    registry = await open_registry(load_settings(home))
    try:
        found: dict[str, bytes] = {}
        after = None
        while True:
            page = await registry.search.certificates(None, None, "bench-", 1000, after)
            if not page:
                return found
            found.update((record.serial, record.der or b"") for record in page)
            after = page[-1].serial
    finally:
        await registry.close()


def check_samples(folder: Path, kind: str, certificates: set[bytes]) -> list[str]:
    """What is wrong with the sampled answers of `kind` (none read back: wrong too)."""
    wrong: list[str] = []
    answers = sorted(folder.glob(f"answers-{kind}*"))
    if not answers:
        return [f"no {kind} answer sampled"]
    expected = {"ir": "ip", "cr": "cp"}[kind]
    for path in answers:
        payload = path.read_bytes()
        reply = cmp.parse_pki_message(payload)
        if reply.body_type != expected:
            wrong.append(f"{path.name}: {reply.body_type}: {reply.error_text}")
        elif not any(der in payload for der in certificates):
            wrong.append(f"{path.name}: no certificate issued in this run")
    return wrong


def replay(ca: BenchCA, folder: Path, kind: str, requests: list[Path],
           connections: int) -> dict[str, float | str]:  # fmt: skip
    """Send `requests` once each with wrk; wrk's report and what each process used."""
    jobs, script = folder / f"jobs-{kind}.txt", folder / "cmp.lua"
    answers = folder / f"answers-{kind}"
    jobs.write_text(f"{ANSWER_TAG[kind]} {answers}\n" + "".join(f"{path}\n" for path in requests))
    assert ca.server is not None
    server = descendants(ca.server.pid)
    cpu_before = cpu_by_kind(server)
    started = time.perf_counter()
    out, client_cpu = run_wrk(
        f"http://{ca.http}/.well-known/cmp", script, jobs, connections, 1, False
    )
    elapsed = time.perf_counter() - started
    cpu = {name: used - cpu_before[name] for name, used in cpu_by_kind(server).items()}
    return {"out": out, "elapsed": elapsed, "client": client_cpu, **cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=("soft", "pkcs11"), default="pkcs11")
    parser.add_argument("--floor-count", type=int, default=1000)
    parser.add_argument("--registry", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (apt-get install wrk)")
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
        write_script(folder / "cmp.lua")
        issued_before = asyncio.run(issued_certificates(home))
        floor_csrs = floor.requests(args.floor_count)
        before = floor.measure(floor_csrs)
        runs = {kind: replay(ca, folder, kind, requests, args.connections)
                for kind, requests in (("ir", irs), ("cr", crs))}  # fmt: skip
        base = floor.mean(before, floor.measure(floor_csrs))
        issued = asyncio.run(issued_certificates(home))
        new = {der for serial, der in issued.items() if serial not in issued_before}
        print(f"CMP over HTTP, CA key ec-p256 on {args.backend}, registry {args.registry}, "
              f"{args.workers} HTTP worker(s), wrk -t1 -c{args.connections}, "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        print(base.line(f"floor ({args.floor_count} enrollments, before and after, one core)"))
        wrong: list[str] = []
        for (kind, run), protection in zip(runs.items(), ("MAC (PBM)", "signature"), strict=True):
            out = str(run["out"])
            rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
            done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
            latency = {q: float(v) * _UNITS[u] for q, v, u in _LATENCY.findall(out)}
            failures = int(re.search(r"failures: (\d+)", out).group(1))  # type: ignore[union-attr]
            measured = floor.Rate(rate, latency.get("50", 0.0), latency.get("99", 0.0))
            print(measured.line(f"{kind} ({protection}), {done}", base) + f", failures {failures}")
            server_cpu = sum(float(run[name]) for name in ("serve", "workers", "signers"))
            elapsed = float(run["elapsed"])
            parts = ", ".join(
                f"{name} {1000 * float(run[name]) / done:.2f}"
                for name in ("workers", "signers", "serve")
            )
            print(f"  CPU: server {1000 * server_cpu / done:.2f} ms per request ({parts}; "
                  f"{server_cpu / elapsed:.2f} cores), wrk {float(run['client']) / elapsed:.2f}"
                  " cores")  # fmt: skip
            if failures or done != args.count:
                wrong.append(f"{kind}: {done} answered of {args.count}, {failures} not an "
                             f"{'ip' if kind == 'ir' else 'cp'}:\n{out}")  # fmt: skip
            wrong += check_samples(folder, kind, new)
        if len(new) != 2 * args.count:
            wrong.append(f"{len(new)} certificates issued for {2 * args.count} requests")
        if wrong:
            print("failed:", *wrong[:5], sep="\n")
            print("server log (end):", ca.log.read_text()[-3000:])
            sys.exit(1)
    finally:
        if ca is not None:
            ca.stop()
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
