"""The NER stage for Russian text: gazetteer aliases met through lemmas, natasha's names for
the rest.

Russian inflects names six ways. Every alias of the gazetteer is lemmatized once (pymorphy3,
see :mod:`pipeline.russian`), and a text's words are matched on their lemmas, so «Роскосмоса»,
«Госкорпорации «Роскосмос»» and «затопления МКС» resolve without their case forms being
listed. The surname of every gazetteer person with a Cyrillic full name resolves the same way
(«Бакановым»): anywhere once the full name is in the article, else with the person's context
nearby. Names the gazetteer lacks come from natasha's news NER, stored under their nominative
(«Дмитрию Баканову» → «Дмитрий Баканов»); a person is linked across scripts by the
:class:`~pipeline.people.PeopleIndex`. Roles come from the title words of ``models/titles.yaml``
before or after the name, compared by lemma («главе Роскосмоса», «исполняющим обязанности
администратора НАСА»).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .gazetteer import Gazetteer
from .people import PeopleIndex, Person
from .records import PEOPLE, Mention, fold
from .russian import RussianNER, get_lemmatizer, is_cyrillic
from .typing_rules import Cues, Typing, bundled_cues, new_entity_id, quoted_companies, type_entity
from .variants import VariantIndex

#: Tokens of a context window on each side (as the English linker's).
CONTEXT_WINDOW = 8
#: What may stand between two words of one alias: spaces, quotes, a hyphen.
_GLUE = re.compile(r"[\s«»\"“”„'‘’\-–]*")
_PATRONYMIC = re.compile(r"(?:ович|евич|ич|овна|евна|ична)$")
_QUOTES = "«»\"“”„"


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    surface: str
    lemma: str


@dataclass(frozen=True)
class _Alias:
    entity_id: str
    weak: bool
    #: A one-word alias with a capital letter: the surface must be written the same way
    #: (Latin: exactly; Cyrillic: the same capitals, «Прогресс» but not «прогресс»).
    exact: str | None


class RussianLinker:
    """Russian text → :class:`~pipeline.records.Mention` records. Build once per process
    (it loads natasha's NER, about a second and 120 MB) and reuse."""

    def __init__(self, gazetteer: Gazetteer, titles: _TitleWords,
                 ner: RussianNER | None = None, variants: VariantIndex | None = None,
                 cues: Cues | None = None) -> None:
        """Index the gazetteer's aliases and people's surnames by lemma; ``variants`` links
        a new name that is a spelling variant of a known person («Д. Песков», «Джаред
        Айзекманн»), as on the English path (default: an index over this gazetteer);
        ``cues`` are the typing cues (``entity_cues.yaml``; default: the bundled ones)."""
        self.gazetteer = gazetteer
        self.ner = ner or RussianNER()
        self.titles = titles
        self.variants = variants or VariantIndex.from_entities(gazetteer.entries.values())
        self.cues = cues or bundled_cues()
        lemma = get_lemmatizer().lemma
        self.aliases: dict[tuple[str, ...], list[_Alias]] = {}
        self.longest = 1
        surnames: dict[str, set[str]] = {}
        self.given: dict[str, frozenset[str]] = {}
        for entry in gazetteer.entries.values():
            given: set[str] = set()
            for weak, names in ((False, entry.aliases), (True, entry.weak_aliases)):
                for alias in names:
                    key = tuple(t.lemma for t in self._tokens(alias))
                    if not key:
                        continue
                    exact = alias.strip() if " " not in alias.strip() and "-" not in alias \
                        and any(c.isupper() for c in alias) else None
                    self.aliases.setdefault(key, []).append(_Alias(entry.id, weak, exact))
                    self.longest = max(self.longest, len(key))
                    if entry.kind in PEOPLE and len(key) >= 2 and is_cyrillic(alias):
                        surnames.setdefault(key[-1], set()).add(entry.id)
                        given.update(k for k in key[:-1] if not _PATRONYMIC.search(k))
            if given:
                self.given[entry.id] = frozenset(given)
        #: A surname two gazetteer people share resolves only through a full name.
        self.surnames = {s: next(iter(ids)) for s, ids in surnames.items() if len(ids) == 1}
        owners = {fold(a): e.id for e in gazetteer.entries.values() for a in e.aliases}
        #: Context words as lemmas, and the entities a context word names (context "Roscosmos"
        #: is met by a mention of Roscosmos in any language).
        self.context = {e.id: frozenset(lemma(w) for c in e.context for w in c.split())
                        for e in gazetteer.entries.values()}
        self.context_entities = {
            e.id: frozenset(owners[c] for c in e.context if c in owners)
            for e in gazetteer.entries.values()}

    # -- the text ---------------------------------------------------------------------------

    def link(self, text: str, people: PeopleIndex) -> list[Mention]:
        """Every mention in ``text``, in text order."""
        tokens = self._tokens(text)
        sentences = self._sentences(text)
        sentence_of = [_sentence_index(sentences, t.start) for t in tokens]
        found = self._alias_matches(text, tokens, sentence_of)
        taken = {i for i, j, _e in found for i in range(i, j)}
        # A person's given name and patronymic belong to the name, never to the role before
        # it («Дмитрий Владимирович Баканов» matched by its surname).
        found = [(self._given_names_before(text, tokens, i, eid, taken - set(range(i, j))), j,
                  eid) if eid in self.given else (i, j, eid) for i, j, eid in found]
        taken = {i for i, j, _e in found for i in range(i, j)}
        named = {eid for _i, _j, eid in found}
        for i, token in enumerate(tokens):  # bare surnames of gazetteer people
            eid = self.surnames.get(token.lemma)
            if i in taken or eid is None or not token.surface[:1].isupper():
                continue
            if eid in named or self._has_context(tokens, sentence_of, i, i + 1, eid, found):
                first = self._given_names_before(text, tokens, i, eid, taken)
                found.append((first, i + 1, eid))
                taken.update(range(first, i + 1))
        mentions = [self._gazetteer_mention(text, tokens, sentences, sentence_of, i, j, eid)
                    for i, j, eid in found]
        mentions += self._model_mentions(text, tokens, sentences, sentence_of, taken, people,
                                         frozenset(named))
        mentions.sort(key=lambda m: m.start)
        return mentions

    def _alias_matches(self, text: str, tokens: Sequence[_Token],
                       sentence_of: Sequence[int]) -> list[tuple[int, int, str]]:
        """(first token, end token, entity id): the longest alias matches, weak ones only
        with their context (or the entity named strongly too)."""
        candidates: list[tuple[int, int, str, bool]] = []
        for i in range(len(tokens)):
            for size in range(min(self.longest, len(tokens) - i), 0, -1):
                j = i + size
                if sentence_of[j - 1] != sentence_of[i] or not self._glued(text, tokens, i, j):
                    continue
                for alias in self.aliases.get(tuple(t.lemma for t in tokens[i:j]), ()):
                    if alias.exact is None or _same_case(tokens[i].surface, alias.exact):
                        candidates.append((i, j, alias.entity_id, alias.weak))
                        break
        strong = {eid for _i, _j, eid, weak in candidates if not weak}
        candidates.sort(key=lambda c: (c[0] - c[1], c[0]))
        used: set[int] = set()
        kept: list[tuple[int, int, str]] = []
        for i, j, eid, weak in candidates:
            if not used.isdisjoint(range(i, j)):
                continue
            if weak and eid not in strong and not self._has_context(
                    tokens, sentence_of, i, j, eid, [c[:3] for c in candidates if not c[3]]):
                continue
            kept.append((i, j, eid))
            used.update(range(i, j))
        return kept

    def _model_mentions(self, text: str, tokens: Sequence[_Token],
                        sentences: Sequence[tuple[int, int]], sentence_of: Sequence[int],
                        taken: set[int], people: PeopleIndex,
                        context_ids: frozenset[str] = frozenset()) -> list[Mention]:
        """natasha's names that the gazetteer did not claim: people by the people index or
        as a spelling variant of a known person (:class:`~pipeline.variants.VariantIndex`,
        ``context_ids``: the gazetteer ids the text names), else new, under the nominative;
        organizations and places under the nominative."""
        out: list[Mention] = []
        seen_surnames: dict[str, tuple[str, str, str]] = {}
        index = {t.start: n for n, t in enumerate(tokens)}
        # A quoted name after a legal form or a company noun («АО «Лин Индастриал»»,
        # «стартап «Сибирская орбита»») is a company, whatever the NER makes of it.
        for quoted in quoted_companies(text, self.cues):
            inside = [n for n, t in enumerate(tokens)
                      if quoted.start <= t.start and t.end <= quoted.end]
            if not inside or not taken.isdisjoint(inside):
                continue
            out.append(Mention(entity_id=new_entity_id(quoted.name, "COMPANY"),
                               name=quoted.name, kind="COMPANY", origin="model",
                               surface=quoted.name, start=quoted.start, end=quoted.end,
                               sentence=_sentence(text, sentences, sentence_of[inside[0]])))
            taken.update(inside)
        for span in self.ner.analyze(text):
            first = index.get(span.start)
            last = next((n for n, t in enumerate(tokens) if t.end == span.end), None)
            if first is None or last is None:
                continue
            if not taken.isdisjoint(range(first, last + 1)):
                continue
            normal = span.normal.strip(_QUOTES + " ") if span.normal.count("«") != \
                span.normal.count("»") else span.normal.strip()
            if not normal or not normal[0].isupper() or fold(normal) in \
                    self.titles.not_entities:
                continue
            sentence = _sentence(text, sentences, sentence_of[first])
            typed = self._typing(text, sentences, sentence_of[first], span.start, span.end,
                                 span.label)
            # «Космонавт-испытатель Глеб Соловьёв» is CREW «Глеб Соловьёв»; a company-looking
            # name the model calls a person is a company (typing_rules).
            label = {"PERSON": "PER", "ORGANIZATION": "ORG"}.get(typed.group or "", span.label)
            normal = typed.rename(normal)
            role = None
            if label == "PER":
                words = span.lemma.split()[typed.drop:]
                role = self._role(text, tokens, sentence_of, first, last + 1) or typed.role
                kind = "OFFICIAL" if role else typed.kind  # CREW: «космонавт Олег Артемьев»
                if len(words) == 1:  # a bare surname: only a person named in full before
                    known = seen_surnames.get(words[0])
                    if known is None:
                        continue
                    eid, name, kind = known
                else:
                    gaz_id = self.surnames.get(words[-1])
                    if gaz_id is not None and words[0] in self.given.get(gaz_id, ()):
                        entry = self.gazetteer.entries[gaz_id]
                        eid, name, kind = entry.id, entry.name, entry.kind
                    else:
                        person = people.get(normal)
                        variant = self.variants.resolve(normal, kind, context_ids) \
                            if person is None else None
                        if variant is not None and variant.entity_id in self.gazetteer.entries:
                            person = Person(variant.entity_id, normal, kind)
                        person = person or people.resolve(normal, kind)
                        eid, name = person.id, person.name
                        kind = person.kind if person.id in self.gazetteer.entries else kind
                    seen_surnames[words[-1]] = (eid, name, kind)
                origin = "gazetteer" if eid in self.gazetteer.entries else "model"
                wikidata = self.gazetteer.entries[eid].wikidata if origin == "gazetteer" \
                    else None
            else:  # AGENCY, COMPANY from context; the id does not depend on the kind
                kind = typed.kind
                eid, name, origin, wikidata = new_entity_id(normal, kind), normal, "model", None
            out.append(Mention(entity_id=eid, name=name, kind=kind, origin=origin,
                               surface=span.text, start=span.start, end=span.end,
                               sentence=sentence, role=role, wikidata=wikidata))
            taken.update(range(first, last + 1))
        # A new person's surname the model did not tag, after the full name («Зимогоров
        # заявил»).
        first_seen: dict[str, int] = {}
        for m in out:
            first_seen.setdefault(m.entity_id, m.start)
        for i, token in enumerate(tokens):
            known = seen_surnames.get(token.lemma)
            if i in taken or known is None or not token.surface[:1].isupper() or \
                    token.start < first_seen.get(known[0], len(text)):
                continue
            eid, name, kind = known
            out.append(Mention(entity_id=eid, name=name, kind=kind,
                               origin="gazetteer" if eid in self.gazetteer.entries else "model",
                               surface=token.surface, start=token.start, end=token.end,
                               sentence=_sentence(text, sentences, sentence_of[i])))
            taken.add(i)
        return out

    def _gazetteer_mention(self, text: str, tokens: Sequence[_Token],
                           sentences: Sequence[tuple[int, int]], sentence_of: Sequence[int],
                           i: int, j: int, eid: str) -> Mention:
        entry = self.gazetteer.entries[eid]
        start, end = tokens[i].start, tokens[j - 1].end
        if text[end:end + 1] == "»" and text.count("«", start, end) > text.count("»", start, end):
            end += 1
        role = self._role(text, tokens, sentence_of, i, j) if entry.kind in PEOPLE else None
        return Mention(entity_id=entry.id, name=entry.name, kind=entry.kind,
                       origin="gazetteer", surface=text[start:end], start=start, end=end,
                       sentence=_sentence(text, sentences, sentence_of[i]), role=role,
                       wikidata=entry.wikidata)

    # -- helpers ----------------------------------------------------------------------------

    def _typing(self, text: str, sentences: Sequence[tuple[int, int]], n: int, start: int,
                end: int, label: str) -> Typing:
        """The kind of a name the gazetteer lacks, from its sentence
        (:func:`pipeline.typing_rules.type_entity`)."""
        lo, hi = sentences[n] if n >= 0 else (0, len(text))
        if not lo <= start < end <= hi:
            lo, hi = 0, len(text)
        return type_entity(text[lo:hi], start - lo, end - lo, label, "ru", self.cues)


    def _tokens(self, text: str) -> list[_Token]:
        return [_Token(s, e, w, lemma) for s, e, w, lemma in self.ner.lemmas(text)]

    def _sentences(self, text: str) -> list[tuple[int, int]]:
        """razdel's sentences, cut at line breaks too (a title is not the body's first
        sentence)."""
        out = []
        for start, end in self.ner.sentences(text):
            for line in re.finditer(r"[^\n]+", text[start:end]):
                if line.group(0).strip():
                    out.append((start + line.start(), start + line.end()))
        return out

    @staticmethod
    def _glued(text: str, tokens: Sequence[_Token], i: int, j: int) -> bool:
        return all(_GLUE.fullmatch(text[tokens[k].end:tokens[k + 1].start])
                   for k in range(i, j - 1))

    def _has_context(self, tokens: Sequence[_Token], sentence_of: Sequence[int], i: int,
                     j: int, eid: str, found: Sequence[tuple[int, int, str]]) -> bool:
        """A context word of the entity (by lemma) or a mention of an entity named in its
        context, within a few words in the same sentence."""
        lo = max(0, i - CONTEXT_WINDOW)
        hi = min(len(tokens), j + CONTEXT_WINDOW)
        window = [k for k in range(lo, hi) if not i <= k < j
                  and sentence_of[k] == sentence_of[i]]
        words = self.context.get(eid, frozenset())
        if any(tokens[k].lemma in words for k in window):
            return True
        near = self.context_entities.get(eid, frozenset())
        return any(other in near and a in window for a, _b, other in found)

    def _given_names_before(self, text: str, tokens: Sequence[_Token], i: int, eid: str,
                            blocked: set[int]) -> int:
        """The first token of a surname's person, given name and patronymic included."""
        given = self.given.get(eid, frozenset())
        first = i
        k = i - 1
        while k >= 0 and i - k <= 3 and k not in blocked and tokens[k].surface[:1].isupper() \
                and self._glued(text, tokens, k, k + 2):
            if tokens[k].lemma in given:
                first = k
            elif not _PATRONYMIC.search(tokens[k].lemma):
                break
            k -= 1
        return first

    def _role(self, text: str, tokens: Sequence[_Token], sentence_of: Sequence[int], i: int,
              j: int) -> str | None:
        """The title written before the name («Глава МИД России Сергей Лавров») or after it,
        set off by a comma («Баканов, глава Роскосмоса,»)."""
        words = self.titles
        run: list[int] = []
        k = i - 1
        while k >= 0 and sentence_of[k] == sentence_of[i] and len(run) < 7 and \
                self._glued(text, tokens, k, k + 2):
            if not self._titleish(tokens[k]) and not self._is(tokens[k], words.connectors):
                break
            run.insert(0, k)
            k -= 1
        while run and self._is(tokens[run[0]], words.connectors):
            run.pop(0)
        if any(self._is(tokens[k], words.words) for k in run):
            return text[tokens[run[0]].start:tokens[run[-1]].end]
        if j >= len(tokens) or text[tokens[j - 1].end:tokens[j].start].strip() != ",":
            return None
        run = []
        k = j
        while k < len(tokens) and sentence_of[k] == sentence_of[i] and len(run) < 10 and \
                (k == j or self._glued(text, tokens, k - 1, k + 1)):
            if not self._titleish(tokens[k]) and not self._is(tokens[k], words.connectors):
                break
            run.append(k)
            k += 1
        while run and self._is(tokens[run[-1]], words.connectors):
            run.pop()
        if run and any(self._is(tokens[k], words.words) for k in run) and \
                self._titleish(tokens[run[0]]):
            end = tokens[run[-1]].end
            if text[end:end + 1] == "»" and text.count("«", tokens[run[0]].start, end) > \
                    text.count("»", tokens[run[0]].start, end):
                end += 1
            return text[tokens[run[0]].start:end]
        return None

    def _titleish(self, token: _Token) -> bool:
        words = self.titles
        if self._is(token, words.stops):
            return False
        return self._is(token, words.words) or self._is(token, words.modifiers) or \
            token.surface[:1].isupper()

    @staticmethod
    def _is(token: _Token, vocabulary: frozenset[str]) -> bool:
        return fold(token.surface) in vocabulary or token.lemma in vocabulary


@dataclass(frozen=True)
class _TitleWords:
    """The title vocabulary as folded surfaces plus their lemmas."""

    words: frozenset[str]
    connectors: frozenset[str]
    stops: frozenset[str]
    modifiers: frozenset[str]
    not_entities: frozenset[str]


def title_words(words: frozenset[str], connectors: frozenset[str], stops: frozenset[str],
                modifiers: frozenset[str], not_entities: frozenset[str]) -> _TitleWords:
    """The title vocabulary of ``models/titles.yaml`` with the lemma of every Cyrillic word
    added, so one listed form («главы») finds every other («главе»)."""
    lemma = get_lemmatizer().lemma

    def with_lemmas(vocabulary: frozenset[str]) -> frozenset[str]:
        return vocabulary | {lemma(w) for w in vocabulary if is_cyrillic(w)}

    return _TitleWords(words=with_lemmas(words), connectors=with_lemmas(connectors),
                       stops=with_lemmas(stops), modifiers=with_lemmas(modifiers),
                       not_entities=not_entities)


def _same_case(surface: str, alias: str) -> bool:
    """A case-sensitive alias: a Latin one exactly as written, a Cyrillic one with the same
    capitals (its case ending may differ: «МКС», «Прогресса»)."""
    if not is_cyrillic(alias):
        return surface == alias
    if alias.isupper() and len(alias) > 1:
        return surface.isupper()
    return surface[:1].isupper() == alias[:1].isupper()


def _sentence_index(sentences: Sequence[tuple[int, int]], offset: int) -> int:
    for n, (start, end) in enumerate(sentences):
        if start <= offset < end:
            return n
    return -1


def _sentence(text: str, sentences: Sequence[tuple[int, int]], n: int) -> str:
    if n < 0:
        return ""
    start, end = sentences[n]
    return text[start:end].strip()[:600]
