"""The alert outbox (``alert_outbox``) and its attempts (``alert_attempts``): the SQL of
:mod:`pipeline.alerts`.

A row is written once per (rule, story, alert number), with the watermarks that say how far
the queueing looked, in one transaction; the idempotency key is UNIQUE, so two processes
queueing the same story write one row. Sending happens outside any transaction: a row is
first *claimed* (``claimed_by`` = the sender's pid, ``claimed_until`` = when the claim
lapses), then each attempt is recorded, together with the row's new state, in its own
transaction. A claim whose process is gone (killed mid-send) is taken over at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Store

#: How far the queueing has looked: the last ``matches.id`` and the latest
#: ``story_articles.joined_at`` it saw. ``alerts.since``: only stories with a current match
#: found at or after this time alert ('' = all; set by migration 0015).
MATCH_WATERMARK = "alerts.match_watermark"
STORY_WATERMARK = "alerts.story_watermark"
SINCE = "alerts.since"


@dataclass(frozen=True)
class PayloadArticle:
    """One article of a story as the payload lists it."""

    url: str | None
    title: str
    feed: str | None
    language: str | None
    published: str | None


@dataclass(frozen=True)
class StoryFacts:
    """What the queueing needs to know of one story, read in one go."""

    story_id: int
    headline: str
    first_seen: str
    #: The best current score of the story's articles for each seed (retired seeds left out).
    scores: dict[str, float]
    #: Whether one of its current matches was found at or after ``alerts.since``.
    recent: bool
    kinds: frozenset[str]
    languages: frozenset[str]
    #: Officials (entity kind OFFICIAL) quoted in its articles: id -> name.
    officials: dict[str, str]
    articles: tuple[PayloadArticle, ...]


@dataclass(frozen=True)
class NewAlert:
    """An outbox row to write."""

    idempotency_key: str
    rule: str
    channel: str
    target: str
    seed_id: str
    story_id: int
    alert_number: int
    reason: str
    payload: str
    basis: str
    next_attempt_at: str


@dataclass(frozen=True)
class OutboxRow:
    """One alert of the outbox, with its delivery state."""

    id: int
    idempotency_key: str
    rule: str
    channel: str
    target: str
    seed_id: str
    story_id: int
    alert_number: int
    reason: str
    payload: str
    state: str  # pending | delivered | failed
    created_at: str
    next_attempt_at: str
    attempts: int
    delivered_at: str | None
    last_error: str | None
    claimed_by: int | None
    claimed_until: str | None


@dataclass(frozen=True)
class AlertSummary:
    """The outbox in a few figures, for ``status`` and the digest's health section."""

    pending: int
    failed: int
    delivered: int
    next_attempt_at: str | None
    #: The failed alerts, newest first (at most a few).
    failures: tuple[OutboxRow, ...]


def stories_to_check(store: Store, match_after: int, joined_since: str) -> tuple[
        list[int], int, str]:
    """Stories touched since the watermarks: those holding an article with a match event
    newer than ``match_after`` (a new match, a late one, a new version after a rematch), and
    those an article joined at or after ``joined_since`` (placed by the stories step, not
    moved by the analyst). Returns them with the new
    watermarks (the last match id and the latest join time seen)."""
    last_match = int(store.scalar("SELECT coalesce(max(id), 0) FROM matches") or 0)
    last_join = str(store.scalar("SELECT coalesce(max(joined_at), '') FROM story_articles")
                    or "")
    ids = [r[0] for r in store.conn.execute(
        "SELECT DISTINCT sa.story_id FROM matches m "
        "JOIN story_articles sa ON sa.article_id = m.article_id "
        "WHERE m.id > ? AND m.id <= ? "
        # An article the analyst moved (story merge / split) brings no news: only the
        # stories step's own placements are looked at again.
        "UNION SELECT story_id FROM story_articles WHERE joined_at >= ? "
        "AND assigned_by = 'auto' ORDER BY 1",
        (match_after, last_match, joined_since))]
    return ids, last_match, last_join


def story_facts(store: Store, story_id: int, since: str, article_limit: int) -> \
        StoryFacts | None:
    """The facts of one story, or None when it is gone or merged into another. Its
    languages and quoted officials (what a re-alert compares) count only the articles the
    stories step placed: what the analyst moved in (``story merge``) is not news."""
    rows = store.rows("SELECT id, headline, first_seen, merged_into FROM stories WHERE id = ?",
                      [story_id])
    if not rows or rows[0]["merged_into"] is not None:
        return None
    story = rows[0]
    scores: dict[str, float] = {}
    recent = False
    for seed_id, score, latest in store.conn.execute(
            "SELECT m.seed_id, max(m.score), max(m.matched_at) FROM story_articles sa "
            "JOIN matches m ON m.article_id = sa.article_id "
            "JOIN seeds s ON s.id = m.seed_id "
            "WHERE sa.story_id = ? AND m.superseded_at IS NULL AND m.status = 'match' "
            "AND s.retired_at IS NULL GROUP BY m.seed_id", (story_id,)):
        scores[seed_id] = float(score)
        recent = recent or latest >= since
    kinds = frozenset(r[0] for r in store.conn.execute(
        "SELECT DISTINCT e.kind FROM story_articles sa "
        "JOIN mentions mm ON mm.article_id = sa.article_id "
        "JOIN entities e ON e.id = mm.entity_id WHERE sa.story_id = ?", (story_id,)))
    officials = {r[0]: r[1] for r in store.conn.execute(
        "SELECT q.speaker_entity_id, min(e.name) FROM story_articles sa "
        "JOIN quotes q ON q.article_id = sa.article_id "
        "JOIN entities e ON e.id = q.speaker_entity_id "
        "WHERE sa.story_id = ? AND sa.assigned_by = 'auto' AND e.kind = 'OFFICIAL' "
        "GROUP BY q.speaker_entity_id",
        (story_id,))}
    articles = tuple(PayloadArticle(url=r[0], title=r[1] or "", feed=r[2], language=r[3],
                                    published=r[4]) for r in store.conn.execute(
        "SELECT a.url, a.title, coalesce(f.name, a.source), a.language, a.published_at "
        "FROM story_articles sa JOIN articles a ON a.id = sa.article_id "
        "LEFT JOIN feeds f ON f.id = a.feed_id WHERE sa.story_id = ? "
        "ORDER BY a.published_at, a.id LIMIT ?", (story_id, article_limit)))
    languages = frozenset(r[0] for r in store.conn.execute(
        "SELECT DISTINCT a.language FROM story_articles sa JOIN articles a "
        "ON a.id = sa.article_id WHERE sa.story_id = ? AND sa.assigned_by = 'auto' "
        "AND coalesce(a.language, 'und') != 'und'",
        (story_id,)))
    return StoryFacts(story_id=story_id, headline=story["headline"],
                      first_seen=story["first_seen"], scores=scores, recent=recent,
                      kinds=kinds, languages=languages, officials=officials, articles=articles)


def alerts_of_story(store: Store, story_id: int) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """The alerts already queued for a story: rule -> [(alert number, basis)], in order."""
    found: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for rule, number, basis in store.conn.execute(
            "SELECT rule, alert_number, basis FROM alert_outbox WHERE story_id = ? "
            "ORDER BY rule, alert_number", (story_id,)):
        found.setdefault(rule, []).append((number, json.loads(basis or "{}")))
    return found


def insert_alerts(store: Store, alerts: Sequence[NewAlert], watermarks: dict[str, str],
                  now: str) -> int:
    """Write the new alerts and the watermarks in one transaction; a key already in the
    outbox (another process queued it) is left alone. Returns the rows written."""
    written = 0
    with store.transaction() as conn:
        for a in alerts:
            cur = conn.execute(
                "INSERT OR IGNORE INTO alert_outbox (idempotency_key, rule, channel, target, "
                "seed_id, story_id, alert_number, reason, payload, basis, state, created_at, "
                "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (a.idempotency_key, a.rule, a.channel, a.target, a.seed_id, a.story_id,
                 a.alert_number, a.reason, a.payload, a.basis, now, a.next_attempt_at))
            written += cur.rowcount
        for key, value in watermarks.items():
            conn.execute("INSERT INTO meta(key, value, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at", (key, value, now))
    return written


def meta_value(store: Store, key: str, default: str) -> str:
    """A value of ``meta`` (the watermarks), or ``default``."""
    value = store.scalar("SELECT value FROM meta WHERE key = ?", [key])
    return default if value is None else str(value)


def due_alerts(store: Store, now: str, limit: int = 200) -> list[OutboxRow]:
    """Pending rows whose next attempt is due, oldest first, including those claimed by a
    sender (the caller checks whether that sender is still alive)."""
    return [_row(r) for r in store.rows(
        "SELECT * FROM alert_outbox WHERE state = 'pending' AND next_attempt_at <= ? "
        "ORDER BY next_attempt_at, id LIMIT ?", [now, limit])]


def claim(store: Store, row_id: int, pid: int, until: str, now: str,
          take_over: int | None = None) -> bool:
    """Claim a pending row for sending (until ``until``): only when it is still due (another
    sender may have tried it since it was read), and unclaimed, its claim lapsed, or held by
    ``take_over`` (a sender known to be dead)."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE alert_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? "
            "AND state = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL "
            "OR claimed_until <= ? OR claimed_by IS ?)",
            (pid, until, row_id, now, now, take_over))
        return cur.rowcount == 1


def record_attempt(store: Store, row_id: int, pid: int, *, attempted_at: str, ok: bool,
                   status: str, error: str | None, duration_ms: int, state: str,
                   next_attempt_at: str | None) -> None:
    """One attempt and the row's new state (delivered, failed, or pending until
    ``next_attempt_at``), in one transaction; ``pid``'s claim is released. A row already
    delivered stays delivered; a failure of a sender whose claim lapsed and was taken by
    another (``claimed_by`` is not ``pid``) is recorded as an attempt but changes neither
    the row's state nor the other sender's claim. A success always marks it delivered."""
    with store.transaction() as conn:
        conn.execute("INSERT INTO alert_attempts (outbox_id, attempted_at, ok, status, error, "
                     "duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
                     (row_id, attempted_at, int(ok), status, error, duration_ms))
        conn.execute(
            "UPDATE alert_outbox SET attempts = attempts + 1, state = ?, "
            "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END, "
            "last_error = ?, next_attempt_at = coalesce(?, next_attempt_at), "
            "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND state != 'delivered' "
            "AND (? OR claimed_by IS NULL OR claimed_by = ?)",
            (state, state, attempted_at, None if ok else error, next_attempt_at, row_id,
             int(ok), pid))


def postpone(store: Store, row_id: int, until: str) -> None:
    """Move a pending row's next attempt to ``until`` (quiet hours), no attempt counted."""
    with store.transaction() as conn:
        conn.execute("UPDATE alert_outbox SET next_attempt_at = ?, claimed_by = NULL, "
                     "claimed_until = NULL WHERE id = ? AND state = 'pending'", (until, row_id))


def outbox_rows(store: Store, *, state: str | None = None, limit: int = 50) -> list[OutboxRow]:
    """The newest rows of the outbox (``state``: only those)."""
    where, params = ("WHERE state = ?", [state]) if state else ("", [])
    return [_row(r) for r in store.rows(
        f"SELECT * FROM alert_outbox {where} ORDER BY id DESC LIMIT ?", [*params, limit])]


def attempts_of(store: Store, row_id: int) -> list[dict[str, Any]]:
    """Every attempt to send one alert, oldest first."""
    return store.rows("SELECT attempted_at, ok, status, error, duration_ms FROM alert_attempts "
                      "WHERE outbox_id = ? ORDER BY id", [row_id])


def alert_summary(store: Store, failures: int = 5) -> AlertSummary | None:
    """Counts by state, the next retry and the latest failures; None for a database without
    the outbox (older schema) or with an empty one."""
    if not store.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'alert_outbox'"):
        return None
    counts = dict.fromkeys(("pending", "failed", "delivered"), 0)
    for state, n in store.conn.execute("SELECT state, count(*) FROM alert_outbox "
                                       "GROUP BY state"):
        counts[state] = n
    if not any(counts.values()):
        return None
    next_at = store.scalar("SELECT min(next_attempt_at) FROM alert_outbox "
                           "WHERE state = 'pending'")
    return AlertSummary(pending=counts["pending"], failed=counts["failed"],
                        delivered=counts["delivered"], next_attempt_at=next_at,
                        failures=tuple(outbox_rows(store, state="failed", limit=failures)))


def _row(r: dict[str, Any]) -> OutboxRow:
    return OutboxRow(**{k: r[k] for k in OutboxRow.__dataclass_fields__})


def failed_alerts(store: Store, start: str, end: str, limit: int = 20) -> tuple[OutboxRow, ...]:
    """Alerts given up as ``failed`` whose last attempt was in ``[start, end)`` (UTC ISO):
    the digest of a day lists those that failed that day; empty without the outbox."""
    if not store.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'alert_outbox'"):
        return ()
    return tuple(_row(r) for r in store.rows(
        "SELECT o.* FROM alert_outbox o WHERE o.state = 'failed' AND (SELECT max(attempted_at) "
        "FROM alert_attempts a WHERE a.outbox_id = o.id) >= ? AND (SELECT max(attempted_at) "
        "FROM alert_attempts a WHERE a.outbox_id = o.id) < ? ORDER BY o.id LIMIT ?",
        [start, end, limit]))
