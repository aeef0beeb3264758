"""feedparser's own RSS 2.0 and Atom 1.0 test files, served over local HTTP, ingest cleanly."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest

from pipeline.store import Store

from .conftest import fetch_only, make_config, shared_path
from .httpserver import LocalServer, Reply


@pytest.mark.parametrize("folder", ["rss", "atom10"])
def test_wellformed_corpus_ingests_without_unhandled_error(folder: str, tmp_path: Path) -> None:
    root = shared_path("fixtures", "feedparser-corpus", "wellformed", folder)
    files = sorted(root.glob("*.xml"))
    assert files, f"no files in {root}"
    with LocalServer() as server, Store(tmp_path / "c.db") as store:
        feeds = {}
        expected = 0
        for i, path in enumerate(files):
            body = path.read_bytes()
            feeds[f"c{i}"] = server.route(f"/{i}.xml", Reply(body, content_type="application/xml"))
            expected += 1
        report = fetch_only(store, make_config(feeds, concurrency=8))
        assert len(report.feeds) == expected
        outcomes = {f.outcome for f in report.feeds}
        assert outcomes <= {"ok", "failed"}
        # Every failure carries a fixed reason; none is an unhandled error.
        assert all(f.error for f in report.feeds if f.outcome == "failed")
        assert store.scalar("SELECT count(*) FROM fetches") == expected
        # Files feedparser reads entries from must not be reported as failures.
        for i, path in enumerate(files):
            parsed = feedparser.parse(path.read_bytes())
            item = next(f for f in report.feeds if f.feed == f"c{i}")
            if parsed.entries and any(e.get("title") or e.get("summary") for e in parsed.entries):
                assert item.outcome == "ok", (path.name, item.error, item.detail)
