"""One pass over the feeds: fetch -> normalize -> store -> full text -> entities -> match
-> store.

The command line (``fetch``, ``demo``, ``import``, ``reprocess``) and the daemon call the
same functions, so what the tests prove for one holds for the other:

- :func:`register_feeds` makes the ``feeds`` table reflect feeds.yaml (the one-shot commands
  before each pass, the daemon at start-up and on reload);
- :func:`fetch_feeds` fetches the due feeds and stores what they hold: network work on a
  bounded thread pool, every write on the calling thread, one transaction per feed;
- :func:`analyse_pending` brings every stored article's derived data up to date (full
  text, then entities for every pending article, then matching against seeds weighed on the
  whole stored corpus, then stories: :mod:`pipeline.stories`) and says what it did in a
  :class:`StageReport`;
- :func:`run_pass` is the three in a row.

An article's analysis is never half-stored: mentions and version stamps land in one
transaction per batch, scores in one per batch (scoring itself is pure: see
:mod:`pipeline.match`). A failure on one article is recorded on it and retried on the next
pass; it never loses the article or stops the batch. Progress goes to a
:class:`~pipeline.records.Progress`; figures come back as records, never as sentences.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .alerts import queue_alerts
from .config import Config, Feed, Settings
from .entities import Analyzer, analysis_text, get_analyzer
from .events import EventCounts
from .extract import run_full_text
from .fetch import Fetcher, FetchResult
from .language import LanguageGuess, detect_language
from .match import Matcher, build_matcher, matcher_version
from .normalize import NotAFeed, ParsedFeed, parse_feed
from .people import Person
from .quotes import find_quotes
from .records import (
    CANCELLED,
    FAILED,
    NO_PROGRESS,
    NOT_MODIFIED,
    SKIPPED,
    FeedReport,
    FeedRow,
    FeedState,
    FetchRecord,
    Mention,
    Move,
    PageCounts,
    Progress,
    Validators,
    iso,
    now_utc,
)
from .russian import get_lemmatizer
from .seeds import PROBLEMS_META_KEY, load_seeds, problems_to_json
from .store import Store
from .stories import StoryChange, StoryCounts, assign_stories, stories_due, story_counts

log = logging.getLogger(__name__)
GONE = "410 Gone: the publisher removed this feed"
#: An article whose NER failed this often is left for a person to look at.
NLP_MAX_ATTEMPTS = 3
#: Articles written per transaction (mentions, or scores).
BATCH = 64
#: Texts per ``nlp.pipe`` call (its worker processes start once per call).
STREAM_CHUNK = 2000
NER_ERRORS = (ValueError, RuntimeError, MemoryError, IndexError, KeyError)

#: Where :func:`analyse_pending` gets its matcher once every article has its mentions:
#: a fresh :func:`~pipeline.match.build_matcher`, or the daemon's kept seed profiles.
MatcherSource = Callable[[Store, Config], Matcher]


@dataclass(frozen=True)
class EntityCounts:
    """What an entities run did."""

    analyzed: int = 0
    failed: int = 0
    mentions: int = 0


@dataclass(frozen=True)
class StageReport:
    """What one :func:`analyse_pending` did, stage by stage. ``entities`` and ``matching``
    are None when there was nothing to analyse or score (the stages did not run)."""

    full_text: PageCounts = field(default_factory=PageCounts)
    entities: EntityCounts | None = None
    matching: EventCounts | None = None
    #: The events in the log after the run, and the seeds they were scored against.
    events: int = 0
    seeds: int = 0
    #: What the stories step did (None: it did not run), and each story it touched.
    stories: StoryCounts | None = None
    story_changes: tuple[StoryChange, ...] = ()
    #: Alerts written to the outbox by this run (:func:`pipeline.alerts.queue_alerts`).
    alerts_queued: int = 0


@dataclass
class PassReport:
    """Everything one pass did; the CLI and the daemon print or log it."""

    feeds: list[FeedReport] = field(default_factory=list)
    stages: StageReport = field(default_factory=StageReport)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.feeds)

    @property
    def updated(self) -> int:
        return sum(f.updated for f in self.feeds)

    @property
    def failed(self) -> int:
        return sum(1 for f in self.feeds if f.outcome == FAILED)


def run_pass(store: Store, config: Config, *, only: Sequence[str] | None = None,
             force: bool = False, progress: Progress = NO_PROGRESS,
             fetcher: Fetcher | None = None) -> PassReport:
    """One whole pass: :func:`register_feeds`, :func:`fetch_feeds` (``only`` the named
    feeds; ``force`` ignores backoff and the disabled flag), then :func:`analyse_pending`."""
    register_feeds(store, config)
    own = fetcher is None
    fetcher = fetcher or Fetcher(config.settings)
    try:
        report = fetch_feeds(store, config, only=only, force=force, progress=progress,
                             fetcher=fetcher)
        report.stages = analyse_pending(store, config, fetcher=fetcher, progress=progress)
    finally:
        if own:
            fetcher.close()
    return report


def register_feeds(store: Store, config: Config) -> None:
    """Make the ``feeds`` table reflect feeds.yaml (feeds no longer listed are disabled;
    each feed's state is kept)."""
    store.sync_feeds(config.feeds, config.settings.full_text, iso(now_utc()))


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
            skipped.append(FeedReport(feed.name, SKIPPED, error="disabled",
                                      detail=f"{row.disabled_reason or 'disabled'}; "
                                      "use --force to try it"))
        elif row.next_fetch_at and row.error_count and row.next_fetch_at > iso(now):
            skipped.append(FeedReport(feed.name, SKIPPED, error="backing off",
                                      detail=f"next attempt after {row.next_fetch_at}"))
        else:
            todo.append((feed, row))
    return todo, skipped


def fetch_feeds(store: Store, config: Config, *, only: Sequence[str] | None = None,
                force: bool = False, progress: Progress = NO_PROGRESS,
                fetcher: Fetcher | None = None) -> PassReport:
    """Fetch the registered, enabled feeds that are due (``only``: the named feeds;
    ``force``: ignore backoff and the disabled flag) and store what they hold. The
    report's ``stages`` is empty: :func:`analyse_pending` runs the stages."""
    settings = config.settings
    feeds = [config.feed(n) for n in only] if only else [f for f in config.feeds if f.enabled]
    todo, skipped = due_feeds(store, feeds, now_utc(), force=force)
    report = PassReport(feeds=list(skipped))
    for item in skipped:
        progress.feed_done(item)
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
                progress.feed_done(item)
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
    notes = list(parsed.notes) if parsed else []
    disabled_reason = validators = move = None
    if failed:
        if result.status == 410:  # retrying will not bring it back
            disabled_reason = GONE
        elif error_count >= settings.disable_after:
            disabled_reason = f"{error_count} failures in a row (last: {result.error})"
    else:
        if result.outcome != NOT_MODIFIED:
            # ETag / Last-Modified move only with the articles they cover (same transaction).
            validators = Validators(etag=result.etag, last_modified=result.last_modified)
        if result.moved_to and result.moved_to != row.moved_to:
            move = Move(to=None if result.moved_to == feed.url else result.moved_to)
            if move.to:
                notes.append(f"moved permanently to {move.to}: update feeds.yaml")
    state = FeedState(
        outcome=result.outcome, status=result.status, error=result.error, fetched_at=iso(now),
        error_count=error_count,
        next_fetch_at=iso(next_attempt(settings, error_count, result, now, feed.interval)),
        disabled_reason=disabled_reason, validators=validators, move=move)
    if parsed and parsed.bozo:
        notes.append(f"malformed feed kept: {parsed.bozo}")
    detail = result.detail or ("; ".join(notes) if notes else None)
    fetch = FetchRecord(
        started_at=iso(started), outcome=result.outcome, duration_ms=result.duration_ms,
        http_status=result.status, bytes=result.bytes_read,
        entries=len(parsed.articles) if parsed else None, error=result.error,
        detail=detail[:1000] if detail else None)
    saved = store.record_fetch(row.id, fetch, state, parsed.articles if parsed else (),
                               fetched_at=iso(now), full_text=feed.wants_full_text(settings))
    item = FeedReport(feed=feed.name, outcome=result.outcome, http_status=result.status,
                      new=len(saved.new_ids), updated=len(saved.updated_ids),
                      entries=len(parsed.articles) if parsed else 0,
                      duration_ms=result.duration_ms, error=result.error,
                      detail=result.detail, notes=notes)
    for note in notes:
        log.info("feed %s: %s", feed.name, note)
    return item


# -- the stages after the fetch --------------------------------------------------------------


def analyse_pending(store: Store, config: Config, *, fetcher: Fetcher | None = None,
                    matcher: MatcherSource | None = None,
                    progress: Progress = NO_PROGRESS) -> StageReport:
    """Bring every stored article's derived data up to date; returns what each stage did.

    Full text first (pages that are wanted), then two phases: entities for every pending
    article (mentions stored, one transaction per batch), then the seeds are weighed
    against the whole stored corpus — this batch included — and the stale articles scored.
    So an import's first articles are scored with the same corpus statistics as its last:
    the same stored articles give the same scores whatever order they arrived in.
    ``matcher`` lets a long-running caller (the daemon) reuse seed profiles it built (their
    corpus statistics are then those of build time); without it, a matcher is built only
    when something is new or stale.
    """
    pages = run_full_text(store, config.settings, fetcher, progress=progress)
    analyzer = get_analyzer(config.settings)
    if matcher is None:
        seed_set = load_seeds(config.seeds_folder, analyzer.gazetteer.entries)
        store.set_meta(PROBLEMS_META_KEY, problems_to_json(seed_set.problems), iso(now_utc()))
        version = matcher_version(seed_set.seeds, config.settings)
        if not store.articles_needing_nlp(analyzer.version, NLP_MAX_ATTEMPTS, limit=1) and \
                not store.articles_needing_match(version, limit=1):
            # Nothing new or stale: no profiles to build. Articles a crashed run left out
            # of every story are placed, and alerts it left unqueued queued, all the same.
            left = assign_stories(store, progress=progress) if stories_due(store) else None
            return StageReport(full_text=pages,
                               stories=story_counts(left) if left is not None else None,
                               story_changes=tuple(left or ()),
                               alerts_queued=queue_alerts(store, config))
    entities = run_entities(store, analyzer, progress=progress)
    chosen = (matcher or build_matcher)(store, config)
    events = run_matching(store, chosen, progress=progress)
    # Stories depend on the analysed articles only: with none analysed now, only those a
    # crashed run left out (above the stories watermark) need placing.
    changes = assign_stories(store, progress=progress) \
        if entities.analyzed or stories_due(store) else None
    queued = queue_alerts(store, config)  # after the stories: alerts are per story
    return StageReport(full_text=pages, entities=entities, matching=events,
                       events=store.match_count(), seeds=len(chosen.profiles),
                       stories=story_counts(changes) if changes is not None else None,
                       story_changes=tuple(changes or ()), alerts_queued=queued)


def run_entities(store: Store, analyzer: Analyzer, *,
                 progress: Progress = NO_PROGRESS) -> EntityCounts:
    """NER on every article whose NLP version is missing or stale (the first of the two
    phases of :func:`analyse_pending`; matching follows once every article has its mentions).

    Each article goes to its stored language's analyzer (an article stored before languages
    were gets one identified now). Texts stream through one ``nlp.pipe`` call per chunk (so
    ``nlp_processes`` > 1 starts its workers once, not per batch); results are written every
    ``BATCH`` articles, one transaction per batch. A Russian article's lemmas go into the
    full-text index with its mentions. New people are linked across articles and scripts
    through the people the store already knows (:mod:`pipeline.people`); a role-only
    mention ("the head of Roscosmos") is resolved to the holder on the article's publication
    day (:mod:`pipeline.offices`).
    """
    todo = store.articles_needing_nlp(analyzer.version, NLP_MAX_ATTEMPTS)
    progress.stage("entities", len(todo))
    counts = _NerTally()
    people = analyzer.people.copy()
    people.add(Person(*known) for known in store.model_people())
    for start in range(0, len(todo), STREAM_CHUNK):
        chunk = todo[start:start + STREAM_CHUNK]
        texts = [analysis_text(r["title"], r["text"]) for r in chunk]
        counts.languages = {r["id"]: detect_language(text, hint=r["language"])
                            for r, text in zip(chunk, texts, strict=True)
                            if r["language_source"] is None}
        langs = [counts.language(r) for r in chunk]
        try:
            days = [r["published_at"] for r in chunk]
            stream = zip(chunk, texts, analyzer.analyze(texts, langs, people, days), strict=True)
            pending: list[tuple[dict[str, Any], list[Mention]]] = []
            for row, text, mentions in stream:
                pending.append((row, mentions))
                counts.texts[row["id"]] = text
                if len(pending) == BATCH:
                    counts.save(store, analyzer, pending, progress)
                    pending = []
            counts.save(store, analyzer, pending, progress)
        except NER_ERRORS as exc:
            log.warning("NER stream failed (%s); going on article by article", exc)
            rest = store.articles_needing_nlp(analyzer.version, NLP_MAX_ATTEMPTS)
            rest_ids = {r["id"] for r in rest}
            for row, text in zip(chunk, texts, strict=True):
                if row["id"] not in rest_ids:
                    continue  # saved before the failure
                try:
                    counts.texts[row["id"]] = text
                    counts.save(store, analyzer, [(row, next(analyzer.analyze(
                        [text], [counts.language(row)], people, [row["published_at"]])))],
                        progress)
                except NER_ERRORS as one:
                    log.warning("NER failed on article %s: %s", row["id"], one)
                    store.record_nlp_failure(row["id"], f"{type(one).__name__}: {one}")
                    counts.failed += 1
                    progress.advance(1)
    return EntityCounts(analyzed=counts.analyzed, failed=counts.failed,
                        mentions=counts.mentions)


@dataclass
class _NerTally:
    analyzed: int = 0
    failed: int = 0
    mentions: int = 0
    #: Languages identified in this chunk (articles stored without one), by article id.
    languages: dict[int, LanguageGuess] = field(default_factory=dict)
    #: The analysed text of each article not yet saved, by id.
    texts: dict[int, str] = field(default_factory=dict)

    def language(self, row: dict[str, Any]) -> str | None:
        """The article's language: as stored, or identified for this run."""
        guess = self.languages.get(row["id"])
        return guess.code if guess is not None else row["language"]

    def save(self, store: Store, analyzer: Analyzer,
             items: list[tuple[dict[str, Any], list[Mention]]], progress: Progress) -> None:
        """Write one batch: mentions, who said what (found with the mentions), version
        stamps and a Russian article's lemmas (for full-text search) in one transaction."""
        if not items:
            return
        quotes = {row["id"]: find_quotes(self.texts[row["id"]], mentions,
                                         self.language(row) or "en")
                  for row, mentions in items}
        lemmas = {row["id"]: get_lemmatizer().lemma_text(self.texts[row["id"]])
                  for row, _m in items if self.language(row) == "ru"}
        store.save_mentions([(row["id"], mentions) for row, mentions in items],
                            analyzer.version, iso(now_utc()), lemmas=lemmas,
                            languages={row["id"]: self.languages[row["id"]] for row, _m in items
                                       if row["id"] in self.languages},
                            quotes=quotes)
        for row, _m in items:
            self.texts.pop(row["id"], None)
        self.analyzed += len(items)
        self.mentions += sum(len(m) for _r, m in items)
        progress.advance(len(items))


def run_matching(store: Store, matcher: Matcher, *,
                 progress: Progress = NO_PROGRESS) -> EventCounts:
    """Score the analysed articles that are new or stale for matching (new mentions, other
    seeds, another scorer or threshold) from their stored mentions (no NER), and apply the
    scores to the event log by its versioning rule (``pipeline.events``), one transaction
    per batch."""
    todo = store.articles_needing_match(matcher.version)
    progress.stage("matching", len(todo))
    counts = EventCounts()
    for start in range(0, len(todo), BATCH):
        ids = todo[start:start + BATCH]
        mentions = store.mentions_for(ids)
        batch = [matcher.scores(row["id"], analysis_text(row["title"], row["text"]),
                                mentions[row["id"]], row["nlp_version"], row["language"])
                 for row in store.articles_by_id(ids)]
        counts.merge(store.record_scores(batch, matcher.scoring, iso(now_utc())))
        progress.advance(len(ids))
    return counts
