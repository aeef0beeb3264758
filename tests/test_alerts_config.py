"""The ``alerts:`` section of feeds.yaml: rules are typed and checked, every mistake is one
line that names the rule and the key."""

from __future__ import annotations

import pytest

from pipeline.config import parse_config
from pipeline.errors import ConfigError

SMTP = "settings:\n  smtp: {host: 127.0.0.1, sender: sw@example.org, to: [desk@example.org]}\n"


def config(rules: str, settings: str = "") -> object:
    return parse_config(f"feeds: []\n{settings}alerts:\n{rules}")


def error(rules: str, settings: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        config(rules, settings)
    return str(caught.value)


def test_a_webhook_rule_is_parsed_with_its_defaults() -> None:
    cfg = config("  - name: iss-desk\n    seeds: ['*']\n    min_score: 0.5\n"
                 "    webhook: http://127.0.0.1:8080/hook\n"
                 "    secret_env: SPACEWATCH_HOOK_SECRET\n")
    (rule,) = cfg.alerts  # type: ignore[attr-defined]
    assert (rule.name, rule.seeds, rule.min_score, rule.channel) == (
        "iss-desk", ("*",), 0.5, "webhook")
    assert rule.webhook == "http://127.0.0.1:8080/hook"
    assert rule.secret_env == "SPACEWATCH_HOOK_SECRET"
    assert rule.covers("anything") and rule.quiet_hours is None and rule.kinds == ()


def test_a_file_without_alerts_has_no_rules() -> None:
    assert parse_config("feeds: []\n").alerts == ()


def test_quiet_hours_kinds_command_and_email_rules() -> None:
    cfg = config("  - name: night\n    seeds: [iss-deorbit]\n    min_score: 0.6\n"
                 "    kinds: [official, AGENCY]\n    quiet_hours: '22:00-07:00'\n"
                 "    command: notify-send -u critical\n"
                 "  - name: mail\n    seeds: [a, b]\n    email: true\n"
                 "  - name: mail-list\n    seeds: '*'\n    email: [x@example.org]\n", SMTP)
    night, mail, listed = cfg.alerts  # type: ignore[attr-defined]
    assert night.kinds == ("OFFICIAL", "AGENCY")
    assert night.quiet_hours == (22 * 60, 7 * 60)
    assert night.command == ("notify-send", "-u", "critical")
    assert not night.covers("other") and night.covers("iss-deorbit")
    assert mail.email == ("desk@example.org",)  # email: true is settings.smtp.to
    assert mail.min_score == 0.4  # settings.match_threshold
    assert listed.email == ("x@example.org",) and listed.seeds == ("*",)


@pytest.mark.parametrize(("rules", "settings", "expected"), [
    ("  - name: a\n    seeds: ['*']\n    webhook: http://x.org/h\n    colour: red\n", "",
     "alert 'a': unknown key 'colour'"),
    ("  - name: a\n    seeds: ['*']\n    webhook: http://x.org/h\n    command: [cat]\n", "",
     "alert 'a': give exactly one channel: webhook, email or command (found webhook, "
     "command)"),
    ("  - name: a\n    seeds: ['*']\n", "", "(found none)"),
    ("  - name: a\n    seeds: ['*']\n    webhook: ftp://x.org/h\n", "",
     "alert 'a': webhook: url 'ftp://x.org/h' is not an absolute http(s) URL"),
    ("  - name: a\n    seeds: ['*']\n    min_score: 2\n    webhook: http://x.org/h\n", "",
     "alert 'a': min_score must be a number between 0 and 1, got 2"),
    ("  - name: a\n    seeds: []\n    webhook: http://x.org/h\n", "", "alert 'a': seeds must"),
    ("  - name: a\n    seeds: ['*']\n    kinds: [ALIEN]\n    webhook: http://x.org/h\n", "",
     "alert 'a': kinds: unknown entity kind 'ALIEN'"),
    ("  - name: a\n    seeds: ['*']\n    quiet_hours: late\n    webhook: http://x.org/h\n", "",
     "alert 'a': quiet_hours must be HH:MM-HH:MM"),
    ("  - name: a\n    seeds: ['*']\n    email: true\n", "",
     "alert 'a': email: true sends to settings.smtp.to, which is empty"),
    ("  - name: a\n    seeds: ['*']\n    email: [nobody]\n", SMTP,
     "alert 'a': email: 'nobody' is not an e-mail address"),
    ("  - name: a\n    seeds: ['*']\n    command: []\n", "", "alert 'a': command is empty"),
    ("  - name: a\n    seeds: ['*']\n    command: \"say 'hi\"\n", "",
     "alert 'a': command \"say 'hi\": No closing quotation"),
    ("  - name: a\n    seeds: ['*']\n    command: [cat]\n    secret_env: S\n", "",
     "alert 'a': secret_env signs webhook bodies only"),
    ("  - name: a\n    seeds: ['*']\n    webhook: http://x.org/h\n    secret_env: 'A B'\n", "",
     "alert 'a': secret_env must be the name of an environment variable"),
    ("  - name: a\n    seeds: ['*']\n    webhook: http://x.org/h\n"
     "  - name: a\n    seeds: ['*']\n    webhook: http://x.org/i\n", "",
     "alert 'a': duplicate name"),
    ("  - name: 'a b'\n    seeds: ['*']\n    webhook: http://x.org/h\n", "",
     "alert #1: name 'a b' is missing or invalid"),
    ("  - just a string\n", "", "alert #1: expected a mapping"),
])
def test_a_bad_rule_is_one_line_naming_the_rule_and_the_key(rules: str, settings: str,
                                                             expected: str) -> None:
    message = error(rules, settings)
    assert expected in message
    assert "\n" not in message


def test_alerts_must_be_a_list() -> None:
    with pytest.raises(ConfigError, match="'alerts:' must be a list of rules"):
        parse_config("feeds: []\nalerts: {name: a}\n")
