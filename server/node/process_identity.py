"""Which process owns an open intent, and whether it still runs.

An owner is written `host/boot id/pid/start time/pid namespace/machine id`: the start time
(in clock ticks since boot, /proc/<pid>/stat) tells a process from a later one that reuses
its pid, the boot id a process of this boot from others, the pid namespace a process of this
container from one of another container that shares the host name and the registry (its
pids mean nothing here), and the machine id (/etc/machine-id, kept across boots) this
machine from another one. A process of this host, boot and namespace is known to be gone
when its pid is free, names another process, or is a zombie; one of the same machine and an
earlier boot is gone too.

Nodes of several machines share one PostgreSQL registry, and a host name or a pid namespace
(the initial one has the same number everywhere) proves nothing across machines: a process
of another boot whose machine id is not ours, or unknown (a container has none, an owner
written before the machine id was), may be a live process of another machine with the same
host name. It is unknown, never gone, as is an owner of another host or namespace or where
/proc cannot tell: only the age of what it owns can settle it (server/node/intent_sweeper.py,
the heartbeat of server/status/feed.py, the lease of server/node/duties.py).
"""

from __future__ import annotations

import enum
import os
import socket
from pathlib import Path

_PROC = Path("/proc")


class OwnerState(enum.Enum):
    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) of the process `pid`, None when there is none."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name, field 2, is in parentheses and may hold anything: count fields
    # after its closing parenthesis (proc(5): state is field 3, starttime field 22).
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def _pid_namespace(pid: int | str = "self") -> str:
    try:
        return os.readlink(_PROC / str(pid) / "ns/pid")  # e.g. pid:[4026531836]
    except OSError:
        return ""


def identity_of(pid: int) -> str:
    """The owner name of the running process `pid` (its start time or namespace empty
    where /proc cannot tell, which makes it unknown to `owner_state`)."""
    stat = _stat(pid)
    start = stat[1] if stat else ""
    namespace = _pid_namespace(pid)
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{start}/{namespace}/{_machine_id()}"


def this_process() -> str:
    return identity_of(os.getpid())


def owner_state(owner: str) -> OwnerState:
    """Whether the process `owner` (as `identity_of` names it) still runs."""
    host, boot, pid, start, namespace, machine = [*owner.split("/"), *[""] * 6][:6]
    if host != socket.gethostname() or not boot or not start or not pid.isdigit():
        return OwnerState.UNKNOWN
    if not namespace or namespace != _pid_namespace():  # another container's pids
        return OwnerState.UNKNOWN
    if boot != _boot_id():
        # This machine booted since, or another machine with our host name runs it.
        same_machine = bool(machine) and machine == _machine_id()
        return OwnerState.GONE if same_machine else OwnerState.UNKNOWN
    stat = _stat(int(pid))
    if stat is None or stat[1] != start or stat[0] in ("Z", "X"):
        return OwnerState.GONE
    return OwnerState.ALIVE
