"""feeds.yaml: defaults, validation, and clear errors naming the feed and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, parse_config, parse_duration

ROOT = Path(__file__).resolve().parents[1]


def test_file_with_only_feeds_is_complete() -> None:
    config = parse_config("feeds:\n  - name: a\n    url: https://example.org/feed\n")
    assert config.feeds[0].interval == 1800
    assert config.feeds[0].enabled is True
    assert config.settings.concurrency == 8
    assert config.settings.max_body_bytes == 10 * 1024 * 1024


def test_settings_override_defaults_and_durations_parse() -> None:
    config = parse_config(
        "settings:\n  concurrency: 3\n  timeout_total: 2m\n  contact: ops@example.org\n"
        "feeds:\n  - {name: a, url: 'https://example.org/f', interval: 1h30m, tags: [x]}\n")
    assert config.settings.concurrency == 3
    assert config.settings.timeout_total == 120
    assert config.feeds[0].interval == 5400
    assert config.feeds[0].tags == ("x",)


@pytest.mark.parametrize("value,seconds", [("45s", 45), ("30m", 1800), ("2h", 7200),
                                           ("1d", 86400), (90, 90)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, "x") == seconds


@pytest.mark.parametrize("text,message", [
    ("feeds:\n  - {name: a, url: 'https://e.org/f', colour: red}\n",
     "feed 'a': unknown key 'colour'"),
    ("feeds:\n  - {name: a}\n", "feed 'a': url is missing"),
    ("feeds:\n  - {name: a, url: 'ftp://e.org/f'}\n", "not an absolute http(s) URL"),
    ("feeds:\n  - {name: a, url: 'e.org/f'}\n", "not an absolute http(s) URL"),
    ("feeds:\n  - {name: a, url: 'https://e.org/f', interval: soon}\n", "feed 'a': interval"),
    ("feeds:\n  - {name: a, url: 'https://e.org/f', interval: 0}\n", "must be positive"),
    ("feeds:\n  - {name: a, url: 'https://e.org/f'}\n  - {name: a, url: 'https://e.org/g'}\n",
     "feed 'a': duplicate name"),
    ("settings: {colour: red}\nfeeds: []\n", "unknown setting 'colour'"),
    ("settings: {concurrency: -1}\nfeeds: []\n", "settings.concurrency"),
    ("settings: {digest_timezone: Mars/Olympus}\nfeeds: []\n", "unknown time zone"),
    ("settings: {smtp: {host: h, password: x}}\nfeeds: []\n", "SPACEWATCH_SMTP_PASSWORD"),
    ("feeds: {a: 1}\n", "must be a list"),
    ("feeds: [\n", "feeds.yaml:1:9: expected the node content, but found the end of the file"),
    ("wat: 1\nfeeds: []\n", "unknown top-level key 'wat'"),
])
def test_bad_config_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(text)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_cli_reports_bad_config_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - {name: broken, url: 'notaurl'}\n")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "--config", str(bad), "--db",
                           str(tmp_path / "x.db"), "fetch"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode != 0
    assert "feed 'broken'" in proc.stderr and "http(s) URL" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_project_feeds_yaml_is_valid() -> None:
    config = load_config(ROOT / "feeds.yaml")
    names = {f.name for f in config.feeds}
    assert len(config.feeds) >= 10
    assert {"nasa-news-releases", "spacenews", "tass-en"} <= names
    assert any(f.language == "ru" for f in config.feeds)


# -- issue 11.16: validation up front, with the reason ------------------------------------------


def test_zero_jitter_and_zero_page_delay_mean_none() -> None:
    config = parse_config("settings: {jitter: 0, page_delay: 0s}\nfeeds: []\n")
    assert (config.settings.jitter, config.settings.page_delay) == (0, 0)


def test_interval_under_a_minute_is_refused_with_the_minimum() -> None:
    with pytest.raises(ConfigError, match=r"feed 'a': interval 1s is too short \(minimum 1m"):
        parse_config("feeds:\n  - {name: a, url: 'https://e.org/f', interval: 1s}\n")
    with pytest.raises(ConfigError, match=r"settings.default_interval: 30s is too short "
                                          r"\(minimum 1m"):
        parse_config("settings: {default_interval: 30s}\nfeeds: []\n")
    assert parse_config("feeds:\n  - {name: a, url: 'https://e.org/f', interval: 1m}\n"
                        ).feeds[0].interval == 60


def test_short_interval_is_allowed_for_a_feed_on_this_machine() -> None:
    config = parse_config("feeds:\n  - {name: a, url: 'http://127.0.0.1:8000/f', interval: 1s}\n"
                          "  - {name: b, url: 'http://localhost/f', interval: 5s}\n")
    assert [f.interval for f in config.feeds] == [1, 5]


def test_the_same_feed_url_twice_is_refused_naming_both_feeds() -> None:
    text = ("feeds:\n  - {name: wire, url: 'https://News.example.org/rss?utm_source=x'}\n"
            "  - {name: other, url: 'https://e.org/f'}\n"
            "  - {name: wire-copy, url: 'https://news.example.org:443/rss#top'}\n")
    with pytest.raises(ConfigError, match="feeds 'wire' and 'wire-copy' have the same URL"):
        parse_config(text)


@pytest.mark.parametrize("text,message", [
    ("feeds:\n  - name: a\n    url: b: c\n",
     "feeds.yaml:3:11: mapping values are not allowed here"),
    ("feeds:\n  - {name: a, url: 'https://e.org/f'}\n  - [\n",
     "feeds.yaml:3:6: expected the node content, but found the end of the file"),
    ("feeds:\n\t- a\n", "feeds.yaml:2:1: found character '\\t' that cannot start any token"),
])
def test_yaml_error_names_line_column_and_reason(tmp_path: Path, text: str,
                                                 message: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_missing_nlp_model_is_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    from .httpserver import LocalServer, Reply, items, rss

    with LocalServer() as server:
        url = server.route("/f.xml", Reply(rss(items(2))))
        config = tmp_path / "feeds.yaml"
        config.write_text(f"settings: {{nlp_model: en_no_such_model}}\n"
                          f"feeds:\n  - {{name: f, url: '{url}'}}\n")
        proc = subprocess.run([sys.executable, "-m", "pipeline", "--config", str(config),
                               "--db", str(tmp_path / "x.db"), "fetch"], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        said = [line for line in proc.stderr.splitlines() if "en_no_such_model" in line]
        assert len(said) == 1 and "spaCy model 'en_no_such_model' is not installed" in said[0]
        assert server.hits == {}


def test_missing_nlp_model_stops_import_before_anything_is_stored(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli

    config = tmp_path / "feeds.yaml"
    config.write_text("settings: {nlp_model: en_no_such_model}\nfeeds: []\n")
    records = tmp_path / "in.jsonl"
    records.write_text('{"id": "1", "text": "Roscosmos and NASA met."}\n')
    db = tmp_path / "x.db"
    for args in (["import", str(records)], ["reprocess"], ["analyze", "--jsonl", str(records)]):
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])
        assert isinstance(result.exception, ConfigError), args
        assert "en_no_such_model" in str(result.exception)
    assert not db.exists()


def test_check_nlp_model_does_not_load_spacy() -> None:
    code = ("import sys; from pipeline.config import Settings, check_nlp_model; "
            "check_nlp_model(Settings()); print('spacy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.mark.parametrize(("feed", "expected"), [
    ("{name: off, url: 'https://example.org/feed'}",
     "feed #1: name reads as false (YAML reads unquoted yes/no/on/off/true/false as true or "
     "false): put the name in quotes"),
    ("{name: 2025, url: 'https://example.org/feed'}",
     "feed #1: name reads as the number 2025: put the name in quotes"),
    ("{name: nrk, url: 'https://example.org/feed', language: no}",
     "feed 'nrk': language reads as false (YAML reads unquoted yes/no/on/off/true/false as "
     "true or false): put the code in quotes (language: \"no\")"),
])
def test_an_unquoted_name_or_language_yaml_reads_as_a_boolean_says_to_quote_it(
        feed: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(f"feeds:\n  - {feed}\n")
    assert str(exc.value) == f"feeds.yaml: {expected}"


def test_quoted_the_same_name_and_language_are_text() -> None:
    config = parse_config("feeds:\n  - {name: 'off', url: 'https://example.org/feed', "
                          "language: 'no'}\n")
    assert (config.feeds[0].name, config.feeds[0].language) == ("off", "no")
