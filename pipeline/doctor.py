"""``spacewatch doctor``: is this deployment ready to run? One :class:`Check` per question.

Each check answers one thing an operator needs before (or while) the daemon runs: the
configuration parses, the gazetteer is valid, the NLP model loads, the seeds load, the
database can be written and has the current schema, there is disk space beside it, the
daemon's lock, and each enabled feed answers with a feed. Checks only look: nothing is
created, migrated or stored (an absent database is reported as one that will be created).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlite_utils

from .config import Config, Settings, check_nlp_model, load_config
from .errors import ConfigError, SpaceWatchError, StoreError
from .fetch import Fetcher, FetchResult
from .gazetteer import Gazetteer, load_gazetteer
from .normalize import NotAFeed, parse_feed
from .records import now_utc, plural
from .seeds import load_seeds
from .store import damaged_db_message, is_damaged, open_readonly
from .store.schema import migrations

OK = "ok"
WARN = "warn"
FAIL = "fail"
#: Below this much free space beside the database, the disk check warns.
MIN_FREE_BYTES = 1024**3
#: The feed check is a look, not a fetch: it gives up sooner than the pass would.
FEED_TIMEOUTS = {"timeout_connect": 5.0, "timeout_read": 10.0, "timeout_total": 15.0}


@dataclass(frozen=True)
class Check:
    """The answer to one question: ``ok``, ``warn`` (works, but look) or ``fail``."""

    name: str
    status: str
    detail: str
    #: Further lines under the check (each skipped seed file, say).
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def run_checks(config_path: Path, db_path: Path, *, offline: bool = False) -> Iterator[Check]:
    """Every check in order, each as soon as it is done (the model load and the feeds take
    seconds). Checks that need the configuration use the defaults when it is invalid; the
    feeds are then not checked. ``offline``: no feed is contacted."""
    check, config = check_config(config_path)
    yield check
    settings = config.settings if config is not None else Settings()
    gazetteer_check, gazetteer = check_gazetteer(settings.models_folder / "gazetteer.yaml")
    yield gazetteer_check
    yield check_model(settings)
    if gazetteer is None:
        yield Check("seeds", FAIL, "not checked: the gazetteer did not load (seed boosts name "
                                   "its entities)")
    else:
        yield check_seeds(config or Config(feeds=(), settings=settings, path=config_path),
                          gazetteer)
    yield check_database(db_path)
    yield check_disk(db_path)
    yield check_daemon(db_path)
    if offline:
        yield Check("feeds", OK, "not contacted (--offline)")
    elif config is None:
        yield Check("feeds", FAIL, "not checked: no valid configuration")
    else:
        yield from check_feeds(config)


def check_config(path: Path) -> tuple[Check, Config | None]:
    """feeds.yaml parses and validates (the same loader every command uses)."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return Check("config", FAIL, str(exc)), None
    enabled = sum(1 for feed in config.feeds if feed.enabled)
    feeds = plural(len(config.feeds), "feed")
    return Check("config", OK, f"{path}: {feeds} ({enabled} enabled)"), config


def check_gazetteer(path: Path | None = None) -> tuple[Check, Gazetteer | None]:
    """The gazetteer (``path``: ``settings.models_dir``'s, else the bundled one) loads and
    validates."""
    try:
        gazetteer = load_gazetteer(path)
    except ConfigError as exc:
        return Check("gazetteer", FAIL, str(exc)), None
    return Check("gazetteer", OK, f"{gazetteer.path}: {len(gazetteer.entries)} entities "
                                  f"(version {gazetteer.version})"), gazetteer


def check_model(settings: Settings) -> Check:
    """The spaCy model is installed and the NER pipeline (with the gazetteer) builds; how
    long that took is what every process that analyses pays at start."""
    try:
        check_nlp_model(settings)  # cheap: says "not installed" without importing spaCy
    except ConfigError as exc:
        return Check("nlp model", FAIL, str(exc))
    # Deferred: importing spaCy alone takes a second, and only this check needs it.
    from .entities import Analyzer

    started = time.monotonic()
    try:
        analyzer = Analyzer(settings.nlp_model, n_process=1, models_dir=Path(
            settings.models_dir) if settings.models_dir else None)
    except (SpaceWatchError, OSError, ImportError, ValueError) as exc:
        return Check("nlp model", FAIL, f"{settings.nlp_model}: does not load: {exc}")
    seconds = time.monotonic() - started
    return Check("nlp model", OK, f"{settings.nlp_model} loads in {seconds:.1f} s "
                                  f"({analyzer.version.split('+', 1)[0]})")


def check_seeds(config: Config, gazetteer: Gazetteer) -> Check:
    """The seed stories load: how many, from where, and each file the loader skips."""
    folder = config.seeds_folder
    seed_set = load_seeds(folder, gazetteer.entries)
    notes = tuple(str(problem) for problem in seed_set.problems)
    if not seed_set.seeds:
        where = "does not exist" if not folder.is_dir() else "has no valid seed"
        return Check("seeds", FAIL, f"{seed_set.folder} {where}: nothing will be matched "
                                    "(settings.seeds_dir)", notes)
    status = WARN if notes else OK
    skipped = f", {len(notes)} skipped" if notes else ""
    seeds = plural(len(seed_set.seeds), "seed")
    return Check("seeds", status, f"{seeds} in {seed_set.folder}{skipped}", notes)


def check_database(db_path: Path) -> Check:
    """The database file and its folder can be written (SQLite's WAL needs both), and its
    schema is current; an absent file is fine if it can be created."""
    path = Path(db_path)
    if not path.exists():
        folder = _existing_ancestor(path.parent)
        if folder is None or not folder.is_dir():
            return Check("database", FAIL, f"{path}: cannot be created ({folder or path.parent}"
                                           " is not a folder)")
        if not os.access(folder, os.W_OK | os.X_OK):
            return Check("database", FAIL, f"{path}: cannot be created ({folder} is not "
                                           "writable)")
        return Check("database", OK, f"{path}: not there yet, will be created")
    if not path.is_file():
        return Check("database", FAIL, f"{path}: is not a file")
    for target in (path, path.parent):
        if not os.access(target, os.W_OK):
            return Check("database", FAIL, f"{target}: not writable (SQLite writes the file "
                                           "and its -wal and -shm files beside it)")
    try:
        conn = open_readonly(path)
        try:
            pending = [m.name for m in migrations.pending(sqlite_utils.Database(conn))]
        finally:
            conn.close()
    except StoreError as exc:  # damaged: the message says how to recover what is left
        return Check("database", FAIL, str(exc))
    except sqlite3.DatabaseError as exc:
        if is_damaged(exc):
            return Check("database", FAIL, damaged_db_message(path))
        return Check("database", FAIL, f"{path}: cannot be read: {exc}")
    size = _size(path.stat().st_size)
    if pending:
        missing = plural(len(pending), "migration")
        return Check("database", WARN, f"{path} ({size}): schema older than this SpaceWatch "
                                       f"({missing} pending; 'spacewatch init' or the "
                                       "daemon's next start applies them)")
    return Check("database", OK, f"{path} ({size}): writable, schema current")


def check_disk(db_path: Path, min_free: int = MIN_FREE_BYTES) -> Check:
    """Free space in the database's folder (warns under ``min_free``)."""
    folder = _existing_ancestor(Path(db_path).absolute().parent)
    if folder is None:
        return Check("disk", FAIL, f"no folder of {db_path} exists")
    free = shutil.disk_usage(folder).free
    status = WARN if free < min_free else OK
    low = f" (under {_size(min_free)})" if status == WARN else ""
    return Check("disk", status, f"{_size(free)} free in {folder}{low}")


def check_daemon(db_path: Path) -> Check:
    """Whether a daemon holds this database's lock (either answer is fine)."""
    # Deferred: the daemon module imports APScheduler, which only this check needs.
    from .daemon import DbLock

    try:
        pid = DbLock.holder(Path(db_path))
    except OSError as exc:
        return Check("daemon", WARN, f"cannot read the lock {db_path}.lock: "
                                     f"{exc.strerror or exc}")
    if pid is None:
        return Check("daemon", OK, "not running")
    return Check("daemon", OK, f"running (pid {pid})" if pid > 0 else "running")


def check_feeds(config: Config, *, workers: int = 8) -> list[Check]:
    """Each enabled feed, fetched once (concurrently, with short timeouts) and parsed:
    one check per feed; a feed that moved permanently is a warning."""
    feeds = [feed for feed in config.feeds if feed.enabled]
    if not feeds:
        return [Check("feeds", WARN, "no enabled feed in the configuration")]
    settings = dataclasses.replace(config.settings, **{
        key: min(getattr(config.settings, key), value) for key, value in FEED_TIMEOUTS.items()})
    with Fetcher(settings) as fetcher, ThreadPoolExecutor(min(workers, len(feeds))) as pool:
        results = list(pool.map(lambda feed: fetcher.get(
            feed.url, trusted_hosts=[urlsplit(feed.url).hostname or ""]), feeds))
    return [_feed_check(f"feed {feed.name}", result, settings, feed.language)
            for feed, result in zip(feeds, results, strict=True)]


def _feed_check(name: str, result: FetchResult, settings: Settings,
                language: str | None) -> Check:
    if not result.ok:
        detail = result.error or result.outcome
        if result.detail and result.detail != detail:
            detail += f": {result.detail}"
        return Check(name, FAIL, f"{result.url}: {detail[:300]}")
    try:
        parsed = parse_feed(result.body, url=result.url, content_type=result.content_type,
                            fetched_at=now_utc(), settings=settings, language=language)
    except NotAFeed as exc:
        return Check(name, FAIL, f"{result.url}: http {result.status} but {exc.detail}")
    figures = (f"http {result.status}, {parsed.version or 'feed'}, "
               f"{len(parsed.articles)} entries, {result.duration_ms} ms")
    if result.moved_to:
        return Check(name, WARN, f"{figures}; moved permanently to {result.moved_to}: update "
                                 "its url in feeds.yaml")
    return Check(name, OK, figures)


def _existing_ancestor(path: Path) -> Path | None:
    """``path`` or its nearest ancestor that exists (None if none does)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
