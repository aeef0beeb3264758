"""Stories: articles that report the same event, grouped incrementally as they arrive.

Each analysed article not yet in a story is compared, in publication order, with the few
stories it shares *keys* with — found through the ``story_keys`` index, never by scanning
every story:

- ``e:<entity id>``: the canonical entities it names (language-independent: «Роскосмос» and
  "Roscosmos" are both ``e:roscosmos``), weighted by kind (an official says more than a
  country) and rarity among recent stories (NASA, named by most of them, counts little);
- ``t:<term>``: its most distinctive words (a Russian word by its lemma, as the match stage
  reads it) and ``p:<a b>`` its recurring two-word phrases, weighted by rarity as well.

The similarity to a story is a weighted overlap (cosine of the weighted key sets) of the
entities and of the terms, then damped by the days between the article and the story's last
article. Terms count only when the story already has articles in the article's language; a
story first reported in another language is met through its entities alone (a higher bar).

The article joins the best story above :data:`THRESHOLD` whose last article is at most
:data:`WINDOW_DAYS` away and whose first at most :data:`MAX_SPAN_DAYS`; otherwise it starts a
story, linked (``follows_story_id``) to an older similar one when there is one — a follow-up
days later about a new development is a new story, so no seed folds into one giant story.
Why each article joined is kept as JSON (:class:`StoryExplanation`). Articles already in a
story are never moved by this stage: ``story merge`` and ``story split`` are the analyst's,
and a later run does not undo them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .match import KIND_WEIGHT, tokens
from .records import NO_PROGRESS, Mention, Progress, iso, now_utc, parse_iso
from .store.stories import Candidate

if TYPE_CHECKING:
    from .store import Store

#: An article joins a story whose last article is at most this many days from it ...
WINDOW_DAYS = 3.0
#: ... and whose first article at most this many (no chain of daily updates grows forever).
MAX_SPAN_DAYS = 5.0
#: An older similar story (beyond the window) this recent is linked as the one followed.
FOLLOW_DAYS = 21.0
#: The similarity an article needs to join a story (and to be linked as a follow-up).
THRESHOLD = 0.32
#: How the similarity is made: entities and terms, when the story has the article's language.
ENTITY_SHARE = 0.55
TERM_SHARE = 0.45
#: Against a story in other languages only entities compare, and count this much.
CROSS_LANGUAGE_FACTOR = 0.8
#: The similarity lost at the far edge of the window (none the same day).
TIME_DAMPING = 0.25
#: Distinctive terms and phrases kept per article.
TOP_TERMS = 40
TOP_PHRASES = 6
#: Key rarity: counted over the stories of the last DF_DAYS days, at most DF_CAP of them
#: (bounded index reads); a background of at least MIN_STORIES stories is assumed, so a
#: young database does not make every key rare.
DF_DAYS = 30.0
DF_CAP = 100
MIN_STORIES = 50
#: Keys an article looks stories up by (its heaviest: the rarest entities and words; a
#: key in most stories, like NASA, finds nothing a rarer one does not), stories read per key
#: (the most recent), and stories scored per article: every read is bounded.
LOOKUP_KEYS = 30
PER_KEY = 30
SHORTLIST = 25
#: The story's keys its term weight is read from (a long story's rarest words do not
#: dilute the comparison).
STORY_TERMS = 60
#: How much sharing an entity of each kind says two articles report the same event: the
#: match stage's weights (:data:`pipeline.match.KIND_WEIGHT`), except that an official, who
#: speaks on many events, says less, and a country very little.
STORY_KIND_WEIGHT = {**KIND_WEIGHT, "OFFICIAL": 1.5, "COUNTRY": 0.3, "PLACE": 0.6}
#: Words that say nothing about which event a space story reports.
GENERIC = frozenset({
    "space", "agency", "news", "report", "reported", "reports", "according", "told",
    "statement", "official", "officials", "year", "years", "week", "weeks", "today",
    "yesterday", "tomorrow", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "per", "cent", "percent", "including", "added", "noted", "one",
    "two", "three", "first", "last", "new", "time", "may", "well", "still", "now",
    # Russian, as lemmas (pipeline.match.tokens reads a Russian word by its lemma).
    "год", "сообщить", "заявить", "сказать", "глава", "время", "день", "неделя", "новый",
    "первый", "агентство", "космический", "также", "словам", "слово", "отметить", "являться",
    "который", "мочь", "стать", "один", "два", "три"})
_TITLE_BOOST = 2.0
#: ``meta`` key: the highest article id when the stories step last finished. Every article
#: analysed by then with an id up to it is in a story; one analysed later with a lower id
#: (an NER retry) is placed by the pass that analyses it.
WATERMARK = "stories.article_watermark"


@dataclass(frozen=True)
class StoryChange:
    """What one run did to one story."""

    story_id: int
    article_ids: tuple[int, ...]    # articles that joined in this run
    created: bool                   # the story was started in this run
    growth: tuple[str, ...]         # e.g. ("new language: ru", "new official quoted: person:x")


@dataclass(frozen=True)
class StoryCounts:
    """What a stories run did: articles placed, stories touched, of which new."""

    articles: int = 0
    stories: int = 0
    new: int = 0


@dataclass(frozen=True)
class SharedKey:
    """A key an article shares with a story, and its weight in the comparison."""

    key: str
    weight: float


@dataclass(frozen=True)
class StoryExplanation:
    """Why an article is in its story (``story_articles.explanation``)."""

    #: ``joined``, ``started``, ``follow-up`` (started, linked to an older story), or the
    #: analyst's ``merge`` / ``split``.
    decision: str
    similarity: float = 0.0
    threshold: float = THRESHOLD
    #: The parts: cosine of the entities, of the terms and phrases (None: the story has no
    #: article in the article's language, so only entities compared).
    entity_part: float = 0.0
    term_part: float | None = None
    entities: tuple[SharedKey, ...] = ()
    terms: tuple[SharedKey, ...] = ()
    days_apart: float | None = None
    candidates: int = 0
    follows_story_id: int | None = None
    reason: str = ""
    #: What the article brought an existing story: ``new language: ru``, ``new official
    #: quoted: <entity id>`` (the alerts' re-alert rule reads it).
    growth: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The stored form: keys sorted, non-ASCII kept."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> StoryExplanation:
        """Read a stored explanation; a missing part reads as empty. Raises ValueError for
        text that is not one."""
        data = json.loads(text or "{}")
        if not isinstance(data, dict):
            raise ValueError("a story explanation is a JSON object")

        def keys(name: str) -> tuple[SharedKey, ...]:
            value = data.get(name)
            items = value if isinstance(value, list) else []
            return tuple(SharedKey(key=str(k.get("key", "")), weight=float(k.get("weight") or 0))
                         for k in items if isinstance(k, dict))

        days = data.get("days_apart")
        term_part = data.get("term_part")
        follows = data.get("follows_story_id")
        return cls(decision=str(data.get("decision", "")),
                   similarity=float(data.get("similarity") or 0.0),
                   threshold=float(data.get("threshold") or THRESHOLD),
                   entity_part=float(data.get("entity_part") or 0.0),
                   term_part=float(term_part) if term_part is not None else None,
                   entities=keys("entities"), terms=keys("terms"),
                   days_apart=float(days) if days is not None else None,
                   candidates=int(data.get("candidates") or 0),
                   follows_story_id=int(follows) if follows is not None else None,
                   reason=str(data.get("reason", "")),
                   growth=tuple(str(g) for g in data.get("growth") or () if isinstance(g, str)))


@dataclass(frozen=True)
class ArticleKeys:
    """An article as the story stage compares it: its keys with their raw weights (kind and
    frequency in the article; rarity is applied against the index)."""

    article_id: int
    published_at: str
    language: str
    entities: dict[str, float]
    terms: dict[str, float]

    def all(self) -> dict[str, float]:
        """Every key with its raw weight."""
        return {**self.entities, **self.terms}


@dataclass(frozen=True)
class Decision:
    """Where an article goes: an existing story (``story_id``) or a new one."""

    story_id: int | None
    similarity: float
    explanation: StoryExplanation
    follows_story_id: int | None = None
    #: The article's keys with the weights to store for its story.
    keys: Mapping[str, float] = field(default_factory=dict)


_NUMBERISH = re.compile(r"\d")


def article_keys(article_id: int, title: str, text: str, language: str | None,
                 published_at: str, mentions: Sequence[Mention]) -> ArticleKeys:
    """The article's entity, term and phrase keys with raw weights: an entity by its kind
    (:data:`pipeline.match.KIND_WEIGHT`) and how often it is named, a term or phrase by how
    often it occurs (twice as much in the title); the words of the entities' names and
    :data:`GENERIC` words are not terms."""
    counts = Counter(m.entity_id for m in mentions)
    kinds = {m.entity_id: m.kind for m in mentions}
    entities = {f"e:{eid}": STORY_KIND_WEIGHT.get(kinds[eid], 0.8)
                * min(1.5, 0.75 + 0.25 * n) for eid, n in counts.items()}
    # Words of the entities' names are the entity part's evidence, not the terms'.
    named = set(GENERIC).union(*(tokens(m.surface) for m in mentions))
    head = [t for t in tokens(title) if t not in named and not _NUMBERISH.search(t)]
    body = [t for t in tokens(text) if t not in named and not _NUMBERISH.search(t)]
    tf: dict[str, float] = dict(Counter(body))
    for word in head:
        tf[word] = tf.get(word, 0.0) + _TITLE_BOOST
    terms = {f"t:{t}": 1.0 + math.log(n) for t, n in tf.items()}
    pairs: dict[str, float] = {}
    for words, boost in ((body, 1.0), (head, _TITLE_BOOST)):
        for a, b in zip(words, words[1:], strict=False):
            if a != b:
                pairs[f"{a} {b}"] = pairs.get(f"{a} {b}", 0.0) + boost
    phrases = {f"p:{p}": 1.0 + math.log(n) for p, n in pairs.items() if n >= 2}
    return ArticleKeys(article_id=article_id, published_at=published_at,
                       language=language or "und", entities=entities,
                       terms={**terms, **phrases})


def weigh(keys: ArticleKeys, idf: Mapping[str, float]) -> dict[str, float]:
    """The article's keys weighted by rarity: every entity, and its :data:`TOP_TERMS` most
    distinctive terms and :data:`TOP_PHRASES` phrases."""
    entities = {k: w * idf.get(k, 1.0) for k, w in keys.entities.items()}
    weighted = {k: w * idf.get(k, 1.0) for k, w in keys.terms.items()}
    ranked = sorted(weighted.items(), key=lambda kv: (-kv[1], kv[0]))
    terms = [kv for kv in ranked if kv[0].startswith("t:")][:TOP_TERMS]
    phrases = [kv for kv in ranked if kv[0].startswith("p:")][:TOP_PHRASES]
    return {**entities, **dict(terms), **dict(phrases)}


def idf(df: int, stories: int) -> float:
    """The rarity of a key found in ``df`` of ``stories`` recent stories (at least
    :data:`MIN_STORIES` assumed)."""
    n = max(stories, MIN_STORIES)
    return max(0.05, math.log((n + 1) / (min(df, n) + 1)))


def days_between(a: str, b: str) -> float:
    """Days from one stored time to another, either way round."""
    return abs((parse_iso(a) - parse_iso(b)).total_seconds()) / 86400.0


def _overlap(article: Mapping[str, float], story: Mapping[str, float], prefix: tuple[str, ...],
             story_top: int | None = None) -> tuple[float, list[SharedKey]]:
    """Cosine of the two weighted key sets restricted to keys starting with ``prefix``."""
    mine = {k: w for k, w in article.items() if k.startswith(prefix)}
    theirs_all = sorted(((k, w) for k, w in story.items() if k.startswith(prefix)),
                        key=lambda kv: (-kv[1], kv[0]))
    theirs = dict(theirs_all[:story_top] if story_top else theirs_all)
    if not mine or not theirs:
        return 0.0, []
    shared = [SharedKey(key=k, weight=round(w, 3)) for k, w in mine.items() if k in story]
    dot = sum(mine[s.key] * story[s.key] for s in shared)
    norm = math.sqrt(sum(w * w for w in mine.values()) * sum(w * w for w in theirs.values()))
    shared.sort(key=lambda s: (-s.weight, s.key))
    return (min(1.0, dot / norm) if norm else 0.0), shared


def similarity(weighted: Mapping[str, float], language: str, published_at: str,
               story: Candidate) -> tuple[float, StoryExplanation]:
    """How alike an article (its weighted keys) and a story are, with the explanation."""
    entity, shared_entities = _overlap(weighted, story.keys, ("e:",))
    term, shared_terms = _overlap(weighted, story.keys, ("t:", "p:"), STORY_TERMS)
    same = language in story.languages
    # Against a story in other languages only the entities compare.
    value = ENTITY_SHARE * entity + TERM_SHARE * term if same \
        else CROSS_LANGUAGE_FACTOR * entity
    days = days_between(published_at, story.last_updated)
    value *= 1.0 - TIME_DAMPING * min(days / WINDOW_DAYS, 1.0)
    return round(value, 4), StoryExplanation(
        decision="", similarity=round(value, 4), threshold=THRESHOLD,
        entity_part=round(entity, 4), term_part=round(term, 4) if same else None,
        entities=tuple(shared_entities[:10]),
        terms=tuple(shared_terms[:10]), days_apart=round(days, 2))


def joinable(story: Candidate, published_at: str) -> bool:
    """Whether an article published then may join the story (else at most follow it)."""
    return (days_between(published_at, story.last_updated) <= WINDOW_DAYS
            and days_between(published_at, story.first_seen) <= MAX_SPAN_DAYS)


def decide(weighted: Mapping[str, float], language: str, published_at: str,
           candidates: Sequence[Candidate]) -> Decision:
    """Join the most similar joinable story above :data:`THRESHOLD`, or start a story
    (following the most similar older one above it, if any). Ties go to the lower id."""
    scored = [(similarity(weighted, language, published_at, c), c) for c in candidates]
    best_join = max(((s, c) for s, c in scored if joinable(c, published_at)),
                    key=lambda sc: (sc[0][0], -sc[1].story_id), default=None)
    if best_join is not None and best_join[0][0] >= THRESHOLD:
        (value, ex), story = best_join
        return Decision(story_id=story.story_id, similarity=value, keys=weighted,
                        explanation=_with(ex, "joined", len(candidates),
                                          f"most similar story in the last {WINDOW_DAYS:g} "
                                          f"days ({value:.2f} ≥ {THRESHOLD})"))
    older = max(((s, c) for s, c in scored
                 if not joinable(c, published_at) and c.last_updated <= published_at),
                key=lambda sc: (sc[0][0], -sc[1].story_id), default=None)
    if older is not None and older[0][0] >= THRESHOLD:
        (value, ex), story = older
        return Decision(story_id=None, similarity=value, keys=weighted,
                        follows_story_id=story.story_id,
                        explanation=_with(ex, "follow-up", len(candidates),
                                          f"started a story: like story {story.story_id} "
                                          f"({value:.2f}) but {ex.days_apart:g} days after "
                                          "its last report (or past its span)",
                                          follows=story.story_id))
    best = max((s[0] for s, _c in scored), default=0.0)
    return Decision(story_id=None, similarity=0.0, keys=weighted,
                    explanation=StoryExplanation(
                        decision="started", threshold=THRESHOLD, candidates=len(candidates),
                        reason=f"started a story: no candidate above {THRESHOLD} "
                               f"(best {best:.2f})" if candidates else
                               f"started a story: no candidate above {THRESHOLD} "
                               "(no recent story shares a key)"))


def _with(ex: StoryExplanation, decision: str, candidates: int, reason: str,
          follows: int | None = None) -> StoryExplanation:
    return StoryExplanation(decision=decision, similarity=ex.similarity, threshold=THRESHOLD,
                            entity_part=ex.entity_part, term_part=ex.term_part,
                            entities=ex.entities,
                            terms=ex.terms, days_apart=ex.days_apart, candidates=candidates,
                            follows_story_id=follows, reason=reason)


def window_start(published_at: str, days: float) -> str:
    """The stored time ``days`` before ``published_at``."""
    return iso(parse_iso(published_at) - timedelta(days=days))


def assign_stories(store: Store, *, progress: Progress = NO_PROGRESS) -> list[StoryChange]:
    """Put every analysed article not yet in a story into one (incremental, indexed).

    Articles go in publication order; each reads only the stories its keys find in the
    index within :data:`FOLLOW_DAYS`, and is written (story, counters, keys) in its own
    transaction. Returns one :class:`StoryChange` per story touched, in story id order.
    """
    top = store.last_article_id()  # before the read: a later article is the next run's
    todo = store.articles_needing_story()
    progress.stage("stories", len(todo))
    changes: dict[int, dict[str, Any]] = {}
    recent: dict[str, int] = {}
    for start in range(0, len(todo), 64):
        chunk = todo[start:start + 64]
        mentions = store.mentions_for([r["id"] for r in chunk])
        for row in chunk:
            weighted = _weighted(store, row, mentions[row["id"]], recent)
            lookup = dict(sorted(weighted.items(), key=lambda kv: (-kv[1], kv[0]))[:LOOKUP_KEYS])
            candidates = store.story_candidates(
                lookup, window_start(row["published_at"], FOLLOW_DAYS), PER_KEY, SHORTLIST)
            decision = decide(weighted, row["language"] or "und", row["published_at"],
                              candidates)
            growth: tuple[str, ...] = ()
            explanation = decision.explanation
            if decision.story_id is not None:
                growth = tuple(store.story_growth(decision.story_id, row["id"]))
                explanation = dataclasses.replace(explanation, growth=growth)
            story_id = store.place_article(
                row["id"], decision.story_id, similarity=decision.similarity,
                explanation=explanation.to_json(), keys=decision.keys,
                # Stamped as it is written (not when the run began): the alerts' join
                # watermark then never passes a placement a long run commits later.
                now=iso(now_utc()), follows_story_id=decision.follows_story_id)
            change = changes.setdefault(story_id, {"ids": [], "created": False, "growth": []})
            change["ids"].append(row["id"])
            change["created"] = change["created"] or decision.story_id is None
            change["growth"] += [g for g in growth if g not in change["growth"]]
        progress.advance(len(chunk))
    if top > _watermark(store):
        store.set_meta(WATERMARK, str(top), iso(now_utc()))
    return [StoryChange(story_id=sid, article_ids=tuple(c["ids"]), created=c["created"],
                        growth=tuple(c["growth"])) for sid, c in sorted(changes.items())]


def stories_due(store: Store) -> bool:
    """Whether the stories step has work a pass that analysed nothing would miss: an
    analysed article in no story above :data:`WATERMARK` (left by a pass that crashed
    between matching and the stories step, or stored before stories existed). One indexed
    read from the watermark, not a scan of every article."""
    return store.unplaced_after(_watermark(store))


def _watermark(store: Store) -> int:
    found = store.get_meta(WATERMARK)
    try:
        return int(found["value"]) if found else 0
    except (TypeError, ValueError):
        return 0  # unreadable: look at every article once


def story_counts(changes: Sequence[StoryChange]) -> StoryCounts:
    """The figures of a run, for ``StageReport.stories``."""
    return StoryCounts(articles=sum(len(c.article_ids) for c in changes),
                       stories=len(changes), new=sum(1 for c in changes if c.created))


def _weighted(store: Store, row: dict[str, Any], mentions: Sequence[Mention],
              counts: dict[str, int] | None = None) -> dict[str, float]:
    """An article's weighted keys against the index as it is now. ``counts`` memoises the
    number of recent stories by day within a run (one count per day, not per article)."""
    keys = article_keys(row["id"], row["title"], row["text"], row["language"],
                        row["published_at"], mentions)
    since = window_start(row["published_at"], DF_DAYS)[:10] + "T00:00:00Z"
    counts = {} if counts is None else counts
    if since not in counts:
        counts[since] = store.recent_story_count(since)
    stories = counts[since]
    df = store.story_key_df(list(keys.all()), since, DF_CAP)
    return weigh(keys, {k: idf(df.get(k, 0), stories) for k in keys.all()})


def _live_story(store: Store, story_id: int) -> None:
    """Raise :class:`InputError` unless the story exists and was not merged away."""
    story = store.story(story_id)
    if story is None:
        raise InputError(f"no story with id {story_id}")
    if story.merged_into is not None:
        raise InputError(f"story {story_id} was merged into story {story.merged_into}")


def merge_stories(store: Store, into: int, other: int) -> None:
    """The analyst's ``story merge A B``: B's articles move into A (``assigned_by =
    'merge'``), B is kept, empty, with ``merged_into = A``. No later run undoes it."""
    if into == other:
        raise InputError("cannot merge a story into itself")
    _live_story(store, into)
    _live_story(store, other)
    explanation = StoryExplanation(decision="merge", similarity=0.0,
                                   reason=f"moved from story {other} by story merge")
    store.merge_stories(into, other, explanation.to_json(), iso(now_utc()))


def split_story(store: Store, story_id: int, article_ids: Sequence[int]) -> int:
    """The analyst's ``story split ID ARTICLE...``: the given articles leave the story for
    a new one (``assigned_by = 'split'``); both stories' keys are rebuilt from the articles
    each keeps. Returns the new story's id. No later run undoes it."""
    _live_story(store, story_id)
    members = set(store.story_article_ids(story_id))
    wanted = sorted(set(article_ids))
    if not wanted:
        raise InputError("name at least one article to split off")
    strangers = [a for a in wanted if a not in members]
    if strangers:
        raise InputError(f"article {strangers[0]} is not in story {story_id}")
    if set(wanted) == members:
        raise InputError(f"those are all the articles of story {story_id}: nothing to split")
    rows = store.story_article_rows(sorted(members))
    mentions = store.mentions_for([r["id"] for r in rows])
    kept: dict[str, tuple[float, str]] = {}
    moved: dict[str, tuple[float, str]] = {}
    for row in rows:
        target = moved if row["id"] in wanted else kept
        for key, weight in _weighted(store, row, mentions[row["id"]]).items():
            old = target.get(key)
            target[key] = (weight + old[0] if old else weight,
                           max(row["published_at"], old[1]) if old else row["published_at"])
    explanation = StoryExplanation(decision="split",
                                   reason=f"split off story {story_id} by story split")
    return store.split_story(story_id, wanted, explanation.to_json(), iso(now_utc()),
                             kept, moved)
