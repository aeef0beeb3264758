"""Name variants: is this surface another spelling of an entity we already know?

A translation or a wire writes the same person many ways: "Aleksandr"/"Alexander",
"Dmitri"/"Dmitry"/"Dmitrij", "Sergei Krikalyov", "Bill Nelson" for William, "Jared T.
Isaacman", "Jared Isaacmann". :class:`VariantIndex` links such a surface to the known entity
when the evidence is strong and returns None otherwise, so the caller leaves it a new entity:
two different people with close names ("Sergei Korolev" and "Sergei Krikalev", "Mark Kelly"
and "Scott Kelly") must never merge. Merging two people is worse than missing a variant.

The evidence for a person, in decreasing strength:

- the same surname key (``russian.fold_latin``: transliteration and doubled letters folded)
  and a compatible given name: the same key, a short form from ``models/name_forms.yaml``
  ("Bill"/"William", «Дима»/"Dmitry"), or a matching initial ("D. Peskov"); extra middle
  initials or names on either side are allowed when they do not contradict;
- a surname one edit away (a missing, extra or changed letter; only for surnames of six or
  more letters with the same first letter) with the same or a short-form given name: a
  missing or extra letter links, a changed letter ("Nelsen"/"Nelson") only with the actor's
  context in the article;
- a bare surname ("Duffy confirms …") links only when the article carries that actor's
  context (co-occurring entity ids or context words, see :func:`shared_context`) and exactly
  one known person with that surname has it.

Organizations link only on the same spelling-blind key of the name without its legal form
("Axiom Space Inc." → "Axiom Space"). Pure: no text is read but ``name_forms.yaml`` and
``titles.yaml`` through :func:`load_name_forms` and the typing cues.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .gazetteer import read_model_yaml
from .records import fold
from .resources import default_models_dir
from .russian import fold_latin, name_key
from .typing_rules import Cues, bundled_cues, core_name

# -- reasons (fixed, recorded with the mention) ---------------------------------------------

#: The surface is, after folding, one of the entity's names.
EXACT = "exact"
#: Same names in another transliteration or with a doubled letter: the spelling-blind keys of
#: ``russian.fold_latin`` are equal ("Aleksandr"/"Alexander", "Krikalyov", "Isaacmann").
TRANSLITERATION = "transliteration"
#: A short or familiar given name ("Bill Nelson" for William).
SHORT_FORM = "short-form"
#: An initial for the given name ("D. Peskov").
INITIAL = "initial"
#: A middle initial or name the entity's names lack ("Jared T. Isaacman").
MIDDLE_NAME = "middle-name"
#: A surname one letter off ("Isaacmann", "Nelsen" with context).
SURNAME_SPELLING = "surname-spelling"
#: A bare surname with that actor's context in the same text ("FLASH: Duffy confirms …").
SURNAME_CONTEXT = "surname-context"
#: An organization's name with or without its legal form, in any transliteration.
ORG_NAME = "org-name"
REASONS = (EXACT, TRANSLITERATION, SHORT_FORM, INITIAL, MIDDLE_NAME, SURNAME_SPELLING,
           SURNAME_CONTEXT, ORG_NAME)

#: Kinds that may be the same thing: a PERSON the model found may be a known OFFICIAL.
PERSON_KINDS = frozenset({"PERSON", "PER", "OFFICIAL", "CREW"})
ORG_KINDS = frozenset({"ORG", "ORGANIZATION", "AGENCY", "COMPANY", "GOVERNMENT"})
#: Surnames shorter than this (folded) never link through a changed letter ("Duff"/"Duffy").
MIN_SPELLING_LENGTH = 6
#: Two candidates closer than this are ambiguous: leave the surface new.
AMBIGUITY_MARGIN = 0.1

_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
#: Forms of address dropped before a name ("Mr. Duffy" is the bare surname "Duffy").
_HONORIFICS = frozenset({"mr", "mrs", "ms", "dr", "sir", "dame", "prof", "г-н", "г-жа"})


@dataclass(frozen=True)
class KnownEntity:
    """An entity to match against: a gazetteer entry or one seen before.

    ``context`` holds folded entity ids and words whose presence in the same text marks this
    actor (the gazetteer's ``context`` words and the organizations of its roles).
    """

    id: str
    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    context: frozenset[str] = frozenset()

    @classmethod
    def from_entry(cls, entry: Any) -> KnownEntity:
        """A gazetteer :class:`~pipeline.gazetteer.Entry` (or anything shaped like one)."""
        context = {fold(str(w)) for w in getattr(entry, "context", ()) or ()}
        context |= {fold(str(r.org)) for r in getattr(entry, "roles", ()) or () if r.org}
        return cls(id=entry.id, name=entry.name, kind=entry.kind,
                   aliases=tuple(getattr(entry, "aliases", ()) or ()),
                   context=frozenset(context))


@dataclass(frozen=True)
class VariantMatch:
    """A surface linked to a known entity, how sure (0–1), why, and the context that helped."""

    entity_id: str
    score: float
    reason: str
    context: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NameForms:
    """Short forms of given names, as folded keys: form → the full names it may stand for."""

    full_of: Mapping[str, frozenset[str]]
    version: str

    def compatible(self, a: str, b: str) -> bool:
        """Whether given-name keys ``a`` and ``b`` may name one person (a ≠ b)."""
        return b in self.full_of.get(a, ()) or a in self.full_of.get(b, ())


def load_name_forms(path: Path | None = None) -> NameForms:
    """Read ``models/name_forms.yaml`` (or ``path``)."""
    path = path or default_models_dir() / "name_forms.yaml"
    data, raw = read_model_yaml(path, "name forms")
    forms = data.get("forms")
    if not isinstance(forms, dict):
        raise ConfigError(f"{path}: expected 'forms:' mapping full names to lists of forms")
    full_of: dict[str, set[str]] = {}
    for full, shorts in forms.items():
        if not isinstance(shorts, list):
            raise ConfigError(f"{path}: forms of {full!r} must be a list")
        for short in shorts:
            full_of.setdefault(_key(str(short)), set()).add(_key(str(full)))
    return NameForms({k: frozenset(v) for k, v in full_of.items()},
                     hashlib.sha256(raw).hexdigest()[:8])


@functools.cache
def bundled_name_forms() -> NameForms:
    """The name forms shipped in the package's ``models/`` (read once per process)."""
    return load_name_forms()


def shared_context(text_ids: Iterable[str], candidate_context: Iterable[str]) -> frozenset[str]:
    """The candidate's context ids (or words) that the text carries, folded; empty: none.

    The headline-only flash rule: "FLASH: Duffy confirms NASA …" links "Duffy" to Sean Duffy
    because the flash carries ``nasa``, one of his context ids.
    """
    return frozenset(fold(t) for t in text_ids) & frozenset(fold(c) for c in candidate_context)


# -- person names ----------------------------------------------------------------------------


def _key(word: str) -> str:
    """A spelling-blind key for one name word; a hyphenated surname stays one word."""
    folded = name_key(word) if _CYRILLIC.search(word) else fold_latin(word)
    return folded.replace(" ", "")


@dataclass(frozen=True)
class _Name:
    """A person's name split into given name, middles and surname, each as a folded key."""

    given: str | None
    given_initials: frozenset[str]
    given_is_initial: bool
    middles: tuple[str, ...]
    surname: str
    written: str

    @property
    def bare(self) -> bool:
        return self.given is None


def _parse_person(name: str, titles: frozenset[str]) -> _Name | None:
    words = [w.strip(",;:") for w in name.split()]
    words = [w for w in words if w]
    while len(words) > 1 and (fold(words[0]).rstrip(".") in titles | _HONORIFICS
                              or fold(words[0]) in titles
                              or (words[0].isupper() and len(words[0]) > 2)):
        words.pop(0)  # "NASA Administrator Jared Isaacman", "President Putin"
    if not words or len(words) > 5:
        return None
    keys = [_key(w) for w in words]
    if any(not k for k in keys):
        return None
    surname = keys[-1]
    if len(words) == 1:
        return _Name(None, frozenset(), False, (), surname, fold(name))
    first = words[0]
    letters = {keys[0][:1]}
    latin = first if not _CYRILLIC.search(first) else ""
    if latin[:1].isalpha():
        letters.add(fold(latin)[:1])
    return _Name(keys[0], frozenset(letters), _is_initial(first), tuple(keys[1:-1]), surname,
                 fold(name))


def _is_initial(word: str) -> bool:
    return len(word.rstrip(".")) == 1 or (word.endswith(".") and len(word) <= 3)


def _edit(a: str, b: str) -> str | None:
    """"indel" or "substitution" when ``a`` and ``b`` are exactly one edit apart, else None."""
    if a == b or abs(len(a) - len(b)) > 1:
        return None
    if len(a) == len(b):
        return "substitution" if sum(x != y for x, y in zip(a, b, strict=True)) == 1 else None
    short, long = (a, b) if len(a) < len(b) else (b, a)
    for i in range(len(long)):
        if long[:i] + long[i + 1:] == short:
            # An "h" that makes a digraph changes a transliterated letter: Рогожин "Rogozhin"
            # is not Рогозин "Rogozin".
            if long[i] == "h" and i and long[i - 1] in "zkscgt":
                return "substitution"
            return "indel"
    return None


@dataclass
class _Person:
    entity: KnownEntity
    forms: list[_Name]


class VariantIndex:
    """Known entities indexed for variant lookup; build once per gazetteer, reuse."""

    def __init__(self, entities: Iterable[KnownEntity], forms: NameForms | None = None,
                 cues: Cues | None = None) -> None:
        """Index ``entities``; ``forms`` and ``cues`` default to the bundled ``models/``."""
        self.forms = forms or bundled_name_forms()
        self.cues = cues or bundled_cues()
        self.entities: dict[str, KnownEntity] = {}
        self._by_surname: dict[str, list[_Person]] = {}
        self._org_keys: dict[str, set[str]] = {}
        for entity in entities:
            self.add(entity)

    @classmethod
    def from_entities(cls, entries: Iterable[Any], forms: NameForms | None = None,
                      cues: Cues | None = None) -> VariantIndex:
        """An index over gazetteer entries and/or :class:`KnownEntity` records."""
        return cls((e if isinstance(e, KnownEntity) else KnownEntity.from_entry(e)
                    for e in entries), forms, cues)

    def add(self, entity: KnownEntity) -> None:
        """Index one more entity (a new one minted earlier, so its later spellings link)."""
        self.entities[entity.id] = entity
        if entity.kind in PERSON_KINDS:
            self._add_person(entity)
        elif entity.kind in ORG_KINDS:
            for text in (entity.name, *entity.aliases):
                self._org_keys.setdefault(self._org_key(text), set()).add(entity.id)

    def _add_person(self, entity: KnownEntity) -> None:
        canonical = _parse_person(entity.name, self.cues.titles)
        if canonical is None:
            return
        forms = [canonical]
        #: The surname of the first Cyrillic full name: the nominative, listed first (a
        #: Western name's Cyrillic spelling «Джаред Айзекман» has a surname of its own).
        nominative: str | None = None
        for alias in entity.aliases:
            form = _parse_person(alias, self.cues.titles)
            if form is None or form.bare or form in forms:
                continue
            # Cyrillic aliases may include case forms («Дмитрия Баканова»): only the
            # nominative, recognisable by the canonical surname or by being the first
            # Cyrillic full name, is a name form.
            if _CYRILLIC.search(alias):
                nominative = nominative or form.surname
                if form.surname not in (canonical.surname, nominative):
                    continue
            forms.append(form)
        person = _Person(entity, forms)
        for surname in {f.surname for f in forms}:
            self._by_surname.setdefault(surname, []).append(person)

    def _org_key(self, text: str) -> str:
        return _key(core_name(text, self.cues).replace("-", " ")) if text else ""

    # -- lookup ------------------------------------------------------------------------------

    def resolve(self, surface: str, kind: str,
                context_ids: frozenset[str] = frozenset()) -> VariantMatch | None:
        """The known entity ``surface`` (of ``kind``) is a variant of, or None: leave it new.

        ``context_ids`` are the ids of the other entities in the same text (and, if the caller
        wishes, its folded words); they are needed for a bare surname and for a surname with a
        changed letter, and raise the score otherwise.
        """
        if kind in PERSON_KINDS:
            name = _parse_person(surface, self.cues.titles)
            if name is None:
                return None
            if name.bare:
                return self._bare_surname(name.surname, context_ids)
            return self._person(name, context_ids)
        if kind in ORG_KINDS:
            return self._org(surface)
        return None

    def resolve_flash(self, surname: str, text_ids: Iterable[str],
                      words: Iterable[str] = ()) -> VariantMatch | None:
        """A bare surname in a headline-only wire flash ("FLASH: Duffy confirms …").

        Links to the one known person with that surname whose context (see
        :func:`shared_context`) the rest of the flash carries: its other entity ids
        ``text_ids`` or its ``words`` ("administrator").
        """
        context = frozenset(fold(t) for t in text_ids) | frozenset(fold(w) for w in words)
        key = _key(surname.strip(" ,:;"))
        return self._bare_surname(key, context - {fold(surname)}) if key else None

    def _bare_surname(self, surname: str, context: frozenset[str]) -> VariantMatch | None:
        found = []
        for person in self._by_surname.get(surname, ()):
            shared = shared_context(context, person.entity.context)
            if shared:
                found.append((person.entity.id, shared))
        if len({eid for eid, _ in found}) != 1:
            return None  # nobody, or several people named so with their context here
        eid, shared = found[0]
        return VariantMatch(eid, round(min(0.6 + 0.1 * len(shared), 0.9), 3), SURNAME_CONTEXT,
                            shared)

    def _person(self, name: _Name, context: frozenset[str]) -> VariantMatch | None:
        candidates: dict[str, VariantMatch] = {}
        for surname, edit in self._surname_candidates(name.surname):
            for person in self._by_surname.get(surname, ()):
                shared = shared_context(context, person.entity.context)
                for form in person.forms:
                    match = self._compare(name, form, edit, shared, person.entity)
                    best = candidates.get(person.entity.id)
                    if match is not None and (best is None or match.score > best.score):
                        candidates[person.entity.id] = match
        if not candidates:
            return None
        ranked = sorted(candidates.values(), key=lambda m: -m.score)
        if len(ranked) > 1 and ranked[0].score - ranked[1].score < AMBIGUITY_MARGIN:
            return None
        return ranked[0]

    def _surname_candidates(self, surname: str) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = [(surname, None)]
        if len(surname) < MIN_SPELLING_LENGTH:
            return out
        for known in self._by_surname:
            if len(known) >= MIN_SPELLING_LENGTH and known[:1] == surname[:1]:
                edit = _edit(surname, known)
                if edit:
                    out.append((known, edit))
        return out

    def _compare(self, name: _Name, form: _Name, edit: str | None, shared: frozenset[str],
                 entity: KnownEntity) -> VariantMatch | None:
        given = self._given(name, form)
        if given is None or not self._middles_agree(name, form):
            return None
        score = {EXACT: 1.0, SHORT_FORM: 0.9, INITIAL: 0.75}[given]
        reason = given
        if edit is not None:
            if given == INITIAL or (edit == "substitution" and not shared):
                return None  # "Bill Nelsen" is not Bill Nelson without NASA in the text
            score *= 0.8 if edit == "indel" else 0.7
            reason = SURNAME_SPELLING
        if reason == EXACT and name.middles and not form.middles:
            reason = MIDDLE_NAME
            score *= 0.95 if all(len(m) == 1 for m in name.middles) else 0.9
        if reason == EXACT and name.written != form.written:
            written = {fold(entity.name), *(fold(a) for a in entity.aliases)}
            if name.written not in written:
                reason = TRANSLITERATION
        if shared:
            score = min(1.0, score + 0.05)
        return VariantMatch(entity.id, round(score, 3), reason, shared)

    def _given(self, name: _Name, form: _Name) -> str | None:
        assert name.given is not None and form.given is not None
        if name.given_is_initial or form.given_is_initial:
            initial = name if name.given_is_initial else form
            full = form if initial is name else name
            if initial.given_is_initial and full.given_is_initial:
                return INITIAL if initial.given == full.given else None
            return INITIAL if initial.given_initials & full.given_initials else None
        if name.given == form.given:
            return EXACT
        if self.forms.compatible(name.given, form.given):
            return SHORT_FORM
        return None

    @staticmethod
    def _middles_agree(name: _Name, form: _Name) -> bool:
        """Middle names or initials on both sides agree position by position."""
        for a, b in zip(name.middles, form.middles, strict=False):
            if a == b:
                continue
            if len(a) == 1 and b.startswith(a) or len(b) == 1 and a.startswith(b):
                continue
            return False
        return True

    def _org(self, surface: str) -> VariantMatch | None:
        ids = self._org_keys.get(self._org_key(surface), set())
        if len(ids) != 1:
            return None
        (eid,) = ids
        entity = self.entities[eid]
        written = {fold(entity.name), *(fold(a) for a in entity.aliases)}
        if fold(surface) in written:
            return VariantMatch(eid, 1.0, EXACT)
        return VariantMatch(eid, 0.9, ORG_NAME)
