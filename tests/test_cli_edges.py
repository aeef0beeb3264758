"""Smaller rough edges of the command line (11.19) and progress off a terminal (12.11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.cli.render import ProgressLines

TEXT = ("Roscosmos chief Dmitry Bakanov met NASA acting administrator Sean Duffy in Houston "
        "to discuss cross-flights to the International Space Station.")


def no_config(tmp_path: Path) -> list[str]:
    return ["--db", str(tmp_path / "t.db"), "--config", str(tmp_path / "none.yaml")]


@pytest.mark.parametrize("limit", ["-3", "0"])
def test_entities_limit_must_be_positive(tmp_path: Path, limit: str) -> None:
    result = CliRunner().invoke(cli, [*no_config(tmp_path), "entities", "--limit", limit])
    assert result.exit_code == 2
    assert "Invalid value for '--limit'" in result.output and ">=1" in result.output


def test_reprocess_with_nothing_to_do_prints_no_dangling_separator(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*no_config(tmp_path), "reprocess"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "0 stale articles"


def test_init_in_a_missing_folder_says_it_created_it(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n")
    db = tmp_path / "new" / "deeper" / "t.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "init"])
    assert result.exit_code == 0, result.output
    assert f"created folder {db.parent} for the database" in result.stderr
    again = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "init"])
    assert "created folder" not in again.stderr


@pytest.mark.parametrize(("value", "kind"), [("42", "a number"), ("null", "null"),
                                             ('["a"]', "an array"), ("true", "true/false")])
@pytest.mark.parametrize("command", ["import", "analyze"])
def test_text_that_is_not_a_string_is_reported_as_such(tmp_path: Path, value: str, kind: str,
                                                       command: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(f'{{"id": "a", "text": {value}}}\n{{"id": "b"}}\n{{"text": "  "}}\n')
    args = [str(path)] if command == "import" else ["--jsonl", str(path)]
    result = CliRunner().invoke(cli, [*no_config(tmp_path), command, *args])
    assert result.exit_code == 1
    assert f"line 1: 'text' must be a string, got {kind}" in result.stderr
    assert "line 2: no 'text' field" in result.stderr
    assert "line 3: 'text' is empty" in result.stderr


def test_import_off_a_terminal_prints_progress_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "text": f"{TEXT} Story {i}."}) + "\n"
                            for i in range(3)))
    result = CliRunner().invoke(cli, [*no_config(tmp_path), "import", str(path)])
    assert result.exit_code == 0, result.output
    progress = [ln for ln in result.stderr.splitlines() if ln.startswith("entities:")]
    assert progress == ["entities: 3/3 articles (100%)"]


def test_progress_lines_every_tenth_or_every_30_seconds() -> None:
    lines: list[str] = []
    clock = [0.0]
    progress = ProgressLines(lines.append, every=30.0, clock=lambda: clock[0])
    progress.start("entities", 2000)
    for _ in range(40):  # 400 of 2000 in steps of 10: a line at 200 and at 400
        progress.advance(10)
    assert lines == ["entities: 200/2000 articles (10%)", "entities: 400/2000 articles (20%)"]
    clock[0] = 31.0  # a slow stretch: a line after 30 s even without another tenth
    progress.advance(1)
    assert lines[-1] == "entities: 401/2000 articles (20%)"
    progress.advance(1599)
    assert lines[-1] == "entities: 2000/2000 articles (100%)"
    progress.start("fetching", 4)
    progress.advance(1)
    assert lines[-1] == "fetching: 1/4 feeds (25%)"


def test_package_license_is_an_spdx_string_for_a_setuptools_that_takes_it() -> None:
    import re
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml")
                              .read_text())
    assert pyproject["project"]["license"] == "MIT"  # a table is deprecated: a warning per build
    requires = " ".join(pyproject["build-system"]["requires"])
    match = re.search(r"setuptools>=(\d+)", requires)
    assert match and int(match.group(1)) >= 77
