"""A signer process: owns one backend on one thread and serves whole batches on a Unix
socket. Run as `python -m hsm.signer_process --socket PATH` (SignerPool does this).

Start-up handshake on the standard streams, so that the parent never sleeps to wait:
- stdin, first line: the BackendSpec as JSON (it names where the secret is, not the secret).
- stdout: one line, `ready` once the socket listens, or `error: <reason>` and exit 1.
- stdin EOF afterwards means the parent is gone or wants us to stop: we stop. So a signer
  never outlives its pool, even if the pool's process is killed.

Why asyncio here: one event loop thread accepts connections from every HTTP worker and
calls the backend directly, blocking the loop while a batch is signed. That keeps all
backend calls on this one thread (python-pkcs11 must not be called from two threads), and
batches from several connections are simply served one after the other.

A signature asked for verified (wire mode SIGN_VERIFIED: a certificate's) is verified here,
right after the backend made it, with the key's public key (hsm/verification.py; the public
key is read from the backend once per key, on this same thread), and goes back with the
SHA-256 of the message it was verified over, for the caller's side to match (hsm/wire.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import uvloop

from hsm import wire
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend
from hsm.backend_spec import BackendSpec
from hsm.verification import SignatureVerifier

log = logging.getLogger("hsm.signer")


def sign_groups(
    backend: SigningBackend, verifier: SignatureVerifier, groups: Sequence[wire.Group]
) -> list[wire.Result]:
    """One result per message. A failing group is retried message by message, so that one
    bad message costs only its own signature. In a SIGN_VERIFIED group each signature is
    verified over its message with the key's public key (`verifier`) before it is sent:
    one that does not verify is that message's WRONG result, logged here, never sent."""
    results: list[wire.Result] = []
    for uri, algorithm, mode, messages in groups:
        try:
            key = KeyRef(uri=uri, algorithm=KeyAlgorithm(algorithm))
        except ValueError:
            error = f"unknown key algorithm {algorithm!r}".encode()
            results.extend((wire.Status.ERROR, error) for _ in messages)
            continue
        signed = _sign(backend, key, messages)
        if mode is wire.Mode.SIGN_VERIFIED:
            signed = [_verified(verifier, key, m, r) for m, r in zip(messages, signed, strict=True)]
        results.extend(signed)
    return results


def _sign(backend: SigningBackend, key: KeyRef, messages: Sequence[bytes]) -> list[wire.Result]:
    try:
        return [(wire.Status.SIGNED, s) for s in backend.sign_many(key, messages)]
    except Exception as exc:
        if len(messages) == 1:
            return [(wire.Status.ERROR, _describe(exc))]
    results: list[wire.Result] = []
    for m in messages:
        try:
            results.append((wire.Status.SIGNED, backend.sign_many(key, [m])[0]))
        except Exception as exc:
            results.append((wire.Status.ERROR, _describe(exc)))
    return results


def _verified(
    verifier: SignatureVerifier, key: KeyRef, message: bytes, result: wire.Result
) -> wire.Result:
    """A signed message's VERIFIED result (its SHA-256 and the signature), or WRONG."""
    status, signature = result
    if status is not wire.Status.SIGNED:
        return result
    try:
        verifies = verifier.verifies(key, signature, message)
    except Exception as exc:
        return (wire.Status.ERROR, _describe(exc))
    if not verifies:
        log.error("signer: a signature made with %s does not verify; not sent", key.uri)
        return (wire.Status.WRONG, b"the signature made does not verify under the key")
    return (wire.Status.VERIFIED, hashlib.sha256(message).digest() + signature)


def _describe(exc: Exception) -> bytes:
    if isinstance(exc, HSMError):
        return str(exc).encode("utf-8")
    # Not one of ours: keep the detail in our log, send only the kind.
    log.error("signer: unexpected %s while signing", type(exc).__name__, exc_info=exc)
    return f"signer internal error ({type(exc).__name__})".encode()


class SignerServer:
    """Serves one backend on one Unix socket until `stop` is set."""

    def __init__(self, backend: SigningBackend, socket_path: Path) -> None:
        self.backend = backend
        self.verifier = SignatureVerifier(backend)
        self.socket_path = socket_path
        self.stop = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        old_umask = os.umask(0o177)  # the socket is created 0600
        try:
            server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))
        finally:
            os.umask(old_umask)
        try:
            if on_ready is not None:
                on_ready()
            await self.stop.wait()
        finally:
            server.close()
            for writer in list(self._writers):
                writer.close()
            await server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(4)
                try:
                    payload = await reader.readexactly(wire.frame_length(header))
                    groups = wire.decode_request(payload)
                except wire.FrameError as exc:
                    log.warning("signer: closing a connection after a bad frame: %s", exc)
                    writer.write(wire.encode_batch_error(f"bad frame: {exc}"))
                    await writer.drain()
                    return
                writer.write(wire.encode_results(sign_groups(self.backend, self.verifier, groups)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away; its requests are its own to fail
        finally:
            self._writers.discard(writer)
            writer.close()


async def _main_async(backend: SigningBackend, socket_path: Path) -> None:
    server = SignerServer(backend, socket_path)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.stop.set)

    def on_stdin() -> None:
        try:
            data = os.read(sys.stdin.fileno(), 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(sys.stdin.fileno())
            server.stop.set()

    def on_ready() -> None:
        loop.add_reader(sys.stdin.fileno(), on_stdin)
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    await server.run(on_ready)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hsm.signer_process")
    parser.add_argument("--socket", required=True, type=Path, help="Unix socket to listen on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s signer[%(process)d] %(message)s")
    try:
        spec = BackendSpec.from_json(sys.stdin.readline())
        backend = spec.open()
    except (HSMError, ValueError) as exc:
        sys.stdout.write(f"error: {exc}\n")
        sys.stdout.flush()
        return 1
    try:
        uvloop.run(_main_async(backend, args.socket))
    except OSError as exc:
        sys.stdout.write(f"error: cannot listen on {args.socket}: {exc.strerror}\n")
        sys.stdout.flush()
        return 1
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
