"""One pass over the feeds: fetch -> normalize -> store, then the later stages.

The daemon and the one-shot commands (``fetch``, ``demo``) call :func:`run_pass`, so what the
tests prove for ``fetch`` holds for the daemon. Network work runs on a bounded thread pool;
every write happens on the calling thread, one transaction per feed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from .config import Config, Feed, Settings
from .fetch import CANCELLED, FAILED, NOT_MODIFIED, Fetcher, FetchResult, now_utc
from .normalize import NotAFeed, ParsedFeed, iso, parse_feed
from .store import FeedRow, Store

log = logging.getLogger(__name__)
GONE = "410 Gone: the publisher removed this feed"


@dataclass
class FeedReport:
    """How one feed's turn in a pass ended."""

    feed: str
    outcome: str
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    entries: int = 0
    duration_ms: int = 0
    error: str | None = None
    detail: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class PassReport:
    """Everything one pass did; the CLI and the daemon print or log it."""

    feeds: list[FeedReport] = field(default_factory=list)
    stages: dict[str, object] = field(default_factory=dict)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.feeds)

    @property
    def updated(self) -> int:
        return sum(f.updated for f in self.feeds)

    @property
    def failed(self) -> int:
        return sum(1 for f in self.feeds if f.outcome == FAILED)


ProgressFn = Callable[[str, FeedReport | None], None]


def due_feeds(store: Store, feeds: Sequence[Feed], now: datetime, *, force: bool) -> tuple[
        list[tuple[Feed, FeedRow]], list[FeedReport]]:
    """Split feeds into those to fetch now and those skipped (backoff, disabled)."""
    todo: list[tuple[Feed, FeedRow]] = []
    skipped: list[FeedReport] = []
    for feed in feeds:
        row = store.feed_row(feed.name)
        if force:
            todo.append((feed, row))
        elif row.disabled:
            skipped.append(FeedReport(feed.name, "skipped", error="disabled",
                                      detail=f"{row.disabled_reason or 'disabled'}; "
                                      "use --force to try it"))
        elif row.next_fetch_at and row.error_count and row.next_fetch_at > iso(now):
            skipped.append(FeedReport(feed.name, "skipped", error="backing off",
                                      detail=f"next attempt after {row.next_fetch_at}"))
        else:
            todo.append((feed, row))
    return todo, skipped


def run_pass(store: Store, config: Config, *, only: Sequence[str] | None = None,
             force: bool = False, progress: ProgressFn | None = None,
             fetcher: Fetcher | None = None, process: bool = True,
             sync: bool = True) -> PassReport:
    """Fetch the configured (enabled) feeds once and store what they hold.

    ``only`` limits the pass to the named feeds; ``force`` ignores backoff and the disabled
    flag. With ``process`` the later stages (full text, NER, matching) run on what changed.
    ``sync`` first writes the configured feeds to the ``feeds`` table (the daemon does that
    once at start-up and on reload instead of on every job).
    """
    settings = config.settings
    now = now_utc()
    if sync:
        store.sync_feeds(config.feeds, settings.full_text, iso(now))
    feeds = [config.feed(n) for n in only] if only else [f for f in config.feeds if f.enabled]
    todo, skipped = due_feeds(store, feeds, now, force=force)
    report = PassReport(feeds=list(skipped))
    if progress:
        progress("start", None)
        for item in skipped:
            progress("feed", item)
    own = fetcher is None
    fetcher = fetcher or Fetcher(settings)
    try:
        with ThreadPoolExecutor(max_workers=settings.concurrency,
                                thread_name_prefix="fetch") as pool:
            futures = {pool.submit(_fetch_and_parse, fetcher, feed, row, settings): (feed, row)
                       for feed, row in todo}
            for future in as_completed(futures):
                feed, row = futures[future]
                result, parsed, started = future.result()
                if result.outcome == CANCELLED:
                    # Cut off by a shutdown: no verdict on the feed, so nothing is recorded
                    # (no fetch row, no backoff); it is fetched again at the next start.
                    item = FeedReport(feed.name, CANCELLED, error=result.error,
                                      detail=result.detail, duration_ms=result.duration_ms)
                else:
                    item = store_outcome(store, settings, feed, row, result, parsed, started)
                report.feeds.append(item)
                if progress:
                    progress("feed", item)
        if process:
            from .stages import process_pending

            report.stages = process_pending(store, config, fetcher=fetcher, progress=progress)
    finally:
        if own:
            fetcher.close()
    return report


def _fetch_and_parse(fetcher: Fetcher, feed: Feed, row: FeedRow,
                     settings: Settings) -> tuple[FetchResult, ParsedFeed | None, datetime]:
    """Network and parsing, on a worker thread. Returns parsing failures inside the result."""
    started = now_utc()
    host = urlsplit(feed.url).hostname or ""
    url_changed = row.url != feed.url
    # After a permanent move the new URL is fetched, with its own validators, until
    # feeds.yaml names a URL (a changed URL: no validators, they belong to the old one).
    url = row.moved_to if row.moved_to and not url_changed else feed.url
    result = fetcher.get(url, etag=None if url_changed else row.etag,
                         last_modified=None if url_changed else row.last_modified,
                         trusted_hosts=[host],
                         accept="application/rss+xml, application/atom+xml, "
                                "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
    parsed = None
    if result.ok:
        try:
            parsed = parse_feed(result.body, url=result.url, content_type=result.content_type,
                                fetched_at=started, settings=settings, language=feed.language)
        except NotAFeed as exc:
            result.outcome, result.error, result.detail = FAILED, exc.reason, exc.detail
    return result, parsed, started


def next_attempt(settings: Settings, error_count: int, result: FetchResult,
                 now: datetime, interval: float) -> datetime:
    """When a feed may be fetched again: its interval after success; exponential backoff
    (capped, with a little jitter) after failure; Retry-After when the server gave one."""
    if result.outcome != FAILED:
        return now + timedelta(seconds=interval)
    if result.retry_after is not None:
        return now + timedelta(seconds=max(result.retry_after, 1.0))
    delay = min(settings.backoff_base * (2 ** max(error_count - 1, 0)), settings.backoff_max)
    delay *= random.uniform(0.9, 1.1)
    return now + timedelta(seconds=delay)


def store_outcome(store: Store, settings: Settings, feed: Feed, row: FeedRow,
                  result: FetchResult, parsed: ParsedFeed | None,
                  started: datetime) -> FeedReport:
    """Record one fetch and its articles (one transaction) and compute the feed's new state."""
    now = now_utc()
    failed = result.outcome == FAILED
    error_count = row.error_count + 1 if failed else 0
    update: dict[str, object] = {
        "last_status": result.status, "last_outcome": result.outcome,
        "last_error": result.error, "last_fetch_at": iso(now), "error_count": error_count,
        "next_fetch_at": iso(next_attempt(settings, error_count, result, now, feed.interval)),
    }
    notes = list(parsed.notes) if parsed else []
    if failed:
        if result.status == 410:  # retrying will not bring it back
            update["disabled"] = 1
            update["disabled_reason"] = GONE
        elif error_count >= settings.disable_after:
            update["disabled"] = 1
            update["disabled_reason"] = f"{error_count} failures in a row (last: {result.error})"
    else:
        update.update(last_success_at=iso(now), disabled=0, disabled_reason=None)
        if result.outcome != NOT_MODIFIED:
            # ETag / Last-Modified move only with the articles they cover (same transaction).
            update.update(etag=result.etag, last_modified=result.last_modified)
        if result.moved_to and result.moved_to != row.moved_to:
            moved = None if result.moved_to == feed.url else result.moved_to
            update.update(moved_to=moved, moved_at=iso(now) if moved else None)
            if moved:
                notes.append(f"moved permanently to {moved}: update feeds.yaml")
    if parsed and parsed.bozo:
        notes.append(f"malformed feed kept: {parsed.bozo}")
    detail = result.detail or ("; ".join(notes) if notes else None)
    fetch_row = {
        "started_at": iso(started), "duration_ms": result.duration_ms,
        "http_status": result.status, "bytes": result.bytes_read,
        "entries": len(parsed.articles) if parsed else None, "outcome": result.outcome,
        "error": result.error, "detail": detail[:1000] if detail else None,
    }
    saved = store.record_fetch(row.id, fetch_row, update, parsed.articles if parsed else (),
                               fetched_at=iso(now), full_text=feed.wants_full_text(settings))
    item = FeedReport(feed=feed.name, outcome=result.outcome, http_status=result.status,
                      new=len(saved.new_ids), updated=len(saved.updated_ids),
                      entries=len(parsed.articles) if parsed else 0,
                      duration_ms=result.duration_ms, error=result.error,
                      detail=result.detail, notes=notes)
    for note in notes:
        log.info("feed %s: %s", feed.name, note)
    return item
