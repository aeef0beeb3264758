"""Stored and feed text is printed exactly as it is: never read as rich markup (issue 11.2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from pipeline.cli import cli
from pipeline.store import Store

HOSTILE = ["[/]", "[caption id=1]Photo[/caption]", "[bold red]x", "[link=http://x]y[/link]"]
SEED_TEXT = ("Roscosmos chief Dmitry Bakanov met NASA acting administrator Sean Duffy in "
             "Houston to discuss cross-flights to the International Space Station, the "
             "integrated crew seat swap and the schedule for the ISS deorbit.")


def build(tmp_path: Path, hostile: str) -> list[str]:
    """A database, seeds folder and feeds.yaml holding ``hostile`` in every text field."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "one.md").write_text(f"---\nid: iss-talks\ntitle: '{hostile} ISS talks'\n---\n"
                                  f"{SEED_TEXT}\n", encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\nsettings: {seeds_dir: seeds, full_text: false}\n")
    articles = tmp_path / "a.jsonl"
    articles.write_text(json.dumps({"id": "h1", "title": f"{hostile} Bakanov visits NASA",
                                    "text": SEED_TEXT}) + "\n", encoding="utf-8")
    args = ["--db", str(tmp_path / "t.db"), "--config", str(config)]
    result = CliRunner().invoke(cli, [*args, "import", str(articles)])
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "t.db") as store, store.transaction() as conn:
        conn.execute("INSERT INTO feeds (name, url, created_at, last_outcome, last_error, "
                     "last_fetch_at, error_count) VALUES (?, 'http://127.0.0.1:1/f', "
                     "'2026-01-01T00:00:00Z', 'failed', ?, '2026-01-01T00:00:00Z', 1)",
                     (f"{hostile}feed", f"{hostile} error"))
        conn.execute("INSERT INTO entities (id, name, kind, origin, first_seen_at) VALUES "
                     "('hostile', ?, 'ORGANIZATION', 'ner', '2026-01-01T00:00:00Z')",
                     (f"{hostile} Corp",))
        conn.execute('INSERT INTO mentions (article_id, entity_id, surface, start, "end", '
                     "sentence) SELECT id, 'hostile', 'x', 0, 1, 'x' FROM articles")
    return args


@pytest.mark.parametrize("hostile", HOSTILE)
def test_stored_text_is_printed_verbatim_by_every_command(tmp_path: Path, hostile: str) -> None:
    args = build(tmp_path, hostile)
    runner = CliRunner()
    checks = {
        ("query", "select title from articles"): f"{hostile} Bakanov visits NASA",
        ("query", f"select '{hostile}' as t"): hostile,
        ("status",): f"{hostile}feed",
        ("entities",): f"{hostile} Corp",
        ("explain", "1"): f"{hostile} Bakanov visits NASA",
        ("seeds",): f"{hostile} ISS talks",
    }
    for command, expected in checks.items():
        result = runner.invoke(cli, [*args, *command])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            command, result.exception)
        assert result.exit_code == 0, (command, result.output)
        assert expected in result.output, (command, result.output)
    status = runner.invoke(cli, [*args, "status"])
    assert f"{hostile} error" in status.output


@pytest.mark.parametrize("hostile", HOSTILE)
def test_fetch_pass_table_prints_feed_text_verbatim(hostile: str) -> None:
    from pipeline.cli.render import pass_table
    from pipeline.ingest import PassReport
    from pipeline.records import FeedReport

    report = PassReport(feeds=[FeedReport(feed="f", outcome="failed", error=f"{hostile} err",
                                          notes=[f"{hostile} note"])])
    console = Console(width=120, record=True)  # markup on: the table itself must be safe
    console.print(pass_table(report))
    text = console.export_text()
    assert f"{hostile} err" in text and f"{hostile} note" in text


def test_readme_full_text_example_keeps_its_brackets(tmp_path: Path) -> None:
    args = build(tmp_path, "plain")
    from pipeline.query import EXAMPLES

    search = next(ex for ex in EXAMPLES if "articles_fts" in ex.sql)
    result = CliRunner().invoke(cli, [*args, "query", search.sql, "-p", "q", "deorbit"])
    assert result.exit_code == 0, result.output
    assert "[deorbit]" in result.output
