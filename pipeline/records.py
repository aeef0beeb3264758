"""The ground floor: plain records the stages pass to each other, and the rules they share.

Nothing here imports from the rest of SpaceWatch, so every module can import from here.

- Records: :class:`Article` (normalize), :class:`Page` (extract), :class:`Mention` and
  :class:`Quote` (entities), :class:`FeedRow` / :class:`FeedState` / :class:`FetchRecord` (a
  feed's stored state, its new state and one attempt's row), :class:`Explanation` (why an
  article matched a seed, stored as JSON with the event).
- Shared facts, written once: the fetch outcomes, the entity kinds, the slug and folding
  rules, the clock and its ISO-8601 form.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

# -- the clock ---------------------------------------------------------------------------


def now_utc() -> datetime:
    """The current time, timezone-aware UTC (one place, so tests can read it)."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with seconds precision, e.g. ``2025-07-14T09:30:00Z`` (how every time is
    stored)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """A stored time (``…Z`` or with an offset) as an aware datetime; a time without an
    offset is UTC. Raises ValueError when ``value`` is not ISO-8601."""
    when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# -- fetch outcomes ----------------------------------------------------------------------

#: Every fetch attempt (and every feed's turn in a pass) ends in one of these.
OK = "ok"
NOT_MODIFIED = "not_modified"
FAILED = "failed"
#: Stopped by a shutdown: says nothing about the feed, and is not recorded.
CANCELLED = "cancelled"
#: Not fetched this pass (backing off, or disabled).
SKIPPED = "skipped"

# -- entity kinds ------------------------------------------------------------------------

#: The kinds a gazetteer entry may have (models/gazetteer.yaml).
GAZETTEER_KINDS = ("AGENCY", "GOVERNMENT", "OFFICIAL", "CREW", "COMPANY", "PROGRAM",
                   "SPACECRAFT", "COUNTRY")
#: The kinds of the statistical model's entities that no gazetteer entry covers.
MODEL_KINDS = ("PERSON", "ORGANIZATION", "PLACE")
#: Every kind a stored mention can have.
ENTITY_KINDS = GAZETTEER_KINDS + MODEL_KINDS
#: The kinds that are people (they carry a role: "NASA Administrator").
PEOPLE = ("OFFICIAL", "CREW")
#: Where something happens rather than who acts: not "actors" in the digest.
PLACE_KINDS = ("PLACE", "COUNTRY")

# -- text rules --------------------------------------------------------------------------

_WS = re.compile(r"\s+")
_NOT_SLUG = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Whitespace-collapsed, case-folded, typographic quotes made plain: the matching key."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    return _WS.sub(" ", text).strip().casefold()


def slug(text: str) -> str:
    """The id-safe form of a name: folded, every run of other characters one hyphen
    ("Dmitry Bakanov" -> ``dmitry-bakanov``, "000_iss_talks" -> ``000-iss-talks``); used for
    model entity ids and seed ids from file names."""
    return _NOT_SLUG.sub("-", fold(text)).strip("-")


def plural(n: int, noun: str) -> str:
    """``1 seed``, ``2 seeds``: a count with its noun (English, for messages)."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


# -- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    """One normalized feed entry (or imported record)."""

    guid: str
    url: str | None
    title: str
    summary: str
    published_at: str
    published_estimated: bool
    author: str | None = None
    #: ISO 639-1 code from :mod:`pipeline.language` (``und``: none the beat analyses).
    language: str | None = None
    language_confidence: float | None = None
    #: What decided ``language``: text, hint (the feed's), default, or given (an import's).
    language_source: str | None = None
    content_hash: str = ""
    #: Why ``published_at`` is the fetch time although the source gave a date (unparseable,
    #: in the future); None when the date was used or there was none.
    date_note: str | None = None


@dataclass(frozen=True)
class Page:
    """What one article page came to."""

    url: str
    ok: bool
    text: str = ""
    title: str | None = None
    author: str | None = None
    published_at: str | None = None
    error: str | None = None
    http_status: int | None = None
    final_url: str | None = None


@dataclass(frozen=True)
class Mention:
    """One occurrence of an entity in an analyzed text (offsets are characters)."""

    entity_id: str
    name: str
    kind: str
    origin: str
    surface: str
    start: int
    end: int
    sentence: str
    role: str | None = None
    wikidata: str | None = None
    #: How a mention that names no one was resolved: ``office`` = a role-only phrase ("the
    #: head of Roscosmos") linked to the office's holder on the publication date
    #: (:mod:`pipeline.offices`); None = named in the text.
    resolved_by: str | None = None

    def resolution(self, day: str | None) -> str:
        """How this mention was resolved, as one line for ``explain`` and ``analyze``: "by
        office: head of Roscosmos on 2025-07-15" (``day``: the day offices were resolved on,
        the article's publication day; None: unknown), a gazetteer entry and the surface it
        was written as, or a new entity from the model and the kind its context gave it."""
        if self.resolved_by == "office":
            when = f"on {day[:10]}" if day else "on the day it was analysed"
            return f"by office: {self.role or self.surface} {when}"
        if self.origin == "gazetteer":
            return f"gazetteer entry {self.entity_id}, written “{self.surface}”"
        text = "new entity found by the model"
        if self.kind in TYPED_KINDS:
            text += f", typed {self.kind} by its context"
            if self.role:
                text += f" (role: {self.role})"
        return text


#: Kinds a new entity gets from its context (:mod:`pipeline.typing_rules`); any other kind of
#: a model entity is the model's own label.
TYPED_KINDS = ("AGENCY", "COMPANY", "OFFICIAL", "CREW")


@dataclass(frozen=True)
class Quote:
    """One quotation or reported clause and who said it (offsets are characters of the
    analysed text, like a :class:`Mention`'s); found by :mod:`pipeline.quotes`."""

    speaker_entity_id: str
    speaker_name: str
    #: The quoted words (without the marks) or the reported clause.
    text: str
    #: ``direct`` or ``reported``.
    kind: str
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    #: The speech verb or phrase as written: "said", "according to", "заявил", "по словам".
    cue: str


@dataclass(frozen=True)
class FeedRow:
    """A feed's stored state, as the fetch stage needs it."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    error_count: int
    next_fetch_at: str | None
    disabled: bool
    disabled_reason: str | None = None
    #: Where the feed moved permanently (301/308): fetched instead of ``url`` until
    #: feeds.yaml names a URL of its own.
    moved_to: str | None = None


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends next time: they move only with the articles they cover."""

    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Move:
    """A permanent redirect seen on a fetch: where the feed is now (None: back at the URL
    feeds.yaml names)."""

    to: str | None


@dataclass(frozen=True)
class FeedState:
    """A feed's state after a fetch that reached a verdict: what its ``feeds`` row becomes."""

    outcome: str
    status: int | None
    error: str | None
    fetched_at: str
    error_count: int
    next_fetch_at: str
    #: Set when this fetch disables the feed (410 Gone, too many failures in a row).
    disabled_reason: str | None = None
    #: Set when the validators move (a fetch that brought a body).
    validators: Validators | None = None
    #: Set when the feed's permanent location changed.
    move: Move | None = None

    @property
    def succeeded(self) -> bool:
        """A success re-enables the feed and counts as its last success."""
        return self.outcome != FAILED


@dataclass(frozen=True)
class FetchRecord:
    """One fetch attempt, as its row in ``fetches``."""

    started_at: str
    outcome: str
    duration_ms: int | None = None
    http_status: int | None = None
    bytes: int | None = None
    entries: int | None = None
    error: str | None = None
    detail: str | None = None


@dataclass
class FeedReport:
    """How one feed's turn in a pass ended."""

    feed: str
    outcome: str
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    entries: int = 0
    duration_ms: int = 0
    error: str | None = None
    detail: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PageCounts:
    """What a full-text run did: pages fetched, of which extracted and failed."""

    pages: int = 0
    extracted: int = 0
    failed: int = 0


# -- progress ----------------------------------------------------------------------------


class Progress(Protocol):
    """What a pass reports while it runs (the CLI draws a bar; the daemon checks whether it
    should stop)."""

    def stage(self, name: str, total: int | None) -> None:
        """A stage (``fetching``, ``full text``, ``entities``, ``matching``) begins, with
        ``total`` items (None when unknown)."""

    def advance(self, n: int = 1) -> None:
        """``n`` more items of the current stage are done."""

    def feed_done(self, report: FeedReport) -> None:
        """One feed's turn ended (fetched, failed or skipped)."""


class NoProgress:
    """The progress that reports nothing (the default)."""

    def stage(self, name: str, total: int | None) -> None:
        """Nothing to show."""

    def advance(self, n: int = 1) -> None:
        """Nothing to show."""

    def feed_done(self, report: FeedReport) -> None:
        """Nothing to show."""


NO_PROGRESS: Progress = NoProgress()


# -- the match explanation ---------------------------------------------------------------


@dataclass(frozen=True)
class SharedEntity:
    """A seed entity the article names, with its weight in the seed's profile."""

    id: str
    name: str
    kind: str
    weight: float
    mentions: int


@dataclass(frozen=True)
class TermWeight:
    """A seed term the article uses, with its share of the cosine."""

    term: str
    weight: float


@dataclass(frozen=True)
class PhraseHit:
    """A seed phrase found in the article."""

    phrase: str
    weight: float
    count: int


@dataclass(frozen=True)
class Parts:
    """The score's parts, each in [0, 1] (``cosine`` is the raw lexical similarity)."""

    entities: float = 0.0
    lexical: float = 0.0
    phrases: float = 0.0
    cosine: float = 0.0


@dataclass(frozen=True)
class Weights:
    """How much each part counts in the score."""

    entities: float = 0.0
    lexical: float = 0.0
    phrases: float = 0.0


@dataclass(frozen=True)
class Explanation:
    """Why an article scored what it did against a seed; stored as JSON with each event
    (``matches.explanation``, read by SQL views as ``$.evidence[0]`` and
    ``$.profile_version``)."""

    score: float
    components: Parts = field(default_factory=Parts)
    weights: Weights = field(default_factory=Weights)
    entities: tuple[SharedEntity, ...] = ()
    terms: tuple[TermWeight, ...] = ()
    phrases: tuple[PhraseHit, ...] = ()
    #: One to three sentences of the article carrying the most seed evidence.
    evidence: tuple[str, ...] = ()
    profile_version: str | None = None

    def to_json(self) -> str:
        """The stored form: keys sorted, non-ASCII kept."""
        data = asdict(self)
        if data["profile_version"] is None:
            del data["profile_version"]
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Explanation:
        """Read a stored explanation, of any SpaceWatch version: a missing part reads as
        empty. Raises ValueError for text that is not an explanation (a hand-edited row)."""
        data = json.loads(text or "{}")
        if not isinstance(data, dict):
            raise ValueError("an explanation is a JSON object")

        def items(key: str) -> list[dict[str, Any]]:
            value = data.get(key)
            return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

        def mapping(key: str) -> dict[str, Any]:
            value = data.get(key)
            return value if isinstance(value, dict) else {}

        try:
            parts, weights = mapping("components"), mapping("weights")
            evidence = data.get("evidence")
            return cls(
                score=float(data.get("score") or 0.0),
                components=Parts(**{k: float(parts[k]) for k in
                                    ("entities", "lexical", "phrases", "cosine") if k in parts}),
                weights=Weights(**{k: float(weights[k]) for k in
                                   ("entities", "lexical", "phrases") if k in weights}),
                entities=tuple(SharedEntity(id=str(e.get("id", "")), name=str(e.get("name", "")),
                                            kind=str(e.get("kind", "")),
                                            weight=float(e.get("weight") or 0.0),
                                            mentions=int(e.get("mentions") or 0))
                               for e in items("entities")),
                terms=tuple(TermWeight(term=str(t.get("term", "")),
                                       weight=float(t.get("weight") or 0.0))
                            for t in items("terms")),
                phrases=tuple(PhraseHit(phrase=str(p.get("phrase", "")),
                                        weight=float(p.get("weight") or 0.0),
                                        count=int(p.get("count") or 0))
                              for p in items("phrases")),
                evidence=tuple(str(s) for s in evidence) if isinstance(evidence, list) else (),
                profile_version=(str(data["profile_version"])
                                 if data.get("profile_version") is not None else None))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a match explanation: {exc}") from None
