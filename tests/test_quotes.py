"""Quotes: who said what, direct and reported, in English and Russian (issue 13, item 7).

Mentions are built from surfaces here (no spaCy): the quote finder only attributes; finding
and resolving the entities is the NER stage's job.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.quotes import Quote, find_quotes
from pipeline.records import Mention

DEV = Path(__file__).parent / "data" / "quotes_dev.yaml"
_MARKS = re.compile(r"[\"“”«»„‘’]")


def mentions_for(text: str, spec: dict[str, str]) -> list[Mention]:
    """Mentions at every occurrence of each surface: ``{id: "KIND: Surface | Other"}``.
    Longer surfaces win where two overlap; the first surface is the entity's name."""
    wanted: list[tuple[str, str, str, str]] = []
    for eid, value in spec.items():
        kind, _, surfaces = value.partition(":")
        names = [s.strip() for s in surfaces.split("|")]
        wanted += [(s, eid, kind.strip(), names[0]) for s in names]
    taken: list[Mention] = []
    for surface, eid, kind, name in sorted(wanted, key=lambda w: -len(w[0])):
        for m in re.finditer(rf"(?<!\w){re.escape(surface)}(?!\w)", text):
            if any(m.start() < t.end and t.start < m.end() for t in taken):
                continue
            taken.append(Mention(entity_id=eid, name=name, kind=kind, origin="gazetteer",
                                 surface=surface, start=m.start(), end=m.end(), sentence=""))
    return sorted(taken, key=lambda t: t.start)


def quotes_in(text: str, spec: dict[str, str], language: str = "en") -> list[Quote]:
    return find_quotes(text, mentions_for(text, spec), language)


def pairs(quotes: list[Quote]) -> list[tuple[str, str, str]]:
    return [(q.speaker_entity_id, q.kind, q.text) for q in quotes]


# -- specifications ----------------------------------------------------------------------

DUFFY = {"sean-duffy": "OFFICIAL: Sean Duffy | Duffy", "nasa": "AGENCY: NASA"}
BAKANOV_RU = {"dmitry-bakanov": "OFFICIAL: Дмитрий Баканов | Баканов | Баканова",
              "roscosmos": "AGENCY: Роскосмоса | Роскосмос"}


def test_direct_quote_then_said_and_name_goes_to_the_name() -> None:
    text = '"We will keep flying together," said Sean Duffy.'
    assert pairs(quotes_in(text, DUFFY)) == [
        ("sean-duffy", "direct", "We will keep flying together")]


def test_direct_quote_with_title_before_the_name_goes_to_the_person_not_the_agency() -> None:
    text = "“The crew is safe,” Acting NASA Administrator Sean Duffy told reporters."
    [quote] = quotes_in(text, DUFFY)
    assert (quote.speaker_entity_id, quote.cue, quote.text) == ("sean-duffy", "told",
                                                                "The crew is safe")
    assert text[quote.start:quote.end] == quote.text
    assert (quote.sentence_start, quote.sentence_end) == (0, len(text))


def test_colon_before_the_quote_attributes_to_the_subject() -> None:
    text = 'Duffy said: "We depend on each other in orbit."'
    assert pairs(quotes_in(text, DUFFY)) == [
        ("sean-duffy", "direct", "We depend on each other in orbit")]


def test_quote_split_by_its_attribution_gives_two_quotes_of_one_speaker() -> None:
    text = '"The seat swap works," Duffy said, "and it will continue."'
    assert pairs(quotes_in(text, DUFFY)) == [
        ("sean-duffy", "direct", "The seat swap works"),
        ("sean-duffy", "direct", "and it will continue")]


def test_reported_that_clause_is_kept_without_the_full_stop() -> None:
    text = "NASA said in a statement that both crews were safe."
    [quote] = quotes_in(text, DUFFY)
    assert (quote.speaker_entity_id, quote.kind, quote.text, quote.cue) == (
        "nasa", "reported", "both crews were safe", "said")


def test_according_to_names_the_speaker_after_the_cue() -> None:
    text = "According to NASA, the launch slipped to Friday."
    assert pairs(quotes_in(text, DUFFY)) == [
        ("nasa", "reported", "the launch slipped to Friday")]
    text = "The launch slipped to Friday, according to NASA."
    assert pairs(quotes_in(text, DUFFY)) == [
        ("nasa", "reported", "The launch slipped to Friday")]


def test_appositive_between_speaker_and_verb_is_skipped() -> None:
    spec = {"dmitry-bakanov": "OFFICIAL: Dmitry Bakanov", "roscosmos": "AGENCY: Roscosmos"}
    text = "Dmitry Bakanov, the head of Roscosmos, said the flights would go on."
    assert pairs(quotes_in(text, spec)) == [
        ("dmitry-bakanov", "reported", "the flights would go on")]


def test_he_said_goes_to_the_one_person_of_the_sentence_before() -> None:
    text = 'Duffy toured the training centre. "It is impressive," he said.'
    assert pairs(quotes_in(text, DUFFY)) == [("sean-duffy", "direct", "It is impressive")]


def test_he_said_with_two_people_before_is_left_unattributed() -> None:
    spec = {**DUFFY, "dmitry-bakanov": "OFFICIAL: Bakanov"}
    text = 'Duffy met Bakanov. "It was useful," he said.'
    assert quotes_in(text, spec) == []


def test_quote_without_a_known_speaker_is_not_guessed() -> None:
    text = 'Duffy was in Houston. "The talks went well," an official said.'
    assert quotes_in(text, DUFFY) == []


def test_scare_quotes_and_titles_are_not_quotes() -> None:
    text = 'The "seat swap" deal was signed in 2022, and the film "Orbit" opens today.'
    assert quotes_in(text, DUFFY) == []


def test_russian_guillemets_with_dash_attribute_to_the_person_after_the_verb() -> None:
    text = "«Мы продолжим перекрёстные полёты», — заявил глава Роскосмоса Дмитрий Баканов."
    [quote] = quotes_in(text, BAKANOV_RU, "ru")
    assert (quote.speaker_entity_id, quote.text, quote.cue) == (
        "dmitry-bakanov", "Мы продолжим перекрёстные полёты", "заявил")


def test_russian_po_slovam_and_zayavil_chto_are_reported_speech() -> None:
    text = ("По словам Баканова, американская сторона подтвердила интерес. "
            "Роскосмос сообщил, что экипаж вернётся 9 декабря.")
    assert pairs(quotes_in(text, BAKANOV_RU, "ru")) == [
        ("dmitry-bakanov", "reported", "американская сторона подтвердила интерес"),
        ("roscosmos", "reported", "экипаж вернётся 9 декабря")]


def test_russian_attribution_inside_the_guillemets_splits_the_quote() -> None:
    text = "«Работа идёт по плану, — отметил Баканов. — Мы ждём коллег на Байконуре»."
    assert pairs(quotes_in(text, BAKANOV_RU, "ru")) == [
        ("dmitry-bakanov", "direct", "Работа идёт по плану"),
        ("dmitry-bakanov", "direct", "Мы ждём коллег на Байконуре")]


def test_organisation_in_russian_locative_speaks() -> None:
    text = "«Станция в безопасности», — сообщили в пресс-службе Роскосмоса."
    assert pairs(quotes_in(text, BAKANOV_RU, "ru")) == [
        ("roscosmos", "direct", "Станция в безопасности")]


def test_german_quote_marks_pair_up() -> None:
    text = "Баканов заявил: „Мы готовы“."
    assert pairs(quotes_in(text, BAKANOV_RU, "ru")) == [
        ("dmitry-bakanov", "direct", "Мы готовы")]


def test_language_without_a_lexicon_gives_no_quotes() -> None:
    text = '"Wir fliegen weiter," sagte Sean Duffy.'
    assert quotes_in(text, DUFFY, "de") == []


def test_speaker_is_always_one_of_the_mentions() -> None:
    items = yaml.safe_load(DEV.read_text(encoding="utf-8"))
    for item in items:
        mentions = mentions_for(item["text"], item["mentions"])
        for quote in find_quotes(item["text"], mentions, _language(item)):
            assert quote.speaker_entity_id in {m.entity_id for m in mentions}, item["id"]
            assert item["text"][quote.start:quote.end] == quote.text


# -- quality on the dev set --------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    expected: int
    correct: int
    predicted: int
    wrong: list[str]

    @property
    def accuracy(self) -> float:
        """Expected quotes found with the right speaker, of all expected quotes."""
        return self.correct / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        """Predicted quotes that are expected and have the right speaker."""
        return self.correct / self.predicted if self.predicted else 1.0


def _language(item: dict[str, Any]) -> str:
    return "ru" if item["id"].startswith("q-ru") else "en"


def _norm(text: str) -> str:
    return " ".join(_MARKS.sub("", text).split()).strip(" .,;:!?—–-").casefold()


def _same_text(a: str, b: str) -> bool:
    a, b = _norm(a), _norm(b)
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def score(split: str, language: str | None = None) -> Score:
    items = [i for i in yaml.safe_load(DEV.read_text(encoding="utf-8"))
             if i["split"] == split and (language is None or _language(i) == language)]
    expected = correct = predicted = 0
    wrong: list[str] = []
    for item in items:
        got = find_quotes(item["text"], mentions_for(item["text"], item["mentions"]),
                          _language(item))
        predicted += len(got)
        for speaker, _kind, words in item["quotes"]:
            expected += 1
            hit = [q for q in got if _same_text(q.text, words)]
            if hit and hit[0].speaker_entity_id == speaker:
                correct += 1
            else:
                wrong.append(f"{item['id']}: {speaker} {words!r} -> "
                             f"{[(q.speaker_entity_id, q.text) for q in hit] or 'missed'}")
        for q in got:
            if not any(_same_text(q.text, w) for _, _, w in item["quotes"]):
                wrong.append(f"{item['id']}: extra {q.speaker_entity_id} {q.text!r}")
    return Score(expected, correct, predicted, wrong)


@pytest.mark.parametrize(("split", "language", "floor"), [
    ("dev", "en", 0.95), ("dev", "ru", 0.95),
    ("heldout", "en", 0.85), ("heldout", "ru", 0.85),
])
def test_speaker_attribution_accuracy_stays_above_its_floor(split: str, language: str,
                                                            floor: float) -> None:
    result = score(split, language)
    assert result.accuracy >= floor, (result.accuracy, result.wrong)
    assert result.precision >= floor, (result.precision, result.wrong)


def test_dev_set_has_enough_english_and_russian_items() -> None:
    items = yaml.safe_load(DEV.read_text(encoding="utf-8"))
    assert sum(_language(i) == "en" for i in items) >= 40
    assert sum(_language(i) == "ru" for i in items) >= 30
    assert {i["split"] for i in items} == {"dev", "heldout"}
