"""Which person a name is, whatever script or transliteration it is written in.

A person's names meet on :func:`pipeline.russian.name_key` («Дмитрий Баканов», "Dmitry
Bakanov" and "Dmitri Bakanov" share one key). The index starts with the gazetteer's people
and grows with the new people the model finds, so a new person first seen in Russian copy and
later spelled in Latin script (or the other way round) is one entity. A new person's id is
``person:`` + :func:`~pipeline.russian.latin_slug` of the name it was first seen under
(«Дмитрий Баканов» → ``person:dmitry-bakanov``, :func:`pipeline.typing_rules.new_entity_id`,
the one rule for new ids whatever the kind): the key links, the id is the first one's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .gazetteer import Gazetteer
from .records import PEOPLE, slug
from .russian import name_key
from .typing_rules import new_entity_id


@dataclass(frozen=True)
class Person:
    """An entity a person's name resolves to."""

    id: str
    name: str
    kind: str


class PeopleIndex:
    """``name_key`` → :class:`Person`, for full names (two words or more)."""

    def __init__(self, gazetteer: Gazetteer | None = None) -> None:
        """The gazetteer's people by every full-name alias; a key two people share is
        ambiguous and resolves to nobody."""
        self._by_key: dict[str, Person | None] = {}
        if gazetteer is None:
            return
        for entry in gazetteer.entries.values():
            if entry.kind not in PEOPLE:
                continue
            person = Person(entry.id, entry.name, entry.kind)
            surname = (_key(entry.name) or "").rsplit(" ", 1)[-1]
            for alias in {entry.name, *entry.aliases}:
                key = _key(alias)
                if key is None:
                    continue
                if _CYRILLIC.search(alias) and key.rsplit(" ", 1)[-1] != surname:
                    # A case form («Александра Гребенкина», Alexander's genitive) is not a
                    # name: its key is another person's (Alexandra Grebenkina).
                    continue
                known = self._by_key.get(key, person)
                self._by_key[key] = person if known == person else None

    def copy(self) -> PeopleIndex:
        """An independent copy (the gazetteer's index, before one run adds its people)."""
        other = PeopleIndex()
        other._by_key = dict(self._by_key)
        return other

    def get(self, name: str) -> Person | None:
        """The person ``name`` is, if known."""
        key = _key(name)
        return self._by_key.get(key) if key else None

    def add(self, people: Iterable[Person]) -> None:
        """Known people (the store's model persons): a key already taken keeps its person."""
        for person in people:
            key = _key(person.name)
            if key is not None and key not in self._by_key:
                self._by_key[key] = person

    def resolve(self, name: str, kind: str) -> Person:
        """The known person ``name`` is, else a new one (remembered: the next spelling of it
        links here)."""
        known = self.get(name)
        if known is not None:
            return known
        short = without_patronymic(name)
        try:  # one id rule for every new entity (typing_rules.new_entity_id)
            pid = new_entity_id(short, "PERSON")
        except ValueError:
            pid = f"person:{slug(short)}"
        person = Person(pid, name, kind)
        key = _key(name)
        if key is not None:
            self._by_key.setdefault(key, person)
        return person


_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
#: A patronymic between a given name and a surname («Владимирович», "Vladimirovich").
_PATRONYMIC = re.compile(r"^(?:\w+(?:ович|евич|ична|овна|евна|ovich|evich|ovna|evna|ichna))$",
                         re.I)


def without_patronymic(name: str) -> str:
    """``name`` without a middle patronymic: «Иван Петрович Сидоренко» is the "Ivan
    Sidorenko" of English copy."""
    words = name.split()
    if len(words) < 3:
        return name
    return " ".join([words[0], *(w for w in words[1:-1] if not _PATRONYMIC.match(w)),
                     words[-1]])


def _key(name: str) -> str | None:
    key = name_key(without_patronymic(name))
    return key if " " in key else None
