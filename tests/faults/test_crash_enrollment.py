"""kill -9 of the whole server in the middle of a burst of EST and CMP enrollments (an
aiohttp client, `openssl cmp`): after a restart, every certificate a client received is
in the registry and good in OCSP, no issuance is left open, no code is stuck, and every
code that issued nothing works exactly once.

To be sure the crash lands in the middle of issuance, the signer processes are stopped
(SIGSTOP) once the burst is under way, and a second wave of requests is sent only then:
those wait for their signatures with their intents recorded, holding their codes, when
the whole process group is killed. Requests of the first wave are caught wherever they
were. (A single wave raced the server: on a fast machine it could answer every request
before the signers were stopped, and the crash then caught nothing mid-way. Counting every
open intent raced it too: intents of the first wave, open when the signers stopped but
with their signatures back already, completed a moment later, and the server was killed
before the second wave had recorded any.)"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp

from config import load_settings
from server.context import backend_spec, open_registry
from server.enrollment.credentials import EnrollmentCredentials, derivation_key
from server.registry import Registry
from tests.csr_factory import make_csr
from tests.enrollment_codes import make_codes
from tests.integration.cli import run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http

CODES = 48  # EST
FIRST_WAVE = 16  # EST requests sent before the signers are stopped; the rest after
CMP_CODES = 8  # openssl cmp, half of them with implicit confirmation
STOP_SIGNERS_AFTER = 6  # certificates received before the signers are stopped
T = TypeVar("T")


@dataclass
class Outcome:
    code: tuple[str, str]
    status: int | None  # EST: None, no answer (the server died); CMP: openssl's exit code
    certificate: x509.Certificate | None = None


@dataclass
class CMPClient:
    """`openssl cmp` with MAC protection by an enrollment code (RFC 9483 4.1.1)."""

    server: ServerProcess
    recipient: str
    folder: Path

    async def ir(self, code: tuple[str, str], subject: str, implicit: bool) -> Outcome:
        name = code[0]
        key = self.folder / f"{name}.key"
        key.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        out = self.folder / f"{name}.pem"
        process = await asyncio.create_subprocess_exec(
            "openssl", "cmp", "-server", f"127.0.0.1:{self.server.port}",
            "-path", ".well-known/cmp", "-recipient", self.recipient, "-cmd", "ir",
            "-ref", name, "-secret", f"pass:{code[1]}", "-subject", f"/{subject}",
            "-newkey", str(key), "-certout", str(out), "-msg_timeout", "120",
            *(["-implicit_confirm"] if implicit else []),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        status = await process.wait()
        if status != 0 or not out.exists():
            return Outcome(code, status)
        return Outcome(code, status, x509.load_pem_x509_certificate(out.read_bytes()))


@pytest.fixture
def home(tmp_path: Path) -> CAHome:
    ca = CAHome(tmp_path / "ca")
    run_cli("init", "--home", ca.path, "--subject", "CN=Crash CA,O=Test,C=RU")
    return ca


def poll(check: Callable[[], Awaitable[T]], deadline_s: float = 60) -> Awaitable[T]:
    """`check()` until it returns something true, within the deadline."""

    async def run() -> T:
        end = time.monotonic() + deadline_s
        while True:
            value = await check()
            if value or time.monotonic() > end:
                return value
            await asyncio.sleep(0.05)

    return run()


def signer_pids(group: int) -> list[int]:
    """The signer processes (`python -m hsm.signer_process`) in serve's process group."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if os.getpgid(int(entry.name)) == group and b"hsm.signer_process" in command:
                pids.append(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
    return pids


async def enroll(
    session: aiohttp.ClientSession, url: str, code: tuple[str, str]
) -> tuple[int, bytes]:
    headers = {
        "Content-Type": "application/pkcs10",
        "Authorization": aiohttp.encode_basic_auth(*code),
    }
    body = base64.encodebytes(make_csr([]))
    async with session.post(url, data=body, headers=headers) as answer:
        return answer.status, await answer.read()


def certificate_of(body: bytes) -> x509.Certificate:
    """The certificate of an EST certs-only answer (RFC 7030 4.2.3)."""
    (certificate,) = pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))
    return certificate


async def burst(
    server: ServerProcess,
    ca_file: Path,
    codes: list[tuple[str, str]],
    cmp_requests: list[Awaitable[Outcome]],
    registry: Registry,
) -> tuple[list[Outcome], int]:
    """Enroll with the first wave of codes at once; once a few certificates are out, stop
    the signers, send the second wave, wait for issuances to pile up mid-way, and kill the
    server. Returns the outcomes and how many intents it left open."""
    context = ssl.create_default_context(cafile=str(ca_file))
    url = f"{server.tls_url}/.well-known/est/simpleenroll"
    received = asyncio.Event()
    outcomes: list[Outcome] = []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context, limit=24), timeout=timeout
    ) as session:

        async def one(code: tuple[str, str]) -> None:
            try:
                status, body = await enroll(session, url, code)
            except (TimeoutError, aiohttp.ClientError):
                outcomes.append(Outcome(code, None))
                return
            certificate = certificate_of(body) if status == 200 else None
            outcomes.append(Outcome(code, status, certificate))
            if sum(o.certificate is not None for o in outcomes) >= STOP_SIGNERS_AFTER:
                received.set()

        async def cmp_one(request: Awaitable[Outcome]) -> None:
            outcomes.append(await request)

        requests = [asyncio.create_task(one(code)) for code in codes[:FIRST_WAVE]]
        requests += [asyncio.create_task(cmp_one(request)) for request in cmp_requests]
        await asyncio.wait_for(received.wait(), 120)
        signers = signer_pids(server.process.pid)
        assert signers, "no signer process found in serve's process group"
        for pid in signers:
            os.kill(pid, signal.SIGSTOP)
        # Intents open now may still complete: their signatures can be back already.
        open_before = {intent.serial for intent in await registry.open_intents()}
        requests += [asyncio.create_task(one(code)) for code in codes[FIRST_WAVE:]]

        async def piled_up() -> int:
            """Intents recorded since the signers stopped: none of them can complete."""
            stuck = [i for i in await registry.open_intents() if i.serial not in open_before]
            return len(stuck) if len(stuck) >= 3 else 0

        await poll(piled_up, 30)
        server.kill_group()
        await asyncio.gather(*requests)
    return outcomes, len(await registry.open_intents())  # what the crash left open


def ocsp_status(
    server: ServerProcess, certificate: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPCertStatus:
    """The certificate's status in the server's /ocsp (RFC 6960 4.2.1)."""
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
    der = request.build().public_bytes(serialization.Encoding.DER)
    answer = http(f"{server.url}/ocsp", der, {"Content-Type": "application/ocsp-request"})
    assert answer.status == 200
    response = ocsp.load_der_ocsp_response(answer.body)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.serial_number == certificate.serial_number
    return response.certificate_status


async def used_serials(home: CAHome, registry: Registry) -> dict[str, str | None]:
    settings = load_settings(home.path)
    credentials = EnrollmentCredentials(
        settings, registry, lambda: derivation_key(backend_spec(settings).read_secret())
    )
    listing = await credentials.listing(unused_only=False, limit=10 * CODES)
    return {credential.id: serial for credential, serial in listing}


def test_kill_9_mid_est_burst_leaves_nothing_stuck(home: CAHome, tmp_path: Path) -> None:
    """RFC 7030 4.2: every simpleenroll either got its certificate, which the CA then
    vouches for, or left its code usable once more."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(run_cli("ca-cert", "--home", home.path).stdout)
    issuer = x509.load_pem_x509_certificate(ca_file.read_bytes())
    codes = asyncio.run(make_codes(home.path, CODES, prefix="crash"))
    cmp_codes = asyncio.run(make_codes(home.path, CMP_CODES, prefix="cmp-crash"))
    recipient = "/" + "/".join(a.rfc4514_string() for a in issuer.subject)
    workers = {"CA_SERVER__WORKERS": "2"}
    settings = load_settings(home.path)

    async def crash_once() -> tuple[list[Outcome], int]:
        registry = await open_registry(settings)
        try:
            server = ServerProcess(home, workers, own_group=True)
            cmp_client = CMPClient(server, recipient, tmp_path)
            cmp_requests = [
                cmp_client.ir(code, f"CN=cmp-crash-{n}", implicit=n % 2 == 0)
                for n, code in enumerate(cmp_codes)
            ]
            return await burst(server, ca_file, codes, cmp_requests, registry)
        finally:
            await registry.close()

    outcomes, open_at_crash = asyncio.run(crash_once())
    statuses = Counter(outcome.status for outcome in outcomes)  # what each client was told
    assert open_at_crash >= 1, f"the crash caught no issuance mid-way; answers: {statuses}"
    received = [o for o in outcomes if o.certificate is not None]
    assert len(received) >= STOP_SIGNERS_AFTER
    assert len(outcomes) == CODES + CMP_CODES

    server = ServerProcess(home, workers, own_group=True)  # settles what the crash left
    try:

        async def after_restart() -> tuple[int, dict[str, str | None], list[str]]:
            registry = await open_registry(settings)
            try:
                intents = len(await registry.open_intents())
                used = await used_serials(home, registry)
                entries = await registry.search.audit_entries(100_000, None)
                settled = [e.target for e in entries if e.action == "intent.settle"]
                for outcome in received:
                    assert outcome.certificate is not None
                    serial = format(outcome.certificate.serial_number, "x")
                    record = await registry.get_certificate(serial)
                    assert record is not None and record.der == outcome.certificate.public_bytes(
                        serialization.Encoding.DER
                    )
                for serial in filter(None, used.values()):  # no code spent for nothing
                    assert await registry.get_certificate(serial) is not None
                return intents, used, settled
            finally:
                await registry.close()

        intents, used, settled = asyncio.run(after_restart())
        assert intents == 0  # no intent is left open
        assert len(settled) >= open_at_crash  # each settled with an audit entry
        for outcome in received:  # every certificate a client received is good
            assert outcome.certificate is not None
            status = ocsp_status(server, outcome.certificate, issuer)
            assert status is ocsp.OCSPCertStatus.GOOD
            assert used[outcome.code[0]] == format(outcome.certificate.serial_number, "x")

        async def enroll_again(code: tuple[str, str]) -> tuple[int, int]:
            context = ssl.create_default_context(cafile=str(ca_file))
            url = f"{server.tls_url}/.well-known/est/simpleenroll"
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context)
            ) as session:
                first, _ = await enroll(session, url, code)
                second, _ = await enroll(session, url, code)
            return first, second

        for outcome in outcomes:
            if outcome.certificate is not None:
                continue
            first, second = asyncio.run(enroll_again(outcome.code))
            if used[outcome.code[0]] is None:  # issued nothing: works exactly once
                assert (first, second) == (200, 401), outcome.code[0]
            else:  # recorded, its answer lost in the crash: spent, and vouched for
                assert (first, second) == (401, 401), outcome.code[0]
        assert "intact" in run_cli("audit", "verify", "--home", home.path).stdout
    finally:
        server.stop()
