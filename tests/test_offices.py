"""Office-holders by date (issue 13.6): "the head of Roscosmos said" is whoever held the office
on the article's publication day, in English and Russian; the mention says it was resolved
by office."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli as main
from pipeline.config import Settings
from pipeline.entities import get_analyzer
from pipeline.errors import ConfigError
from pipeline.offices import RESOLVED_BY_OFFICE, load_offices
from pipeline.records import Article, Mention
from pipeline.resources import default_models_dir
from pipeline.store import Store


@pytest.fixture(scope="module")
def analyzer():
    return get_analyzer(Settings())


def office_ids(analyzer, text: str, lang: str, day: str) -> list[tuple[str, str]]:
    return [(m.entity_id, m.surface) for m in analyzer.analyze_one(text, lang, day)
            if m.resolved_by == RESOLVED_BY_OFFICE]


@pytest.mark.parametrize(("text", "lang"), [
    ("The head of Roscosmos said the station would be deorbited in 2030.", "en"),
    ("Roscosmos chief said on Tuesday that cooperation would continue.", "en"),
    ("Глава Роскосмоса заявил, что сотрудничество продолжится.", "ru"),
    ("По словам главы Роскосмоса, станция будет сведена с орбиты.", "ru"),
])
def test_the_same_sentence_resolves_to_the_holder_on_each_publication_day(
        analyzer, text: str, lang: str) -> None:
    before = office_ids(analyzer, text, lang, "2024-06-01")
    after = office_ids(analyzer, text, lang, "2025-06-01")
    assert [eid for eid, _s in before] == ["yury-borisov"]
    assert [eid for eid, _s in after] == ["dmitry-bakanov"]


def test_a_role_only_mention_records_the_phrase_and_how_it_was_resolved(analyzer) -> None:
    mentions = analyzer.analyze_one("NASA's administrator met the Russian Foreign Ministry "
                                    "spokeswoman in Moscow.", "en", "2024-06-01")
    by_office = {m.entity_id: m for m in mentions if m.resolved_by == "office"}
    assert set(by_office) == {"bill-nelson", "maria-zakharova"}
    nelson = by_office["bill-nelson"]
    assert nelson.role == "NASA's administrator" == nelson.surface
    assert nelson.kind == "OFFICIAL" and nelson.origin == "gazetteer"
    assert {"nasa", "russian-foreign-ministry"} <= {m.entity_id for m in mentions}


def test_russian_nasa_head_resolves_by_date(analyzer) -> None:
    text = "Руководитель НАСА прибыл в Москву."
    assert office_ids(analyzer, text, "ru", "2024-06-01")[0][0] == "bill-nelson"
    assert office_ids(analyzer, text, "ru", "2025-03-01")[0][0] == "janet-petro"


@pytest.mark.parametrize(("text", "lang"), [
    ("The former head of Roscosmos said the agency had changed.", "en"),
    ("Ex-NASA administrator spoke at the conference.", "en"),
    ("The deputy head of Roscosmos said the launch was delayed.", "en"),
    ("Бывший глава Роскосмоса рассказал о станции.", "ru"),
    ("Заместитель главы Роскосмоса рассказал о станции.", "ru"),
])
def test_a_former_or_deputy_office_never_resolves_to_the_holder(analyzer, text: str,
                                                                lang: str) -> None:
    assert office_ids(analyzer, text, lang, "2025-06-01") == []


@pytest.mark.parametrize(("text", "lang"), [
    ("Roscosmos chief Dmitry Bakanov said the talks went well.", "en"),
    ("Dmitry Bakanov, the head of Roscosmos, said the talks went well.", "en"),
    ("Глава Роскосмоса Дмитрий Баканов заявил о переговорах.", "ru"),
])
def test_an_office_next_to_a_name_is_that_persons_title_not_a_second_mention(
        analyzer, text: str, lang: str) -> None:
    mentions = analyzer.analyze_one(text, lang, "2025-06-01")
    assert [m.entity_id for m in mentions if m.entity_id == "dmitry-bakanov"] == \
        ["dmitry-bakanov"]
    assert all(m.resolved_by is None for m in mentions)


def test_a_day_inside_a_change_dated_by_month_only_resolves_to_nobody() -> None:
    offices = {o.id: o for o in load_offices(default_models_dir() / "offices.yaml").offices}
    nasa = offices["nasa-administrator"]
    assert nasa.holder_on("2025-08-15").id == "sean-duffy"
    assert nasa.holder_on("2025-12-10") is None  # Duffy -> Isaacman "2025-12": day unknown
    assert nasa.holder_on("2026-01-05").id == "jared-isaacman"
    assert offices["roscosmos-head"].holder_on("2025-02-06").id == "dmitry-bakanov"
    assert offices["roscosmos-head"].holder_on("2025-02-05").id == "yury-borisov"


@pytest.mark.parametrize(("content", "says"), [
    ("version: 1\noffices: [{id: x, org: nasa, title: T, phrasings: {en: [a]}, "
     "holders: [{id: a, start: soon}]}]\n", "start 'soon' is not a date"),
    ("version: 1\noffices: [{id: x, org: nasa, title: T, phrasings: {xx: [a]}, "
     "holders: [{id: a, start: '2020'}]}]\n", "unknown language 'xx'"),
    ("version: 1\noffices: [{id: x, org: nasa, title: T, phrasings: {en: [a]}, "
     "holders: [{id: a, start: '2020', end: null}, {id: b, start: '2021'}]}]\n",
     "holders overlap"),
    ("version: 1\noffices: [{id: x, title: T, phrasings: {en: [a]}, holders: []}]\n",
     "'org' is missing"),
    ("offices: [\n", "not valid YAML"),
])
def test_a_bad_offices_file_is_one_clear_error(tmp_path: Path, content: str,
                                               says: str) -> None:
    path = tmp_path / "offices.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_offices(path)
    assert says in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_offices_file_is_part_of_the_nlp_version(analyzer) -> None:
    version = load_offices(default_models_dir() / "offices.yaml").version
    assert f"+offices-{version}" in analyzer.version


def test_a_mention_resolved_by_office_is_stored_and_read_back(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        day = "2025-06-01T00:00:00Z"
        article_id = store.save_articles([Article(
            guid="g", url="https://news.example/g", title="t", summary="s", published_at=day,
            published_estimated=False, content_hash="h")], day).new_ids[0]
        mention = Mention(entity_id="dmitry-bakanov", name="Dmitry Bakanov", kind="OFFICIAL",
                          origin="gazetteer", surface="head of Roscosmos", start=4, end=21,
                          sentence="The head of Roscosmos said.", role="head of Roscosmos",
                          resolved_by="office")
        store.save_mentions([(article_id, [mention])], "v", day)
        assert store.mentions_for([article_id])[article_id] == [mention]


def test_analyze_resolves_an_office_on_each_records_published_day(tmp_path: Path) -> None:
    lines = [{"id": "a", "text": "The head of Roscosmos said the station will be deorbited.",
              "published": "2024-06-01T10:00:00Z"},
             {"id": "b", "text": "The head of Roscosmos said the station will be deorbited.",
              "published": "2025-06-01T10:00:00Z"},
             {"id": "c", "text": "The head of Roscosmos said so.", "published": "[bold]x"}]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "none.db"), "analyze",
                                       "--jsonl", str(path)])
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.stdout.splitlines()]
    holders = [[e["id"] for e in o["entities"] if e["resolved_by"] == "office"] for o in out]
    assert holders[:2] == [["yury-borisov"], ["dmitry-bakanov"]]
    assert "line 3: unparseable published '[bold]x'" in result.stderr
