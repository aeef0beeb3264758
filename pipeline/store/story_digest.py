"""Read-only SQL for the digest's story entries: what was *found* in a time window, grouped
into stories (:mod:`pipeline.stories` fills ``stories`` / ``story_articles``).

**Found, not published.** A match is found when its event becomes a match: the event's first
version, or a version that follows a withdrawn one (``matches.matched_at`` of that row). A
digest lists the stories with a match found in its window, whenever their articles were
published, so a late match (an ``import`` of an archive, a ``rematch`` after a seed changed,
an article fetched days after its date) reaches the next digest instead of a past day's that
nobody rereads; the entry says when the article was published long before it was found.
A rescore of a known match (a new version of a live event) is not news and is not listed.

Every query starts from an index keyed on time (``matches(matched_at)``) or on the ids found
there (``story_articles`` by story, ``matches``/``mentions``/``quotes`` by article), so the
cost follows the window's volume, never the size of the database. Id lists travel as one JSON
array (``json_each``), which needs no temporary table on a read-only connection and has no
limit on the number of ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..records import PLACE_KINDS, Quote, parse_iso

if TYPE_CHECKING:
    from . import Store
    from .reports import DigestQuote

#: An article published this long before its match was found is marked as a late match.
LATE_AFTER = timedelta(days=1)
#: Key actors shown per story, and new articles listed per story.
STORY_ACTORS = 5
NEW_ARTICLES_SHOWN = 10
#: A live event (``m`` a matches row, ``s`` its seed), as in :data:`reports.LIVE_EVENT`.
_LIVE = "m.superseded_at IS NULL AND m.status = 'match' AND s.retired_at IS NULL"
#: The events found in ``[:start, :end)`` that are still live now: the row that made the
#: event a match (``f``) and the event's current version (``m``).
FOUND_EVENTS = (
    "FROM matches f LEFT JOIN matches p ON p.id = f.supersedes "
    "JOIN matches m ON m.article_id = f.article_id AND m.seed_id = f.seed_id "
    "AND m.superseded_at IS NULL "
    "JOIN seeds s ON s.id = m.seed_id "
    "WHERE f.matched_at >= :start AND f.matched_at < :end AND f.status = 'match' "
    f"AND (f.supersedes IS NULL OR p.status = 'withdrawn') AND {_LIVE}")


@dataclass(frozen=True)
class FoundMatch:
    """A live event found in the window (its current score and explanation)."""

    article_id: int
    seed_id: str
    score: float
    explanation: str | None
    found_at: str  # UTC ISO: when the event became a match


@dataclass(frozen=True)
class StoryArticle:
    """One article of a story, with its outlet and language."""

    article_id: int
    title: str
    url: str | None
    feed: str
    language: str | None
    published_at: str  # UTC ISO
    published_estimated: bool
    joined_at: str  # UTC ISO: when it joined the story (or its match was found)


@dataclass(frozen=True)
class StoryScore:
    """A story's best current score against one seed (the best of its articles')."""

    seed_id: str
    title: str
    score: float


@dataclass(frozen=True)
class DigestStory:
    """One digest entry: a story with a match found in the window.

    ``story_id`` is None for an article in no story yet (an old database, or the story step
    has not run): it is shown as a story of one article, so nothing is lost."""

    key: str  # "story:12", or "article:34" for an article in no story
    story_id: int | None
    headline: str
    first: StoryArticle  # the first report (earliest published)
    article_count: int
    outlets: tuple[str, ...]  # distinct feeds, in order of first report
    languages: tuple[str, ...]
    new_story: bool  # every article joined during the window
    new_articles: tuple[StoryArticle, ...]  # joined during the window, earliest first
    new_count: int
    actors: tuple[str, ...]  # names of the entities most of its articles name
    quotes: tuple[DigestQuote, ...]  # direct speech first, at most MATCH_QUOTES
    scores: tuple[StoryScore, ...]  # best current score per seed, best first
    found_at: str  # the first match found in the window
    late_published: str | None  # set when that match's article was published long before
    found_ids: tuple[int, ...] = ()  # its articles with a match found in the window

    @property
    def score(self) -> float:
        return self.scores[0].score if self.scores else 0.0

    def score_for(self, seed_id: str) -> float:
        """The story's best score against ``seed_id`` (0.0 when none of it matches)."""
        return next((s.score for s in self.scores if s.seed_id == seed_id), 0.0)


def found_matches(store: Store, start: str, end: str) -> list[FoundMatch]:
    """Live events found in ``[start, end)``, one per (article, seed), earliest find kept."""
    out: dict[tuple[int, str], FoundMatch] = {}
    for r in store.rows(
            "SELECT m.article_id, m.seed_id, m.score, m.explanation, f.matched_at AS found_at "
            f"{FOUND_EVENTS} ORDER BY f.matched_at, m.article_id, m.seed_id",
            {"start": start, "end": end}):
        out.setdefault((r["article_id"], r["seed_id"]), FoundMatch(
            article_id=r["article_id"], seed_id=r["seed_id"], score=float(r["score"]),
            explanation=r["explanation"], found_at=r["found_at"]))
    return list(out.values())


def _ids(values: Iterable[Any]) -> str:
    return json.dumps(sorted(set(values)))


def digest_stories(store: Store, found: list[FoundMatch], start: str,
                   end: str) -> tuple[DigestStory, ...]:
    """The stories of the ``found`` matches, best score first (see :class:`DigestStory`)."""
    if not found:
        return ()
    found_ids = {f.article_id for f in found}
    story_of = {r["article_id"]: r["story_id"] for r in store.rows(
        "SELECT article_id, story_id FROM story_articles "
        "WHERE article_id IN (SELECT value FROM json_each(?))", [_ids(found_ids)])}
    stories = {r["id"]: r for r in store.rows(
        "SELECT id, headline FROM stories WHERE id IN (SELECT value FROM json_each(?))",
        [_ids(story_of.values())])}
    members: dict[str, list[StoryArticle]] = {}
    for r in store.rows(
            "SELECT sa.story_id, sa.joined_at, a.id, a.title, a.url, a.published_at, "
            "a.published_estimated, a.language, coalesce(f.name, a.source) AS feed "
            "FROM story_articles sa JOIN articles a ON a.id = sa.article_id "
            "LEFT JOIN feeds f ON f.id = a.feed_id "
            "WHERE sa.story_id IN (SELECT value FROM json_each(?))", [_ids(stories)]):
        members.setdefault(f"story:{r['story_id']}", []).append(_article(r, r["joined_at"]))
    first_found: dict[int, str] = {}
    for f in found:
        if f.article_id not in first_found or f.found_at < first_found[f.article_id]:
            first_found[f.article_id] = f.found_at
    loose = [a for a in found_ids if story_of.get(a) not in stories]
    for r in store.rows(
            "SELECT a.id, a.title, a.url, a.published_at, a.published_estimated, a.language, "
            "coalesce(f.name, a.source) AS feed FROM articles a "
            "LEFT JOIN feeds f ON f.id = a.feed_id "
            "WHERE a.id IN (SELECT value FROM json_each(?))", [_ids(loose)]):
        members[f"article:{r['id']}"] = [_article(r, first_found[r["id"]])]
    key_of = {a.article_id: key for key, arts in members.items() for a in arts}
    all_ids = list(key_of)
    scores = _scores(store, all_ids, key_of)
    actors = _actors(store, all_ids, key_of)
    quotes = _quotes(store, all_ids, key_of)
    found_by_key: dict[str, list[FoundMatch]] = {}
    for f in found:
        found_by_key.setdefault(key_of[f.article_id], []).append(f)
    out = []
    for key, arts in members.items():
        if key not in found_by_key:
            continue
        arts.sort(key=lambda a: (a.published_at, a.article_id))
        story_id = int(key.split(":")[1]) if key.startswith("story:") else None
        new = sorted((a for a in arts if start <= a.joined_at < end),
                     key=lambda a: (a.joined_at, a.article_id))
        hits = found_by_key[key]
        first_hit = min(hits, key=lambda f: (f.found_at, f.article_id))
        published = {a.article_id: a.published_at for a in arts}
        late = [published[f.article_id] for f in hits
                if parse_iso(f.found_at) - parse_iso(published[f.article_id]) > LATE_AFTER]
        out.append(DigestStory(
            key=key, story_id=story_id,
            headline=(stories[story_id]["headline"] if story_id is not None
                      else arts[0].title) or arts[0].title,
            first=arts[0], article_count=len(arts),
            outlets=tuple(dict.fromkeys(a.feed for a in arts if a.feed)),
            languages=tuple(sorted({a.language for a in arts if a.language})),
            new_story=len(new) == len(arts), new_articles=tuple(new[:NEW_ARTICLES_SHOWN]),
            new_count=len(new), actors=actors.get(key, ()), quotes=quotes.get(key, ()),
            scores=scores.get(key, ()), found_at=first_hit.found_at,
            late_published=min(late) if late and len(late) == len(hits) else None,
            found_ids=tuple(sorted({f.article_id for f in hits}))))
    out.sort(key=lambda s: (-s.score, s.first.published_at, s.key))
    return tuple(out)


def _article(r: dict[str, Any], joined_at: str) -> StoryArticle:
    return StoryArticle(article_id=r["id"], title=r["title"] or "", url=r["url"],
                        feed=r["feed"] or "", language=r["language"],
                        published_at=r["published_at"],
                        published_estimated=bool(r["published_estimated"]), joined_at=joined_at)


def _scores(store: Store, ids: list[int],
            key_of: dict[int, str]) -> dict[str, tuple[StoryScore, ...]]:
    best: dict[str, dict[str, StoryScore]] = {}
    for r in store.rows(
            "SELECT m.article_id, m.seed_id, m.score, coalesce(s.title, s.id) AS title "
            "FROM matches m JOIN seeds s ON s.id = m.seed_id "
            f"WHERE m.article_id IN (SELECT value FROM json_each(?)) AND {_LIVE}", [_ids(ids)]):
        seeds = best.setdefault(key_of[r["article_id"]], {})
        score = round(float(r["score"]), 3)
        if r["seed_id"] not in seeds or score > seeds[r["seed_id"]].score:
            seeds[r["seed_id"]] = StoryScore(r["seed_id"], r["title"], score)
    return {key: tuple(sorted(seeds.values(), key=lambda s: (-s.score, s.seed_id)))
            for key, seeds in best.items()}


def _actors(store: Store, ids: list[int], key_of: dict[int, str]) -> dict[str, tuple[str, ...]]:
    """Per story, the entities (not places) named by most of its articles."""
    counts: dict[str, Counter[str]] = {}
    names: dict[str, str] = {}
    places = ",".join(f"'{k}'" for k in PLACE_KINDS)
    for r in store.rows(
            "SELECT x.article_id, x.entity_id, e.name FROM (SELECT DISTINCT article_id, "
            "entity_id FROM mentions WHERE article_id IN (SELECT value FROM json_each(?))) x "
            f"JOIN entities e ON e.id = x.entity_id WHERE e.kind NOT IN ({places})",
            [_ids(ids)]):
        counts.setdefault(key_of[r["article_id"]], Counter())[r["entity_id"]] += 1
        names[r["entity_id"]] = r["name"]
    return {key: tuple(names[e] for e, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
                       [:STORY_ACTORS]) for key, c in counts.items()}


def _quotes(store: Store, ids: list[int],
            key_of: dict[int, str]) -> dict[str, tuple[DigestQuote, ...]]:
    """Per story, who said what in its articles (ranked and cut as under a match)."""
    from .reports import digest_quotes

    out: dict[str, list[Quote]] = {}
    for r in store.rows(
            "SELECT article_id, speaker_entity_id, speaker_name, text, kind, cue, start, "
            '"end", sentence_start, sentence_end FROM quotes '
            "WHERE article_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY article_id, start, id", [_ids(ids)]):
        out.setdefault(key_of[r["article_id"]], []).append(Quote(
            speaker_entity_id=r["speaker_entity_id"], speaker_name=r["speaker_name"],
            text=r["text"], kind=r["kind"], start=r["start"], end=r["end"],
            sentence_start=r["sentence_start"], sentence_end=r["sentence_end"], cue=r["cue"]))
    return {key: digest_quotes(q, frozenset()) for key, q in out.items()}
