"""Benchmark: OCSP answers per second and latency, against cfssl, openssl and nginx.

    python loadtests/bench_ocsp.py [--certs N] [--seconds S] [--workers W]
                                   [--connections C] [--requests R] [--rounds T]

Makes a CA home in a temp folder, seeds its registry with N real certificates, 10% of them
revoked (loadtests/seed_registry.py: benchmark seeding that bypasses issuance), starts
`python -m server serve` with W HTTP workers, which signs the N missing pre-signed responses
at start-up (timed; with one worker, then restarted with W workers, which load them, also
timed), and drives it with wrk (keep-alive, one thread, C connections) for S
seconds per cell, each request picked at random among R pre-built ones for random seeded
serials (good and revoked):

  (a) GET /ocsp/<url-encoded base64 request>, no nonce: a pre-signed response;
  (b) POST /ocsp, no nonce: the same pre-signed responses;
  (c) POST /ocsp with a nonce (each request its own): signed live.

Baselines, same machine, same certificates, same wrk settings:
  - `cfssl ocspserve` over our server's pre-signed responses, driven like (a);
  - `openssl ocsp -port ... -multi 2` signing live from an OpenSSL index.txt with the same
    serials and statuses, with our responder key and certificate, driven like (c);
  - nginx serving one response's bytes as a static file: the HTTP ceiling.

The machine's speed drifts by tens of per cent within minutes, so the pairs with a target
run in turns, T rounds of (a), nginx, (c), openssl, with every server up, and each such
ratio is the median of its rounds' ratios (all are printed).

Before the cells a sample of answers is checked (successful, the right serial, good or
revoked as seeded, the nonce echoed, the signature verifying with the responder
certificate): a benchmark measuring error answers would be worthless. Everything runs on
127.0.0.1; every process started is stopped at the end and the temp folder removed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from config import load_settings
from loadtests.seed_registry import Seeded, registry_file, seed
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 1800.0  # start-up signs every missing response: minutes for 100k
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Request:
    serial: int
    revoked: bool
    der: bytes
    nonce: bytes | None


@dataclass(frozen=True)
class Result:
    scenario: str
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    connections: int
    errors: str  # wrk's socket errors and non-2xx count, empty when none


# -- processes -------------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, each in a session of its own, so that stopping
    one stops its children too (openssl -multi, nginx workers, server workers)."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen] = []

    def start(
        self, args: list[str], log: Path, new_session: bool = True, **kwargs: object
    ) -> subprocess.Popen:
        """`new_session` False: for a program that makes its own process group (openssl
        ocsp -multi calls setpgid and gives up when it cannot, as a session leader)."""
        with open(log, "wb") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=new_session,
                **kwargs,  # type: ignore[arg-type]
            )  # fmt: skip
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=10)
        # children left behind by a parent that exited (its group is still its pid)
        _signal_group(process, signal.SIGKILL)
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self._running)):
            self.stop(process)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal the process group led by `process` (made by start_new_session, or by the
    program itself); never our own group."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


def wait_for_line(log: Path, process: subprocess.Popen, prefix: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.startswith(prefix) for line in log.read_text(errors="replace").splitlines()):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log.read_text(errors='replace')}")
        time.sleep(0.05)
    raise RuntimeError(f"no {prefix!r} line in {timeout:.0f} s: {log}")


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s: {log}")


# -- the CA home and the material for the baselines ------------------------------------------


def cli(home: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "server", *args, "--home", str(home)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return result.stdout


@dataclass(frozen=True)
class Material:
    ca_pem: Path
    responder_pem: Path
    responder_key: Path  # unencrypted copy, mode 0600, for openssl
    ca: x509.Certificate
    responder: x509.Certificate


def export_material(home: Path, folder: Path) -> Material:
    ca_pem = folder / "ca.pem"
    ca_pem.write_text(cli(home, "ca-cert"))
    listed = cli(home, "list", "--profile", "ocsp-responder").split()
    responder_pem = folder / "responder.pem"
    responder_pem.write_text(cli(home, "show", "--serial", listed[0], "--pem"))
    responder = x509.load_pem_x509_certificate(_first_pem(responder_pem.read_bytes()))
    settings = load_settings(home)
    passphrase = settings.resolve(settings.hsm.pin_file).read_bytes().rstrip(b"\r\n")
    want = responder.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    responder_key = folder / "responder.key"
    for path in settings.resolve(settings.hsm.key_dir).glob("*.pem"):
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase)
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki == want:
            fd = os.open(responder_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))  # fmt: skip
            break
    else:
        raise RuntimeError("the responder certificate's key is not in the key folder")
    ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    return Material(ca_pem, responder_pem, responder_key, ca, responder)


def _first_pem(data: bytes) -> bytes:
    end = b"-----END CERTIFICATE-----"
    return data[: data.index(end) + len(end)] + b"\n"


def write_index(db_path: Path, path: Path) -> None:
    """An OpenSSL CA database (index.txt) of every seeded certificate: V or R, expiry,
    revocation time and reason, serial in upper-case hex, subject."""
    import sqlite3

    lines = []
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT c.serial, c.not_after, c.status, c.subject, s.effective_at, s.reason"
            " FROM certificates c LEFT JOIN status_changes s"
            " ON s.serial = c.serial AND s.change = 'revoke'"
            " WHERE c.generation_id IS NOT NULL AND c.state = 'issued'"
        ).fetchall()
    for serial, not_after, status, subject, revoked_at, reason in rows:
        hex_serial = serial.upper()
        hex_serial = ("0" if len(hex_serial) % 2 else "") + hex_serial
        dn = "/" + subject.replace(",", "/")
        if status == "revoked":
            lines.append(f"R\t{_openssl_time(not_after)}\t{_openssl_time(revoked_at)},{reason}"
                         f"\t{hex_serial}\tunknown\t{dn}")  # fmt: skip
        else:
            lines.append(f"V\t{_openssl_time(not_after)}\t\t{hex_serial}\tunknown\t{dn}")
    path.write_text("\n".join(lines) + "\n")


def _openssl_time(text: str) -> str:
    """2027-12-30T06:06:42Z -> 271230060642Z (UTCTime, as index.txt has it)."""
    return re.sub(r"[-T:]", "", text)[2:]


def write_cfssl_responses(db_path: Path, path: Path) -> int:
    import sqlite3

    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT der FROM ocsp_responses").fetchall()
    path.write_text("".join(base64.b64encode(row[0]).decode() + "\n" for row in rows))
    return len(rows)


# -- requests, answers and their check -------------------------------------------------------


def make_requests(
    material: Material, seeded: list[Seeded], count: int, nonce: bool, rng: random.Random
) -> list[Request]:
    name_hash, key_hash = issuer_hashes(material.ca)
    requests = []
    for item in rng.sample(seeded, min(count, len(seeded))):
        builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            name_hash, key_hash, item.serial, hashes.SHA1()
        )
        value = os.urandom(16) if nonce else None
        if value is not None:
            builder = builder.add_extension(x509.OCSPNonce(value), critical=False)
        der = builder.build().public_bytes(serialization.Encoding.DER)
        requests.append(Request(item.serial, item.revoked, der, value))
    return requests


def issuer_hashes(ca: x509.Certificate) -> tuple[bytes, bytes]:
    name = hashes.Hash(hashes.SHA1())
    name.update(ca.subject.public_bytes())
    key_bits = ca.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    key = hashes.Hash(hashes.SHA1())
    key.update(key_bits)
    return name.finalize(), key.finalize()


def get_path(prefix: str, der: bytes) -> str:
    return prefix + urllib.parse.quote(base64.b64encode(der).decode(), safe="")


def fetch(url: str, body: bytes | None) -> bytes:
    headers = {"Content-Type": "application/ocsp-request"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
        if answer.status != 200:
            raise AssertionError(f"{url}: HTTP {answer.status}")
        return answer.read()


def check_answer(der: bytes, request: Request, responder: x509.Certificate) -> None:
    """Raises AssertionError unless `der` is a good answer to `request`."""
    response = ocsp.load_der_ocsp_response(der)
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise AssertionError(f"serial {request.serial:x}: {response.response_status.name}")
    if response.serial_number != request.serial:
        raise AssertionError(f"asked {request.serial:x}, answered {response.serial_number:x}")
    want = ocsp.OCSPCertStatus.REVOKED if request.revoked else ocsp.OCSPCertStatus.GOOD
    if response.certificate_status is not want:
        raise AssertionError(f"serial {request.serial:x}: {response.certificate_status.name}, "
                             f"seeded {want.name}")  # fmt: skip
    if request.nonce is not None:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        if echoed != request.nonce:
            raise AssertionError(f"serial {request.serial:x}: nonce not echoed")
    public_key = responder.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert response.signature_hash_algorithm is not None
    public_key.verify(  # raises InvalidSignature
        response.signature,
        response.tbs_response_bytes,
        ec.ECDSA(response.signature_hash_algorithm),
    )


def check_sample(
    name: str,
    ask: Callable[[Request], bytes],
    requests: list[Request],
    responder: x509.Certificate,
    sample: int = 40,
) -> None:
    chosen = requests[:sample]
    revoked = [r for r in requests if r.revoked][:5]  # make sure some revoked ones are in
    for request in chosen + revoked:
        check_answer(ask(request), request, responder)
    print(f"  checked {len(chosen) + len(revoked)} answers of {name} "
          f"({sum(r.revoked for r in chosen + revoked)} revoked): correct")  # fmt: skip


# -- wrk ----------------------------------------------------------------------------------


def lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def write_lua(path: Path, method: str, items: list[tuple[str, bytes | None]]) -> None:
    """A wrk script that sends one of the given (path, body) requests, picked at random."""
    entries = ",\n".join(
        f"  {{{lua_string(p.encode())}, {lua_string(body) if body is not None else 'nil'}}}"
        for p, body in items
    )
    headers = '{["Content-Type"] = "application/ocsp-request"}' if method == "POST" else "{}"
    path.write_text(
        f"local items = {{\n{entries}\n}}\n"
        "local prepared = {}\n"
        "function init(args)\n"
        "  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))\n"
        "  for i, item in ipairs(items) do\n"
        f'    prepared[i] = wrk.format("{method}", item[1], {headers}, item[2])\n'
        "  end\n"
        "end\n"
        "function request()\n"
        "  return prepared[math.random(#prepared)]\n"
        "end\n"
    )


_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    scenario: str, server: str, url: str, script: Path, seconds: float, connections: int
) -> Result:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "5s",
            "-s", str(script), url]  # fmt: skip
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         timeout=seconds + 60).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {q: float(v) * _UNITS[u] for q, v, u in _LATENCY.findall(out)}
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = []
    if match := re.search(r"Socket errors: (.*)", out):
        errors.append("socket " + match.group(1).strip())
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors.append(f"non-2xx {match.group(1)}")
    return Result(scenario, server, rps, latency.get("50", 0.0), latency.get("99", 0.0), total,
                  connections, "; ".join(errors))  # fmt: skip


# -- the run ---------------------------------------------------------------------------------


@contextmanager
def temp_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-ocsp-"))
    folder.chmod(0o711)  # nginx workers (user nobody) reach www/; the CA home stays 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def nginx_conf(folder: Path, port: int) -> Path:
    www = folder / "www"
    conf = folder / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 2;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ }}
    default_type application/ocsp-response;
    keepalive_requests 1000000;
    client_body_temp_path {folder}/nginx-body;
    proxy_temp_path {folder}/nginx-proxy;
    fastcgi_temp_path {folder}/nginx-fastcgi;
    uwsgi_temp_path {folder}/nginx-uwsgi;
    scgi_temp_path {folder}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location / {{ default_type application/ocsp-response; }}
    }}
}}
""")
    return conf


def run(args: argparse.Namespace, folder: Path, processes: Processes) -> list[Result]:
    rng = random.Random(args.random_seed)
    home = folder / "ca"
    port = free_port()
    cli(Path(home), "init", "--http", f"127.0.0.1:{port}")
    settings = load_settings(home)
    db_path = registry_file(settings)

    started = time.perf_counter()
    seeded = seed(home, args.certs, 0.1)
    seconds = time.perf_counter() - started
    revoked = sum(s.revoked for s in seeded)
    print(f"seeded {len(seeded):,} certificates ({revoked:,} revoked) in {seconds:.1f} s "
          f"({len(seeded) / seconds:,.0f}/s)", flush=True)  # fmt: skip

    ocsp_port, tls_port = free_port(), free_port()

    def start_server(workers: int, log: Path) -> tuple[subprocess.Popen, float]:
        env = {**os.environ, "CA_SERVER__WORKERS": str(workers)}
        if args.listener == "dedicated":
            env["CA_SERVER__OCSP"] = f"127.0.0.1:{ocsp_port}"
        started = time.perf_counter()
        server = processes.start(
            [sys.executable, "-m", "server", "serve", "--home", str(home),
             "--http", f"127.0.0.1:{port}", "--https", f"127.0.0.1:{tls_port}"],
            log, cwd=ROOT, env=env,
        )  # fmt: skip
        wait_for_line(log, server, "serving CA", READY_TIMEOUT_S)
        return server, time.perf_counter() - started

    # First start: one worker signs every missing response (with several, each worker
    # signs all of them, and serve.py gives a worker 60 s to get ready: 100k take longer).
    server, seconds = start_server(1, folder / "server-first.log")
    print(f"server start-up 1 (1 worker), signing the missing responses of "
          f"{len(seeded):,} certificates: {seconds:.1f} s "
          f"({len(seeded) / seconds:,.0f} responses/s)", flush=True)  # fmt: skip
    processes.stop(server)
    server, seconds = start_server(args.workers, folder / "server.log")
    print(f"server start-up 2 ({args.workers} workers), loading {len(seeded):,} stored "
          f"responses: {seconds:.1f} s", flush=True)  # fmt: skip

    material = export_material(home, folder)
    plain = make_requests(material, seeded, args.requests, nonce=False, rng=rng)
    nonced = make_requests(material, seeded, args.requests, nonce=True, rng=rng)
    base = f"http://127.0.0.1:{ocsp_port if args.listener == 'dedicated' else port}"
    get_lua, post_lua, nonce_lua = folder / "get.lua", folder / "post.lua", folder / "nonce.lua"
    write_lua(get_lua, "GET", [(get_path("/ocsp/", r.der), None) for r in plain])
    write_lua(post_lua, "POST", [("/ocsp", r.der) for r in plain])
    write_lua(nonce_lua, "POST", [("/ocsp", r.der) for r in nonced])
    responder = material.responder
    results = []

    def cell(
        scenario: str, name: str, url: str, script: Path, connections: int | None = None
    ) -> None:
        connections = connections or args.connections
        result = run_wrk(scenario, name, url, script, args.seconds, connections)
        print(f"  {scenario:<26} {name:<24} {result.rps:>9,.0f} req/s  "
              f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms"
              + (f"  ({result.errors})" if result.errors else ""), flush=True)  # fmt: skip
        results.append(result)

    ours = f"ours ({args.workers}w, {args.listener})"
    check_sample("GET", lambda r: fetch(base + get_path("/ocsp/", r.der), None), plain,
                 responder)  # fmt: skip
    check_sample("POST", lambda r: fetch(base + "/ocsp", r.der), plain, responder)
    check_sample("POST+nonce", lambda r: fetch(base + "/ocsp", r.der), nonced, responder)
    cell("(b) POST pre-signed", ours, base + "/ocsp", post_lua)

    # cfssl ocspserve over the same pre-signed responses
    responses = folder / "cfssl-responses.txt"
    count = write_cfssl_responses(db_path, responses)
    cfssl_port = free_port()
    log = folder / "cfssl.log"
    cfssl = processes.start(
        [
            "cfssl",
            "ocspserve",
            "-address",
            "127.0.0.1",
            "-port",
            str(cfssl_port),
            "-responses",
            str(responses),
        ],
        log,
    )
    wait_for_port(cfssl_port, cfssl, log, timeout=300)
    print(f"cfssl ocspserve loaded {count:,} responses", flush=True)
    cfssl_base = f"http://127.0.0.1:{cfssl_port}"
    cfssl_script = folder / "cfssl.lua"
    if cfssl_serves_get(cfssl_base, plain[0], responder):
        write_lua(cfssl_script, "GET", [(get_path("/", r.der), None) for r in plain])
        check_sample("cfssl GET", lambda r: fetch(cfssl_base + get_path("/", r.der), None),
                     plain, responder)  # fmt: skip
        cell("(a) GET pre-signed", "cfssl ocspserve", cfssl_base + "/", cfssl_script)
    else:
        print("  cfssl ocspserve cannot answer GET (its GET path keeps the leading '/' and "
              "turns '+' into ' '): driving POST like (b)")  # fmt: skip
        write_lua(cfssl_script, "POST", [("/", r.der) for r in plain])
        check_sample("cfssl POST", lambda r: fetch(cfssl_base + "/", r.der), plain, responder)
        cell("(b) POST pre-signed", "cfssl ocspserve", cfssl_base + "/", cfssl_script)
    processes.stop(cfssl)

    # openssl ocsp signing live
    index = folder / "index.txt"
    write_index(db_path, index)
    openssl_port = free_port()
    log = folder / "openssl.log"

    def start_openssl() -> subprocess.Popen:
        """A fresh `openssl ocsp -port`: once wrk stops, closing connections that carried
        no request, OpenSSL 3.0.x's children spin at 100% CPU and answer nothing more; a
        bare connect does the same, hence no port probe, only its log's ACCEPT line."""
        process = processes.start(
            ["openssl", "ocsp", "-port", str(openssl_port), "-index", str(index),
             "-CA", str(material.ca_pem), "-rsigner", str(material.responder_pem),
             "-rkey", str(material.responder_key), "-nmin", "60",
             "-multi", str(args.openssl_multi)], log, new_session=False,
        )  # fmt: skip
        wait_for_line(log, process, "ACCEPT", timeout=300)
        return process

    openssl_base = f"http://127.0.0.1:{openssl_port}"
    openssl_nonce = folder / "openssl-nonce.lua"
    write_lua(openssl_nonce, "POST", [("/", r.der) for r in nonced])
    openssl = start_openssl()
    check_sample("openssl POST+nonce", lambda r: fetch(openssl_base + "/", r.der), nonced,
                 responder)  # fmt: skip
    processes.stop(openssl)

    # nginx: one response's bytes as a static file
    www = folder / "www"
    www.mkdir(mode=0o755)
    static = www / "response.der"
    static.write_bytes(fetch_static_source(db_path))
    static.chmod(0o644)
    nginx_port = free_port()
    log = folder / "nginx.log"
    nginx = processes.start(
        [
            "nginx",
            "-c",
            str(nginx_conf(folder, nginx_port)),
            "-p",
            str(folder),
            "-e",
            str(folder / "nginx-error.log"),
        ],
        log,
    )
    wait_for_port(nginx_port, nginx, log)
    nginx_url = f"http://127.0.0.1:{nginx_port}/response.der"
    if fetch(nginx_url, None) != static.read_bytes():
        raise AssertionError("nginx does not serve the response file")
    nginx_lua = folder / "static.lua"
    write_lua(nginx_lua, "GET", [("/response.der", None)])

    # The pairs with a target, measured in turns: this machine's speed drifts by tens of
    # per cent within minutes, so each of our cells runs right beside its baseline's.
    for turn in range(1, args.rounds + 1):
        print(f"round {turn} of {args.rounds}", flush=True)
        cell("(a) GET pre-signed", ours, base + "/ocsp", get_lua)
        cell("static file GET", "nginx (2 workers)", nginx_url, nginx_lua)
        cell("(c) POST nonce, live", ours, base + "/ocsp", nonce_lua)
        # Only as many connections as it has processes: each child serves one connection
        # at a time (HTTP/1.0, closing after each answer: wrk reconnects every request).
        openssl = start_openssl()
        cell("(c) POST nonce, live", f"openssl ocsp -multi {args.openssl_multi}",
             openssl_base + "/", openssl_nonce, args.openssl_multi)  # fmt: skip
        processes.stop(openssl)
    for process in (nginx, server):
        processes.stop(process)
    return results


def cfssl_serves_get(base: str, request: Request, responder: x509.Certificate) -> bool:
    try:
        check_answer(fetch(base + get_path("/", request.der), None), request, responder)
    except (OSError, ValueError, AssertionError):
        return False
    return True


def fetch_static_source(db_path: Path) -> bytes:
    import sqlite3

    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT der FROM ocsp_responses LIMIT 1").fetchone()
    return row[0]


def report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(f"{'scenario':<26} {'server':<24} {'conns':>5} {'req/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8}  errors")  # fmt: skip
    for r in results:
        print(f"{r.scenario:<26} {r.server:<24} {r.connections:>5} {r.rps:>9,.0f} "
              f"{r.p50_ms:>8.2f} {r.p99_ms:>8.2f}  {r.errors or '-'}")  # fmt: skip

    def rates(scenario: str, server: str) -> list[float]:
        return [r.rps for r in results if r.scenario == scenario and r.server.startswith(server)]

    ours_get = rates("(a) GET pre-signed", "ours")
    cfssl_get, cfssl_post = (
        rates("(a) GET pre-signed", "cfssl"),
        rates("(b) POST pre-signed", "cfssl"),
    )
    pairs = [  # (label, ours, theirs, target): theirs in turns with ours, or one cell
        ("pre-signed GET vs cfssl ocspserve", ours_get, cfssl_get or cfssl_post, 3.0),
        ("pre-signed POST vs cfssl ocspserve", rates("(b) POST pre-signed", "ours"),
         cfssl_post, 3.0),
        ("pre-signed GET vs nginx static", ours_get, rates("static file GET", "nginx"), 0.6),
        ("live nonce vs openssl ocsp -port", rates("(c) POST nonce, live", "ours"),
         rates("(c) POST nonce, live", "openssl"), 2.0),
    ]  # fmt: skip
    print()
    for label, ours, theirs, target in pairs:
        if not ours or not theirs:
            continue
        if len(theirs) == 1:
            ratios = [statistics.median(ours) / theirs[0]]
        else:
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        ratio = statistics.median(ratios)
        verdict = "meets" if ratio >= target else "MISSES"
        turns = f" (median of {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else ""
        print(f"{label:<36} {ratio:6.2f}x  target >= {target:g}x: {verdict}{turns}")
    print(f"\nwrk -t1 -c{args.connections} (openssl: -c{args.openssl_multi}) "
          f"-d{args.seconds:g}s, {args.requests} distinct requests per scenario; "
          f"{os.cpu_count()} CPUs for wrk and the servers")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per cell")
    parser.add_argument("--workers", type=int, default=2, help="server.workers of our server")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--requests", type=int, default=2000, help="distinct requests")
    parser.add_argument("--openssl-multi", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="turns of (a) beside nginx and (c) beside openssl; ratios are their medians",
    )  # fmt: skip
    parser.add_argument(
        "--listener", choices=("dedicated", "main"), default="dedicated",
        help="our OCSP on the dedicated listener (server.ocsp) or on /ocsp of the main one",
    )  # fmt: skip
    parser.add_argument("--random-seed", type=int, default=1)
    args = parser.parse_args()
    for tool in ("wrk", "cfssl", "openssl", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} is not installed (apt-get install wrk golang-cfssl "
                     "openssl nginx-light)")  # fmt: skip
    processes = Processes()
    with temp_folder() as folder:
        try:
            results = run(args, folder, processes)
        finally:
            processes.stop_all()
    report(results, args)


if __name__ == "__main__":
    main()
