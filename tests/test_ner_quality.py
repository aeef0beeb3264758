"""Quality gate: entity precision and recall per kind on the annotated dev set.

The floors sit a little under the figures measured when they were set (see the closing note
of the NER issue and ``bench/quality.py``); a change that drops below them fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.config import Settings
from pipeline.entities import get_analyzer
from pipeline.evaluate import ner_dates, score_ner, split_of

DEV = Path(__file__).parent / "data" / "ner_dev.yaml"

FLOORS = {  # kind: (precision, recall)
    # Target kinds: measured on dev (87 texts, round-1 held-out included) after the round-2
    # fixes — AGENCY 0.99/1.00, OFFICIAL 1.00/1.00, CREW 1.00/0.98, COMPANY 1.00/1.00 —
    # less a margin of about one mention.
    "AGENCY": (0.97, 0.98),
    "GOVERNMENT": (0.9, 0.8),
    "OFFICIAL": (0.98, 0.98),
    "CREW": (0.98, 0.96),
    "COMPANY": (0.98, 0.98),
    "PROGRAM": (0.95, 0.95),
    "SPACECRAFT": (0.95, 0.95),
    "COUNTRY": (0.95, 0.95),
}


@pytest.fixture(scope="module")
def scores():
    # The floors hold on the dev part; the held-out part is reported by bench/quality.py.
    records = [r for r in yaml.safe_load(DEV.read_text()) if split_of(r) == "dev"]
    analyzer = get_analyzer(Settings())
    return score_ner(records, list(analyzer.analyze([r["text"] for r in records],
                                                    dates=ner_dates(records))))


@pytest.fixture(scope="module")
def heldout_scores(scores):
    records = [r for r in yaml.safe_load(DEV.read_text()) if split_of(r) == "heldout"]
    analyzer = get_analyzer(Settings())
    return score_ner(records, list(analyzer.analyze([r["text"] for r in records],
                                                    dates=ner_dates(records))))


def test_dev_set_is_substantial() -> None:
    records = yaml.safe_load(DEV.read_text())
    assert len(records) >= 40
    assert sum(1 for r in records if any("\u0400" <= c <= "\u04ff" for c in r["text"])) >= 5
    assert sum(1 for r in records if r.get("absent")) >= 8


@pytest.mark.parametrize("kind", sorted(FLOORS))
def test_precision_and_recall_per_kind(scores, kind: str) -> None:
    precision, recall = FLOORS[kind]
    assert scores.precision(kind) >= precision, (kind, scores.errors)
    assert scores.recall(kind) >= recall, (kind, scores.errors)


def test_overall_and_false_friends(scores) -> None:
    assert scores.precision() >= 0.9 and scores.recall() >= 0.9
    assert scores.absent_violations == []


def test_roles_are_found_next_to_titles(scores) -> None:
    assert scores.roles_found / scores.roles_expected >= 0.85


def test_role_only_mentions_resolve_to_the_holder_on_the_day_dev_and_heldout(
        scores, heldout_scores) -> None:
    for part in (scores, heldout_scores):
        assert part.offices_expected >= 5
        assert part.offices_found / part.offices_expected >= 0.9, part.errors
        assert part.offices_wrong == 0 and part.absent_violations == []


def test_the_dev_set_keeps_a_heldout_part() -> None:
    records = yaml.safe_load(DEV.read_text())
    assert sum(1 for r in records if split_of(r) == "heldout") >= 10


def test_each_target_kind_has_enough_gold_mentions_per_language_and_part() -> None:
    # Per-kind figures in English and in Russian, dev and held-out, mean something only
    # with a few gold mentions each (issue 13: figures per kind and per language).
    from pipeline.evaluate import TARGET_KINDS, language_of

    records = yaml.safe_load(DEV.read_text())
    for lang in ("en", "ru"):
        for part in ("dev", "heldout"):
            chosen = [r for r in records if language_of(r) == lang and split_of(r) == part]
            for kind in TARGET_KINDS:
                n = sum(1 for r in chosen for e in r["expect"] if e["kind"] == kind)
                assert n >= 5, (lang, part, kind, n)


def test_russian_dev_figures_per_kind_hold_their_floors(scores) -> None:
    from pipeline.evaluate import TARGET_KINDS, language_of, scores_by_language

    records = [r for r in yaml.safe_load(DEV.read_text())
               if split_of(r) == "dev" and language_of(r) == "ru"]
    analyzer = get_analyzer(Settings())
    by_language = scores_by_language(records, list(analyzer.analyze(
        [r["text"] for r in records], dates=ner_dates(records))))
    ru = by_language[("ru", "dev")]
    for kind in TARGET_KINDS:
        assert ru.precision(kind) >= 0.95 and ru.recall(kind) >= 0.95, (kind, ru.errors)


def test_the_figures_table_puts_dev_and_heldout_side_by_side_per_language() -> None:
    from pipeline.evaluate import NerScores, language_table

    dev, held = NerScores(), NerScores()
    dev.tp["CREW"], dev.fn["CREW"] = 3, 1
    held.tp["CREW"], held.fp["CREW"] = 2, 2
    lines = language_table({("ru", "dev"): dev, ("ru", "heldout"): held}, kinds=("CREW",))
    assert lines[1].split() == ["CREW", "ru", "1.00", "/", "0.75", "(4)",
                                "0.50", "/", "1.00", "(2)"]
