"""Quality gate for matching: same story above neighbours above off-topic, and the matcher
clearly beats plain TF-IDF cosine on the dev set (figures printed by bench/quality.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.config import Settings
from pipeline.entities import get_analyzer
from pipeline.evaluate import match_dev, ranking_report
from pipeline.seeds import load_seeds

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(__file__).parent / "data" / "match_dev.yaml"


@pytest.fixture(scope="module")
def items():
    seed = next(s for s in load_seeds(ROOT / "seeds").seeds if s.id == "us-russia-iss-cooperation")
    return match_dev(yaml.safe_load(DEV.read_text()), seed, get_analyzer(Settings()))


@pytest.fixture(scope="module")
def report(items):
    return ranking_report(items, Settings().match_threshold)


def test_dev_set_has_all_three_labels(items) -> None:
    labels = [i.label for i in items]
    assert {labels.count(x) for x in ("same_story", "neighbour", "off_topic")} == {12}


def test_same_story_ranks_above_neighbours_above_off_topic(report) -> None:
    assert report["matcher_mean_same_story"] > report["matcher_mean_neighbour"] > \
        report["matcher_mean_off_topic"]
    assert report["matcher_order"] >= 0.9


def test_every_same_story_article_outranks_every_off_topic_one(items) -> None:
    lowest_same = min(i.score for i in items if i.label == "same_story")
    highest_off = max(i.score for i in items if i.label == "off_topic")
    assert lowest_same > highest_off


def test_matcher_beats_the_tfidf_baseline(report) -> None:
    assert report["matcher_ap"] >= 0.95
    assert report["matcher_ap"] > report["baseline_ap"] + 0.05
    assert report["matcher_order"] > report["baseline_order"]


def test_default_threshold_precision_and_recall(report) -> None:
    assert report["matcher_precision"] >= 0.9 and report["matcher_recall"] >= 0.9


def test_generic_vocabulary_alone_does_not_match(items) -> None:
    off = [i for i in items if i.label == "off_topic"]
    assert all(i.score < Settings().match_threshold for i in off)
