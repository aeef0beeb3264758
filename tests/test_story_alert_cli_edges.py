"""The stories and alerts commands given numbers SQLite cannot hold: one line, no
traceback (an id too large is a usage error, a --limit too large means "all")."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.store import Store

from .alert_data import Stories
from .conftest import Runner

HUGE = "99999999999999999999999"  # beyond SQLite's 64-bit INTEGER


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """sw.db with two stories (one article each) and no alert rule."""
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    with Store(tmp_path / "sw.db") as store:
        data = Stories(store)
        data.article(1)
        data.article(2)
        with store.transaction() as conn:  # the counters the stories step would keep
            conn.execute("UPDATE stories SET article_count = 1, outlet_count = 1")
    return tmp_path


@pytest.mark.parametrize("args", [
    ["story", HUGE], ["story", "show", HUGE], ["story", "merge", "1", HUGE],
    ["story", "merge", HUGE, "1"], ["story", "split", HUGE, "1"],
    ["story", "split", "1", HUGE], ["seeds", "add", "--story", HUGE, "--dry-run"],
    ["explain", HUGE],
])
def test_an_id_too_large_for_sqlite_is_a_usage_error(folder: Path, run: Runner,
                                                     args: list[str]) -> None:
    code, _out, err = run(folder, *args)
    assert code == 2
    assert "Traceback" not in err and "OverflowError" not in err
    assert f"{HUGE} is not in the range" in err


@pytest.mark.parametrize("args, shown", [
    (["story", "list", "--limit", HUGE], "Headline of story 1"),
    (["alerts", "list", "--limit", HUGE], "no alerts yet"),
])
def test_a_limit_too_large_for_sqlite_lists_everything(folder: Path, run: Runner,
                                                       args: list[str], shown: str) -> None:
    code, out, err = run(folder, *args)
    assert code == 0, err
    assert shown in out


@pytest.mark.parametrize("args", [["explain", "1"], ["story", "merge", "1", "2"],
                                  ["story", "split", "1", "2"]])
def test_a_command_on_stored_articles_refuses_a_missing_database_and_creates_none(
        tmp_path: Path, run: Runner, args: list[str]) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    code, _out, err = run(tmp_path, *args)
    assert code == 2
    assert "no such database" in err and "Traceback" not in err
    assert not (tmp_path / "sw.db").exists()
