"""`backup` of a serving CA while EST clients enroll, and `restore` into a new home that
then serves: the archive is one moment of the CA (its row counts between those before
and after it was taken, audit verify passing with the checkpoints the server kept writing
meanwhile), and the restored server answers OCSP for the certificates it holds, checked
by `openssl ocsp`."""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import ssl
import threading
from pathlib import Path

import aiohttp

from tests.csr_factory import make_csr
from tests.enrollment_codes import make_codes
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess

CLIENTS = 4
CODES = 600
PACE_S = 0.05  # each client's pause between enrollments: the codes outlast the backup


class Enrolling:
    """EST clients enrolling one code after another in a thread of their own, until stopped."""

    def __init__(self, server: ServerProcess, ca_file: Path, codes: list[tuple[str, str]]):
        self.url = f"{server.tls_url}/.well-known/est/simpleenroll"
        self.ca_file = ca_file
        self.codes = list(enumerate(codes))  # code n is for CN=load-<n>
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._run(),))
        self.thread.start()

    async def _run(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._client(session) for _ in range(CLIENTS)))

    async def _client(self, session: aiohttp.ClientSession) -> None:
        while self.codes and not self.stop.is_set():
            n, (user, password) = self.codes.pop()
            body = base64.encodebytes(make_csr([("CN", f"load-{n}")]))
            headers = {"Content-Type": "application/pkcs10",
                       "Authorization": aiohttp.encode_basic_auth(user, password)}  # fmt: skip
            async with session.post(self.url, data=body, headers=headers) as answer:
                await answer.read()
                self.statuses.append(answer.status)
            await asyncio.sleep(PACE_S)

    def wait_for(self, count: int) -> None:
        while len(self.statuses) < count and self.thread.is_alive():
            self.thread.join(0.05)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(120)


def _certificates(ca: CAHome) -> list[str]:
    """The serials of the issued certificates (up to 10,000), in issuance order."""
    listed = ca.cli("list", "--limit", "10000").stdout.splitlines()
    return [line.split()[0] for line in listed]


def test_a_backup_under_issuance_restores_into_a_home_that_serves(tmp_path: Path) -> None:
    ca = CAHome(tmp_path / "ca")
    run_cli("init", "--home", ca.path)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    codes = asyncio.run(make_codes(ca.path, CODES))
    # The duty holder anchors the audit trail every 0.2 s: checkpoints land during the backup.
    server = ServerProcess(ca, {"CA_AUDIT__CHECKPOINT_INTERVAL_SECONDS": "0.2"})
    load = Enrolling(server, ca_file, codes)
    try:
        load.wait_for(20)
        before = len(load.statuses)
        archive = tmp_path / "ca.tar"
        report = ca.cli("backup", "--out", archive, "--with-keys").stdout
        during = len(load.statuses) - before
        load.wait_for(len(load.statuses) + 10)
    finally:
        load.finish()
        server.stop()
    assert during > 0, "no enrollment completed while the backup ran"
    assert set(load.statuses) == {200}
    assert "registry (sqlite): " in report
    issued_at_the_end = len(_certificates(ca))

    restored = CAHome(tmp_path / "restored")
    proof = restored.cli("restore", "--from", archive).stdout
    rows = re.search(r"^  certificates: (\d+) rows$", proof, re.MULTILINE)
    assert rows is not None, proof
    held = int(rows.group(1))
    assert 4 + before <= held < issued_at_the_end
    assert "audit verify on the target: " in proof
    assert re.search(r"OCSP: the answers for \d{2,} sampled certificates are the same", proof)
    assert "audit trail intact since checkpoint " in restored.cli("audit", "verify").stdout

    shutil.copy(ca.path / "pin.txt", restored.path / "pin.txt")  # the operator's step
    serials = _certificates(restored)  # issued ones: not the intents of enrollments under way
    assert held - CLIENTS <= len(serials) <= held
    later = [serial for serial in _certificates(ca) if serial not in serials]
    unknown = next(s for s in later if restored.cli("show", "--serial", s, check=False).returncode)
    served = ServerProcess(restored)
    try:
        asked = ((serials[len(serials) // 2], "good"), (serials[-1], "good"), (unknown, "unknown"))
        for serial, status in asked:
            answer = openssl("ocsp", "-issuer", ca_file, "-CAfile", ca_file, "-no_nonce",
                             "-serial", f"0x{serial}", "-url", served.url + "/ocsp")  # fmt: skip
            printed = (answer.stdout + answer.stderr).decode()
            assert answer.returncode == 0 and "Response verify OK" in printed, printed
            assert f"0x{serial}: {status}".lower() in printed.lower(), printed
    finally:
        served.stop()
