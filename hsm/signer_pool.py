"""Starting and stopping signer processes.

`SignerPool` starts N `python -m hsm.signer_process` children, each listening on
`<run_dir>/signer-<i>.sock`, and waits for each to say `ready` (an event, not a sleep).
Clients need only the socket paths, so every HTTP worker process of `serve` can build its
own `SigningPipeline` on the same signers. The run directory is mode 0700: whoever can
reach a socket can have anything signed, so only our own user may. A signer that died is
started again on its own socket path by `restart` (`serve`'s supervisor does it), so the
pipelines' reconnections reach the new process.

Children are subprocesses of a fresh interpreter rather than forked workers: a fork would
copy an initialised PKCS#11 module and the parent's event loop into the child.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import hsm
from hsm.backend import HSMError
from hsm.backend_spec import BackendSpec

_MAX_SOCKET_PATH = 100  # sun_path is 108 octets on Linux, 104 on BSDs
_PROJECT_ROOT = str(Path(hsm.__file__).resolve().parent.parent)


class SignerPool:
    """N signer processes for one backend. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        spec: BackendSpec,
        run_dir: Path,
        processes: int = 1,
        *,
        ready_timeout_s: float = 30.0,
    ) -> None:
        if processes < 1:
            raise ValueError("a signer pool needs at least one process")
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.socket_paths = [self.run_dir / f"signer-{i}.sock" for i in range(processes)]
        self.log_paths = [self.run_dir / f"signer-{i}.log" for i in range(processes)]
        self.ready_timeout_s = ready_timeout_s
        self._procs: list[subprocess.Popen[bytes]] = []
        self._restarting = threading.Lock()  # one login at a time, as in `start`
        for path in self.socket_paths:
            if len(str(path)) > _MAX_SOCKET_PATH:
                raise HSMError(f"signer socket path is too long for a Unix socket: {path}")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def wait_for_exit(self, index: int, timeout_s: float | None = None) -> int:
        """Block until signer `index` has exited; its exit status."""
        return self._procs[index].wait(timeout_s)

    def start(self) -> list[Path]:
        """Start the processes one after the other, each once the previous one listens.
        Raises HSMError (with the signer's own one-line reason) if one fails or is not
        ready in time.

        One at a time because SoftHSM2 rewrites its token files at login: signers that
        logged in at the same moment sometimes read a half-written file and failed with
        NoSuchToken or CKR_GENERAL_ERROR. Start-up costs about 0.3 s per signer.
        """
        self._prepare_run_dir()
        try:
            for i in range(len(self.socket_paths)):
                self._procs.append(self._launch(i))
        except BaseException:
            self.stop()
            raise
        return list(self.socket_paths)

    def exit_status(self, index: int) -> int | None:
        """Signer `index`'s exit status if it has exited, else None (never blocks)."""
        return self._procs[index].poll()

    def restart(self, index: int) -> None:
        """Start signer `index` again on its own socket path (after it died); clients that
        reconnect to that path reach the new process. Raises HSMError as `start` does.
        Restarts run one at a time (threads may call this at once), for the reason given
        in `start`."""
        with self._restarting:
            old = self._procs[index]
            if old.poll() is None:
                raise HSMError(f"signer {index} is still running")
            _close_pipes(old)
            self._procs[index] = self._launch(index)

    def _launch(self, i: int) -> subprocess.Popen[bytes]:
        """Start signer `i` and wait until it listens (or raise HSMError)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
        with open(self.log_paths[i], "ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hsm.signer_process", "--socket", str(self.socket_paths[i])],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                close_fds=True,
            )
        try:
            assert proc.stdin is not None
            proc.stdin.write((self.spec.to_json() + "\n").encode())
            proc.stdin.flush()
            self._await_ready(i, proc, time.monotonic() + self.ready_timeout_s)
        except BaseException:
            _stop_process(proc, 1.0)
            raise
        return proc

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask every signer to stop (stdin EOF), then terminate or kill stragglers."""
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            _stop_process(proc, max(0.0, deadline - time.monotonic()))
        for path in self.socket_paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def __enter__(self) -> SignerPool:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _prepare_run_dir(self) -> None:
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        if self.run_dir.stat().st_uid != os.getuid():
            raise HSMError(f"signer run directory {self.run_dir} is not owned by this user")

    def _await_ready(self, i: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(max(0.0, deadline - time.monotonic())):
                raise HSMError(
                    f"signer {i} was not ready within {self.ready_timeout_s}s "
                    f"(see {self.log_paths[i]})"
                )
        text = proc.stdout.readline().decode("utf-8", "replace").strip()
        if text != "ready":
            reason = text.removeprefix("error: ") or f"exited with status {proc.wait()}"
            raise HSMError(f"signer {i} failed to start: {reason}")


def _stop_process(proc: subprocess.Popen[bytes], wait_s: float) -> None:
    """Close its stdin (a signer stops on EOF), wait `wait_s`, then terminate, then kill."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _close_pipes(proc)


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
