"""Dev-set metrics: entity precision/recall per kind, and ranking quality for matching.

Used by the quality tests (which pin floors) and by ``bench/quality.py`` (which prints the
figures). The dev sets live in ``tests/data/``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .entities import Mention
from .gazetteer import fold

EVAL_KINDS = ("AGENCY", "GOVERNMENT", "OFFICIAL", "CREW", "COMPANY", "PROGRAM", "SPACECRAFT",
              "COUNTRY", "PERSON", "ORGANIZATION")


def _key(kind: str, ident: str | None, name: str | None) -> tuple[str, str]:
    if ident:
        return kind, ident
    return kind, re.sub(r"[^\w]+", "-", fold(name or "")).strip("-")


def predicted_keys(mentions: Iterable[Mention]) -> set[tuple[str, str]]:
    """(kind, id) pairs for a text's mentions; model entities keyed by their name slug."""
    keys = set()
    for m in mentions:
        if m.kind not in EVAL_KINDS:
            continue
        ident = m.entity_id if m.origin == "gazetteer" else None
        keys.add(_key(m.kind, ident, m.name))
    return keys


@dataclass
class NerScores:
    """Per-kind counts over a dev set."""

    tp: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fp: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fn: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    absent_violations: list[tuple[str, str]] = field(default_factory=list)
    roles_expected: int = 0
    roles_found: int = 0
    errors: list[str] = field(default_factory=list)

    def precision(self, kind: str | None = None) -> float:
        tp, fp = self._sum(self.tp, kind), self._sum(self.fp, kind)
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self, kind: str | None = None) -> float:
        tp, fn = self._sum(self.tp, kind), self._sum(self.fn, kind)
        return tp / (tp + fn) if tp + fn else 1.0

    def support(self, kind: str) -> int:
        return self.tp[kind] + self.fn[kind]

    @staticmethod
    def _sum(counts: dict[str, int], kind: str | None) -> int:
        return counts[kind] if kind else sum(counts.values())


def score_ner(records: Sequence[dict[str, Any]],
              predictions: Sequence[list[Mention]]) -> NerScores:
    """Compare predicted mentions with the dev set's ``expect`` / ``absent`` annotations."""
    scores = NerScores()
    for record, mentions in zip(records, predictions, strict=True):
        expected = {_key(e["kind"], e.get("id"), e.get("name")) for e in record["expect"]}
        predicted = predicted_keys(mentions)
        for kind, ident in predicted | expected:
            if (kind, ident) in predicted and (kind, ident) in expected:
                scores.tp[kind] += 1
            elif (kind, ident) in predicted:
                scores.fp[kind] += 1
                scores.errors.append(f"{record['id']}: extra {kind} {ident}")
            else:
                scores.fn[kind] += 1
                scores.errors.append(f"{record['id']}: missed {kind} {ident}")
        found_ids = {m.entity_id for m in mentions}
        for absent in record.get("absent") or []:
            if absent in found_ids:
                scores.absent_violations.append((record["id"], absent))
        for e in record["expect"]:
            if e.get("role") and e.get("id"):
                scores.roles_expected += 1
                if any(m.entity_id == e["id"] and m.role for m in mentions):
                    scores.roles_found += 1
    return scores


def average_precision(ranked_relevance: Sequence[bool]) -> float:
    """Average precision of a ranking given each position's relevance."""
    hits, total = 0, 0.0
    for i, relevant in enumerate(ranked_relevance, start=1):
        if relevant:
            hits += 1
            total += hits / i
    return total / hits if hits else 0.0


def precision_recall(scores: Sequence[float], relevant: Sequence[bool],
                     threshold: float) -> tuple[float, float]:
    """Precision and recall of ``score >= threshold`` as the decision."""
    chosen = [r for s, r in zip(scores, relevant, strict=True) if s >= threshold]
    tp = sum(chosen)
    precision = tp / len(chosen) if chosen else 1.0
    recall = tp / sum(relevant) if any(relevant) else 1.0
    return precision, recall
