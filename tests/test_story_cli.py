"""``spacewatch story``: the timeline, the list, and the analyst's merge and split."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import stories
from pipeline.store import Store

from .conftest import Runner
from .test_stories import (
    AGREEMENT,
    MEETING,
    MEETING_ENTITIES,
    MEETING_REWRITE,
    MEETING_RU,
    ROS,
    add,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """sw.db with the meeting (three reports), a follow-up and an unrelated story."""
    with Store(tmp_path / "sw.db") as store:
        add(store, "a1", "Bakanov and Isaacman discuss ISS deorbit [bold]in Houston[/bold]",
            MEETING, "2026-03-10T09:00:00Z", MEETING_ENTITIES)
        add(store, "a2", "Roscosmos and NASA heads hold Houston talks on station deorbit",
            MEETING_REWRITE, "2026-03-10T13:00:00Z", MEETING_ENTITIES[:-1], host="two.example")
        add(store, "a3", "Баканов и Айзекман обсудили затопление МКС", MEETING_RU,
            "2026-03-10T18:00:00Z", MEETING_ENTITIES[:-1], language="ru", host="ria.example")
        add(store, "b1", "Roscosmos and NASA sign ISS deorbit agreement", AGREEMENT,
            "2026-03-15T10:00:00Z", MEETING_ENTITIES)
        add(store, "c1", "Bakanov: first Russian Orbital Station module to fly in 2027", ROS,
            "2026-03-11T08:00:00Z", ["dmitry-bakanov", "roscosmos", "ros", "vostochny"],
            host="tass.example")
        stories.assign_stories(store)
        assert store.story_of(1) == 1 and store.story_of(4) == 3 and store.story_of(5) == 2
    return tmp_path


def test_story_shows_timeline_with_why_each_joined_and_links(run: Runner,
                                                              folder: Path) -> None:
    code, out, err = run(folder, "story", "1")
    assert code == 0, err
    assert "story 1: Bakanov and Isaacman discuss ISS deorbit [bold]in Houston[/bold]" in out
    assert "3 articles, 3 outlets, en, ru" in out
    assert "followed by story 3" in out
    flat = " ".join(out.split())  # long lines are wrapped at 78 columns
    assert "first report" in flat and "joined (0." in flat and "new language: ru" in flat
    assert "two.example (en)" in out and "ria.example (ru)" in out
    assert "key actors:" in out and "who said what:" in out and "score against each seed" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_follow_up_story_names_the_story_it_follows(run: Runner, folder: Path) -> None:
    code, out, _err = run(folder, "story", "3")
    assert code == 0 and "follows story 1" in out


def test_story_list_newest_first(run: Runner, folder: Path) -> None:
    code, out, _err = run(folder, "story", "list")
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert ids == ["3", "2", "1"]


@pytest.mark.parametrize("args, message", [
    (("story", "99"), "error: no story with id 99"),
    (("story", "merge", "1", "99"), "error: no story with id 99"),
    (("story", "merge", "1", "1"), "error: cannot merge a story into itself"),
    (("story", "split", "1", "4"), "error: article 4 is not in story 1"),
    (("story", "split", "1", "1", "2", "3"), "nothing to split"),
    (("story", "list", "--seed", "nope"), "error: no seed with id 'nope'"),
    (("story", "nonsense"), "not a valid integer"),
])
def test_mistakes_are_one_line_and_exit_2(run: Runner, folder: Path, args: tuple[str, ...],
                                          message: str) -> None:
    code, _out, err = run(folder, *args)
    assert code == 2 and message in err
    assert "Traceback" not in err


def test_merge_on_a_missing_database_creates_nothing(run: Runner, tmp_path: Path) -> None:
    code, _out, err = run(tmp_path, "story", "merge", "1", "2")
    assert code == 2 and "no such database" in err
    assert not (tmp_path / "sw.db").exists()


def test_merge_then_split_by_the_analyst(run: Runner, folder: Path) -> None:
    code, out, err = run(folder, "story", "merge", "1", "2")
    assert code == 0, err
    assert "story 2 merged into story 1 (1 article moved)" in out
    code, _out, err = run(folder, "story", "2")
    assert code == 2 and "merged into story 1" in err
    code, out, err = run(folder, "story", "split", "1", "3")
    assert code == 0, err
    assert "1 article split off story 1 into new story 4" in out
    code, out, _err = run(folder, "story", "4")
    assert "by the analyst: split off story 1" in out
    with Store(folder / "sw.db") as store:
        stories.assign_stories(store)  # a later pass
        assert store.story_of(3) == 4 and store.story_of(5) == 1
