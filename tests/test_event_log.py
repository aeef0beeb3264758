"""The event log is a record: events are versioned, never rewritten or deleted; scores do not
depend on arrival order; removed seeds are retired; listing writes nothing; a changed import
record is an update that keeps the earlier text.

One realistic archive (the 36 articles of the matching dev set, two seeds) is imported once
per module; each test works on its own copy of that project.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from bench.corpus import corpus
from pipeline.cli import cli
from pipeline.config import Config, Feed, Settings
from pipeline.digest import build_digest
from pipeline.entities import analysis_text
from pipeline.events import (
    MATCH,
    NEW,
    NEW_VERSION,
    NOTHING,
    TOLERANCE,
    UNCHANGED,
    WITHDRAW,
    WITHDRAWN,
    Current,
    decide,
)
from pipeline.ingest import analyse_pending
from pipeline.match import build_matcher
from pipeline.normalize import content_hash
from pipeline.records import Article, FetchRecord, Page
from pipeline.store import Store
from pipeline.store.schema import migrations

ROOT = Path(__file__).resolve().parents[1]
DEV = yaml.safe_load((ROOT / "tests/data/match_dev.yaml").read_text(encoding="utf-8"))
US = "us-russia-iss-cooperation"
LUNAR = "lunar-research-station"
LUNAR_SEED = """---
id: lunar-research-station
title: China and Russia press ahead with the International Lunar Research Station
---
China and Russia said they would press ahead with the International Lunar Research Station,
a joint base near the Moon's south pole that the two countries plan to build in the 2030s.
The China National Space Administration and Roscosmos signed new agreements on the lunar
research station, inviting more partner nations to join the project. Officials said the
Chang'e 7 and Chang'e 8 missions would test technologies for the lunar base, and that a
nuclear power plant on the Moon could supply the station. The lunar research station is
seen as a rival to the US-led Artemis program and its Artemis Accords.
"""
#: The same seed, reworded around the power plant: some of its scores move beyond tolerance.
LUNAR_EDITED = """---
id: lunar-research-station
title: China and Russia press ahead with the International Lunar Research Station
---
China and Russia said they would press ahead with the International Lunar Research Station,
a joint base near the Moon's south pole that the two countries plan to build in the 2030s.
Officials said a nuclear power plant on the Moon could supply the station, and that the
reactor would be delivered by a series of heavy cargo landers. Engineers in Moscow and
Beijing are studying how to shield the power plant and how to run cables to the base.
"""


def dev_records() -> list[dict[str, str]]:
    """The dev set as import records, published over 15 July days."""
    return [{"id": d["id"], "title": d["title"], "text": d["text"],
             "published": f"2025-07-{10 + i % 15:02d}T08:00:00Z"} for i, d in enumerate(DEV)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


@dataclass
class Project:
    """A folder with seeds/, feeds.yaml and a database, driven through the CLI."""

    folder: Path

    @property
    def db(self) -> Path:
        return self.folder / "t.db"

    @property
    def seeds(self) -> Path:
        return self.folder / "seeds"

    def run(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli, ["--db", str(self.db), "--config",
                                          str(self.folder / "feeds.yaml"), *args], input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def matches(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM matches ORDER BY id")

    def config(self) -> Config:
        return Config(feeds=(), settings=Settings(seeds_dir=str(self.seeds)))


def new_project(folder: Path) -> Project:
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "seeds", folder / "seeds")
    (folder / "seeds" / "010_lunar_station.md").write_text(LUNAR_SEED, encoding="utf-8")
    (folder / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    return Project(folder)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = new_project(tmp_path_factory.mktemp("base") / "p")
    archive = write_jsonl(project.folder / "dev.jsonl", dev_records())
    project.run("import", str(archive))
    return project


@pytest.fixture
def project(base: Project, tmp_path: Path) -> Project:
    shutil.copytree(base.folder, tmp_path / "p")
    return Project(tmp_path / "p")


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def assert_only_superseded(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
    """Every earlier row is still there, unchanged but for a superseded_at set once."""
    now = {r["id"]: r for r in after}
    for row in before:
        assert row["id"] in now, f"event {row['id']} was deleted"
        diff = changed(row, now[row["id"]])
        assert diff <= {"superseded_at"}, f"event {row['id']} rewritten: {diff}"
        if diff:
            assert row["superseded_at"] is None


# -- the rule ----------------------------------------------------------------------------


def test_versioning_rule_ignores_drift_within_tolerance_and_versions_real_changes() -> None:
    match = Current(id=1, status=MATCH, score=0.60, version=1)
    withdrawn = Current(id=2, status=WITHDRAWN, score=0.30, version=2)
    assert decide(None, 0.41, 0.4) == NEW
    assert decide(None, 0.39, 0.4) == NOTHING
    assert decide(match, 0.60 + TOLERANCE, 0.4) == UNCHANGED
    assert decide(match, 0.56, 0.4) == UNCHANGED
    assert decide(match, 0.70, 0.4) == NEW_VERSION
    assert decide(match, 0.30, 0.4) == WITHDRAW
    near = Current(id=3, status=MATCH, score=0.41, version=1)
    assert decide(near, 0.39, 0.4) == UNCHANGED  # no flapping across the threshold
    assert decide(near, 0.41, 0.5) == WITHDRAW  # the threshold rose past the stored score
    assert decide(withdrawn, 0.32, 0.4) == NOTHING
    assert decide(withdrawn, 0.10, 0.4) == NOTHING  # a non-match moving is not news
    assert decide(withdrawn, 0.55, 0.4) == NEW_VERSION
    assert decide(withdrawn, 0.31, 0.3) == NEW_VERSION  # the threshold fell below it


# -- re-scoring keeps history -------------------------------------------------------------


def test_seed_edit_and_rematch_keep_the_old_event_and_add_a_new_version(
        project: Project) -> None:
    before = project.matches()
    (project.seeds / "010_lunar_station.md").write_text(LUNAR_EDITED, encoding="utf-8")
    result = project.run("rematch")
    assert "36 articles scored: 0 new events, 1 new version, 0 withdrawn, 13 unchanged " \
           "(within ±0.05)" in result.stdout
    after = project.matches()
    assert_only_superseded(before, after)
    old_ids = {r["id"] for r in before}
    added = [r for r in after if r["id"] not in old_ids]
    assert len(added) == 1
    new = added[0]
    old = next(r for r in after if r["id"] == new["supersedes"])
    assert (old["seed_id"], new["seed_id"]) == (LUNAR, LUNAR)
    assert old["article_id"] == new["article_id"]
    assert old["superseded_at"] == new["matched_at"] and new["superseded_at"] is None
    assert (old["version"], new["version"], new["status"]) == (1, 2, "match")
    assert abs(new["score"] - old["score"]) > TOLERANCE
    assert new["seed_version"] != old["seed_version"]
    assert json.loads(old["explanation"])["profile_version"] == old["seed_version"]
    # The views: the log shows the current version, the history both.
    log = project.rows("SELECT * FROM event_log WHERE article_id = ? AND seed = ?",
                       (new["article_id"], LUNAR))
    assert [(r["event_id"], r["version"]) for r in log] == [(new["id"], 2)]
    history = project.rows("SELECT event_id, version, is_current FROM event_history "
                           "WHERE article_id = ? AND seed = ? ORDER BY version",
                           (new["article_id"], LUNAR))
    assert history == [{"event_id": old["id"], "version": 1, "is_current": 0},
                       {"event_id": new["id"], "version": 2, "is_current": 1}]
    # explain shows the stored (current) explanation of the event.
    shown = project.run("explain", str(new["article_id"]), "--seed", LUNAR)
    assert f"score {new['score']:.3f} (MATCH" in shown.stdout
    assert project.run("rematch").stdout.startswith("0 articles scored")


def test_untouched_seeds_events_keep_matched_at_through_drift(project: Project) -> None:
    before = project.matches()
    extra = [{"id": f"bg-{i}", "title": doc.title, "text": doc.text,
              "published": "2025-07-28T08:00:00Z"}
             for i, doc in enumerate(corpus(6, seed=11, min_words=150, max_words=300))]
    project.run("import", str(write_jsonl(project.folder / "extra.jsonl", extra)))
    (project.seeds / "010_lunar_station.md").write_text(LUNAR_EDITED, encoding="utf-8")
    project.run("rematch")
    after = {r["id"]: r for r in project.matches()}
    us_before = [r for r in before if r["seed_id"] == US]
    assert len(us_before) >= 10
    for row in us_before:  # untouched: not a single column moved
        assert after[row["id"]] == row
    # ... although the corpus grew and the scores drifted (within the tolerance).
    with Store(project.db) as store:
        matcher = build_matcher(store, project.config(), record=False)
        fresh = {}
        for row in us_before:
            article = store.articles_by_id([row["article_id"]])[0]
            mentions = store.mentions_for([row["article_id"]])[row["article_id"]]
            results = matcher.results(analysis_text(article["title"], article["text"]),
                                      mentions)
            fresh[row["id"]] = next(r.score for r in results if r.seed_id == US)
    drift = [abs(fresh[r["id"]] - r["score"]) for r in us_before]
    assert max(drift) > 0, "the test did not make the scores drift"
    assert max(drift) <= TOLERANCE
    # explain shows the event as stored, not as it would score today.
    worst = max(us_before, key=lambda r: abs(fresh[r["id"]] - r["score"]))
    stored, today = f"{worst['score']:.3f}", f"{fresh[worst['id']]:.3f}"
    assert stored != today
    shown = project.run("explain", str(worst["article_id"]), "--seed", US).stdout
    assert f"score {stored} (MATCH" in shown and f"score {today}" not in shown
    shown = {r["event_id"] for r in project.rows("SELECT event_id FROM event_log WHERE seed = ?",
                                                 (US,))}
    assert {r["id"] for r in us_before} <= shown


def test_reprocess_all_with_nothing_changed_keeps_every_event(project: Project) -> None:
    before = project.matches()
    current = project.rows("SELECT event_id FROM event_log ORDER BY event_id")
    assert len(current) >= 10 and {r["seed_id"] for r in before} == {US, LUNAR}
    result = project.run("reprocess", "--all")
    assert f"0 new events, 0 new versions, 0 withdrawn, {len(current)} unchanged" \
        in result.stdout
    assert project.matches() == before  # nothing deleted, nothing rewritten, nothing added
    assert project.rows("SELECT event_id FROM event_log ORDER BY event_id") == current


def test_scores_do_not_depend_on_the_order_articles_arrive_in(base: Project,
                                                              tmp_path: Path) -> None:
    other = new_project(tmp_path / "reversed")
    records = dev_records()
    shuffled = records[::-1][::2] + records[::-1][1::2]
    other.run("import", str(write_jsonl(tmp_path / "shuffled.jsonl", shuffled)))
    sql = ("SELECT a.guid, m.seed_id, m.score, m.explanation, m.status, m.version "
           "FROM matches m JOIN articles a ON a.id = m.article_id ORDER BY a.guid, m.seed_id")
    assert other.rows(sql) == base.rows(sql)
    assert len(base.rows(sql)) >= 10


# -- seeds --------------------------------------------------------------------------------


def digest_seed_ids(project: Project, day: date) -> tuple[list[str], str]:
    with Store(project.db) as store:
        data = json.loads(build_digest(store, day, "json", "UTC"))
        markdown = build_digest(store, day, "md", "UTC")
    return [s["id"] for s in data["seeds"]], markdown


def test_a_removed_seed_is_retired_its_events_kept_but_out_of_log_and_digest(
        project: Project) -> None:
    lunar = project.rows("SELECT event_id, matched_at FROM event_log WHERE seed = ?",
                         (LUNAR,))
    assert lunar
    day = date.fromisoformat(lunar[0]["matched_at"][:10])  # the digest of the day it was found
    ids, markdown = digest_seed_ids(project, day)
    heading = "### China and Russia press ahead with the International Lunar Research Station"
    assert LUNAR in ids and heading in markdown
    before = project.matches()
    (project.seeds / "010_lunar_station.md").unlink()
    project.run("rematch")
    assert project.rows("SELECT retired_at IS NOT NULL AS retired FROM seeds WHERE id = ?",
                        (LUNAR,)) == [{"retired": 1}]
    assert project.matches() == before  # its events are all still stored, untouched
    history = project.rows("SELECT event_id FROM event_history WHERE seed = ? "
                           "AND seed_retired_at IS NOT NULL", (LUNAR,))
    assert {r["event_id"] for r in history} == {r["event_id"] for r in lunar}
    assert project.rows("SELECT * FROM event_log WHERE seed = ?", (LUNAR,)) == []
    ids, markdown = digest_seed_ids(project, day)
    assert ids == [US] and heading not in markdown
    # It comes back: un-retired, with the same events (nothing re-written).
    (project.seeds / "010_lunar_station.md").write_text(LUNAR_SEED, encoding="utf-8")
    project.run("rematch")
    assert project.rows("SELECT event_id FROM event_log WHERE seed = ? ORDER BY event_id",
                        (LUNAR,)) == [{"event_id": r["event_id"]} for r in lunar]
    assert project.matches() == before


def test_listing_seeds_explain_and_analyze_write_nothing(project: Project) -> None:
    (project.seeds / "020_typo.md").write_text(
        "---\nid: typo-seed\ntitle: Typo seed\n---\n" + "Roscosmos and NASA talk. " * 10,
        encoding="utf-8")

    def dump() -> list[str]:
        conn = sqlite3.connect(project.db)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()

    before = dump()
    assert "typo-seed" in project.run("seeds").stdout
    project.run("explain", "1")
    project.run("analyze", input="Dmitry Bakanov met Sean Duffy in Houston.")
    assert dump() == before
    (project.seeds / "020_typo.md").unlink()
    day = date.fromisoformat(project.rows("SELECT max(published_at) AS p FROM event_log")[0]
                             ["p"][:10])
    ids, markdown = digest_seed_ids(project, day)
    assert "typo-seed" not in ids and "Typo seed" not in markdown


# -- import -------------------------------------------------------------------------------


def test_import_of_changed_text_keeps_earlier_text_and_event_and_says_updated(
        project: Project) -> None:
    first = DEV[0]
    article = project.rows("SELECT id, title, text, content_hash FROM articles "
                           "WHERE guid = ?", (first["id"],))[0]
    event = project.rows("SELECT * FROM matches WHERE article_id = ?", (article["id"],))[0]
    off_topic = next(d for d in DEV if d["label"] == "off_topic")
    update = {"id": first["id"], "title": off_topic["title"], "text": off_topic["text"],
              "published": "2025-07-10T08:00:00Z"}
    path = write_jsonl(project.folder / "changed.jsonl", [update])
    result = project.run("import", str(path))
    assert "imported 0 new, 1 updated (earlier text kept in article_versions), " \
           "0 already stored, 0 bad lines" in result.stdout
    kept = project.rows("SELECT article_id, title, text, content_hash FROM article_versions")
    assert kept == [{"article_id": article["id"], "title": first["title"],
                     "text": article["text"], "content_hash": article["content_hash"]}]
    assert project.rows("SELECT title FROM articles WHERE id = ?", (article["id"],)) == [
        {"title": off_topic["title"]}]
    history = project.rows("SELECT * FROM matches WHERE article_id = ? ORDER BY version",
                           (article["id"],))
    assert changed(event, history[0]) == {"superseded_at"}  # the event of the earlier text
    assert [(h["version"], h["status"]) for h in history] == [(1, "match"), (2, "withdrawn")]
    assert project.rows("SELECT * FROM event_log WHERE article_id = ?", (article["id"],)) == []
    again = project.run("import", str(path))
    assert "imported 0 new, 0 updated, 1 already stored, 0 bad lines" in again.stdout
    assert len(project.rows("SELECT * FROM article_versions")) == 1


def test_a_repeated_id_in_one_file_is_applied_in_file_order(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p")
    follow_up, off_topic = DEV[0], next(d for d in DEV if d["label"] == "off_topic")
    lines = [{"id": "x-1", "title": follow_up["title"], "text": follow_up["text"]},
             {"id": "x-1", "title": off_topic["title"], "text": off_topic["text"]},
             {"id": "x-1", "title": off_topic["title"], "text": off_topic["text"]}]
    result = project.run("import", str(write_jsonl(tmp_path / "twice.jsonl", lines)))
    assert "imported 1 new, 1 updated (earlier text kept in article_versions), " \
           "1 already stored, 0 bad lines" in result.stdout
    assert project.rows("SELECT title FROM articles") == [{"title": off_topic["title"]}]
    assert project.rows("SELECT title FROM article_versions") == [
        {"title": follow_up["title"]}]


def test_a_changed_feed_entry_keeps_its_earlier_version(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        store.sync_feeds([Feed(name="wire", url="https://wire.example/rss")], False,
                         "2025-07-16T08:00:00Z")
        feed_id = store.feed_row("wire").id

        def entry(title: str) -> Article:
            return Article(guid="g1", url="https://wire.example/a1", title=title,
                           summary=f"{title}: the summary.", published_at="2025-07-16T08:00:00Z",
                           published_estimated=False,
                           content_hash=content_hash(title, f"{title}: the summary."))

        for title in ("First title", "Second title"):
            store.record_fetch(feed_id, FetchRecord(started_at="2025-07-16T08:00:00Z",
                                                    outcome="ok"), None, [entry(title)],
                               fetched_at="2025-07-16T08:00:00Z")
        assert store.rows("SELECT title, summary FROM article_versions") == [
            {"title": "First title", "summary": "First title: the summary."}]
        assert store.rows("SELECT title FROM articles") == [{"title": "Second title"}]


# -- no path deletes or rewrites an event ---------------------------------------------------


def test_the_schema_refuses_to_delete_or_rewrite_an_event(project: Project) -> None:
    conn = sqlite3.connect(project.db)
    try:
        for sql in ("DELETE FROM matches", "UPDATE matches SET score = 0.1",
                    "UPDATE matches SET matched_at = '2000-01-01T00:00:00Z'",
                    "UPDATE matches SET superseded_at = NULL"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
        conn.execute("UPDATE matches SET superseded_at = 'x' WHERE id = 1")  # allowed once
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE matches SET superseded_at = 'y' WHERE id = 1")
        conn.rollback()
    finally:
        conn.close()


def test_no_pipeline_path_deletes_or_rewrites_an_event(project: Project) -> None:
    """import of changed text, rematch after a seed edit and removal, reprocess, reprocess
    --all, a changed feed entry and a page arriving: the log only grows."""
    before = project.matches()
    off_topic = next(d for d in DEV if d["label"] == "off_topic")
    project.run("import", str(write_jsonl(project.folder / "c.jsonl", [
        {"id": DEV[1]["id"], "title": off_topic["title"], "text": off_topic["text"]}])))
    (project.seeds / "010_lunar_station.md").write_text(LUNAR_EDITED, encoding="utf-8")
    project.run("rematch")
    (project.seeds / "010_lunar_station.md").unlink()
    project.run("rematch")
    project.run("reprocess")
    project.run("reprocess", "--all")
    with Store(project.db) as store:
        store.sync_feeds([Feed(name="wire", url="https://wire.example/rss")], False,
                         "2025-07-16T08:00:00Z")
        feed_id = store.feed_row("wire").id
        story = DEV[2]
        for text in (story["text"], off_topic["text"]):  # a feed entry, then its update
            saved = store.record_fetch(
                feed_id, FetchRecord(started_at="2025-07-16T08:00:00Z", outcome="ok"), None,
                [Article(guid="w1", url="https://wire.example/w1", title=story["title"],
                         summary=text, published_at="2025-07-16T08:00:00Z",
                         published_estimated=False,
                         content_hash=content_hash(story["title"], text))],
                fetched_at="2025-07-16T08:00:00Z")
            analyse_pending(store, project.config())
        # Its page arrives, with the story's text again.
        article_id = (saved.new_ids or saved.updated_ids)[0]
        store.save_page(Page(url="https://wire.example/w1", ok=True, text=story["text"],
                             http_status=200), [article_id], "2025-07-16T09:00:00Z")
        analyse_pending(store, project.config())
    after = project.matches()
    assert_only_superseded(before, after)
    assert len(after) > len(before)
    statuses = {(r["status"], r["superseded_at"] is None) for r in after}
    assert ("withdrawn", True) in statuses and ("match", False) in statuses


def test_migrating_a_0_1_database_keeps_every_event_with_its_id(tmp_path: Path) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="0006_event_versions")
    db.execute("INSERT INTO seeds (id, title) VALUES ('s1', 'Seed one'), ('s2', 'Seed two')")
    for n in (1, 2):
        db.execute("INSERT INTO articles (id, guid, title, published_at, fetched_at, "
                   "content_hash, source, nlp_version, match_version) VALUES "
                   "(?, ?, ?, '2025-07-16T08:00:00Z', '2025-07-16T08:00:00Z', ?, 'import', "
                   "'nlp', 'm1')", (n, f"g{n}", f"Title {n}", f"h{n}"))
    old = [(7, 1, "s1", 0.91, '{"profile_version": "abc-s1", "evidence": ["E1."]}'),
           (9, 2, "s2", 0.55, '{"profile_version": "def-s1", "evidence": ["E2."]}')]
    for row in old:
        db.execute("INSERT INTO matches (id, article_id, seed_id, score, explanation, "
                   "matched_at, pipeline_version) VALUES (?, ?, ?, ?, ?, "
                   "'2025-07-16T09:00:00Z', 'nlp|m1')", row)
    db.conn.commit()
    db.close()
    with Store(tmp_path / "old.db") as store:
        rows = store.rows("SELECT id, article_id, seed_id, score, explanation, matched_at, "
                          "status, version, seed_version, superseded_at FROM matches "
                          "ORDER BY id")
        assert rows == [{"id": i, "article_id": a, "seed_id": s, "score": sc, "explanation": ex,
                         "matched_at": "2025-07-16T09:00:00Z", "status": "match", "version": 1,
                         "seed_version": ex[21:27], "superseded_at": None}
                        for i, a, s, sc, ex in old]
        assert [(r["event_id"], r["seed"], r["evidence"], r["version"]) for r in store.rows(
            "SELECT * FROM event_log ORDER BY event_id")] == [(7, "s1", "E1.", 1),
                                                              (9, "s2", "E2.", 1)]
        assert store.scalar("SELECT count(*) FROM article_versions") == 0
