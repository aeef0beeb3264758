"""Every example query in the README and every canned query in ``spacewatch serve`` gives the
same figures on the demo database as the same question answered in Python from the raw rows.

The README's ```sql blocks must be exactly Datasette's canned queries (:data:`EXAMPLES`); the
``spacewatch query "…"`` and ``spacewatch search "…"`` lines in its shell blocks run too. Each
example needs an independent answer below: an example without one fails the test.

The examples use windows relative to 'now' and the demo data is dated relative to the run, so
each answer is computed for "now" read just before and just after the query: the query saw a
'now' in between, and its result must be one of the two answers (they differ only when an
article sits on a window's edge at that very second).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.query import EXAMPLES, run_query, search_articles

from .conftest import Raw

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ISO = "%Y-%m-%dT%H:%M:%SZ"


# -- the demo database (tests/conftest.py builds it once per session) ----------------------



# -- the examples, as the README and Datasette show them -----------------------------------


@dataclass(frozen=True)
class ReadmeExample:
    kind: str  # "sql" (a titled ```sql block), "query" or "search" (a line in a ```sh block)
    title: str
    text: str  # the SQL, or the search terms
    params: tuple[tuple[str, str], ...]


def readme_examples() -> list[ReadmeExample]:
    found: list[ReadmeExample] = []
    titled = re.compile(r"\*\*(?P<title>[^*\n]+)\*\*(?: \(parameters: (?P<params>[^)\n]*)\))?"
                        r"[ \t]*\n\s*```sql\n(?P<sql>.*?)\n```", re.S)
    for m in titled.finditer(README):
        params = tuple(re.findall(r"-p (\S+) (\S+)", (m["params"] or "").replace("`", "")))
        found.append(ReadmeExample("sql", m["title"].strip(), m["sql"], params))
    assert len(found) == README.count("```sql"), "a ```sql block in the README has no title"
    for block in re.findall(r"```sh\n(.*?)\n```", README, re.S):
        for line in block.splitlines():
            command = re.match(r"\s*spacewatch (query|search)\b(.*)$", line)
            if not command:
                continue
            kind, rest = command.groups()
            quoted = re.match(r'\s*"(?P<text>[^"]*)"(?P<rest>.*)$', rest)
            if quoted is None:  # `query -f FILE`, `query -`: no SQL on the line itself
                continue
            params = tuple(re.findall(r"-p (\S+) (\S+)", quoted["rest"]))
            found.append(ReadmeExample(kind, quoted["text"], quoted["text"], params))
    return found


def test_readme_sql_blocks_are_exactly_the_canned_queries() -> None:
    readme = {(e.title, e.text, e.params) for e in readme_examples() if e.kind == "sql"}
    canned = {(e.title, e.sql, tuple(e.params.items())) for e in EXAMPLES}
    assert readme == canned


# -- the same questions, answered in Python ------------------------------------------------


def cutoff(now: datetime, days: int) -> str:
    """strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-N days'), computed in Python."""
    return (now - timedelta(days=days)).strftime(ISO)


def feed_name(raw: Raw, feed_id: int | None, article: dict[str, Any]) -> str:
    feeds = raw.by_id("feeds")
    return feeds[feed_id]["name"] if feed_id in feeds else article["source"]


def is_current_event(raw: Raw, m: dict[str, Any]) -> bool:
    """In the log now: the current version of an (article, seed) event, a match (not a
    withdrawal), of a seed still in seeds/ (the event log's rule since migration 0006)."""
    seed = raw.by_id("seeds").get(m["seed_id"], {})
    return (m.get("superseded_at") is None and m.get("status", "match") == "match"
            and seed.get("retired_at") is None)


def events(raw: Raw) -> list[dict[str, Any]]:
    """One readable record per match event (what the event_log view promises)."""
    articles, entities = raw.by_id("articles"), raw.by_id("entities")
    per_article: dict[int, Counter[str]] = defaultdict(Counter)
    for m in raw["mentions"]:
        if entities[m["entity_id"]]["kind"] not in ("PLACE", "COUNTRY"):
            per_article[m["article_id"]][m["entity_id"]] += 1
    records = []
    for m in (m for m in raw["matches"] if is_current_event(raw, m)):
        a = articles[m["article_id"]]
        ranked = sorted(per_article[a["id"]].items(),
                        key=lambda kv: (-kv[1], entities[kv[0]]["name"]))[:5]
        evidence = json.loads(m["explanation"]).get("evidence") or [None]
        records.append({
            "event_id": m["id"], "matched_at": m["matched_at"],
            "published_at": a["published_at"], "seed": m["seed_id"], "score": m["score"],
            "title": a["title"], "url": a["url"], "feed": feed_name(raw, a["feed_id"], a),
            "top_entities": ", ".join(entities[e]["name"] for e, _n in ranked) or None,
            "evidence": evidence[0], "article_id": a["id"]})
    return records


def expect_matches_mentioning(raw: Raw, now: datetime, params: dict[str, str]) -> list[tuple]:
    mentioned = {m["article_id"] for m in raw["mentions"] if m["entity_id"] == params["entity"]}
    rows = [(e["published_at"], e["seed"], e["score"], e["title"], e["feed"], e["url"])
            for e in events(raw)
            if e["published_at"] >= cutoff(now, 7) and e["article_id"] in mentioned]
    return sorted(rows, key=lambda r: -r[2])


def expect_officials_rising(raw: Raw, now: datetime, params: dict[str, str]) -> list[tuple]:
    articles, entities = raw.by_id("articles"), raw.by_id("entities")
    this_week: Counter[str] = Counter()
    last_week: Counter[str] = Counter()
    for m in raw["mentions"]:
        published = articles[m["article_id"]]["published_at"]
        if published >= cutoff(now, 7):
            this_week[m["entity_id"]] += 1
        elif published >= cutoff(now, 14):
            last_week[m["entity_id"]] += 1
    rows = [(entities[e]["name"], e, this_week[e], last_week[e], this_week[e] - last_week[e])
            for e in set(this_week) | set(last_week)
            if entities[e]["kind"] == "OFFICIAL" and this_week[e] > last_week[e]]
    return sorted(rows, key=lambda r: (-r[4], r[0]))[:20]


def expect_articles_per_feed_per_day(raw: Raw, now: datetime,
                                     params: dict[str, str]) -> list[tuple]:
    """Each feed that carried a story counts it once, on the day it was published."""
    articles = raw.by_id("articles")
    counted: dict[tuple[str, str], set[int]] = defaultdict(set)
    for s in raw["article_sources"]:
        a = articles[s["article_id"]]
        if a["published_at"] >= cutoff(now, 30):
            counted[(a["published_at"][:10], feed_name(raw, s["feed_id"], a))].add(a["id"])
    rows = [(day, feed, len(ids)) for (day, feed), ids in counted.items()]
    return sorted(sorted(rows, key=lambda r: r[1]), key=lambda r: (r[0], r[2]), reverse=True)


def stemmed_words(term: str) -> str:
    """A regular expression for a word as FTS5's porter tokenizer matches it (close enough
    for the demo's words: the word itself and its -s/-ed/-ing/-er forms)."""
    return r"\b" + re.escape(term) + r"(?:s|es|ed|ing|er|ers)?\b"


def fts_hits(raw: Raw, words: list[str]) -> list[dict[str, Any]]:
    """Articles whose title, summary or text holds the words one after the other."""
    phrase = re.compile(r"[^\w]+".join(stemmed_words(w) for w in words), re.I)
    return [a for a in raw["articles"]
            if any(phrase.search(a[c] or "") for c in ("title", "summary", "text"))]


def expect_full_text_search(raw: Raw, now: datetime, params: dict[str, str]) -> list[tuple]:
    hits = sorted(fts_hits(raw, params["q"].split()), key=lambda a: -a["id"])[:20]
    return [(a["id"], a["published_at"], a["title"]) for a in hits]


def ascii_lower(text: str) -> str:
    """Case folded the way SQLite's NOCASE folds it: A-Z only."""
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                        "abcdefghijklmnopqrstuvwxyz"))


def expect_articles_naming_entity(raw: Raw, now: datetime,
                                  params: dict[str, str]) -> list[tuple]:
    """Each article naming the entity (given by id or by name), newest first, with how often
    it names it and the seeds it is a current match for."""
    wanted = params["entity"]
    entities = {e["id"]: e for e in raw["entities"]
                if e["id"] == wanted or ascii_lower(e["name"]) == ascii_lower(wanted)}
    articles = raw.by_id("articles")
    counts = Counter((m["entity_id"], m["article_id"]) for m in raw["mentions"]
                     if m["entity_id"] in entities)
    seeds: dict[int, list[str]] = defaultdict(list)
    for m in raw["matches"]:
        if is_current_event(raw, m):
            seeds[m["article_id"]].append(m["seed_id"])
    rows = []
    for (entity_id, article_id), n in counts.items():
        a = articles[article_id]
        rows.append((a["published_at"], a["title"], feed_name(raw, a["feed_id"], a),
                     entities[entity_id]["name"], n,
                     ", ".join(sorted(seeds[article_id])) or None, a["url"], a["id"]))
    rows.sort(key=lambda r: (r[0], r[7]), reverse=True)
    return [r[:7] for r in rows]


def expect_feed_health(raw: Raw, now: datetime, params: dict[str, str]) -> list[tuple]:
    """Per feed: its last fetch and outcome, failures in a row, articles it brought, and
    whether it is on, off (not fetched) or disabled; feeds with problems first."""
    carried = Counter(s["feed_id"] for s in raw["article_sources"])
    rows = []
    for f in raw["feeds"]:
        if f["disabled"]:
            state = "disabled: " + (f["disabled_reason"] or "no reason recorded")
        else:
            state = "on" if f["enabled"] else "off"
        rows.append((f["name"], f["last_fetch_at"], f["last_outcome"] or "never",
                     f["last_error"], f["error_count"], carried[f["id"]], f["last_new_at"],
                     state, f["moved_to"]))
    by_feed = {f["name"]: f for f in raw["feeds"]}
    return sorted(rows, key=lambda r: (-by_feed[r[0]]["disabled"], -r[4], r[0]))


def expect_top_events(raw: Raw, now: datetime, params: dict[str, str]) -> list[dict]:
    return sorted(events(raw), key=lambda e: -e["score"])[:5]


def expect_model_officials(raw: Raw, now: datetime, params: dict[str, str]) -> list[tuple]:
    return [(e["name"], e["kind"]) for e in raw["entities"]
            if e["origin"] == "model" and e["kind"] == "OFFICIAL"]


@dataclass(frozen=True)
class Answer:
    """How to answer one example in Python and how to compare: ``ordered`` results must come
    in the same order; ``tie_key`` is the SQL's sort key when it leaves ties unordered."""

    expect: Callable[[Raw, datetime, dict[str, str]], list[Any]]
    ordered: bool = True
    tie_key: Callable[[Any], Any] | None = None


ANSWERS: dict[str, Answer] = {
    "Matches this week mentioning an entity (Bakanov)": Answer(
        expect_matches_mentioning, tie_key=lambda r: -r[2]),
    "Officials whose mentions jumped this week": Answer(expect_officials_rising),
    "Articles per feed per day (last 30 days)": Answer(expect_articles_per_feed_per_day),
    "Full-text search, latest stored first (deorbit)": Answer(expect_full_text_search),
    "Articles naming an entity, newest first (Bakanov)": Answer(
        expect_articles_naming_entity),
    "Feed health: last fetch, outcome, failures in a row, articles": Answer(
        expect_feed_health),
    "select * from event_log order by score desc limit 5": Answer(
        expect_top_events, tie_key=lambda r: -r["score"]),
    "select name, kind from entities where origin = 'model' and kind = 'OFFICIAL'": Answer(
        expect_model_officials, ordered=False),
    "PRAGMA integrity_check": Answer(lambda raw, now, params: [("ok",)]),
}


def scored(rows: list[Any], key: Callable[[Any], Any] | None) -> list[Any]:
    """Rows in SQL order, ties (equal ``key``) put in a fixed order."""
    return sorted(rows, key=lambda r: (key(r), repr(r))) if key else rows


def run_example(db: Path, ex: ReadmeExample) -> tuple[list[Any], list[Any], list[Any]]:
    """(rows, answer just before, answer just after)."""
    answer = ANSWERS.get(ex.title)
    assert answer is not None, f"no independent answer for the README example {ex.title!r}"
    before = datetime.now(UTC)
    columns, rows = run_query(db, ex.text, dict(ex.params))
    after = datetime.now(UTC)
    if answer.expect is expect_top_events:
        rows = [dict(zip(columns, r, strict=True)) for r in rows]
    else:
        rows = [tuple(r) for r in rows]
    return rows, before, after


def rounded(rows: list[Any], columns: tuple[int | str, ...]) -> list[Any]:
    """SQL rounds scores to 3 decimals in the view; round the Python figure the same way."""
    out = []
    for r in rows:
        r = dict(r) if isinstance(r, dict) else list(r)
        for c in columns:
            r[c] = round(r[c] + 1e-12, 3)
        out.append(r if isinstance(r, dict) else tuple(r))
    return out


EVENT_COLUMNS = ("event_id", "matched_at", "published_at", "seed", "score", "title", "url",
                 "feed", "top_entities", "evidence", "article_id")


@pytest.mark.slow
@pytest.mark.parametrize("ex", readme_examples(), ids=lambda e: e.title[:50])
def test_readme_example_gives_the_figure_computed_from_the_raw_rows(
        demo_db: Path, raw: Raw, ex: ReadmeExample) -> None:
    if ex.kind == "search":
        return  # test_readme_search_examples
    rows, before, after = run_example(demo_db, ex)
    answer = ANSWERS[ex.title]
    score_cols: tuple[int | str, ...] = ()
    if answer.expect is expect_top_events:
        rows = [{c: r[c] for c in EVENT_COLUMNS} for r in rows]  # newer columns aside
        score_cols = ("score",)
    elif answer.expect is expect_matches_mentioning:
        score_cols = (2,)
    elif answer.expect is expect_full_text_search:
        rows = [r[:3] for r in rows]  # the snippets: below
    expected = [rounded(answer.expect(raw, now, dict(ex.params)), score_cols)
                for now in (before, after)]
    assert rows, f"{ex.title!r} returns nothing on the demo database: a weak check"
    if not answer.ordered:
        assert sorted(rows) in [sorted(e) for e in expected]
    else:
        if answer.tie_key:  # the SQL's order, then the rows within ties compared as sets
            assert [answer.tie_key(r) for r in rows] == sorted(answer.tie_key(r) for r in rows)
        assert scored(rows, answer.tie_key) in [scored(e, answer.tie_key) for e in expected]
    if answer.expect is expect_full_text_search:
        for row in run_query(demo_db, ex.text, dict(ex.params))[1]:
            assert re.search(r"\[" + stemmed_words(dict(ex.params)["q"]) + r"\]", row[3], re.I)


def test_readme_search_examples_find_what_python_finds(demo_db: Path, raw: Raw) -> None:
    searches = [e for e in readme_examples() if e.kind == "search"]
    assert searches, "the README shows no 'spacewatch search' example"
    for ex in searches:
        hits = search_articles(demo_db, ex.text, limit=1000)
        expected = fts_hits(raw, re.findall(r"\w+", ex.text))
        assert hits and {h.id for h in hits} == {a["id"] for a in expected}
        assert [h.published_at for h in hits] == sorted((h.published_at for h in hits),
                                                        reverse=True)


def test_articles_per_feed_counts_each_feed_of_a_syndicated_story(demo_db: Path,
                                                                    raw: Raw) -> None:
    """The demo's Zakharova story came through two feeds: each feed's day counts it."""
    example = next(e for e in EXAMPLES if e.name == "articles_per_source_per_day")
    _c, rows = run_query(demo_db, example.sql)
    assert len({(day, feed) for day, feed, _n in rows}) == len(rows)  # one row per feed-day
    assert len({feed for _d, feed, _n in rows}) == len(raw["feeds"])
    assert sum(n for _d, _f, n in rows) == len(raw["article_sources"])

