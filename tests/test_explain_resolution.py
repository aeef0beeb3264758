"""How each mention was resolved (issue 13): ``explain`` lists the article's entities with
the way each was found ("by office: head of Roscosmos on 2025-07-15", a gazetteer name, a new
entity typed by its context), and ``analyze`` gives the same line per entity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.records import Mention

ARTICLES = [
    {"id": "office", "title": "Roscosmos and NASA", "published": "2025-07-15T09:00:00Z",
     "text": "The head of Roscosmos said on Tuesday that talks with NASA would continue. "
             "NASA astronaut Priya Raman joined the meeting."},
]


def _args(db: Path) -> list[str]:
    return ["--db", str(db), "--config", str(db.parent / "none.yaml")]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("explain")
    source = folder / "a.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ARTICLES), encoding="utf-8")
    db = folder / "e.db"
    result = CliRunner().invoke(cli, [*_args(db), "import", str(source)])
    assert result.exit_code == 0, result.output
    return db


def test_explain_says_a_role_only_mention_was_resolved_by_office_on_the_day(
        imported: Path) -> None:
    result = CliRunner().invoke(cli, [*_args(imported), "explain", "1"])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert any("Dmitry Bakanov" in line and "by office: head of Roscosmos on 2025-07-15" in line
               for line in lines), result.output
    assert any("NASA" in line and "gazetteer" in line for line in lines), result.output
    assert any("Priya Raman" in line and "new" in line and "CREW" in line
               for line in lines), result.output


def test_analyze_gives_each_entity_its_resolution(tmp_path: Path) -> None:
    record = {"text": ARTICLES[0]["text"], "published": "2025-07-15"}
    result = CliRunner().invoke(cli, [*_args(tmp_path / "none.db"), "analyze", "--jsonl", "-"],
                                input=json.dumps(record) + "\n")
    assert result.exit_code == 0, result.output
    entities = json.loads(result.output.splitlines()[-1])["entities"]
    by_id = {e["id"]: e for e in entities}
    assert by_id["dmitry-bakanov"]["resolved_by"] == "office"
    assert by_id["dmitry-bakanov"]["resolution"] == \
        "by office: head of Roscosmos on 2025-07-15"
    assert by_id["nasa"]["resolution"].startswith("gazetteer")


@pytest.mark.parametrize(("mention", "text"), [
    (Mention("dmitry-bakanov", "Dmitry Bakanov", "OFFICIAL", "gazetteer", "the head of "
             "Roscosmos", 0, 20, "", role="the head of Roscosmos", resolved_by="office"),
     "by office: the head of Roscosmos on 2025-07-15"),
    (Mention("nasa", "NASA", "AGENCY", "gazetteer", "НАСА", 0, 4, ""),
     "gazetteer entry nasa, written “НАСА”"),
    (Mention("person:priya-raman", "Priya Raman", "CREW", "model", "Priya Raman", 0, 11, ""),
     "new entity found by the model, typed CREW by its context"),
    (Mention("person:ann-lee", "Ann Lee", "OFFICIAL", "model", "Ann Lee", 0, 7, "",
             role="Deputy Minister"),
     "new entity found by the model, typed OFFICIAL by its context (role: Deputy Minister)"),
    (Mention("org:acme", "Acme", "ORGANIZATION", "model", "Acme", 0, 4, ""),
     "new entity found by the model"),
])
def test_each_kind_of_resolution_reads_as_one_line(mention: Mention, text: str) -> None:
    assert mention.resolution("2025-07-15") == text


def test_an_office_resolved_without_a_known_day_says_so() -> None:
    m = Mention("dmitry-bakanov", "Dmitry Bakanov", "OFFICIAL", "gazetteer", "x", 0, 1, "",
                role="head of Roscosmos", resolved_by="office")
    assert m.resolution(None) == "by office: head of Roscosmos on the day it was analysed"


def test_a_person_named_later_in_the_text_does_not_stop_a_role_only_mention() -> None:
    from pipeline.config import Settings
    from pipeline.entities import get_analyzer

    text = ("The head of Roscosmos said on Tuesday that talks with NASA would continue. "
            "NASA astronaut Priya Raman joined the meeting.")
    mentions = get_analyzer(Settings()).analyze_one(text, "en", "2025-07-15")
    assert [(m.entity_id, m.role) for m in mentions if m.resolved_by == "office"] == [
        ("dmitry-bakanov", "head of Roscosmos")]


def test_an_office_phrase_in_apposition_to_a_name_is_that_names_title() -> None:
    from pipeline.config import Settings
    from pipeline.entities import get_analyzer

    text = ("Sean Duffy, the acting NASA administrator, said cooperation with Roscosmos "
            "would continue.")
    mentions = get_analyzer(Settings()).analyze_one(text, "en", "2026-01-15")
    assert [m.entity_id for m in mentions if m.resolved_by == "office"] == []
