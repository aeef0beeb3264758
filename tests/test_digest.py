"""The daily digest: per-seed matches in score order, actors on the move, the 30-day chart,
feed health, empty days, the time zone's day, hostile feed text, files and e-mail."""

from __future__ import annotations

import base64
import email
import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from pipeline.config import Feed, SmtpSettings
from pipeline.digest import (
    DigestError,
    build_digest,
    digest_subject,
    http_url,
    load_digest,
    md_escape,
    render_digest,
    send_digest,
    write_digest,
)
from pipeline.events import ArticleScores, Scoring, SeedScore
from pipeline.records import Article, Mention
from pipeline.store import Store

DAY = date(2025, 7, 16)
NOW = datetime(2025, 7, 16, 20, 0, tzinfo=UTC)
NOW_ISO = "2025-07-16T20:00:00Z"
FEEDS = ("wire", "agency", "broken", "dead", "sleepy")

# -- building a known database -----------------------------------------------------------------


def add_article(store: Store, key: str, title: str, published_at: str, feed: str | None = None,
                url: str | None = None, estimated: bool = False) -> int:
    saved = store.save_articles([Article(
        guid=key, url=url if url is not None else f"https://news.example/{key}", title=title,
        summary=f"Summary of {key}.", published_at=published_at, published_estimated=estimated,
        content_hash=f"hash-{key}")], published_at)
    article_id = saved.new_ids[0]
    if feed:
        with store.transaction() as conn:
            conn.execute("UPDATE articles SET feed_id = (SELECT id FROM feeds WHERE name = ?) "
                         "WHERE id = ?", (feed, article_id))
    return article_id


def mention(entity_id: str, name: str, kind: str, sentence: str = "",
            origin: str = "gazetteer") -> Mention:
    return Mention(entity_id=entity_id, name=name, kind=kind, origin=origin, surface=name,
                   start=0, end=len(name), sentence=sentence or f"{name} was mentioned.")


def add_mentions(store: Store, article_id: int, mentions: list[Mention]) -> None:
    store.save_mentions([(article_id, mentions)], "nlp-test", NOW_ISO)


def explanation(score: float, entities: list[str], evidence: list[str]) -> str:
    return json.dumps({
        "score": score,
        "components": {"entities": 0.8, "lexical": 0.5, "phrases": 0.3, "cosine": 0.2},
        "weights": {"entities": 0.5, "lexical": 0.3, "phrases": 0.2},
        "entities": [{"id": n.lower().replace(" ", "-"), "name": n, "kind": "OFFICIAL",
                      "weight": 1.0, "mentions": 1} for n in entities],
        "terms": [{"term": "station", "weight": 0.4}],
        "phrases": [{"phrase": "cross-flight", "weight": 0.5, "count": 1}],
        "evidence": evidence,
        "profile_version": "p1",
    })


def add_match(store: Store, article_id: int, seed_id: str, score: float,
              entities: list[str] | None = None, evidence: list[str] | None = None,
              found: str | None = None) -> None:
    """Score ``article_id`` against ``seed_id``; the match is found at ``found`` (default:
    the moment the article was published, as when a feed is fetched at once)."""
    ex = explanation(score, entities or ["Roscosmos"], evidence or ["Evidence sentence."])
    found = found or store.scalar("SELECT published_at FROM articles WHERE id = ?",
                                  [article_id])
    store.record_scores([ArticleScores(article_id, "nlp|m1", (SeedScore(seed_id, score, ex,
                                                                        "p1"),))],
                        Scoring(threshold=0.4, scorer_version="s1", corpus_version=0,
                                match_version="m1"), found)


def add_seeds(store: Store, *seeds: tuple[str, str]) -> None:
    store.sync_seeds([{"id": sid, "title": title, "path": f"seeds/{sid}.md", "date": None,
                       "url": None, "profile_version": "p1", "profile": "{}",
                       "updated_at": NOW_ISO} for sid, title in seeds], NOW_ISO)


@pytest.fixture
def known(store: Store) -> Store:
    """The known database (:func:`build_known`)."""
    return build_known(store)


def build_known(store: Store) -> Store:
    """Two seeds with matches on 2025-07-16 (UTC), an empty third seed, earlier matches for
    the chart, a new official, a rising agency, and three unhealthy feeds."""
    store.sync_feeds([Feed(name=n, url=f"https://{n}.example/rss") for n in FEEDS], False,
                     NOW_ISO)
    with store.transaction() as conn:
        conn.execute("UPDATE feeds SET last_outcome = 'ok', last_fetch_at = ?, "
                     "last_new_at = ? WHERE name IN ('wire', 'agency')", (NOW_ISO, NOW_ISO))
        conn.execute("UPDATE feeds SET last_outcome = 'failed', last_error = 'http 503', "
                     "error_count = 4, last_fetch_at = ?, last_new_at = ? WHERE name = 'broken'",
                     (NOW_ISO, NOW_ISO))
        conn.execute("UPDATE feeds SET last_outcome = 'failed', last_error = 'connect timeout', "
                     "error_count = 10, disabled = 1, disabled_reason = '10 failures in a row', "
                     "last_fetch_at = ? WHERE name = 'dead'", (NOW_ISO,))
        conn.execute("UPDATE feeds SET last_outcome = 'not_modified', last_fetch_at = ?, "
                     "last_new_at = '2025-07-10T08:00:00Z' WHERE name = 'sleepy'", (NOW_ISO,))
    add_seeds(store, ("s1-bakanov", "Roscosmos chief visits NASA"),
              ("s2-lunar", "Lunar station talks"), ("s3-quiet", "Quiet story"))
    roscosmos = mention("roscosmos", "Roscosmos", "AGENCY")
    nasa = mention("nasa", "NASA", "AGENCY")
    a1 = add_article(store, "a1", "Bakanov meets Duffy in Houston", "2025-07-16T09:30:00Z",
                     "wire")
    add_mentions(store, a1, [roscosmos, nasa, mention("russia", "Russia", "COUNTRY")])
    add_match(store, a1, "s1-bakanov", 0.91,
              ["Dmitry Bakanov", "Sean Duffy", "Roscosmos", "NASA", "ISS", "Sixth Entity"],
              ["Bakanov met Acting NASA Administrator Sean Duffy in Houston.", "Second."])
    a2 = add_article(store, "a2", "Roscosmos names a new deputy for ISS programs",
                     "2025-07-16T11:00:00Z", "agency")
    add_mentions(store, a2, [
        roscosmos,
        mention("person:ivan-petrov", "Ivan Petrov", "OFFICIAL",
                "Ivan Petrov, deputy head of Roscosmos, joined the talks.", origin="model"),
        mention("place:moscow", "Moscow", "PLACE")])
    add_match(store, a2, "s1-bakanov", 0.72, ["Ivan Petrov", "Roscosmos"],
              ["Ivan Petrov, deputy head of Roscosmos, joined the talks."])
    a3 = add_article(store, "a3", "Cross-flight seats extended to 2027", "2025-07-16T18:45:00Z",
                     "wire")
    add_match(store, a3, "s1-bakanov", 0.55)
    a7 = add_article(store, "a7", "ILRS partners meet in Harbin", "2025-07-16T15:00:00Z",
                     "agency")
    add_match(store, a7, "s2-lunar", 0.66)
    a4 = add_article(store, "a4", "Yesterday's Roscosmos story", "2025-07-15T10:00:00Z", "wire")
    add_mentions(store, a4, [roscosmos, nasa])
    add_match(store, a4, "s1-bakanov", 0.6)
    a5 = add_article(store, "a5", "Last week's lunar story", "2025-07-10T10:00:00Z", "wire")
    add_mentions(store, a5, [roscosmos])
    add_match(store, a5, "s2-lunar", 0.5)
    a6 = add_article(store, "a6", "An old story", "2025-06-10T10:00:00Z", "wire")
    add_mentions(store, a6, [mention("person:ivan-petrov", "Ivan Petrov", "OFFICIAL",
                                     origin="model")])
    add_match(store, a6, "s1-bakanov", 0.8)
    return store


def as_json(store: Store, day: date = DAY, timezone: str = "UTC",
            now: datetime = NOW) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(build_digest(store, day, "json", timezone, now=now))
    return data


# -- matches ------------------------------------------------------------------------------------


def test_json_lists_every_seed_with_its_days_matches_best_first(known: Store) -> None:
    data = as_json(known)
    assert data["date"] == "2025-07-16"
    assert data["timezone"] == "UTC"
    assert data["generated_at"] == NOW_ISO
    assert [s["id"] for s in data["seeds"]] == ["s1-bakanov", "s2-lunar", "s3-quiet"]
    s1 = data["seeds"][0]
    assert s1["title"] == "Roscosmos chief visits NASA"
    assert [m["title"] for m in s1["matches"]] == [
        "Bakanov meets Duffy in Houston", "Roscosmos names a new deputy for ISS programs",
        "Cross-flight seats extended to 2027"]
    assert [m["score"] for m in s1["matches"]] == [0.91, 0.72, 0.55]
    first = s1["matches"][0]
    assert set(first) == {"article_id", "title", "url", "feed", "published_at",
                          "published_estimated", "score", "entities", "evidence", "quotes"}
    assert first["published_estimated"] is False
    assert first["feed"] == "wire"
    assert first["url"] == "https://news.example/a1"
    assert first["published_at"] == "2025-07-16T09:30:00Z"
    assert first["entities"] == ["Dmitry Bakanov", "Sean Duffy", "Roscosmos", "NASA", "ISS"]
    assert first["evidence"] == "Bakanov met Acting NASA Administrator Sean Duffy in Houston."
    assert [m["title"] for m in data["seeds"][1]["matches"]] == ["ILRS partners meet in Harbin"]
    assert data["seeds"][2]["matches"] == []


def test_html_shows_matches_in_score_order_with_source_time_entities_and_evidence(
        known: Store) -> None:
    html = build_digest(known, DAY, "html", "UTC", now=NOW)
    positions = [html.index(t) for t in (
        "Bakanov meets Duffy in Houston", "Roscosmos names a new deputy for ISS programs",
        "Cross-flight seats extended to 2027")]
    assert positions == sorted(positions)
    assert '<a class="title" href="https://news.example/a1">Bakanov meets Duffy in Houston</a>' \
        in html
    assert "wire · 09:30" in html
    assert '<span class="chip">NASA</span> <span class="chip">Roscosmos</span>' in html
    assert "Sixth Entity" not in html
    assert "Bakanov met Acting NASA Administrator Sean Duffy in Houston." in html
    assert "0.91" in html
    assert "Roscosmos chief visits NASA" in html and "Lunar station talks" in html
    assert "No matches found for this seed on 2025-07-16." in html  # s3-quiet
    assert "Wednesday, 16 July 2025" in html
    assert re.search(r'stat-n">4</div><div class="stat-l">matches', html)


def test_markdown_shows_matches_in_score_order_as_links(known: Store) -> None:
    md = build_digest(known, DAY, "md", "UTC", now=NOW)
    lines = [line for line in md.splitlines() if re.match(r"\d+\. ", line)]
    assert lines[0].startswith("1. [Bakanov meets Duffy in Houston](https://news.example/a1) — "
                               "wire, 09:30 · score 0.91")
    assert lines[1].startswith("2. [Roscosmos names a new deputy for ISS programs]"
                               "(https://news.example/a2)")
    assert lines[2].startswith("3. [Cross-flight seats extended to 2027]")
    assert "### Roscosmos chief visits NASA (3)" in md
    assert "- Evidence: Bakanov met Acting NASA Administrator Sean Duffy in Houston." in md
    # Key actors: the entities its articles name (not places or countries), most named first.
    assert "- Key actors: NASA, Roscosmos" in md
    assert "- 1 article, reported by 1 outlet" in md


def markdown_sections(md: str) -> dict[str, list[str]]:
    """Each heading line (``#``, ``##``, ``###``) with the non-blank lines under it."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in md.splitlines():
        if re.match(r"#{1,3} ", line):
            current = line
            assert current not in sections, f"heading repeated: {line}"
            sections[current] = []
        elif line.strip():
            sections.setdefault(current, []).append(line)
    return sections


def test_markdown_puts_each_heading_match_and_feed_problem_on_its_own_line(
        known: Store) -> None:
    md = build_digest(known, DAY, "md", "UTC", now=NOW)
    lines = md.splitlines()
    sections = markdown_sections(md)
    assert list(sections) == [
        "# SpaceWatch digest: Wednesday, 16 July 2025", "## Stories by seed",
        "### Roscosmos chief visits NASA (3)", "### Lunar station talks (1)",
        "### Quiet story (0)", "## Actors on the move", "## Matches per day, last 30 days",
        "## Feed health"]
    for i, line in enumerate(lines):  # a heading is a block: blank lines around it
        if line.startswith("#"):
            assert i == 0 or lines[i - 1] == "", f"no blank line before {line!r}"
            assert lines[i + 1] == "", f"no blank line after {line!r}"
    # Each match: one numbered item (1, 2, 3 … per seed), then its indented details.
    for heading, count in (("### Roscosmos chief visits NASA (3)", 3),
                           ("### Lunar station talks (1)", 1)):
        body = sections[heading]
        numbered = [line for line in body if re.match(r"\d+\. ", line)]
        assert [int(line.split(".")[0]) for line in numbered] == list(range(1, count + 1))
        assert all(re.match(r"\d+\. \[.+\]\(https://news\.example/a\d\) — \w+, \d\d:\d\d · "
                            r"score \d\.\d\d$", line) for line in numbered)
        assert all(re.match(r"\d+\. |   - (1 article, reported by 1 outlet$|Key actors: |"
                            r"Evidence: )", line) for line in body)
        assert len(body) == 4 * count
    assert sections["### Quiet story (0)"] == ["No matches found for this seed on 2025-07-16."]
    # Each feed problem: its own list item, nothing after it on the line.
    assert sections["## Feed health"] == [
        "- **dead**: disabled (10 errors): connect timeout",
        "- **broken**: failed (4 errors): http 503",
        "- **sleepy**: quiet, no new article since 2025-07-10T08:00:00Z"]
    table = sections["## Actors on the move"]
    assert all(line.startswith("|") and line.endswith("|") and line.count("|") == 6
               for line in table)
    assert len(table) == 2 + 2
    # A CommonMark parser sees the same blocks.
    markdown_it = pytest.importorskip("markdown_it")
    tokens = markdown_it.MarkdownIt("commonmark").parse(md)
    assert [t.tag for t in tokens if t.type == "heading_open"] == \
        ["h1", "h2", "h3", "h3", "h3", "h2", "h2", "h2"]
    ordered = [t for t in tokens if t.type == "ordered_list_open"]
    assert len(ordered) == 2
    items = [t for t in tokens if t.type == "list_item_open" and t.level in (0, 1)]
    assert len(items) == 3 + 1 + 3  # four matches, three feed problems


def test_markdown_feed_problem_without_an_error_still_ends_its_line(store: Store) -> None:
    store.sync_feeds([Feed(name=n, url=f"https://{n}.example/rss") for n in ("a", "b")],
                     False, NOW_ISO)
    with store.transaction() as conn:
        conn.execute("UPDATE feeds SET last_outcome = 'failed', error_count = 1, "
                     "last_fetch_at = ?, last_new_at = ?", (NOW_ISO, NOW_ISO))
    md = build_digest(store, DAY, "md", "UTC", now=NOW)
    assert markdown_sections(md)["## Feed health"] == ["- **a**: failed (1 error)",
                                                       "- **b**: failed (1 error)"]


def test_a_match_belongs_to_the_local_day_its_article_was_published(store: Store) -> None:
    add_seeds(store, ("s1", "Seed"))
    late = add_article(store, "late", "Late in Houston", "2025-07-16T22:30:00Z")  # 01:30 MSK
    early = add_article(store, "early", "Early in Moscow", "2025-07-15T21:30:00Z")  # 00:30 MSK
    add_match(store, late, "s1", 0.7)
    add_match(store, early, "s1", 0.6)

    later = datetime(2025, 7, 17, 12, 0, tzinfo=UTC)

    def titles(day: date, tz: str) -> list[str]:
        return [m["title"] for m in as_json(store, day, tz, later)["seeds"][0]["matches"]]
    assert titles(DAY, "UTC") == ["Late in Houston"]
    assert titles(DAY, "Europe/Moscow") == ["Early in Moscow"]
    assert titles(date(2025, 7, 17), "Europe/Moscow") == ["Late in Houston"]
    moscow = as_json(store, DAY, "Europe/Moscow")
    assert moscow["timezone"] == "Europe/Moscow"
    assert [c["matches"] for c in moscow["chart"][-2:]] == [0, 1]
    html = build_digest(store, date(2025, 7, 17), "html", "Europe/Moscow", now=later)
    assert "· 01:30" in html  # shown in the digest's time zone


def test_an_estimated_publication_time_is_marked_as_the_fetch_time_in_every_format(
        known: Store) -> None:
    undated = add_article(known, "u1", "Undated item", "2025-07-16T14:05:00Z", "wire",
                          estimated=True)
    add_match(known, undated, "s2-lunar", 0.9)
    md = build_digest(known, DAY, "md", "UTC", now=NOW)
    assert re.search(r"^1\. \[Undated item\]\(\S+\) — wire, ~14:05 \(fetch time\) · score 0\.90$",
                     md, re.M)
    assert "— wire, 09:30 · score 0.91" in md  # a known time is shown plainly
    html = build_digest(known, DAY, "html", "UTC", now=NOW)
    assert "~14:05 (fetch time)</span> · 1 article" in html
    assert "wire · 09:30 · 1 article" in html
    text = build_digest(known, DAY, "text", "UTC", now=NOW)
    assert "    wire, ~14:05 (fetch time), score 0.90" in text.splitlines()
    matches = {m["title"]: m for s in as_json(known)["seeds"] for m in s["matches"]}
    assert matches["Undated item"]["published_estimated"] is True
    assert matches["Bakanov meets Duffy in Houston"]["published_estimated"] is False


# -- actors -------------------------------------------------------------------------------------


def test_actors_include_a_newly_seen_official_and_a_rising_agency_but_no_places(
        known: Store) -> None:
    actors = {a["id"]: a for a in as_json(known)["actors"]}
    petrov = actors["person:ivan-petrov"]  # last named a month ago: new this week
    assert petrov == {"id": "person:ivan-petrov", "name": "Ivan Petrov", "kind": "OFFICIAL",
                      "count": 1, "baseline": 0.0, "new": True,
                      "context": "Ivan Petrov, deputy head of Roscosmos, joined the talks."}
    roscosmos = actors["roscosmos"]  # 2 articles today, 2 in the previous 7 days
    assert (roscosmos["count"], roscosmos["baseline"], roscosmos["new"]) == (2, 0.29, False)
    assert "nasa" not in actors  # 1 today vs 1 last week: not on the move
    assert "place:moscow" not in actors and "russia" not in actors
    assert list(actors) == ["person:ivan-petrov", "roscosmos"]  # new ones first


def test_actors_appear_in_html_and_markdown_with_counts(known: Store) -> None:
    html = build_digest(known, DAY, "html", "UTC", now=NOW)
    section = html[html.index("Actors on the move"):html.index("Matches per day")]
    assert "<strong>Ivan Petrov</strong>" in section
    assert "NEW" in section and "RISING" in section
    md = build_digest(known, DAY, "md", "UTC", now=NOW)
    assert "| Ivan Petrov | OFFICIAL | 1 | 0.0 | new |" in md
    assert "| Roscosmos | AGENCY | 2 | 0.3 | rising |" in md


# -- chart --------------------------------------------------------------------------------------


def test_chart_counts_matches_per_day_over_the_last_30_days(known: Store) -> None:
    chart = as_json(known)["chart"]
    assert len(chart) == 30
    assert chart[0]["date"] == "2025-06-17" and chart[-1]["date"] == "2025-07-16"
    counts = {c["date"]: c["matches"] for c in chart if c["matches"]}
    assert counts == {"2025-07-10": 1, "2025-07-15": 1, "2025-07-16": 4}  # 06-10 is too old


def test_html_chart_is_an_inline_svg_with_one_bar_per_day(known: Store) -> None:
    html = build_digest(known, DAY, "html", "UTC", now=NOW)
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    assert svg.group(0).count("<rect") == 30
    ElementTree.fromstring(svg.group(0))  # well-formed XML
    assert "2025-07-16: 4 matches" in svg.group(0)
    assert "6 matches in the 30 days to 2025-07-16; busiest day 2025-07-16 (4)." in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html.replace(
        'href="https://news.example/', ""))  # no external resource besides article links


# -- feed health --------------------------------------------------------------------------------


def test_feed_health_lists_disabled_failing_and_quiet_feeds(known: Store) -> None:
    health = as_json(known)["feed_health"]
    assert [(f["name"], f["problem"]) for f in health] == [
        ("dead", "disabled"), ("broken", "failed"), ("sleepy", "quiet")]
    broken = health[1]
    assert (broken["last_error"], broken["error_count"], broken["disabled"]) == (
        "http 503", 4, False)
    assert health[0]["disabled"] is True
    assert health[2]["last_new_at"] == "2025-07-10T08:00:00Z"
    html = build_digest(known, DAY, "html", "UTC", now=NOW)
    section = html[html.index("Feed health</h2>"):]
    assert "<strong>broken</strong>" in section and "http 503" in section
    assert "FAILING" in section and "DISABLED" in section and "QUIET" in section
    assert "wire" not in section
    md = build_digest(known, DAY, "md", "UTC", now=NOW)
    assert "- **broken**: failed (4 errors): http 503" in md


# -- empty days ---------------------------------------------------------------------------------


@pytest.mark.parametrize("with_seeds", [False, True])
def test_a_day_without_data_says_so_in_every_format(store: Store, with_seeds: bool) -> None:
    if with_seeds:
        add_seeds(store, ("s1", "Seed one"))
    md = build_digest(store, DAY, "md", "UTC", now=NOW)
    html = build_digest(store, DAY, "html", "UTC", now=NOW)
    data = as_json(store)
    for text in (md, html):
        assert "No matches found on 2025-07-16." in text
        assert "No actors newly seen or rising on 2025-07-16." in text
        assert "No matches in the 30 days to 2025-07-16." in text
        assert "All feeds healthy." in text
    assert data["actors"] == [] and data["feed_health"] == []
    assert len(data["chart"]) == 30 and not any(c["matches"] for c in data["chart"])
    assert [s["matches"] for s in data["seeds"]] == ([[]] if with_seeds else [])


def test_unknown_format_and_time_zone_are_clear_errors(store: Store) -> None:
    with pytest.raises(DigestError, match="unknown digest format 'pdf'"):
        build_digest(store, DAY, "pdf", "UTC", now=NOW)
    with pytest.raises(DigestError, match="unknown time zone 'Mars/Olympus'"):
        build_digest(store, DAY, "md", "Mars/Olympus", now=NOW)


# -- hostile feed text --------------------------------------------------------------------------

HOSTILE_TITLE = "<script>alert(1)</script> & <img src=x onerror=alert(1)>"


@pytest.fixture
def hostile(store: Store) -> Store:
    add_seeds(store, ("s1", "Seed <b>bold</b>"))
    a = add_article(store, "x1", HOSTILE_TITLE, "2025-07-16T10:00:00Z",
                    url="javascript:alert(document.cookie)")
    add_mentions(store, a, [mention("person:evil", '<i style="x">Evil</i> `code`', "OFFICIAL",
                                    origin="model")])
    add_match(store, a, "s1", 0.9, ['<a href="javascript:alert(1)">Bad</a>'],
              ['<p style="color:red" onclick="alert(1)">Evidence</p>'])
    b = add_article(store, "x2", "click [here](javascript:alert(1)) *now*\n# Heading",
                    "2025-07-16T11:00:00Z", url="data:text/html,<script>alert(1)</script>")
    add_match(store, b, "s1", 0.8)
    c = add_article(store, "x3", "Plain title", "2025-07-16T12:00:00Z",
                    url="https://ok.example/a?(x)=1 2")
    add_match(store, c, "s1", 0.7)
    return store


@pytest.mark.fault
def test_html_escapes_feed_text_and_links_only_http_urls(hostile: Store) -> None:
    html = build_digest(hostile, DAY, "html", "UTC", now=NOW)
    assert "<script" not in html
    assert "<img" not in html and "<i " not in html and "<p style" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" \
        in html
    assert "Seed &lt;b&gt;bold&lt;/b&gt;" in html
    assert re.findall(r'href="([^"]*)"', html) == ["https://ok.example/a?(x)=1 2"]
    assert '<span class="title">&lt;script&gt;' in html  # the title, unlinked


@pytest.mark.fault
def test_markdown_escapes_feed_text_and_links_only_http_urls(hostile: Store) -> None:
    md = build_digest(hostile, DAY, "md", "UTC", now=NOW)
    assert "](javascript:" not in md and "](data:" not in md
    assert not re.search(r"(?<!\\)<(script|img|i|a|p)\b", md)
    assert "\\<script\\>alert\\(1\\)\\</script\\>" in md
    assert "click \\[here\\]\\(javascript:alert\\(1\\)\\) \\*now\\* \\# Heading" in md
    assert "[Plain title](https://ok.example/a?%28x%29=1%202)" in md
    # A real CommonMark parser (with raw HTML on) agrees: no tag, no unsafe link survives.
    markdown_it = pytest.importorskip("markdown_it")
    rendered = markdown_it.MarkdownIt("commonmark").render(md)
    assert "<script" not in rendered and "<img" not in rendered
    assert re.findall(r'href="([^"]*)"', rendered) == ["https://ok.example/a?%28x%29=1%202"]
    assert "<h1>Heading" not in rendered


def test_json_keeps_feed_text_as_it_is(hostile: Store) -> None:
    data = as_json(hostile)
    assert data["seeds"][0]["matches"][0]["title"] == HOSTILE_TITLE
    assert data["seeds"][0]["matches"][0]["url"] == "javascript:alert(document.cookie)"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://a.example/x", "https://a.example/x"),
    ("HTTP://a.example", "HTTP://a.example"),
    ("javascript:alert(1)", None),
    ("JavaScript:alert(1)", None),
    (" java\nscript:alert(1)", None),
    ("data:text/html,hi", None),
    ("//a.example/x", None),
    ("/relative", None),
    ("https://", None),
    ("http://[::1", None),
    (None, None),
])
@pytest.mark.fault
def test_only_absolute_http_urls_become_links(url: str | None, expected: str | None) -> None:
    assert http_url(url) == expected


def test_md_escape_puts_feed_text_on_one_inert_line() -> None:
    assert md_escape("a\n\n# b [c](d) `e` <f> *g* _h_ |i| ~j~ \\") == \
        "a \\# b \\[c\\]\\(d\\) \\`e\\` \\<f\\> \\*g\\* \\_h\\_ \\|i\\| \\~j\\~ \\\\"


# -- files --------------------------------------------------------------------------------------


def test_write_digest_writes_the_days_html_and_markdown(known: Store, tmp_path: Path) -> None:
    folder = tmp_path / "out" / "digests"
    path = write_digest(known, folder, DAY, "UTC", now=NOW)
    assert path == folder / "digest-2025-07-16.html"
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Bakanov meets Duffy in Houston" in html
    md = (folder / "digest-2025-07-16.md").read_text(encoding="utf-8")
    assert md.startswith("# SpaceWatch digest: Wednesday, 16 July 2025")
    assert sorted(p.name for p in folder.iterdir()) == ["digest-2025-07-16.html",
                                                         "digest-2025-07-16.md"]
    write_digest(known, folder, DAY, "UTC", now=NOW)  # again: replaced, not duplicated
    assert len(list(folder.iterdir())) == 2


def test_write_digest_into_an_unwritable_place_is_a_clear_error(known: Store,
                                                                  tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DigestError, match="cannot write the digest"):
        write_digest(known, blocker / "digests", DAY, "UTC", now=NOW)


# -- e-mail -------------------------------------------------------------------------------------


class SmtpSink:
    """A tiny SMTP server on 127.0.0.1 that records what it is sent (EHLO, AUTH PLAIN when
    ``auth``, MAIL, RCPT, DATA, QUIT)."""

    def __init__(self, auth: bool = False, port: int = 0) -> None:
        self.auth = auth
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        socket.create_connection(("127.0.0.1", self.port), timeout=5).close()  # wake accept()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            with conn:
                if self.stopping.is_set():
                    return
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")

        def reply(*lines: str) -> None:
            out = [f"{line[:3]}-{line[4:]}" for line in lines[:-1]] + [lines[-1]]
            conn.sendall("".join(line + "\r\n" for line in out).encode())

        reply("220 sink.test ESMTP")
        sender, rcpts = "", []
        for raw in reader:
            command = raw.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                reply("250 sink.test", *(["250 AUTH PLAIN"] if self.auth else []),
                      "250 8BITMIME")
            elif verb == "AUTH" and self.auth:
                blob = command.split(" ")[2] if command.count(" ") >= 2 else ""
                if not blob:
                    reply("334 ")
                    blob = reader.readline().decode().strip()
                _zid, user, password = base64.b64decode(blob).decode().split("\0")
                self.logins.append((user, password))
                reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip()
                reply("250 OK")
            elif verb == "RCPT":
                rcpts.append(command.split(":", 1)[1].strip())
                reply("250 OK")
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                for line in reader:
                    if line == b".\r\n":
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                self.messages.append((sender, rcpts, b"".join(lines)))
                reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                reply("250 OK")
            elif verb == "QUIT":
                reply("221 Bye")
                return
            else:
                reply("502 Command not implemented")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.close()


@pytest.fixture
def auth_sink() -> Iterator[SmtpSink]:
    server = SmtpSink(auth=True)
    yield server
    server.close()


def smtp_to(server: SmtpSink, host: str = "127.0.0.1") -> SmtpSettings:
    return SmtpSettings(host=host, port=server.port, tls=False,
                        sender="digest@spacewatch.test", to=("analyst@example.org",))


def test_send_digest_delivers_a_message_with_subject_html_and_text_parts(
        known: Store, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACEWATCH_SMTP_USER", raising=False)
    monkeypatch.delenv("SPACEWATCH_SMTP_PASSWORD", raising=False)
    data = load_digest(known, DAY, "UTC", now=NOW)
    html, md = render_digest(data, "html"), render_digest(data, "md")
    subject = digest_subject(data)
    assert subject == "SpaceWatch digest 2025-07-16: 4 stories, 4 matches"
    send_digest(html, md, subject, smtp_to(sink))
    assert len(sink.messages) == 1
    sender, rcpts, raw = sink.messages[0]
    assert sender == "<digest@spacewatch.test>" and rcpts == ["<analyst@example.org>"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == subject
    assert msg["To"] == "analyst@example.org"
    html_part = msg.get_body(("html",))
    assert html_part is not None
    assert "Bakanov meets Duffy in Houston" in html_part.get_content()
    text_part = msg.get_body(("plain",))
    assert text_part is not None and text_part.get_content().startswith("# SpaceWatch digest")
    assert sink.logins == []  # no credentials in the environment: no login


def test_send_digest_logs_in_with_credentials_from_the_environment(
        auth_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPACEWATCH_SMTP_USER", "digest-bot")
    monkeypatch.setenv("SPACEWATCH_SMTP_PASSWORD", "s3cret pass")
    send_digest("<p>hi</p>", "hi", "Subject line", smtp_to(auth_sink))
    assert auth_sink.logins == [("digest-bot", "s3cret pass")]
    assert len(auth_sink.messages) == 1


def test_send_digest_refuses_half_credentials_and_plain_text_logins_elsewhere(
        monkeypatch: pytest.MonkeyPatch, sink: SmtpSink) -> None:
    monkeypatch.setenv("SPACEWATCH_SMTP_USER", "digest-bot")
    monkeypatch.delenv("SPACEWATCH_SMTP_PASSWORD", raising=False)
    with pytest.raises(DigestError, match="SPACEWATCH_SMTP_PASSWORD is not set"):
        send_digest("<p>hi</p>", "hi", "s", smtp_to(sink))
    monkeypatch.setenv("SPACEWATCH_SMTP_PASSWORD", "pw")
    with pytest.raises(DigestError, match="refusing to send SMTP credentials unencrypted"):
        send_digest("<p>hi</p>", "hi", "s", smtp_to(sink, host="mail.example.org"))
    assert sink.messages == []


def test_send_digest_failures_are_clear_errors(sink: SmtpSink,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACEWATCH_SMTP_USER", raising=False)
    monkeypatch.delenv("SPACEWATCH_SMTP_PASSWORD", raising=False)
    with pytest.raises(DigestError, match="not configured"):
        send_digest("<p>hi</p>", "hi", "s", SmtpSettings())
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    settings = SmtpSettings(host="127.0.0.1", port=port, tls=False, sender="a@b.test",
                            to=("c@d.test",))
    with pytest.raises(DigestError, match=f"cannot reach SMTP server 127.0.0.1:{port}"):
        send_digest("<p>hi</p>", "hi", "s", settings)
    monkeypatch.setenv("SPACEWATCH_SMTP_USER", "u")
    monkeypatch.setenv("SPACEWATCH_SMTP_PASSWORD", "p")
    with pytest.raises(DigestError, match="AUTH extension not supported"):  # sink without AUTH
        send_digest("<p>hi</p>", "hi", "s", smtp_to(sink))


# -- how it looks -------------------------------------------------------------------------------


def test_html_digest_renders_in_a_headless_browser(known: Store, tmp_path: Path) -> None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("chromium not installed")
    page = write_digest(known, tmp_path, DAY, "UTC", now=NOW)
    shot = tmp_path / "d.png"
    profile = tmp_path / "profile"
    subprocess.run([str(chromium), "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    f"--screenshot={shot}", "--window-size=900,1400", page.as_uri()],
                   capture_output=True, timeout=60, check=False)
    assert shot.exists() and shot.stat().st_size > 10_000
    shutil.rmtree(profile, ignore_errors=True)
