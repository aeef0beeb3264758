"""The event log's versioning rule: when a re-score writes a new version of an event.

An event is one (article, seed) pair at or above the match threshold, stored as a row of
``matches``. The log is a record: a row, once written, keeps its score, explanation, seed
version and ``matched_at`` for good. The only change a row ever sees is ``superseded_at``,
set once, when a later version replaces it; no row is ever deleted (triggers in the schema
refuse both).

Re-scoring a pair (after a seed edit, a scorer change, a gazetteer change, a changed
article, ``reprocess --all``) compares the new score with the *current* version:

- no current version: a score at or above the threshold writes version 1 (status
  ``match``); below, nothing is written;
- a current version whose score is within :data:`TOLERANCE` of the new one, and whose
  verdict still holds under today's threshold: nothing is written (small drift — the corpus
  grew, a seed's wording was polished — is not news);
- otherwise the current version is superseded by a new one: ``match`` when the new score
  reaches the threshold, ``withdrawn`` when a match fell below it. A pair that was already
  withdrawn and stays below the threshold writes nothing.

This module is pure: the store applies :func:`decide` inside its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How far a re-score may move from the current version's score and still count as the same
#: event (scores are in [0, 1]). Chosen above the drift a growing corpus causes (the
#: background's IDF weights move scores by a few hundredths) and well below the gap between
#: a follow-up and a neighbouring story on the dev set.
TOLERANCE = 0.05

MATCH = "match"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Current:
    """The current version of one (article, seed) event, as the decision needs it."""

    id: int
    status: str  # MATCH or WITHDRAWN
    score: float
    version: int


@dataclass(frozen=True)
class SeedScore:
    """A fresh score of one article against one seed, ready to be stored."""

    seed_id: str
    score: float
    explanation: str  # JSON
    seed_version: str


@dataclass(frozen=True)
class ArticleScores:
    """One article's fresh scores against every loaded seed."""

    article_id: int
    pipeline_version: str  # "<nlp version>|<matcher version>"
    scores: tuple[SeedScore, ...]


@dataclass(frozen=True)
class Scoring:
    """What every score of one matching run shares."""

    threshold: float
    scorer_version: str
    corpus_version: int  # articles in the background corpus the weights came from
    match_version: str  # stamped on the article: the seeds, scorer and threshold used


#: The outcomes of :func:`decide`.
NEW, NEW_VERSION, WITHDRAW, UNCHANGED, NOTHING = ("new", "new version", "withdraw",
                                                  "unchanged", "nothing")


def decide(current: Current | None, score: float, threshold: float) -> str:
    """What a fresh ``score`` does to the log, given the pair's current version."""
    matched = score >= threshold
    if current is None:
        return NEW if matched else NOTHING
    was_match = current.status == MATCH
    still_true = (current.score >= threshold) == was_match
    if abs(score - current.score) <= TOLERANCE + 1e-9 and still_true:
        return UNCHANGED if was_match else NOTHING
    if matched:
        return NEW_VERSION
    return WITHDRAW if was_match else NOTHING


@dataclass
class EventCounts:
    """What one matching run did to the log."""

    rescored: int = 0  # articles scored
    new: int = 0  # first versions
    versions: int = 0  # later versions that are matches
    withdrawn: int = 0  # later versions that withdraw a match
    unchanged: int = 0  # current matches kept as they were (within the tolerance)

    def add(self, outcome: str) -> None:
        """Count one pair's outcome."""
        if outcome == NEW:
            self.new += 1
        elif outcome == NEW_VERSION:
            self.versions += 1
        elif outcome == WITHDRAW:
            self.withdrawn += 1
        elif outcome == UNCHANGED:
            self.unchanged += 1

    def merge(self, other: EventCounts) -> None:
        """Add another batch's counts to these."""
        self.rescored += other.rescored
        self.new += other.new
        self.versions += other.versions
        self.withdrawn += other.withdrawn
        self.unchanged += other.unchanged
