"""``spacewatch serve``: Datasette never outlives SpaceWatch (SIGTERM, SIGINT, SIGHUP, even
SIGKILL), and a taken port is one clear line and a non-zero exit, with no URL printed."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipeline.records import Article
from pipeline.store import Store

pytest.importorskip("datasette", reason="Datasette is the optional 'serve' extra")

START_TIMEOUT_S = 120  # Datasette's start-up on a busy machine
STOP_TIMEOUT_S = 60


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.save_articles([Article(guid="g", url=None, title="Deorbit plan",
                                     summary="NASA described the ISS deorbit timeline.",
                                     published_at="2025-07-15T10:00:00Z",
                                     published_estimated=False, content_hash="h")],
                            "2025-07-15T10:00:00Z")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json",
                                    timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as conn:
        conn.settimeout(2)
        return conn.connect_ex(("127.0.0.1", port)) == 0


def gone(procs: list[psutil.Process]) -> bool:
    def alive(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    return not any(alive(p) for p in procs)


def poll(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return bool(condition())  # type: ignore[operator]


@pytest.fixture
def serve(db: Path) -> Iterator[tuple[subprocess.Popen[str], int, list[psutil.Process]]]:
    """``spacewatch serve`` answering HTTP, with its children; everything is killed at the
    end whatever the test did."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "--db", str(db), "serve",
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    children: list[psutil.Process] = []
    try:
        assert poll(lambda: answers(port) or proc.poll() is not None, START_TIMEOUT_S)
        assert proc.poll() is None, proc.communicate()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "Datasette runs as a child of spacewatch serve"
        yield proc, port, children
    finally:
        for p in [*children, psutil.Process(proc.pid)] if proc.poll() is None else children:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        proc.communicate(timeout=STOP_TIMEOUT_S)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_a_stop_signal_stops_datasette_and_frees_the_port(serve, sig: signal.Signals) -> None:
    proc, port, children = serve
    proc.send_signal(sig)
    assert proc.wait(timeout=STOP_TIMEOUT_S) == 0
    assert poll(lambda: gone(children), STOP_TIMEOUT_S), "Datasette outlived spacewatch serve"
    assert not port_open(port)


def test_sigkill_of_serve_still_stops_datasette(serve) -> None:
    proc, port, children = serve
    proc.kill()
    proc.wait(timeout=STOP_TIMEOUT_S)
    assert poll(lambda: gone(children), STOP_TIMEOUT_S), "Datasette outlived spacewatch serve"
    assert poll(lambda: not port_open(port), STOP_TIMEOUT_S)


def test_a_taken_port_is_one_clear_line_and_a_non_zero_exit(db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "pipeline", "--db", str(db), "serve",
                                 "--port", str(port)], capture_output=True, text=True,
                                timeout=START_TIMEOUT_S)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use (try --port " in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "http://" not in result.stdout


def test_serve_runs_datasette_with_the_canned_queries(serve, db: Path) -> None:
    import json

    _proc, port, _children = serve
    url = f"http://127.0.0.1:{port}/{db.stem}/full_text_search.json?q=deorbit&_shape=array"
    with urllib.request.urlopen(url, timeout=30) as response:
        rows = json.loads(response.read())
    assert len(rows) == 1 and "[deorbit]" in rows[0]["snippet"].lower()
