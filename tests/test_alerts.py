"""Alerts: one per story, a re-alert once on growth, a persistent outbox delivered at least
once and never again after a success, on a webhook, a command or e-mail."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline import alerts
from pipeline.alerts import deliver_due, queue_alerts, quiet_until
from pipeline.config import Config, parse_config
from pipeline.records import iso
from pipeline.store import Store
from pipeline.store.alerts import alert_summary, attempts_of, outbox_rows

from .alert_data import Stories
from .processes import left_after, marked_env
from .webhook import Receiver

PAYLOAD_KEYS = {"idempotency_key", "rule", "seed", "story_id", "score", "headline",
                "first_seen", "reason", "articles"}


def rules_config(rules: str) -> Config:
    return parse_config(f"feeds: []\nalerts:\n{rules}")


def hook_rule(url: str, extra: str = "", name: str = "desk", seeds: str = "['*']") -> str:
    return (f"  - name: {name}\n    seeds: {seeds}\n    min_score: 0.5\n"
            f"    webhook: {url}\n{extra}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hook:
        yield hook


@pytest.fixture
def data(store: Store) -> Stories:
    return Stories(store)


def states(store: Store) -> dict[str, str]:
    return {r.idempotency_key: r.state for r in outbox_rows(store)}


def test_a_story_of_three_articles_alerts_once_with_the_documented_payload(
        store: Store, data: Stories, receiver: Receiver) -> None:
    config = rules_config(hook_rule(receiver.url))
    for language in ("en", "en", "en"):
        data.article(1, language=language, score=0.7)
    data.article(1, score=0.9, feed="other")
    assert queue_alerts(store, config) == 1
    counts = deliver_due(store, config)
    assert (counts.sent, counts.failed, counts.waiting) == (1, 0, 0)
    (got,) = receiver.received
    payload = got.payload
    assert set(payload) == PAYLOAD_KEYS
    assert payload["idempotency_key"] == "desk:1:1"
    assert (payload["rule"], payload["seed"], payload["story_id"], payload["score"]) == (
        "desk", "iss", 1, 0.9)
    assert payload["reason"] == "first alert"
    assert payload["headline"] == "Headline of story 1"
    assert len(payload["articles"]) == 4
    assert set(payload["articles"][0]) == {"url", "title", "feed", "language", "published"}
    assert got.headers["Idempotency-Key"] == "desk:1:1"
    assert got.headers["Content-Type"] == "application/json"
    assert queue_alerts(store, config) == 0  # nothing new: no second row
    data.article(1, language="en")  # one more article in the same language: no growth
    assert queue_alerts(store, config) == 0
    assert deliver_due(store, config).sent == 0
    assert len(receiver.received) == 1


def test_two_stories_two_alerts_and_a_story_below_the_minimum_none(
        store: Store, data: Stories) -> None:
    config = rules_config(hook_rule("http://127.0.0.1:9/h"))
    data.article(1, score=0.6)
    data.article(2, score=0.55)
    data.article(3, score=0.3)
    assert queue_alerts(store, config) == 2
    assert sorted(states(store)) == ["desk:1:1", "desk:2:1"]


def test_a_story_that_gains_a_language_re_alerts_once_and_only_once(
        store: Store, data: Stories, receiver: Receiver) -> None:
    config = rules_config(hook_rule(receiver.url))
    data.article(7)
    queue_alerts(store, config)
    data.article(7, language="ru", match=False)  # the story grows; its score is unchanged
    assert queue_alerts(store, config) == 1
    data.article(7, language="fr", match=False)
    data.article(7, quoted=(("person:borisov", "Yuri Borisov"),), match=False)
    assert queue_alerts(store, config) == 0  # at most two alerts per story and rule
    deliver_due(store, config)
    assert receiver.keys() == ["desk:7:1", "desk:7:2"]
    assert receiver.received[1].payload["reason"] == "re-alert: new language: ru"


def test_a_new_official_quoted_re_alerts(store: Store, data: Stories) -> None:
    config = rules_config(hook_rule("http://127.0.0.1:9/h"))
    data.article(8, quoted=(("person:a", "Official A"),))
    queue_alerts(store, config)
    data.article(8, quoted=(("person:a", "Official A"),), match=False)
    assert queue_alerts(store, config) == 0  # the same official again: no growth
    data.article(8, quoted=(("person:b", "Official B"),), match=False)
    assert queue_alerts(store, config) == 1
    (second,) = [r for r in outbox_rows(store) if r.alert_number == 2]
    assert second.reason == "re-alert: new official quoted: Official B (person:b)"


def test_a_late_match_on_an_old_story_alerts(store: Store, data: Stories) -> None:
    config = rules_config(hook_rule("http://127.0.0.1:9/h"))
    article = data.article(4, score=0.2)
    data.article(4, score=0.1)
    assert queue_alerts(store, config) == 0
    data.match(article, "iss", 0.75)  # a rematch or an import scored it again, later
    assert queue_alerts(store, config) == 1
    (row,) = outbox_rows(store)
    assert json.loads(row.payload)["score"] == 0.75


def test_seeds_kinds_and_rules_choose_which_stories_alert(store: Store,
                                                          data: Stories) -> None:
    config = rules_config(
        hook_rule("http://127.0.0.1:9/h", name="iss-only", seeds="[iss]")
        + hook_rule("http://127.0.0.1:9/h", name="officials", extra="    kinds: [OFFICIAL]\n")
        + hook_rule("http://127.0.0.1:9/h", name="artemis", seeds="[artemis]"))
    data.article(1, seed="iss", kinds=("AGENCY",))
    data.article(2, seed="artemis", kinds=("AGENCY", "OFFICIAL"))
    queue_alerts(store, config)
    assert sorted(states(store)) == ["artemis:2:1", "iss-only:1:1", "officials:2:1"]


def test_the_signature_header_is_the_hmac_of_the_exact_body(
        store: Store, data: Stories, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    config = rules_config(hook_rule(receiver.url, "    secret_env: HOOK_SECRET\n"))
    data.article(1)
    queue_alerts(store, config)
    deliver_due(store, config)
    (got,) = receiver.received
    expected = hmac.new(b"s3cret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-SpaceWatch-Signature"] == f"sha256={expected}"
    wrong = hmac.new(b"other", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-SpaceWatch-Signature"] != f"sha256={wrong}"


def test_a_500_is_retried_later_and_delivered_once(store: Store, data: Stories) -> None:
    with Receiver(statuses=[500, 200]) as hook:
        config = rules_config(hook_rule(hook.url))
        data.article(1)
        queue_alerts(store, config)
        start = datetime.now(UTC)
        first = deliver_due(store, config, now=start)
        assert (first.sent, first.failed, first.waiting) == (0, 1, 1)
        (row,) = outbox_rows(store)
        assert (row.state, row.attempts, row.last_error) == ("pending", 1, "http 500: ok")
        assert row.next_attempt_at >= iso(start + timedelta(seconds=alerts.BACKOFF_BASE))
        assert deliver_due(store, config, now=start).sent == 0  # not due yet
        later = start + timedelta(seconds=alerts.BACKOFF_BASE + 1)
        assert deliver_due(store, config, now=later).sent == 1
        assert deliver_due(store, config, now=later + timedelta(hours=5)).sent == 0
        assert [r.status for r in hook.received] == [500, 200]
    attempts = attempts_of(store, row.id)
    assert [(a["ok"], a["status"]) for a in attempts] == [(0, "http 500"), (1, "http 200")]
    assert states(store) == {"desk:1:1": "delivered"}


def test_an_alert_that_keeps_failing_ends_as_failed_and_shows_in_the_summary(
        store: Store, data: Stories) -> None:
    with Receiver(statuses=[503]) as hook:
        config = rules_config(hook_rule(hook.url))
        data.article(1)
        queue_alerts(store, config)
        when = datetime.now(UTC)
        for _ in range(alerts.MAX_ATTEMPTS + 2):
            deliver_due(store, config, now=when)
            when += timedelta(seconds=alerts.BACKOFF_MAX + 1)
        assert len(hook.received) == alerts.MAX_ATTEMPTS
    (row,) = outbox_rows(store)
    assert (row.state, row.attempts) == ("failed", alerts.MAX_ATTEMPTS)
    summary = alert_summary(store)
    assert summary is not None
    assert (summary.failed, summary.pending) == (1, 0)
    assert summary.failures[0].last_error == "http 503: ok"


def test_backoff_doubles_up_to_its_cap(store: Store, data: Stories) -> None:
    with Receiver(statuses=[500]) as hook:
        config = rules_config(hook_rule(hook.url))
        data.article(1)
        queue_alerts(store, config)
        when = datetime.now(UTC).replace(microsecond=0)
        gaps = []
        for _ in range(alerts.MAX_ATTEMPTS - 1):
            deliver_due(store, config, now=when)
            (row,) = outbox_rows(store)
            gaps.append((datetime.fromisoformat(row.next_attempt_at) - when).total_seconds())
            when = datetime.fromisoformat(row.next_attempt_at)
    assert gaps[:3] == [30.0, 60.0, 120.0]
    assert max(gaps) == alerts.BACKOFF_MAX


def test_a_hanging_receiver_times_out_and_the_alert_waits(store: Store, data: Stories) -> None:
    with Receiver() as hook:
        hook.hold = threading.Event()
        config = rules_config(hook_rule(hook.url, "    timeout: 1s\n"))
        data.article(1)
        queue_alerts(store, config)
        counts = deliver_due(store, config)
        hook.hold.set()
    assert (counts.sent, counts.failed, counts.waiting) == (0, 1, 1)
    (row,) = outbox_rows(store)
    assert row.state == "pending"
    assert row.last_error is not None and row.last_error.startswith("read timeout")


def test_an_unreachable_webhook_is_a_named_failure(store: Store, data: Stories) -> None:
    config = rules_config(hook_rule("http://127.0.0.1:9/nothing-listens"))
    data.article(1)
    queue_alerts(store, config)
    deliver_due(store, config)
    (row,) = outbox_rows(store)
    assert row.last_error is not None and row.last_error.startswith("connection failed")


def command_rule(argv: list[str], extra: str = "") -> str:
    return (f"  - name: cmd\n    seeds: ['*']\n    min_score: 0.5\n"
            f"    command: {json.dumps(argv)}\n{extra}")


def test_a_command_gets_the_json_on_stdin(store: Store, data: Stories, tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    script = ("import os, sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes("
              "sys.stdin.buffer.read() + b'\\n' + os.environ['SPACEWATCH_ALERT_KEY'].encode())")
    config = rules_config(command_rule([sys.executable, "-c", script, str(out)]))
    data.article(5)
    queue_alerts(store, config)
    assert deliver_due(store, config).sent == 1
    body, key = out.read_bytes().rsplit(b"\n", 1)
    assert json.loads(body)["idempotency_key"] == key.decode() == "cmd:5:1"


def test_a_failing_command_is_retried_and_its_exit_status_named(
        store: Store, data: Stories) -> None:
    config = rules_config(command_rule(
        [sys.executable, "-c", "import sys; sys.stderr.write('no route'); sys.exit(3)"]))
    data.article(5)
    queue_alerts(store, config)
    assert deliver_due(store, config).failed == 1
    (row,) = outbox_rows(store)
    assert (row.state, row.last_error) == ("pending", "exit 3: no route")


def test_a_command_that_hangs_is_killed_with_its_children(store: Store, data: Stories) -> None:
    marker, env = marked_env()
    script = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
              "'import time; time.sleep(120)']); time.sleep(120)")
    config = rules_config(command_rule([sys.executable, "-c", script], "    timeout: 2s\n"))
    data.article(5)
    queue_alerts(store, config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("os.environ", env)
        counts = deliver_due(store, config)
    assert counts.failed == 1
    (row,) = outbox_rows(store)
    assert row.last_error is not None and row.last_error.startswith("command timeout")
    assert left_after(marker, timeout=30) == []


def test_a_missing_command_is_a_named_failure(store: Store, data: Stories) -> None:
    config = rules_config(command_rule(["/nonexistent/notify"]))
    data.article(5)
    queue_alerts(store, config)
    deliver_due(store, config)
    (row,) = outbox_rows(store)
    assert row.last_error == "command not found: /nonexistent/notify"


def test_quiet_hours_hold_alerts_until_they_end(store: Store, data: Stories,
                                                receiver: Receiver) -> None:
    config = rules_config(hook_rule(receiver.url, "    quiet_hours: 22:00-07:00\n"))
    data.article(1)
    night = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    queue_alerts(store, config, now=night)
    (row,) = outbox_rows(store)
    assert row.next_attempt_at == "2026-03-02T07:00:00Z"
    assert deliver_due(store, config, now=night + timedelta(hours=7)).sent == 0
    assert receiver.received == []
    assert deliver_due(store, config, now=datetime(2026, 3, 2, 7, 1, tzinfo=UTC)).sent == 1


def test_a_retry_that_falls_in_quiet_hours_waits_for_their_end(
        store: Store, data: Stories, receiver: Receiver) -> None:
    config = rules_config(hook_rule(receiver.url, "    quiet_hours: 13:00-14:00\n"))
    data.article(1)
    queue_alerts(store, config, now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert deliver_due(store, config, now=datetime(2026, 3, 1, 13, 10, tzinfo=UTC)).sent == 0
    (row,) = outbox_rows(store)
    assert (row.next_attempt_at, row.attempts) == ("2026-03-01T14:00:00Z", 0)


@pytest.mark.parametrize(("hours", "at", "until"), [
    ("22:00-07:00", "23:30", "2026-03-02T07:00"),
    ("22:00-07:00", "03:00", "2026-03-01T07:00"),
    ("22:00-07:00", "07:00", None),
    ("22:00-07:00", "12:00", None),
    ("13:00-14:00", "13:59", "2026-03-01T14:00"),
])
def test_quiet_until_spans_midnight(hours: str, at: str, until: str | None) -> None:
    (rule,) = rules_config(hook_rule("http://127.0.0.1:9/h",
                                     f"    quiet_hours: '{hours}'\n")).alerts
    from zoneinfo import ZoneInfo

    h, m = (int(x) for x in at.split(":"))
    end = quiet_until(rule, datetime(2026, 3, 1, h, m, tzinfo=UTC), ZoneInfo("UTC"))
    assert (end.strftime("%Y-%m-%dT%H:%M") if end else None) == until


def test_a_new_store_on_the_same_file_delivers_every_due_alert(tmp_path: Path,
                                                                receiver: Receiver) -> None:
    config = rules_config(hook_rule(receiver.url))
    with Store(tmp_path / "sw.db") as first:
        data = Stories(first)
        for story in (1, 2, 3):
            data.article(story)
        assert queue_alerts(first, config) == 3
    with Store(tmp_path / "sw.db") as second:
        assert deliver_due(second, config).sent == 3
        assert deliver_due(second, config).sent == 0
    assert sorted(receiver.keys()) == ["desk:1:1", "desk:2:1", "desk:3:1"]


def test_a_claim_of_a_dead_sender_is_taken_over_and_a_live_one_is_not(
        store: Store, data: Stories, receiver: Receiver) -> None:
    config = rules_config(hook_rule(receiver.url))
    data.article(1)
    data.article(2)
    queue_alerts(store, config)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    later = iso(datetime.now(UTC) + timedelta(hours=1))
    with store.transaction() as conn:
        conn.execute("UPDATE alert_outbox SET claimed_by = ?, claimed_until = ? "
                     "WHERE story_id = 1", (dead.pid, later))
        conn.execute("UPDATE alert_outbox SET claimed_by = ?, claimed_until = ? "
                     "WHERE story_id = 2", (__import__("os").getppid(), later))
    assert deliver_due(store, config).sent == 1
    assert receiver.keys() == ["desk:1:1"]


def test_an_alert_whose_rule_was_removed_fails_for_good(store: Store, data: Stories) -> None:
    data.article(1)
    queue_alerts(store, rules_config(hook_rule("http://127.0.0.1:9/h")))
    counts = deliver_due(store, rules_config(hook_rule("http://127.0.0.1:9/h", name="other")))
    assert (counts.gave_up, counts.waiting) == (1, 0)
    (row,) = outbox_rows(store)
    assert row.state == "failed" and row.last_error is not None
    assert row.last_error.startswith("rule removed")


def test_a_rule_added_later_alerts_on_what_happens_from_then_on(store: Store,
                                                                 data: Stories) -> None:
    data.article(1)
    with store.transaction() as conn:  # it joined its story an hour ago
        conn.execute("UPDATE story_articles SET joined_at = ?",
                     (iso(datetime.now(UTC) - timedelta(hours=1)),))
    data.article(2)
    assert queue_alerts(store, parse_config("feeds: []\n")) == 0
    config = rules_config(hook_rule("http://127.0.0.1:9/h"))
    queue_alerts(store, config)  # (story 2 changed minutes ago: it may alert)
    data.article(3)
    queue_alerts(store, config)
    assert "desk:3:1" in states(store)
    assert "desk:1:1" not in states(store)


def test_a_deadline_in_the_past_sends_nothing_and_leaves_the_alerts_pending(
        store: Store, data: Stories, receiver: Receiver) -> None:
    import time

    config = rules_config(hook_rule(receiver.url))
    data.article(1)
    queue_alerts(store, config)
    counts = deliver_due(store, config, deadline=time.monotonic() - 1)
    assert (counts.sent, counts.waiting) == (0, 1)
    assert receiver.received == []


def test_an_email_alert_goes_through_the_smtp_settings_and_is_delivered_once(
        store: Store, data: Stories, monkeypatch: pytest.MonkeyPatch) -> None:
    import email
    from email import policy

    from .test_digest import SmtpSink

    monkeypatch.delenv("SPACEWATCH_SMTP_USER", raising=False)
    monkeypatch.delenv("SPACEWATCH_SMTP_PASSWORD", raising=False)
    sink = SmtpSink()
    try:
        config = parse_config(
            "feeds: []\nsettings:\n  smtp: {host: 127.0.0.1, port: " + str(sink.port)
            + ", tls: false, sender: sw@example.org, to: [desk@example.org]}\nalerts:\n"
            "  - name: mail\n    seeds: ['*']\n    email: [duty@example.org]\n")
        data.article(1, title="Bakanov [meets] <b>Duffy</b>")
        queue_alerts(store, config)
        assert deliver_due(store, config).sent == 1
        assert deliver_due(store, config).sent == 0
        (message,) = sink.messages
    finally:
        sink.close()
    msg = email.message_from_bytes(message[2], policy=policy.default)
    assert msg["To"] == "duty@example.org"
    assert "Headline of story 1" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert '"idempotency_key": "mail:1:1"' in text
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;Duffy&lt;/b&gt;" in html and "<b>Duffy" not in html


def test_a_claim_outlasts_the_longest_send_of_its_channel() -> None:
    # A webhook's connect, write and read are each bounded by the timeout, an e-mail's every
    # SMTP step by SMTP_TIMEOUT: the claim must not lapse while a send may still deliver.
    from pipeline.digest import SMTP_TIMEOUT

    config = parse_config(
        "feeds: []\nsettings:\n  smtp: {host: 127.0.0.1, sender: a@example.org, "
        "to: [b@example.org]}\nalerts:\n" + hook_rule("http://127.0.0.1:9/h", "    timeout: 10s\n")
        + "  - {name: mail, seeds: ['*'], email: true}\n"
        "  - {name: cmd, seeds: ['*'], command: ['true'], timeout: 7s}\n")
    hook, mail, cmd = config.alerts
    assert alerts.longest_send(hook) >= 3 * 10
    assert alerts.longest_send(mail) >= 5 * SMTP_TIMEOUT
    assert alerts.longest_send(cmd) >= 7


def test_a_row_another_sender_tried_since_it_was_read_is_not_claimed(
        store: Store, data: Stories) -> None:
    from pipeline.store.alerts import claim, due_alerts

    data.article(1)
    queue_alerts(store, rules_config(hook_rule("http://127.0.0.1:9/h")))
    now = iso(datetime.now(UTC))
    (row,) = due_alerts(store, now)
    with store.transaction() as conn:  # meanwhile another sender failed it: due in 30 s
        conn.execute("UPDATE alert_outbox SET next_attempt_at = ?",
                     (iso(datetime.now(UTC) + timedelta(seconds=30)),))
    assert not claim(store, row.id, 4242, iso(datetime.now(UTC) + timedelta(minutes=1)), now)


def test_a_lapsed_senders_failure_leaves_the_new_claim_and_a_success_always_counts(
        store: Store, data: Stories) -> None:
    from pipeline.store.alerts import record_attempt

    data.article(1)
    queue_alerts(store, rules_config(hook_rule("http://127.0.0.1:9/h")))
    later = iso(datetime.now(UTC) + timedelta(minutes=5))
    with store.transaction() as conn:  # sender 2 took the row over from sender 1
        conn.execute("UPDATE alert_outbox SET claimed_by = 2, claimed_until = ?", (later,))
    now = iso(datetime.now(UTC))
    record_attempt(store, 1, 1, attempted_at=now, ok=False, status="http 500", error="x",
                   duration_ms=5, state="pending", next_attempt_at=now)
    row = store.rows("SELECT state, attempts, claimed_by FROM alert_outbox")[0]
    assert (row["state"], row["attempts"], row["claimed_by"]) == ("pending", 0, 2)
    assert len(attempts_of(store, 1)) == 1  # the attempt itself is in the log
    record_attempt(store, 1, 1, attempted_at=now, ok=True, status="http 200", error=None,
                   duration_ms=5, state="delivered", next_attempt_at=None)
    assert states(store) == {"desk:1:1": "delivered"}


def test_an_article_of_unknown_language_is_no_new_language(store: Store, data: Stories) -> None:
    config = rules_config(hook_rule("http://127.0.0.1:9/h"))
    data.article(9)
    queue_alerts(store, config)
    data.article(9, language="und", match=False)
    assert queue_alerts(store, config) == 0


def test_the_analysts_merge_and_split_send_no_alert_again(store: Store, data: Stories) -> None:
    from pipeline.stories import merge_stories, split_story

    config = rules_config(hook_rule("http://127.0.0.1:9/h"))
    first = data.article(10)
    data.article(10)
    data.article(11, language="ru")
    assert queue_alerts(store, config) == 2  # desk:10:1, desk:11:1
    merge_stories(store, 10, 11)  # story 10 now has a Russian article: not news
    new = split_story(store, 10, [first])  # the same report, now a story of its own
    assert queue_alerts(store, config) == 0
    assert sorted(r.idempotency_key for r in outbox_rows(store)) == ["desk:10:1", "desk:11:1"]
    assert new not in {r.story_id for r in outbox_rows(store)}
