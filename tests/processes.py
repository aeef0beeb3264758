"""Finding the processes a test started, so it can assert that none is left behind.

A test puts a marker in the environment of the command it starts; every process forked or
spawned from it inherits the marker, even after its parent is gone and it is re-parented.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

import psutil

MARKER = "SPACEWATCH_TEST_PROCESS"


def marked_env() -> tuple[str, dict[str, str]]:
    """A fresh marker and a copy of this environment carrying it."""
    marker = uuid.uuid4().hex
    return marker, {**os.environ, MARKER: marker}


def alive(process: psutil.Process) -> bool:
    """Running and not a zombie (a dead child waiting to be reaped uses no memory)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked(marker: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``marker``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == marker and alive(process):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def left_after(marker: str, timeout: float = 60.0) -> list[psutil.Process]:
    """The marked processes still alive once ``timeout`` has passed (none: returns early)."""
    deadline = time.monotonic() + timeout
    while True:
        left = marked(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def kill_marked(marker: str) -> None:
    """SIGKILL whatever carries ``marker``, so a failing test leaves nothing running."""
    for process in marked(marker):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue


def wait_for(predicate: Callable[[], object], timeout: float = 120.0,
             step: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False): tests
    wait for what a process does, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def wait_for_children(pid: int, count: int, timeout: float = 300.0) -> list[psutil.Process]:
    """Wait until process ``pid`` has ``count`` live children; return them."""
    parent = psutil.Process(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(parent):
            raise AssertionError(f"process {pid} ended before it had {count} children")
        children = [c for c in parent.children() if alive(c)]
        if len(children) >= count:
            return children
        time.sleep(0.02)
    raise AssertionError(f"process {pid} had no {count} children after {timeout:.0f}s")
