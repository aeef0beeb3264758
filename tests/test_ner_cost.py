"""The English NER stage's short cuts find exactly what the plain walks found (issue 13, cost):
office phrases are searched only in texts that hold their words, and line breaks are found
from the text's offsets instead of visiting every token."""

from __future__ import annotations

import re

import pytest
import spacy
from spacy.tokens import Doc

from pipeline.offices import _CASE_ODD, _PLAIN, OfficeFinder, load_offices
from pipeline.records import fold
from pipeline.spacy_docs import (
    _HEADLINE_SMALL,
    _WORD,
    HEADING_WORDS,
    heading_tokens,
    paragraph_breaks,
)
from pipeline.vocabulary import models_file

TEXTS = [
    "Roscosmos Chief Visits NASA\n\nThe head of Roscosmos said on Tuesday that the crew is "
    "ready.\nSubheading In Title Case\nMore text here. \n \nLast line",
    "One line only, no break at all.",
    "\nLeading break\n\n\nSeveral Empty Lines Between\n",
    "Trailing Break Title\n",
    "Tabs\tand \u2028 odd spaces \n Indented Line After A Break\n\nend.",
    "",
]


def _headings_by_walk(doc: Doc) -> set[int]:
    """heading_tokens as it was written first: a walk over every token."""
    lines, start = [], 0
    for token in doc:
        if "\n" in token.text or "\n" in token.whitespace_:
            lines.append((start, token.i + 1))
            start = token.i + 1
    if not lines:
        return set()
    lines.append((start, len(doc)))
    tokens: set[int] = set()
    for first, end in lines:
        line = doc[first:end].text.strip()
        if line.rstrip("\"'\u201d\u2019»)").endswith("."):
            continue
        words = [w for w in _WORD.findall(line) if fold(w) not in _HEADLINE_SMALL]
        capitalised = sum(1 for w in words if w[0].isupper())
        if 2 <= len(words) <= HEADING_WORDS and capitalised >= 0.85 * len(words):
            tokens.update(range(first, end))
    return tokens


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    return spacy.blank("en")


@pytest.mark.parametrize("text", TEXTS)
def test_heading_tokens_from_line_break_offsets_are_those_of_the_token_walk(nlp, text) -> None:
    doc = nlp(text)
    assert heading_tokens(doc) == heading_tokens(doc, doc.text) == _headings_by_walk(doc)


@pytest.mark.parametrize("text", TEXTS)
def test_paragraph_breaks_start_a_sentence_after_every_line_break_as_the_walk_did(
        nlp, text) -> None:
    doc = paragraph_breaks(nlp(text))
    expected = {t.i for t in doc[1:] if doc[t.i - 1].is_space and "\n" in doc[t.i - 1].text
                and not t.is_space}
    assert {t.i for t in doc if t.is_sent_start and t.i > 0} == expected


def test_an_office_phrase_skipped_for_a_missing_word_could_not_have_matched() -> None:
    # Every character that re.I matches to an ASCII or basic Cyrillic character either lowers
    # to it or is one the finder treats as odd (then every phrase is searched).
    everything = "".join(map(chr, range(0x110000)))
    for char in map(chr, [*range(0x80), *range(0x400, 0x460)]):
        for m in re.finditer(re.escape(char), everything, re.I):
            assert m.group().lower() == char.lower() or _CASE_ODD.match(m.group()), \
                (char, hex(ord(m.group())))
    assert _PLAIN.match("Roscosmos") and _PLAIN.match("Роскосмоса") and not _PLAIN.match("航天")


@pytest.mark.parametrize("text", [
    "THE HEAD OF ROSCOSMOS SAID the crew is ready.",
    "The Russ\u0131an space agency ch\u0131ef said the crew is ready.",  # dotless ı
    "NASA\u2019s administrator said so; the head of Roscosmos did not.",
    "Nothing about any office here.",
])
def test_office_phrases_found_with_the_word_check_are_those_found_without_it(text) -> None:
    finder = OfficeFinder(load_offices(models_file(None, "offices.yaml")))
    found = finder.find(text, "en", "2025-07-15")
    for phrases in finder._by_lang.values():  # the same finder with no word check
        phrases[:] = [type(p)(p.office, p.pattern, p.contextual) for p in phrases]
    assert found == finder.find(text, "en", "2025-07-15")
    assert bool(found) == ("office" not in text)
