"""Signer servers in the test's own event loop, on a Unix socket a real SigningPipeline
connects to: for backends and mix-ups a signer process started from a BackendSpec cannot
be given (tests of verify-after-sign).

`signer_server` runs hsm.signer_process's own SignerServer on any backend.
`mixed_up_signer` answers with hsm.signer_process's own sign_groups and hsm.wire, but
alters the messages it received (`alter`) or the results it sends back (`mix`) on the way:
a mix-up between the signer and its caller that the signer's own checks cannot see.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from hsm import wire
from hsm.backend import SigningBackend
from hsm.signer_process import SignerServer, sign_groups
from hsm.verification import SignatureVerifier


@contextlib.asynccontextmanager
async def signer_server(backend: SigningBackend, socket_path: Path) -> AsyncIterator[Path]:
    server = SignerServer(backend, socket_path)
    ready = asyncio.Event()
    running = asyncio.create_task(server.run(ready.set))
    await ready.wait()
    try:
        yield socket_path
    finally:
        server.stop.set()
        await running


Groups = list[tuple[str, str, wire.Mode, list[bytes]]]


@contextlib.asynccontextmanager
async def mixed_up_signer(
    backend: SigningBackend,
    socket_path: Path,
    alter: Callable[[bytes], bytes] = lambda message: message,
    mix: Callable[[list[wire.Result]], list[wire.Result]] = lambda results: results,
) -> AsyncIterator[Path]:
    verifier = SignatureVerifier(backend)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                header = await reader.readexactly(4)
                groups = wire.decode_request(await reader.readexactly(wire.frame_length(header)))
                received: Groups = [(u, a, m, [alter(x) for x in ms]) for u, a, m, ms in groups]
                writer.write(wire.encode_results(mix(sign_groups(backend, verifier, received))))
                await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(serve, path=str(socket_path))
    try:
        yield socket_path
    finally:
        server.close()
        await server.wait_closed()
