"""`serve`: signer processes, HTTP worker processes, their supervision, and a clean stop.

The parent starts the signer processes (they own the HSM sessions), then `server.workers`
HTTP worker processes, each listening on the same ports (SO_REUSEPORT when there are
several); every worker feeds the same signer processes, one batch per round trip. Workers
are always processes of their own, one worker too, so that the parent only supervises:
it prints `serving CA ...` once every worker listens, then restarts any signer or worker
that dies (server/node/supervisor.py). Which worker runs the background duties is decided by
the duty lease (server/node/duties.py). SIGINT or SIGTERM stops the workers, then the signers.

Every process (HTTP workers, signers, the CLI) runs uvloop's event loop: with the OCSP
nonce benchmark it took about a fifth less CPU per answer than asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import signal
import ssl
from collections.abc import Callable
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path

import uvloop
from aiohttp import web

from config import Settings
from hsm.backend import HSMError
from server.authority import der_to_pem
from server.context import CA, backend_spec, open_ca, signer_pool
from server.errors import CAError, ErrorKind
from server.node.restart_counts import RestartCollector, RestartCounts
from server.node.supervisor import SignerChild, Supervisor, WorkerChild
from server.node.tls import ServerIdentity, load_server_identity, server_context
from server.web.app import build_app
from server.web.bounded_http import listen
from server.web.limits import ListenerGuard, ListenerMetrics, raise_open_files_limit
from server.web.ocsp_listener import OCSPProtocol, RenderedAnswers
from server.web.unexpected import unexpected_errors

WORKER_STOP_TIMEOUT_S = 10.0
ORPHAN_CHECK_S = 1.0


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM. Prints one `serving ...` line once every worker listens."""
    stop = _stop_on_signals()
    raise_open_files_limit(settings)  # the workers inherit it
    with signer_pool(settings) as pool:
        counts = RestartCounts(pool.run_dir / "restarts.json")
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        workers = [
            WorkerChild(
                i, _worker_factory(context, settings, pool.socket_paths, counts.path, ready)
            )
            for i in range(settings.server.workers)
        ]
        try:
            await _start_workers(workers, ready)
            _announce(settings)
            signers = [SignerChild(pool, i) for i in range(len(pool.socket_paths))]
            await Supervisor([*signers, *workers], settings.supervisor, counts).run(stop)
        finally:
            await asyncio.gather(
                *(asyncio.to_thread(w.stop, WORKER_STOP_TIMEOUT_S) for w in workers)
            )


def _worker_factory(
    context: SpawnContext,
    settings: Settings,
    sockets: list[Path],
    counts: Path,
    ready: multiprocessing.Queue,
) -> Callable[[], BaseProcess]:
    """Makes worker processes; the first one made tells `ready` that it listens (or why it
    could not start), restarted ones report nothing: they log."""
    reports: list[multiprocessing.Queue] = [ready]

    def make() -> BaseProcess:
        report = reports.pop() if reports else None
        return context.Process(
            target=_worker_main, args=(settings, sockets, counts, report), daemon=True
        )

    return make


async def _start_workers(workers: list[WorkerChild], ready: multiprocessing.Queue) -> None:
    """Start every worker and wait until each listens. Raises CAError if one fails."""
    for worker in workers:
        worker.process.start()
    started = 0
    while started < len(workers):  # start-up may sign many OCSP responses: no deadline
        try:
            message = await asyncio.to_thread(ready.get, True, 1.0)
        except queue.Empty:
            if all(worker.process.is_alive() for worker in workers):
                continue
            message = "it exited"
        if message != "ready":
            raise CAError(ErrorKind.UNAVAILABLE, f"a worker failed to start: {message}")
        started += 1


async def _tls(settings: Settings, ca: CA) -> tuple[ssl.SSLContext, ServerIdentity]:
    """The HTTPS listener's context (client certificates of any CA generation are checked)
    and its identity."""
    generations = await ca.registry.generations(settings.ca.name)
    client_cas = "".join(der_to_pem(g.certificate_der) for g in generations)
    try:
        secret = backend_spec(settings).read_secret()
        return server_context(settings, secret, client_cas), load_server_identity(settings, secret)
    except (HSMError, OSError, ValueError, ssl.SSLError) as exc:
        raise CAError(ErrorKind.UNAVAILABLE, f"cannot start TLS: {exc}") from None


def _announce(settings: Settings) -> None:
    urls = [f"http://{settings.server.http}"]
    if settings.server.https:
        urls.append(f"https://{settings.server.https}")
    if settings.server.ocsp:
        urls.append(f"http://{settings.server.ocsp} (OCSP)")
    print(f"serving CA {settings.ca.name!r} on {' and '.join(urls)}", flush=True)


async def _run_worker(
    settings: Settings,
    sockets: list[Path],
    counts: Path,
    stop: asyncio.Event,
    ready: multiprocessing.Queue | None,
) -> None:
    """One HTTP worker. Every worker answers from what it holds; the one holding the duty
    lease also builds CRLs and keeps OCSP responses fresh (server/node/duties.py)."""
    async with open_ca(settings, signer_sockets=sockets, serving=True) as ca:
        ca.metrics.register(RestartCollector(counts))
        await ca.authority.generation()
        _ = ca.cmp  # built before serving: its codecs' import would stall the first CMP request
        context, identity = await _tls(settings, ca) if settings.server.https else (None, None)
        runner = web.AppRunner(build_app(ca, identity), access_log=None)
        await runner.setup()
        extra_servers: list[asyncio.AbstractServer] = []
        metrics = ListenerMetrics(ca.metrics)
        try:
            shared = settings.server.workers > 1
            host, _, port = settings.server.http.rpartition(":")
            guard = ListenerGuard("http", settings.limits, metrics)
            server = await listen(runner, guard, host.strip("[]"), int(port), reuse_port=shared)
            extra_servers.append(server)
            if settings.server.ocsp:
                host, _, port = settings.server.ocsp.rpartition(":")
                rendered = RenderedAnswers(ca.status.ocsp)
                unexpected = unexpected_errors(ca.metrics)
                ocsp_guard = ListenerGuard("ocsp", settings.limits, metrics)
                ocsp_server = await asyncio.get_running_loop().create_server(
                    lambda: OCSPProtocol(ca.status.ocsp, rendered, ocsp_guard, unexpected),
                    host.strip("[]"),
                    int(port),
                    reuse_port=shared,
                )
                extra_servers.append(ocsp_server)
            if context is not None:
                host, _, port = settings.server.https.rpartition(":")
                guard = ListenerGuard("https", settings.limits, metrics)
                server = await listen(runner, guard, host.strip("[]"), int(port),
                                      ssl_context=context, reuse_port=shared)  # fmt: skip
                extra_servers.append(server)
            if ready is not None:
                ready.put("ready")
            await stop.wait()
        finally:
            for server in extra_servers:
                server.close()
            await runner.cleanup()


async def _worker(
    settings: Settings, sockets: list[Path], counts: Path, ready: multiprocessing.Queue | None
) -> None:
    stop = _stop_on_signals()
    orphaned = asyncio.create_task(_stop_when_orphaned(stop))
    try:
        await _run_worker(settings, sockets, counts, stop, ready)
    finally:
        orphaned.cancel()


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    """Stop this worker when `serve`'s parent process is gone (it was killed): nothing
    would supervise it, and it would keep the ports from a new `serve`. (Signers stop on
    their own: their stdin closes.)"""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(ORPHAN_CHECK_S)
    logging.getLogger("server.web.serve").warning("serve is gone: this worker stops")
    stop.set()


def configure_logging() -> None:
    """The log format of every `serve` process (the parent and its workers)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _worker_main(
    settings: Settings, sockets: list[Path], counts: Path, ready: multiprocessing.Queue | None
) -> None:
    configure_logging()
    try:
        uvloop.run(_worker(settings, sockets, counts, ready))
    except (CAError, OSError) as exc:  # e.g. the port is taken: tell the parent at once
        if ready is None:
            raise SystemExit(f"worker: {exc}") from None
        ready.put(f"{exc}")


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, installed before anything says it is serving."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
