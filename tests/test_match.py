"""Matching in the pipeline: events with explanations, re-matching without duplicates,
seeds, explain, analyze scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Settings
from pipeline.match import Background, build_profile, score
from pipeline.records import Mention
from pipeline.seeds import Seed, load_seeds
from pipeline.store import Store

ROOT = Path(__file__).resolve().parents[1]

FOLLOW_UP = {
    "id": "f1", "title": "Bakanov and Duffy agree to extend cross-flights",
    "text": "Roscosmos head Dmitry Bakanov and acting NASA Administrator Sean Duffy agreed "
            "to extend the cross-flight program. Cosmonaut Oleg Platonov will fly on Crew-11 "
            "aboard Crew Dragon, and an American astronaut will ride a Soyuz. The two agencies "
            "also discussed ISS deorbit plans and the extension of the International Space "
            "Station.", "published": "2025-07-20T08:00:00Z"}
OFF_TOPIC = {
    "id": "o1", "title": "Russia and the US hold talks on embassies",
    "text": "Russian and American diplomats held talks in Istanbul on the work of their "
            "embassies. Both sides said relations remained difficult but that cooperation on "
            "consular matters was possible.", "published": "2025-07-20T09:00:00Z"}


def setup_project(tmp_path: Path) -> list[str]:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    archive = tmp_path / "a.jsonl"
    archive.write_text("\n".join(json.dumps(r) for r in (FOLLOW_UP, OFF_TOPIC)) + "\n")
    return ["--db", str(tmp_path / "t.db"), "--config", str(tmp_path / "feeds.yaml")]


def test_import_creates_match_events_with_explanations(tmp_path: Path) -> None:
    args = setup_project(tmp_path)
    result = CliRunner().invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "t.db") as store:
        events = store.rows("SELECT * FROM event_log")
        assert [e["title"] for e in events] == [FOLLOW_UP["title"]]
        assert "Dmitry Bakanov" in events[0]["top_entities"]
        ex = json.loads(store.scalar("SELECT explanation FROM matches"))
        assert {e["id"] for e in ex["entities"]} >= {"dmitry-bakanov", "sean-duffy",
                                                       "cross-flight"}
        assert ex["phrases"] and 1 <= len(ex["evidence"]) <= 3 and ex["terms"]
        assert store.scalar("SELECT count(*) FROM seeds") == 1
        assert "|m" in store.scalar("SELECT pipeline_version FROM matches")


def test_query_shows_event_log_and_refuses_writes(tmp_path: Path) -> None:
    args = setup_project(tmp_path)
    CliRunner().invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")])
    shown = CliRunner().invoke(cli, [*args, "query", "select * from event_log limit 5",
                                     "--format", "json"])
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)[0]["seed"] == "us-russia-iss-cooperation"
    refused = CliRunner().invoke(cli, [*args, "query", "delete from matches"])
    assert refused.exit_code != 0
    with Store(tmp_path / "t.db") as store:
        assert store.scalar("SELECT count(*) FROM matches") == 1


def test_rematch_after_adding_a_seed_scores_stored_articles(tmp_path: Path) -> None:
    args = setup_project(tmp_path)
    CliRunner().invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")])
    (tmp_path / "seeds" / "010_embassy_talks.md").write_text(
        "---\nid: embassy-talks\ntitle: US and Russian diplomats discuss embassies\n---\n"
        "Russian and American diplomats held a new round of talks in Istanbul on the work of "
        "their embassies, visas and diplomatic property. Both sides said relations remained "
        "difficult but that the embassy talks would continue with consular cooperation.\n")
    runner = CliRunner()
    listing = runner.invoke(cli, [*args, "seeds"])
    assert "embassy-talks" in listing.stdout and "us-russia-iss-cooperation" in listing.stdout
    first = runner.invoke(cli, [*args, "rematch"])
    assert first.exit_code == 0 and "2 articles scored: 1 new event, 0 new versions, " \
        "0 withdrawn, 1 unchanged (within ±0.05); 2 current events from 2 seeds" in first.stdout
    second = runner.invoke(cli, [*args, "rematch"])
    assert "0 articles scored" in second.stdout
    with Store(tmp_path / "t.db") as store:
        pairs = store.rows("SELECT a.guid, m.seed_id FROM matches m JOIN articles a "
                           "ON a.id = m.article_id ORDER BY 1, 2")
        assert [(p["guid"], p["seed_id"]) for p in pairs] == [
            ("f1", "us-russia-iss-cooperation"), ("o1", "embassy-talks")]
        assert store.scalar("SELECT count(*) FROM matches") == 2  # never duplicated


def test_reprocess_all_keeps_events_without_duplicating(tmp_path: Path) -> None:
    args = setup_project(tmp_path)
    CliRunner().invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")])
    result = CliRunner().invoke(cli, [*args, "reprocess", "--all"])
    assert result.exit_code == 0 and "2 stale articles" in result.stdout
    with Store(tmp_path / "t.db") as store:
        assert store.scalar("SELECT count(*) FROM matches") == 1


def test_explain_prints_the_breakdown(tmp_path: Path) -> None:
    args = setup_project(tmp_path)
    CliRunner().invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")])
    result = CliRunner().invoke(cli, [*args, "explain", "1"])
    assert result.exit_code == 0
    assert "MATCH" in result.stdout and "entities" in result.stdout
    assert "Dmitry Bakanov" in result.stdout and "evidence:" in result.stdout
    missing = CliRunner().invoke(cli, [*args, "explain", "99"])
    assert "no article with id 99" in str(missing.exception)


def test_analyze_prints_seed_scores(tmp_path: Path) -> None:
    args = setup_project(tmp_path)
    result = CliRunner().invoke(cli, [*args, "analyze"], input=FOLLOW_UP["text"])
    data = json.loads(result.stdout)
    assert data["matches"][0]["seed"] == "us-russia-iss-cooperation"
    assert data["matches"][0]["match"] is True
    assert not (tmp_path / "t.db").exists()  # analyze stores nothing


def test_scores_are_deterministic_and_bounded() -> None:
    seed = load_seeds(ROOT / "seeds").seeds[0]
    mentions = [Mention("dmitry-bakanov", "Dmitry Bakanov", "OFFICIAL", "gazetteer",
                        "Dmitry Bakanov", 0, 14, "Dmitry Bakanov met NASA.")]
    background = Background.from_texts([seed.text, "Dmitry Bakanov met NASA."])
    profile = build_profile(seed, mentions, background)
    a = score(profile, "Dmitry Bakanov met NASA.", mentions, background)
    b = score(profile, "Dmitry Bakanov met NASA.", mentions, background)
    assert a.score == b.score and a.explanation == b.explanation
    assert 0.0 <= a.score <= 1.0


def test_a_seed_boost_for_an_entity_raises_its_weight() -> None:
    text = "Oleg Platonov trained for the mission. " * 5
    mentions = [Mention("oleg-platonov", "Oleg Platonov", "CREW", "gazetteer", "Oleg Platonov",
                        0, 13, "")]
    plain = Seed(id="s", title="t", text=text, path="x")
    boosted = Seed(id="s", title="t", text=text, path="x", entity_boosts={"oleg-platonov": 3.0})
    bg = Background.from_texts([text])
    assert build_profile(boosted, mentions, bg).entities["oleg-platonov"][0] == \
        3.0 * build_profile(plain, mentions, bg).entities["oleg-platonov"][0]


def test_bad_seed_front_matter_is_a_clear_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_text("---\nid: x\ncolour: red\n---\n" + "word " * 30)
    [problem] = load_seeds(tmp_path).problems  # skipped and reported, never raised (12.3)
    assert "unknown front-matter key 'colour'" in str(problem)
    assert Settings().match_threshold == 0.4
