"""What a day is: the digest, ``entities --since`` and ``digest --date`` all use calendar days
in ``settings.digest_timezone``; a past day's digest shows that day's feed health; a day
after today is refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Feed
from pipeline.digest import build_digest
from pipeline.errors import SpaceWatchError
from pipeline.store import Store

from .test_digest import add_article, add_match, add_mentions, add_seeds, mention

D = date(2025, 7, 16)


def utc_iso(day: date, hh: int, mm: int, tz: str) -> str:
    """Local ``day hh:mm`` in ``tz`` as the stored UTC ISO string."""
    local = datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_file(tmp_path: Path, tz: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds: []\nsettings:\n  digest_timezone: {tz}\n", encoding="utf-8")
    return path


def top_entities(db: Path, config: Path, since: str) -> dict[str, int]:
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "entities",
                                      "--since", since])
    assert result.exit_code == 0, result.output
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"│ (roscosmos)\s.*│\s+\d+ │\s+(\d+) │", result.output)}


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Vladivostok"])
def test_digest_and_entities_since_agree_on_the_local_day_near_midnight(
        store: Store, tmp_path: Path, tz: str) -> None:
    add_seeds(store, ("s1", "Seed"))
    roscosmos = mention("roscosmos", "Roscosmos", "AGENCY")
    for key, day, hh, mm in (("eve", D - timedelta(days=1), 23, 30), ("dawn", D, 0, 30),
                             ("dusk", D, 23, 30), ("next", D + timedelta(days=1), 0, 30)):
        article = add_article(store, key, f"Story at {key}", utc_iso(day, hh, mm, tz))
        add_mentions(store, article, [roscosmos])
        add_match(store, article, "s1", 0.7)
    now = datetime(2025, 7, 20, 12, 0, tzinfo=UTC)
    data = json.loads(build_digest(store, D, "json", tz, now=now))
    assert [m["title"] for m in data["seeds"][0]["matches"]] == ["Story at dusk",
                                                                 "Story at dawn"]
    assert data["articles"] == 2
    md = build_digest(store, D, "md", tz, now=now)
    assert re.search(r"Story at dawn\]\(\S+\) — import, 00:30", md)  # local times
    assert re.search(r"Story at dusk\]\(\S+\) — import, 23:30", md)
    config = config_file(tmp_path, tz)
    # --since D: from local midnight at the start of D, not from 00:00 UTC.
    assert top_entities(store.path, config, D.isoformat()) == {"roscosmos": 3}
    assert top_entities(store.path, config, (D + timedelta(days=1)).isoformat()) == \
        {"roscosmos": 1}


def feeds_with_fetches(store: Store, tz: str) -> None:
    """Six feeds and their fetches around local day D (in ``tz``)."""
    store.sync_feeds([Feed(name=n, url=f"https://{n}.example/rss") for n in "abcdef"], False,
                     "2025-07-01T00:00:00Z")
    day_before, day_after = D - timedelta(days=1), D + timedelta(days=1)
    fetches = [  # (feed, local day, hh, mm, outcome, error, new articles)
        ("a", D, 3, 0, "ok", None, 2),
        ("a", D, 22, 0, "failed", "http 503", 0),  # D's last fetch of a failed ...
        ("a", day_after, 9, 0, "ok", None, 1),  # ... though a is fine now
        ("b", D, 8, 0, "ok", None, 1),
        ("b", D + timedelta(days=2), 4, 0, "failed", "connect timeout", 0),  # failing now
        ("c", day_before, 12, 0, "ok", None, 1),  # not fetched at all on D
        ("d", D, 9, 0, "ok", None, 0),  # nothing new since 2025-07-10: quiet
        ("d", date(2025, 7, 10), 9, 0, "ok", None, 3),
        ("e", day_before, 23, 30, "failed", "read timeout", 0),  # the evening before D
        ("e", D, 0, 30, "ok", None, 1),
        ("f", D, 23, 30, "ok", None, 1),
        ("f", day_after, 0, 30, "failed", "http 500", 0),  # just after D ended
    ]
    with store.transaction() as conn:
        for name, day, hh, mm, outcome, error, new in sorted(
                fetches, key=lambda f: utc_iso(f[1], f[2], f[3], tz)):
            when = utc_iso(day, hh, mm, tz)
            feed_id = conn.execute("SELECT id FROM feeds WHERE name = ?", (name,)).fetchone()[0]
            conn.execute("INSERT INTO fetches (feed_id, started_at, outcome, error, "
                         "new_articles) VALUES (?, ?, ?, ?, ?)",
                         (feed_id, when, outcome, error, new))
            conn.execute("UPDATE feeds SET last_outcome = ?, last_error = ?, last_fetch_at = ?, "
                         "error_count = CASE WHEN ? = 'failed' THEN error_count + 1 ELSE 0 END, "
                         "last_new_at = CASE WHEN ? > 0 THEN ? ELSE last_new_at END "
                         "WHERE id = ?", (outcome, error, when, outcome, new, when, feed_id))


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Vladivostok"])
def test_a_past_days_digest_shows_that_days_feed_health_not_todays(store: Store,
                                                                    tz: str) -> None:
    feeds_with_fetches(store, tz)
    now = datetime.combine(D + timedelta(days=2), time(12, 0), tzinfo=ZoneInfo(tz))
    past: dict[str, Any] = json.loads(build_digest(store, D, "json", tz, now=now))
    assert past["feed_health_scope"] == "day"
    assert past["fetches"] == 6  # a ×2, b, d, e, f
    health = {f["name"]: f for f in past["feed_health"]}
    assert [(f["name"], f["problem"]) for f in past["feed_health"]] == [
        ("a", "failed"), ("c", "not_fetched"), ("d", "quiet")]
    assert (health["a"]["error_count"], health["a"]["last_error"]) == (1, "http 503")
    assert health["c"]["last_fetch_at"] == utc_iso(D - timedelta(days=1), 12, 0, tz)
    md = build_digest(store, D, "md", tz, now=now)
    section = md[md.index("## Feed health"):]
    assert "From the 6 fetches made on 2025-07-16:" in section
    assert "- **a**: failed (1 error): http 503" in section
    assert "- **c**: not fetched on 2025-07-16" in section
    assert "**b**" not in section and "**e**" not in section and "**f**" not in section
    html = build_digest(store, D, "html", tz, now=now)
    assert "NOT FETCHED" in html and "From the 6 fetches made on 2025-07-16." in html
    # Today's digest shows the feeds as they are now.
    today: dict[str, Any] = json.loads(build_digest(store, now.date(), "json", tz, now=now))
    assert today["feed_health_scope"] == "now"
    assert {f["name"] for f in today["feed_health"] if f["problem"] == "failed"} == {"b", "f"}


def test_a_past_day_without_any_fetch_says_so_instead_of_all_healthy(store: Store) -> None:
    store.sync_feeds([Feed(name="a", url="https://a.example/rss")], False,
                     "2025-07-01T00:00:00Z")
    now = datetime(2025, 7, 20, 12, 0, tzinfo=UTC)
    for fmt in ("md", "html", "text"):
        text = build_digest(store, D, fmt, "UTC", now=now)
        assert "No fetch was recorded on 2025-07-16." in text
        assert "All feeds healthy" not in text


def test_a_day_after_today_in_the_digest_time_zone_is_refused(store: Store) -> None:
    now = datetime(2025, 7, 16, 20, 0, tzinfo=UTC)  # already 17 July in Vladivostok
    build_digest(store, date(2025, 7, 17), "md", "Asia/Vladivostok", now=now)
    with pytest.raises(SpaceWatchError, match=r"2025-07-17 is in the future \(today is "
                                              r"2025-07-16 in UTC\)"):
        build_digest(store, date(2025, 7, 17), "md", "UTC", now=now)
    with pytest.raises(SpaceWatchError, match="2025-07-18 is in the future"):
        build_digest(store, date(2025, 7, 18), "md", "Asia/Vladivostok", now=now)


def test_digest_date_and_entities_since_in_the_future_are_clear_errors(
        store: Store, tmp_path: Path) -> None:
    tz = "Pacific/Kiritimati"  # UTC+14: its today is the UTC tomorrow for part of the day
    config = config_file(tmp_path, tz)
    later = (datetime.now(ZoneInfo(tz)) + timedelta(days=2)).date().isoformat()
    base = ["--db", str(store.path), "--config", str(config)]
    for args in (["digest", "--date", later], ["entities", "--since", later],
                 ["digest", "--email", "--date", later]):
        result = CliRunner().invoke(cli, base + args)
        assert isinstance(result.exception, SpaceWatchError), (args, result.output)
        assert f"{later} is in the future (today is " in str(result.exception)
        assert f"in {tz})" in str(result.exception)
    ok = CliRunner().invoke(cli, base + ["digest", "--date",
                                         datetime.now(ZoneInfo(tz)).date().isoformat()])
    assert ok.exit_code == 0, ok.output
