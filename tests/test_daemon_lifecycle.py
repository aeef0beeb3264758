"""The daemon's lifecycle as a user sees it: a prompt stop that blames no feed, log lines that
tell each fetch's own story, a reload that says what changed, and the start-up digest."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import pipeline.daemon as daemon_mod
from pipeline.config import Settings
from pipeline.daemon import Daemon, DaemonOptions, DbLock
from pipeline.fetch import Fetcher
from pipeline.records import CANCELLED
from pipeline.store import Store

from .httpserver import LocalServer, Reply, items, rss
from .processes import wait_for

ROOT = Path(__file__).resolve().parents[1]
ON_TOPIC = {"title": "Bakanov and Duffy agree to extend cross-flights",
            "link": "http://news.example.invalid/on/1", "guid": "on-1",
            "description": "Roscosmos head Dmitry Bakanov and acting NASA Administrator Sean "
                           "Duffy agreed to extend the cross-flight program. Cosmonaut Oleg "
                           "Platonov will fly on Crew-11 aboard Crew Dragon, and an American "
                           "astronaut will ride a Soyuz. The two agencies also discussed ISS "
                           "deorbit plans and the extension of the International Space Station.",
            "pubDate": "Tue, 15 Jul 2025 09:30:00 GMT"}
FETCH_LINE = re.compile(r"fetch feed=(?P<feed>\S+) outcome=(?P<outcome>\S+) http=(?P<http>\S+) "
                        r"new=(?P<new>\d+) updated=(?P<updated>\d+) "
                        r"duration_ms=(?P<ms>\d+)(?P<rest>.*)$")
STAGE_LINE = re.compile(r"analysed (?P<articles>\d+) articles? \((?P<events>\d+) new events?\)")


def write_feeds(path: Path, feeds: dict[str, str], *, intervals: dict[str, str] | None = None,
                **settings: str) -> None:
    """feeds.yaml with long intervals (each feed runs once at start-up) and quick failures."""
    base = {"jitter": "1s", "timeout_total": "10s", "timeout_read": "5s",
            "backoff_base": "1h", "full_text": "false"}
    base.update(settings)
    lines = ["settings:", *(f"  {k}: {v}" for k, v in base.items()), "feeds:"]
    lines += [f"  - {{name: {name}, url: '{url}', interval: {(intervals or {}).get(name, '1h')}}}"
              for name, url in feeds.items()]
    path.write_text("\n".join(lines) + "\n")



def scalar(db: Path, sql: str, params: tuple = ()) -> object:
    if not db.exists():
        return None
    with Store(db) as store:
        return store.scalar(sql, list(params))


class LogLines(logging.Handler):
    """Collects the daemon's log messages (an in-thread daemon logs to the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.lines.append(record.getMessage())

    def snapshot(self) -> list[str]:
        with self._lock2:
            return list(self.lines)


@pytest.fixture
def daemon_log() -> Iterator[LogLines]:
    handler = LogLines()
    logger = logging.getLogger("spacewatch.daemon")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return thread


def stop(daemon: Daemon, thread: threading.Thread) -> None:
    daemon.stop()
    thread.join(timeout=60)
    assert not thread.is_alive()


# -- 11.12: SIGTERM with a slow fetch in flight ---------------------------------------------


SLOW_REPLIES = {
    # Headers at once, then the body one byte every 50 ms: minutes for the whole feed.
    "dripping body": Reply(rss(items(40, "s")), drip=0.05),
    # Nothing at all for two minutes: the fetch waits for the status line.
    "silent server": Reply(rss(items(3, "s")), delay=120),
}


@pytest.mark.fault
@pytest.mark.slow
@pytest.mark.parametrize("slow_reply", list(SLOW_REPLIES), ids=list(SLOW_REPLIES))
def test_sigterm_cancels_a_slow_fetch_without_counting_it_as_a_feed_failure(
        tmp_path: Path, slow_reply: str) -> None:
    db = tmp_path / "d.db"
    log_path = tmp_path / "daemon.log"
    with LocalServer() as server:
        write_feeds(tmp_path / "feeds.yaml", {
            "fast": server.route("/fast.xml", Reply(rss(items(2, "f")))),
            "slow": server.route("/slow.xml", SLOW_REPLIES[slow_reply])},
            timeout_total="10m", timeout_read="5m")
        (tmp_path / "seeds").mkdir()
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "--db", str(db), "--config",
                 str(tmp_path / "feeds.yaml"), "run"], cwd=tmp_path,
                stdout=subprocess.DEVNULL, stderr=log_file,
                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            assert wait_for(lambda: "fetch feed=fast" in log_path.read_text())
            assert wait_for(lambda: server.hits.get("/slow.xml", 0) >= 1)
            time.sleep(0.5)  # let the slow response start arriving
            children = psutil.Process(proc.pid).children(recursive=True)
            proc.send_signal(signal.SIGTERM)
            # Far less than the fetch would take, and less than its deadlines.
            code = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert code == 0
    assert not psutil.pid_exists(proc.pid) or \
        psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
    assert not [c for c in children if c.is_running()]
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert "Traceback" not in "\n".join(lines)
    assert lines[-1].endswith("daemon stopped")
    assert any("fetch feed=slow outcome=cancelled" in line for line in lines)
    # A fetch cut off by the shutdown is no failure of the feed: no row, no backoff.
    assert scalar(db, "SELECT count(*) FROM fetches f JOIN feeds ON feeds.id = f.feed_id "
                      "WHERE feeds.name = 'slow'") == 0
    assert scalar(db, "SELECT error_count FROM feeds WHERE name = 'slow'") == 0
    assert scalar(db, "SELECT count(*) FROM fetches WHERE outcome = 'failed'") == 0
    assert DbLock.holder(db) is None


@pytest.mark.fault
def test_cancel_ends_a_fetch_waiting_on_a_kept_alive_connection_and_refuses_new_ones() -> None:
    settings = dataclasses.replace(Settings(), timeout_read=300.0, timeout_total=600.0)
    with LocalServer() as server, Fetcher(settings) as fetcher:
        quick = server.route("/quick.xml", Reply(rss(items(1))))
        silent = server.route("/silent.xml", Reply(rss(items(1)), delay=120))
        assert fetcher.get(quick, trusted_hosts=["127.0.0.1"]).ok  # leaves a kept-alive socket
        results = []
        thread = threading.Thread(target=lambda: results.append(
            fetcher.get(silent, trusted_hosts=["127.0.0.1"])))
        thread.start()
        assert wait_for(lambda: server.hits.get("/silent.xml", 0) == 1)
        fetcher.cancel()
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert (results[0].outcome, results[0].error, results[0].body) == (CANCELLED,
                                                                          "cancelled", b"")
        assert fetcher.get(quick, trusted_hosts=["127.0.0.1"]).outcome == CANCELLED
        assert server.hits["/quick.xml"] == 1  # no request after the cancel


@pytest.mark.fault
def test_a_job_that_outlives_the_stop_is_abandoned_and_logs_nothing_after_daemon_stopped(
        tmp_path: Path, daemon_log: LogLines, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_mod, "STOP_GRACE_SECONDS", 0.5)
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    real = daemon_mod.fetch_feeds

    def stuck(store, config, **kw):  # noqa: ANN001, ANN003, ANN202 - stands in for fetch_feeds
        entered.set()
        release.wait(120)  # deaf to the stop, like a connection still being made
        try:
            return real(store, config, **kw)
        finally:
            finished.set()

    monkeypatch.setattr(daemon_mod, "fetch_feeds", stuck)
    (tmp_path / "seeds").mkdir()
    db = tmp_path / "d.db"
    with LocalServer() as server:
        write_feeds(tmp_path / "feeds.yaml",
                    {"a": server.route("/a.xml", Reply(rss(items(2, "a"))))})
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", db))
        thread = run_in_thread(daemon)
        try:
            assert entered.wait(60)
            daemon.stop()
            thread.join(timeout=60)
            assert not thread.is_alive()
            assert daemon.abandoned == 1
            at_stop = daemon_log.snapshot()
            assert at_stop[-1] == "daemon stopped"
            assert "1 job(s) still running after 0.5s abandoned" in at_stop[-2]
        finally:
            release.set()
        assert finished.wait(60)
        assert wait_for(lambda: daemon._active == 0)
    assert daemon_log.snapshot() == at_stop  # the late job said nothing
    assert scalar(db, "SELECT count(*) FROM fetches") == 0  # its fetch was cancelled


# -- 11.13: one log line per fetch, one per stage run; a reload says what changed ----------


@pytest.mark.slow
def test_each_fetch_logs_its_own_figures_and_each_stage_run_its_own(
        tmp_path: Path, daemon_log: LogLines) -> None:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    db = tmp_path / "d.db"
    with LocalServer() as server:
        write_feeds(tmp_path / "feeds.yaml", {
            "a": server.route("/a.xml", Reply(rss([ON_TOPIC, *items(2, "a")]))),
            "b": server.route("/b.xml", Reply(rss(items(4, "b")))),
            "c": server.route("/c.xml", Reply(status=500))})
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", db))
        thread = run_in_thread(daemon)
        try:
            def analysed() -> int:
                return sum(int(m["articles"]) for line in daemon_log.snapshot()
                           if (m := STAGE_LINE.search(line)))

            assert wait_for(lambda: analysed() >= 7 and sum(
                1 for line in daemon_log.snapshot() if FETCH_LINE.search(line)) >= 3)
        finally:
            stop(daemon, thread)
    lines = daemon_log.snapshot()
    fetches = {m["feed"]: m for line in lines if (m := FETCH_LINE.search(line))}
    assert sorted(fetches) == ["a", "b", "c"]
    assert (fetches["a"]["outcome"], fetches["a"]["new"]) == ("ok", "3")
    assert (fetches["b"]["outcome"], fetches["b"]["new"]) == ("ok", "4")
    assert (fetches["c"]["outcome"], fetches["c"]["http"], fetches["c"]["new"]) == \
        ("failed", "500", "0")
    # A fetch line carries only that feed's figures: no NLP or match counts.
    for m in fetches.values():
        assert "entities" not in m["rest"] and "match" not in m["rest"]
    stages = [STAGE_LINE.search(line) for line in lines if STAGE_LINE.search(line)]
    assert sum(int(m["articles"]) for m in stages) == 7
    events = scalar(db, "SELECT count(*) FROM matches")
    assert events >= 1
    assert sum(int(m["events"]) for m in stages) == events


@pytest.mark.slow
def test_reload_logs_what_changed_and_refetches_only_added_or_changed_feeds(
        tmp_path: Path, daemon_log: LogLines, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_mod, "CONFIG_POLL_SECONDS", 0.5)
    (tmp_path / "seeds").mkdir()
    config = tmp_path / "feeds.yaml"
    with LocalServer() as server:
        url = {n: server.route(f"/{n}.xml", Reply(rss(items(1, n)))) for n in "abcd"}
        write_feeds(config, {"a": url["a"], "b": url["b"], "c": url["c"]},
                    digest_time="'03:00'")
        daemon = Daemon(DaemonOptions(config, tmp_path / "d.db"))
        thread = run_in_thread(daemon)
        try:
            def fetched(name: str) -> int:
                return sum(1 for line in daemon_log.snapshot()
                           if (m := FETCH_LINE.search(line)) and m["feed"] == name)

            assert wait_for(lambda: all(fetched(n) == 1 for n in "abc"))
            assert daemon.scheduler is not None
            a_next = daemon.scheduler.get_job("feed:a").next_run_time
            time.sleep(1.1)  # a distinct mtime
            write_feeds(config, {"a": url["a"], "b": url["b"], "d": url["d"]},
                        intervals={"b": "2h"}, digest_time="'04:00'", concurrency="4")
            assert wait_for(lambda: fetched("d") == 1 and fetched("b") == 2)
            reloads = [line for line in daemon_log.snapshot() if line.startswith("reload:")]
            assert reloads == ["reload: added feed d; removed feed c; "
                               "changed interval of b (1h → 2h); changed settings: "
                               "concurrency, digest_time (concurrency at the next start)"]
            assert daemon.scheduler.get_job("digest").next_run_time.hour == 4
            assert daemon.scheduler.get_job("feed:a").next_run_time == a_next
            assert daemon.scheduler.get_job("feed:c") is None
            assert fetched("a") == 1 and server.hits["/a.xml"] == 1
        finally:
            stop(daemon, thread)


@pytest.mark.slow
def test_a_feed_changed_while_its_fetch_runs_is_fetched_again_when_that_fetch_ends(
        tmp_path: Path, daemon_log: LogLines, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_mod, "CONFIG_POLL_SECONDS", 0.5)
    (tmp_path / "seeds").mkdir()
    config = tmp_path / "feeds.yaml"
    held, release = threading.Event(), threading.Event()

    def first_reply_held(_handler: object) -> Reply:
        if not held.is_set():
            held.set()
            release.wait(60)
        return Reply(rss(items(1, "b")))

    with LocalServer() as server:
        url = server.route("/b.xml", first_reply_held)
        write_feeds(config, {"b": url})
        daemon = Daemon(DaemonOptions(config, tmp_path / "d.db"))
        thread = run_in_thread(daemon)
        try:
            assert held.wait(60)
            time.sleep(1.1)  # a distinct mtime
            write_feeds(config, {"b": url}, intervals={"b": "2h"})
            assert wait_for(lambda: any(line.startswith("reload:")
                                        for line in daemon_log.snapshot()))
            release.set()
            assert wait_for(lambda: server.hits.get("/b.xml", 0) == 2)
            assert wait_for(lambda: sum(1 for line in daemon_log.snapshot()
                                        if FETCH_LINE.search(line)) == 2)
            assert daemon.scheduler is not None
            wait = daemon.scheduler.get_job("feed:b").next_run_time.timestamp() - time.time()
            assert wait > 3600  # the next run is on the new interval's trigger
        finally:
            release.set()
            stop(daemon, thread)


# -- 12.5: the start-up digest always runs -------------------------------------------------


@pytest.mark.slow
def test_digest_now_runs_at_start_up_even_when_feed_jobs_fill_the_pool(
        tmp_path: Path, daemon_log: LogLines) -> None:
    (tmp_path / "seeds").mkdir()
    digests = tmp_path / "digests"
    with LocalServer() as server:
        feeds = {f"f{i}": server.route(f"/f{i}.xml", Reply(rss(items(1, f"f{i}")), delay=3))
                 for i in range(5)}
        hour = (time.gmtime().tm_hour + 12) % 24  # the daily digest is hours away
        write_feeds(tmp_path / "feeds.yaml", feeds, concurrency="2",
                    digest_time=f"'{hour:02d}:00'")
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", tmp_path / "d.db",
                                      digest_dir=digests, run_digest_now=True))
        thread = run_in_thread(daemon)
        try:
            assert wait_for(lambda: any(digests.glob("digest-*.html")), timeout=60)
        finally:
            stop(daemon, thread)
    assert not [line for line in daemon_log.snapshot() if "missed" in line]
    assert any(line.startswith("digest written:") for line in daemon_log.snapshot())


@pytest.mark.fault
def test_run_refuses_to_start_when_the_digest_folder_cannot_be_made(tmp_path: Path) -> None:
    write_feeds(tmp_path / "feeds.yaml", {"a": "http://127.0.0.1:9/a.xml"})
    (tmp_path / "a-file").write_text("")
    done = subprocess.run([sys.executable, "-m", "pipeline", "--db", str(tmp_path / "d.db"),
                           "--config", str(tmp_path / "feeds.yaml"), "run",
                           "--digest-dir", str(tmp_path / "a-file" / "digests")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'a-file' / 'digests'}: cannot create the digest folder: "
        "Not a directory"]
    assert DbLock.holder(tmp_path / "d.db") is None


@pytest.mark.fault
def test_a_job_failing_on_a_user_error_logs_one_line_without_traceback(
        tmp_path: Path, daemon_log: LogLines, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import digest

    def refuse(*_a: object, **_k: object) -> Path:
        raise digest.DigestError("/srv/digests: cannot write the digest: disk full")

    monkeypatch.setattr(digest, "write_digest", refuse)
    (tmp_path / "seeds").mkdir()
    write_feeds(tmp_path / "feeds.yaml", {"a": "http://127.0.0.1:9/a.xml"})
    daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", tmp_path / "d.db",
                                  digest_dir=tmp_path / "digests", run_digest_now=True))
    thread = run_in_thread(daemon)
    try:
        assert wait_for(lambda: any("digest-now failed" in line
                                    for line in daemon_log.snapshot()))
    finally:
        stop(daemon, thread)
    failed = [line for line in daemon_log.snapshot() if "digest-now failed" in line]
    assert failed == ["job digest-now failed: /srv/digests: cannot write the digest: disk full"]
