"""Fault suite: feedparser's whole test corpus, replayed through the real ingestion path.

Every file of ``../shared/fixtures/feedparser-corpus`` (well-formed, ill-formed, odd
encodings, entity tricks) is served as its own feed from one local HTTP server, with the HTTP
headers its test comment asks for, and one ``run_pass`` fetches, parses, normalizes and
stores them all. The guarantees:

- nothing crashes: the pass returns, every feed ends in a named outcome, every failure has a
  fixed reason, and every attempt is one ``fetches`` row;
- nothing is lost: every entry feedparser yields from the same bytes and headers that has
  an identity (an id, a usable link, or some text) is stored exactly once for its feed;
- nothing is duplicated and the database file stays sound.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from pipeline.config import Settings
from pipeline.normalize import canonical_url, defuse_xml, html_to_text, normalize_entry
from pipeline.store import Store

from .conftest import fetch_only, make_config, shared_path
from .httpserver import LocalServer, Reply

pytestmark = pytest.mark.fault

#: The header hints in a test file's comment, read the way feedparser's own test server does.
HEADER_HINT = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
DEFAULT_CONTENT_TYPE = "application/xml"
#: The fixed reasons a fetch of a local, well-served body may fail with (see normalize).
PARSE_FAILURES = {"empty body", "not a feed", "html page, not a feed"}
NOW = datetime(2025, 7, 20, 12, 0, tzinfo=UTC)


def header_hints(body: bytes) -> dict[str, str]:
    """``Header: Name: value`` lines of a corpus file, as response headers (lower-case keys)."""
    hints = {}
    for key, value in HEADER_HINT.findall(body):
        hints[key.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return hints


def reply_for(body: bytes) -> Reply:
    """Serve a corpus file with its hinted headers, or as ``application/xml``."""
    hints = header_hints(body)
    content_type = hints.pop("content-type", DEFAULT_CONTENT_TYPE)
    return Reply(body, content_type=content_type, headers=hints)


def has_identity(entry: feedparser.FeedParserDict, max_url_length: int) -> bool:
    """An entry SpaceWatch can tell apart: an id, a usable link, or some title or body text."""
    if entry.get("id") or entry.get("guid"):
        return True
    if canonical_url(entry.get("link"), max_url_length):
        return True
    texts = [entry.get("title"), entry.get("summary")]
    texts += [c.get("value") for c in entry.get("content") or [] if isinstance(c, dict)]
    return any(html_to_text(t) for t in texts)


def expected_guids(body: bytes, url: str, content_type: str,
                   settings: Settings) -> tuple[set[str], int]:
    """What feedparser itself yields from these bytes and headers, independently of the
    pipeline: the distinct guids of entries with an identity, after the per-feed cap; and
    how many identifiable entries there were before the cap."""
    cleaned, _ = defuse_xml(body)  # SpaceWatch defuses DOCTYPE subsets before parsing
    parsed = feedparser.parse(cleaned, response_headers={"content-location": url,
                                                         "content-type": content_type},
                              sanitize_html=True, resolve_relative_uris=True)
    entries = parsed.entries[: settings.max_items_per_feed]
    guids = set()
    identifiable = 0
    for entry in entries:
        if not has_identity(entry, settings.max_url_length):
            continue
        identifiable += 1
        article = normalize_entry(entry, fetched_at=NOW, settings=settings)
        assert article is not None, f"an entry with an identity was dropped: {dict(entry)!r}"
        guids.add(article.guid)
    return guids, identifiable


def finds_a_feed(body: bytes, url: str, content_type: str) -> bool:
    """Whether feedparser, given the raw bytes (not defused), recognizes a feed in them."""
    parsed = feedparser.parse(body, response_headers={"content-location": url,
                                                      "content-type": content_type})
    return bool(parsed.get("version") or parsed.entries)


def test_every_corpus_file_replays_without_crash_loss_or_duplicate(tmp_path: Path) -> None:
    """Each of feedparser's ~2,100 test files, served as a feed, ends in ok / not_modified /
    failed with a fixed reason; one fetch row each; every identifiable entry feedparser
    yields is in ``article_sources`` once for its feed; no article is stored twice."""
    root = shared_path("fixtures", "feedparser-corpus")
    files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    assert len(files) > 2000, f"expected feedparser's whole corpus in {root}"
    started = time.monotonic()
    with LocalServer() as server, Store(tmp_path / "corpus.db") as store:
        feeds: dict[str, str] = {}
        source: dict[str, Path] = {}
        for i, path in enumerate(files):
            name = f"corpus-{i:04d}"
            feeds[name] = server.route(f"/{i:04d}.xml", reply_for(path.read_bytes()))
            source[name] = path
        config = make_config(feeds, concurrency=8)
        report = fetch_only(store, config)

        # Nothing crashed: one named outcome per feed, fixed reasons for failures.
        by_feed = {item.feed: item for item in report.feeds}
        assert len(report.feeds) == len(files) and set(by_feed) == set(feeds)
        outcomes = Counter(item.outcome for item in report.feeds)
        assert set(outcomes) <= {"ok", "not_modified", "failed"}, outcomes
        bad = {source[i.feed].relative_to(root).as_posix(): (i.error, i.detail)
               for i in report.feeds if i.outcome == "failed" and i.error not in PARSE_FAILURES}
        assert not bad, f"failures without a fixed parse reason: {bad}"

        # One fetches row per file.
        per_feed = dict(store.conn.execute(
            "SELECT f.name, count(x.id) FROM feeds f LEFT JOIN fetches x ON x.feed_id = f.id "
            "GROUP BY f.id"))
        assert per_feed == dict.fromkeys(feeds, 1)

        # Nothing lost, nothing stored twice: per feed, distinct guids == source rows.
        stored = dict(store.conn.execute(
            "SELECT f.name, count(s.id) FROM feeds f "
            "LEFT JOIN article_sources s ON s.feed_id = f.id GROUP BY f.id"))
        mismatches = {}
        for name, path in source.items():
            item = by_feed[name]
            url = feeds[name]
            content_type = server.routes[url.removeprefix(server.base)].content_type
            guids, identifiable = expected_guids(path.read_bytes(), url, content_type,
                                                 config.settings)
            if item.outcome == "failed":
                # A feed may fail only where feedparser, on the very bytes served, finds no
                # feed either (so defusing never breaks a document).
                if identifiable or finds_a_feed(path.read_bytes(), url, content_type):
                    mismatches[path.relative_to(root).as_posix()] = (item.error, identifiable, 0)
                continue
            if len(guids) != stored[name]:
                mismatches[path.relative_to(root).as_posix()] = (item.outcome, len(guids),
                                                                 stored[name])
        assert not mismatches, f"(outcome, expected, stored) differ: {mismatches}"

        # No duplicate articles, no orphan, a sound file.
        with_url, distinct_urls = store.conn.execute(
            "SELECT count(*), count(DISTINCT url) FROM articles WHERE url IS NOT NULL"
        ).fetchone()
        assert with_url == distinct_urls
        orphans = store.scalar("SELECT count(*) FROM articles a WHERE NOT EXISTS "
                               "(SELECT 1 FROM article_sources s WHERE s.article_id = a.id)")
        assert orphans == 0
        assert store.scalar("PRAGMA integrity_check") == "ok"
        entries = store.scalar("SELECT count(*) FROM article_sources")
        articles = store.scalar("SELECT count(*) FROM articles")
    elapsed = time.monotonic() - started
    print(f"\ncorpus replay: {len(files)} files replayed, {outcomes['ok']} feeds ok, "
          f"{outcomes['not_modified']} not modified, {outcomes['failed']} feeds failed, "
          f"{entries} entries stored ({articles} distinct articles) in {elapsed:.1f}s")
    # (Printed, not asserted: speed lives in the benchmarks, never in a test.)
