"""The background daemon: APScheduler 3 runs one job per feed, plus the digest and upkeep.

- One daemon per database: an exclusive ``flock`` on ``<db>.lock`` (the kernel releases it
  when a process dies, so a stale lock from a killed daemon never blocks a new one).
- Each feed job calls the same :func:`run_pass` as ``spacewatch fetch``: at start-up (a feed
  still inside its backoff waits for it), then at its interval with jitter;
  ``max_instances=1`` and ``coalesce`` so a slow feed never piles up; a misfire grace time
  so a run missed while the host slept happens late instead of being dropped.
- A job that raises is logged, recorded as a failed fetch, and simply runs again next time.
- SIGTERM / SIGINT stop it within a few seconds (SQLite commits or rolls back whole
  transactions); SIGHUP or an edit of feeds.yaml reloads the feeds, and an invalid edit is
  reported while the last good configuration stays in force.
- A heartbeat and the schedule go to the ``meta`` table, where ``spacewatch status`` reads
  them from any shell.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, load_config
from .errors import ConfigError, LockedError, SpaceWatchError
from .fetch import Fetcher, now_utc
from .ingest import FeedReport, run_pass
from .normalize import iso
from .store import Store

log = logging.getLogger("spacewatch.daemon")
HEARTBEAT_SECONDS = 10.0
MATCHER_MAX_AGE_SECONDS = 600.0  # seed profiles re-weighed against the corpus this often
CONFIG_POLL_SECONDS = 5.0
STOP_GRACE_SECONDS = 5.0


class DbLock:
    """An exclusive lock next to the database, holding the owner's pid."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(f"{db_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise LockedError(f"a SpaceWatch daemon is already running on this database "
                              f"(pid {pid}, lock {self.path})", pid=pid) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def holder(db_path: Path) -> int | None:
        """The pid of the running daemon, or None when no daemon holds the lock."""
        path = Path(f"{db_path}.lock")
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


@dataclass
class DaemonOptions:
    """What ``spacewatch run`` was asked for."""

    config_path: Path
    db_path: Path
    digest_dir: Path | None = None
    run_digest_now: bool = False


class Daemon:
    """The scheduler and its jobs. ``run()`` blocks until a stop signal."""

    def __init__(self, options: DaemonOptions,
                 on_fetch: Callable[[FeedReport], None] | None = None) -> None:
        self.options = options
        self.config: Config = self._load(options.config_path)
        self.on_fetch = on_fetch
        self.stop_event = threading.Event()
        self._reload_event = threading.Event()
        self._stages_lock = threading.Lock()  # one NER/matching run at a time
        self._active = 0
        self._active_lock = threading.Lock()
        self._config_mtime = self._mtime()
        self.lock = DbLock(options.db_path)
        self.fetcher: Fetcher | None = None
        self.scheduler: BackgroundScheduler | None = None
        self._matcher_cache: tuple[Any, float, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        self.lock.acquire()
        try:
            with Store(self.options.db_path) as store:
                store.sync_feeds(self.config.feeds, self.config.settings.full_text,
                                 iso(now_utc()))
            self.fetcher = Fetcher(self.config.settings)
            self.scheduler = BackgroundScheduler(
                executors={"default": ThreadPoolExecutor(self.config.settings.concurrency)},
                job_defaults={"coalesce": True, "max_instances": 1})
            self.scheduler.add_listener(self._job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
            self._schedule_feeds(self.config)
            self._schedule_upkeep()
            self._install_signals()
            self.scheduler.start()
            log.info("daemon started: pid=%s db=%s feeds=%d", os.getpid(),
                     self.options.db_path, sum(1 for f in self.config.feeds if f.enabled))
            self._heartbeat()
            while not self.stop_event.wait(0.5):
                if self._reload_event.is_set():
                    self._reload_event.clear()
                    self.reload()
            return self._shutdown()
        finally:
            self.lock.release()

    def stop(self) -> None:
        self.stop_event.set()

    def _shutdown(self) -> int:
        log.info("daemon stopping")
        assert self.scheduler is not None
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self._active and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.fetcher is not None:
            self.fetcher.close()  # aborts what is still in flight
        while self._active and time.monotonic() < deadline + 2:
            time.sleep(0.1)
        with Store(self.options.db_path) as store:
            store.set_meta("daemon", json.dumps({"pid": os.getpid(), "state": "stopped"}),
                           iso(now_utc()))
        log.info("daemon stopped")
        return 0

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_event.set())

    # -- scheduling ------------------------------------------------------------------------

    def _schedule_feeds(self, config: Config) -> None:
        assert self.scheduler is not None
        with Store(self.options.db_path) as store:
            rows = {r["name"]: r for r in store.feed_status()}
        wanted = {f"feed:{f.name}": f for f in config.feeds if f.enabled}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("feed:") and job.id not in wanted:
                job.remove()
        now = now_utc()
        for job_id, feed in wanted.items():
            row = rows.get(feed.name) or {}
            start = now
            if row.get("next_fetch_at") and row.get("error_count"):
                backoff = datetime.fromisoformat(row["next_fetch_at"].replace("Z", "+00:00"))
                start = max(now, backoff)  # a feed still inside its backoff waits
            trigger = IntervalTrigger(seconds=feed.interval, start_date=start,
                                      jitter=min(self.config.settings.jitter, feed.interval / 4))
            self.scheduler.add_job(self._feed_job, trigger, args=[feed.name], id=job_id,
                                   name=feed.name, replace_existing=True, next_run_time=start,
                                   misfire_grace_time=int(max(feed.interval, 60)))

    def _schedule_upkeep(self) -> None:
        assert self.scheduler is not None
        settings = self.config.settings
        hour, minute = (int(x) for x in settings.digest_time.split(":"))
        self.scheduler.add_job(self._digest_job, CronTrigger(hour=hour, minute=minute,
                                                             timezone=settings.digest_timezone),
                               id="digest", name="daily digest", misfire_grace_time=3600)
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_SECONDS),
                               id="heartbeat", name="heartbeat")
        self.scheduler.add_job(self._watch_config, IntervalTrigger(seconds=CONFIG_POLL_SECONDS),
                               id="config-watch", name="config watch")
        if self.options.run_digest_now:
            self.scheduler.add_job(self._digest_job, id="digest-now", name="digest at start")

    # -- jobs ------------------------------------------------------------------------------

    def _feed_job(self, name: str) -> None:
        if self.stop_event.is_set():
            return
        with self._active_lock:
            self._active += 1
        started = time.monotonic()
        try:
            config = self.config
            with Store(self.options.db_path) as store:
                report = run_pass(store, config, only=[name], fetcher=self.fetcher,
                                  process=False, sync=False)
                item = report.feeds[0] if report.feeds else None
                if not self.stop_event.is_set():
                    with self._stages_lock:
                        from .stages import process_pending

                        report.stages = process_pending(store, config, fetcher=self.fetcher,
                                                        matcher=self._matcher(store, config))
            if item is not None:
                log.info("fetch feed=%s outcome=%s http=%s new=%d updated=%d duration_ms=%d%s%s",
                         item.feed, item.outcome, item.http_status or "-", item.new,
                         item.updated, int((time.monotonic() - started) * 1000),
                         f" error={item.error!r}" if item.error else "",
                         "".join(f" {k}={v!r}" for k, v in report.stages.items()))
                if self.on_fetch:
                    self.on_fetch(item)
        finally:
            with self._active_lock:
                self._active -= 1

    def _matcher(self, store: Store, config: Config) -> Any:
        """Seed profiles, rebuilt when the seeds or settings change or they grow old."""
        from .stages import build_matcher, seeds_folder

        folder = seeds_folder(config)
        stamp = (tuple(sorted((p.name, p.stat().st_mtime) for p in folder.glob("*")))
                 if folder.is_dir() else (), config.settings)
        cached = self._matcher_cache
        if cached and cached[0] == stamp and time.monotonic() - cached[1] < \
                MATCHER_MAX_AGE_SECONDS:
            return cached[2]
        matcher = build_matcher(store, config)
        self._matcher_cache = (stamp, time.monotonic(), matcher)
        return matcher

    def _digest_job(self) -> None:
        """Write (and e-mail, when configured) the digest of the last complete local day."""
        from zoneinfo import ZoneInfo

        from .digest import digest_subject, load_digest, render_digest, send_digest, write_digest

        settings = self.config.settings
        folder = self.options.digest_dir or Path(settings.digest_dir)
        day = (datetime.now(ZoneInfo(settings.digest_timezone)) - timedelta(days=1)).date()
        with Store(self.options.db_path) as store:
            path = write_digest(store, folder, day, settings.digest_timezone)
            data = load_digest(store, day, settings.digest_timezone)
        log.info("digest written: %s", path)
        if settings.smtp.enabled:
            send_digest(render_digest(data, "html"), render_digest(data, "md"),
                        digest_subject(data), settings.smtp)
            log.info("digest e-mailed to %s", ", ".join(settings.smtp.to))

    def _heartbeat(self) -> None:
        assert self.scheduler is not None
        schedule = {job.name: iso(job.next_run_time) for job in self.scheduler.get_jobs()
                    if job.id.startswith("feed:") and job.next_run_time}
        with Store(self.options.db_path) as store:
            store.set_meta("daemon", json.dumps({"pid": os.getpid(), "state": "running",
                                                 "schedule": schedule}), iso(now_utc()))

    def _watch_config(self) -> None:
        if self._mtime() != self._config_mtime:
            self._reload_event.set()

    @staticmethod
    def _load(path: Path) -> Config:
        """feeds.yaml, with NER kept in-process: forking spaCy workers from a process that
        runs scheduler and fetch threads risks a deadlock, and daemon batches are small."""
        import dataclasses

        config = load_config(path)
        return dataclasses.replace(config, settings=dataclasses.replace(config.settings,
                                                                        nlp_processes=1))

    def _mtime(self) -> float:
        try:
            return self.options.config_path.stat().st_mtime
        except OSError:
            return 0.0

    def reload(self) -> bool:
        """Re-read feeds.yaml; keep the last good configuration if the new one is invalid."""
        self._config_mtime = self._mtime()
        try:
            config = self._load(self.options.config_path)
        except ConfigError as exc:
            log.error("configuration reload failed, keeping the last good one: %s", exc)
            with Store(self.options.db_path) as store:
                store.set_meta("config_error", str(exc), iso(now_utc()))
            return False
        self.config = config
        with Store(self.options.db_path) as store:
            store.sync_feeds(config.feeds, config.settings.full_text, iso(now_utc()))
            store.set_meta("config_error", "", iso(now_utc()))
        self._schedule_feeds(config)
        log.info("configuration reloaded: %d feeds", sum(1 for f in config.feeds if f.enabled))
        return True

    def _job_event(self, event: JobExecutionEvent) -> None:
        """A job raised (or was missed): log it and record it; it runs again next time."""
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
            return
        error = f"{type(event.exception).__name__}: {event.exception}"
        log.error("job %s failed: %s", event.job_id, error)
        if not event.job_id.startswith("feed:"):
            return
        name = event.job_id.split(":", 1)[1]
        try:
            with Store(self.options.db_path) as store:
                row = store.feed_row(name)
                store.record_fetch(row.id, {"started_at": iso(now_utc()), "outcome": "failed",
                                            "error": "job error", "detail": error[:1000]},
                                   {"last_outcome": "failed", "last_error": "job error",
                                    "last_fetch_at": iso(now_utc())})
        except SpaceWatchError as exc:
            log.error("could not record the failure of %s: %s", event.job_id, exc)


def daemon_status(store: Store, db_path: Path) -> dict[str, Any]:
    """Whether a daemon runs on this database, its heartbeat and schedule, recent errors."""
    pid = DbLock.holder(db_path)
    meta = store.get_meta("daemon")
    info = json.loads(meta["value"]) if meta and meta.get("value") else {}
    beat = meta["updated_at"] if meta else None
    config_error = store.get_meta("config_error")
    errors = store.recent_errors()
    return {"running": pid is not None, "pid": pid, "heartbeat": beat,
            "schedule": info.get("schedule", {}) if pid is not None else {},
            "config_error": (config_error or {}).get("value") or None,
            "recent_errors": errors, "now": datetime.now(UTC)}


