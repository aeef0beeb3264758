"""The stages after the fetch transaction: full text, entities, matching.

``process_pending`` finds the stored articles whose derived data is missing or stale (by the
versions recorded on them) and brings them up to date in batches, one transaction per batch,
so an article never has half its mentions or matches. A failure on one article is recorded
on it and retried on the next pass; it never loses the article or stops the batch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config, Settings
from .entities import Analyzer, Mention
from .events import ArticleScores, EventCounts, Scoring, SeedScore
from .fetch import Fetcher, now_utc
from .match import SCORER_VERSION, Background, Profile, build_profile, score, tokens
from .normalize import iso
from .seeds import PROBLEMS_META_KEY, Seed, SeedSet, load_seeds, problems_to_json
from .store import Store

log = logging.getLogger(__name__)
NLP_MAX_ATTEMPTS = 3
BATCH = 64
STREAM_CHUNK = 2000
NER_ERRORS = (ValueError, RuntimeError, MemoryError, IndexError, KeyError)
BACKGROUND_SAMPLE = 5000

ProgressFn = Callable[[str, Any], None]


@functools.lru_cache(maxsize=2)
def _cached_analyzer(model: str, batch_size: int, n_process: int, max_chars: int) -> Analyzer:
    return Analyzer(model, batch_size=batch_size, n_process=n_process, max_chars=max_chars)


def get_analyzer(settings: Settings) -> Analyzer:
    """The NER pipeline for these settings, loaded once per process."""
    return _cached_analyzer(settings.nlp_model, settings.nlp_batch_size,
                            settings.nlp_processes, settings.nlp_max_chars)


def analysis_text(title: str, text: str) -> str:
    """What NER reads: the title, a blank line, the body (offsets refer to this string)."""
    return f"{title}\n\n{text}" if title else text


def run_entities(store: Store, settings: Settings, *,
                 progress: ProgressFn | None = None) -> dict[str, int]:
    """NER on every article whose NLP version is missing or stale (the first of the two
    phases of :func:`process_pending`; matching follows once every article has its mentions).

    Texts stream through one ``nlp.pipe`` call per chunk (so ``nlp_processes`` > 1 starts
    its workers once, not per batch); results are written every ``BATCH`` articles, one
    transaction per batch.
    """
    analyzer = get_analyzer(settings)
    todo = store.articles_needing_nlp(analyzer.version, NLP_MAX_ATTEMPTS)
    if progress:
        progress("stage:entities", len(todo))
    counts = {"analyzed": 0, "failed": 0, "mentions": 0}
    for start in range(0, len(todo), STREAM_CHUNK):
        chunk = todo[start:start + STREAM_CHUNK]
        texts = [analysis_text(r["title"], r["text"]) for r in chunk]
        try:
            stream = zip(chunk, texts, analyzer.analyze(texts), strict=True)
            pending: list[tuple[dict[str, Any], str, list[Mention]]] = []
            for item in stream:
                pending.append(item)
                if len(pending) == BATCH:
                    _save_batch(store, analyzer, pending, [], counts, progress)
                    pending = []
            _save_batch(store, analyzer, pending, [], counts, progress)
        except NER_ERRORS as exc:
            log.warning("NER stream failed (%s); going on article by article", exc)
            rest = store.articles_needing_nlp(analyzer.version, NLP_MAX_ATTEMPTS)
            rest_ids = {r["id"] for r in rest}
            for row, text in zip(chunk, texts, strict=True):
                if row["id"] not in rest_ids:
                    continue  # saved before the failure
                try:
                    done = [(row, text, analyzer.analyze_one(text))]
                    _save_batch(store, analyzer, done, [], counts, progress)
                except NER_ERRORS as one:
                    log.warning("NER failed on article %s: %s", row["id"], one)
                    _save_batch(store, analyzer, [],
                                [(row["id"], f"{type(one).__name__}: {one}")], counts, progress)
    return counts


def _save_batch(store: Store, analyzer: Analyzer,
                items: list[tuple[dict[str, Any], str, list[Mention]]],
                failures: list[tuple[int, str]], counts: dict[str, int],
                progress: ProgressFn | None) -> None:
    """Write one batch: mentions and version stamps in one transaction."""
    if items:
        now = iso(now_utc())
        results = [(row["id"], mentions) for row, _t, mentions in items]
        store.save_mentions(results, analyzer.version, now)
        counts["analyzed"] += len(items)
        counts["mentions"] += sum(len(m) for _r, _t, m in items)
    for article_id, error in failures:
        store.record_nlp_failure(article_id, error)
        counts["failed"] += 1
    if progress and (items or failures):
        progress("advance", len(items) + len(failures))


def seeds_folder(config: Config) -> Path:
    """``settings.seeds_dir``, relative to the folder of feeds.yaml when that is known."""
    folder = Path(config.settings.seeds_dir)
    if not folder.is_absolute() and config.path is not None:
        folder = config.path.parent / folder
    return folder


@dataclass
class Matcher:
    """Seed profiles plus the background they were weighted on."""

    profiles: list[Profile]
    background: Background
    threshold: float
    version: str
    seed_set: SeedSet | None = None  # the seeds profiled, and the files skipped

    @property
    def scoring(self) -> Scoring:
        """What every event this matcher writes records about how it was scored."""
        return Scoring(threshold=self.threshold, scorer_version=SCORER_VERSION,
                       corpus_version=self.background.n_docs, match_version=self.version)

    def results(self, text: str, mentions: Sequence[Mention]) -> list[tuple[str, float,
                                                                             dict[str, Any]]]:
        terms = Counter(tokens(text))
        out = []
        for profile in self.profiles:
            result = score(profile, text, mentions, self.background, terms)
            out.append((profile.seed_id, result.score, result.explanation))
        return out

    def scores(self, article_id: int, text: str, mentions: Sequence[Mention],
               nlp_version: str) -> ArticleScores:
        """One article's scores against every seed, ready for :meth:`Store.record_scores`
        (which decides, by the event log's rule, what they change)."""
        versions = {p.seed_id: p.version for p in self.profiles}
        return ArticleScores(
            article_id=article_id, pipeline_version=f"{nlp_version}|{self.version}",
            scores=tuple(SeedScore(seed_id=seed_id, score=value,
                                   explanation=json.dumps(explanation, ensure_ascii=False,
                                                          sort_keys=True),
                                   seed_version=versions[seed_id])
                         for seed_id, value, explanation in self.results(text, mentions)))


def matcher_version(seeds: Sequence[Seed], settings: Settings) -> str:
    """What the stored events depend on: the seeds, the scorer and the threshold (not the
    background corpus, whose weights drift slowly; ``reprocess --all`` re-weighs)."""
    key = "|".join(sorted(f"{s.digest}-s{SCORER_VERSION}" for s in seeds))
    key += f"|t{settings.match_threshold}"
    return f"m{SCORER_VERSION}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def build_matcher(store: Store | None, config: Config, *, record: bool = True,
                  previous: SeedSet | None = None) -> Matcher:
    """Load the seeds, weigh them against the stored corpus (or, without a store, against
    the seeds alone) and, with ``record`` (matching runs only; listing is read-only), make
    the ``seeds`` table reflect them: removed seeds are retired, returning ones un-retired."""
    settings = config.settings
    analyzer = get_analyzer(settings)
    # An invalid seed file is skipped (and reported); with ``previous`` (the daemon), its
    # last good version stays in use.
    seed_set = load_seeds(seeds_folder(config), analyzer.gazetteer.entries).keeping(previous)
    seeds = seed_set.seeds
    seed_texts = [analysis_text(seed.title, seed.text) for seed in seeds]
    if store is not None:
        n, texts, entity_df = store.background_sample(BACKGROUND_SAMPLE)
        background = Background.from_texts(texts)
        background.n_docs, background.term_docs, background.entity_df = (n, len(texts),
                                                                         entity_df)
    else:
        background = Background.from_texts(seed_texts)
    profiles = [build_profile(seed, mentions, background)
                for seed, mentions in zip(seeds, analyzer.analyze(seed_texts), strict=True)]
    version = matcher_version(seeds, settings)
    now = iso(now_utc())
    if store is not None and record:
        store.sync_seeds([{"id": seed.id, "title": seed.title, "path": seed.path,
                           "date": seed.date, "url": seed.url,
                           "profile_version": profile.version,
                           "profile": json.dumps(profile.summary(), ensure_ascii=False),
                           "updated_at": now}
                          for seed, profile in zip(seeds, profiles, strict=True)], now,
                         skipped=[problem.path for problem in seed_set.problems])
    if store is not None and record:  # for `status`
        store.set_meta(PROBLEMS_META_KEY, problems_to_json(seed_set.problems), now)
    return Matcher(profiles=profiles, background=background,
                   threshold=settings.match_threshold, version=version, seed_set=seed_set)


def run_matching(store: Store, matcher: Matcher, *,
                 progress: ProgressFn | None = None) -> EventCounts:
    """Score the analysed articles that are new or stale for matching (new mentions, other
    seeds, another scorer or threshold) from their stored mentions (no NER), and apply the
    scores to the event log by its versioning rule (``pipeline.events``), one transaction
    per batch."""
    todo = store.articles_needing_match(matcher.version)
    if progress:
        progress("stage:matching", len(todo))
    counts = EventCounts()
    for start in range(0, len(todo), BATCH):
        ids = todo[start:start + BATCH]
        mentions = store.mentions_for(ids)
        batch = [matcher.scores(row["id"], analysis_text(row["title"], row["text"]),
                                mentions[row["id"]], row["nlp_version"])
                 for row in store.articles_by_id(ids)]
        counts.merge(store.record_scores(batch, matcher.scoring, iso(now_utc())))
        if progress:
            progress("advance", len(ids))
    return counts


def run_full_text(store: Store, settings: Settings, fetcher: Fetcher | None = None, *,
                  progress: ProgressFn | None = None) -> dict[str, int]:
    """Fetch and extract the pages of articles that want them (each URL once)."""
    from urllib.parse import urlsplit

    from .extract import fetch_pages

    todo = store.articles_needing_pages(settings.extract_max_attempts)
    if not todo:
        return {"pages": 0, "extracted": 0, "failed": 0}
    by_url: dict[str, list[int]] = {}
    jobs = []
    for row in todo:
        if row["url"] not in by_url:
            jobs.append((row["url"], urlsplit(row["feed_url"]).hostname or ""))
        by_url.setdefault(row["url"], []).append(row["id"])
    if progress:
        progress("stage:full text", len(jobs))
    own = fetcher is None
    fetcher = fetcher or Fetcher(settings)
    counts = {"pages": len(jobs), "extracted": 0, "failed": 0}

    def done(page: Any) -> None:
        if progress:
            progress("advance", 1)

    try:
        pages = fetch_pages(fetcher, settings, jobs, on_done=done)
    finally:
        if own:
            fetcher.close()
    for url, page in pages.items():
        store.save_page(page, by_url[url], iso(now_utc()))
        counts["extracted" if page.ok else "failed"] += 1
        if not page.ok:
            log.info("full text for %s failed: %s", url, page.error)
    return counts


def process_pending(store: Store, config: Config, *, fetcher: Fetcher | None = None,
                    matcher: Matcher | None = None,
                    progress: ProgressFn | None = None) -> dict[str, object]:
    """Bring every stored article's derived data up to date; returns counts per stage.

    Two phases: entities for every pending article first (mentions stored, one transaction
    per batch), then the seeds are weighed against the whole stored corpus — this batch
    included — and the stale articles scored. So an import's first articles are scored with
    the same corpus statistics as its last: the same stored articles give the same scores
    whatever order they arrived in. ``matcher`` lets a long-running caller (the daemon)
    reuse seed profiles it built (their corpus statistics are then those of build time).
    """
    stats: dict[str, object] = {}
    pages = run_full_text(store, config.settings, fetcher, progress=progress)
    if pages["pages"]:
        stats["full text"] = (f"{pages['pages']} pages, {pages['extracted']} extracted, "
                              f"{pages['failed']} failed")
    analyzer = get_analyzer(config.settings)
    if matcher is None:
        seed_set = load_seeds(seeds_folder(config), analyzer.gazetteer.entries)
        store.set_meta(PROBLEMS_META_KEY, problems_to_json(seed_set.problems), iso(now_utc()))
        version = matcher_version(seed_set.seeds, config.settings)
        if not store.articles_needing_nlp(analyzer.version, NLP_MAX_ATTEMPTS, limit=1) and \
                not store.articles_needing_match(version, limit=1):
            return stats  # nothing new or stale: no seed profiles to build
    ner = run_entities(store, config.settings, progress=progress)
    stats["entities"] = f"{ner['analyzed']} articles, {ner['mentions']} mentions" + (
        f", {ner['failed']} failed" if ner["failed"] else "")
    if matcher is None:
        matcher = build_matcher(store, config)
    counts = run_matching(store, matcher, progress=progress)
    stats["matches"] = (f"{counts.describe()}; " if counts.rescored else "") + \
        f"{store.match_count()} events from {len(matcher.profiles)} seeds"
    return stats


def score_text(matcher: Matcher, text: str, mentions: list[Mention]) -> list[dict[str, Any]]:
    """Seed scores for an unstored text (``spacewatch analyze``), best first."""
    results = matcher.results(text, mentions)
    return [{"seed": seed_id, "score": value, "match": value >= matcher.threshold}
            for seed_id, value, _e in sorted(results, key=lambda r: (-r[1], r[0]))]
