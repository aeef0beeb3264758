"""B-cubed precision and recall (pipeline.evaluate.bcubed) on clusterings worked out by hand.

The story-clustering quality gate (tests/test_story_quality.py) rests on this metric, so it is
checked here on its own, without the stories module.
"""

from __future__ import annotations

import pytest

from pipeline.evaluate import bcubed


def test_identical_clusterings_score_one_whatever_the_labels_are_called() -> None:
    gold = {"a": "meeting", "b": "meeting", "c": "launch"}
    assert bcubed(gold, {"a": 7, "b": 7, "c": 9}) == (1.0, 1.0)
    # labels are only compared for equality within each side, never across
    assert bcubed({"a": 1, "b": 2}, {"a": 2, "b": 1}) == (1.0, 1.0)


def test_one_giant_cluster_keeps_recall_and_halves_precision() -> None:
    gold = {"a": 1, "b": 1, "c": 2, "d": 2}
    # each item's predicted cluster holds 4 items, 2 of them from its gold story
    assert bcubed(gold, dict.fromkeys(gold, "all")) == (0.5, 1.0)


def test_all_singletons_keep_precision_and_halve_recall() -> None:
    gold = {"a": 1, "b": 1, "c": 2, "d": 2}
    assert bcubed(gold, {item: item for item in gold}) == (1.0, 0.5)


def test_textbook_example_with_one_item_in_the_wrong_cluster() -> None:
    # gold {a b c} {d e}; predicted {a b} {c d e}
    gold = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}
    predicted = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Y"}
    precision, recall = bcubed(gold, predicted)
    # precision: a 2/2, b 2/2, c 1/3, d 2/3, e 2/3 -> 11/15
    # recall:    a 2/3, b 2/3, c 1/3, d 2/2, e 2/2 -> 11/15
    assert precision == pytest.approx(11 / 15)
    assert recall == pytest.approx(11 / 15)


def test_uneven_split_gives_different_precision_and_recall() -> None:
    # gold {a b c d}; predicted {a b c} {d} plus an unrelated e wrongly joined to d
    gold = {"a": 1, "b": 1, "c": 1, "d": 1, "e": 2}
    predicted = {"a": "X", "b": "X", "c": "X", "d": "Y", "e": "Y"}
    precision, recall = bcubed(gold, predicted)
    # precision: a b c 3/3, d 1/2, e 1/2 -> 4/5
    # recall:    a b c 3/4, d 1/4, e 1/1 -> (9/4 + 1/4 + 1) / 5 = 7/10
    assert precision == pytest.approx(4 / 5)
    assert recall == pytest.approx(7 / 10)


def test_item_missing_from_the_clustering_counts_as_a_cluster_of_its_own() -> None:
    gold = {"a": 1, "b": 1}
    # b in no story: a and b are not reported together
    assert bcubed(gold, {"a": "X"}) == (1.0, 0.5)
    # two missing items are not thereby put together
    assert bcubed(gold, {}) == (1.0, 0.5)


def test_predicted_items_outside_the_gold_set_are_ignored() -> None:
    gold = {"a": 1, "b": 1}
    assert bcubed(gold, {"a": "X", "b": "X", "z": "X"}) == (1.0, 1.0)


def test_empty_gold_set_scores_one() -> None:
    assert bcubed({}, {"z": 1}) == (1.0, 1.0)


def test_subset_of_items_is_scored_against_whole_clusters() -> None:
    # gold {a b c} {d e}; predicted {a b} {c d e}; score only c and d
    gold = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}
    predicted = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Y"}
    precision, recall = bcubed(gold, predicted, items=["c", "d"])
    # precision: c 1/3, d 2/3 -> 1/2; recall: c 1/3, d 2/2 -> 2/3
    assert precision == pytest.approx(1 / 2)
    assert recall == pytest.approx(2 / 3)
    assert bcubed(gold, predicted, items=[]) == (1.0, 1.0)
