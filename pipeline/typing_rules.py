"""Open-world typing: the kind of an entity the gazetteer lacks, read from its sentence.

"NASA astronaut Jonny Kim" is CREW, «глава Роскосмоса Дмитрий Баканов» is OFFICIAL with the
role «глава Роскосмоса», "Axiom Space Inc." and "rocket maker Relativity" are COMPANY,
"the Italian Space Agency" is AGENCY; with no cue the model's kind stays (PERSON,
ORGANIZATION, PLACE). Pure functions over plain strings: the caller passes the sentence, the
entity's character span in it, the model's label and the language.

The cue words are data: government and corporate titles come from ``models/titles.yaml``
(the same list the English linker reads), crew words, company nouns, legal forms and agency
phrases from ``models/entity_cues.yaml``.

Ids of new entities do not depend on the kind (:func:`new_entity_id`): a person is
``person:<slug>`` whether typed PERSON, OFFICIAL or CREW, an organization ``org:<slug>``
whatever its kind, so retyping an entity never changes its id. The slug is
``russian.latin_slug`` of the name, so «Дмитрий Баканов» and "Dmitry Bakanov" meet.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .gazetteer import read_model_yaml
from .records import fold
from .resources import default_models_dir
from .russian import latin_slug

#: The statistical models' labels (spaCy's and natasha's) as SpaceWatch's model kinds.
MODEL_LABEL_KINDS = {"PERSON": "PERSON", "PER": "PERSON", "ORG": "ORGANIZATION",
                     "ORGANIZATION": "ORGANIZATION", "GPE": "PLACE", "LOC": "PLACE",
                     "FAC": "PLACE", "PLACE": "PLACE"}
#: Kinds whose new ids start ``person:`` and ``org:``; a retyping moves within one group.
PERSON_ID_KINDS = ("PERSON", "OFFICIAL", "CREW")
ORG_ID_KINDS = ("ORGANIZATION", "AGENCY", "COMPANY", "GOVERNMENT")
LANGUAGES = ("en", "ru")

_TOKEN = re.compile(r"[^\W_]+(?:[.'’\-/&][^\W_]+)*\.?|[«»\"“”„]|[^\w\s]")
_DETERMINERS = frozenset({"a", "an", "the", "its", "his", "her", "their", "our", "this",
                          "that", "who", "is", "was", "now", "and"})
_LIST_WORDS = frozenset({"and", "&", ",", "и"})
_QUOTES = frozenset("«»\"“”„")
#: Lower-case words that may follow a descriptive cue and keep it the head of its phrase
#: ("X, a startup based in Houston"); anything else makes the cue a modifier
#: ("astronaut ice cream", "a company of soldiers").
_AFTER_CUE = frozenset({"with", "for", "at", "from", "on", "in", "who", "which", "that",
                        "based", "founded", "owned", "backed", "specializing", "aboard",
                        "since", "and", "or", "whose", "to", "by", "headquartered",
                        "из", "с", "в", "на", "который", "которая", "которые", "и"})
#: Cues that may be followed by "of" and stay descriptions ("a maker of satellites").
_OF_OK = frozenset({"maker", "manufacturer", "supplier", "operator", "provider"})
#: How many tokens to look through on each side of the entity.
_WINDOW = 8


@dataclass(frozen=True)
class Cues:
    """The cue vocabulary: titles (titles.yaml) and typing cues (entity_cues.yaml)."""

    titles: frozenset[str]
    modifiers: frozenset[str]
    connectors: frozenset[str]
    stops: frozenset[str]
    crew_en: frozenset[str]
    crew_ru: tuple[re.Pattern[str], ...]
    company_en: frozenset[str]
    company_ru: tuple[re.Pattern[str], ...]
    forms_after: frozenset[str]
    forms_before: frozenset[str]
    company_heads: frozenset[str]
    agency_en: tuple[str, ...]
    agency_ru: tuple[re.Pattern[str], ...]
    version: str


@dataclass(frozen=True)
class Typing:
    """An entity's kind from context; ``role`` for an OFFICIAL, ``cue`` the words that decided.

    ``cue`` is None when no cue was found and the model's kind was kept. ``drop`` counts the
    leading words of the model's span that are a title, not the name ("Cosmonaut Pavel
    Drozdov"); ``suffix`` is a legal form right after the span that belongs to the name
    ("Brandt Aerospace" + "GmbH"). :meth:`rename` applies both.
    """

    kind: str
    role: str | None = None
    cue: str | None = None
    drop: int = 0
    suffix: str | None = None

    @property
    def group(self) -> str | None:
        """The model label the kind belongs to: ``PERSON`` (PERSON, OFFICIAL, CREW),
        ``ORGANIZATION`` (ORGANIZATION, AGENCY, COMPANY, GOVERNMENT), else None."""
        if self.kind in PERSON_ID_KINDS:
            return "PERSON"
        if self.kind in ORG_ID_KINDS:
            return "ORGANIZATION"
        return None

    def rename(self, name: str) -> str:
        """The entity's name from the model's span text: title words dropped, legal form
        added ("Cosmonaut Pavel Drozdov" → "Pavel Drozdov")."""
        if self.drop:
            name = " ".join(name.split()[self.drop:])
        if self.suffix:
            name = f"{name} {self.suffix}"
        return name


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return fold(self.text)

    @property
    def bare(self) -> str:
        return fold(self.text).rstrip(".")

    @property
    def is_word(self) -> bool:
        return self.text[:1].isalnum()

    @property
    def capitalized(self) -> bool:
        return self.text[:1].isupper()


def load_cues(models_dir: Path | None = None) -> Cues:
    """Read ``titles.yaml`` and ``entity_cues.yaml`` from ``models_dir`` (default: bundled)."""
    base = models_dir or default_models_dir()
    titles, raw_titles = read_model_yaml(base / "titles.yaml", "title vocabulary")
    cues, raw_cues = read_model_yaml(base / "entity_cues.yaml", "entity cues")

    def words(data: dict[str, Any], *keys: str) -> frozenset[str]:
        node: Any = data
        for key in keys:
            node = (node or {}).get(key) or []
        return frozenset(fold(str(w)) for w in node)

    def patterns(*keys: str) -> tuple[re.Pattern[str], ...]:
        node: Any = cues
        for key in keys:
            node = (node or {}).get(key) or []
        try:
            return tuple(re.compile(str(p)) for p in node)
        except re.error as exc:
            raise ConfigError(f"{base / 'entity_cues.yaml'}: {'.'.join(keys)}: {exc}") from None

    forms = cues.get("corporate_forms") or {}
    return Cues(
        titles=words(titles, "titles"), modifiers=words(titles, "modifiers"),
        connectors=words(titles, "connectors"), stops=words(titles, "stops"),
        crew_en=words(cues, "crew", "en"), crew_ru=patterns("crew", "ru"),
        company_en=words(cues, "company", "en"), company_ru=patterns("company", "ru"),
        forms_after=frozenset(str(f) for f in forms.get("after") or []),
        forms_before=frozenset(str(f) for f in forms.get("before") or []),
        company_heads=frozenset(str(w) for lang in LANGUAGES
                                for w in (cues.get("company_heads") or {}).get(lang) or []),
        agency_en=tuple(sorted(words(cues, "agency", "en"), key=len, reverse=True)),
        agency_ru=patterns("agency", "ru"),
        version=hashlib.sha256(raw_titles + raw_cues).hexdigest()[:8])


@functools.cache
def bundled_cues() -> Cues:
    """The cues shipped in the package's ``models/`` (read once per process)."""
    return load_cues()


# -- typing -----------------------------------------------------------------------------------


#: Characters of context either side of an entity its typing reads (the longest title chain
#: a rule walks is a few dozen words shorter than this).
CONTEXT_CHARS = 400


def type_entity(sentence: str, start: int, end: int, label: str, lang: str = "en",
                cues: Cues | None = None) -> Typing:
    """The kind of the entity at ``sentence[start:end]``, which the model labelled ``label``.

    A person introduced as an astronaut or cosmonaut (before the name, or in an apposition
    after it: "X, a NASA astronaut") is CREW; one with a government or corporate title is
    OFFICIAL with that title as its role; an organization with a legal form (Inc., GmbH,
    ПАО …) or described as a company, startup, firm or manufacturer is COMPANY, one named or
    described as a space agency is AGENCY. A cue counts only as the head of its phrase next
    to the name: "astronaut ice cream" and "a company of soldiers" type nothing.
    """
    if label not in MODEL_LABEL_KINDS:
        raise ValueError(f"unknown model label {label!r}")
    if lang not in LANGUAGES:
        raise ValueError(f"no typing cues for language {lang!r}")
    if not 0 <= start < end <= len(sentence):
        raise ValueError(f"span {start}:{end} is outside the sentence")
    cues = cues or bundled_cues()
    kind = MODEL_LABEL_KINDS[label]
    # Every rule reads a few words either side: tokenize a bounded window, not the whole
    # sentence (without sentence boundaries that is the whole text, once per mention).
    lo = _word_start(sentence, max(0, start - CONTEXT_CHARS))
    left = _tokens(sentence[lo:start], lo)
    right = _tokens(sentence[end:end + CONTEXT_CHARS], end)
    surface = sentence[start:end]
    if kind in ("PERSON", "ORGANIZATION"):
        titled = _title_in_span(sentence, start, end, right, lang, cues)
        if titled is not None:  # "Cosmonaut Pavel Drozdov" (ORG) is a crew member
            return titled
    if kind == "PERSON":
        person = _type_person(sentence, left, right, lang, cues)
        head = _company_head(surface, cues)
        if person.kind == "PERSON" and (head or _has_legal_form(surface, cues)):
            # "Nebula Dynamics" the model calls a person, with no person cue next to it
            org = _type_org(surface, left, right, lang, cues)
            return org if org.kind != "ORGANIZATION" else Typing("COMPANY", cue=head)
        return person
    if kind == "ORGANIZATION":
        org = _type_org(surface, left, right, lang, cues)
        if org.kind != "ORGANIZATION":
            return org
        if _name_shaped(surface, cues):  # "ESA astronaut Tomasz Wrobel" labelled ORG
            crew = _person_left(sentence, left, lang, cues)
            if crew is not None and crew.kind == "CREW":
                return crew
        head = _company_head(surface, cues)
        return Typing("COMPANY", cue=head) if head else org
    return Typing(kind)


def _title_in_span(sentence: str, start: int, end: int, right: list[_Tok], lang: str,
                   cues: Cues) -> Typing | None:
    """A span that starts with title or crew words and goes on with a name: the name is
    typed by them ("Cosmonaut Pavel Drozdov" is CREW "Pavel Drozdov", «Министр Антон
    Орлов» OFFICIAL «Антон Орлов» with the role «Министр»)."""
    words = list(re.finditer(r"\S+", sentence[start:end]))
    drop = 0
    while drop < min(3, len(words) - 2):  # at least two words of name stay
        word = _tokens(words[drop].group(0), 0)
        if not word or len(word) > 2:
            break
        toks = [word[0]]
        if not (_is_crew(toks, 0, lang, cues) or _is_title(word[0], cues)
                or (word[0].key in cues.modifiers and drop + 1 < len(words))):
            break
        drop += 1
    rest = words[drop:]
    if not drop or not 2 <= len(rest) <= 4:
        return None
    name = " ".join(w.group(0) for w in rest)
    if not _name_shaped(name, cues):
        return None
    name_start = start + rest[0].start()
    person = _type_person(sentence, _tokens(sentence[:name_start], 0), right, lang, cues)
    if person.kind == "PERSON":
        return None
    return dataclasses.replace(person, drop=drop)


def _name_shaped(text: str, cues: Cues) -> bool:
    """Two to four capitalized words with no title, crew word, company word or legal form:
    what a person's name looks like."""
    words = text.split()
    if not 2 <= len(words) <= 4 or _company_head(text, cues) or _has_legal_form(text, cues):
        return False
    for word in words:
        toks = _tokens(word, 0)
        if not toks or not word[:1].isupper() or not word.replace("-", "").replace(
                "'", "").replace("’", "").isalpha():
            return False
        if _is_title(toks[0], cues) or toks[0].bare in cues.crew_en:
            return False
    return True


def _company_head(text: str, cues: Cues) -> str | None:
    """The company word a name of two or more capitalized words ends with ("Nebula
    Dynamics"), else None."""
    words = text.strip(" .,«»\"“”„").split()
    if len(words) < 2 or not all(w[:1].isupper() or w[:1].isdigit() for w in words):
        return None
    last = words[-1].strip("«»\"“”„.,")
    return last if last in cues.company_heads else None


def _has_legal_form(text: str, cues: Cues) -> bool:
    words = text.split()
    return len(words) >= 2 and (words[-1] in cues.forms_after or words[0] in cues.forms_before)


def _word_start(text: str, i: int) -> int:
    """``i``, moved on past a word it falls inside (a window never starts mid-word)."""
    if i == 0:
        return 0
    while i < len(text) and not text[i - 1].isspace():
        i += 1
    return i


def _tokens(text: str, offset: int) -> list[_Tok]:
    return [_Tok(m.group(0), m.start() + offset, m.end() + offset) for m in _TOKEN.finditer(text)]


def _is_crew(toks: Sequence[_Tok], i: int, lang: str, cues: Cues) -> bool:
    return _cue_at(toks, i, cues.crew_en, cues.crew_ru if lang == "ru" else ())


def _is_company(toks: Sequence[_Tok], i: int, lang: str, cues: Cues) -> bool:
    return _cue_at(toks, i, cues.company_en, cues.company_ru if lang == "ru" else ())


def _cue_at(toks: Sequence[_Tok], i: int, words: frozenset[str],
            patterns: tuple[re.Pattern[str], ...]) -> bool:
    """Whether a cue word, or a cue phrase ending there ("flight engineer"), is at ``toks[i]``."""
    tok = toks[i]
    if tok.bare in words or any(p.fullmatch(tok.key) for p in patterns):
        return True
    # A Russian hyphenated title is headed by its first noun: «космонавт-испытатель»,
    # «космонавтом-исследователем» (English compounds such as "astronaut-turned-senator" are
    # not titles).
    if patterns and "-" in tok.key and any(p.fullmatch(tok.key.split("-")[0])
                                           for p in patterns):
        return True
    for back in (1, 2):
        if i - back >= 0 and " ".join(t.bare for t in toks[i - back:i + 1]) in words:
            return True
    return False


def _is_title(tok: _Tok, cues: Cues) -> bool:
    return tok.key in cues.titles or tok.bare in cues.titles


def _plural(tok: _Tok) -> bool:
    key = tok.key
    return key.endswith("s") or bool(re.search(r"(ы|ов|ам|ами|ах|и)$", key))


def _type_person(sentence: str, left: list[_Tok], right: list[_Tok], lang: str,
                 cues: Cues) -> Typing:
    found = _person_left(sentence, left, lang, cues)
    if found is None:
        found = _person_right(sentence, right, lang, cues)
    return found or Typing("PERSON")


def _person_left(sentence: str, left: list[_Tok], lang: str, cues: Cues) -> Typing | None:
    """Walk back from the name: "NASA astronaut X", "Director General of Roscosmos X"."""
    i = len(left) - 1
    if i >= 0 and left[i].text == ",":
        i -= 1  # "its Director General, X"
    crossed_list = False
    lowercase_run = 0
    lowercase_limit = 2
    seen = 0
    while i >= 0 and seen < _WINDOW:
        tok = left[i]
        seen += 1
        if _is_crew(left, i, lang, cues):
            if crossed_list and not _plural(tok):
                return None
            return Typing("CREW", cue=tok.text)
        if _is_title(tok, cues) and not crossed_list:
            return Typing("OFFICIAL", role=_left_role(sentence, left, i, cues), cue=tok.text)
        if lang == "ru" and tok.key == "и" and lowercase_run and not crossed_list and \
                i > 0 and left[i - 1].is_word and not left[i - 1].capitalized:
            lowercase_limit = 3  # one genitive chain: «министр науки и высшего образования»
        elif tok.key in _LIST_WORDS:
            crossed_list = True  # "astronauts Zena Cardman and Mike Fincke"
        elif tok.key in cues.stops or (not tok.is_word and tok.text not in _QUOTES):
            return None
        elif tok.capitalized or tok.key in cues.connectors or tok.key in ("'s", "’s"):
            lowercase_run = 0
        elif lang == "ru" and lowercase_run < lowercase_limit and not crossed_list:
            lowercase_run += 1  # genitive dependents: «министр иностранных дел России»
        else:
            return None
        i -= 1
    return None


def _left_role(sentence: str, left: list[_Tok], title_at: int, cues: Cues) -> str:
    """The title run ending at the name: "Acting NASA Administrator", «глава Роскосмоса»."""
    first = title_at
    j = title_at - 1
    while j >= 0 and title_at - j < _WINDOW:
        tok = left[j]
        if tok.key in cues.stops or (not tok.is_word and tok.key not in ("'s", "’s")):
            break
        if not (_is_title(tok, cues) or tok.key in cues.modifiers or tok.capitalized
                or tok.key in cues.connectors or tok.key in ("'s", "’s")):
            break
        first = j
        j -= 1
    while first < title_at and (left[first].key in cues.connectors
                                or left[first].key in ("'s", "’s")):
        first += 1
    last = len(left) - 1
    if left[last].text == ",":
        last -= 1
    while last > title_at and left[last].key in cues.connectors:
        last -= 1
    return sentence[left[first].start:left[last].end]


def _person_right(sentence: str, right: list[_Tok], lang: str, cues: Cues) -> Typing | None:
    """An apposition after the name: "X, a NASA astronaut", "X, the head of Roscosmos"."""
    if not right or right[0].text not in (",", "—", "–", "-"):
        return None
    i = 1
    while i < len(right) and right[i].key in _DETERMINERS:
        i += 1
    start = i
    title_seen: int | None = None
    lowercase = 0
    while i < len(right) and i - start < _WINDOW:
        tok = right[i]
        if _is_crew(right, i, lang, cues) and title_seen is None:
            if _cue_is_head(right, i, lang, cues):
                return Typing("CREW", cue=tok.text)
            return None
        if _is_title(tok, cues):
            title_seen = i if title_seen is None else title_seen
        elif tok.key in cues.stops or (not tok.is_word and tok.key not in ("'s", "’s")
                                        and tok.text not in ("-",)):
            break
        elif not (tok.capitalized or tok.key in cues.connectors or tok.key in cues.modifiers
                  or tok.key in ("'s", "’s")):
            lowercase += 1
            if title_seen is not None and lang != "ru":
                break
            if lowercase > 2:
                return None
        i += 1
    if title_seen is None:
        return None
    last = i - 1
    while last > title_seen and (right[last].key in cues.connectors
                                 or (lang != "ru" and not right[last].capitalized
                                     and not _is_title(right[last], cues))):
        last -= 1
    first = start
    while first < title_seen and right[first].key in cues.connectors:
        first += 1
    role = sentence[right[first].start:right[last].end]
    return Typing("OFFICIAL", role=role, cue=right[title_seen].text)


def _cue_is_head(right: Sequence[_Tok], i: int, lang: str, cues: Cues) -> bool:
    """The cue at ``right[i]`` ends its phrase ("a NASA astronaut," not "astronaut ice cream")."""
    if i + 1 >= len(right):
        return True
    nxt = right[i + 1]
    if not nxt.is_word:
        return True
    if lang == "en" and nxt.key.endswith("ing") and len(nxt.key) > 5:
        return True  # "a Colorado company building rovers"
    if nxt.key == "of" or nxt.key == "из":
        return right[i].bare in _OF_OK
    if lang == "ru" and nxt.capitalized:
        return True  # a genitive organization: «космонавт Роскосмоса»
    return nxt.key in _AFTER_CUE or nxt.key in cues.stops


def _type_org(surface: str, left: list[_Tok], right: list[_Tok], lang: str,
              cues: Cues) -> Typing:
    agency = _agency_in(surface, lang, cues)
    if agency:
        return Typing("AGENCY", cue=agency)
    words = _tokens(surface, 0)
    if words and (words[-1].text in cues.forms_after or words[-1].text.rstrip(".") in
                  {f.rstrip(".") for f in cues.forms_after if len(f.rstrip(".")) > 2}):
        return Typing("COMPANY", cue=words[-1].text)
    if words and words[0].text in cues.forms_before:
        return Typing("COMPANY", cue=words[0].text)
    # A legal form just outside the span: "Axiom Space, Inc.", «ПАО «РКК Энергия»»; right
    # after it ("built by Brandt Aerospace GmbH.") it belongs to the name.
    after = right[1:] if right and right[0].text == "," else right
    if after and after[0].text in cues.forms_after:
        return Typing("COMPANY", cue=after[0].text)
    if after and after[0].text.endswith(".") and after[0].text[:-1] in cues.forms_after:
        suffix = None if after is not right else after[0].text[:-1]
        return Typing("COMPANY", cue=after[0].text, suffix=suffix)
    before = [t for t in left[-2:] if t.text not in _QUOTES]
    if before and before[-1].text in cues.forms_before:
        return Typing("COMPANY", cue=before[-1].text)
    found = _org_left(left, lang, cues) or _org_right(right, lang, cues)
    return found or Typing("ORGANIZATION")


def _agency_in(text: str, lang: str, cues: Cues) -> str | None:
    low = fold(text)
    for phrase in cues.agency_en:
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", low):
            return phrase
    if lang == "ru":
        for pattern in cues.agency_ru:
            found = pattern.search(low)
            if found:
                return found.group(0)
    return None


def _org_left(left: list[_Tok], lang: str, cues: Cues) -> Typing | None:
    """A description right before the name: "rocket maker X", «компания «X»», "space agency X"."""
    toks = [t for t in left if t.text not in _QUOTES]
    if not toks:
        return None
    tail = " ".join(t.key for t in toks[-4:])
    for phrase in cues.agency_en:
        if tail.endswith(phrase):
            return Typing("AGENCY", cue=phrase)
    if lang == "ru":  # «космическое агентство JAXA», «космическое агентство Японии JAXA»
        for back in (2, 3):
            pair = " ".join(t.key for t in toks[-back:][:2])
            if len(toks) >= back and any(p.fullmatch(pair) for p in cues.agency_ru):
                return Typing("AGENCY", cue=pair)
    if _is_company(toks, len(toks) - 1, lang, cues):
        return Typing("COMPANY", cue=toks[-1].text)
    # «производитель ракет X»: one lower-case genitive word between the cue and the name
    if lang == "ru" and len(toks) >= 2 and toks[-1].is_word and not toks[-1].capitalized \
            and toks[-1].key not in cues.stops and _is_company(toks, len(toks) - 2, lang, cues):
        return Typing("COMPANY", cue=toks[-2].text)
    return None


def _org_right(right: list[_Tok], lang: str, cues: Cues) -> Typing | None:
    """An apposition: "X, a Houston-based startup", "JAXA, Japan's space agency"."""
    if not right or right[0].text not in (",", "—", "–"):
        return None
    i = 1
    while i < len(right) and right[i].key in _DETERMINERS:
        i += 1
    words = right[i:i + 6]
    text = " ".join(t.key for t in words)
    for phrase in cues.agency_en:
        if re.match(rf"(?:\S+ ){{0,3}}{re.escape(phrase)}(?!\w)", text):
            return Typing("AGENCY", cue=phrase)
    if lang == "ru":
        for pattern in cues.agency_ru:
            found = pattern.search(text)
            if found and text.index(found.group(0)) < 40:
                return Typing("AGENCY", cue=found.group(0))
    for j, tok in enumerate(words):
        if not tok.is_word and tok.text not in _QUOTES:
            return None
        if tok.key in cues.stops:
            return None
        if _is_company(right, i + j, lang, cues):
            if _cue_is_head(right, i + j, lang, cues):
                return Typing("COMPANY", cue=tok.text)
            return None
        if j >= 3:
            return None
    return None


# -- quoted company names ---------------------------------------------------------------------

#: A quoted name: «…» without nested quotes, or „…“ / "…".
_QUOTED = re.compile(r"«([^«»]{2,80})»|„([^„“”]{2,80})[“”]|\"([^\"]{2,80})\"")


@dataclass(frozen=True)
class QuotedName:
    """A name in quotes typed by the word before the opening quote (``cue``)."""

    name: str
    start: int
    end: int
    cue: str


def quoted_companies(text: str, cues: Cues | None = None) -> list[QuotedName]:
    """Names in quotes right after a legal form or a company noun, in text order:
    «АО «Лин Индастриал»», «стартап «Сибирская орбита»», «компанией «Геоскан»».

    Russian names a company by putting its name in quotes after what it is, and the quoted
    name stays in the nominative whatever the case of the noun before it; a statistical NER
    often misses such names (they are not people, places or known organizations). A quote
    after any other word («корабль «Прогресс»», a quotation) is not a company.
    """
    cues = cues or bundled_cues()
    out = []
    for found in _QUOTED.finditer(text):
        group = next(g for g in (1, 2, 3) if found.group(g) is not None)
        name = found.group(group).strip()
        if not name or not name[0].isupper() or len(name.split()) > 5 or \
                any(c in name for c in ".!?:;"):
            continue
        before = _tokens(text[max(0, found.start() - 60):found.start()], 0)
        if not before:
            continue
        word = before[-1]
        if word.text in cues.forms_before or _is_company(before, len(before) - 1, "ru", cues):
            start = found.start(group) + (len(found.group(group)) - len(
                found.group(group).lstrip()))
            out.append(QuotedName(name, start, start + len(name), word.text))
    return out


# -- ids --------------------------------------------------------------------------------------


def core_name(name: str, cues: Cues | None = None) -> str:
    """An organization's name without its legal form and quotes, for ids and matching.

    "Axiom Space, Inc." → "Axiom Space"; «ПАО «РКК Энергия»» → «РКК Энергия».
    """
    cues = cues or bundled_cues()
    words = name.split()
    while words and words[0] in cues.forms_before:
        words.pop(0)
    while len(words) > 1 and (words[-1] in cues.forms_after
                              or words[-1].rstrip(".") in cues.forms_after):
        words.pop()
    text = " ".join(words).strip(" ,")
    text = text.strip("«»\"“”„ ")
    return text or name


def new_entity_id(name: str, kind: str, cues: Cues | None = None) -> str:
    """The stable id of an entity the gazetteer lacks: ``person:``/``org:``/``place:`` + slug.

    The prefix depends on whether it is a person, an organization or a place, never on the
    finer kind, so typing "Jonny Kim" CREW later keeps ``person:jonny-kim``. Organizations
    lose their legal form ("Axiom Space Inc." and "Axiom Space" are ``org:axiom-space``);
    Cyrillic names are transliterated (``person:dmitry-bakanov``).
    """
    if kind in PERSON_ID_KINDS:
        prefix, text = "person", name
    elif kind in ORG_ID_KINDS:
        prefix, text = "org", core_name(name, cues)
    elif kind == "PLACE":
        prefix, text = "place", name
    elif kind == "COUNTRY":
        prefix, text = "country", name
    else:
        raise ValueError(f"no new ids for kind {kind!r}")
    part = latin_slug(text)
    if not part:
        raise ValueError(f"name {name!r} has no letters or digits for an id")
    return f"{prefix}:{part}"
