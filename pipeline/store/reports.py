"""Read-only SQL for the daily digest: one day's stories and matches, actors, chart and feed
health.

Everything comes back as plain frozen dataclasses (no sqlite rows leave this module); the
``digest`` module turns them into Markdown, HTML or JSON.

**Which day a match belongs to.** A match belongs to the calendar day (in the digest's time
zone) on which it was *found*: the ``matched_at`` of the event version that made it a match
(its first version, or one that follows a withdrawal), not a later rescore, and not the
day its article was published. Keyed on publication, a late match (an ``import`` of an
archive, a ``rematch`` after a seed changed, an article fetched after its day's digest was
written) landed in a past day's digest nobody rereads; keyed on the find, it is in the next
digest, and the entry says when the article was published. ``digest --since`` lists what was
found since any moment (see :mod:`pipeline.store.story_digest`). The matches, their stories
and the chart count the same finds; the actors on the move are about the news itself and
count the articles *published* on the day.

Stored times are UTC ISO strings (``2025-07-16T09:30:00Z``), so a local day becomes a
half-open UTC range ``[start, end)`` compared as strings; a day across a DST change is 23 or
25 hours long, as it should be. ``entities --since D`` uses the same range's start, so the
digest and the command line agree on what a day is.

**Feed health of a day.** A day that is over is judged by the fetches made during it (the
last fetch of the day failed, the feed was not fetched at all, or it brought nothing new for
:data:`QUIET_DAYS` days before the day ended), so the digest of last Tuesday shows Tuesday's
problems, however the feeds are doing now. A day not over yet (today) shows the feeds'
current state, disabled feeds included.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..errors import InputError
from ..records import PLACE_KINDS, Explanation, Quote, iso, parse_iso
from .alerts import OutboxRow, failed_alerts
from .story_digest import (
    FOUND_EVENTS,
    DigestStory,
    FoundMatch,
    digest_stories,
    found_matches,
)

if TYPE_CHECKING:
    from . import Store

#: Days before the digest's day that make the actors' baseline.
BASELINE_DAYS = 7
#: A known actor is "rising" with at least this many articles on the day ...
RISING_MIN_COUNT = 2
#: ... and at least this multiple of its daily average over the baseline days.
RISING_FACTOR = 2.0
#: At most this many actors are listed.
ACTORS_LIMIT = 20
#: Days in the matches-per-day chart (ending on the digest's day).
CHART_DAYS = 30
#: A fetched feed with no new article for this many days has gone quiet.
QUIET_DAYS = 3
#: Key entities shown per match.
MATCH_ENTITIES = 5
#: Quotes shown per match ("who said what"), and the characters kept of each.
MATCH_QUOTES = 3
QUOTE_CHARS = 200
#: A match the digest shows (``m`` a matches row, ``s`` its seed): the current version of an
#: event, still a match, of a seed not retired — what the ``event_log`` view holds.
LIVE_EVENT = "m.superseded_at IS NULL AND m.status = 'match' AND s.retired_at IS NULL"



@dataclass(frozen=True)
class DigestQuote:
    """Who said what in a matched article (the words cut at :data:`QUOTE_CHARS`)."""

    speaker_id: str
    speaker_name: str
    kind: str  # direct or reported
    text: str
    seed_entity: bool  # the speaker is one of the entities the article shares with the seed


@dataclass(frozen=True)
class DigestMatch:
    """One matched article under a seed."""

    article_id: int
    title: str
    url: str | None
    feed: str
    published_at: str  # UTC ISO, as stored
    local_time: str  # HH:MM in the digest's time zone
    published_estimated: bool  # no publication time known: published_at is the fetch time
    score: float
    entities: tuple[str, ...]
    evidence: str
    quotes: tuple[DigestQuote, ...] = ()


@dataclass(frozen=True)
class SeedStory:
    """A story under a seed: its best score against the seed and the evidence of that
    match (the best-scoring article of the story found in the window)."""

    story: DigestStory
    score: float
    evidence: str
    entities: tuple[str, ...]


@dataclass(frozen=True)
class SeedDigest:
    """A seed, its matches found in the window (articles, best first), and their stories
    (one entry per story, best first)."""

    id: str
    title: str
    matches: tuple[DigestMatch, ...]
    stories: tuple[SeedStory, ...] = ()


@dataclass(frozen=True)
class Actor:
    """An entity newly seen or rising on the day, against the previous days' average."""

    id: str
    name: str
    kind: str
    count: int  # articles mentioning it on the day
    baseline: float  # articles per day over the previous BASELINE_DAYS days
    new: bool  # not mentioned at all in the previous BASELINE_DAYS days
    context: str  # the first sentence naming it on the day ("" if none was stored)


@dataclass(frozen=True)
class ChartDay:
    """Matches found on one local day (and still live)."""

    day: date
    matches: int


@dataclass(frozen=True)
class FeedProblem:
    """A feed whose last fetch failed, that was disabled, or that went quiet."""

    name: str
    url: str
    problem: str  # "disabled", "failed" or "quiet"
    last_outcome: str | None
    last_error: str | None
    error_count: int
    disabled: bool
    disabled_reason: str | None
    last_fetch_at: str | None
    last_new_at: str | None


#: FeedProblem.problem for a feed not fetched at all during a past day.
NOT_FETCHED = "not_fetched"


@dataclass(frozen=True)
class DigestData:
    """Everything one day's digest shows."""

    day: date
    timezone: str
    generated_at: str  # UTC ISO
    articles: int  # articles published on the day
    seeds: tuple[SeedDigest, ...]
    actors: tuple[Actor, ...]
    chart: tuple[ChartDay, ...]
    feed_health: tuple[FeedProblem, ...]
    #: "day": feed_health comes from the fetches made during the (past) day;
    #: "now": from the feeds' state when the digest was made (the day is not over).
    health_scope: str = "now"
    fetches: int = 0  # fetches recorded during the day
    #: Every story with a match found in the window, best first (each once).
    stories: tuple[DigestStory, ...] = ()
    #: ``digest --since``: the window is [since, generated_at) (UTC ISO), not the day.
    since: str | None = None
    #: Alerts given up as failed during the day (health section; :mod:`pipeline.alerts`).
    alert_failures: tuple[OutboxRow, ...] = ()

    @property
    def match_count(self) -> int:
        return sum(len(s.matches) for s in self.seeds)

    @property
    def story_count(self) -> int:
        return len(self.stories)

    @property
    def seeds_matched(self) -> int:
        return sum(1 for s in self.seeds if s.matches)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[str, str]:
    """The local calendar day as a half-open UTC range of ISO strings."""
    return _utc_midnight(day, tz), _utc_midnight(day + timedelta(days=1), tz)


def check_not_future(day: date, tz: ZoneInfo, now: datetime | None = None) -> None:
    """:class:`InputError` when local day ``day`` has not begun yet in ``tz``: a report of
    a day to come would only ever be empty."""
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    if day > today:
        raise InputError(f"{day.isoformat()} is in the future (today is {today.isoformat()} "
                         f"in {tz.key})")


def _utc_midnight(day: date, tz: ZoneInfo) -> str:
    return iso(datetime.combine(day, time(0), tzinfo=tz))


def _local(stored: str, tz: ZoneInfo) -> datetime:
    return parse_iso(stored).astimezone(tz)


def digest_data(store: Store, day: date, tz: ZoneInfo, now: datetime,
                since: datetime | None = None) -> DigestData:
    """Read one local day's digest from the database (read-only); with ``since``, the
    stories and matches are those found from ``since`` through ``now`` (``day`` is then
    today: its actors, chart and feed health)."""
    start, end = day_bounds(day, tz)
    articles = store.scalar("SELECT count(*) FROM articles WHERE published_at >= ? "
                            "AND published_at < ?", [start, end]) or 0
    # --since: up to and including the current second (times are stored to the second, so
    # a match found in the second the digest is made is not left out; the next `--since
    # last` starts at that second again: a repeat is possible, a loss is not).
    found_start, found_end = (iso(since), iso(now + timedelta(seconds=1))) if since \
        else (start, end)
    found = found_matches(store, found_start, found_end)
    stories = digest_stories(store, found, found_start, found_end)
    fetches = store.scalar("SELECT count(*) FROM fetches WHERE started_at >= ? "
                           "AND started_at < ?", [start, end]) or 0
    over = end <= iso(now)
    return DigestData(
        day=day, timezone=tz.key, generated_at=iso(now),
        articles=int(articles), seeds=found_by_seed(store, found, stories, tz),
        actors=actors_on_the_move(store, day, tz), chart=matches_per_day(store, day, tz),
        feed_health=(feed_problems_of_day(store, day, tz) if over
                     else feed_problems(store, now)),
        health_scope="day" if over else "now", fetches=int(fetches), stories=stories,
        since=found_start if since else None,
        alert_failures=failed_alerts(store, start, min(end, iso(now + timedelta(seconds=1)))))


def found_by_seed(store: Store, found: Sequence[FoundMatch], stories: Sequence[DigestStory],
                  tz: ZoneInfo) -> tuple[SeedDigest, ...]:
    """Every seed (by id) with the matches ``found`` for it (articles, best first) and
    their stories (each story once per seed, by its best score against the seed)."""
    by_seed: dict[str, list[DigestMatch]] = {}
    ids = sorted({f.article_id for f in found})
    quotes = _quotes_of(store, ids)
    info = {r["id"]: r for r in store.rows(
        "SELECT a.id, a.title, a.url, a.published_at, a.published_estimated, "
        "coalesce(f.name, a.source) AS feed FROM articles a "
        "LEFT JOIN feeds f ON f.id = a.feed_id "
        "WHERE a.id IN (SELECT value FROM json_each(?))", [json.dumps(ids)])}
    story_of = {a: story for story in stories for a in story.found_ids}
    best: dict[tuple[str, str], tuple[float, str, tuple[str, ...]]] = {}
    for f in sorted(found, key=lambda f: (f.seed_id, -f.score, f.article_id)):
        r = info[f.article_id]
        names, evidence, entity_ids = _explanation_parts(f.explanation)
        by_seed.setdefault(f.seed_id, []).append(DigestMatch(
            article_id=f.article_id, title=r["title"] or "", url=r["url"],
            feed=r["feed"] or "", published_at=r["published_at"],
            local_time=_local(r["published_at"], tz).strftime("%H:%M"),
            published_estimated=bool(r["published_estimated"]),
            score=round(f.score, 3), entities=names, evidence=evidence,
            quotes=digest_quotes(quotes.get(f.article_id, []), entity_ids)))
        best.setdefault((f.seed_id, story_of[f.article_id].key),
                        (f.score, evidence, names))
    for matches in by_seed.values():
        matches.sort(key=lambda m: (-m.score, _desc(m.published_at), m.article_id))
    per_seed: dict[str, list[SeedStory]] = {}
    for story in stories:
        for score in story.scores:
            if (score.seed_id, story.key) in best:
                _, evidence, names = best[(score.seed_id, story.key)]
                per_seed.setdefault(score.seed_id, []).append(SeedStory(
                    story=story, score=score.score, evidence=evidence, entities=names))
    for entries in per_seed.values():
        entries.sort(key=lambda e: (-e.score, e.story.first.published_at, e.story.key))
    return tuple(SeedDigest(id=s["id"], title=s["title"] or s["id"],
                            matches=tuple(by_seed.get(s["id"], ())),
                            stories=tuple(per_seed.get(s["id"], ())))
                 for s in store.rows("SELECT id, title FROM seeds WHERE retired_at IS NULL "
                                     "ORDER BY id"))


def _desc(text: str) -> tuple[int, ...]:
    """A sort key that orders strings in reverse."""
    return tuple(-ord(c) for c in text)


def _explanation_parts(raw: str | None) -> tuple[tuple[str, ...], str, frozenset[str]]:
    """(top entity names, first evidence sentence, every shared entity's id) from a match's
    explanation JSON."""
    try:
        explanation = Explanation.from_json(raw)
    except ValueError:  # a hand-edited row: show the match without its details
        return (), "", frozenset()
    names = tuple(e.name for e in explanation.entities if e.name)
    return (names[:MATCH_ENTITIES], explanation.evidence[0] if explanation.evidence else "",
            frozenset(e.id for e in explanation.entities))


def _quotes_of(store: Store, ids: Sequence[int]) -> dict[int, list[Quote]]:
    """The quotes of these articles, by article, in one query."""
    out: dict[int, list[Quote]] = {}
    for r in store.rows(
            "SELECT q.article_id, q.speaker_entity_id, q.speaker_name, q.text, q.kind, q.cue, "
            'q.start, q."end", q.sentence_start, q.sentence_end FROM quotes q '
            "WHERE q.article_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY q.article_id, q.start, q.id", [json.dumps(list(ids))]):
        out.setdefault(r["article_id"], []).append(Quote(
            speaker_entity_id=r["speaker_entity_id"], speaker_name=r["speaker_name"],
            text=r["text"], kind=r["kind"], start=r["start"], end=r["end"],
            sentence_start=r["sentence_start"], sentence_end=r["sentence_end"], cue=r["cue"]))
    return out


def digest_quotes(quotes: Sequence[Quote], seed_entities: Set[str],
                  limit: int = MATCH_QUOTES) -> tuple[DigestQuote, ...]:
    """The quotes a match shows: direct speech first, then quotes by the entities the
    article shares with the seed, then the rest, each group in text order; at most
    ``limit``, each cut at :data:`QUOTE_CHARS` characters (on a word boundary, with "…")."""
    ranked = sorted(quotes, key=lambda q: (q.kind != "direct",
                                           q.speaker_entity_id not in seed_entities, q.start))
    return tuple(DigestQuote(speaker_id=q.speaker_entity_id, speaker_name=q.speaker_name,
                             kind=q.kind, text=_cut(q.text, QUOTE_CHARS),
                             seed_entity=q.speaker_entity_id in seed_entities)
                 for q in ranked[:limit])


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip(" ,;:—–-") + "…"


def actors_on_the_move(store: Store, day: date, tz: ZoneInfo) -> tuple[Actor, ...]:
    """Entities (not places or countries) newly seen or rising on the day.

    Counts are articles (not mentions) published on the day that name the entity, against
    the daily average over the previous :data:`BASELINE_DAYS` local days. *New*: not named at
    all in those days. *Rising*: at least :data:`RISING_MIN_COUNT` articles and at least
    :data:`RISING_FACTOR` times the average. New actors come first (a new official is the
    news), then the rising ones, each by count.
    """
    start, end = day_bounds(day, tz)
    base_start = _utc_midnight(day - timedelta(days=BASELINE_DAYS), tz)
    kinds = {f"kind{i}": k for i, k in enumerate(PLACE_KINDS)}
    # CROSS JOIN keeps SQLite from starting at mentions_entity: the days' articles (a time
    # range) come first, then their mentions, so the cost follows the days' volume and not
    # every mention ever stored of a busy entity such as NASA ("+" keeps the IN a filter,
    # not one index probe per article and entity).
    rows = store.rows(
        "WITH today AS (SELECT m.entity_id, count(DISTINCT m.article_id) AS n "
        "  FROM articles a CROSS JOIN mentions m ON m.article_id = a.id "
        "  WHERE a.published_at >= :start AND a.published_at < :end GROUP BY m.entity_id), "
        "before AS (SELECT m.entity_id, count(DISTINCT m.article_id) AS n "
        "  FROM articles a CROSS JOIN mentions m ON m.article_id = a.id "
        "  WHERE a.published_at >= :base_start AND a.published_at < :start "
        "  AND +m.entity_id IN (SELECT entity_id FROM today) GROUP BY m.entity_id) "
        "SELECT e.id, e.name, e.kind, t.n AS count, coalesce(b.n, 0) AS before "
        "FROM today t JOIN entities e ON e.id = t.entity_id "
        "LEFT JOIN before b ON b.entity_id = t.entity_id "
        f"WHERE e.kind NOT IN ({', '.join(':' + k for k in kinds)}) "
        "AND (coalesce(b.n, 0) = 0 OR (t.n >= :min_count AND t.n * :days >= :factor * b.n)) "
        "ORDER BY coalesce(b.n, 0) = 0 DESC, t.n DESC, coalesce(b.n, 0), e.name, e.id "
        "LIMIT :limit",
        {"start": start, "end": end, "base_start": base_start, "min_count": RISING_MIN_COUNT,
         "days": BASELINE_DAYS, "factor": RISING_FACTOR, "limit": ACTORS_LIMIT,
         **kinds})
    contexts = _first_sentences(store, [r["id"] for r in rows], start, end)
    return tuple(Actor(id=r["id"], name=r["name"], kind=r["kind"], count=int(r["count"]),
                       baseline=round(r["before"] / BASELINE_DAYS, 2), new=r["before"] == 0,
                       context=contexts.get(r["id"], ""))
                 for r in rows)


def _first_sentences(store: Store, ids: list[str], start: str, end: str) -> dict[str, str]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    out: dict[str, str] = {}
    for r in store.rows(
            "SELECT m.entity_id, m.sentence FROM articles a "
            "CROSS JOIN mentions m ON m.article_id = a.id "
            f"WHERE m.entity_id IN ({marks}) AND a.published_at >= ? AND a.published_at < ? "
            "AND m.sentence IS NOT NULL AND m.sentence != '' "
            "ORDER BY a.published_at, a.id, m.start", [*ids, start, end]):
        out.setdefault(r["entity_id"], " ".join(r["sentence"].split()))
    return out


def matches_per_day(store: Store, day: date, tz: ZoneInfo,
                    days: int = CHART_DAYS) -> tuple[ChartDay, ...]:
    """Live matches per local day they were found, over the ``days`` days ending on
    ``day`` (the days the digests list them on)."""
    first = day - timedelta(days=days - 1)
    start, end = _utc_midnight(first, tz), day_bounds(day, tz)[1]
    counts: Counter[date] = Counter()
    for r in store.rows(f"SELECT f.matched_at {FOUND_EVENTS}", {"start": start, "end": end}):
        counts[_local(r["matched_at"], tz).date()] += 1
    return tuple(ChartDay(day=first + timedelta(days=i),
                          matches=counts[first + timedelta(days=i)]) for i in range(days))


def feed_problems(store: Store, now: datetime,
                  quiet_days: int = QUIET_DAYS) -> tuple[FeedProblem, ...]:
    """Configured feeds that are disabled, whose last fetch failed, or that were fetched but
    brought no new article for ``quiet_days`` days (or never). Broken feeds come first."""
    quiet_before = iso(now - timedelta(days=quiet_days))
    rows = store.rows(
        "SELECT name, url, last_outcome, last_error, error_count, disabled, disabled_reason, "
        "last_fetch_at, last_new_at FROM feeds WHERE enabled = 1 AND ("
        "disabled = 1 OR last_outcome = 'failed' OR (last_fetch_at IS NOT NULL AND "
        "(last_new_at IS NULL OR last_new_at < :quiet_before))) "
        "ORDER BY disabled DESC, last_outcome = 'failed' DESC, error_count DESC, name",
        {"quiet_before": quiet_before})
    return tuple(FeedProblem(
        name=r["name"], url=r["url"],
        problem="disabled" if r["disabled"] else
        "failed" if r["last_outcome"] == "failed" else "quiet",
        last_outcome=r["last_outcome"], last_error=r["last_error"],
        error_count=int(r["error_count"] or 0), disabled=bool(r["disabled"]),
        disabled_reason=r["disabled_reason"], last_fetch_at=r["last_fetch_at"],
        last_new_at=r["last_new_at"]) for r in rows)


def feed_problems_of_day(store: Store, day: date, tz: ZoneInfo,
                         quiet_days: int = QUIET_DAYS) -> tuple[FeedProblem, ...]:
    """The feed problems of a past local day, from the fetches made during it: feeds whose
    last fetch of the day failed (``error_count``: failed fetches that day), feeds that were
    configured but not fetched at all that day, and feeds fetched that day that had brought
    no new article for ``quiet_days`` days when it ended. Nothing when no fetch at all was
    recorded that day (the daemon was not running): there is nothing to judge."""
    start, end = day_bounds(day, tz)
    quiet_before = _utc_midnight(day + timedelta(days=1 - quiet_days), tz)
    rows = store.rows(
        "WITH d AS (SELECT feed_id, count(*) AS n, sum(outcome = 'failed') AS failed, "
        "  max(id) AS last_id FROM fetches WHERE started_at >= :start AND started_at < :end "
        "  GROUP BY feed_id) "
        "SELECT f.name, f.url, coalesce(d.n, 0) AS n, coalesce(d.failed, 0) AS failed, "
        "l.outcome AS last_outcome, "
        "(SELECT x.error FROM fetches x WHERE x.feed_id = f.id AND x.outcome = 'failed' "
        " AND x.started_at >= :start AND x.started_at < :end ORDER BY x.id DESC LIMIT 1) "
        " AS last_error, "
        "(SELECT max(x.started_at) FROM fetches x WHERE x.feed_id = f.id "
        " AND x.started_at < :end) AS last_fetch_at, "
        "(SELECT max(x.started_at) FROM fetches x WHERE x.feed_id = f.id "
        " AND x.new_articles > 0 AND x.started_at < :end) AS last_new_at "
        "FROM feeds f LEFT JOIN d ON d.feed_id = f.id LEFT JOIN fetches l ON l.id = d.last_id "
        "WHERE f.enabled = 1 AND f.created_at < :end AND "
        "EXISTS (SELECT 1 FROM fetches WHERE started_at >= :start AND started_at < :end)",
        {"start": start, "end": end})
    problems = []
    for r in rows:
        if not r["n"]:
            problem = NOT_FETCHED
        elif r["last_outcome"] == "failed":
            problem = "failed"
        elif r["last_new_at"] is None or r["last_new_at"] < quiet_before:
            problem = "quiet"
        else:
            continue
        problems.append(FeedProblem(
            name=r["name"], url=r["url"], problem=problem, last_outcome=r["last_outcome"],
            last_error=r["last_error"] if problem == "failed" else None,
            error_count=int(r["failed"]), disabled=False, disabled_reason=None,
            last_fetch_at=r["last_fetch_at"], last_new_at=r["last_new_at"]))
    order = {"failed": 0, NOT_FETCHED: 1, "quiet": 2}
    return tuple(sorted(problems, key=lambda p: (order[p.problem], -p.error_count, p.name)))
