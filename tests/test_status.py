"""``status`` and the fetch table: right figures (11.4), readable on 80 columns (11.17)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from pipeline.cli import cli
from pipeline.cli.render import pass_summary, pass_table, relative_time, short_time, status_table
from pipeline.config import Feed
from pipeline.ingest import PassReport
from pipeline.records import FeedReport
from pipeline.store import Store

LONG_AGO = "2024-05-06T12:00:00Z"  # the same calendar day in every time zone within ±11 h


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(path: Path) -> None:
    """Three feeds whose figures are known by hand.

    alpha: 4 articles (one also came from beta), 2 with text from their page, 1 whose page
    extraction failed; last fetch ok. beta: 2 articles, none full text; 2 failures in a row
    (http 503), next try in about two hours. gamma: no articles, disabled.
    """
    feeds = [Feed(name=n, url=f"http://127.0.0.1:1/{n}") for n in ("alpha", "beta", "gamma")]
    later = iso(datetime.now(UTC) + timedelta(hours=2, seconds=30))
    with Store(path) as store:
        store.sync_feeds(feeds, True, LONG_AGO)
        ids = {r["name"]: r["id"] for r in store.feed_status()}
        with store.transaction() as conn:
            conn.execute("UPDATE feeds SET last_outcome = 'ok', last_fetch_at = ?, "
                         "next_fetch_at = ? WHERE name = 'alpha'", (LONG_AGO, LONG_AGO))
            conn.execute("UPDATE feeds SET last_outcome = 'failed', last_error = 'http 503', "
                         "error_count = 2, last_fetch_at = ?, next_fetch_at = ? "
                         "WHERE name = 'beta'", (LONG_AGO, later))
            conn.execute("UPDATE feeds SET disabled = 1, error_count = 5, disabled_reason = "
                         "'5 failures in a row (last: http 500)' WHERE name = 'gamma'")
            arts = [  # (feed, text_source, page_status)
                ("alpha", "page", "ok"), ("alpha", "page", "ok"), ("alpha", "feed", "failed"),
                ("alpha", "feed", None), ("beta", "feed", None)]
            for n, (feed, source, page) in enumerate(arts):
                conn.execute(
                    "INSERT INTO articles (id, feed_id, guid, text_source, page_status, "
                    "published_at, fetched_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (n + 1, ids[feed], f"g{n}", source, page, LONG_AGO, LONG_AGO, f"h{n}"))
                conn.execute("INSERT INTO article_sources (article_id, feed_id, guid, "
                             "first_seen_at) VALUES (?, ?, ?, ?)",
                             (n + 1, ids[feed], f"g{n}", LONG_AGO))
            conn.execute("INSERT INTO article_sources (article_id, feed_id, guid, "
                         "first_seen_at) VALUES (4, ?, 'other', ?)", (ids["beta"], LONG_AGO))


def table_rows(output: str) -> dict[str, list[str]]:
    """Feed name -> its cells, from the status table (columns are 2+ spaces apart)."""
    rows = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] in ("alpha", "beta", "gamma"):
            rows[cells[0]] = cells
    return rows


def test_every_status_column_matches_a_hand_count(tmp_path: Path) -> None:
    build(tmp_path / "t.db")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "status"])
    assert result.exit_code == 0, result.output
    header = ["feed", "last fetch", "result", "next", "articles", "full text", "extract failed"]
    day = short_time(LONG_AGO, datetime.now(UTC))
    assert day == "2024-05-06"
    rows = table_rows(result.output)
    assert rows["alpha"] == ["alpha", day, "ok", "due", "4", "2", "1"], header
    assert rows["beta"][:3] == ["beta", day, "failed"]
    assert re.fullmatch(r"in (2h00|1h59)m", rows["beta"][3])
    assert rows["beta"][4:] == ["2", "0", "0"]
    assert rows["gamma"] == ["gamma", "-", "never", "disabled", "0", "0", "0"]
    # The errors: the last one and how many in a row, and why a feed was disabled.
    assert "beta: http 503; 2 failures in a row" in result.output
    assert "gamma: disabled: 5 failures in a row (last: http 500)" in result.output


def test_feed_status_counts_are_not_shadowed_by_feed_columns(tmp_path: Path) -> None:
    build(tmp_path / "t.db")
    with Store(tmp_path / "t.db") as store:
        rows = {r["name"]: r for r in store.feed_status()}
    assert (rows["alpha"]["articles"], rows["alpha"]["articles_full_text"],
            rows["alpha"]["articles_extraction_failed"]) == (4, 2, 1)
    assert rows["alpha"]["full_text"] == 1  # the feed's flag, under its own name


def test_status_on_80_columns_cuts_no_value(tmp_path: Path) -> None:
    build(tmp_path / "t.db")
    with Store(tmp_path / "t.db") as store, store.transaction() as conn:
        conn.execute("UPDATE feeds SET name = 'nasa-news-releases-and-more', last_error = "
                     "'connection failed: the server at 127.0.0.1 closed the connection "
                     "before answering' WHERE name = 'beta'")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "status"],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    table = lines[:lines.index(next(ln for ln in lines if ln.startswith("  ")))]
    assert max(len(ln) for ln in table) <= 80, result.output
    assert "…" not in result.output
    assert "2024-05-06" in result.output


def render(renderable: object, width: int = 80) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


def test_status_table_fits_80_columns_with_long_names_and_errors() -> None:
    now = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
    rows = []
    for i, name in enumerate(["nasa-news-releases", "esa-space-news", "roscosmos-ru",
                              "ars-technica-space", "spacepolicyonline"]):
        rows.append(dict(
            name=name, enabled=1, disabled=i == 2,
            disabled_reason="5 failures in a row (last: connection failed)" if i == 2 else None,
            last_outcome=["ok", "failed", "failed", "not_modified", None][i],
            last_error=[None, "http 503", "connection failed", None, None][i],
            last_fetch_at=None if i == 4 else iso(now - timedelta(days=40 * i, minutes=3)),
            next_fetch_at=iso(now + timedelta(minutes=37 * i + 5)), error_count=i,
            articles=12345 * i, articles_full_text=300 * i, articles_extraction_failed=i))
    text = render(status_table(rows, {}, now, "feeds in /home/analyst/spacewatch.db", UTC))
    table = text.split("\n  ")[0]
    assert all(len(line) <= 80 for line in table.splitlines()), text
    assert "…" not in text
    for expected in ("14:02", "01-23 14:02", "2025-12-14", "in 42m", "in 1h56m", "disabled",
                     "not modified", "37035", "nasa-news-releases", "ars-technica-space"):
        assert expected in text, expected
    assert "esa-space-news: http 503; 1 failure in a row" in text


def test_fetch_table_fits_80_columns_and_notes_go_under_it() -> None:
    report = PassReport(feeds=[
        FeedReport("nasa-news-releases", "ok", 200, 12, 1, 30, 1234,
                   notes=["3 entries without a date: the fetch time was used"]),
        FeedReport("esa-space-news", "failed", 503, error="http 503", duration_ms=230),
        FeedReport("roscosmos-ru", "skipped", error="backing off",
                   detail="next attempt after 2026-03-04T15:05:00Z"),
        FeedReport("ars-technica-space", "failed", None, error="connection failed",
                   detail="[Errno 111] Connection refused", duration_ms=4),
        FeedReport("spacenews", "not_modified", 304, duration_ms=80)])
    text = render(pass_table(report))
    table = text.split("\n  ")[0]
    assert all(len(line) <= 80 for line in table.splitlines()), text
    assert "…" not in text
    assert "  roscosmos-ru: next attempt after 2026-03-04T15:05:00Z" in text
    assert "  nasa-news-releases: 3 entries without a date" in text
    assert "failed: connection failed" in text
    assert pass_summary(report) == ("5 feeds: 12 new, 1 updated, 2 failed, "
                                    "1 skipped (backoff)")


@pytest.mark.parametrize(("seconds", "label"), [
    (-5, "due"), (0, "due"), (40, "in 40s"), (12 * 60 + 5, "in 12m"),
    (2 * 3600 + 5 * 60, "in 2h05m"), (3 * 86400 + 4 * 3600, "in 3d4h")])
def test_next_fetch_is_shown_relative_to_now(seconds: int, label: str) -> None:
    now = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
    assert relative_time(iso(now + timedelta(seconds=seconds)), now) == label


def test_times_are_short_today_this_year_and_before() -> None:
    now = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
    assert short_time("2026-03-04T09:30:00Z", now, UTC) == "09:30"
    assert short_time("2026-01-23T09:30:00Z", now, UTC) == "01-23 09:30"
    assert short_time("2025-12-14T09:30:00Z", now, UTC) == "2025-12-14"
    assert short_time(None, now, UTC) == "-"
