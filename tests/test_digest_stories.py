"""The digest reports stories: one entry per story with a match found in its window (a day,
or ``--since``), whenever its articles were published; what joined since the previous day;
articles in no story yet shown as one-article stories; ``digest --since`` and its errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Feed
from pipeline.digest import (
    DigestError,
    build_digest,
    last_digest_until,
    parse_since,
    write_digest,
)
from pipeline.events import ArticleScores, Scoring, SeedScore
from pipeline.store import Store

from .test_digest import (
    DAY,
    NOW,
    NOW_ISO,
    add_article,
    add_match,
    add_mentions,
    add_seeds,
    explanation,
    mention,
)

OUTLETS = ("wire", "agency", "daily", "tass", "ria")
MEETING = [  # (key, title, published, feed, language)
    ("m1", "Bakanov and Duffy meet in Houston", "2025-07-16T08:00:00Z", "wire", "en"),
    ("m2", "Roscosmos chief holds talks at NASA", "2025-07-16T09:10:00Z", "agency", "en"),
    ("m3", "Heads of NASA and Roscosmos discuss the ISS", "2025-07-16T10:20:00Z", "daily",
     "en"),
    ("m4", "Баканов встретился с Даффи в Хьюстоне", "2025-07-16T11:30:00Z", "tass", "ru"),
    ("m5", "Глава Роскосмоса провёл переговоры в NASA", "2025-07-16T12:40:00Z", "ria", "ru"),
]


def add_story(store: Store, headline: str, members: list[tuple[int, str]]) -> int:
    """A story row and its articles, as ``pipeline.stories`` stores them (article id, the
    time it joined)."""
    first = min(joined for _, joined in members)
    last = max(joined for _, joined in members)
    with store.transaction() as conn:
        story_id = int(conn.execute(
            "INSERT INTO stories (headline, representative_article_id, first_seen, "
            "last_updated, created_at, article_count) VALUES (?, ?, ?, ?, ?, ?)",
            (headline, members[0][0], first, last, first, len(members))).lastrowid or 0)
        conn.executemany("INSERT INTO story_articles (article_id, story_id, joined_at, "
                         "similarity, explanation) VALUES (?, ?, ?, 0.8, '{}')",
                         [(aid, story_id, joined) for aid, joined in members])
    return story_id


def set_language(store: Store, article_id: int, language: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE articles SET language = ? WHERE id = ?", (language, article_id))


def add_quote(store: Store, article_id: int, speaker_id: str, speaker: str, text: str) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO quotes (article_id, speaker_entity_id, speaker_name, text, "
                     "kind, cue, start, \"end\", sentence_start, sentence_end) "
                     "VALUES (?, ?, ?, ?, 'direct', 'said', 10, 60, 0, 80)",
                     (article_id, speaker_id, speaker, text))


def as_json(store: Store, day: date = DAY, **kwargs: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(build_digest(store, day, "json", "UTC",
                                                   now=kwargs.pop("now", NOW), **kwargs))
    return data


@pytest.fixture
def meeting(store: Store) -> Store:
    """Five outlets (three in English, two in Russian) report one meeting: one story."""
    store.sync_feeds([Feed(name=n, url=f"https://{n}.example/rss") for n in OUTLETS], False,
                     NOW_ISO)
    add_seeds(store, ("s1-bakanov", "Roscosmos chief visits NASA"))
    ids = []
    for i, (key, title, published, feed, language) in enumerate(MEETING):
        aid = add_article(store, key, title, published, feed)
        set_language(store, aid, language)
        add_mentions(store, aid, [mention("person:dmitry-bakanov", "Dmitry Bakanov", "OFFICIAL"),
                                  mention("roscosmos", "Roscosmos", "AGENCY"),
                                  mention("place:houston", "Houston", "PLACE")])
        add_match(store, aid, "s1-bakanov", 0.9 - i * 0.05,
                  evidence=[f"Evidence of {key}."])
        ids.append(aid)
    add_mentions(store, ids[0], [mention("person:dmitry-bakanov", "Dmitry Bakanov", "OFFICIAL"),
                                 mention("nasa", "NASA", "AGENCY")])
    add_quote(store, ids[3], "person:dmitry-bakanov", "Dmitry Bakanov",
              "Cooperation on the station will continue")
    add_story(store, "Bakanov and Duffy meet in Houston",
              [(aid, MEETING[i][2].replace(":00Z", ":30Z")) for i, aid in enumerate(ids)])
    return store


# -- one entry per story ----------------------------------------------------------------------


def test_five_articles_about_one_meeting_make_one_entry_reported_by_five_outlets(
        meeting: Store) -> None:
    md = build_digest(meeting, DAY, "md", "UTC", now=NOW)
    entries = [line for line in md.splitlines() if re.match(r"\d+\. ", line)]
    assert entries == ["1. [Bakanov and Duffy meet in Houston](https://news.example/m1) — wire, "
                       "08:00 · score 0.90"]
    assert "   - 5 articles, reported by 5 outlets in 2 languages (en, ru)" in md
    assert "### Roscosmos chief visits NASA (1)" in md
    assert "   - Key actors: Dmitry Bakanov, Roscosmos, NASA" in md  # no place
    assert "     - Dmitry Bakanov: “Cooperation on the station will continue”" in md
    assert "- Evidence: Evidence of m1." in md  # the best match's
    assert "New since the previous day" not in md  # a new story: all of it is new
    html = build_digest(meeting, DAY, "html", "UTC", now=NOW)
    assert html.count('class="score-n"') == 1
    assert "5 articles, reported by 5 outlets in 2 languages (en, ru)" in html
    text = build_digest(meeting, DAY, "text", "UTC", now=NOW)
    assert "    5 articles, reported by 5 outlets in 2 languages (en, ru)" in text.splitlines()
    assert text.count("https://news.example/m") == 1  # the first report's link only


def test_json_digest_has_the_stories_with_first_report_outlets_and_scores(
        meeting: Store) -> None:
    data = as_json(meeting)
    assert len(data["stories"]) == 1
    story = data["stories"][0]
    assert story["headline"] == "Bakanov and Duffy meet in Houston"
    assert isinstance(story["story_id"], int) and story["key"] == f"story:{story['story_id']}"
    assert story["url"] == "https://news.example/m1"
    assert story["first_report"]["published_at"] == "2025-07-16T08:00:00Z"
    assert story["first_report"]["feed"] == "wire"
    assert (story["article_count"], story["outlets"], story["languages"]) == (
        5, list(OUTLETS), ["en", "ru"])
    assert story["scores"] == [{"seed": "s1-bakanov", "title": "Roscosmos chief visits NASA",
                                "score": 0.9}]
    assert story["actors"] == ["Dmitry Bakanov", "Roscosmos", "NASA"]
    assert story["quotes"][0]["speaker_name"] == "Dmitry Bakanov"
    assert story["new_story"] is True and story["new_count"] == 5
    assert story["late_published"] is None
    assert story["found_at"] == "2025-07-16T08:00:00Z"
    seed = data["seeds"][0]
    assert len(seed["matches"]) == 5  # the articles are still listed, per seed, in JSON
    assert seed["stories"] == [{"key": story["key"], "story_id": story["story_id"],
                                "score": 0.9, "evidence": "Evidence of m1."}]
    assert data["since"] is None


def test_a_story_matching_two_seeds_shows_its_best_score_for_each(meeting: Store) -> None:
    add_seeds(meeting, ("s1-bakanov", "Roscosmos chief visits NASA"),
              ("s2-iss", "ISS future"))
    m3 = meeting.scalar("SELECT id FROM articles WHERE guid = 'm3'")
    add_match(meeting, m3, "s2-iss", 0.61)
    story = as_json(meeting)["stories"][0]
    assert [(s["seed"], s["score"]) for s in story["scores"]] == [("s1-bakanov", 0.9),
                                                                  ("s2-iss", 0.61)]
    md = build_digest(meeting, DAY, "md", "UTC", now=NOW)
    assert "### ISS future (1)" in md
    assert "   - Also: Roscosmos chief visits NASA 0.90" in md
    assert "   - Also: ISS future 0.61" in md


# -- keyed on when a match was found ----------------------------------------------------------


@pytest.fixture
def late(store: Store) -> Store:
    """An article published last week whose match was only found today (an import)."""
    add_seeds(store, ("s1", "Seed"))
    old = add_article(store, "old", "Last week's meeting, imported today",
                      "2025-07-09T10:00:00Z")
    add_match(store, old, "s1", 0.8, found="2025-07-16T10:00:00Z")
    fresh = add_article(store, "fresh", "Today's news", "2025-07-16T09:00:00Z")
    add_match(store, fresh, "s1", 0.7)
    return store


def test_a_late_match_found_today_for_last_weeks_article_is_in_todays_digest(
        late: Store) -> None:
    today = as_json(late)
    assert [s["headline"] for s in today["stories"]] == [
        "Last week's meeting, imported today", "Today's news"]
    story = today["stories"][0]
    assert story["late_published"] == "2025-07-09T10:00:00Z"
    assert story["found_at"] == "2025-07-16T10:00:00Z"
    assert today["stories"][1]["late_published"] is None
    md = build_digest(late, DAY, "md", "UTC", now=NOW)
    assert "   - Found 10:00, published 2025-07-09 10:00: a late match" in md
    assert "— import, 2025-07-09 10:00 · score 0.80" in md  # the report's own date
    html = build_digest(late, DAY, "html", "UTC", now=NOW)
    assert "LATE MATCH</span> found 10:00, published 2025-07-09 10:00" in html
    # Not in the digest of the day it was published: it was not found then.
    then = as_json(late, date(2025, 7, 9))
    assert then["stories"] == [] and then["seeds"][0]["matches"] == []
    chart = {c["date"]: c["matches"] for c in today["chart"] if c["matches"]}
    assert chart == {"2025-07-16": 2}  # counted on the day it was found


def test_since_lists_everything_found_since_a_moment(late: Store) -> None:
    later = datetime(2025, 7, 18, 9, 0, tzinfo=UTC)
    since = as_json(late, DAY, now=later, since=datetime(2025, 7, 16, 9, 30, tzinfo=UTC))
    assert [s["headline"] for s in since["stories"]] == ["Last week's meeting, imported today"]
    assert since["since"] == "2025-07-16T09:30:00Z"
    assert since["date"] == "2025-07-18"  # today: the actors, chart and health are today's
    everything = as_json(late, DAY, now=later, since=datetime(2025, 7, 1, tzinfo=UTC))
    assert len(everything["stories"]) == 2
    md = build_digest(late, DAY, "md", "UTC", now=later,
                      since=datetime(2025, 7, 16, 9, 30, tzinfo=UTC))
    assert md.startswith("# SpaceWatch digest: new since 2025-07-16 09:30")
    assert "Stories with a match found since 2025-07-16 09:30 (UTC)" in md
    with pytest.raises(DigestError, match="is in the future"):
        as_json(late, DAY, now=later, since=datetime(2025, 7, 19, tzinfo=UTC))


def test_since_includes_a_match_found_in_the_very_second_the_digest_is_made(
        late: Store) -> None:
    # Times are stored to the second: a digest made at 10:00:00.4 must still list the match
    # found at 10:00:00 (a `--since last` run right after an import).
    now = datetime(2025, 7, 16, 10, 0, 0, 400_000, tzinfo=UTC)
    since = as_json(late, DAY, now=now, since=datetime(2025, 7, 16, 9, 59, tzinfo=UTC))
    assert [s["headline"] for s in since["stories"]] == ["Last week's meeting, imported today"]


def test_a_rescore_is_not_found_again_but_a_match_after_a_withdrawal_is(store: Store) -> None:
    add_seeds(store, ("s1", "Seed"))
    aid = add_article(store, "a", "An article", "2025-07-10T10:00:00Z")
    scoring = Scoring(threshold=0.4, scorer_version="s1", corpus_version=0, match_version="m1")

    def score(value: float, when: str) -> None:
        store.record_scores([ArticleScores(aid, "nlp|m1", (SeedScore(
            "s1", value, explanation(value, ["Roscosmos"], ["Evidence."]), "p1"),))],
            scoring, when)
    score(0.8, "2025-07-10T10:00:00Z")  # found
    score(0.6, "2025-07-15T10:00:00Z")  # rescored: a new version, not a new find
    assert as_json(store, date(2025, 7, 15))["stories"] == []
    assert len(as_json(store, date(2025, 7, 10))["stories"]) == 1
    score(0.1, "2025-07-15T12:00:00Z")  # withdrawn
    assert as_json(store, date(2025, 7, 10))["stories"] == []  # no longer a match at all
    score(0.9, "2025-07-16T10:00:00Z")  # a match again: found again
    assert [s["found_at"] for s in as_json(store)["stories"]] == ["2025-07-16T10:00:00Z"]


# -- new since the previous day ---------------------------------------------------------------


def test_new_since_yesterday_shows_only_the_articles_that_joined(store: Store) -> None:
    add_seeds(store, ("s1", "Seed"))
    old = [add_article(store, f"o{i}", f"Yesterday's report {i}",
                       f"2025-07-15T1{i}:00:00Z") for i in range(3)]
    new = [add_article(store, f"n{i}", f"Today's follow-up {i}",
                       f"2025-07-16T1{i}:00:00Z") for i in range(2)]
    for aid in old:
        add_match(store, aid, "s1", 0.6)
    add_match(store, new[0], "s1", 0.75)  # found today; new[1] joined without a match
    add_story(store, "The ongoing story",
              [(a, "2025-07-15T20:00:00Z") for a in old]
              + [(a, "2025-07-16T15:00:00Z") for a in new])
    story = as_json(store)["stories"][0]
    assert story["new_story"] is False and story["new_count"] == 2
    assert [a["title"] for a in story["new_articles"]] == ["Today's follow-up 0",
                                                            "Today's follow-up 1"]
    assert story["article_count"] == 5
    assert story["first_report"]["title"] == "Yesterday's report 0"
    md = build_digest(store, DAY, "md", "UTC", now=NOW)
    block = md[md.index("New since the previous day"):md.index("## Actors on the move")]
    assert "New since the previous day: 2 articles" in block
    assert "Today's follow-up 0" in block and "Today's follow-up 1" in block
    assert "Yesterday's report" not in block
    # Yesterday's digest had the story as new, with its three articles.
    yesterday = as_json(store, date(2025, 7, 15))["stories"][0]
    assert yesterday["new_count"] == 3 and yesterday["new_story"] is False


# -- articles in no story ---------------------------------------------------------------------


def test_matched_articles_in_no_story_appear_as_one_article_stories(store: Store) -> None:
    add_seeds(store, ("s1", "Seed"))
    a = add_article(store, "a", "First loose article", "2025-07-16T09:00:00Z")
    b = add_article(store, "b", "Second loose article", "2025-07-16T10:00:00Z")
    add_match(store, a, "s1", 0.7)
    add_match(store, b, "s1", 0.8)
    stories = as_json(store)["stories"]
    assert [(s["key"], s["story_id"], s["headline"], s["article_count"]) for s in stories] == [
        (f"article:{b}", None, "Second loose article", 1),
        (f"article:{a}", None, "First loose article", 1)]
    assert stories[0]["found_at"] == "2025-07-16T10:00:00Z"
    md = build_digest(store, DAY, "md", "UTC", now=NOW)
    assert [line.split(" — ")[0] for line in md.splitlines() if re.match(r"\d+\. ", line)] == [
        "1. [Second loose article](https://news.example/b)",
        "2. [First loose article](https://news.example/a)"]
    assert md.count("   - 1 article, reported by 1 outlet") == 2


# -- --since on the command line --------------------------------------------------------------


def run(db: Path, tmp_path: Path, *args: str) -> Any:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\nsettings:\n  digest_timezone: UTC\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "digest",
                                    *args])


def test_digest_since_on_the_command_line_and_since_last(late: Store, tmp_path: Path) -> None:
    result = run(late.path, tmp_path, "--since", "2025-07-16T09:30", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [s["headline"] for s in data["stories"]] == ["Last week's meeting, imported today"]
    nothing = run(late.path, tmp_path, "--since", "last")
    assert nothing.exit_code != 0
    assert "--since last: no digest has been written or e-mailed yet" in str(nothing.exception)
    write_digest(late, tmp_path / "digests", date(2025, 7, 15), "UTC", now=NOW)
    assert last_digest_until(late) == datetime(2025, 7, 16, tzinfo=UTC)  # the day it covered
    write_digest(late, tmp_path / "digests", DAY, "UTC", now=NOW)  # today's, at 20:00
    assert last_digest_until(late) == NOW  # the day is not over: up to when it was made
    write_digest(late, tmp_path / "digests", date(2025, 7, 10), "UTC", now=NOW)
    assert last_digest_until(late) == NOW  # never moved back
    newer = add_article(late, "newer", "Found after the last digest", "2025-07-17T08:00:00Z")
    add_match(late, newer, "s1", 0.9)
    since_last = run(late.path, tmp_path, "--since", "last", "--format", "json")
    assert since_last.exit_code == 0, since_last.output
    assert [s["headline"] for s in json.loads(since_last.output)["stories"]] == [
        "Found after the last digest"]


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "yesterday"], "--since 'yesterday': not a date or time"),
    (["--since", "2025-13-40"], "--since '2025-13-40': not a date or time"),
    (["--since", "2999-01-01"], "--since '2999-01-01' is in the future"),
    (["--since", "2025-07-16", "--date", "2025-07-16"], "use it without --date and --email"),
    (["--since", "2025-07-16", "--email"], "use it without --date and --email"),
])
def test_bad_since_values_are_one_clear_line(late: Store, tmp_path: Path, args: list[str],
                                             message: str) -> None:
    result = run(late.path, tmp_path, *args)
    assert result.exit_code != 0
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert not isinstance(result.exception, (TypeError, ValueError, AttributeError))


def test_parse_since_reads_dates_in_the_digest_zone_and_keeps_an_offset() -> None:
    now = datetime(2025, 7, 16, 20, 0, tzinfo=UTC)
    assert parse_since("2025-07-16", "Europe/Moscow", now) == datetime(
        2025, 7, 15, 21, 0, tzinfo=UTC)
    assert parse_since("2025-07-16T10:00", "UTC", now) == datetime(2025, 7, 16, 10, 0,
                                                                   tzinfo=UTC)
    assert parse_since("2025-07-16T10:00+03:00", "UTC", now) == datetime(2025, 7, 16, 7, 0,
                                                                         tzinfo=UTC)
    # Year 1 (no UTC for it at +14:00) means everything, not a traceback.
    for early in ("0001-01-01", "0001-01-01T00:00+14:00", "1900-05-01"):
        assert parse_since(early, "Pacific/Kiritimati", now) == datetime(1970, 1, 1, tzinfo=UTC)
