"""The composition root: builds every object of a running CA from its settings.

`open_ca` opens the registry, starts the signer processes and the signing pipeline (when
asked), and wires the services to them. Nothing here is a module-level singleton: each CA
has its own Prometheus CollectorRegistry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from config import Settings
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend
from hsm.backend_spec import BackendSpec
from hsm.pipeline import SigningPipeline
from hsm.signer_pool import SignerPool
from server.audit_checkpoints import AuditCheckpoints
from server.authority import Authority
from server.clock import Clock, utc_now
from server.cmp.identity import CMPIdentities
from server.confirmation.cases import ConfirmationCases
from server.confirmation.checker import Confirmations
from server.confirmation.report_signer import ReportSigner
from server.confirmation.trust import read_trusted_ca_files
from server.enrollment.credentials import EnrollmentCredentials, derivation_key
from server.enrollment.enroll import Enrollment, HolderEnrollment, ServerKeyGeneration
from server.errors import CAError, ErrorKind
from server.generations.compromise import Compromised, compromise
from server.generations.responder import issue_ocsp_responder
from server.generations.rollover import RolledOver, rollover
from server.generations.subordinate_rollover import NextRequest, request_next_generation
from server.hierarchy.root_publication import RootPublication
from server.node.duties import DutyHolder
from server.node.generation_retirement import GenerationRetirement
from server.node.health import Health
from server.node.intent_sweeper import IntentSweeper
from server.node.key_lifetime import KeyLifetimeMetrics
from server.node.retention import Retention
from server.node.scheduled_rollover import SCHEDULED, SCHEDULED_ACTOR, ScheduledRollover
from server.outbox import OutboxDelivery, open_sender
from server.ra.applications import Applications
from server.ra.subscribers import Subscribers
from server.registry import CAGeneration, Registry
from server.registry_access import open_registry
from server.signing import CertificateSigner
from server.status.feed import node_name
from server.status.publication import StatusPublication
from server.status.revocation import Revocation

if TYPE_CHECKING:
    from server.cmp.server import CMPServer


@dataclass
class CA:
    settings: Settings
    registry: Registry
    authority: Authority
    revocation: Revocation
    credentials: EnrollmentCredentials
    subscribers: Subscribers
    applications: Applications
    confirmation_cases: ConfirmationCases  # requests to confirm a signature (8.2, V3)
    make_cmp: Callable[[], CMPServer] = field(repr=False)  # `cmp`, built at first use
    cmp_identity: CMPIdentities  # what CMP answers and key packages are signed with
    confirmations: Confirmations  # S10, S11: signatures and certificates confirmed
    report_signer: ReportSigner  # #17: confirmation reports signed (CMS detached)
    enrollment: Enrollment
    holders: HolderEnrollment
    server_keygen: ServerKeyGeneration
    status: StatusPublication
    audit: AuditCheckpoints
    intents: IntentSweeper
    key_lifetimes: KeyLifetimeMetrics  # refreshed when /metrics is scraped
    roots: RootPublication  # the root CA kept in the home, if any: its certificate and CRL
    scheduled_rollover: ScheduledRollover
    retirement: GenerationRetirement
    retention: Retention  # C1: personal data removed once kept long enough
    # K4: (generation, grounds, actor) -> the compromise declared (server/generations/compromise.py)
    compromise: Callable[[int, str, str], Awaitable[Compromised]]
    metrics: CollectorRegistry
    clock: Clock
    health: Health | None = None  # serving processes: what /healthz reports
    duties: DutyHolder | None = None  # serving processes: the duty lease

    @functools.cached_property
    def cmp(self) -> CMPServer:
        """The CMP server, built when first asked for: its ASN.1 modules take most of a
        command line's start, and only the web server's CMP endpoint needs them."""
        return self.make_cmp()


def backend_spec(settings: Settings) -> BackendSpec:
    hsm = settings.hsm
    return BackendSpec(
        kind="pkcs11" if hsm.backend == "pkcs11" else "soft",
        key_dir=str(settings.resolve(hsm.key_dir)),
        module_path=hsm.module,
        token_label=hsm.token_label,
        secret_env=hsm.pin_env,
        secret_file=str(settings.resolve(hsm.pin_file)) if hsm.pin_file else "",
    )


def open_backend(settings: Settings) -> SigningBackend:
    """The backend itself, in this process: for key generation, never for signing."""
    try:
        return backend_spec(settings).open()
    except HSMError as exc:
        raise CAError(ErrorKind.UNAVAILABLE, str(exc)) from exc


def destroy_backend_keys(settings: Settings, keys: list[KeyRef]) -> None:
    """Destroy `keys` in the CA's backend, opened here in this thread. Raises CAError,
    HSMError."""
    backend = open_backend(settings)
    try:
        for key in keys:
            backend.destroy_key(key)
    finally:
        backend.close()


def _new_key(settings: Settings, label: str, algorithm: KeyAlgorithm) -> tuple[KeyRef, bytes]:
    """A new key in the backend and its SubjectPublicKeyInfo, all in one thread (a PKCS#11
    backend is driven from one thread only)."""
    backend = open_backend(settings)
    try:
        key = backend.generate_key(label, algorithm)
        return key, backend.public_key_der(key)
    finally:
        backend.close()


@contextmanager
def signer_pool(settings: Settings) -> Iterator[SignerPool]:
    """Signer processes for this CA, with their sockets in a fresh private folder (mode
    0700), so several servers and commands on one home never share or remove each other's
    sockets. Stopped and cleaned up when the context ends."""
    folder = Path(tempfile.mkdtemp(prefix="ca-signers-"))
    pool = SignerPool(backend_spec(settings), folder, settings.pipeline.signer_processes)
    try:
        try:
            pool.start()
        except HSMError as exc:
            raise CAError(ErrorKind.UNAVAILABLE, str(exc)) from exc
        yield pool
    finally:
        pool.stop()
        shutil.rmtree(folder, ignore_errors=True)


class _NoSigner:
    def submit(self, key: object, data: bytes) -> asyncio.Future[bytes]:
        raise HSMError("this command does not sign")

    submit_verified = submit


@asynccontextmanager
async def open_ca(
    settings: Settings,
    *,
    signing: bool = True,
    signer_sockets: list[Path] | None = None,
    clock: Clock = utc_now,
    serving: bool = False,
    builder: bool = False,
) -> AsyncIterator[CA]:
    """A ready CA. With `signing`, it signs through the signer processes listening on
    `signer_sockets`, or through signer processes of its own that run until the context
    ends. `serving` is for server processes: they follow status changes, and compete for
    the duty lease (server/node/duties.py); the one holding it runs the duties. `builder` makes
    a process that does not serve (a command) build CRLs itself (see StatusPublication)."""
    metrics = CollectorRegistry()
    registry = await open_registry(settings, metrics=metrics)
    try:
        if not signing:
            yield _assemble(settings, registry, _NoSigner(), metrics, clock, False, False)
            return
        async with _signer_sockets(settings, signer_sockets) as sockets:
            pipeline = SigningPipeline(
                sockets,
                max_batch=settings.pipeline.max_batch,
                max_delay_s=settings.pipeline.max_delay_ms / 1000,
                max_queue=settings.pipeline.max_queue,
                metrics=metrics,
            )
            await pipeline.start()
            try:
                ca = _assemble(
                    settings, registry, pipeline, metrics, clock, serving, builder and not serving
                )
                if serving:  # what a crash left unfinished, before serving (safe in any worker)
                    await ca.intents.sweep()
                await ca.status.start()
                renewal: asyncio.Task[None] | None = None
                if serving:
                    ca.health = Health(
                        settings, registry, pipeline, lambda: pipeline.signers_up, clock,
                        roots=ca.roots,
                    )  # fmt: skip
                    ca.duties = _duty_holder(ca)
                    await ca.duties.renew()  # at start, before serving: the first asker
                    await ca.status.taken_up()
                    renewal = asyncio.create_task(ca.duties.run())
                try:
                    yield ca
                    if not serving:
                        await _anchor_audit_trail(ca)
                finally:
                    if renewal is not None and ca.duties is not None:
                        renewal.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await renewal
                        await ca.duties.close()
                    await ca.status.stop()
            finally:
                await pipeline.close()
    finally:
        await registry.close()


async def _anchor_audit_trail(ca: CA) -> None:
    """A command that signs ends by anchoring the audit trail's head (a checkpoint) when it
    moved; a failure is logged, never turned into the command's own failure."""
    try:
        await ca.audit.write_if_moved()
    except (CAError, OSError) as exc:
        logging.getLogger(__name__).warning("audit checkpoint not written: %s", exc)


def _duty_holder(ca: CA) -> DutyHolder:
    """The duty lease of a serving process: holding it, the process builds CRLs and keeps
    the OCSP responses and responders (StatusPublication in builder mode) and runs
    `_builder_loops`; losing it, it stops them. What the loops keep across holdings (the
    outbox's delivery and its metrics) is made once: the lease may come back."""
    loops: list[asyncio.Task[None]] = []
    delivery = _outbox_delivery(ca) if ca.settings.outbox.enabled else None

    def start() -> None:
        ca.status.become_builder()
        loops.extend(_builder_loops(ca, delivery))

    async def stop() -> None:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        loops.clear()
        await ca.status.stop_building()

    supervisor = ca.settings.supervisor
    return DutyHolder(
        ca.registry.leases,
        node_name(),
        lease_s=supervisor.duty_lease_seconds,
        renew_s=supervisor.duty_renew_seconds,
        clock=ca.clock,
        start=start,
        stop=stop,
        metrics=ca.metrics,
    )


def _builder_loops(ca: CA, delivery: OutboxDelivery | None) -> list[asyncio.Task[None]]:
    """The background loops of the process holding the duty lease (server/node/duties.py),
    the single list of them: the CMP sweeper, the CMP protection certificate's issuance and
    renewal, the sweeper of unfinished issuance, the audit checkpoints, the scheduled CA
    key rollover, the retirement of old generations, the removal of expired personal data
    (retention) and, when enabled, the delivery of the reporting outbox."""
    loops = [
        asyncio.create_task(ca.cmp.run()),
        asyncio.create_task(ca.cmp_identity.run()),
        asyncio.create_task(ca.intents.run()),
        asyncio.create_task(ca.audit.run()),
        asyncio.create_task(ca.scheduled_rollover.run()),
        asyncio.create_task(ca.retirement.run()),
        asyncio.create_task(ca.retention.run()),
    ]
    if delivery is not None:
        loops.append(asyncio.create_task(delivery.run()))
    return loops


def _outbox_delivery(ca: CA) -> OutboxDelivery:
    return OutboxDelivery(
        ca.registry.outbox, open_sender(ca.settings), ca.settings.outbox, ca.clock, ca.metrics
    )


@asynccontextmanager
async def _signer_sockets(
    settings: Settings, given: list[Path] | None
) -> AsyncIterator[list[Path]]:
    if given is not None:
        yield given
        return
    with signer_pool(settings) as pool:
        yield pool.socket_paths


def _home_secret(settings: Settings) -> Callable[[], str]:
    """The CA home's secret (it encrypts the CMP protection key), read on first use."""
    secret: list[str] = []

    def read() -> str:
        if not secret:
            secret.append(backend_spec(settings).read_secret())
        return secret[0]

    return read


def _credential_key(settings: Settings) -> Callable[[], bytes]:
    """The enrollment secrets' derivation key, read from the home's secret on first use."""
    key: list[bytes] = []

    def read() -> bytes:
        if not key:
            try:
                key.append(derivation_key(backend_spec(settings).read_secret()))
            except HSMError as exc:
                raise CAError(ErrorKind.UNAVAILABLE, str(exc)) from None
        return key[0]

    return read


def _assemble(
    settings: Settings,
    registry: Registry,
    signer: CertificateSigner,
    metrics: CollectorRegistry,
    clock: Clock,
    serving: bool,
    builder: bool,
) -> CA:
    async def renew_responder(generation: CAGeneration) -> None:
        """A new OCSP responder key and certificate; the key made by the backend (in the
        token for PKCS#11), opened here only for that."""
        backend = await asyncio.to_thread(open_backend, settings)
        try:
            await issue_ocsp_responder(
                settings, backend, authority, generation, clock(), "ca:responder-renewal"
            )
        finally:
            backend.close()

    async def roll_over(generation: CAGeneration) -> RolledOver | NextRequest:
        """The scheduled rollover from `generation` (K2), as `python -m server rollover`
        makes it, or for a generation a parent outside certified the request for the next
        (as `rollover --csr` makes it); the new key made by the backend, opened here only
        for that."""
        backend = await asyncio.to_thread(open_backend, settings)
        try:
            if generation.parent_chain:
                return await request_next_generation(settings, registry, backend, clock(),
                                                     SCHEDULED_ACTOR, SCHEDULED,
                                                     rolled_from=generation.id)  # fmt: skip
            return await rollover(settings, registry, backend, authority, clock(), secret(),
                                  SCHEDULED_ACTOR, SCHEDULED,
                                  rolled_from=generation.id)  # fmt: skip
        finally:
            backend.close()

    async def destroy_keys(keys: list[KeyRef]) -> None:
        """Destroy a retired generation's keys (K3) with the backend, opened here only for
        that; all in one thread (a PKCS#11 backend is driven from one thread only)."""
        await asyncio.to_thread(destroy_backend_keys, settings, keys)

    async def declare_compromise(generation: int, grounds: str, actor: str) -> Compromised:
        """A CA key compromise (K4), as `python -m server compromise` declares it; the new
        key made by the backend, opened here only for that."""
        backend = await asyncio.to_thread(open_backend, settings)
        try:
            return await compromise(settings, registry, backend, authority, status, clock(),
                                    secret(), actor, generation, grounds)  # fmt: skip
        finally:
            backend.close()

    async def new_key(label: str, algorithm: KeyAlgorithm) -> tuple[KeyRef, bytes]:
        """A key made by the backend (in the token for PKCS#11), opened only for that."""
        return await asyncio.to_thread(_new_key, settings, label, algorithm)

    secret = _home_secret(settings)
    status = StatusPublication(
        settings,
        registry,
        signer,
        clock,
        serving=serving,
        builder=builder,
        metrics=metrics,
        renew_responder=renew_responder,
    )
    authority = Authority(settings, registry, signer, clock, status)  # renew_responder's
    credentials = EnrollmentCredentials(settings, registry, _credential_key(settings), clock)
    subscribers = Subscribers(settings, registry, credentials, clock)
    applications = Applications(
        settings, registry, credentials, authority, subscribers, clock, metrics=metrics
    )
    enrollment = Enrollment(settings, credentials, authority, applications)
    holders = HolderEnrollment(registry, authority)
    revocation = Revocation(registry, clock, status)

    def cmp_server() -> CMPServer:
        from server.cmp.server import CMPServer  # here: its codecs cost ~0.6 s to import

        return CMPServer(settings, registry, credentials, enrollment, applications, holders,
                         revocation, status.crls, clock)  # fmt: skip

    return CA(
        settings=settings,
        registry=registry,
        authority=authority,
        credentials=credentials,
        subscribers=subscribers,
        applications=applications,
        confirmation_cases=ConfirmationCases(settings, registry, clock, metrics),
        make_cmp=cmp_server,
        cmp_identity=CMPIdentities(settings, registry, authority, clock, secret),
        confirmations=Confirmations(
            registry,
            settings.ca.name,
            read_trusted_ca_files(
                [settings.resolve(name) for name in settings.confirmation.trusted_ca_files]
            ),
            clock,
        ),
        report_signer=ReportSigner(settings, registry, authority, signer, new_key, clock),
        enrollment=enrollment,
        holders=holders,
        server_keygen=ServerKeyGeneration(enrollment, holders),
        revocation=revocation,
        status=status,
        audit=AuditCheckpoints(settings, registry, signer, clock),
        intents=IntentSweeper(settings, registry, clock, metrics),
        key_lifetimes=KeyLifetimeMetrics(settings.ca, registry, clock, metrics),
        roots=RootPublication(registry, metrics, clock),
        scheduled_rollover=ScheduledRollover(
            settings.ca, registry, roll_over, clock, metrics, root_name=settings.root.name
        ),
        retirement=GenerationRetirement(settings, registry, destroy_keys, clock, metrics),
        retention=Retention(settings, registry, clock, metrics),
        compromise=declare_compromise,
        metrics=metrics,
        clock=clock,
    )
