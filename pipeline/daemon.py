"""The background daemon: APScheduler 3 runs one job per feed, plus the digest and upkeep.

- One daemon per database: an exclusive ``flock`` on ``<db>.lock`` (the kernel releases it
  when a process dies, so a stale lock from a killed daemon never blocks a new one).
- Each feed job calls the same functions as ``spacewatch fetch`` (:mod:`pipeline.ingest`:
  :func:`fetch_feeds` for its feed, then :func:`analyse_pending`): at start-up (a feed
  still inside its backoff waits for it), then at its interval with jitter;
  ``max_instances=1`` and ``coalesce`` so a slow feed never piles up; a misfire grace time
  so a run missed while the host slept happens late instead of being dropped.
- A job that raises is logged, recorded as a failed fetch, and simply runs again next time.
- SIGTERM / SIGINT stop it within a few seconds: fetches in flight are cancelled (a
  cancelled fetch is no failure of its feed and is not recorded), a stage run stops between
  batches, and a job still running after :data:`STOP_GRACE_SECONDS` is abandoned (SQLite
  commits or rolls back whole transactions); "daemon stopped" is the last line logged.
- SIGHUP or an edit of feeds.yaml reloads the feeds, logging what changed: only an added or
  changed feed runs at once, the others keep their next run time. An invalid edit is
  reported while the last good configuration stays in force.
- One log line per fetch with that feed's own figures, and one per stage run (full text,
  entities, matching) that did something, with its own (:mod:`pipeline.daemon_log`).
- Alerts (:mod:`pipeline.alerts`) queued by a pass are sent at once after it, and due ones
  (retries, alerts left by an earlier run, quiet hours over) every
  :data:`ALERT_RETRY_SECONDS` by the ``alerts`` job; one sender at a time.
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

from .alerts import deliver_due
from .config import Config, Settings, check_nlp_model, load_config
from .curation import changed_files, check_files, files_stamp
from .daemon_log import feed_changes, fetch_line, stages_line
from .entities import forget_analyzers, get_analyzer
from .errors import ConfigError, LockedError, SpaceWatchError
from .fetch import Fetcher
from .ingest import analyse_pending, fetch_feeds, register_feeds
from .match import Matcher, build_matcher
from .records import FAILED, FeedReport, FetchRecord, iso, now_utc, parse_iso
from .store import Store
from .store.deliveries import deliveries_of

log = logging.getLogger("spacewatch.daemon")
HEARTBEAT_SECONDS = 10.0
MATCHER_MAX_AGE_SECONDS = 600.0  # seed profiles re-weighed against the corpus this often
CONFIG_POLL_SECONDS = 5.0
STOP_GRACE_SECONDS = 3.0  # how long a stop waits for running jobs once fetches are cancelled
ALERT_RETRY_SECONDS = 15.0  # due alerts (retries, quiet hours over) are sent this often


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
                              f"(pid {pid}, lock {self.path})") from None
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
        self._active_lock = threading.Lock()  # guards the three below
        self._running: set[str] = set()  # feeds whose job is running
        self._rerun: set[str] = set()  # feeds a reload changed while their job ran
        self._config_mtime = self._mtime()
        self.lock = DbLock(options.db_path)
        self.fetcher: Fetcher | None = None
        self.scheduler: BackgroundScheduler | None = None
        #: (seed files and settings stamp, built at, matcher): see :meth:`_matcher`.
        self._matcher_cache: tuple[object, float, Matcher] | None = None
        #: The gazetteer files the analyzer in use was built from: see :meth:`_gazetteer`.
        self._gazetteer_stamp = files_stamp(self.config.settings)
        self._log_lock = threading.Lock()  # nothing is logged after "daemon stopped"
        self._stopped = False
        #: Jobs still running when the daemon stopped (the CLI then exits without them).
        self.abandoned = 0
        #: One alert sender at a time; a pass that queues alerts while it runs sets
        #: ``_alerts_wanted`` and the sender goes round again (see :meth:`_deliver_alerts`).
        self._alerts_lock = threading.Lock()
        self._alerts_wanted = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        self.lock.acquire()
        try:
            self._check_digest_folder()
            with Store(self.options.db_path) as store:
                register_feeds(store, self.config)
            self.fetcher = Fetcher(self.config.settings)
            # Feed jobs fill the default pool; the digest and the upkeep jobs have their own
            # threads, so a busy pool never delays (or makes the scheduler drop) them.
            self.scheduler = BackgroundScheduler(
                executors={"default": ThreadPoolExecutor(self.config.settings.concurrency),
                           "digest": ThreadPoolExecutor(1), "upkeep": ThreadPoolExecutor(1),
                           "alerts": ThreadPoolExecutor(1)},
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

    def _check_digest_folder(self) -> None:
        """Refuse to start when the digests could never be written (a day later, unseen)."""
        folder = self.options.digest_dir or Path(self.config.settings.digest_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{folder}: cannot create the digest folder: "
                              f"{exc.strerror or exc}") from None
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"{folder}: the digest folder is not writable")

    def stop(self) -> None:
        """Ask the daemon to stop (what SIGTERM and SIGINT do); ``run()`` then returns."""
        self.stop_event.set()

    def _shutdown(self) -> int:
        log.info("daemon stopping")
        assert self.scheduler is not None
        self.scheduler.shutdown(wait=False)  # no new runs; running jobs see stop_event
        if self.fetcher is not None:
            self.fetcher.cancel()  # fetches in flight end now, as cancelled
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self._active and time.monotonic() < deadline:
            time.sleep(0.05)
        with Store(self.options.db_path) as store:
            store.set_meta("daemon", json.dumps({"pid": os.getpid(), "state": "stopped"}),
                           iso(now_utc()))
        with self._log_lock:
            self._stopped = True
            self.abandoned = self._active
            if self.abandoned:
                log.warning("%d job(s) still running after %gs abandoned (an unfinished "
                            "transaction rolls back)", self.abandoned, STOP_GRACE_SECONDS)
            log.info("daemon stopped")
        if self.fetcher is not None:
            self.fetcher.close()
        return 0

    def _say(self, level: int, message: str, *args: object) -> None:
        """Log from a job, unless the daemon has already logged that it stopped."""
        with self._log_lock:
            if not self._stopped:
                log.log(level, message, *args)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_event.set())

    # -- scheduling ------------------------------------------------------------------------

    def _schedule_feeds(self, config: Config, previous: Config | None = None) -> list[str]:
        """Schedule the feed jobs; return what changed since ``previous``, for the log.

        At start-up (no ``previous``) every enabled feed runs at once. On a reload only an
        added (or re-enabled) or changed feed is rescheduled to run at once; an unchanged
        feed's job keeps its next run time, a removed (or disabled) feed's job goes. Either
        way a feed still inside its backoff window waits for it.
        """
        assert self.scheduler is not None
        with Store(self.options.db_path) as store:
            rows = {r["name"]: r for r in store.feed_status()}
        wanted = {f"feed:{f.name}": f for f in config.feeds if f.enabled}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("feed:") and job.id not in wanted:
                job.remove()
        changes = feed_changes(previous, config) if previous is not None else []
        before = {f"feed:{f.name}": f for f in previous.feeds if f.enabled} if previous else {}
        now = now_utc()
        for job_id, feed in wanted.items():
            if before.get(job_id) == feed and self.scheduler.get_job(job_id) is not None:
                continue  # unchanged: keeps its next run time
            row = rows.get(feed.name) or {}
            start = now
            if row.get("next_fetch_at") and row.get("error_count"):
                backoff = parse_iso(row["next_fetch_at"])
                start = max(now, backoff)  # a feed still inside its backoff waits
            with self._active_lock:
                if feed.name in self._running and start <= now:
                    # Its job is still running (max_instances would skip a run now): the
                    # job runs the feed again as soon as it is done, the trigger after that.
                    self._rerun.add(feed.name)
                    start = now + timedelta(seconds=feed.interval)
            trigger = IntervalTrigger(seconds=feed.interval, start_date=start,
                                      jitter=min(config.settings.jitter, feed.interval / 4))
            self.scheduler.add_job(self._feed_job, trigger, args=[feed.name], id=job_id,
                                   name=feed.name, replace_existing=True, next_run_time=start,
                                   misfire_grace_time=int(max(feed.interval, 60)))
        with self._active_lock:
            self._rerun.intersection_update(f.name for f in wanted.values())
        return changes

    def _schedule_upkeep(self) -> None:
        assert self.scheduler is not None
        settings = self.config.settings
        self.scheduler.add_job(self._digest_job, _digest_trigger(settings),
                               id="digest", name="daily digest", misfire_grace_time=3600,
                               executor="digest")
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_SECONDS),
                               id="heartbeat", name="heartbeat", executor="upkeep")
        self.scheduler.add_job(self._watch_config, IntervalTrigger(seconds=CONFIG_POLL_SECONDS),
                               id="config-watch", name="config watch", executor="upkeep")
        # Alerts left by an earlier run are sent at start-up, retries when they fall due.
        self.scheduler.add_job(self._alerts_job, IntervalTrigger(seconds=ALERT_RETRY_SECONDS),
                               id="alerts", name="alert delivery", executor="alerts",
                               next_run_time=now_utc(), misfire_grace_time=None)
        if self.options.run_digest_now:
            # No grace limit: the start-up digest runs however late its thread gets to it.
            self.scheduler.add_job(self._digest_job, id="digest-now", name="digest at start",
                                   executor="digest", misfire_grace_time=None)

    # -- jobs ------------------------------------------------------------------------------

    def _feed_job(self, name: str) -> None:
        """Fetch one feed (one log line with its own figures), then run the stages on
        whatever is pending; again at once if a reload changed the feed meanwhile."""
        if self.stop_event.is_set():
            return
        with self._active_lock:
            self._active += 1
            self._running.add(name)
        try:
            while True:
                config = self.config
                with Store(self.options.db_path) as store:
                    report = fetch_feeds(store, config, only=[name], fetcher=self.fetcher)
                    for item in report.feeds:
                        self._say(logging.INFO, "%s", fetch_line(item))
                        if self.on_fetch:
                            self.on_fetch(item)
                    self._run_stages(store, config)
                self._deliver_alerts()  # what this pass queued goes out at once
                with self._active_lock:  # decide and leave _running in one step
                    if name not in self._rerun or self.stop_event.is_set():
                        self._running.discard(name)
                        break
                    self._rerun.discard(name)
        except _Stopping:
            pass  # the daemon is stopping: what was committed stays, the rest waits
        finally:
            with self._active_lock:
                self._active -= 1
                self._running.discard(name)
                self._rerun.discard(name)

    def _run_stages(self, store: Store, config: Config) -> None:
        """Full text, entities and matching for every pending article (whichever feed
        brought it), one run at a time; one log line with this run's figures when it did
        something. Stops between batches (each its own transaction) when the daemon stops."""
        with self._stages_lock:
            if self.stop_event.is_set():
                return
            self._gazetteer(config)
            report = analyse_pending(store, config, fetcher=self.fetcher,
                                     matcher=self._matcher, progress=_StopCheck(self.stop_event))
        line = stages_line(report)
        if line:
            self._say(logging.INFO, "%s", line)

    def _alerts_job(self) -> None:
        """The periodic alert delivery (retries, alerts left by an earlier run)."""
        with self._active_lock:
            self._active += 1
        try:
            self._deliver_alerts()
        finally:
            with self._active_lock:
                self._active -= 1

    def _deliver_alerts(self) -> None:
        """Send the due alerts (:func:`pipeline.alerts.deliver_due`), one sender at a time:
        a caller that finds a sender running leaves the work to it, and it goes round again.
        A stop ends it between alerts (a send under way is abandoned with the job; the
        alert stays pending and is sent again: at-least-once)."""
        self._alerts_wanted.set()
        while self._alerts_wanted.is_set() and not self.stop_event.is_set():
            if not self._alerts_lock.acquire(blocking=False):
                return  # the running sender sees _alerts_wanted and goes round again
            try:
                while self._alerts_wanted.is_set() and not self.stop_event.is_set():
                    self._alerts_wanted.clear()
                    try:
                        with Store(self.options.db_path) as store:
                            counts = deliver_due(store, self.config,
                                                 stop=self.stop_event.is_set)
                    except SpaceWatchError as exc:
                        self._say(logging.ERROR, "alert delivery failed: %s", exc)
                        return
                    if counts.sent or counts.failed:
                        self._say(logging.INFO if not counts.failed else logging.WARNING,
                                  "alerts: %d sent, %d failed, %d waiting%s", counts.sent,
                                  counts.failed, counts.waiting,
                                  f" (next attempt {counts.next_attempt_at})"
                                  if counts.waiting else "")
            finally:
                self._alerts_lock.release()

    def _gazetteer(self, config: Config) -> None:
        """Rebuild the analyzer when a gazetteer file (the gazetteer, titles, countries,
        offices, typing cues, name forms or the overlay of ``spacewatch entities``:
        :func:`pipeline.curation.gazetteer_files`) changed: the articles then become stale by
        their NLP version and this stage run analyses them again. An edit that does not
        load is logged once, and the last good analyzer stays in use."""
        stamp = files_stamp(config.settings)
        if stamp == self._gazetteer_stamp:
            return
        changed = ", ".join(changed_files(self._gazetteer_stamp, stamp))
        self._gazetteer_stamp = stamp
        try:
            check_files(config.settings)
        except ConfigError as exc:
            self._say(logging.ERROR, "gazetteer reload failed, keeping the last good one: %s",
                      exc)
            return
        forget_analyzers()
        self._matcher_cache = None  # the seeds' own mentions come from the analyzer
        version = get_analyzer(config.settings).version
        self._say(logging.INFO, "gazetteer reloaded: %s changed (NLP version %s)", changed,
                  version)

    def _matcher(self, store: Store, config: Config) -> Matcher:
        """Seed profiles, rebuilt when the seeds or settings change or they grow old."""
        if self.stop_event.is_set():
            raise _Stopping
        folder = config.seeds_folder
        stamp = (tuple(sorted((p.name, p.stat().st_mtime) for p in folder.glob("*")))
                 if folder.is_dir() else (), config.settings)
        cached = self._matcher_cache
        if cached and cached[0] == stamp and time.monotonic() - cached[1] < \
                MATCHER_MAX_AGE_SECONDS:
            return cached[2]
        # A seed file that turned invalid keeps its last good version (as feeds.yaml does);
        # the skipped files are logged once each time the list changes.
        previous = cached[2].seed_set if cached else None
        matcher = build_matcher(store, config, previous=previous)
        warnings = matcher.seed_set.warnings() if matcher.seed_set else []
        if warnings != (previous.warnings() if previous else []):
            for line in warnings:
                log.warning("%s", line)
        self._matcher_cache = (stamp, time.monotonic(), matcher)
        return matcher

    def _digest_job(self) -> None:
        """Write (and e-mail, when configured) the digest of the last complete local day."""
        from zoneinfo import ZoneInfo

        from . import digest

        settings = self.config.settings
        folder = self.options.digest_dir or Path(settings.digest_dir)
        day = (datetime.now(ZoneInfo(settings.digest_timezone)) - timedelta(days=1)).date()
        with Store(self.options.db_path) as store:
            path = digest.write_digest(store, folder, day, settings.digest_timezone)
            self._say(logging.INFO, "digest written: %s", path)
            if settings.smtp.enabled and any(d.ok for d in deliveries_of(store, day)):
                # A restart with --digest-now after the scheduled digest went out: the
                # analyst gets each day's e-mail once (`digest --email` resends on purpose).
                self._say(logging.INFO, "digest of %s was already e-mailed; not sent again",
                          day.isoformat())
            elif settings.smtp.enabled:
                # Retried with backoff (a shutdown cuts the wait short); every attempt is
                # recorded in `deliveries` and the last one shown by `spacewatch status`.
                try:
                    sent = digest.deliver_digest(store, settings, day,
                                                 delays=digest.RETRY_DELAYS,
                                                 wait=self.stop_event.wait)
                except digest.DigestError as exc:
                    self._say(logging.ERROR, "digest e-mail failed: %s", exc)
                else:
                    self._say(logging.INFO, "digest e-mailed to %s (attempt %d)",
                              sent.recipients, sent.attempt)

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
        check_nlp_model(config.settings)
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
        previous, self.config = self.config, config
        with Store(self.options.db_path) as store:
            register_feeds(store, config)
            store.set_meta("config_error", "", iso(now_utc()))
        changes = self._schedule_feeds(config, previous)
        if self.scheduler is not None and (
                (previous.settings.digest_time, previous.settings.digest_timezone)
                != (config.settings.digest_time, config.settings.digest_timezone)):
            self.scheduler.reschedule_job("digest", trigger=_digest_trigger(config.settings))
        log.info("reload: %s", "; ".join(changes) or "no change")
        return True

    def _job_event(self, event: JobExecutionEvent) -> None:
        """A job raised (or was missed): log it and record it; it runs again next time."""
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
            return
        error = f"{type(event.exception).__name__}: {event.exception}"
        if isinstance(event.exception, SpaceWatchError):  # a condition the user can fix
            self._say(logging.ERROR, "job %s failed: %s", event.job_id, event.exception)
        else:  # a bug: loud, with where it happened
            self._say(logging.ERROR, "job %s failed: %s\n%s", event.job_id, error,
                      (event.traceback or "").rstrip())
        if not event.job_id.startswith("feed:") or self.stop_event.is_set():
            return  # (a job cut short by the shutdown is no failure of its feed)
        name = event.job_id.split(":", 1)[1]
        try:
            with Store(self.options.db_path) as store:
                row = store.feed_row(name)
                store.record_job_error(row.id, FetchRecord(
                    started_at=iso(now_utc()), outcome=FAILED, error="job error",
                    detail=error[:1000]))
        except SpaceWatchError as exc:
            log.error("could not record the failure of %s: %s", event.job_id, exc)


class _Stopping(Exception):
    """Raised inside a job (through the stages' progress) when the daemon stops."""


class _StopCheck:
    """The stages' progress in the daemon: nothing is drawn, but a stage or a batch that
    begins once a stop was asked for raises :class:`_Stopping` (what was committed stays)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def _check(self) -> None:
        if self.stop.is_set():
            raise _Stopping

    def stage(self, name: str, total: int | None) -> None:
        self._check()

    def advance(self, n: int = 1) -> None:
        self._check()

    def feed_done(self, report: FeedReport) -> None:
        self._check()


def _digest_trigger(settings: Settings) -> CronTrigger:
    hour, minute = (int(x) for x in settings.digest_time.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=settings.digest_timezone)


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


