"""``spacewatch demo`` runs the pipeline end to end offline on the bundled sample feeds."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.demo import DemoServer, render
from pipeline.store import Store


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), "demo",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 feeds: 31 new, 0 updated, 0 failed" in result.output
    assert "second pass: 0 new, 0 updated, 4 feeds answered 304" in result.output
    assert "stories: " in result.output and " outlets, en" in result.output
    with Store(out / "demo.db") as store:
        assert store.scalar("SELECT count(*) FROM articles") == 31
        # The syndicated Zakharova story is one article linked to two feeds.
        rows = store.rows("SELECT a.id, count(s.id) AS n FROM articles a JOIN article_sources s "
                          "ON s.article_id = a.id GROUP BY a.id HAVING n > 1")
        assert len(rows) == 1


def test_demo_server_fills_placeholders() -> None:
    from datetime import UTC, datetime

    today = datetime(2025, 7, 16, 12, 0, tzinfo=UTC)
    text = render("<pubDate>{{date:1:08:30}}</pubDate> <a href='{{base}}/x'>"
                  "<time>{{date:0:13:00}}</time>", "http://127.0.0.1:9", today)
    assert "<pubDate>Tue, 15 Jul 2025 08:30:00 GMT</pubDate>" in text
    assert "http://127.0.0.1:9/x" in text
    assert "<time>2025-07-15T13:00:00Z</time>" in text  # later today -> yesterday
    with DemoServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert len(server.feed_names()) == 4
