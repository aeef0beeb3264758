"""Russian analysis (issue 13.2): nominative names, lemmas for matching, transliteration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import russian
from pipeline.errors import ConfigError
from pipeline.russian import fold_latin, latin_slug, name_key, translit_ru_en

TEXT = ("Глава Роскосмоса Дмитрий Баканов встретился в Москве с администратором НАСА. "
        "Дмитрию Баканову вручили награду. Космонавт Сергей Кудь-Сверчков и ПАО «РКК Энергия» "
        "работали на МКС. Официальный представитель МИД России Мария Захарова рассказала "
        "об Анне Кикиной. Представители Европейского космического агентства обсудили полёт "
        "с космонавтом Сергеем Кудь-Сверчковым, Юрию Борисову и Петру Дуброву вручили дипломы.")


@pytest.fixture(scope="module")
def ner():
    pytest.importorskip("slovnet")
    pytest.importorskip("pymorphy3")
    return russian.RussianNER()


@pytest.fixture(scope="module")
def spans(ner):
    return ner.analyze(TEXT)


def _normal(spans, label):
    return {s.text: s.normal for s in spans if s.label == label}


def test_inflected_person_names_come_back_in_the_nominative(spans):
    people = _normal(spans, "PER")
    assert people["Дмитрию Баканову"] == "Дмитрий Баканов"
    assert people["Анне Кикиной"] == "Анна Кикина"
    assert people["Сергеем Кудь-Сверчковым"] == "Сергей Кудь-Сверчков"
    assert people["Юрию Борисову"] == "Юрий Борисов"
    assert people["Петру Дуброву"] == "Петр Дубров"  # no ё added to text written without it


def test_names_already_in_the_nominative_are_left_alone(spans):
    people = _normal(spans, "PER")
    assert people["Дмитрий Баканов"] == "Дмитрий Баканов"
    assert people["Сергей Кудь-Сверчков"] == "Сергей Кудь-Сверчков"
    assert people["Мария Захарова"] == "Мария Захарова"  # not the masculine «Захаров»


def test_organizations_and_places_are_found_in_the_nominative(spans):
    orgs = _normal(spans, "ORG")
    assert orgs["Роскосмоса"] == "Роскосмос"
    assert orgs["Европейского космического агентства"] == "Европейское космическое агентство"
    assert orgs["ПАО «РКК Энергия»"] == "ПАО «РКК Энергия»"  # the closing quote is kept
    assert "НАСА" in orgs
    assert _normal(spans, "LOC")["Москве"] == "Москва"


def test_spans_are_plain_records_whose_offsets_point_at_their_text(spans):
    assert spans
    for span in spans:
        assert isinstance(span, russian.RuSpan)
        assert TEXT[span.start:span.end] == span.text
        assert span.label in russian.LABELS


def test_every_case_form_of_an_alias_or_surname_has_one_lemma(ner):
    forms = "Роскосмос Роскосмоса Роскосмосу Роскосмосом Роскосмосе"
    assert {lemma for *_, lemma in ner.lemmas(forms)} == {"роскосмос"}
    forms = "Баканов Баканова Баканову Бакановым Баканове"
    assert {lemma for *_, lemma in ner.lemmas(forms)} == {"баканов"}
    forms = "Кудь-Сверчков Кудь-Сверчкова Кудь-Сверчкову Кудь-Сверчковым"
    assert {lemma for *_, lemma in ner.lemmas(forms)} == {"кудь-сверчков"}


def test_lemmas_carry_offsets_and_skip_punctuation(ner):
    text = "Затопления МКС, сообщил «Роскосмос»."
    lemmas = ner.lemmas(text)
    assert [lemma for *_, lemma in lemmas] == ["затопление", "мкс", "сообщить", "роскосмос"]
    for start, end, surface, _ in lemmas:
        assert text[start:end] == surface


def test_an_alias_and_its_inflected_mention_share_one_lemma_key(ner):
    assert ner.lemma_key("Госкорпорации «Роскосмос»") == ner.lemma_key("Госкорпорация «Роскосмос»")
    assert ner.lemma_key("главе Роскосмоса") == "глава роскосмос"


def test_a_new_russian_name_and_its_latin_spelling_meet(spans):
    bakanov = _normal(spans, "PER")["Дмитрию Баканову"]
    assert latin_slug(bakanov) == "dmitry-bakanov"
    assert name_key(bakanov) == name_key("Dmitri Bakanov") == name_key("Dmitry Bakanov")


def test_transliteration_links_kud_sverchkov_both_ways():
    assert translit_ru_en("Сергей Кудь-Сверчков")[0] == "Sergey Kud-Sverchkov"
    assert name_key("Сергей Кудь-Сверчков") == name_key("Sergey Kud-Sverchkov")
    assert name_key("Сергей Кудь-Сверчков") == name_key("Sergei Kud Sverchkov")


def test_transliteration_gives_the_news_style_first_then_common_variants():
    assert translit_ru_en("Дмитрий Баканов") == (
        "Dmitry Bakanov", "Dmitrii Bakanov", "Dmitri Bakanov", "Dmitrij Bakanov")
    assert translit_ru_en("Александр")[0] == "Aleksandr"
    assert "Alexander" in translit_ru_en("Александр")
    assert translit_ru_en("Юрий Борисов")[0] == "Yury Borisov"
    assert translit_ru_en("Мария Захарова")[0] == "Maria Zakharova"
    assert translit_ru_en("Фёдор Юрчихин")[0] == "Fyodor Yurchikhin"
    assert translit_ru_en("Михаил Горбачёв")[0] == "Mikhail Gorbachev"
    assert translit_ru_en("SpaceX") == ("SpaceX",)


@pytest.mark.parametrize("name", ["Дмитрий Баканов", "Сергей Кудь-Сверчков", "Юрий Борисов",
                                  "Алексей Овчинин", "Евгений Микрин", "Пётр Дубров"])
def test_every_transliteration_variant_folds_to_the_same_key(name):
    assert len({fold_latin(v) for v in translit_ru_en(name)}) == 1


@pytest.mark.parametrize("spellings", [
    ("Aleksandr", "Alexander"),
    ("Dmitri", "Dmitry", "Dmitrij", "Dmitriy", "Dmitrii"),
    ("Sergey", "Sergei", "Sergej", "Sergueï"),
    ("Yuri", "Yury", "Iurii", "Jurij"),
    ("Yevgeny", "Evgeny", "Evgeniy", "Jewgeni"),
    ("Pyotr", "Petr", "Peter"),
    ("Bakanov", "Bakanow"),
    ("Maria Zakharova", "Mariya Zakharova", "Mariia Zakharova"),
])
def test_latin_spellings_of_one_name_fold_together(spellings):
    assert len({fold_latin(s) for s in spellings}) == 1


@pytest.mark.parametrize(("one", "other"), [
    ("Dmitry Bakanov", "Dmitry Rogozin"),
    ("Sergei Ryzhikov", "Sergei Prokopyev"),
    ("Anna Kikina", "Anna Kikin"),
    ("Maria", "Mario"),
    ("Yuri Borisov", "Yuri Malenchenko"),
])
def test_different_names_stay_apart(one, other):
    assert fold_latin(one) != fold_latin(other)


def test_a_missing_natasha_install_is_one_clear_error(monkeypatch):
    pytest.importorskip("slovnet")
    monkeypatch.setattr(russian.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="needs the natasha package"):
        russian.RussianNER()


_OFFLINE = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network use attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from pipeline.russian import RussianNER
spans = RussianNER().analyze("Дмитрию Баканову вручили награду в Москве.")
print([s.normal for s in spans])
print(sorted(m for m in ("natasha", "pymorphy2", "pkg_resources") if m in sys.modules))
"""


def test_models_load_offline_without_natasha_morphology_or_pymorphy2():
    pytest.importorskip("slovnet")
    env = dict(os.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[name] = "http://10.255.255.1:9"
    result = subprocess.run([sys.executable, "-c", _OFFLINE], capture_output=True, text=True,
                            env=env, timeout=180, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr
    normals, imported = result.stdout.strip().splitlines()
    assert normals == "['Дмитрий Баканов', 'Москва']"
    assert imported == "[]"
