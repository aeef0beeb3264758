"""The typed contracts between the stages (issue 15.2): one record module, one explanation
JSON pair, one list of entity kinds, one slug rule, typed stage figures and progress."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.cli.analysis import entities
from pipeline.cli.render import stage_parts
from pipeline.daemon_log import stages_line
from pipeline.events import EventCounts
from pipeline.ingest import EntityCounts, StageReport
from pipeline.match import KIND_WEIGHT
from pipeline.records import (
    ENTITY_KINDS,
    NO_PROGRESS,
    Explanation,
    PageCounts,
    Parts,
    PhraseHit,
    SharedEntity,
    TermWeight,
    Weights,
    parse_iso,
    slug,
)
from pipeline.seeds import load_seed

ROOT = Path(__file__).resolve().parents[1]

#: An explanation as SpaceWatch stored it before it was a record (a dict dumped with sorted
#: keys): every stored row must still load, and a new one is written in the same shape.
STORED_ROW = json.dumps({
    "score": 0.6123,
    "components": {"entities": 0.8, "lexical": 0.5, "phrases": 0.3333, "cosine": 0.175},
    "weights": {"entities": 0.5, "lexical": 0.3, "phrases": 0.2},
    "entities": [{"id": "dmitry-bakanov", "name": "Dmitry Bakanov", "kind": "OFFICIAL",
                  "weight": 4.2, "mentions": 2}],
    "terms": [{"term": "cross-flight", "weight": 0.12}],
    "phrases": [{"phrase": "ISS extension", "weight": 1.0, "count": 1}],
    "evidence": ["Роскосмос и NASA продлили перекрёстные полёты.", "Second sentence."],
    "profile_version": "abc123-s2",
}, ensure_ascii=False, sort_keys=True)


def test_a_stored_explanation_loads_and_is_written_back_byte_for_byte() -> None:
    explanation = Explanation.from_json(STORED_ROW)
    assert explanation.entities == (SharedEntity(id="dmitry-bakanov", name="Dmitry Bakanov",
                                                 kind="OFFICIAL", weight=4.2, mentions=2),)
    assert explanation.components == Parts(entities=0.8, lexical=0.5, phrases=0.3333,
                                            cosine=0.175)
    assert explanation.weights == Weights(entities=0.5, lexical=0.3, phrases=0.2)
    assert explanation.terms == (TermWeight(term="cross-flight", weight=0.12),)
    assert explanation.phrases == (PhraseHit(phrase="ISS extension", weight=1.0, count=1),)
    assert explanation.evidence[0].startswith("Роскосмос")
    assert explanation.to_json() == STORED_ROW  # the SQL views read the same keys


def test_an_explanation_from_an_older_version_without_some_parts_still_loads() -> None:
    old = json.dumps({"score": 0.41, "entities": [{"id": "nasa", "name": "NASA"}],
                      "evidence": ["NASA said so."]})
    explanation = Explanation.from_json(old)
    assert explanation.score == 0.41
    assert [e.name for e in explanation.entities] == ["NASA"]
    assert explanation.profile_version is None and explanation.phrases == ()
    assert Explanation.from_json(explanation.to_json()) == explanation


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"score": "high"}'])
def test_text_that_is_no_explanation_is_refused_with_a_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        Explanation.from_json(raw)


def test_every_entity_kind_has_one_match_weight_and_one_cli_choice() -> None:
    assert set(KIND_WEIGHT) == set(ENTITY_KINDS)
    kind_option = next(p for p in entities.params if p.name == "kind")
    assert tuple(kind_option.type.choices) == ENTITY_KINDS


def test_seed_ids_and_model_entity_ids_follow_one_slug_rule(tmp_path: Path) -> None:
    assert slug("Dmitry  Bakanov") == "dmitry-bakanov"
    assert slug("Роскосмос (госкорпорация)") == "роскосмос-госкорпорация"
    seed = tmp_path / "000_ISS talks.md"
    seed.write_text("NASA and Roscosmos talked about the station. " * 5, encoding="utf-8")
    assert load_seed(seed).id == slug(seed.stem) == "000-iss-talks"


def test_stored_times_parse_to_aware_utc() -> None:
    assert parse_iso("2025-07-14T09:30:00Z") == datetime(2025, 7, 14, 9, 30, tzinfo=UTC)
    assert parse_iso("2025-07-14T09:30:00").tzinfo is not None
    with pytest.raises(ValueError):
        parse_iso("yesterday")


def test_stage_figures_are_records_turned_into_english_only_by_the_cli_and_daemon() -> None:
    report = StageReport(full_text=PageCounts(pages=1, extracted=1, failed=0),
                         entities=EntityCounts(analyzed=1, mentions=1),
                         matching=EventCounts(rescored=1, new=1), events=1, seeds=1)
    assert stage_parts(report) == [
        "full text: 1 page, 1 extracted, 0 failed",
        "entities: 1 article, 1 mention",
        "matches: 1 article scored: 1 new event, 0 new versions, 0 withdrawn, "
        "0 unchanged (within ±0.05); 1 event from 1 seed"]
    assert stages_line(report) == ("analysed 1 article (1 new event); "
                                   "full text: 1 page, 1 extracted, 0 failed")
    assert stage_parts(StageReport()) == [] and stages_line(StageReport()) is None


def test_the_default_progress_accepts_every_report() -> None:
    NO_PROGRESS.stage("entities", 3)
    NO_PROGRESS.advance(2)
    assert NO_PROGRESS.stage("matching", None) is None


def test_the_record_module_imports_nothing_from_the_package() -> None:
    tree = ast.parse((ROOT / "pipeline" / "records.py").read_text(encoding="utf-8"))
    own = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
           and (node.level or (node.module or "").startswith("pipeline"))]
    assert own == []


def test_the_store_does_not_import_the_nlp_module_even_for_type_checking() -> None:
    for path in (ROOT / "pipeline" / "store").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not modules & {"entities", "..entities", "pipeline.entities"}, path.name
        assert "entities" not in {(n.module or "").rsplit(".", 1)[-1] for n in ast.walk(tree)
                                  if isinstance(n, ast.ImportFrom) and n.level}, path.name


def test_the_store_does_not_load_the_nlp_module() -> None:
    code = ("import sys, pipeline.store; "
            "print(sorted(m for m in ('pipeline.entities', 'spacy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_the_stage_grab_bag_is_gone_and_the_daemon_runs_the_pass_functions() -> None:
    assert not (ROOT / "pipeline" / "stages.py").exists()
    from pipeline import daemon

    assert daemon.fetch_feeds.__module__ == daemon.analyse_pending.__module__ == "pipeline.ingest"
    assert not hasattr(daemon, "run_entities") and not hasattr(daemon, "run_matching")
