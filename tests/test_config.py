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
    ("feeds: [\n", "not valid YAML"),
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
