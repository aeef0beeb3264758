"""``spacewatch serve``: Datasette as a child process that never outlives SpaceWatch.

Why a child and not Datasette in-process: Datasette's own command line is its supported entry
point (start-up hooks, settings and metadata checks change between versions), and a child
keeps SpaceWatch's signal handling simple. Why it cannot be orphaned:

- SIGTERM, SIGINT or SIGHUP to ``spacewatch serve`` terminate the child and wait for it
  (SIGKILL after a grace period);
- on Linux the child asks the kernel for ``PR_SET_PDEATHSIG = SIGTERM`` before it starts
  Datasette, so even a SIGKILL of ``spacewatch serve`` (which no handler sees) stops it.

The port is tried before anything is printed, so a taken port is one clear error.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ServeError

HOST = "127.0.0.1"
#: How long the child may take to stop after SIGTERM before it gets SIGKILL.
STOP_GRACE_S = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def check_port(port: int, host: str = HOST) -> None:
    """Raise :class:`ServeError` unless ``host:port`` can be bound now (as Datasette's
    server binds it: with SO_REUSEADDR, so a closed connection's TIME_WAIT is no obstacle)."""
    problem = _bind_problem(port, host)
    if problem is None:
        return
    if problem == errno.EADDRINUSE:
        free = next((p for p in range(port + 1, min(port + 50, 65536))
                     if _bind_problem(p, host) is None), None)
        hint = f" (try --port {free})" if free else " (try another --port)"
        raise ServeError(f"port {port} on {host} is in use{hint}")
    raise ServeError(f"port {port} on {host} cannot be used: {os.strerror(problem)} "
                     "(try --port 8001)")


def _bind_problem(port: int, host: str) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def datasette_command(db_path: Path, port: int, metadata: Path, *, immutable: bool,
                      time_limit_ms: int) -> list[str]:
    """The Datasette command line for one database, read-only, on 127.0.0.1.

    ``immutable`` (for a database on a read-only file system) opens it with
    ``immutable=1``, as :func:`pipeline.store.readonly_uri` decided.
    """
    return [sys.executable, "-m", "datasette", "serve",
            *(["--immutable", str(db_path)] if immutable else [str(db_path)]),
            "--host", HOST, "--port", str(port), "--metadata", str(metadata),
            "--setting", "sql_time_limit_ms", str(time_limit_ms)]


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel send the child SIGTERM when its parent dies
    (Linux only; elsewhere None and the signal handlers are the only guard)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody to serve
            os._exit(1)

    return preexec


@dataclass
class ChildExit:
    """How the child ended: its exit code, and the signal that asked us to stop (if any)."""

    returncode: int
    stopped_by: int | None


def run_child(cmd: Sequence[str]) -> ChildExit:
    """Run ``cmd`` until it exits or this process is asked to stop; never leave it behind.

    The stop signals are handled only while the child runs; the previous handlers come back
    afterwards.
    """
    stop: list[int] = []
    child: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)
        if child and child[0].poll() is None:
            child[0].terminate()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        # preexec_fn is safe here: the CLI runs no other thread while it forks.
        proc = subprocess.Popen(list(cmd), preexec_fn=_die_with_parent())  # noqa: PLW1509
        child.append(proc)
        if stop:  # asked to stop while the child was being started
            proc.terminate()
        deadline: float | None = None
        while True:
            try:
                code = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if stop and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
    finally:
        for proc in child:  # an exception of our own: still never leave the child behind
            if proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ChildExit(code, stop[0] if stop else None)
