"""The daemon for real: started and stopped, locked, surviving failures, reloading config."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

import pipeline.daemon as daemon_mod
from pipeline.daemon import Daemon, DaemonOptions, DbLock
from pipeline.store import Store

from .httpserver import LocalServer, Reply, items, rss
from .processes import wait_for

ROOT = Path(__file__).resolve().parents[1]


def write_config(path: Path, feeds: dict[str, str], interval: str = "1s", extra: str = "") -> None:
    lines = ["settings:", "  jitter: 0.1s", "  timeout_total: 10s", "  timeout_read: 5s",
             "  backoff_base: 1s", "  full_text: false", extra, "feeds:"]
    for name, url in feeds.items():
        lines.append(f"  - {{name: {name}, url: '{url}', interval: {interval}}}")
    path.write_text("\n".join(lines) + "\n")


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "pipeline", "--db", str(tmp_path / "d.db"),
                             "--config", str(tmp_path / "feeds.yaml"), "run", *args],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)



def count(db: Path, sql: str) -> int:
    """A figure from the daemon's database, read-only: polling must not race the daemon's
    own first open (which creates the schema), so a database not created yet counts 0."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            return conn.execute(sql).fetchone()[0] or 0
    except sqlite3.OperationalError:  # no such table yet: the schema is being created
        return 0


@pytest.mark.slow
def test_daemon_fetches_heartbeats_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with LocalServer() as server:
        write_config(tmp_path / "feeds.yaml", {"a": server.route("/a.xml", Reply(rss(items(3))))})
        (tmp_path / "seeds").mkdir()
        proc = start(tmp_path)
        try:
            db = tmp_path / "d.db"
            assert wait_for(lambda: count(db, "SELECT count(*) FROM fetches") >= 2)
            assert count(db, "SELECT count(*) FROM articles") == 3
            status = subprocess.run([sys.executable, "-m", "pipeline", "--db", str(db),
                                     "--config", str(tmp_path / "feeds.yaml"), "status"],
                                    capture_output=True, text=True, cwd=tmp_path)
            assert f"running (pid {proc.pid})" in status.stdout
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 0
        stderr = proc.stderr.read()
        assert "fetch feed=a outcome=ok" in stderr and "Traceback" not in stderr
        assert DbLock.holder(db) is None


@pytest.mark.fault
@pytest.mark.slow
def test_second_daemon_on_the_same_database_is_refused(tmp_path: Path) -> None:
    with LocalServer() as server:
        write_config(tmp_path / "feeds.yaml", {"a": server.route("/a.xml", Reply(rss(items(1))))})
        first = start(tmp_path)
        try:
            assert wait_for(lambda: DbLock.holder(tmp_path / "d.db") == first.pid)
            second = start(tmp_path)
            assert second.wait(timeout=30) != 0
            assert f"already running on this database (pid {first.pid}," in second.stderr.read()
        finally:
            first.send_signal(signal.SIGINT)
            assert first.wait(timeout=10) == 0


@pytest.mark.fault
def test_stale_lock_from_a_killed_daemon_does_not_block(tmp_path: Path) -> None:
    lock = Path(f"{tmp_path / 'd.db'}.lock")
    lock.write_text("999999\n")  # a dead daemon's pid, no flock held
    assert DbLock.holder(tmp_path / "d.db") is None
    fresh = DbLock(tmp_path / "d.db")
    fresh.acquire()
    try:
        assert DbLock.holder(tmp_path / "d.db") == os.getpid()
    finally:
        fresh.release()


@pytest.mark.fault
@pytest.mark.slow
def test_sigterm_during_a_fetch_loses_nothing(tmp_path: Path) -> None:
    with LocalServer() as server:
        feeds = {"fast": server.route("/f.xml", Reply(rss(items(5, "f")))),
                 "slow": server.route("/s.xml", Reply(rss(items(5, "s")), delay=4))}
        write_config(tmp_path / "feeds.yaml", feeds)
        proc = start(tmp_path)
        db = tmp_path / "d.db"
        try:
            assert wait_for(lambda: count(db, "SELECT count(*) FROM articles") >= 5)
            assert wait_for(lambda: server.hits.get("/s.xml", 0) >= 1)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
            assert time.monotonic() - began < 10
        finally:
            if proc.poll() is None:
                proc.kill()
    with Store(db) as store:
        assert store.scalar("PRAGMA integrity_check") == "ok"
        assert store.scalar("SELECT count(*) FROM articles") in (5, 10)
        # Every stored article's feed has a fetch row that counted it: no half batch.
        assert store.scalar("SELECT sum(new_articles) FROM fetches") == \
            store.scalar("SELECT count(*) FROM articles")


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return thread


@pytest.mark.fault
def test_a_job_that_raises_is_recorded_and_does_not_stop_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = daemon_mod.fetch_feeds
    calls = {"bad": 0}

    def flaky(store, config, **kw):
        if kw.get("only") == ["bad"]:
            calls["bad"] += 1
            raise RuntimeError("boom")
        return real(store, config, **kw)

    monkeypatch.setattr(daemon_mod, "fetch_feeds", flaky)
    with LocalServer() as server:
        write_config(tmp_path / "feeds.yaml", {
            "good": server.route("/g.xml", Reply(rss(items(2)))),
            "bad": server.route("/b.xml", Reply(rss(items(2, "b"))))})
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", tmp_path / "d.db"))
        thread = run_in_thread(daemon)
        db = tmp_path / "d.db"
        try:
            assert wait_for(lambda: calls["bad"] >= 2 and
                            count(db, "SELECT count(*) FROM fetches WHERE error = 'job error'")
                            >= 2)
            assert count(db, "SELECT count(*) FROM articles") == 2
            assert wait_for(lambda: count(db, "SELECT count(*) FROM fetches f JOIN feeds ON "
                                              "feeds.id = f.feed_id WHERE feeds.name = 'good'")
                            >= 2)
        finally:
            daemon.stop()
            thread.join(timeout=15)
        assert not thread.is_alive()


@pytest.mark.fault
def test_config_reload_good_and_bad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_mod, "CONFIG_POLL_SECONDS", 0.5)
    with LocalServer() as server:
        a = server.route("/a.xml", Reply(rss(items(1, "a"))))
        b = server.route("/b.xml", Reply(rss(items(1, "b"))))
        config = tmp_path / "feeds.yaml"
        write_config(config, {"a": a})
        daemon = Daemon(DaemonOptions(config, tmp_path / "d.db"))
        thread = run_in_thread(daemon)
        db = tmp_path / "d.db"
        try:
            assert wait_for(lambda: count(db, "SELECT count(*) FROM articles") == 1)
            time.sleep(1.1)  # a distinct mtime
            write_config(config, {"a": a, "b": b})
            assert wait_for(lambda: count(db, "SELECT count(*) FROM articles") == 2)
            time.sleep(1.1)
            config.write_text("feeds:\n  - {name: a, url: 'not a url'}\n")
            assert wait_for(lambda: "not an absolute" in (
                (Store(db).get_meta("config_error") or {}).get("value") or ""))
            assert {f.name for f in daemon.config.feeds} == {"a", "b"}  # last good kept
            hits = server.hits.get("/b.xml", 0)
            assert wait_for(lambda: server.hits.get("/b.xml", 0) > hits)
        finally:
            daemon.stop()
            thread.join(timeout=15)


@pytest.mark.fault
def test_backoff_state_survives_a_restart(tmp_path: Path) -> None:
    with LocalServer() as server:
        url = server.route("/down.xml", Reply(status=503, headers={"Retry-After": "3600"}))
        write_config(tmp_path / "feeds.yaml", {"down": url})
        first = Daemon(DaemonOptions(tmp_path / "feeds.yaml", tmp_path / "d.db"))
        thread = run_in_thread(first)
        db = tmp_path / "d.db"
        assert wait_for(lambda: count(db, "SELECT count(*) FROM fetches") >= 1)
        first.stop()
        thread.join(timeout=15)
        hits = server.hits["/down.xml"]
        second = Daemon(DaemonOptions(tmp_path / "feeds.yaml", db))
        thread = run_in_thread(second)
        try:
            assert wait_for(lambda: second.scheduler is not None and
                            second.scheduler.get_job("feed:down") is not None)
            job = second.scheduler.get_job("feed:down")
            wait = (job.next_run_time.timestamp() - time.time())
            assert wait > 3000  # still inside the Retry-After window
            time.sleep(2)
            assert server.hits["/down.xml"] == hits
        finally:
            second.stop()
            thread.join(timeout=15)
