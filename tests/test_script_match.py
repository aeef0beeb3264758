"""Alias matching by characters, for the scripts the English tokenizer cannot cut (issue 13.3).

spaCy's English tokenizer keeps a run of Han characters as ONE token ("俄罗斯国家航天集团公司总裁
巴卡诺夫访问了美国国家航空航天局" is a single token), so a token-based phrase matcher never finds
a Chinese alias inside it. :mod:`pipeline.script_match` matches aliases on characters instead:
Han matches anywhere, Latin/Cyrillic/Devanagari only between word boundaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.gazetteer import load_gazetteer
from pipeline.script_match import ScriptMatcher, ScriptSpan, context_ok, find_spans

DEV = Path(__file__).parent / "data" / "multilingual_dev.yaml"

ALIASES = {
    "国际空间站": "iss",
    "俄罗斯": "russia",
    "白俄罗斯": "belarus",
    "俄罗斯国家航天集团公司": "roscosmos",
    "巴卡诺夫": "dmitry-bakanov",
    "德米特里·巴卡诺夫": "dmitry-bakanov",
    "美国国家航空航天局": "nasa",
    "NASA": "nasa",
    "ISS": "iss",
    "US": "united-states",
    "US-Raumfahrtbehörde": "nasa",
    "Internationale Raumstation": "iss",
    "États-Unis": "united-states",
    "रूस": "russia",
    "नासा": "nasa",
    "ज़ाखारोवा": "maria-zakharova",
    "अंतर्राष्ट्रीय अंतरिक्ष स्टेशन": "iss",
}


def ids(text: str, aliases: dict[str, str] = ALIASES) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.entity_id) for s in find_spans(text, aliases)]


def test_a_han_alias_is_found_inside_a_run_of_han_characters() -> None:
    text = "俄罗斯国家航天集团公司总裁巴卡诺夫访问了美国国家航空航天局。"
    assert ids(text) == [("俄罗斯国家航天集团公司", "roscosmos"), ("巴卡诺夫", "dmitry-bakanov"),
                         ("美国国家航空航天局", "nasa")]


def test_the_longest_alias_wins_over_the_shorter_alias_inside_it() -> None:
    # "俄罗斯" (Russia) is inside both "白俄罗斯" (Belarus) and the Roscosmos name.
    assert ids("白俄罗斯宇航员") == [("白俄罗斯", "belarus")]
    assert ids("俄罗斯和白俄罗斯") == [("俄罗斯", "russia"), ("白俄罗斯", "belarus")]


def test_spans_are_character_offsets_into_the_original_text() -> None:
    text = "据报道，国际空间站将于2030年退役。"
    [span] = find_spans(text, ALIASES)
    assert span == ScriptSpan(4, 9, "iss") and text[span.start:span.end] == "国际空间站"


def test_a_latin_alias_next_to_han_characters_is_found_but_not_inside_a_latin_word() -> None:
    assert ids("NASA表示，ISS运行正常") == [("NASA", "nasa"), ("ISS", "iss")]
    assert ids("MISSION BUSINESS") == []


def test_devanagari_aliases_need_word_boundaries_and_vowel_signs_are_part_of_the_word() -> None:
    # "रूसी" (Russian, adjective) is "रूस" plus a vowel sign: not the country.
    assert ids("रूस और नासा") == [("रूस", "russia"), ("नासा", "nasa")]
    assert ids("रूसी अंतरिक्ष यात्री") == []
    assert ids("नासा-रूस वार्ता") == [("नासा", "nasa"), ("रूस", "russia")]


def test_devanagari_spelled_with_or_without_nukta_is_the_same_alias() -> None:
    assert ids("मारिया जाखारोवा ने कहा") == [("जाखारोवा", "maria-zakharova")]
    assert ids("मारिया ज़ाखारोवा ने कहा") == [("ज़ाखारोवा", "maria-zakharova")]


def test_a_decomposed_nukta_character_still_matches_with_offsets_into_the_original() -> None:
    text = "प्रवक्ता \u095b\u093e\u0916\u093e\u0930\u094b\u0935\u093e"  # precomposed za
    [(surface, eid)] = ids(text)
    assert eid == "maria-zakharova" and surface == text[9:]


def test_multi_word_aliases_ignore_case_accents_hyphens_and_extra_spaces() -> None:
    assert ids("an Bord der internationalen  Raumstation") == []  # inflected: not listed
    assert ids("auf der INTERNATIONALE\u00a0RAUMSTATION") == [
        ("INTERNATIONALE\u00a0RAUMSTATION", "iss")]
    assert ids("les Etats Unis et la Russie") == [("Etats Unis", "united-states")]


def test_a_single_capitalised_latin_alias_matches_case_and_all() -> None:
    assert ids("the US and us") == [("US", "united-states")]
    assert ids("die US-Raumfahrtbehörde") == [("US-Raumfahrtbehörde", "nasa")]


def test_han_names_match_with_any_middle_dot() -> None:
    for dot in ("·", "・", "•", "‧"):
        assert ids(f"德米特里{dot}巴卡诺夫说") == [(f"德米特里{dot}巴卡诺夫", "dmitry-bakanov")]


def test_two_entities_claiming_one_alias_after_folding_is_an_error() -> None:
    with pytest.raises(ValueError, match="'nasa'.*'esa'|'esa'.*'nasa'"):
        ScriptMatcher({"Agence spatiale": "nasa", "agence  SPATIALE": "esa"})


def test_a_context_word_is_looked_for_in_the_same_sentence_only() -> None:
    text = "EEI recebe nova tripulação. A estação espacial orbita a Terra."
    span = ScriptSpan(0, 3, "iss")
    assert not context_ok(text, span, ["estação"])
    assert context_ok(text, span, ["tripulação"])
    assert context_ok("联盟号飞船与国际空间站对接。", ScriptSpan(0, 3, "soyuz"), ["对接"])


def test_an_empty_alias_table_or_text_finds_nothing() -> None:
    assert find_spans("", ALIASES) == [] and find_spans("国际空间站", {}) == []


# -- the bundled gazetteer and the multilingual dev set ---------------------------------------


class GazetteerScripts:
    """The bundled gazetteer's aliases in a script matcher, weak aliases checked for context."""

    def __init__(self) -> None:
        gaz = load_gazetteer()
        strong = {a: e.id for e in gaz.entries.values() for a in e.aliases}
        self.weak = {a: e.id for e in gaz.entries.values() for a in e.weak_aliases}
        self.context = {e.id: e.context for e in gaz.entries.values()}
        self.matcher = ScriptMatcher({**self.weak, **strong},
                                     blockers=[b for e in gaz.entries.values()
                                               for b in e.blockers])

    def ids(self, text: str) -> set[str]:
        return {s.entity_id for s in self.matcher.find(text)
                if self.matcher.alias_of(text, s) not in self.weak
                or context_ok(text, s, self.context[s.entity_id])}


@pytest.fixture(scope="module")
def gazetteer_scripts() -> GazetteerScripts:
    return GazetteerScripts()


def test_the_bundled_gazetteer_builds_a_script_matcher() -> None:
    gaz = load_gazetteer()
    ScriptMatcher({a: e.id for e in gaz.entries.values() for a in (*e.aliases, *e.weak_aliases)})


LANGS = ("zh", "de", "fr", "pt", "hi")
#: (precision, recall) of gazetteer ids per language, floors a little under the figures
#: measured when they were set (the held-out split was scored once, never tuned on).
FLOORS = {"dev": (0.95, 0.95), "heldout": (0.9, 0.85)}


def test_the_dev_set_has_seed_and_other_stories_in_every_language() -> None:
    records = yaml.safe_load(DEV.read_text(encoding="utf-8"))
    for lang in LANGS:
        mine = [r for r in records if r["lang"] == lang]
        assert len(mine) >= 6
        assert sum(r["group"] == "seed" for r in mine) >= 3
        assert sum(r["group"] != "seed" for r in mine) >= 3
        assert {r["split"] for r in mine} == {"dev", "heldout"}


@pytest.mark.parametrize("split", sorted(FLOORS))
@pytest.mark.parametrize("lang", LANGS)
def test_gazetteer_ids_are_found_in_each_language(gazetteer_scripts, lang: str,
                                                  split: str) -> None:
    records = [r for r in yaml.safe_load(DEV.read_text(encoding="utf-8"))
               if r["lang"] == lang and r["split"] == split]
    tp = fp = fn = 0
    errors = []
    for r in records:
        expected = set(r["expect"])
        got = gazetteer_scripts.ids(r["text"])
        tp += len(got & expected)
        fp += len(got - expected)
        fn += len(expected - got)
        if got != expected:
            errors.append((r["id"], sorted(got - expected), sorted(expected - got)))
        assert not got & set(r.get("absent") or []), r["id"]
    precision, recall = FLOORS[split]
    assert tp / max(tp + fp, 1) >= precision, errors
    assert tp / max(tp + fn, 1) >= recall, errors


# -- blockers: longer phrases that veto an alias inside them (issue 13) ----------------------


def test_a_blocker_phrase_vetoes_the_alias_inside_it_and_the_alias_still_matches_elsewhere(
        ) -> None:
    matcher = ScriptMatcher({"美国": "united-states"}, blockers=["南美国家"])
    assert matcher.find("南美国家的代表参加了会议") == []
    assert matcher.find("美国代表参加了会议") == [ScriptSpan(0, 2, "united-states")]
    assert matcher.find("南美国家和美国") == [ScriptSpan(5, 7, "united-states")]


def test_a_blocker_equal_to_an_alias_is_an_error() -> None:
    with pytest.raises(ValueError, match="blocker"):
        ScriptMatcher({"美国": "united-states"}, blockers=["美国"])


@pytest.fixture(scope="module")
def alias_linker():
    from pipeline.entities_other import AliasLinker

    return AliasLinker(load_gazetteer())


@pytest.mark.parametrize(("text", "absent"), [
    ("南美国家的航天机构也派代表出席了会议。", "united-states"),
    ("这颗卫星将监测印度洋上空的天气。", "india"),
])
def test_south_american_countries_and_the_indian_ocean_are_not_the_us_and_india(
        alias_linker, text: str, absent: str) -> None:
    assert absent not in {m.entity_id for m in alias_linker.link(text)}


def test_real_mentions_of_the_us_and_india_still_resolve_next_to_the_blocked_phrases(
        alias_linker) -> None:
    text = "美国和印度在印度洋上空合作，南美国家表示关注。"
    ids = [m.entity_id for m in alias_linker.link(text)]
    assert ids.count("united-states") == 1 and ids.count("india") == 1


def test_a_gazetteer_blocker_must_contain_one_of_its_entitys_aliases(tmp_path: Path) -> None:
    from pipeline.errors import ConfigError

    path = tmp_path / "gazetteer.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "entities": [
        {"id": "india", "name": "India", "kind": "COUNTRY", "aliases": ["印度"],
         "blockers": ["太平洋"]}]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="blocker '太平洋' holds none of its aliases"):
        load_gazetteer(path)
