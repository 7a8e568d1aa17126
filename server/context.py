"""The composition root: builds every object of a running CA from its settings.

`open_ca` opens the registry, starts the signer processes and the signing pipeline (when
asked), and wires the services to them. Nothing here is a module-level singleton: each CA
has its own Prometheus CollectorRegistry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from hsm.backend_spec import BackendSpec
from hsm.pipeline import SignerPool, SigningPipeline
from prometheus_client import CollectorRegistry

from config import Settings
from hsm.backend import HSMError, SigningBackend
from server.authority import Authority, Clock, Signer, utc_now
from server.errors import CAError, ErrorKind
from server.registry import SQLiteRegistry
from server.revocation import Revocation


@dataclass
class CA:
    settings: Settings
    registry: SQLiteRegistry
    authority: Authority
    revocation: Revocation
    metrics: CollectorRegistry
    clock: Clock


def backend_spec(settings: Settings) -> BackendSpec:
    hsm = settings.hsm
    return BackendSpec(
        kind=hsm.backend,
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


def run_dir(settings: Settings) -> Path:
    return settings.home / "run"


class _NoSigner:
    async def sign(self, key: object, data: bytes) -> bytes:
        raise CAError(ErrorKind.UNAVAILABLE, "this command does not sign")


@asynccontextmanager
async def open_ca(
    settings: Settings, *, signing: bool = True, clock: Clock = utc_now
) -> AsyncIterator[CA]:
    """A ready CA. With `signing`, signer processes run until the context ends."""
    metrics = CollectorRegistry()
    registry = await SQLiteRegistry.open(settings.resolve(settings.registry.path))
    try:
        if not signing:
            yield _assemble(settings, registry, _NoSigner(), metrics, clock)
            return
        pipeline_settings = settings.pipeline
        pool = SignerPool(
            backend_spec(settings), pipeline_settings.signer_processes, run_dir(settings)
        )
        try:
            await pool.start()
        except HSMError as exc:
            raise CAError(ErrorKind.UNAVAILABLE, str(exc)) from exc
        try:
            pipeline = SigningPipeline(
                pool.socket_paths,
                max_batch=pipeline_settings.max_batch,
                max_delay_s=pipeline_settings.max_delay_ms / 1000,
                max_queue=pipeline_settings.max_queue,
                metrics=metrics,
            )
            await pipeline.start()
            try:
                yield _assemble(settings, registry, pipeline, metrics, clock)
            finally:
                await pipeline.close()
        finally:
            await pool.close()
    finally:
        await registry.close()


def _assemble(
    settings: Settings,
    registry: SQLiteRegistry,
    signer: Signer,
    metrics: CollectorRegistry,
    clock: Clock,
) -> CA:
    return CA(
        settings=settings,
        registry=registry,
        authority=Authority(settings, registry, signer, clock),
        revocation=Revocation(registry, clock),
        metrics=metrics,
        clock=clock,
    )
