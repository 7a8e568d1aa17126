"""`serve`: signer processes, HTTP worker processes, and a clean stop.

The parent starts the signer processes (they own the HSM sessions), then runs
`server.workers` HTTP workers. With one worker it serves in its own event loop; with more,
each worker is a process of its own listening on the same port (SO_REUSEPORT), and every
worker feeds the same signer processes, one batch per round trip. SIGINT or SIGTERM stops
the workers, then the signers.

Every process (HTTP workers, signers, the CLI) runs uvloop's event loop: with the OCSP
nonce benchmark it took about a fifth less CPU per answer than asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import signal
import ssl
from pathlib import Path

import uvloop
from aiohttp import web

from config import Settings
from hsm.backend import HSMError
from server.authority import der_to_pem
from server.context import CA, backend_spec, open_ca, signer_pool
from server.errors import CAError, ErrorKind
from server.tls import ServerIdentity, load_server_identity, server_context
from server.web.app import build_app
from server.web.bounded_http import listen
from server.web.limits import ListenerGuard, ListenerMetrics, raise_open_files_limit
from server.web.ocsp_listener import OCSPProtocol, RenderedAnswers


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM. Prints one `serving ...` line once every worker listens."""
    stop = _stop_on_signals()
    raise_open_files_limit(settings)  # the workers inherit it
    with signer_pool(settings) as pool:
        if settings.server.workers == 1:
            await _run_worker(settings, pool.socket_paths, stop, ready=None, builder=True)
        else:
            await _run_worker_processes(settings, pool.socket_paths, stop)


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
    stop: asyncio.Event,
    ready: multiprocessing.queues.Queue | None,
    builder: bool,
) -> None:
    """One HTTP worker. The `builder` (the first) also builds CRLs and refreshes OCSP
    responses; every worker answers from what it holds."""
    async with open_ca(settings, signer_sockets=sockets, serving=True, builder=builder) as ca:
        await ca.authority.generation()
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
                ocsp_guard = ListenerGuard("ocsp", settings.limits, metrics)
                ocsp_server = await asyncio.get_running_loop().create_server(
                    lambda: OCSPProtocol(ca.status.ocsp, rendered, ocsp_guard),
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
            if ready is None:
                _announce(settings)
            else:
                ready.put("ready")
            await stop.wait()
        finally:
            for server in extra_servers:
                server.close()
            await runner.cleanup()


async def _worker(
    settings: Settings, sockets: list[Path], ready: multiprocessing.Queue, builder: bool
) -> None:
    await _run_worker(settings, sockets, _stop_on_signals(), ready, builder)


def _worker_main(
    settings: Settings, sockets: list[Path], ready: multiprocessing.Queue, builder: bool
) -> None:
    try:
        uvloop.run(_worker(settings, sockets, ready, builder))
    except (CAError, OSError) as exc:  # e.g. the port is taken: tell the parent at once
        ready.put(f"{exc}")


async def _run_worker_processes(
    settings: Settings, sockets: list[Path], stop: asyncio.Event
) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    workers = [
        context.Process(
            target=_worker_main, args=(settings, sockets, ready, index == 0), daemon=True
        )
        for index in range(settings.server.workers)
    ]
    for worker in workers:
        worker.start()
    try:
        started = 0
        while started < len(workers):  # start-up may sign many OCSP responses: no deadline
            try:
                message = await asyncio.to_thread(ready.get, True, 1.0)
            except queue.Empty:
                if all(worker.is_alive() for worker in workers):
                    continue
                message = "it exited"
            if message != "ready":
                raise CAError(ErrorKind.UNAVAILABLE, f"a worker failed to start: {message}")
            started += 1
        _announce(settings)
        await stop.wait()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            await asyncio.to_thread(worker.join, 10)


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, installed before anything says it is serving."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
