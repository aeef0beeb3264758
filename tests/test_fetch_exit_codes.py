"""``fetch`` exit codes say whether every feed worked (11.8): 0 all fetched, unchanged or
skipped; 1 any feed failed; 2 nothing could run (usage or configuration)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli, main

from .httpserver import LocalServer, Reply, items, rss


def write_config(tmp_path: Path, feeds: dict[str, str]) -> list[str]:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n" + "".join(f"  - {{name: {n}, url: '{u}'}}\n"
                                           for n, u in feeds.items())
                      + "settings: {full_text: false, backoff_base: 3600}\n")
    return ["--db", str(tmp_path / "t.db"), "--config", str(config)]


def test_fetch_exits_1_when_every_feed_failed(tmp_path: Path) -> None:
    with LocalServer() as server:
        args = write_config(tmp_path, {"a": server.route("/a", Reply(status=500)),
                                       "b": server.route("/b", Reply(status=404))})
        result = CliRunner().invoke(cli, [*args, "fetch"])
    assert result.exit_code == 1, result.output
    assert "2 feeds: 0 new, 0 updated, 2 failed, 0 skipped" in result.output


def test_fetch_exits_0_when_all_ok_unchanged_or_skipped_and_counts_the_skipped(
        tmp_path: Path) -> None:
    with LocalServer() as server:
        ok = server.route("/ok", Reply(rss(items(2))))
        bad = server.route("/bad", Reply(status=500))
        args = write_config(tmp_path, {"good": ok, "broken": bad})
        runner = CliRunner()
        first = runner.invoke(cli, [*args, "fetch"])
        assert first.exit_code == 1, first.output
        # broken is now inside its backoff window: skipped, which is not a failure.
        second = runner.invoke(cli, [*args, "fetch"])
    assert second.exit_code == 0, second.output
    assert "2 feeds: 0 new, 0 updated, 0 failed, 1 skipped (backoff)" in second.output


def test_fetch_usage_and_config_errors_exit_2(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    args = write_config(tmp_path, {"a": "http://127.0.0.1:1/a"})
    for argv in ([*args, "fetch", "--feed", "nope"], [*args, "fetch", "--bogus"],
                 ["--db", str(tmp_path / "t.db"), "--config", str(tmp_path / "none.yaml"),
                  "fetch"]):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("sys.argv", ["spacewatch", *argv])
            with pytest.raises(SystemExit) as exit_:
                main()
        assert exit_.value.code == 2, argv


def test_fetch_help_and_readme_document_the_exit_codes() -> None:
    help_text = CliRunner().invoke(cli, ["fetch", "--help"]).output
    assert "0 when every feed" in help_text and "1 when any feed failed" in help_text
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "Exit codes" in readme and "any feed failed" in readme
