"""Dev-set metrics: entity precision/recall per kind, and ranking quality for matching.

Used by the quality tests (which pin floors) and by ``bench/quality.py`` (which prints the
figures). The dev sets live in ``tests/data/``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .records import ENTITY_KINDS, Mention, slug
from .russian import latin_slug

if TYPE_CHECKING:  # spaCy loads with entities: only when NER runs
    from .entities import Analyzer
    from .seeds import Seed

#: The kinds the dev set is annotated with (every kind but places).
EVAL_KINDS = tuple(kind for kind in ENTITY_KINDS if kind != "PLACE")


def _key(kind: str, ident: str | None, name: str | None) -> tuple[str, str]:
    if ident:
        return kind, ident
    # In Latin letters: a new person met in English and Russian copy keeps the name it was
    # first seen under («Аркадий Зимогоров» may be stored as "Arkady Zimogorov").
    return kind, latin_slug(name or "") or slug(name or "")


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
    #: Role-only mentions (records with ``published``): expected holders, found, and
    #: resolutions to someone not expected.
    offices_expected: int = 0
    offices_found: int = 0
    offices_wrong: int = 0
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
        if record.get("published"):
            holders = {e["id"] for e in record["expect"] if e["kind"] in ("OFFICIAL", "CREW")
                       and e.get("id")}
            by_office = {m.entity_id for m in mentions if m.resolved_by == "office"}
            scores.offices_expected += len(holders)
            scores.offices_found += len(holders & by_office)
            scores.offices_wrong += len(by_office - holders)
        for e in record["expect"]:
            if e.get("role") and e.get("id"):
                scores.roles_expected += 1
                if any(m.entity_id == e["id"] and m.role for m in mentions):
                    scores.roles_found += 1
    return scores


def split_of(record: dict[str, Any]) -> str:
    """A dev-set record's part: ``heldout`` (never tuned on) or ``dev`` (the default)."""
    return "heldout" if record.get("split") == "heldout" else "dev"


def ner_dates(records: Sequence[dict[str, Any]]) -> list[str | None]:
    """Each record's ``published`` day (role-only mentions resolve on it), None = today."""
    return [str(r["published"]) if r.get("published") else None for r in records]


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


@dataclass
class RankedItem:
    """One dev-set article with its label, SpaceWatch's score and the baseline's."""

    id: str
    label: str
    score: float
    baseline: float


def match_dev(records: Sequence[dict[str, Any]], seed: Seed,
              analyzer: Analyzer) -> list[RankedItem]:
    """Score the matching dev set against ``seed`` with the matcher and the TF-IDF baseline.

    The background corpus is the dev set itself plus the seed, as a store would hold them.
    """
    from .entities import analysis_text
    from .match import Background, build_profile, score, tfidf_cosine

    texts = [analysis_text(r.get("title", ""), r["text"]) for r in records]
    seed_text = analysis_text(seed.title, seed.text)
    mentions = list(analyzer.analyze([seed_text, *texts]))
    background = Background.from_texts([seed_text, *texts],
                                       ([m.entity_id for m in ms] for ms in mentions))
    profile = build_profile(seed, mentions[0], background)
    items = []
    for record, text, ms in zip(records, texts, mentions[1:], strict=True):
        result = score(profile, text, ms, background)
        items.append(RankedItem(record["id"], record["label"], result.score,
                                tfidf_cosine(seed_text, text, background)))
    return items


def ranking_report(items: Sequence[RankedItem], threshold: float) -> dict[str, float]:
    """AP (same_story relevant), P/R at the threshold, and label-order accuracy, for both
    the matcher and the baseline (the baseline's threshold is chosen for its best F1)."""
    relevant = [i.label == "same_story" for i in items]
    out: dict[str, float] = {}
    for name, key in (("matcher", "score"), ("baseline", "baseline")):
        values = [getattr(i, key) for i in items]
        order = sorted(range(len(items)), key=lambda k: -values[k])
        out[f"{name}_ap"] = average_precision([relevant[k] for k in order])
        rank = {"same_story": 2, "neighbour": 1, "off_topic": 0}
        pairs = correct = 0
        for a in range(len(items)):
            for b in range(len(items)):
                if rank[items[a].label] > rank[items[b].label]:
                    pairs += 1
                    correct += values[a] > values[b]
        out[f"{name}_order"] = correct / pairs if pairs else 1.0
        for label in ("same_story", "neighbour", "off_topic"):
            scores = [v for v, i in zip(values, items, strict=True) if i.label == label]
            out[f"{name}_mean_{label}"] = sum(scores) / len(scores) if scores else 0.0
    p, r = precision_recall([i.score for i in items], relevant, threshold)
    out["matcher_precision"], out["matcher_recall"] = p, r
    best = max(((precision_recall([i.baseline for i in items], relevant, t), t)
                for t in sorted({i.baseline for i in items})),
               key=lambda x: (_f1(*x[0]), -x[1]))
    (bp, br), bt = best
    out["baseline_precision"], out["baseline_recall"], out["baseline_threshold"] = bp, br, bt
    return out


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


#: The kinds whose figures are reported per language and per part (issue 13's targets).
TARGET_KINDS = ("AGENCY", "OFFICIAL", "CREW", "COMPANY")


def language_of(record: dict[str, Any]) -> str:
    """A dev-set record's language: its ``language`` key, else ``ru`` when most of its
    letters are Cyrillic, else ``en``."""
    if record.get("language"):
        return str(record["language"])
    letters = [c for c in record["text"] if c.isalpha()]
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return "ru" if letters and cyrillic * 2 > len(letters) else "en"


def scores_by_language(records: Sequence[dict[str, Any]],
                       predictions: Sequence[list[Mention]]
                       ) -> dict[tuple[str, str], NerScores]:
    """Scores per (language, part): ``("en", "dev")``, ``("ru", "heldout")``…"""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        groups[(language_of(record), split_of(record))].append(i)
    return {key: score_ner([records[i] for i in idx], [predictions[i] for i in idx])
            for key, idx in sorted(groups.items())}


def language_table(by_language: dict[tuple[str, str], NerScores],
                   kinds: Sequence[str] = TARGET_KINDS) -> list[str]:
    """Lines of a kind × language table, dev and held-out side by side (P / R (n))."""
    empty = NerScores()
    lines = [f"{'kind':10} {'lang':4} {'dev P / R (n)':>20} {'held-out P / R (n)':>20}"]
    for lang in sorted({lang for lang, _part in by_language}):
        for kind in kinds:
            cells = []
            for part in ("dev", "heldout"):
                s = by_language.get((lang, part), empty)
                cells.append(f"{s.precision(kind):.2f} / {s.recall(kind):.2f} "
                             f"({s.support(kind)})")
            lines.append(f"{kind:10} {lang:4} {cells[0]:>20} {cells[1]:>20}")
    return lines


def bcubed(gold: Mapping[Hashable, Hashable], predicted: Mapping[Hashable, Hashable],
           items: Iterable[Hashable] | None = None) -> tuple[float, float]:
    """B-cubed precision and recall of a clustering (Bagga & Baldwin 1998), per item averaged.

    ``gold`` and ``predicted`` map item -> cluster label. For each gold item, precision is the
    share of its predicted cluster that shares its gold label, recall the share of its gold
    cluster that shares its predicted cluster. Scored over the gold items only: a gold item
    the clustering left out counts as a cluster of its own (an article put in no story reports
    nothing together with anything), and predicted items outside ``gold`` are ignored. An empty
    ``gold`` scores (1.0, 1.0). ``items`` (a subset of ``gold``, e.g. the Russian articles)
    averages over those items only, their clusters still taken whole — how well *they* were
    placed, cross-language links included.
    """
    alone = object()
    pred = {item: predicted.get(item, (alone, item)) for item in gold}
    by_gold: dict[Hashable, set[Hashable]] = defaultdict(set)
    by_pred: dict[Hashable, set[Hashable]] = defaultdict(set)
    for item in gold:
        by_gold[gold[item]].add(item)
        by_pred[pred[item]].add(item)
    scored = list(gold) if items is None else [item for item in items if item in gold]
    if not scored:
        return 1.0, 1.0
    precision = recall = 0.0
    for item in scored:
        same_gold, same_pred = by_gold[gold[item]], by_pred[pred[item]]
        both = len(same_gold & same_pred)
        precision += both / len(same_pred)
        recall += both / len(same_gold)
    return precision / len(scored), recall / len(scored)
