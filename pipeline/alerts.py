"""Alerts: push a followed story the moment it qualifies, once, through a persistent outbox.

**Queueing** (:func:`queue_alerts`, run by every pass after matching and the stories step):
incremental, from two watermarks in ``meta`` — the last ``matches.id`` seen (so a match
found by ``fetch``, ``import``, ``rematch`` or the daemon, a late one on an old story too,
is seen once) and the latest ``story_articles.joined_at`` (so a story that grows is looked
at again). For each touched story and each rule, the story qualifies when its score for
one of the rule's seeds — the best current event-log score among its articles — reaches
``min_score`` and every kind in ``kinds`` is among its articles' entities. The first time,
one outbox row is written (alert 1, reason "first alert"). The **re-alert rule**: once
alert 1 exists, the story alerts once more (alert 2, never a third) when it gains a
language it did not have at alert 1, or an official (an OFFICIAL entity) is quoted who was
not quoted at alert 1. The idempotency key is ``<rule>:<story id>:<alert number>``.

**Delivery** (:func:`deliver_due`): due pending rows are claimed, sent outside any
transaction, and each attempt is recorded with the row's new state in its own transaction.
A row is marked delivered only after a 2xx (webhook), an accepted SMTP send (email) or exit
status 0 (command). A failure is one named reason (as :mod:`pipeline.fetch` names a fetch's)
and backs off exponentially (:data:`BACKOFF_BASE` doubling to :data:`BACKOFF_MAX`, or the
receiver's Retry-After) until :data:`MAX_ATTEMPTS`, then the row is ``failed``. Quiet hours
move the next attempt to their end. A crash between a send and its record means the alert
is sent again (at-least-once): receivers dedupe by the idempotency key, which is in the
payload and in the ``Idempotency-Key`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from . import __version__
from .config import AlertRule, Config, Settings
from .errors import SpaceWatchError
from .records import iso, now_utc, parse_iso
from .store import Store
from .store.alerts import (
    MATCH_WATERMARK,
    SINCE,
    STORY_WATERMARK,
    NewAlert,
    OutboxRow,
    StoryFacts,
    alerts_of_story,
    claim,
    due_alerts,
    insert_alerts,
    meta_value,
    postpone,
    record_attempt,
    stories_to_check,
    story_facts,
)

#: A story alerts at most this often per rule: the first alert and one re-alert.
MAX_ALERTS_PER_STORY = 2
#: Attempts before an alert is given up as ``failed`` (about 5 hours of retries).
MAX_ATTEMPTS = 12
#: Seconds before the first retry; doubled at each further one, up to BACKOFF_MAX.
BACKOFF_BASE = 30.0
BACKOFF_MAX = 3600.0
#: Articles listed in a payload (the earliest first).
PAYLOAD_ARTICLES = 50
#: Stories joined this long before the watermark are looked at again (a slower writer's
#: rows committed after a faster one's); queueing is idempotent, so this only costs a little.
JOIN_SLACK = timedelta(minutes=2)
#: A claim lasts the longest a send can take on its channel plus this (a claim of a dead
#: process is taken over at once, so a long claim costs nothing after a crash).
CLAIM_MARGIN = 30.0
#: Steps of an SMTP session, each bounded by the digest's SMTP_TIMEOUT (connect, EHLO,
#: STARTTLS, login, the message, QUIT).
SMTP_STEPS = 6
#: Bytes of a webhook's reply read (its body is only kept for the error message).
REPLY_BYTES = 64 * 1024
SIGNATURE_HEADER = "X-SpaceWatch-Signature"
KEY_HEADER = "Idempotency-Key"
FIRST = "first alert"


class AlertError(SpaceWatchError):
    """An alert command was given something it cannot work with (an unknown seed, …)."""


@dataclass(frozen=True)
class SendOutcome:
    """What one send came to: ``status`` is a fixed short reason ("http 200", "read
    timeout", "exit 2", "command timeout", "smtp accepted" …), ``detail`` the particulars."""

    ok: bool
    status: str
    detail: str | None = None
    duration_ms: int = 0
    retry_after: float | None = None


@dataclass(frozen=True)
class DeliveryCounts:
    """What one :func:`deliver_due` did, and what is left."""

    sent: int = 0
    failed: int = 0  # attempts that failed in this run (retried later unless gave_up)
    gave_up: int = 0  # alerts that became ``failed`` in this run
    waiting: int = 0  # pending alerts left (due later, quiet hours, or not reached)
    next_attempt_at: str | None = None


# -- queueing ----------------------------------------------------------------------------------


def queue_alerts(store: Store, config: Config, *, now: datetime | None = None) -> int:
    """Write an outbox row for every (rule, story) that newly qualifies or has grown by the
    re-alert rule, since the watermarks; returns the rows written. The watermarks advance
    with the rows (one transaction), also when no rule is configured: a rule applies to
    matches and stories from the time it is in feeds.yaml."""
    now = now or now_utc()
    match_after = int(meta_value(store, MATCH_WATERMARK, "0") or 0)
    joined = meta_value(store, STORY_WATERMARK, "")
    joined_since = iso(parse_iso(joined) - JOIN_SLACK) if joined else ""
    story_ids, last_match, last_join = stories_to_check(store, match_after, joined_since)
    new: list[NewAlert] = []
    if config.alerts:
        since = meta_value(store, SINCE, "")
        tz = ZoneInfo(config.settings.digest_timezone)
        for story_id in story_ids:
            facts = story_facts(store, story_id, since, PAYLOAD_ARTICLES)
            if facts is None or not facts.recent:
                continue
            queued = alerts_of_story(store, story_id)
            for rule in config.alerts:
                alert = _next_alert(rule, facts, queued.get(rule.name, []), now, tz)
                if alert is not None:
                    new.append(alert)
    watermarks = {MATCH_WATERMARK: str(max(last_match, match_after))}
    if last_join and last_join > joined:
        watermarks[STORY_WATERMARK] = last_join
    if not new and len(watermarks) == 1 and last_match <= match_after:
        return 0  # nothing new anywhere: no write
    return insert_alerts(store, new, watermarks, iso(now))


def _next_alert(rule: AlertRule, facts: StoryFacts, queued: list[tuple[int, dict[str, Any]]],
                now: datetime, tz: ZoneInfo) -> NewAlert | None:
    """The alert this rule owes this story now, if any."""
    scores = [(score, seed) for seed, score in facts.scores.items()
              if rule.covers(seed) and score >= rule.min_score]
    if not scores or not set(rule.kinds) <= facts.kinds:
        return None
    score, seed = min(scores, key=lambda s: (-s[0], s[1]))  # best; ties by seed id
    if not queued:
        number, reason = 1, FIRST
    elif len(queued) >= MAX_ALERTS_PER_STORY:
        return None
    else:
        growth = story_growth(queued[0][1], facts)
        if not growth:
            return None
        number, reason = len(queued) + 1, "re-alert: " + "; ".join(growth)
    key = f"{rule.name}:{facts.story_id}:{number}"
    payload = alert_payload(key, rule.name, seed, facts, score, reason)
    basis = {"languages": sorted(facts.languages), "officials": sorted(facts.officials)}
    quiet = quiet_until(rule, now, tz)
    return NewAlert(idempotency_key=key, rule=rule.name, channel=rule.channel,
                    target=rule.target, seed_id=seed, story_id=facts.story_id,
                    alert_number=number, reason=reason, payload=json.dumps(payload,
                                                                           ensure_ascii=False),
                    basis=json.dumps(basis), next_attempt_at=iso(quiet or now))


def story_growth(basis: dict[str, Any], facts: StoryFacts) -> list[str]:
    """Why the story has grown since its first alert (``basis``), by the re-alert rule: each
    language it did not have, each official quoted who was not. Empty: no re-alert."""
    reasons = [f"new language: {code}"
               for code in sorted(facts.languages - set(basis.get("languages", ())))]
    known = set(basis.get("officials", ()))
    reasons += [f"new official quoted: {name} ({entity})"
                for entity, name in sorted(facts.officials.items()) if entity not in known]
    return reasons


def alert_payload(key: str, rule: str, seed: str, facts: StoryFacts, score: float,
                  reason: str) -> dict[str, Any]:
    """The JSON an alert carries, on every channel (see README, "Alerts")."""
    return {
        "idempotency_key": key,
        "rule": rule,
        "seed": seed,
        "story_id": facts.story_id,
        "score": round(score, 3),
        "headline": facts.headline,
        "first_seen": facts.first_seen,
        "reason": reason,
        "articles": [{"url": a.url, "title": a.title, "feed": a.feed, "language": a.language,
                      "published": a.published} for a in facts.articles],
    }


def quiet_until(rule: AlertRule, when: datetime, tz: ZoneInfo) -> datetime | None:
    """The end of the rule's quiet hours when ``when`` falls inside them (local time in
    ``tz``), else None. 22:00-07:00 spans midnight; 13:00-14:00 does not."""
    if rule.quiet_hours is None:
        return None
    start, end = rule.quiet_hours
    local = when.astimezone(tz)
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else minute >= start or minute < end
    if not inside:
        return None
    day = local.date() + timedelta(days=1 if start > end and minute >= start else 0)
    naive = datetime(day.year, day.month, day.day, end // 60, end % 60)
    return naive.replace(tzinfo=tz)


# -- delivery ----------------------------------------------------------------------------------


def deliver_due(store: Store, config: Config, *, now: datetime | None = None,
                deadline: float | None = None,
                stop: Callable[[], bool] | None = None) -> DeliveryCounts:
    """Send every due pending alert; return what was done and what is left.

    ``now``: the time to judge what is due by (default: the clock, read per alert);
    ``deadline``: a ``time.monotonic()`` value after which no new send starts (a send under
    way finishes or times out); ``stop``: asked between alerts, True ends the run. Alerts
    left over stay pending for the next run.
    """
    rules = {r.name: r for r in config.alerts}
    tz = ZoneInfo(config.settings.digest_timezone)
    me = os.getpid()

    def clock() -> datetime:
        return now if now is not None else now_utc()

    sent = failed = gave_up = 0
    for row in due_alerts(store, iso(clock())):
        if (stop and stop()) or (deadline is not None and time.monotonic() >= deadline):
            break
        at = clock()
        take_over = _dead_claimant(row, at, me)
        if row.claimed_until and row.claimed_until > iso(at) and take_over is None:
            continue  # another sender (alive) holds it
        rule = rules.get(row.rule)
        if rule is not None:
            quiet = quiet_until(rule, at, tz)
            if quiet is not None:
                postpone(store, row.id, iso(quiet))
                continue
        until = iso(at + timedelta(seconds=longest_send(rule) + CLAIM_MARGIN))
        if not claim(store, row.id, me, until, iso(at), take_over):
            continue
        if rule is None:
            outcome = SendOutcome(False, "rule removed",
                                  f"no alert rule {row.rule!r} in feeds.yaml any more")
        else:
            outcome = send_alert(rule, row.payload.encode(), row.idempotency_key,
                                 config.settings, stop=stop)
        finished = clock()
        if outcome.ok:
            state, next_at = "delivered", None
            sent += 1
        else:
            failed += 1
            attempt = row.attempts + 1
            if rule is None or attempt >= MAX_ATTEMPTS:
                state, next_at = "failed", None
                gave_up += 1
            else:
                delay = outcome.retry_after if outcome.retry_after is not None else \
                    min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_MAX)
                state, next_at = "pending", iso(finished + timedelta(seconds=delay))
        error = outcome.status if outcome.ok else \
            f"{outcome.status}: {outcome.detail}" if outcome.detail else outcome.status
        record_attempt(store, row.id, me, attempted_at=iso(finished), ok=outcome.ok,
                       status=outcome.status, error=None if outcome.ok else error[:1000],
                       duration_ms=outcome.duration_ms, state=state, next_attempt_at=next_at)
    waiting = int(store.scalar("SELECT count(*) FROM alert_outbox WHERE state = 'pending'")
                  or 0)
    next_at = store.scalar("SELECT min(next_attempt_at) FROM alert_outbox "
                           "WHERE state = 'pending'")
    return DeliveryCounts(sent=sent, failed=failed, gave_up=gave_up, waiting=waiting,
                          next_attempt_at=next_at)


def _dead_claimant(row: OutboxRow, at: datetime, me: int) -> int | None:
    """The pid of a claim still running that belongs to a process that is gone."""
    if row.claimed_by is None or not row.claimed_until or row.claimed_until <= iso(at) \
            or row.claimed_by == me:
        return None
    try:
        os.kill(row.claimed_by, 0)
    except ProcessLookupError:
        return row.claimed_by
    except PermissionError:
        return None  # alive, someone else's
    return None


# -- channels ----------------------------------------------------------------------------------


def longest_send(rule: AlertRule | None) -> float:
    """The most seconds one send on ``rule``'s channel can take: the claim on a row lasts
    longer, so no other sender picks the row up while this one may still deliver it.
    A webhook's connect, write and read are each bounded by the timeout (httpx times each
    step), an e-mail's every SMTP step by ``SMTP_TIMEOUT``, a command by the timeout."""
    if rule is None:
        return 0.0
    if rule.channel == "email":
        from .digest import SMTP_TIMEOUT

        return SMTP_STEPS * SMTP_TIMEOUT
    if rule.channel == "webhook":
        return 4 * rule.timeout
    return rule.timeout


def send_alert(rule: AlertRule, body: bytes, key: str, settings: Settings, *,
               stop: Callable[[], bool] | None = None) -> SendOutcome:
    """Send one alert's JSON ``body`` on the rule's channel."""
    started = time.monotonic()
    if rule.channel == "webhook":
        outcome = _post(rule, body, key)
    elif rule.channel == "email":
        outcome = _email(rule, body, settings)
    else:
        outcome = _run_command(rule, body, key, stop)
    return SendOutcome(outcome.ok, outcome.status, outcome.detail,
                       int((time.monotonic() - started) * 1000), outcome.retry_after)


def signature(body: bytes, secret: str) -> str:
    """The ``X-SpaceWatch-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the
    body's exact bytes, keyed with the secret (UTF-8)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(rule: AlertRule, body: bytes, key: str) -> SendOutcome:
    """POST to the webhook; only a 2xx counts. Redirects are not followed."""
    headers = {"Content-Type": "application/json", KEY_HEADER: key,
               "User-Agent": f"SpaceWatch/{__version__} (alerts)"}
    secret = os.environ.get(rule.secret_env or "", "") if rule.secret_env else ""
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    timeout = httpx.Timeout(connect=min(5.0, rule.timeout), read=rule.timeout,
                            write=rule.timeout, pool=rule.timeout)
    deadline = time.monotonic() + rule.timeout
    url = rule.webhook or ""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client, \
                client.stream("POST", url, content=body, headers=headers) as response:
            reply = bytearray()
            for chunk in response.iter_bytes():
                reply += chunk
                if len(reply) >= REPLY_BYTES:
                    break
                if time.monotonic() > deadline:
                    return SendOutcome(False, "deadline exceeded",
                                       f"the reply took over {rule.timeout:g}s")
            status = response.status_code
            if 200 <= status < 300:
                return SendOutcome(True, f"http {status}")
            retry = _retry_after(response.headers.get("retry-after")) \
                if status in (429, 503) else None
            text = bytes(reply[:200]).decode("utf-8", "replace").strip()
            return SendOutcome(False, f"http {status}", " ".join(text.split()) or None,
                               retry_after=retry)
    except httpx.ConnectTimeout:
        return SendOutcome(False, "connect timeout", url)
    except httpx.ReadTimeout:
        return SendOutcome(False, "read timeout", f"no reply within {rule.timeout:g}s")
    except httpx.TimeoutException as exc:
        return SendOutcome(False, "timeout", str(exc) or type(exc).__name__)
    except httpx.ConnectError as exc:
        return SendOutcome(False, "connection failed", str(exc))
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
        return SendOutcome(False, "connection broken", str(exc) or type(exc).__name__)
    except httpx.HTTPError as exc:
        return SendOutcome(False, "http client error", f"{type(exc).__name__}: {exc}")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), within the backoff cap."""
    from .fetch import parse_retry_after

    return parse_retry_after(value, BACKOFF_MAX)


def _email(rule: AlertRule, body: bytes, settings: Settings) -> SendOutcome:
    """An e-mail through settings.smtp (as the digest is sent): the alert in plain text and
    HTML, the JSON attached as the text's last lines."""
    import dataclasses

    from .digest import DigestError, SendError, send_digest

    payload = json.loads(body)
    subject, text, html = alert_email(payload)
    smtp = dataclasses.replace(settings.smtp, to=rule.email or settings.smtp.to)
    try:
        send_digest(html, text, subject, smtp)
    except SendError as exc:
        return SendOutcome(False, "smtp temporary" if exc.temporary else "smtp refused",
                           str(exc))
    except DigestError as exc:
        return SendOutcome(False, "smtp not usable", str(exc))
    return SendOutcome(True, "smtp accepted")


def alert_email(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of an alert e-mail; feed text is escaped in the HTML."""
    from markupsafe import escape

    from .digest import http_url

    headline = " ".join(str(payload.get("headline", "")).split())
    subject = f"SpaceWatch alert ({payload.get('seed')}): {headline}"[:200]
    lines = [headline, "", f"seed {payload.get('seed')}, score {payload.get('score')}, "
             f"{payload.get('reason')}; first seen {payload.get('first_seen')}", ""]
    items = []
    for a in payload.get("articles", []):
        title = " ".join(str(a.get("title") or "(untitled)").split())
        lines.append(f"- {title} ({a.get('feed')}, {a.get('language')}) {a.get('url') or ''}")
        href = http_url(a.get("url"))
        link = f'<a href="{escape(href)}">{escape(title)}</a>' if href else str(escape(title))
        items.append(f"<li>{link} ({escape(a.get('feed'))}, {escape(a.get('language'))})</li>")
    lines += ["", "JSON: " + json.dumps(payload, ensure_ascii=False)]
    html = (f"<h2>{escape(headline)}</h2><p>seed {escape(payload.get('seed'))}, score "
            f"{escape(payload.get('score'))}, {escape(payload.get('reason'))}</p>"
            f"<ul>{''.join(items)}</ul>")
    return subject, "\n".join(lines) + "\n", html


def _run_command(rule: AlertRule, body: bytes, key: str,
                 stop: Callable[[], bool] | None) -> SendOutcome:
    """Run the command (no shell) with the JSON on stdin; exit status 0 is delivered. It runs
    in its own process group, killed whole at the timeout or a stop."""
    env = {**os.environ, "SPACEWATCH_ALERT_KEY": key}
    try:
        process = subprocess.Popen(list(rule.command), stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True, env=env)
    except FileNotFoundError:
        return SendOutcome(False, "command not found", rule.command[0])
    except PermissionError:
        return SendOutcome(False, "command not executable", rule.command[0])
    except OSError as exc:
        return SendOutcome(False, "command failed to start", str(exc))
    deadline = time.monotonic() + rule.timeout
    stdin: bytes | None = body
    while True:
        try:
            _out, err = process.communicate(stdin, timeout=min(0.2, max(
                deadline - time.monotonic(), 0.01)))
            break
        except subprocess.TimeoutExpired:
            stdin = None  # handed over already: communicate() resumes where it was
            stopped = stop is not None and stop()
            if stopped or time.monotonic() >= deadline:
                _kill_group(process)
                return SendOutcome(False, "command stopped" if stopped else "command timeout",
                                   None if stopped else f"still running after "
                                                        f"{rule.timeout:g}s; killed")
    if process.returncode == 0:
        return SendOutcome(True, "exit 0")
    tail = " ".join((err or b"").decode("utf-8", "replace").split())[-300:]
    code = process.returncode
    status = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    return SendOutcome(False, status, tail or None)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command and everything it started, then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    process.communicate()


# -- alerts test -------------------------------------------------------------------------------


def rules_for_seed(config: Config, seed: str) -> list[AlertRule]:
    """The rules that follow ``seed`` (``*`` rules included)."""
    return [r for r in config.alerts if r.covers(seed)]


def sample_payload(rule: AlertRule, seed: str, now: datetime | None = None) -> dict[str, Any]:
    """A sample alert, marked ``"test": true``, in the payload's shape."""
    when = iso(now or now_utc())
    return {"idempotency_key": f"{rule.name}:test:{when}", "rule": rule.name, "seed": seed,
            "story_id": 0, "score": 1.0, "headline": "SpaceWatch test alert",
            "first_seen": when, "reason": "test", "test": True,
            "articles": [{"url": "https://example.org/spacewatch-test", "title":
                          "A sample article", "feed": "test", "language": "en",
                          "published": when}]}


def send_tests(config: Config, seed: str, rules: Sequence[AlertRule] | None = None) -> list[
        tuple[AlertRule, SendOutcome]]:
    """Send a sample alert to the channel of each rule covering ``seed``; nothing is stored."""
    chosen = list(rules) if rules is not None else rules_for_seed(config, seed)
    if not chosen:
        names = ", ".join(r.name for r in config.alerts) or "none"
        raise AlertError(f"no alert rule covers seed {seed!r} (rules: {names})")
    results = []
    for rule in chosen:
        payload = sample_payload(rule, seed)
        body = json.dumps(payload, ensure_ascii=False).encode()
        results.append((rule, send_alert(rule, body, payload["idempotency_key"],
                                         config.settings)))
    return results
