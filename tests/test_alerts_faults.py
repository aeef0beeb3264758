"""Alerts across crashes, with real processes: a sender SIGKILLed after queueing and before
delivering, or in the middle of a send; on restart every due alert is delivered, none twice
after a 2xx, and no process is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.alerts import deliver_due, queue_alerts
from pipeline.config import load_config
from pipeline.store import Store
from pipeline.store.alerts import attempts_of, outbox_rows

from .alert_data import Stories
from .processes import kill_marked, left_after, marked_env
from .webhook import Receiver

pytestmark = pytest.mark.fault

QUEUE_THEN_HANG = """
import sys, time, pathlib
from pipeline.alerts import queue_alerts
from pipeline.config import load_config
from pipeline.store import Store
with Store(sys.argv[1]) as store:
    n = queue_alerts(store, load_config(sys.argv[2]))
pathlib.Path(sys.argv[3]).write_text(str(n))
time.sleep(300)  # killed here: the alerts are in the outbox, none was sent
"""


def setup(tmp_path: Path, url: str, stories: int) -> tuple[Path, Path]:
    db, config = tmp_path / "sw.db", tmp_path / "feeds.yaml"
    config.write_text("feeds: []\nalerts:\n  - name: desk\n    seeds: ['*']\n"
                      f"    min_score: 0.5\n    webhook: {url}\n    timeout: 30s\n")
    (tmp_path / "seeds").mkdir()
    with Store(db) as store:
        data = Stories(store)
        for story in range(1, stories + 1):
            data.article(story)
    return db, config


def start_daemon(tmp_path: Path, db: Path, config: Path, env: dict[str, str],
                 log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as log_file:
        return subprocess.Popen([sys.executable, "-m", "pipeline", "--db", str(db), "--config",
                                 str(config), "run"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=log_file, env={**env, "PYTHONUNBUFFERED": "1"})


def wait_until(predicate, timeout: float = 90.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_a_sender_killed_after_queueing_leaves_every_alert_for_the_restarted_daemon(
        tmp_path: Path) -> None:
    marker, env = marked_env()
    with Receiver() as hook:
        db, config = setup(tmp_path, hook.url, 3)
        ready = tmp_path / "queued"
        driver = subprocess.Popen([sys.executable, "-c", QUEUE_THEN_HANG, str(db), str(config),
                                   str(ready)], env=env)
        daemon = None
        try:
            assert wait_until(ready.exists)
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=30)
            assert ready.read_text() == "3"
            assert hook.received == []
            daemon = start_daemon(tmp_path, db, config, env, tmp_path / "daemon.log")
            hook.wait_for(3)
            assert stop(daemon) == 0
        finally:
            kill_marked(marker)
    assert sorted(hook.keys()) == ["desk:1:1", "desk:2:1", "desk:3:1"]
    with Store(db) as store:
        assert {r.state for r in outbox_rows(store)} == {"delivered"}
    assert left_after(marker) == []


def test_a_daemon_killed_while_sending_resends_only_what_was_in_flight(tmp_path: Path) -> None:
    marker, env = marked_env()
    log = tmp_path / "daemon.log"
    with Receiver() as hook:
        hook.hold = threading.Event()
        db, config = setup(tmp_path, hook.url, 3)
        with Store(db) as store:
            assert queue_alerts(store, load_config(config)) == 3
        first = start_daemon(tmp_path, db, config, env, log)
        try:
            (held,) = hook.wait_for(1)  # the daemon is sending the first alert: kill it
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            hook.hold.set()  # the receiver answers a sender that is gone
            hook.hold = None
            second = start_daemon(tmp_path, db, config, env, log)
            assert wait_until(lambda: len(set(hook.keys())) == 3)
            with Store(db) as store:
                assert wait_until(lambda: {r.state for r in outbox_rows(store)} ==
                                  {"delivered"}, timeout=60)
            assert stop(second) == 0
        finally:
            kill_marked(marker)
    keys = hook.keys()
    in_flight = held.payload["idempotency_key"]
    assert sorted(set(keys)) == ["desk:1:1", "desk:2:1", "desk:3:1"]
    # At least once: only the alert whose send was cut off arrives twice.
    assert {k: keys.count(k) for k in keys if keys.count(k) > 1} == {in_flight: 2}
    with Store(db) as store:
        rows = outbox_rows(store)
        for row in rows:  # exactly one successful attempt each, nothing after it
            attempts = attempts_of(store, row.id)
            assert [a["ok"] for a in attempts] == [1]
        assert deliver_due(store, load_config(config)).sent == 0
    assert left_after(marker) == []
    assert "Traceback" not in log.read_text()


def test_a_stop_during_a_hanging_command_kills_it_and_the_daemon_exits_promptly(
        tmp_path: Path) -> None:
    marker, env = marked_env()
    db, config = setup(tmp_path, "http://127.0.0.1:9/unused", 1)
    started = tmp_path / "started"
    script = (f"import pathlib, time; pathlib.Path({str(started)!r}).write_text('x'); "
              "time.sleep(300)")
    config.write_text("feeds: []\nalerts:\n  - name: cmd\n    seeds: ['*']\n"
                      f"    command: [{sys.executable!r}, '-c', {script!r}]\n"
                      "    timeout: 5m\n")
    with Store(db) as store:
        assert queue_alerts(store, load_config(config)) == 1
    daemon = start_daemon(tmp_path, db, config, env, tmp_path / "daemon.log")
    try:
        assert wait_until(started.exists)
        assert stop(daemon) == 0
    finally:
        kill_marked(marker)
    assert left_after(marker, timeout=30) == []
    with Store(db) as store:
        (row,) = outbox_rows(store)
    assert row.state == "pending"  # sent again at the next start (at least once)
    assert os.path.exists(started)
