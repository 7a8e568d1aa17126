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
key is read from the backend once per key, on this same thread; a large group's signatures
are verified on two threads of their own, which never call the backend), and goes back
with the SHA-256 of the message it was verified over, for the caller's side to match
(hsm/wire.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import uvloop

from hsm import wire
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend
from hsm.backend_spec import BackendSpec
from hsm.verification import SignatureVerifier

log = logging.getLogger("hsm.signer")


# A SIGN_VERIFIED group of at least VERIFY_CHUNK messages is verified on the verifying
# threads, in up to VERIFY_THREADS parts of at least VERIFY_CHUNK each, while this thread
# signs the groups after it (cryptography lets go of the GIL while it verifies). Measured
# with software P-256 keys, a wave of 32 certificates (signed and verified) and their 32
# OCSP responses (signed): 2.65 ms instead of 3.3; a smaller group is verified here, where
# a thread's hop would cost about what it saves.
VERIFY_THREADS = 2
VERIFY_CHUNK = 8


def sign_groups(
    backend: SigningBackend,
    verifier: SignatureVerifier,
    groups: Sequence[wire.Group],
    verifying: Executor | None = None,
) -> list[wire.Result]:
    """One result per message. A failing group is retried message by message, so that one
    bad message costs only its own signature. In a SIGN_VERIFIED group each signature is
    verified over its message with the key's public key (`verifier`) before it is sent:
    one that does not verify is that message's WRONG result, logged here, never sent.
    The backend is called on this thread only; verifications of large groups run on
    `verifying`'s threads when given (VERIFY_CHUNK)."""
    results: list[wire.Result] = []
    parts: list[tuple[int, Future[list[wire.Result]]]] = []
    for uri, algorithm, mode, messages in groups:
        try:
            key = KeyRef(uri=uri, algorithm=KeyAlgorithm(algorithm))
        except ValueError:
            error = f"unknown key algorithm {algorithm!r}".encode()
            results.extend((wire.Status.ERROR, error) for _ in messages)
            continue
        signed = _sign(backend, key, messages)
        if mode is wire.Mode.SIGN_VERIFIED:
            try:
                check = verifier.checker(key)  # the backend's public key, on this thread
            except Exception as exc:
                error = _describe(exc)
                signed = [r if r[0] is not wire.Status.SIGNED else (wire.Status.ERROR, error)
                          for r in signed]  # fmt: skip
            else:
                threads = len(messages) // VERIFY_CHUNK if verifying is not None else 0
                if threads == 0 or verifying is None:
                    signed = _verified(check, key.uri, messages, signed)
                else:
                    for start, end in _parts(len(messages), min(threads, VERIFY_THREADS)):
                        part = verifying.submit(
                            _verified, check, key.uri, messages[start:end], signed[start:end]
                        )
                        parts.append((len(results) + start, part))
        results.extend(signed)
    for start, part in parts:
        verified = part.result()
        results[start : start + len(verified)] = verified
    return results


def _parts(count: int, parts: int) -> list[tuple[int, int]]:
    """`count` messages as `parts` nearly equal spans (start, end)."""
    bounds = [count * n // parts for n in range(parts + 1)]
    return list(itertools.pairwise(bounds))


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
    check: Callable[[bytes, bytes], bool],
    uri: str,
    messages: Sequence[bytes],
    signed: Sequence[wire.Result],
) -> list[wire.Result]:
    """Each signed message's VERIFIED result (its SHA-256 and the signature), or WRONG.
    Calls no backend: runs on any thread."""
    results: list[wire.Result] = []
    for message, result in zip(messages, signed, strict=True):
        status, signature = result
        if status is not wire.Status.SIGNED:
            results.append(result)
            continue
        try:
            verifies = check(signature, message)
        except Exception as exc:
            results.append((wire.Status.ERROR, _describe(exc)))
            continue
        if verifies:
            results.append((wire.Status.VERIFIED, hashlib.sha256(message).digest() + signature))
        else:
            log.error("signer: a signature made with %s does not verify; not sent", uri)
            results.append((wire.Status.WRONG, b"the signature made does not verify under the key"))
    return results


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
        self.verifying = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="verify")
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
            self.verifying.shutdown()

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
                results = sign_groups(self.backend, self.verifier, groups, self.verifying)
                writer.write(wire.encode_results(results))
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
