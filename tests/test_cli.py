"""The command line: help for every command, README coverage, clear errors, fetch/status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

from .httpserver import LocalServer, Reply, items, rss

ROOT = Path(__file__).resolve().parents[1]


def commands() -> list[str]:
    return sorted(cli.commands)


@pytest.mark.parametrize("name", commands())
def test_every_command_has_help_and_is_in_the_readme(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert len(cli.commands[name].help or "") > 20
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"spacewatch {name}\b", readme), f"README does not mention {name}"


def test_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", quick, re.S)
    assert block is not None
    assert block.group(1).split("\n")[:2] == ["make run", "make test"]
    assert block.group(1).strip().count("\n") == 1


def test_fetch_then_status(tmp_path: Path) -> None:
    with LocalServer() as server:
        url = server.route("/f.xml", Reply(rss(items(3))))
        bad = server.route("/bad.xml", Reply(status=500))
        config = tmp_path / "feeds.yaml"
        config.write_text(f"feeds:\n  - {{name: good, url: '{url}'}}\n"
                          f"  - {{name: broken, url: '{bad}'}}\n"
                          "settings: {full_text: false}\n")
        runner = CliRunner()
        args = ["--db", str(tmp_path / "t.db"), "--config", str(config)]
        result = runner.invoke(cli, [*args, "fetch"])
        assert result.exit_code == 1, result.output  # a feed failed
        assert re.search(r"good\s+ok", result.output)
        assert "failed: http 500" in result.output
        assert "2 feeds: 3 new" in result.output
        status = runner.invoke(cli, [*args, "status"])
        assert status.exit_code == 0
        assert re.search(r"broken .*http 500", status.output)


def test_fetch_unknown_feed_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - {name: a, url: 'http://127.0.0.1:1/f'}\n")
    from pipeline.errors import ConfigError

    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "--config", str(config),
                                      "fetch", "--feed", "nope"])
    assert isinstance(result.exception, ConfigError)
    assert "no feed named 'nope'" in str(result.exception)


def test_init_creates_the_schema_and_registers_feeds(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - {name: a, url: 'http://127.0.0.1:1/f'}\n"
                      "  - {name: b, url: 'http://127.0.0.1:1/g', enabled: false}\n")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "--config", str(config),
                                      "init"])
    assert result.exit_code == 0
    assert "2 feeds configured" in result.output
    from pipeline.store import Store

    with Store(tmp_path / "t.db") as store:
        assert f"(schema version {store.schema_version})" in result.output
        assert store.schema_version >= 7  # 0007_article_versions is applied
        assert [(r["name"], r["enabled"]) for r in store.feed_status()] == [("a", 1), ("b", 0)]
        assert {"articles_fts", "event_log", "event_history", "matches", "article_versions",
                "mentions", "pages"} <= set(
            store.db.table_names()) | set(store.db.view_names())
