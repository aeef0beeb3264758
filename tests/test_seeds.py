"""Seeds as user input: one bad file never stops matching, problems are named and shown,
boost ids are checked against the gazetteer, phrases count once, the folder is explicit."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipeline.daemon as daemon_mod
from pipeline.cli import cli
from pipeline.daemon import Daemon, DaemonOptions
from pipeline.match import Background, build_profile, score
from pipeline.records import Mention
from pipeline.seeds import Seed, load_seeds
from pipeline.store import Store

from .httpserver import LocalServer, Reply, items, rss
from .processes import wait_for

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("Roscosmos head Dmitry Bakanov met acting NASA Administrator Sean Duffy in Houston to "
         "discuss the cross-flight program and the future of the International Space Station. ")
GOOD = "---\nid: good\ntitle: Bakanov meets Duffy\n---\n" + WORDS * 2
HEADLINE_ONLY = "# Bakanov visits NASA\n"
BAD_YAML = "---\nid: [unclosed\n---\n" + WORDS
UNKNOWN_KEY = "---\nid: colourful\ncolour: red\n---\n" + WORDS
ARTICLE = {"id": "f1", "title": "Bakanov and Duffy agree to extend cross-flights",
           "text": "Roscosmos head Dmitry Bakanov and acting NASA Administrator Sean Duffy "
                   "agreed to extend the cross-flight program. Cosmonaut Oleg Platonov will "
                   "fly on Crew-11 aboard Crew Dragon, and an American astronaut will ride a "
                   "Soyuz. The agencies also discussed ISS deorbit plans and the extension of "
                   "the International Space Station.", "published": "2025-07-20T08:00:00Z"}


def project(tmp_path: Path, seeds: dict[str, str] | None = None) -> list[str]:
    """A project folder with feeds.yaml, seeds/ (the bundled seed unless given) and an
    archive of one follow-up article."""
    folder = tmp_path / "seeds"
    if seeds is None:
        shutil.copytree(ROOT / "seeds", folder)
    else:
        folder.mkdir()
        for name, text in seeds.items():
            (folder / name).write_text(text, encoding="utf-8")
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "a.jsonl").write_text(json.dumps(ARTICLE) + "\n")
    return ["--db", str(tmp_path / "t.db"), "--config", str(tmp_path / "feeds.yaml")]


# -- 12.3: one bad seed file never stops the rest -------------------------------------------


def test_invalid_seed_files_are_skipped_with_a_problem_naming_file_and_reason(
        tmp_path: Path) -> None:
    for name, text in {"a_good.md": GOOD, "b_headline.md": HEADLINE_ONLY,
                       "c_yaml.md": BAD_YAML, "d_key.md": UNKNOWN_KEY}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    loaded = load_seeds(tmp_path)
    assert [s.id for s in loaded.seeds] == ["good"]
    reasons = {Path(p.path).name: p.reason for p in loaded.problems}
    assert set(reasons) == {"b_headline.md", "c_yaml.md", "d_key.md"}
    assert "at least 20 words" in reasons["b_headline.md"]
    assert "not valid YAML" in reasons["c_yaml.md"]
    assert "unknown front-matter key 'colour'" in reasons["d_key.md"]
    assert all(str(p).startswith(p.path) for p in loaded.problems)


def test_a_duplicate_seed_id_skips_the_second_file_naming_both(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.md").write_text(GOOD, encoding="utf-8")
    loaded = load_seeds(tmp_path)
    assert [Path(s.path).name for s in loaded.seeds] == ["a.md"]
    [problem] = loaded.problems
    assert Path(problem.path).name == "b.md"
    assert "'good'" in problem.reason and "a.md" in problem.reason


def test_import_with_a_bad_seed_analyses_everything_warns_and_status_shows_it(
        tmp_path: Path) -> None:
    args = project(tmp_path, {"a_good.md": GOOD, "b_headline.md": HEADLINE_ONLY})
    result = CliRunner().invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 0, result.output
    assert "b_headline.md" in result.stderr and "at least 20 words" in result.stderr
    with Store(tmp_path / "t.db") as store:
        assert store.scalar("SELECT count(*) FROM articles WHERE nlp_version IS NULL") == 0
        assert store.scalar("SELECT count(*) FROM matches WHERE seed_id = 'good'") == 1
    status = CliRunner().invoke(cli, [*args, "status"])
    assert status.exit_code == 0, status.output
    assert "b_headline.md" in status.stdout and "at least 20 words" in status.stdout


def test_every_command_that_loads_seeds_warns_about_the_bad_one(tmp_path: Path) -> None:
    args = project(tmp_path, {"a_good.md": GOOD, "b_key.md": UNKNOWN_KEY})
    runner = CliRunner()
    assert runner.invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")]).exit_code == 0
    for command in (["rematch"], ["reprocess"], ["seeds"], ["explain", "1"], ["analyze"]):
        result = runner.invoke(cli, [*args, *command], input=ARTICLE["text"])
        assert result.exit_code == 0, (command, result.output)
        assert "b_key.md" in result.stderr and "'colour'" in result.stderr, command


class _Runner:
    """A daemon on a thread, stopped (and checked stopped) on exit."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.thread = threading.Thread(target=daemon.run, daemon=True)

    def __enter__(self) -> Daemon:
        self.thread.start()
        return self.daemon

    def __exit__(self, *exc: object) -> None:
        self.daemon.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()



def scalar(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with Store(db) as store:
        return store.scalar(sql) or 0


@pytest.mark.fault
def test_daemon_keeps_the_last_good_profile_when_a_seed_turns_invalid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_mod, "MATCHER_MAX_AGE_SECONDS", 0.0)  # rebuild on every job
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a_good.md").write_text(GOOD, encoding="utf-8")
    feed = [dict(it, title=f"Bakanov and Duffy: {it['title']}", description=WORDS)
            for it in items(2)]
    with LocalServer() as server:
        url = server.route("/a.xml", Reply(rss(feed)))
        (tmp_path / "feeds.yaml").write_text(
            "settings:\n  jitter: 0.1s\n  full_text: false\n  timeout_total: 10s\n"
            f"feeds:\n  - {{name: a, url: '{url}', interval: 1s}}\n")
        db = tmp_path / "d.db"
        with _Runner(Daemon(DaemonOptions(tmp_path / "feeds.yaml", db))):
            assert wait_for(lambda: scalar(db, "SELECT count(*) FROM matches "
                                               "WHERE seed_id = 'good'") == 2)
            # The good seed is broken by an edit and a bad seed appears, while it runs.
            (seeds / "a_good.md").write_text(HEADLINE_ONLY, encoding="utf-8")
            (seeds / "b_key.md").write_text(UNKNOWN_KEY, encoding="utf-8")
            fetches = scalar(db, "SELECT count(*) FROM fetches")
            server.route("/a.xml", Reply(rss([*feed, *[
                dict(it, title=f"Bakanov and Duffy: {it['title']}", description=WORDS)
                for it in items(2, "new")]])))
            assert wait_for(lambda: scalar(db, "SELECT count(*) FROM articles "
                                               "WHERE nlp_version IS NOT NULL") == 4)
            assert wait_for(lambda: scalar(db, "SELECT count(*) FROM fetches")
                            >= fetches + 3)
            # The last good profile of the broken seed still matches the new articles.
            assert scalar(db, "SELECT count(*) FROM matches WHERE seed_id = 'good'") == 4
            assert scalar(db, "SELECT count(*) FROM fetches WHERE outcome = 'failed'") == 0
            with Store(db) as store:
                problems = (store.get_meta("seed_problems") or {}).get("value") or ""
            assert "a_good.md" in problems and "b_key.md" in problems


# -- 11.14: the seeds folder is explicit; explain keeps the record ---------------------------


def test_no_seeds_loaded_warns_once_with_the_absolute_folder(tmp_path: Path) -> None:
    args = project(tmp_path, {})
    runner = CliRunner()
    folder = (tmp_path / "seeds").resolve()
    expected = f"no seeds loaded from {folder}: nothing will be matched"
    for command in (["import", str(tmp_path / "a.jsonl")], ["rematch"], ["reprocess"],
                    ["analyze"]):
        result = runner.invoke(cli, [*args, *command], input=ARTICLE["text"])
        assert result.exit_code == 0, (command, result.output)
        assert result.stderr.replace("\n", "").count(expected) == 1, (command, result.stderr)


def test_seeds_dir_is_relative_to_the_folder_of_feeds_yaml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    args = project(project_dir, {"a_good.md": GOOD})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, [*args, "analyze"], input=ARTICLE["text"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matches"][0]["seed"] == "good"
    assert "no seeds loaded" not in result.stderr
    # Without a feeds.yaml the folder is relative to the current directory.
    bare = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), "analyze"],
                              input=ARTICLE["text"])
    assert f"no seeds loaded from {(elsewhere / 'seeds').resolve()}" in \
        bare.stderr.replace("\n", "")


def test_explain_shows_the_stored_explanation_of_a_seed_that_no_longer_loads(
        tmp_path: Path) -> None:
    args = project(tmp_path, {"a_good.md": GOOD})
    runner = CliRunner()
    assert runner.invoke(cli, [*args, "import", str(tmp_path / "a.jsonl")]).exit_code == 0
    (tmp_path / "seeds" / "a_good.md").write_text(HEADLINE_ONLY, encoding="utf-8")
    result = runner.invoke(cli, [*args, "explain", "1"])
    assert result.exit_code == 0, result.output
    assert "seed good" in result.stdout and "Dmitry Bakanov" in result.stdout
    assert "evidence:" in result.stdout
    only = runner.invoke(cli, [*args, "explain", "1", "--seed", "good"])
    assert only.exit_code == 0 and "seed good" in only.stdout


def test_an_entity_boost_with_an_unknown_id_is_a_problem_listing_the_closest_ids(
        tmp_path: Path) -> None:
    (tmp_path / "typo.md").write_text(
        "---\nid: typo\nboosts:\n  entities:\n    dmitri-bakanov: 2.0\n    "
        "person:someone-found-by-the-model: 1.5\n---\n" + WORDS, encoding="utf-8")
    (tmp_path / "good.md").write_text(
        "---\nid: fine\nboosts:\n  entities:\n    dmitry-bakanov: 2.0\n    "
        "person:someone-found-by-the-model: 1.5\n---\n" + WORDS, encoding="utf-8")
    (tmp_path / "key.md").write_text(
        "---\nid: misspelt\nboosts:\n  entity:\n    dmitry-bakanov: 2.0\n---\n" + WORDS,
        encoding="utf-8")
    loaded = load_seeds(tmp_path)
    assert [s.id for s in loaded.seeds] == ["fine"]
    reasons = {Path(p.path).name: p.reason for p in loaded.problems}
    assert "'dmitri-bakanov'" in reasons["typo.md"] and "dmitry-bakanov" in reasons["typo.md"]
    assert "boosts.entity " in reasons["key.md"] and "entities, phrases" in reasons["key.md"]


# -- 11.15: a phrase counts once whatever its case or hyphenation ----------------------------


def test_phrases_differing_only_in_case_or_hyphens_count_once_with_the_larger_weight() -> None:
    text = ("The ISS extension was agreed. " * 3 + "Officials said the iss extension and the "
            "cross-flight deal matter; the cross flight deal was signed. " * 3)
    seed = Seed(id="s", title="ISS extension", text=text, path="x",
                phrase_boosts={"ISS extension": 1.5, "Cross Flight": 0.5, "cross-flight": 2.0})
    background = Background.from_texts([text])
    profile = build_profile(seed, [], background)
    folded = [" ".join(p.replace("-", " ").lower().split()) for p in profile.phrases]
    assert folded.count("iss extension") == 1 and folded.count("cross flight") == 1
    assert profile.phrases["ISS extension"] == 1.5
    assert max(w for p, w in profile.phrases.items() if "flight" in p.lower()) == 2.0
    result = score(profile, "Talks on the ISS extension went on.", [], background)
    assert [h.phrase for h in result.explanation.phrases] == ["ISS extension"]


def test_the_bundled_seed_counts_iss_extension_once() -> None:
    seed = next(s for s in load_seeds(ROOT / "seeds").seeds
                if s.id == "us-russia-iss-cooperation")
    mention = Mention("roscosmos", "Roscosmos", "AGENCY", "gazetteer", "Roscosmos", 0, 9, "")
    profile = build_profile(seed, [mention], Background.from_texts([seed.text]))
    assert [p for p in profile.phrases if p.lower() == "iss extension"] == ["ISS extension"]
