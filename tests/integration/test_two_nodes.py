"""Two `serve` nodes, each with its own home, share one PostgreSQL registry and one CA key
(README: Several nodes): node B's home is made by `init --join`, its key folder the same one.

A certificate enrolled on A (over EST, with a code made on B) is revoked through B's API;
once B acknowledges, A's OCSP says revoked (`openssl ocsp`) and A's CRL lists it soon after
(`openssl verify -crl_check`). A node that has not applied a change is named. When node A,
holding the background duties, is killed whole, B takes the duty lease over and builds the
CRLs."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols import crl as crl_codec
from server.node.duties import DUTIES
from server.registry import Registry
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome, new_registry_url
from tests.integration.server_process import Response, ServerProcess, http
from tests.softhsm import make_token

T = TypeVar("T")
DEADLINE_S = 60.0  # generous for a slow, shared machine
NODE_ENV = {
    # A dead holder's lease lapses fast; every worker tries for it every second.
    "CA_SUPERVISOR__DUTY_LEASE_SECONDS": "6",
    "CA_SUPERVISOR__DUTY_RENEW_SECONDS": "1",
    # Followers poll only every 10 s, longer than a status change waits (5 s): a change
    # reaches the other node in time only because PostgreSQL notifies it (LISTEN/NOTIFY).
    "CA_OCSP__POLL_INTERVAL_MS": "10000",
}


def join(first: CAHome, path: Path, url: str, backend_args: list[str | Path]) -> CAHome:
    """Node B's home, made by `init --join` (README "Several nodes"): the CA key folder (the
    registry names it) or token, and `cmp-keys/`, shared with node A; the home's secret
    copied from A (or in CA_HSM_PIN, as A has it); its TLS identity its own."""
    secret = [] if "CA_HSM_PIN" in first.env else ["--pin-from", first.path / "pin.txt"]
    made = run_cli("init", "--home", path, "--join", url, *backend_args, *secret,
                   "--cmp-keys", first.path / "cmp-keys", env=first.env)  # fmt: skip
    assert made.stdout.startswith(f"node of CA 'demo' made in {path}\n"), made.stdout
    assert (path / "cmp-keys").resolve() == (first.path / "cmp-keys").resolve()
    assert (path / "tls" / "server-key.pem").read_bytes() != (
        first.path / "tls" / "server-key.pem"
    ).read_bytes()
    return CAHome(path, first.env)


@dataclass
class Nodes:
    a: CAHome
    b: CAHome
    url: str  # the shared registry
    folder: Path
    ca_file: Path

    def start(self, home: CAHome, **env: str) -> ServerProcess:
        return ServerProcess(home, {**NODE_ENV, **env}, own_group=True)

    def lease_holder_pid(self) -> int | None:
        """The pid of the process holding the duty lease now, if any."""
        lease = _in_thread(_current_lease(self.url))
        return None if lease is None else int(lease.split("/")[2])

    def watermark_pids(self) -> list[int]:
        """The pids of the server processes following the status feed."""
        return _in_thread(_watermark_pids(self.url))

    def enroll_on(self, server: ServerProcess, name: str) -> Path:
        """A certificate enrolled over EST on `server`, with a code made on node B."""
        code_id, secret = self.b.cli("enroll-code", "--profile", "tls-client",
                                     "--subject", f"CN={name}").stdout.split()  # fmt: skip
        der = self.folder / f"{name}.der"
        made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", self.folder / f"{name}.key", "-subj", f"/CN={name}",
                       "-outform", "DER", "-out", der)  # fmt: skip
        assert made.returncode == 0, made.stderr
        answer = subprocess.run(
            ["curl", "-s", "-f", "--cacert", self.ca_file, "-u", f"{code_id}:{secret}",
             "-H", "Content-Type: application/pkcs10", "--data-binary",
             base64.encodebytes(der.read_bytes()),
             f"{server.tls_url}/.well-known/est/simpleenroll"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert answer.returncode == 0, answer.stderr
        p7 = self.folder / f"{name}.p7"
        p7.write_bytes(base64.b64decode(answer.stdout))
        printed = openssl("pkcs7", "-inform", "DER", "-in", p7, "-print_certs")
        assert printed.returncode == 0, printed.stderr
        pem = self.folder / f"{name}.pem"
        pem.write_bytes(printed.stdout)
        return pem

    def ocsp_status(self, server: ServerProcess, leaf: Path) -> str:
        """What `openssl ocsp` hears from `server` about `leaf`: good, revoked or unknown."""
        result = openssl("ocsp", "-issuer", self.ca_file, "-CAfile", self.ca_file,
                         "-cert", leaf, "-url", f"{server.url}/ocsp")  # fmt: skip
        out = (result.stdout + result.stderr).decode()
        assert result.returncode == 0 and "Response verify OK" in out, out
        return out.split(f"{leaf}: ", 1)[1].split()[0]


def _in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to its end in a loop of its own (the test's thread may have one)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()


async def _current_lease(url: str) -> str | None:
    registry = await Registry.open_url(url, pool_size=1)
    try:
        lease = await registry.leases.current(DUTIES, datetime.now(UTC))
        return None if lease is None else lease.holder
    finally:
        await registry.close()


async def _watermark_pids(url: str) -> list[int]:
    registry = await Registry.open_url(url, pool_size=1)
    try:
        async with (
            registry.reading() as db,
            db.execute("SELECT node FROM status_watermarks") as cursor,
        ):
            return [int(row[0].split("/")[2]) for row in await cursor.fetchall()]
    finally:
        await registry.close()


def of_node(server: ServerProcess, pid: int | None) -> bool:
    """Whether `pid` is a process of `server` (started as a process group of its own)."""
    try:
        return pid is not None and os.getpgid(pid) == server.process.pid
    except ProcessLookupError:
        return False


def eventually(what: str, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + DEADLINE_S
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"{what} did not happen within {DEADLINE_S} s"
        time.sleep(0.1)
    return found


def serial_of(pem: Path) -> int:
    return x509.load_pem_x509_certificate(pem.read_bytes()).serial_number


def revoke_through_api(server: ServerProcess, token: str, serial: int) -> Response:
    return http(f"{server.url}/api/v1/certificates/{serial:x}/revoke",
                json.dumps({"reason": "keyCompromise", "grounds": "holder letter 12"}).encode(),
                {"Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"})  # fmt: skip


def crl_listing(server: ServerProcess, serial: int) -> Callable[[], crl_codec.ParsedCRL | None]:
    """A probe: the full CRL `server` serves, once it lists `serial`."""

    def probe() -> crl_codec.ParsedCRL | None:
        answer = http(f"{server.url}/crl/demo.crl")
        if answer.status != 200:
            return None
        parsed = crl_codec.parse_crl(answer.body)
        return parsed if serial in parsed.entries else None

    return probe


@pytest.fixture
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Nodes:
    """Node A's home made by `init` on a new PostgreSQL database, its CA key a file (the
    default) or in a SoftHSM2 token (`pkcs11`, by indirect parametrisation) that both nodes
    open; node B's home joined to it."""
    url = new_registry_url(request, "postgresql")
    assert url is not None
    backend = getattr(request, "param", "soft")
    a = CAHome(tmp_path / "a")
    args: list[str | Path] = []
    if backend == "pkcs11":
        token = make_token(tmp_path / "hsm", label="ca")
        a.env = {**token.environment(), "CA_HSM_PIN": token.pin}
        args = ["--backend", "pkcs11", "--token-label", token.label, "--module", token.module]
    run_cli("init", "--home", a.path, "--subject", "CN=Nodes CA,O=Test,C=RU",
            "--registry-url", url, *args, env=a.env)  # fmt: skip
    b = join(a, tmp_path / "b", url, args)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(b.cli("ca-cert").stdout)
    return Nodes(a, b, url, tmp_path, ca_file)


@pytest.fixture
def officer_token(nodes: Nodes) -> str:
    return nodes.b.cli("account-add", "--name", "alice", "--role", "officer").stdout.split()[1]


@pytest.mark.parametrize("nodes", ["soft", "pkcs11"], indirect=True)
def test_a_revocation_acknowledged_on_node_b_is_served_by_node_a(
    nodes: Nodes, officer_token: str
) -> None:
    """The promise of `revoke` across nodes: when B's API answers, A's OCSP already says
    revoked (and when the CLI of A's home returns, B's does); A's CRL (built by whichever
    node holds the duties) lists it soon after."""
    node_a = nodes.start(nodes.a)
    node_b = nodes.start(nodes.b)
    try:
        leaf = nodes.enroll_on(node_a, "device-1")
        assert nodes.ocsp_status(node_a, leaf) == "good"
        assert nodes.ocsp_status(node_b, leaf) == "good"

        asked = time.monotonic()
        answer = revoke_through_api(node_b, officer_token, serial_of(leaf))
        acknowledged_s = time.monotonic() - asked
        assert answer.status == 200, answer.body
        assert nodes.ocsp_status(node_a, leaf) == "revoked"  # at once: no wait, no retry
        assert nodes.ocsp_status(node_b, leaf) == "revoked"
        print(f"revocation acknowledged by node B after {acknowledged_s * 1000:.0f} ms")

        other = nodes.enroll_on(node_b, "device-1b")
        nodes.a.cli("revoke", "--serial", f"{serial_of(other):x}", "--reason", "superseded")
        assert nodes.ocsp_status(node_b, other) == "revoked"  # the CLI kept the promise too

        eventually("node A's CRL listing it", crl_listing(node_a, serial_of(leaf)))
        crl_pem = nodes.folder / "a.crl.pem"
        crl_pem.write_bytes(
            x509.load_der_x509_crl(http(f"{node_a.url}/crl/demo.crl").body).public_bytes(
                Encoding.PEM
            )
        )
        verified = openssl("verify", "-crl_check", "-CAfile", nodes.ca_file,
                           "-CRLfile", crl_pem, leaf)  # fmt: skip
        assert verified.returncode != 0
        assert b"certificate revoked" in verified.stdout + verified.stderr
    finally:
        node_b.stop()
        node_a.stop()


def test_a_revocation_a_live_node_has_not_applied_names_that_node(
    nodes: Nodes, officer_token: str
) -> None:
    """Node A's worker is frozen (SIGSTOP: alive, but applying nothing): a revocation on B
    is recorded, and B's answer says that it is not yet served, naming A's process; once A
    runs again it serves the change."""
    node_a = nodes.start(nodes.a)
    node_b = nodes.start(nodes.b, CA_OCSP__PROPAGATION_TIMEOUT_SECONDS="2")
    frozen: list[int] = []
    try:
        leaf = nodes.enroll_on(node_b, "device-2")
        frozen = [pid for pid in nodes.watermark_pids() if of_node(node_a, pid)]
        assert frozen, "node A's worker follows the status feed"
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        answer = revoke_through_api(node_b, officer_token, serial_of(leaf))
        assert answer.status == 503, answer.body
        message = json.loads(answer.body)["message"]
        assert "not yet applied" in message
        assert all(f"/{pid}/" in message for pid in frozen), message
        assert nodes.ocsp_status(node_b, leaf) == "revoked"  # recorded, served by B
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        frozen = []
        eventually("node A serving the revocation",
                   lambda: nodes.ocsp_status(node_a, leaf) == "revoked" or None)  # fmt: skip
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        node_b.stop()
        node_a.stop()


def test_node_b_takes_the_duties_over_when_node_a_holding_them_is_killed(
    nodes: Nodes, officer_token: str
) -> None:
    node_a = nodes.start(nodes.a)
    node_b: ServerProcess | None = None
    try:
        eventually("node A holding the duties", lambda: of_node(node_a, nodes.lease_holder_pid())
                   or None)  # fmt: skip
        node_b = nodes.start(nodes.b)
        first = nodes.enroll_on(node_b, "device-3")
        assert revoke_through_api(node_b, officer_token, serial_of(first)).status == 200
        built_by_a = eventually("a CRL listing it", crl_listing(node_b, serial_of(first)))
        assert of_node(node_a, nodes.lease_holder_pid())  # A built it

        node_a.kill_group()  # kill -9 of serve, its workers and signers: node A is gone
        b = node_b
        eventually("node B holding the duties", lambda: of_node(b, nodes.lease_holder_pid())
                   or None)  # fmt: skip
        second = nodes.enroll_on(node_b, "device-4")
        assert revoke_through_api(node_b, officer_token, serial_of(second)).status == 200
        assert nodes.ocsp_status(node_b, second) == "revoked"
        built_by_b = eventually("a CRL rebuilt by node B", crl_listing(node_b, serial_of(second)))
        assert built_by_b.crl_number > built_by_a.crl_number
        assert serial_of(first) in built_by_b.entries
        metrics = http(f"{node_b.url}/metrics").body.decode()
        assert "ca_duty_holder 1.0" in metrics  # node B has one worker: that one holds them
    finally:
        if node_b is not None:
            node_b.stop()
        if node_a.process.poll() is None:
            node_a.stop()
