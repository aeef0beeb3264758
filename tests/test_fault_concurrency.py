"""Fault suite, concurrency, disk and scheduler: readers never break writers, a full disk
loses nothing committed, a hanging fetch is cut off and a late job still runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from pipeline.daemon import Daemon, DaemonOptions
from pipeline.errors import StoreError
from pipeline.query import run_query
from pipeline.records import Article
from pipeline.store import Store

from .conftest import fetch_only, make_config
from .httpserver import LocalServer, Reply, items, rss
from .test_daemon import count, run_in_thread, wait_for, write_config

pytestmark = pytest.mark.fault


def article(i: int, size: int = 200) -> Article:
    return Article(guid=f"g{i}", url=f"http://e.invalid/{i}", title=f"t{i}", summary="x" * size,
                   published_at="2025-07-15T10:00:00Z", published_estimated=False,
                   content_hash=f"h{i}")


def test_an_open_reader_never_makes_writes_fail(server: LocalServer, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    url = server.route("/f.xml", Reply(rss(items(20))))
    with Store(db) as store:
        fetch_only(store, make_config({"f": url}))
        reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM articles").fetchone() == (20,)
        server.route("/f.xml", Reply(rss(items(20) + items(10, "more"))))
        report = fetch_only(store, make_config({"f": url}))  # writer
        assert report.new == 10
        # The reader still sees its snapshot; a new query sees the new rows.
        assert reader.execute("SELECT count(*) FROM articles").fetchone() == (20,)
        reader.rollback()
        assert reader.execute("SELECT count(*) FROM articles").fetchone() == (30,)
        reader.close()
        assert run_query(db, "SELECT count(*) FROM event_log")[1] == [(0,)]


def test_concurrent_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    Store(db).close()
    errors: list[Exception] = []

    def writer(offset: int) -> None:
        with Store(db) as store:
            for batch in range(20):
                try:
                    store.save_articles([article(offset + batch * 10 + i) for i in range(10)],
                                        "2025-07-15T10:00:00Z")
                except Exception as exc:  # noqa: BLE001 - collected for the assertion
                    errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(db) as store:
        assert store.scalar("SELECT count(*) FROM articles") == 800


def test_disk_full_is_a_clear_error_and_loses_nothing_committed(tmp_path: Path) -> None:
    with Store(tmp_path / "full.db") as store:
        store.save_articles([article(i) for i in range(5)], "2025-07-15T10:00:00Z")
        pages = store.scalar("PRAGMA page_count")
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # a size-limited file
        with pytest.raises(StoreError, match="full"):
            store.save_articles([article(100 + i, 20_000) for i in range(20)],
                                "2025-07-15T10:00:00Z")
        assert store.scalar("SELECT count(*) FROM articles") == 5
        assert store.scalar("PRAGMA integrity_check") == "ok"
        assert not store.conn.in_transaction


def test_a_hanging_fetch_is_cut_off_and_the_next_run_still_happens(tmp_path: Path) -> None:
    with LocalServer() as server:
        url = server.route("/drip.xml", Reply(rss(items(100)), drip=0.5))
        write_config(tmp_path / "feeds.yaml", {"drip": url}, interval="1s",
                     extra="  timeout_total: 2s\n  disable_after: 100")
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", tmp_path / "d.db"))
        thread = run_in_thread(daemon)
        try:
            assert wait_for(lambda: count(tmp_path / "d.db", "SELECT count(*) FROM fetches "
                                          "WHERE error = 'deadline exceeded'") >= 2, timeout=40)
        finally:
            daemon.stop()
            thread.join(timeout=15)


def test_a_run_missed_while_the_host_slept_runs_late_instead_of_being_dropped() -> None:
    ran = threading.Event()
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.start(paused=True)
    try:
        # As the daemon schedules feeds: misfire grace of at least the interval.
        scheduler.add_job(ran.set, IntervalTrigger(seconds=60), id="feed:x",
                          next_run_time=datetime.now().astimezone() - timedelta(seconds=30),
                          misfire_grace_time=60)
        time.sleep(0.5)
        scheduler.resume()  # the host wakes up 30 s late
        assert ran.wait(5)
    finally:
        scheduler.shutdown(wait=False)


def test_daemon_feed_jobs_have_grace_and_coalescing(tmp_path: Path) -> None:
    with LocalServer() as server:
        write_config(tmp_path / "feeds.yaml", {"a": server.route("/a.xml", Reply(rss(items(1))))},
                     interval="30m")
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", tmp_path / "d.db"))
        thread = run_in_thread(daemon)
        try:
            assert wait_for(lambda: daemon.scheduler is not None and
                            daemon.scheduler.get_job("feed:a") is not None)
            job = daemon.scheduler.get_job("feed:a")
            assert job.misfire_grace_time >= 1800 and job.coalesce and job.max_instances == 1
        finally:
            daemon.stop()
            thread.join(timeout=15)


def _open_and_report_schema(path: str) -> int:
    with Store(path) as store:
        return store.schema_version


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    """A daemon starting while `status` runs: both open a new file; neither fails with
    "table already exists" or "database is locked", and the schema ends complete."""
    import multiprocessing

    import sqlite_utils

    from pipeline.store.schema import migrations

    expected = len(migrations.pending(sqlite_utils.Database(memory=True)))
    with multiprocessing.get_context("fork").Pool(4) as pool:
        for attempt in range(10):
            db = tmp_path / f"fresh-{attempt}.db"
            versions = pool.map(_open_and_report_schema, [str(db)] * 4)
            assert versions == [expected] * 4
            with Store(db) as store:
                names = [m.name for m in migrations.applied(store.db)]
            assert len(names) == len(set(names)) == expected

