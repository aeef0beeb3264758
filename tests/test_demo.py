"""``spacewatch demo`` runs the pipeline end to end offline on the bundled sample feeds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.demo import DemoServer, render
from pipeline.store import Store

from .conftest import Runner
from .processes import alive
from .webhook import Received, Receiver

#: The demo's alert rule's minimum (``demo --webhook URL --min-score``).
MIN_SCORE = 0.7


@dataclass
class DemoRun:
    out: Path
    exit_code: int
    output: str
    url: str
    received: list[Received]
    left: list[psutil.Process]  # processes the demo started that were still running after it


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One demo for the module, alerting a local webhook receiver (the demo is slow)."""
    tmp = tmp_path_factory.mktemp("demo")
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    with Receiver() as receiver:
        result = CliRunner().invoke(cli, ["--config", str(tmp / "none.yaml"), "demo",
                                          "--out", str(tmp / "demo"), "--webhook",
                                          receiver.url, "--min-score", str(MIN_SCORE)])
        received = list(receiver.received)
    # What the demo started and left (an earlier test's helper process is not the demo's).
    left = [c for c in psutil.Process().children(recursive=True)
            if c.pid not in before and alive(c)]
    return DemoRun(tmp / "demo", result.exit_code, result.output, receiver.url, received,
                   left)


def test_demo_runs_end_to_end(demo_run: DemoRun) -> None:
    out, result = demo_run.out, demo_run
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


def test_demo_with_a_webhook_posts_one_alert_per_story_that_reaches_the_minimum(
        demo_run: DemoRun) -> None:
    assert demo_run.exit_code == 0, demo_run.output
    with Store(demo_run.out / "demo.db") as store:
        wanted = {r[0] for r in store.conn.execute(
            "SELECT DISTINCT sa.story_id FROM event_log e JOIN story_articles sa "
            "ON sa.article_id = e.article_id JOIN stories s ON s.id = sa.story_id "
            "WHERE s.merged_into IS NULL AND e.score >= ?", (MIN_SCORE,))}
        stories = {r[0]: r[1] for r in store.conn.execute("SELECT id, headline FROM stories")}
        delivered = store.scalar("SELECT count(*) FROM alert_outbox WHERE state = 'delivered'")
    assert wanted  # the demo has stories worth an alert
    payloads = [r.payload for r in demo_run.received]
    keys = [p["idempotency_key"] for p in payloads]
    assert len(keys) == len(set(keys))  # no key twice
    assert sorted(p["story_id"] for p in payloads) == sorted(wanted)  # one POST per story
    assert delivered == len(wanted)
    for got in demo_run.received:
        payload = got.payload
        assert set(payload) == {"idempotency_key", "rule", "seed", "story_id", "score",
                                "headline", "first_seen", "reason", "articles"}
        assert got.headers["Idempotency-Key"] == payload["idempotency_key"]
        assert payload["rule"] == "demo" and payload["reason"] == "first alert"
        assert payload["score"] >= MIN_SCORE
        assert payload["headline"] == stories[payload["story_id"]]
        assert payload["articles"] and set(payload["articles"][0]) == {
            "url", "title", "feed", "language", "published"}
    assert f"alerts: {len(wanted)} sent to {demo_run.url}" in demo_run.output
    assert demo_run.left == []


def test_demo_with_an_unreachable_webhook_says_so_in_one_line_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery is the demo's last step: a closed port is a named failure, not a traceback
    (the passes themselves are stubbed out here: they are slow and tested above)."""
    import socket

    from pipeline.cli import service
    from pipeline.ingest import PassReport

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/hook"

    def one_story_pass(store: Store, config: object, **_kw: object) -> PassReport:
        from .alert_data import Stories

        if not store.scalar("SELECT count(*) FROM stories"):
            Stories(store).article(1, seed="s", score=0.9)
            from pipeline.alerts import queue_alerts

            queue_alerts(store, config)  # type: ignore[arg-type]
        return PassReport()

    monkeypatch.setattr(service, "run_pass", one_story_pass)
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), "demo",
                                      "--out", str(tmp_path / "demo"), "--webhook", closed])
    assert result.exit_code == 1, result.output
    assert f"alerts: 0 sent to {closed}; 1 not delivered (connection failed" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--webhook", "ftp://127.0.0.1/x"], "--webhook: url 'ftp://127.0.0.1/x' is not an "
                                         "absolute http(s) URL"),
    (["--min-score", "0.5"], "--min-score is the --webhook rule's minimum: give --webhook "
                             "URL too"),
])
def test_demo_refuses_a_bad_webhook_before_it_starts(tmp_path: Path, args: list[str],
                                                    message: str, run: Runner) -> None:
    code, _out, err = run(tmp_path, "demo", "--out", str(tmp_path / "demo"), *args)
    assert code == 2 and err.strip() == f"error: {message}"
    assert not (tmp_path / "demo").exists()


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
