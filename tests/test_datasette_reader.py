"""``spacewatch serve`` is Datasette for a reader, not a DBA: the SQL box opens on the event
log, ``event_log`` is newest first with facets (seed, feed, language, entities, entity
kinds), an entity's row links to a page of its articles with titles and dates, and the
canned queries (today's matches in the digest's time zone, articles naming an entity, feed
health) give what Python computes from the raw rows of the demo database.

One ``spacewatch serve`` runs for the whole module (Datasette's start-up is slow); when it is
stopped no process it started may be left.
"""

from __future__ import annotations

import html
import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipeline.query import EXAMPLES, run_query
from pipeline.serve import datasette_metadata, today_bounds_sql, today_matches_sql
from pipeline.store import Store
from pipeline.store.reports import day_bounds

from .conftest import Raw
from .processes import kill_marked, left_after, marked_env
from .test_query_examples import events, feed_name, is_current_event

START_TIMEOUT_S = 120  # Datasette's start-up on a busy machine
STOP_TIMEOUT_S = 60
ISO = "%Y-%m-%dT%H:%M:%SZ"
#: Zones 1-3 hours apart around the world: in one of them "today" holds demo matches.
ZONES = ("Pacific/Kiritimati", "Pacific/Auckland", "Asia/Tokyo", "Asia/Kolkata",
         "Europe/Moscow", "Europe/Berlin", "UTC", "America/Sao_Paulo", "America/New_York",
         "America/Chicago", "America/Denver", "America/Los_Angeles", "Pacific/Honolulu",
         "Pacific/Pago_Pago")


# -- today's matches: the SQL's day is the digest's day, across midnight and DST -----------


def bounds_at(sql_cte: str, clock: datetime) -> tuple[str, str, str]:
    """(local day, start, end) that the SQL computes when the clock reads ``clock``."""
    with sqlite3.connect(":memory:") as conn:
        row = conn.execute(sql_cte + "\nSELECT (SELECT day FROM today), "
                           "(SELECT min(start) FROM bounds), (SELECT max(start) FROM bounds)",
                           {"now": clock.strftime(ISO)}).fetchone()
    return row


@pytest.mark.parametrize(("zone", "built"), [
    ("UTC", "2026-03-01T00:00:00Z"),
    ("Europe/Berlin", "2026-03-01T00:00:00Z"),  # summer time from 29 March, back 25 Oct
    ("America/New_York", "2026-03-01T00:00:00Z"),
    ("Australia/Lord_Howe", "2026-03-01T00:00:00Z"),  # a 30-minute change on 5 April
    ("Asia/Kathmandu", "2026-03-01T00:00:00Z"),  # +05:45
    ("America/Santiago", "2026-08-25T00:00:00Z"),  # 6 Sept: midnight does not exist
    ("Pacific/Chatham", "2026-09-15T00:00:00Z"),  # +12:45 / +13:45
])
def test_today_is_the_digest_day_in_the_zone_long_after_serve_started(zone: str,
                                                                     built: str) -> None:
    """The SQL is written when ``serve`` starts; read at any later moment (across midnights
    and clock changes) its "today" is the local day of that moment, as the digest sees it."""
    tz = ZoneInfo(zone)
    start = datetime.strptime(built, ISO).replace(tzinfo=UTC)
    sql = today_bounds_sql(zone, start, clock=":now")
    clock = start
    while clock < start + timedelta(days=60):
        day = clock.astimezone(tz).date()
        assert bounds_at(sql, clock) == (day.isoformat(), *day_bounds(day, tz)), clock
        clock += timedelta(minutes=53)


def test_the_zone_table_goes_on_after_its_last_change() -> None:
    """Read years after it was written, the SQL still names a day (with the last known
    offset), never none."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    sql = today_bounds_sql("Europe/Berlin", start, clock=":now")
    day, begins, ends = bounds_at(sql, start + timedelta(days=365 * 9))
    assert day and begins < ends


# -- the demo database and one `spacewatch serve` on it --------------------------------



def todays_events(raw: Raw, zone: str, now: datetime) -> list[dict[str, Any]]:
    """Current match events of articles published on the local day of ``now`` (the
    digest's day), best first."""
    tz = ZoneInfo(zone)
    start, end = day_bounds(now.astimezone(tz).date(), tz)
    found = [e for e in events(raw) if start <= e["published_at"] < end]
    return sorted(found, key=lambda e: (-e["score"], e["published_at"]))


def zone_with_matches_today(raw: Raw) -> str:
    """A zone whose "today" holds some of the demo's matches (the demo is dated relative
    to the run, in UTC)."""
    now = datetime.now(UTC)
    for zone in ZONES:
        if todays_events(raw, zone, now) and todays_events(
                raw, zone, now + timedelta(minutes=10)):
            return zone
    raise AssertionError("no zone has demo matches today")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode("utf-8")


def answers(port: int) -> bool:
    try:
        get(f"http://127.0.0.1:{port}/-/versions.json")
        return True
    except OSError:
        return False


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT/demo
    zone: str

    def page(self, path: str) -> str:
        return get(self.base + path)

    def json(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        return json.loads(get(f"{self.base}{path}.json?{query}"))


@pytest.fixture(scope="module")
def served(demo_db: Path, raw: Raw, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Served]:
    pytest.importorskip("datasette", reason="Datasette is the optional 'serve' extra")
    tmp = tmp_path_factory.mktemp("serve")
    zone = zone_with_matches_today(raw)
    (tmp / "feeds.yaml").write_text(f"feeds: []\nsettings:\n  digest_timezone: {zone}\n",
                                    encoding="utf-8")
    port = free_port()
    marker, env = marked_env()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "--config",
                             str(tmp / "feeds.yaml"), "--db", str(demo_db), "serve",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        assert answers(port), "Datasette did not answer"
        yield Served(f"http://127.0.0.1:{port}/{demo_db.stem}", zone)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0
        assert left_after(marker, STOP_TIMEOUT_S) == [], "serve left a process behind"
    finally:
        kill_marked(marker)
        proc.communicate(timeout=STOP_TIMEOUT_S)


# -- the pages a reader sees ---------------------------------------------------------------


def text_of(page: str) -> str:
    """The page's HTML with entities decoded (titles hold quotes and Cyrillic)."""
    return html.unescape(page)


def test_the_sql_box_opens_on_the_event_log_newest_first(served: Served) -> None:
    page = served.page("")
    box = re.search(r'<textarea id="sql-editor" name="sql">(.*?)</textarea>', page, re.S)
    assert box is not None
    sql = html.unescape(box.group(1))
    assert "from event_log" in sql and "order by published_at desc" in sql
    rows = served.json("", sql=sql, _shape="array")
    assert rows and [r["published_at"] for r in rows] == sorted(
        (r["published_at"] for r in rows), reverse=True)
    # Internal tables are hidden (still reachable under "hidden tables").
    listed = re.findall(r'<h3><a href="/[^/"]+/([^"]+)">', page)
    assert "articles" in listed and "entities" in listed
    assert not {"_sqlite_migrations", "meta", "articles_fts"} & set(listed)
    assert "event_log" in page and "entity_articles" in page


def test_event_log_is_newest_first_with_reader_facets(served: Served, raw: Raw) -> None:
    data = served.json("/event_log", _shape="objects", _size="max")
    published = [r["published_at"] for r in data["rows"]]
    assert len(published) == len(events(raw)) and published == sorted(published, reverse=True)
    facets = data["facet_results"]
    assert {"seed", "feed", "language", "entities", "entity_kinds"} <= set(facets)

    articles, entities = raw.by_id("articles"), raw.by_id("entities")
    names: dict[int, set[str]] = defaultdict(set)
    for m in raw["mentions"]:
        names[m["article_id"]].add(entities[m["entity_id"]]["name"])
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events(raw):
        a = articles[e["article_id"]]
        expected["seed"][e["seed"]] += 1
        expected["feed"][e["feed"]] += 1
        expected["language"][a["language"]] += 1
        expected["entities"].update(names[a["id"]])
        expected["entity_kinds"].update({entities[m["entity_id"]]["kind"]
                                         for m in raw["mentions"]
                                         if m["article_id"] == a["id"]})
    for name, counts in expected.items():  # the most common values, counted right
        shown = {r["value"]: r["count"] for r in facets[name]["results"]}
        assert shown and all(counts[v] == n for v, n in shown.items()), name
        left_out = [n for v, n in counts.items() if v not in shown]
        assert not left_out or min(shown.values()) >= max(left_out), name
    assert facets["entities"]["type"] == "array"


def test_the_entities_facet_filters_the_events_naming_an_entity(served: Served,
                                                                raw: Raw) -> None:
    entities = raw.by_id("entities")
    bakanov = {m["article_id"] for m in raw["mentions"]
               if entities[m["entity_id"]]["name"] == "Dmitry Bakanov"}
    data = served.json("/event_log", _shape="objects", _size="max",
                       entities__arraycontains="Dmitry Bakanov")
    expected = {e["event_id"] for e in events(raw) if e["article_id"] in bakanov}
    assert expected and {r["event_id"] for r in data["rows"]} == expected


def articles_naming(raw: Raw, entity_id: str) -> list[dict[str, Any]]:
    """The articles that name an entity, newest first."""
    ids = {m["article_id"] for m in raw["mentions"] if m["entity_id"] == entity_id}
    return sorted((a for a in raw["articles"] if a["id"] in ids),
                  key=lambda a: (a["published_at"], a["id"]), reverse=True)


def test_an_entity_row_links_to_a_page_of_its_articles_with_titles_and_dates(
        served: Served, raw: Raw) -> None:
    table = served.page("/entities?kind=OFFICIAL")
    link = re.search(r'href="(/[^"]+/entity_articles\?entity_id=dmitry-bakanov)"', table)
    assert link is not None, "the entities table does not link Bakanov's articles"
    row = served.page("/entities/dmitry-bakanov")
    assert link.group(1) in html.unescape(row), "the entity's own page does not link them"

    page = text_of(get(served.base.rsplit("/", 1)[0] + html.unescape(link.group(1))))
    expected = articles_naming(raw, "dmitry-bakanov")
    assert len(expected) > 3
    where = []
    for article in expected:
        assert article["title"] in page and article["published_at"] in page, article["title"]
        where.append(page.index(article["title"]))
    assert where == sorted(where), "not newest first"


# -- the canned queries, in Datasette and from the command line --------------------------


def test_todays_matches_in_datasette_are_the_digest_day_in_the_configured_zone(
        served: Served, raw: Raw) -> None:
    before = datetime.now(UTC)
    rows = served.json("/todays_matches", _shape="array")
    after = datetime.now(UTC)
    got = [(r["published_at"], r["seed"], r["title"]) for r in rows]
    expected = [[(e["published_at"], e["seed"], e["title"]) for e in
                 todays_events(raw, served.zone, now)] for now in (before, after)]
    assert got and got in expected


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
def test_todays_matches_sql_runs_in_spacewatch_query_too(demo_db: Path, raw: Raw,
                                                       zone: str) -> None:
    before = datetime.now(UTC)
    columns, rows = run_query(demo_db, today_matches_sql(zone, before))
    after = datetime.now(UTC)
    got = [dict(zip(columns, r, strict=True)) for r in rows]
    expected = [[(e["event_id"], round(e["score"] + 1e-12, 3)) for e in
                 todays_events(raw, zone, now)] for now in (before, after)]
    assert [(r["event_id"], r["score"]) for r in got] in expected


def test_articles_naming_an_entity_accept_its_id_or_its_name(served: Served, demo_db: Path,
                                                             raw: Raw) -> None:
    example = next(e for e in EXAMPLES if e.name == "articles_naming_entity")
    expected = [a["title"] for a in articles_naming(raw, "dmitry-bakanov")]
    for entity in ("dmitry-bakanov", "Dmitry Bakanov", "dmitry bakanov"):
        columns, rows = run_query(demo_db, example.sql, {"entity": entity})
        assert [r[columns.index("title")] for r in rows] == expected, entity
    rows = served.json("/articles_naming_entity", entity="Dmitry Bakanov", _shape="array")
    assert [r["title"] for r in rows] == expected
    assert run_query(demo_db, example.sql, {"entity": "nobody at all"})[1] == []


def test_feed_health_shows_failing_disabled_off_and_moved_feeds(demo_db: Path,
                                                                tmp_path: Path) -> None:
    db = tmp_path / "health.db"
    with sqlite3.connect(demo_db) as source, sqlite3.connect(db) as copy:
        source.backup(copy)
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM feeds ORDER BY name")]
        conn.execute("UPDATE feeds SET disabled = 1, disabled_reason = 'gone (HTTP 410)', "
                     "error_count = 1, last_outcome = 'failed', last_error = 'gone' "
                     "WHERE name = ?", (names[0],))
        conn.execute("UPDATE feeds SET error_count = 3, last_outcome = 'failed', "
                     "last_error = 'connect timeout' WHERE name = ?", (names[1],))
        conn.execute("UPDATE feeds SET enabled = 0 WHERE name = ?", (names[2],))
        conn.execute("UPDATE feeds SET moved_to = 'http://127.0.0.1:9/new.xml' "
                     "WHERE name = ?", (names[3],))
    conn.close()
    example = next(e for e in EXAMPLES if e.name == "feed_health")
    columns, rows = run_query(db, example.sql)
    got = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
    with sqlite3.connect(db) as conn:
        counts = Counter(r[0] for r in conn.execute(
            "SELECT f.name FROM article_sources s JOIN feeds f ON f.id = s.feed_id"))
    conn.close()
    assert [r[0] for r in rows] == [names[0], names[1], names[2], names[3]]
    assert got[names[0]]["state"] == "disabled: gone (HTTP 410)"
    assert (got[names[1]]["failures_in_a_row"], got[names[1]]["outcome"],
            got[names[1]]["last_error"]) == (3, "failed", "connect timeout")
    assert got[names[2]]["state"] == "off"
    assert got[names[3]]["moved_to"] == "http://127.0.0.1:9/new.xml"
    assert {n: got[n]["articles"] for n in names} == {n: counts[n] for n in names}


# -- the schema and the metadata -----------------------------------------------------------


def test_event_log_keeps_its_columns_and_adds_language_and_entity_arrays(
        tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        columns = [r[1] for r in store.conn.execute("PRAGMA table_info(event_log)")]
        views = {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert columns == ["event_id", "matched_at", "published_at", "seed", "score", "title",
                       "url", "feed", "top_entities", "evidence", "article_id", "version",
                       "language", "entities", "entity_kinds"]
    assert {"event_log", "event_history", "entity_articles"} <= views


def test_entity_articles_has_one_row_per_entity_and_article(demo_db: Path, raw: Raw) -> None:
    columns, rows = run_query(demo_db, "SELECT * FROM entity_articles")
    got = {(r[columns.index("entity_id")], r[columns.index("article_id")]):
           r[columns.index("mentions")] for r in rows}
    assert len(got) == len(rows)
    assert got == Counter((m["entity_id"], m["article_id"]) for m in raw["mentions"])
    articles = raw.by_id("articles")
    for r in rows:
        a = articles[r[columns.index("article_id")]]
        assert (r[columns.index("title")], r[columns.index("published_at")],
                r[columns.index("feed")]) == (a["title"], a["published_at"],
                                              feed_name(raw, a["feed_id"], a))


def test_metadata_hides_internals_and_names_every_canned_query() -> None:
    meta = datasette_metadata("demo", "Europe/Berlin", datetime(2026, 3, 1, tzinfo=UTC))
    db = meta["databases"]["demo"]
    assert {"_sqlite_migrations", "meta"} <= {t for t, m in db["tables"].items()
                                              if m.get("hidden")}
    assert db["tables"]["event_log"]["sort_desc"] == "published_at"
    assert set(db["queries"]) == {e.name for e in EXAMPLES} | {"todays_matches"}
    assert "Europe/Berlin" in db["queries"]["todays_matches"]["title"]


def test_serve_refuses_a_database_older_than_the_code_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Store(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0010_datasette_views'")
    conn.close()
    marker, env = marked_env()
    result = subprocess.run([sys.executable, "-m", "pipeline", "--config",
                             str(tmp_path / "none.yaml"), "--db", str(db), "serve", "--port",
                             str(free_port())], capture_output=True, text=True, env=env,
                            timeout=START_TIMEOUT_S)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "spacewatch init" in result.stderr
    assert "http://" not in result.stdout
    assert left_after(marker, 5) == []


def test_is_current_event_is_what_event_log_shows(demo_db: Path, raw: Raw) -> None:
    """The Python answers above rest on this rule: check it once against the view."""
    _c, rows = run_query(demo_db, "SELECT event_id FROM event_log")
    assert {r[0] for r in rows} == {m["id"] for m in raw["matches"]
                                    if is_current_event(raw, m)}

