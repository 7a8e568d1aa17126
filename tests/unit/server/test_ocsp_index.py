"""The node's OCSP index file (server/status/ocsp_index.py,
server/status/ocsp_index_keeper.py): serving processes answer from one mapped file plus
the changes since it, a change is served by every process before it is acknowledged, a
restarted process answers from the file at once, missing responses are signed a page at a
time, and a damaged file is never served but written anew. Several serving processes are
played by several StatusPublications on their own registry connections, in one process,
with the same CA home."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp as x509_ocsp

from protocols import ocsp
from protocols.crl import CRLReason
from server.authority import Authority
from server.context import open_registry
from server.registry import CertificateStatus, OCSPResponseRow
from server.status.feed import node_name
from server.status.ocsp_index import HEADER_SIZE, IndexWriter, OCSPIndex
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA

DEADLINE_S = 30.0


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Poll `check` until it holds (the upkeep runs every ocsp.poll_interval_ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def worker(local_ca: LocalCA, name: str) -> AsyncIterator[StatusPublication]:
    """A started serving process of the node (its own registry connection and watermark)."""
    registry = await open_registry(local_ca.settings)
    status = StatusPublication(local_ca.settings, registry, local_ca.signer, local_ca.clock,
                               serving=True)  # fmt: skip
    status.feed.node = f"{node_name()}#{name}"  # each is waited for on its own
    await status.start()
    try:
        yield status
    finally:
        await status.stop()
        await registry.close()


def request_der(ca_der: bytes, serial: str) -> bytes:
    ca = asn1_x509.Certificate.load(ca_der)
    cert_id = ocsp.cert_id_for(ca.subject.dump(), ca.public_key.dump(), int(serial, 16))
    return (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            cert_id.issuer_name_hash, cert_id.issuer_key_hash, cert_id.serial, hashes.SHA1()
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


def request_for(ca_der: bytes, serial: str) -> ocsp.OCSPRequest:
    return ocsp.parse_ocsp_request(request_der(ca_der, serial), 32)


def held_status(status: StatusPublication, request: ocsp.OCSPRequest) -> ocsp.CertStatus | None:
    """What the process answers without awaiting anything (the listener's hot path)."""
    answer = status.ocsp.from_memory(request)
    if answer is None:
        return None
    return ocsp.parse_ocsp_response(answer.der)[1][0].status


async def issue_many(local_ca: LocalCA, count: int) -> tuple[list[str], bytes]:
    """Certificates with their responses stored (issued through a publishing authority)."""
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock)  # fmt: skip
    await status.ocsp.load_issuers()
    authority = Authority(local_ca.settings, local_ca.registry, local_ca.signer, local_ca.clock,
                          status)  # fmt: skip
    serials = [
        (await authority.issue("tls-client", make_csr([("CN", f"c{n}")]), "t")).serial
        for n in range(count)
    ]
    return serials, (await authority.generation()).certificate_der


def index_path(local_ca: LocalCA) -> Path:
    return local_ca.settings.resolve(local_ca.settings.ocsp.index_file)


async def index_current(local_ca: LocalCA) -> bool:
    try:
        index = OCSPIndex(index_path(local_ca))
    except (OSError, ValueError):
        return False
    return index.seq >= await local_ca.registry.status.last_ocsp_seq()


async def test_a_restarted_worker_answers_from_the_index_file_holding_nothing_itself(
    local_ca: LocalCA,
) -> None:
    serials, ca_der = await issue_many(local_ca, 20)
    async with worker(local_ca, "first") as first:
        await eventually(lambda: first.index.writer, "a worker writes the file")
        await eventually(lambda: index_current(local_ca), "the file reflects every response")
    async with worker(local_ca, "restarted") as restarted:
        assert restarted.ocsp.index is not None
        assert restarted.ocsp.changed_since_index == 0  # nothing loaded into its memory
        for serial in serials:
            request = request_for(ca_der, serial)
            assert held_status(restarted, request) is ocsp.CertStatus.GOOD
            stored = await local_ca.registry.status.ocsp_response(serial)
            answer = restarted.ocsp.from_memory(request)
            assert stored is not None and answer is not None and answer.der == stored.der


async def test_a_revocation_returns_only_once_every_worker_serves_it(
    local_ca: LocalCA,
) -> None:
    """Both workers answer from the file; the change wins over it in each, before
    `revoke` returns."""
    serials, ca_der = await issue_many(local_ca, 5)
    async with worker(local_ca, "a") as a:
        await eventually(lambda: index_current(local_ca), "the file is written")
        async with worker(local_ca, "b") as b:
            await eventually(lambda: a.ocsp.index is not None, "worker a maps the file")
            request = request_for(ca_der, serials[2])
            assert held_status(a, request) is held_status(b, request) is ocsp.CertStatus.GOOD
            cli = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                    local_ca.clock)  # fmt: skip
            await cli.ocsp.load_issuers()
            revocation = Revocation(local_ca.registry, local_ca.clock, cli)
            await revocation.revoke(serials[2], CRLReason.keyCompromise, "o")
            assert held_status(a, request) is ocsp.CertStatus.REVOKED
            assert held_status(b, request) is ocsp.CertStatus.REVOKED
            assert a.ocsp.index is not None and b.ocsp.index is not None
            other = request_for(ca_der, serials[3])
            assert held_status(b, other) is ocsp.CertStatus.GOOD  # still from the file


async def test_a_worker_never_takes_up_a_file_newer_than_what_it_applied(
    local_ca: LocalCA,
) -> None:
    """Memory holds the changes since the file; a file reflecting a change this process
    has not applied is taken up only after it has caught up."""
    await issue_many(local_ca, 3)
    async with worker(local_ca, "a") as a:
        await eventually(lambda: index_current(local_ca), "the file is written")
        await eventually(lambda: a.ocsp.index is not None, "worker a maps the file")
        newer = OCSPIndex(index_path(local_ca))
        a.ocsp.seq = newer.seq - 1  # as if a change the file reflects were not applied yet
        assert a.ocsp.use_index(newer) is False
        a.ocsp.seq = newer.seq
        assert a.ocsp.use_index(newer) is True


async def test_missing_responses_are_signed_a_page_at_a_time(
    local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Certificates stored without responses (a restore, a seeded registry) get them,
    revoked ones stating their revocation, from one query per page: no read per
    certificate."""
    serials = [
        (await local_ca.authority.issue("tls-client", make_csr([("CN", f"s{n}")]), "t")).serial
        for n in range(12)
    ]  # issued without publication: no responses stored
    await local_ca.revocation.revoke(serials[0], CRLReason.keyCompromise, "o")

    async def no_reads(serial: str) -> None:
        raise AssertionError("a registry read for one certificate")

    builder = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                local_ca.clock, builder=True)  # fmt: skip
    await builder.ocsp.load_issuers()
    monkeypatch.setattr(local_ca.registry, "get_certificate", no_reads)
    assert await builder.ocsp.sign_missing() == len(serials) + 1  # and the responder's own
    assert await builder.ocsp.sign_missing() == 0
    stored = {row.serial: row for row in await local_ca.registry.status.ocsp_responses_since(0)}
    assert set(serials) <= set(stored)
    revoked = stored[serials[0]]
    assert (revoked.status, revoked.reason) == (CertificateStatus.REVOKED, 1)
    _, singles, _ = ocsp.parse_ocsp_response(revoked.der)
    assert singles[0].status is ocsp.CertStatus.REVOKED and singles[0].revocation_reason == 1


async def test_a_builder_signs_missing_responses_in_the_background_and_serves_them(
    local_ca: LocalCA,
) -> None:
    serials = [
        (await local_ca.authority.issue("tls-client", make_csr([("CN", f"b{n}")]), "t")).serial
        for n in range(5)
    ]
    async with worker(local_ca, "builder") as status:
        status.become_builder()
        await status.taken_up()
        await status.signed_missing()
        for serial in serials:
            assert await local_ca.registry.status.ocsp_response(serial) is not None


def damage_header(path: Path, response: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, response: bytes) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])


def damage_a_record(path: Path, response: bytes) -> None:
    """A byte of one response: the header and slot table still check out."""
    data = bytearray(path.read_bytes())
    at = data.find(response)
    assert at > HEADER_SIZE
    data[at + len(response) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [damage_header, truncate, damage_a_record])
async def test_a_damaged_index_file_is_not_served_and_is_written_anew(
    local_ca: LocalCA, damage: Callable[[Path, bytes], None]
) -> None:
    serials, ca_der = await issue_many(local_ca, 8)
    async with worker(local_ca, "first"):
        await eventually(lambda: index_current(local_ca), "the file is written")
    path = index_path(local_ca)
    stored = await local_ca.registry.status.ocsp_response(serials[0])
    assert stored is not None
    damage(path, stored.der)
    damaged = path.stat().st_ino, path.stat().st_size
    async with worker(local_ca, "restarted") as restarted:
        for serial in serials:  # every answer right, whatever the file holds
            answer = await restarted.ocsp.answer(request_der(ca_der, serial))
            status, singles, _ = ocsp.parse_ocsp_response(answer.der)
            assert status is ocsp.OCSPResponseStatus.successful
            assert singles[0].status is ocsp.CertStatus.GOOD
            assert singles[0].cert_id.serial == int(serial, 16)

        def rewritten() -> bool:
            index = restarted.ocsp.index
            return index is not None and (index.identity[0], index.identity[2]) != damaged

        await eventually(rewritten, "a new file is written and used")
        for serial in serials:
            request = request_for(ca_der, serial)
            assert held_status(restarted, request) is ocsp.CertStatus.GOOD


async def test_a_file_ahead_of_the_registry_is_not_served_after_a_restore(
    local_ca: LocalCA,
) -> None:
    """A file reflecting changes the registry does not have (it was restored from a
    backup) is not served: the registry answers, and the file is written anew."""
    await issue_many(local_ca, 3)
    async with worker(local_ca, "first"):
        await eventually(lambda: index_current(local_ca), "the file is written")
    restored = OCSPIndex(index_path(local_ca)).seq - 1
    async with local_ca.registry.transaction() as db:  # the backup did not have the last one
        await db.execute("DELETE FROM ocsp_responses WHERE seq > ?", (restored,))
    async with worker(local_ca, "restarted") as restarted:
        assert restarted.ocsp.index is None
        await eventually(lambda: restarted.ocsp.index is not None, "a new file is used")
        assert restarted.ocsp.index is not None and restarted.ocsp.index.seq == restored


def test_serials_sharing_their_low_64_bits_are_told_apart(tmp_path: Path) -> None:
    """The slot table keys by the serial's low 64 bits; a record names its whole serial."""
    now = datetime(2026, 12, 5, tzinfo=UTC)
    low = 0x1234_5678_9ABC_DEF0
    serials = [low | (high << 64) for high in (1, 2, 3)] + [low + 1]
    rows = [
        OCSPResponseRow(
            serial=format(serial, "x"), generation_id=1,
            status=CertificateStatus.REVOKED if n == 1 else CertificateStatus.GOOD,
            revoked_at=now if n == 1 else None, reason=1 if n == 1 else None,
            this_update=now, next_update=now + timedelta(hours=24), der=bytes([n]) * 50, seq=n + 1,
        )
        for n, serial in enumerate(serials)
    ]  # fmt: skip
    writer = IndexWriter(tmp_path / "index")
    writer.add(rows)
    writer.finish(seq=4)
    index = OCSPIndex(tmp_path / "index")
    assert (index.count, index.seq) == (4, 4)
    for n, serial in enumerate(serials):
        found = index.get(serial)
        assert found is not None and found.der == bytes([n]) * 50 and found.seq == n + 1
    revoked = index.get(serials[1])
    assert revoked is not None
    assert (revoked.status, revoked.revoked_at, revoked.reason) == (
        CertificateStatus.REVOKED, now, 1
    )  # fmt: skip
    assert index.get(low | (4 << 64)) is None and index.get(7) is None
