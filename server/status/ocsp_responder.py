"""The OCSP responder (RFC 6960, RFC 5019 profile): answers from memory, signs ahead.

Theory of operation:
- Every issued certificate has a pre-signed response with a SHA-1 CertID (RFC 5019 2.1.1),
  stored in the registry. A serving process holds them in two layers: the node's OCSP
  index file (server/status/ocsp_index.py), mapped read-only and shared by every worker through
  the page cache, which reflects the registry up to a seq; and in its own memory, every
  response changed since (`apply`), which wins over the file. A request for one
  certificate without a nonce is a dictionary look-up, then a look-up in the mapped file;
  nothing is signed, and nothing read but pages of the file.
- A response repeats the request's CertID byte for byte (RFC 6960 4.2.1), so held responses
  are keyed by the CertID DER they contain: OpenSSL sends hashAlgorithm with NULL
  parameters, Bouncy Castle without, and each must find its own. Any other form of a
  supported hash (SHA-1, SHA-256, ...; NULL or absent parameters) gets a response signed
  on first use and kept beside the SHA-1 one, stating the same status; a CertID in no such
  form (other parameters, a longer INTEGER) is answered but not kept, so that one
  certificate holds at most two responses per hash algorithm.
- Requests with a nonce (RFC 8954) or for several certificates are signed fresh, from the
  statuses in memory. A serial not in memory is looked up in the registry once (another
  process may have just issued it, or the index file is missing); one never issued under
  that issuer is `unknown`.
- A status change signs its new response before it is committed (`prepare`), and the new
  response replaces the old in memory when committed (`apply`), in this process directly
  and in the others through the registry (server/status/feed.py); memory wins over the
  index file, and a newer file is taken up only by a process that applied every change it
  reflects (`use_index`), so no process serves a status older than one it applied.
- Responses missing from the registry, and those due for renewal, are signed a batch at a
  time: each batch read in one query, handed whole to the signing pipeline, stored in one
  transaction.
- Responses are signed by the generation's delegated responder certificate (RFC 6960
  4.2.2.2), identified by key hash (4.2.2.3), and carry that certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from asn1crypto import x509 as asn1_x509

from config import Settings
from hsm import gost_engine
from hsm.backend import HSMError, KeyRef
from hsm.pipeline import SignerBusy
from protocols import ocsp
from protocols.crl import CRLReason
from protocols.x509.certificate import signature_algorithm_for
from server.clock import Clock
from server.errors import CAError, ErrorKind
from server.registry import (
    CAGeneration,
    CertificateStatus,
    OCSPResponseRow,
    interfaces,
)
from server.signing import Signer, sign, signing_error
from server.status.metrics import StatusMetrics
from server.status.ocsp_index import IndexCorrupt, IndexedResponse, OCSPIndex

log = logging.getLogger("server.ocsp_responder")

_SHA_HASHES = ("sha1", "sha256", "sha384", "sha512")  # CertID hashes answered (RFC 6960 4.1.1)


@functools.cache
def hash_algorithms() -> tuple[str, ...]:
    """The CertID hashes answered: SHA-1 and SHA-2, and GOST R 34.11-2012 (Streebog-256/512)
    where OpenSSL's GOST engine is installed, as Russian relying parties ask with it
    (reference/ru-profile.md 7). Decided at the first issuer's load, not at import."""
    return _SHA_HASHES + (("streebog256", "streebog512") if gost_engine.available() is None else ())


SIGN_BATCH = 2000  # responses signed and stored together (missing ones, renewals)
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)  # `ocsp_responses_due` for the soonest of all
UNKNOWN_REMEMBERED = 10_000  # serials whose signed `unknown` answer is kept
LIVE_SINGLES_REMEMBERED = 10_000  # SingleResponses of one second kept for live answers
ISSUER_RELOAD_EVERY_S = 1.0  # at most one read of the CA generations for unknown issuers


class OCSPAnswer(NamedTuple):
    """A DER OCSPResponse and how HTTP caches may keep it (RFC 5019 section 6). A named
    tuple: one is made for every live answer."""

    der: bytes
    max_age: int = 0  # seconds; 0: do not cache
    last_modified: datetime | None = None
    expires: datetime | None = None
    etag: str | None = None


class LiveAnswer:
    """An answer signed for one request (a nonce, several certificates): the signing
    pipeline's future of the signature, and the response it completes. The OCSP listener
    chains on `signature` and takes `result()` when it is done: one future per answer, no
    task. Others `await wait()`."""

    __slots__ = ("_data", "_error", "_issuer", "signature")

    def __init__(
        self,
        data: bytes,
        issuer: _Issuer,
        signature: asyncio.Future[bytes],
        error: Callable[[ocsp.OCSPResponseStatus], OCSPAnswer],
    ) -> None:
        self._data = data
        self._issuer = issuer
        self.signature = signature
        self._error = error

    def result(self) -> OCSPAnswer:
        """The answer, once `signature` is done: tryLater when the pipeline was busy, down
        or gave up. Raises what else went wrong (the caller answers internalError)."""
        signed = self.signature
        failure = (
            HSMError("the signing request was cancelled")
            if signed.cancelled()
            else signed.exception()
        )
        if isinstance(failure, HSMError):
            return self._error(_status_for(signing_error(failure)))
        if failure is not None:
            raise failure
        issuer = self._issuer
        der = ocsp.assemble_ocsp_response(
            self._data, issuer.signature_algorithm, signed.result(), [issuer.responder_certificate]
        )
        return OCSPAnswer(der=der)

    async def wait(self) -> OCSPAnswer:
        await asyncio.wait([self.signature])
        return self.result()


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class _Issuer:
    generation: CAGeneration
    name_der: bytes
    spki_der: bytes
    responder_key: KeyRef
    responder_certificate: bytes
    responder_not_after: datetime
    responder_key_hash: bytes
    signature_algorithm: str
    # hash algorithm -> (issuerNameHash, issuerKeyHash), RFC 6960 4.1.1
    hashes: dict[str, tuple[bytes, bytes]]

    def cert_ids(self, serial: int, hash_algorithm: str) -> tuple[bytes, ...]:
        """The DER CertIDs a response of ours may be kept under: NULL and absent
        hashAlgorithm parameters (RFC 5754 2), the shortest serial INTEGER."""
        name_hash, key_hash = self.hashes[hash_algorithm]
        return tuple(
            ocsp.cert_id_with_hashes(hash_algorithm, name_hash, key_hash, serial, null).der
            for null in (True, False)
        )


@dataclass
class _Entry:
    """What this process knows of one certificate's status, and its signed responses."""

    generation_id: int
    status: CertificateStatus
    revoked_at: datetime | None
    reason: int | None
    this_update: datetime
    next_update: datetime
    # CertID DER -> response DER, ETag: each response under the CertID it repeats
    responses: dict[bytes, tuple[bytes, str]] = field(default_factory=dict)
    seq: int = 0  # the registry change that stored the response


class _ToSign(NamedTuple):
    """A response to sign: for which certificate, stating what."""

    issuer: _Issuer
    serial: str
    status: CertificateStatus
    revoked_at: datetime | None
    reason: int | None


class OCSPRegistry(
    interfaces.OCSPStatus,
    interfaces.Generations,
    interfaces.OCSPResponders,
    interfaces.Certificates,
    Protocol,
):
    """The registry as the OCSP responder uses it."""


class OCSPResponder:
    def __init__(
        self,
        settings: Settings,
        registry: OCSPRegistry,
        signer: Signer,
        clock: Clock,
        metrics: StatusMetrics,
    ) -> None:
        self._settings = settings.ocsp
        self._metrics = metrics
        self._ca_name = settings.ca.name
        self._registry = registry
        self._signer = signer
        self._clock = clock
        self._issuers: dict[tuple[str, bytes, bytes], _Issuer] = {}
        self._by_generation: dict[int, _Issuer] = {}
        # Responses changed since the index file's seq (all of them without a file), and
        # those signed for other CertID forms: they win over the file.
        self._entries: dict[int, _Entry] = {}
        self._index: OCSPIndex | None = None
        self.on_corrupt_index: Callable[[OCSPIndex], None] | None = None
        # Signed `unknown` answers, kept for unknown_max_age_seconds so that a client
        # repeating a question about a serial we never issued costs no signature.
        self._unknown: OrderedDict[int, dict[bytes, tuple[bytes, datetime]]] = OrderedDict()
        # SingleResponses signed live in the current second, by CertID and status: a
        # certificate asked about many times a second is encoded once (nonce path).
        self._live_second: datetime | None = None
        self._live_singles: dict[tuple[object, ...], bytes] = {}
        self._issuers_read_at: datetime | None = None  # the last reload_issuers
        self.seq = 0  # the last registry change applied
        self.version = 0  # grows whenever a held response changes (listeners' caches)

    # -- start-up and changes --------------------------------------------------------------

    async def load_issuers(self) -> None:
        """Learn the CA generations and their responders; follow only newer changes."""
        await self.reload_issuers()
        self.seq = await self._registry.status.last_ocsp_seq()

    async def reload_issuers(self) -> None:
        """Take up CA generations and responder certificates made since (a rollover, a
        renewal by another process), and drop retired generations: their responder keys
        are destroyed, and a request about them is answered unauthorized (RFC 6960 2.3:
        this server can no longer answer authoritatively for that issuer)."""
        self._issuers_read_at = self._clock()
        for generation in await self._registry.generations(self._ca_name):
            if generation.state == "retired":
                self._forget_issuer(generation.id)
                continue
            responder = await self._registry.ocsp_responder(generation.id)
            if responder is None:
                continue
            serial, key = responder
            record = await self._registry.get_certificate(serial)
            if record is None or record.der is None:
                continue
            self._add_issuer(generation, key, record.der)

    @property
    def index(self) -> OCSPIndex | None:
        return self._index

    @property
    def changed_since_index(self) -> int:
        """Responses held in this process's memory rather than in the index file."""
        return len(self._entries)

    def start_from(self, index: OCSPIndex) -> None:
        """At start, before following changes: answer from `index`, and follow the
        registry's changes from the seq it reflects."""
        self._entries.clear()
        self._index = index
        self.seq = index.seq
        self.version += 1
        self._count_presigned()

    def use_index(self, index: OCSPIndex) -> bool:
        """Answer from `index` from now on, dropping from memory what it holds. False, and
        nothing changed, while this process has not applied every change the file
        reflects: it would serve an older status than it applied elsewhere (catch up
        first)."""
        if index.seq > self.seq:
            return False
        self._entries = {s: e for s, e in self._entries.items() if e.seq > index.seq}
        self._index = index
        self.version += 1
        self._count_presigned()
        return True

    def _count_presigned(self) -> None:
        held = self._index.count if self._index is not None else 0
        self._metrics.ocsp_presigned.set(held + len(self._entries))

    async def sign_missing(self) -> int:
        """Sign and store the responses of certificates that have none (the builder): the
        certificates walked a page at a time, a page's missing ones signed as one batch by
        the pipeline while the previous batch is stored, so that the pipeline's batches
        stay full and memory holds two pages. Returns how many were signed."""
        after: str | None = ""
        signed = 0
        storing: asyncio.Task[None] | None = None
        try:
            while after is not None:
                page, after = await self._registry.status.certificates_without_response(
                    after, SIGN_BATCH
                )
                if not page:
                    continue
                wanted = [
                    _ToSign(self._by_generation[item.generation_id], item.serial, item.status,
                            item.revoked_at, CRLReason[item.reason].value if item.reason else None)
                    for item in page
                    if item.generation_id in self._by_generation
                ]  # fmt: skip
                rows = await self._sign_rows(wanted)
                if storing is not None:
                    await storing
                storing = asyncio.create_task(self._store(rows))
                signed += len(rows)
            if storing is not None:
                await storing
        finally:
            if storing is not None and not storing.done():
                storing.cancel()
        return signed

    def _add_issuer(self, generation: CAGeneration, key: KeyRef, responder_der: bytes) -> None:
        ca = asn1_x509.Certificate.load(generation.certificate_der)
        name_der = ca.subject.dump()
        spki_der = ca.public_key.dump()
        responder = asn1_x509.Certificate.load(responder_der)
        responder_spki = responder.public_key.dump()
        hashes = {
            algorithm: (
                ocsp.issuer_name_hash(name_der, algorithm),
                ocsp.issuer_key_hash(spki_der, algorithm),
            )
            for algorithm in hash_algorithms()
        }
        issuer = _Issuer(
            generation=generation,
            name_der=name_der,
            spki_der=spki_der,
            responder_key=key,
            responder_certificate=responder_der,
            responder_not_after=responder.not_valid_after,
            responder_key_hash=ocsp.issuer_key_hash(responder_spki, "sha1"),
            signature_algorithm=signature_algorithm_for(responder_spki),
            hashes=hashes,
        )
        self._by_generation[generation.id] = issuer
        for algorithm, (name_hash, key_hash) in hashes.items():
            self._issuers[(algorithm, name_hash, key_hash)] = issuer

    def _forget_issuer(self, generation_id: int) -> None:
        issuer = self._by_generation.pop(generation_id, None)
        if issuer is None:
            return
        with contextlib.suppress(KeyError):  # never measured in this process
            self._metrics.ocsp_next_update.remove(str(generation_id))
        for algorithm, (name_hash, key_hash) in issuer.hashes.items():
            self._issuers.pop((algorithm, name_hash, key_hash), None)
        self.version += 1  # listeners' rendered answers for it are stale

    def apply(self, rows: list[OCSPResponseRow]) -> None:
        """Replace what memory holds for these certificates by the rows' responses (a row
        older than the one held is skipped: a look-up may race a change)."""
        self.version += 1
        for row in rows:
            serial = int(row.serial, 16)
            self._unknown.pop(serial, None)
            held = self._entries.get(serial)
            if held is not None and held.seq > row.seq:
                continue
            issuer = self._by_generation.get(row.generation_id)
            # The stored response's CertID: SHA-1 with NULL parameters (`_sign_row`).
            cert_id = (
                ocsp.cert_id_with_hashes("sha1", *issuer.hashes["sha1"], serial).der
                if issuer is not None
                else b""
            )
            self._entries[serial] = _Entry(
                generation_id=row.generation_id,
                status=row.status,
                revoked_at=row.revoked_at,
                reason=row.reason,
                this_update=row.this_update,
                next_update=row.next_update,
                responses={cert_id: (row.der, _etag(row.der))},
                seq=row.seq,
            )
            self.seq = max(self.seq, row.seq)
        self._count_presigned()

    async def prepare(
        self,
        serial: str,
        generation_id: int | None,
        status: CertificateStatus,
        revoked_at: datetime | None,
        reason: int | None,
    ) -> OCSPResponseRow | None:
        """Sign the response a status change will publish (before it is committed). A
        generation not known yet (a rollover made it since) is learnt here first, so its
        first certificates are stored with their response."""
        if generation_id is None:
            return None
        if generation_id not in self._by_generation:
            await self.reload_issuers()
        issuer = self._by_generation.get(generation_id)
        if issuer is None:
            return None
        return await self._sign_row(issuer, serial, status, revoked_at, reason)

    def responders_expiring(self, before: datetime) -> list[CAGeneration]:
        """Generations not retired whose responder certificate ends before `before`: the
        issuing one, those a rollover left, and compromised ones, whose own key goes on
        signing their CRLs and responder certificates (server/generations/compromise.py),
        so that their OCSP answers keep verifying for relying parties who still trust them."""
        return [
            issuer.generation
            for issuer in self._by_generation.values()
            if issuer.responder_not_after < before and issuer.generation.state != "retired"
        ]

    async def refresh_due(self, limit: int = SIGN_BATCH, before: datetime | None = None) -> int:
        """Re-sign up to `limit` responses whose nextUpdate comes before `before` (by
        default: within ocsp.refresh_before_hours); returns how many. Only the responses
        of generations this responder signs for: a retired generation's are never signed
        again, and must not stand in the way of the others'."""
        if before is None:
            before = self._clock() + timedelta(hours=self._settings.refresh_before_hours)
        wanted: list[_ToSign] = []
        for issuer in list(self._by_generation.values()):
            due = await self._registry.status.ocsp_responses_due(
                issuer.generation.id, before, limit - len(wanted)
            )
            wanted += [_ToSign(issuer, old.serial, old.status, old.revoked_at, old.reason)
                       for old in due]  # fmt: skip
            if len(wanted) >= limit:
                break
        rows = await self._sign_rows(wanted)
        await self._store(rows)
        return len(rows)

    async def measure_next_update(self) -> None:
        """`ca_ocsp_next_update_timestamp_seconds{generation}`: the soonest nextUpdate of
        each generation's stored responses, which the refresh keeps at least
        ocsp.refresh_before_hours ahead; an alert watches it come near (the refresh
        stopped, or cannot sign)."""
        for issuer in list(self._by_generation.values()):
            soonest = await self._registry.status.ocsp_responses_due(
                issuer.generation.id, _END_OF_TIME, 1
            )
            if soonest:
                label = str(issuer.generation.id)
                self._metrics.ocsp_next_update.labels(label).set(soonest[0].next_update.timestamp())

    async def resign_all(self) -> None:
        """Re-sign every stored response (after a responder renewal)."""
        await self.refresh_all_due(self._clock() + timedelta(hours=self._settings.validity_hours))

    async def refresh_all_due(self, before: datetime | None = None) -> None:
        """`refresh_due` in rounds until nothing is left to re-sign."""
        refreshed = await self.refresh_due(before=before)
        while refreshed:
            refreshed = await self.refresh_due(before=before)

    async def _store(self, rows: list[OCSPResponseRow]) -> None:
        if not rows:
            return
        last = await self._registry.status.put_ocsp_responses(rows)
        first = last - len(rows) + 1
        self.apply([_with_seq(row, first + n) for n, row in enumerate(rows)])

    async def _row_for_serial(self, serial: str) -> OCSPResponseRow | None:
        """The certificate's stored response, or one signed now when it has none."""
        stored = await self._registry.status.ocsp_response(serial)
        if stored is not None:
            return stored
        record = await self._registry.get_certificate(serial)
        if record is None or record.generation_id not in self._by_generation:
            return None
        revoked_at, reason = None, None
        if record.status is not CertificateStatus.GOOD:
            revocation = await self._registry.status.revocation_of(serial)
            if revocation is not None:
                revoked_at = revocation[0]
                reason = CRLReason[revocation[1]].value if revocation[1] else None
        issuer = self._by_generation[record.generation_id]  # type: ignore[index]
        return await self._sign_row(issuer, serial, record.status, revoked_at, reason)

    async def _sign_row(
        self,
        issuer: _Issuer,
        serial: str,
        status: CertificateStatus,
        revoked_at: datetime | None,
        reason: int | None,
    ) -> OCSPResponseRow:
        now = self._clock()
        next_update = now + timedelta(hours=self._settings.validity_hours)
        cert_id = ocsp.cert_id_with_hashes("sha1", *issuer.hashes["sha1"], int(serial, 16))
        single = _single(cert_id, status, revoked_at, reason, now, next_update)
        der = await self._sign(issuer, [single], None)
        return OCSPResponseRow(
            serial=serial,
            generation_id=issuer.generation.id,
            status=status,
            revoked_at=revoked_at,
            reason=reason,
            this_update=now,
            next_update=next_update,
            der=der,
        )

    async def _sign_rows(self, wanted: list[_ToSign]) -> list[OCSPResponseRow]:
        """Sign many responses as one batch: every request handed to the pipeline at once
        (no coroutine each), then their futures awaited together. Raises CAError when the
        pipeline fails."""
        now = self._clock()
        next_update = now + timedelta(hours=self._settings.validity_hours)
        datas = []
        for item in wanted:
            issuer = item.issuer
            cert_id = ocsp.cert_id_with_hashes("sha1", *issuer.hashes["sha1"], int(item.serial, 16))
            single = _single(cert_id, item.status, item.revoked_at, item.reason, now, next_update)
            datas.append(ocsp.build_response_data(issuer.responder_key_hash, now, [single], None))
        signatures: list[asyncio.Future[bytes]] = []
        try:
            for item, data in zip(wanted, datas, strict=True):
                key = item.issuer.responder_key
                try:
                    signatures.append(self._signer.submit(key, data))
                except SignerBusy:
                    signatures.append(await self._submit_when_room(key, data, signatures))
            signed = await asyncio.gather(*signatures)
        except HSMError as exc:
            for future in signatures:
                future.cancel()
            raise signing_error(exc) from exc
        return [
            OCSPResponseRow(
                serial=item.serial,
                generation_id=item.issuer.generation.id,
                status=item.status,
                revoked_at=item.revoked_at,
                reason=item.reason,
                this_update=now,
                next_update=next_update,
                der=ocsp.assemble_ocsp_response(data, item.issuer.signature_algorithm, signature,
                                                [item.issuer.responder_certificate]),
            )
            for item, data, signature in zip(wanted, datas, signed, strict=True)
        ]  # fmt: skip

    async def _submit_when_room(
        self, key: KeyRef, data: bytes, submitted: list[asyncio.Future[bytes]]
    ) -> asyncio.Future[bytes]:
        """Queue one signature once the pipeline's queue, full now, has room: wait for one
        of ours to be done and try again (background work yields to answers)."""
        while True:
            waiting = [future for future in submitted if not future.done()]
            if not waiting:
                return self._signer.submit(key, data)  # raises SignerBusy: not ours to wait
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            try:
                return self._signer.submit(key, data)
            except SignerBusy:
                continue

    async def _sign(self, issuer: _Issuer, singles: list[bytes], nonce: bytes | None) -> bytes:
        data = ocsp.build_response_data(issuer.responder_key_hash, self._clock(), singles, nonce)
        signature = await sign(self._signer, issuer.responder_key, data)
        return ocsp.assemble_ocsp_response(
            data, issuer.signature_algorithm, signature, [issuer.responder_certificate]
        )

    # -- answering -------------------------------------------------------------------------

    def parse(self, request_der: bytes) -> ocsp.OCSPRequest | None:
        """The request, or None when it is malformed (RFC 6960 4.1)."""
        try:
            return ocsp.parse_ocsp_request(request_der, self._settings.max_nonce_length)
        except ocsp.MalformedOCSPRequest:
            return None

    def from_memory(self, request: ocsp.OCSPRequest) -> OCSPAnswer | None:
        """The pre-signed answer to a request for one certificate without nonce, when
        memory holds it and it is fresh; None when `answer_request` must be awaited. No
        await, no task: the hot path of every OCSP listener."""
        if len(request.cert_ids) != 1 or request.nonce is not None:
            return None
        cert_id = request.cert_ids[0]
        issuer = self._issuers.get(_issuer_key(cert_id))
        entry = self._held(cert_id.serial, issuer)
        if issuer is None or entry is None or entry.generation_id != issuer.generation.id:
            return None
        signed = entry.responses.get(cert_id.der)  # RFC 6960 4.2.1: the request's own CertID
        now = self._clock()
        if signed is None or entry.next_update <= now:
            return None
        self._metrics.ocsp["cached"].inc()
        return _presigned(entry, signed, now)

    def malformed(self) -> OCSPAnswer:
        return self._error(ocsp.OCSPResponseStatus.malformedRequest)

    def internal_error(self) -> OCSPAnswer:
        return self._error(ocsp.OCSPResponseStatus.internalError)

    async def answer(self, request_der: bytes) -> OCSPAnswer:
        """The response to one DER OCSPRequest; never raises for a client's mistake."""
        request = self.parse(request_der)
        if request is None:
            return self.malformed()
        return self.from_memory(request) or await self.answer_request(request)

    async def answer_request(self, request: ocsp.OCSPRequest) -> OCSPAnswer:
        """The response to a parsed request (signing when memory cannot answer)."""
        issuer = self._sole_issuer(request) or await self._learnt_issuer(request)
        if issuer is None:
            return self._error(ocsp.OCSPResponseStatus.unauthorized)
        try:
            if len(request.cert_ids) == 1 and request.nonce is None:
                return await self._cached(issuer, request.cert_ids[0])
            return await self._fresh(issuer, request.cert_ids, request.nonce)
        except CAError as exc:
            return self._error(_status_for(exc))

    def fresh_from_memory(self, request: ocsp.OCSPRequest) -> LiveAnswer | None:
        """The freshly signed answer to a request with a nonce or for several certificates,
        when memory holds every status: the signing pipeline resolves it, with no task or
        coroutine per request (the OCSP listener's nonce path). None when the registry
        must be read first or the issuer is not ours: `answer_request` then."""
        issuer = self._sole_issuer(request)
        if issuer is None:
            return None
        now = self._clock()
        next_update = now + timedelta(hours=self._settings.validity_hours)
        singles = []
        for cert_id in request.cert_ids:
            entry = self._held(cert_id.serial, issuer)
            if entry is None:
                return None
            singles.append(self._fresh_single(issuer, cert_id, entry, now, next_update))
        self._metrics.ocsp["fresh"].inc()
        return self._signed_answer(issuer, singles, request.nonce, now)

    async def _learnt_issuer(self, request: ocsp.OCSPRequest) -> _Issuer | None:
        """The request's issuer once the CA generations are read again, when it names one
        this process does not know: a generation a rollover made since it last read them
        (every process reads them at least every publication.OCSP_REFRESH_EVERY_S). At most
        one such read every ISSUER_RELOAD_EVERY_S, whoever asks about unknown issuers."""
        if self._issuers.get(_issuer_key(request.cert_ids[0])) is not None:
            return None  # several issuers at once: no reading helps
        now = self._clock()
        read_at = self._issuers_read_at
        if read_at is not None and (now - read_at).total_seconds() < ISSUER_RELOAD_EVERY_S:
            return None
        await self.reload_issuers()
        return self._sole_issuer(request)

    def _sole_issuer(self, request: ocsp.OCSPRequest) -> _Issuer | None:
        """The one issuer every CertID names; None for an issuer this responder does not
        serve, or several at once (RFC 6960 2.3: unauthorized)."""
        cert_ids = request.cert_ids
        issuer = self._issuers.get(_issuer_key(cert_ids[0]))
        for cert_id in cert_ids[1:]:
            if self._issuers.get(_issuer_key(cert_id)) is not issuer:
                return None
        return issuer

    def _error(self, status: ocsp.OCSPResponseStatus) -> OCSPAnswer:
        outcome = {
            ocsp.OCSPResponseStatus.malformedRequest: "malformed",
            ocsp.OCSPResponseStatus.unauthorized: "unauthorized",
            ocsp.OCSPResponseStatus.tryLater: "try_later",
        }.get(status, "error")
        self._metrics.ocsp[outcome].inc()
        return OCSPAnswer(der=ocsp.error_response(status))

    async def _cached(self, issuer: _Issuer, cert_id: ocsp.CertID) -> OCSPAnswer:
        now = self._clock()
        remembered = self._unknown.get(cert_id.serial, {}).get(cert_id.der)
        entry = (
            None
            if remembered and remembered[1] > now
            else await self._entry(issuer, cert_id.serial)
        )
        if entry is None:
            return await self._answer_unknown(issuer, cert_id, now)
        if entry.next_update <= now:  # the refresh has not come round: never serve stale
            row = await self._sign_row(
                issuer, format(cert_id.serial, "x"), entry.status, entry.revoked_at, entry.reason
            )
            await self._store([row])
            entry = self._entries[cert_id.serial]
        signed = entry.responses.get(cert_id.der)  # RFC 6960 4.2.1: the request's own CertID
        if signed is None:
            self._metrics.ocsp["signed"].inc()
            single = _single(cert_id, entry.status, entry.revoked_at, entry.reason,
                             entry.this_update, entry.next_update)  # fmt: skip
            der = await self._sign(issuer, [single], None)
            signed = (der, _etag(der))
            if cert_id.der in issuer.cert_ids(cert_id.serial, cert_id.hash_algorithm):
                entry.responses[cert_id.der] = signed
                self._entries.setdefault(cert_id.serial, entry)  # an entry from the file
        else:
            self._metrics.ocsp["cached"].inc()
        return _presigned(entry, signed, now)

    async def _answer_unknown(
        self, issuer: _Issuer, cert_id: ocsp.CertID, now: datetime
    ) -> OCSPAnswer:
        """`unknown` (RFC 6960 2.2), remembered for a short while, cacheable as long."""
        self._metrics.ocsp["unknown"].inc()
        known = self._unknown.setdefault(cert_id.serial, {})
        self._unknown.move_to_end(cert_id.serial)
        remembered = known.get(cert_id.der)  # RFC 6960 4.2.1: the request's own CertID
        if remembered is None or remembered[1] <= now:
            der = await self._sign(issuer, [_unknown(cert_id, now)], None)
            until = now + timedelta(seconds=self._settings.unknown_max_age_seconds)
            remembered = (der, until)
            if cert_id.der in issuer.cert_ids(cert_id.serial, cert_id.hash_algorithm):
                known[cert_id.der] = remembered
            while len(self._unknown) > UNKNOWN_REMEMBERED:
                self._unknown.popitem(last=False)
        der, until = remembered
        return OCSPAnswer(der=der, max_age=max(0, int((until - now).total_seconds())))

    async def _fresh(
        self, issuer: _Issuer, cert_ids: tuple[ocsp.CertID, ...], nonce: bytes | None
    ) -> OCSPAnswer:
        for cert_id in cert_ids:  # into memory first, when another process just issued it
            await self._entry(issuer, cert_id.serial)
        now = self._clock()
        next_update = now + timedelta(hours=self._settings.validity_hours)
        singles = [
            self._fresh_single(issuer, cert_id, self._held(cert_id.serial, issuer), now,
                               next_update)
            for cert_id in cert_ids
        ]  # fmt: skip
        self._metrics.ocsp["fresh"].inc()
        return await self._signed_answer(issuer, singles, nonce, now).wait()

    def _fresh_single(
        self,
        issuer: _Issuer,
        cert_id: ocsp.CertID,
        entry: _Entry | None,
        now: datetime,
        next_update: datetime,
    ) -> bytes:
        if entry is None or entry.generation_id != issuer.generation.id:
            return _unknown(cert_id, now)  # never issued under this issuer
        if now != self._live_second:
            self._live_second = now
            self._live_singles.clear()
        key = (cert_id.der, entry.status, entry.revoked_at, entry.reason)  # `now` is the second
        single = self._live_singles.get(key)
        if single is None:
            single = _single(cert_id, entry.status, entry.revoked_at, entry.reason, now,
                             next_update)  # fmt: skip
            if len(self._live_singles) < LIVE_SINGLES_REMEMBERED:
                self._live_singles[key] = single
        return single

    def _signed_answer(
        self, issuer: _Issuer, singles: list[bytes], nonce: bytes | None, now: datetime
    ) -> LiveAnswer:
        """The answer being signed by the pipeline; one that could not be handed over (a
        busy or absent pipeline) is done already, with tryLater."""
        data = ocsp.build_response_data(issuer.responder_key_hash, now, singles, nonce)
        try:
            signature = self._signer.submit(issuer.responder_key, data)
        except HSMError as exc:
            signature = asyncio.get_running_loop().create_future()
            signature.set_exception(exc)
        return LiveAnswer(data, issuer, signature, self._error)

    def _held(self, serial: int, issuer: _Issuer | None) -> _Entry | None:
        """What this process holds for `serial`: memory first, then the index file."""
        entry = self._entries.get(serial)
        if entry is not None or self._index is None:
            return entry
        index = self._index
        try:
            found = index.get(serial)
        except IndexCorrupt as exc:
            log.error("OCSP index file not used any more: %s", exc)
            self._index = None
            self.version += 1
            if self.on_corrupt_index is not None:
                self.on_corrupt_index(index)
            return None
        if found is None:
            return None
        return _from_index(found, serial, issuer)

    async def _entry(self, issuer: _Issuer, serial: int) -> _Entry | None:
        entry = self._held(serial, issuer)
        if entry is None:
            row = await self._row_for_serial(format(serial, "x"))
            if row is None:
                return None
            if row.seq:  # stored already: hold it
                self.apply([row])
            else:
                await self._store([row])
            entry = self._entries[serial]
        if entry.generation_id != issuer.generation.id:
            return None  # a serial of another generation is unknown under this issuer
        return entry


def _from_index(found: IndexedResponse, serial: int, issuer: _Issuer | None) -> _Entry:
    """An entry made for one answer from the index file's record: its response is kept
    under the SHA-1 CertID it repeats (`_sign_row`), as `apply` keeps it."""
    responses = {}
    if issuer is not None and issuer.generation.id == found.generation_id:
        cert_id = ocsp.cert_id_with_hashes("sha1", *issuer.hashes["sha1"], serial).der
        responses[cert_id] = (found.der, found.etag)
    return _Entry(
        generation_id=found.generation_id,
        status=found.status,
        revoked_at=found.revoked_at,
        reason=found.reason,
        this_update=found.this_update,
        next_update=found.next_update,
        responses=responses,
        seq=found.seq,
    )


def _presigned(entry: _Entry, signed: tuple[bytes, str], now: datetime) -> OCSPAnswer:
    """A pre-signed answer, cacheable until the response's nextUpdate (RFC 5019 6.2)."""
    return OCSPAnswer(
        der=signed[0],
        max_age=max(0, int((entry.next_update - now).total_seconds())),
        last_modified=entry.this_update,
        expires=entry.next_update,
        etag=signed[1],
    )


def _etag(der: bytes) -> str:
    """An entity tag for HTTP caches, computed once per signed response, not per request."""
    return hashlib.sha1(der).hexdigest()


def _issuer_key(cert_id: ocsp.CertID) -> tuple[str, bytes, bytes]:
    return (cert_id.hash_algorithm, cert_id.issuer_name_hash, cert_id.issuer_key_hash)


def _single(
    cert_id: ocsp.CertID,
    status: CertificateStatus,
    revoked_at: datetime | None,
    reason: int | None,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    if status is CertificateStatus.GOOD:
        return ocsp.build_single_response(cert_id, ocsp.CertStatus.GOOD, this_update, next_update)
    return ocsp.build_single_response(
        cert_id, ocsp.CertStatus.REVOKED, this_update, next_update, revoked_at, reason
    )


def _unknown(cert_id: ocsp.CertID, now: datetime) -> bytes:
    return ocsp.build_single_response(cert_id, ocsp.CertStatus.UNKNOWN, now, None)


def _with_seq(row: OCSPResponseRow, seq: int) -> OCSPResponseRow:
    return OCSPResponseRow(**{**row.__dict__, "seq": seq})


def _status_for(exc: CAError) -> ocsp.OCSPResponseStatus:
    """A busy or unreachable signing pipeline is transient: tryLater (RFC 6960 4.2.1)."""
    if exc.kind in (ErrorKind.BUSY, ErrorKind.UNAVAILABLE):
        return ocsp.OCSPResponseStatus.tryLater
    return ocsp.OCSPResponseStatus.internalError
