"""Name variants on the Russian path (issue 13.5): a Russian text's spelling variant of a
known person («Д. Песков», «Джаред Айзекманн») links to that person through the same
:class:`~pipeline.variants.VariantIndex` the English path uses, and false friends written in
Cyrillic (different people with close names) stay apart."""

from __future__ import annotations

import pytest

from pipeline.config import Settings
from pipeline.entities import Analyzer, get_analyzer


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return get_analyzer(Settings())


def _people(analyzer: Analyzer, name: str) -> list[str]:
    text = f"В понедельник {name} выступает на встрече в Москве."  # nominative, any gender
    return [m.entity_id for m in analyzer.russian.link(text, analyzer.people.copy())
            if m.kind in ("PERSON", "OFFICIAL", "CREW")]


@pytest.mark.parametrize(("name", "expect"), [
    ("Д. Песков", "dmitry-peskov"),          # an initial for the given name
    ("К. Песков", "kirill-peskov"),          # the same surname, another initial
    ("Джаред Айзекманн", "jared-isaacman"),  # a doubled letter in a Cyrillic spelling
    ("Дмитрий Бакановв", "dmitry-bakanov"),
])
def test_a_russian_spelling_variant_of_a_known_person_links_to_that_person(
        analyzer: Analyzer, name: str, expect: str) -> None:
    assert _people(analyzer, name) == [expect]


@pytest.mark.parametrize(("name", "not_"), [
    ("Сергей Королёв", "sergei-krikalev"),
    ("Дмитрий Рогов", "dmitry-rogozin"),
    ("Дмитрий Рогожин", "dmitry-rogozin"),
    ("Анна Кикнадзе", "anna-kikina"),
    ("Марина Захарова", "maria-zakharova"),
    ("Сергей Рябков", "sergey-ryzhikov"),
    ("Юрий Борисенко", "yury-borisov"),
    ("Дмитрий Медведев", "dmitry-peskov"),
    ("Кирилл Песков", "dmitry-peskov"),
    ("Джаред Исаев", "jared-isaacman"),
])
def test_cyrillic_false_friends_stay_apart(analyzer: Analyzer, name: str, not_: str) -> None:
    found = _people(analyzer, name)
    assert len(found) == 1 and found[0] != not_, found
