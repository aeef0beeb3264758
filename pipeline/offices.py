"""Office-holders by date: who "the head of Roscosmos" is on the day an article was published.

``models/offices.yaml`` lists offices (the Roscosmos director general, the NASA
administrator, the Russian foreign ministry's spokesperson …), the phrases copy uses for each
in every language of the beat, and their holders with dates. :func:`find_office_mentions`
finds a phrase with no name next to it ("the head of Roscosmos said", «глава Роскосмоса
заявил», "NASA's administrator") and returns the holder on the publication date; the caller
turns that into a mention that records it was resolved by office.

Not resolved: a phrase with a name next to it ("Roscosmos chief Dmitry Bakanov": that name is
the mention), a phrase after "former", "ex-", "then-", «бывший» … (not today's holder), and
a day on which the file cannot tell who held the office (a change dated only by month or year
falls in that month or year). The file's hash is part of the NLP version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .entities_other import sentence_around
from .errors import ConfigError
from .gazetteer import Gazetteer, read_model_yaml
from .people import PeopleIndex
from .records import PEOPLE, Mention, fold

LANGUAGES = ("en", "ru", "zh", "de", "fr", "pt", "hi")
_OFFICE_KEYS = frozenset({"id", "org", "title", "phrasings", "contextual", "context",
                          "holders"})
_HOLDER_KEYS = frozenset({"id", "name", "start", "end", "acting"})
_DATE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
#: Words before an office phrase that make it a past holder's, not the one on the day.
_PAST = re.compile(r"(?:\b(?:former|ex|then|erstwhile|previous|past|late|one-time|onetime|"
                   r"outgoing|ehemalige[rn]?|ancien(?:ne)?|ex-|antigo|antiga)|"
                   r"(?<![а-яё])(?:бывш\w*|экс|прежн\w*|тогдашн\w*))[\s\-]*$", re.I)
#: Words before an office phrase that name another post ("deputy head of Roscosmos", "an
#: adviser to the NASA administrator", «заместитель главы Роскосмоса»).
_OTHER_POST = re.compile(r"(?:\b(?:deputy|vice|assistant|advis[eo]r|aide|spokes\w+|office|"
                         r"wife|husband|son|daughter|chief of staff)|(?<![а-яё])(?:заместител\w*|"
                         r"замглав\w*|советник\w*|помощник\w*|пресс-секретар\w*|супруг\w*|"
                         r"аппарат\w*))(?:\s+(?:to|for|of))?(?:\s+(?:the|a))?[\s\-]*$", re.I)
#: Characters between a phrase and a name that make the name the phrase's holder
#: ("head of Roscosmos Dmitry Bakanov", "Bakanov, the head of Roscosmos").
_GAP = re.compile(r"^[\s,«»\"“”„]*(?:(?:the|a|an)\s+)?"
                  r"(?:(?:acting|interim|new|current|incoming|врио)\s+)*$", re.I)
_WORDISH = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class Holder:
    """One holder of an office: a gazetteer ``id`` or only a ``name``; dates as written
    ("YYYY", "YYYY-MM" or "YYYY-MM-DD"; start inclusive, end exclusive, None = in office)."""

    id: str | None
    name: str | None
    start: str
    end: str | None
    acting: bool = False


@dataclass(frozen=True)
class Office:
    """An office, its phrasings (named: the org is in the phrase; contextual: it needs one of
    ``context`` nearby) and holders in order."""

    id: str
    org: str
    title: str
    phrasings: Mapping[str, tuple[str, ...]]
    contextual: Mapping[str, tuple[str, ...]]
    context: frozenset[str]
    holders: tuple[Holder, ...]

    def holder_on(self, day: str) -> Holder | None:
        """The holder on ``day`` ("YYYY-MM-DD"); None when nobody or the file cannot tell
        (the day falls in the month or year of a change dated that coarsely)."""
        for holder in self.holders:
            if _on_or_after(day, holder.start) and (holder.end is None
                                                    or _before(day, holder.end)):
                return holder
        return None


@dataclass(frozen=True)
class Offices:
    """Every office of ``models/offices.yaml`` and the file's hash."""

    offices: tuple[Office, ...]
    version: str

    def only(self, entity_ids: frozenset[str] | set[str]) -> Offices:
        """The offices whose organisation is one of ``entity_ids`` (a smaller gazetteer)."""
        return Offices(tuple(o for o in self.offices if o.org in entity_ids), self.version)


@dataclass(frozen=True)
class OfficeMention:
    """A role-only mention: the phrase at ``text[start:end]`` and who held the office."""

    office: Office
    holder: Holder
    start: int
    end: int
    phrase: str


def _on_or_after(day: str, bound: str) -> bool:
    return day[:len(bound)] >= bound and not (len(bound) < len(day) and day[:len(bound)]
                                              == bound and _coarse(bound))


def _before(day: str, bound: str) -> bool:
    return day[:len(bound)] < bound


def _coarse(bound: str) -> bool:
    """A bound dated by month or year only: the day of the change is unknown."""
    return len(bound) < 10


def load_offices(path: Path) -> Offices:
    """Read and check ``offices.yaml``; a bad file raises one :class:`ConfigError` naming
    the file, the office and the problem."""
    data, raw = read_model_yaml(path, "offices")
    if not isinstance(data.get("offices"), list):
        raise ConfigError(f"{path}: expected 'version: 1' and a list under 'offices'")
    if data.get("version") != 1:
        raise ConfigError(f"{path}: unknown version {data.get('version')!r} (expected 1)")
    offices: list[Office] = []
    seen: set[str] = set()
    for n, item in enumerate(data["offices"], start=1):
        office = _office(item, f"{path}: office {n}")
        if office.id in seen:
            raise ConfigError(f"{path}: office {office.id!r} is listed twice")
        seen.add(office.id)
        offices.append(office)
    return Offices(tuple(offices), hashlib.sha256(raw).hexdigest()[:8])


def _office(item: Any, where: str) -> Office:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a mapping")
    for key in ("id", "org", "title", "phrasings", "holders"):
        if not item.get(key):
            raise ConfigError(f"{where}: '{key}' is missing")
    where = f"{where.rsplit(':', 1)[0]}: office {item['id']!r}"
    unknown = set(item) - _OFFICE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    phrasings = _phrasings(item["phrasings"], f"{where}: phrasings")
    contextual = _phrasings(item.get("contextual") or {}, f"{where}: contextual")
    context = item.get("context") or []
    if bool(contextual) != bool(context) or not isinstance(context, list):
        raise ConfigError(f"{where}: 'contextual' phrasings need a 'context' list, and only "
                          "they use it")
    if not isinstance(item["holders"], list):
        raise ConfigError(f"{where}: 'holders' must be a list")
    holders = tuple(_holder(h, f"{where}: holder {i}")
                    for i, h in enumerate(item["holders"], start=1))
    for earlier, later in zip(holders, holders[1:], strict=False):
        if earlier.end is None or earlier.end > later.start:
            raise ConfigError(f"{where}: holders overlap ({earlier.id or earlier.name} and "
                              f"{later.id or later.name}); list them in order, each ending "
                              "when the next starts")
    return Office(id=str(item["id"]), org=str(item["org"]), title=str(item["title"]),
                  phrasings=phrasings, contextual=contextual,
                  context=frozenset(fold(str(c)) for c in context), holders=holders)


def _phrasings(node: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: expected a mapping of language to phrases")
    out = {}
    for lang, phrases in node.items():
        if lang not in LANGUAGES:
            raise ConfigError(f"{where}: unknown language {lang!r}")
        if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip()
                                                    for p in phrases):
            raise ConfigError(f"{where}: {lang}: expected a list of phrases")
        out[str(lang)] = tuple(p.strip() for p in phrases)
    return out


def _holder(item: Any, where: str) -> Holder:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(item) - _HOLDER_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    if ("id" in item) == ("name" in item):
        raise ConfigError(f"{where}: give either 'id' (a gazetteer person) or 'name'")
    start, end = item.get("start"), item.get("end")
    for label, value in (("start", start), ("end", end)):
        if (value is not None or label == "start") and not _is_date(str(value)):
            raise ConfigError(f"{where}: {label} {value!r} is not a date "
                              "(YYYY, YYYY-MM or YYYY-MM-DD, quoted)")
    if end is not None and str(end) <= str(start):
        raise ConfigError(f"{where}: ends ({end}) before it starts ({start})")
    return Holder(id=str(item["id"]) if "id" in item else None,
                  name=str(item["name"]) if "name" in item else None, start=str(start),
                  end=str(end) if end is not None else None, acting=bool(item.get("acting")))


def _is_date(value: str) -> bool:
    """"YYYY", "YYYY-MM" or "YYYY-MM-DD", a real month and day."""
    if not _DATE.match(value):
        return False
    full = value + "-01" * (2 - value.count("-"))
    try:
        date.fromisoformat(full)
    except ValueError:
        return False
    return True


# -- finding role-only mentions ---------------------------------------------------------------


@dataclass(frozen=True)
class _Phrase:
    office: Office
    pattern: re.Pattern[str]
    contextual: bool
    #: Pieces of the phrase, lower-cased, that any match contains (:func:`_needed`).
    needed: tuple[str, ...] = ()
    #: The piece every match starts with, lower-cased (None: not one :func:`_needed` checks).
    first: str | None = None

    def finditer(self, text: str, lowered: str | None) -> Iterator[re.Match[str]]:
        """``pattern.finditer(text)``, trying the pattern only where ``lowered`` (``text``
        lower-cased, None: unknown) holds :attr:`first`."""
        if lowered is None or self.first is None:
            yield from self.pattern.finditer(text)
            return
        end = 0
        at = lowered.find(self.first)
        while at >= 0:
            if at >= end:
                m = self.pattern.match(text, at)
                if m is not None:
                    yield m
                    end = m.end()
            at = lowered.find(self.first, at + 1)


#: Characters that match an ASCII or Cyrillic letter under ``re.I`` while ``str.lower()``
#: does not turn them into it (dotless ı, long ſ, old Cyrillic forms; İ lowers to two
#: characters): a text holding one is searched for every phrase.
_CASE_ODD = re.compile("[\u0130\u0131\u017f\u1c80-\u1c88]")
_PLAIN = re.compile(r"^[\x00-\x7f\u0400-\u045f]+$")


class OfficeFinder:
    """The offices' phrasings compiled per language. Build once, reuse."""

    def __init__(self, offices: Offices) -> None:
        self.offices = offices
        self._by_lang: dict[str, list[_Phrase]] = {}
        for office in offices.offices:
            for contextual, table in ((False, office.phrasings), (True, office.contextual)):
                for lang, phrases in table.items():
                    for phrase in phrases:
                        needed = _needed(phrase)
                        first = re.split("['\u2019]", phrase.split()[0])[0].lower()
                        self._by_lang.setdefault(lang, []).append(_Phrase(
                            office, _compile(phrase), contextual, needed,
                            first if first in needed else None))
        for found in self._by_lang.values():
            found.sort(key=lambda p: -len(p.pattern.pattern))

    def find(self, text: str, lang: str, day: str,
             names: Sequence[tuple[int, int]] = (),
             article_ids: frozenset[str] = frozenset()) -> list[OfficeMention]:
        """Role-only office mentions in ``text`` (language ``lang``) on ``day``.

        ``names``: character spans of the people already found (a phrase next to one is
        that person's title, not a mention of its own); ``article_ids``: the entity ids named
        in the text (a contextual phrasing resolves when its office's organisation is one).
        """
        found: list[OfficeMention] = []
        used: list[tuple[int, int]] = []
        folded: str | None = None
        # A phrase runs over the text only when the text holds its every piece (one
        # substring test each instead of one regex pass per phrase), and only where its
        # first piece is.
        lowered = None if _CASE_ODD.search(text) else text.lower()
        for phrase in self._by_lang.get(lang, ()):
            if lowered is not None and not all(piece in lowered for piece in phrase.needed):
                continue
            for m in phrase.finditer(text, lowered):
                start, end = m.start(), m.end()
                if any(s < end and start < e for s, e in used):
                    continue
                used.append((start, end))
                before = text[max(0, start - 30):start]
                if _PAST.search(before) or _OTHER_POST.search(before):
                    continue
                # A name right after the phrase or right before it (each side checked on
                # its own: an empty slice would match any name further on).
                if any(_GAP.match(text[end:s]) if s >= end else _GAP.match(text[e:start])
                       for s, e in names if e <= start or s >= end):
                    continue
                if any(s < end and start < e for s, e in names):
                    continue
                if phrase.contextual and phrase.office.org not in article_ids:
                    folded = fold(text) if folded is None else folded
                    if not _has_context(folded, phrase.office.context):
                        continue
                holder = phrase.office.holder_on(day)
                if holder is not None:
                    found.append(OfficeMention(phrase.office, holder, start, end, m.group(0)))
        found.sort(key=lambda f: f.start)
        return found


def _compile(phrase: str) -> re.Pattern[str]:
    """A phrase as a case-insensitive pattern: any run of spaces, straight or curly
    apostrophes, whole words at Latin/Cyrillic edges (Han and Devanagari by characters)."""
    parts = []
    for word in phrase.split():
        parts.append("['\u2019]".join(re.escape(bit) for bit in re.split("['\u2019]", word)))
    body = r"\s+".join(parts)
    left = r"(?<![^\W_])" if _WORDISH.match(phrase[0]) and phrase[0].isascii() or \
        "\u0400" <= phrase[0] <= "\u04ff" else ""
    right = r"(?![^\W_])" if _WORDISH.match(phrase[-1]) and (
        phrase[-1].isascii() or "\u0400" <= phrase[-1] <= "\u04ff") else ""
    return re.compile(left + body + right, re.I)


def _needed(phrase: str) -> tuple[str, ...]:
    """The pieces of ``phrase`` (between spaces and apostrophes), lower-cased, that every
    match of :func:`_compile`'s pattern holds as written: those of ASCII or basic Cyrillic
    only, where ``re.I`` and ``str.lower()`` agree (other scripts are not checked)."""
    pieces = (bit for word in phrase.split() for bit in re.split("['\u2019]", word))
    return tuple(sorted({bit.lower() for bit in pieces if bit and _PLAIN.match(bit)},
                        key=len, reverse=True))


def _has_context(folded_text: str, words: frozenset[str]) -> bool:
    return any(re.search(rf"(?<![^\W_]){re.escape(w)}(?![^\W_])", folded_text) for w in words)


# -- mentions ---------------------------------------------------------------------------------

#: ``Mention.resolved_by`` of a mention found through its office.
RESOLVED_BY_OFFICE = "office"


def office_mentions(finder: OfficeFinder, text: str, lang: str, day: str,
                    mentions: Sequence[Mention], gazetteer: Gazetteer,
                    people: PeopleIndex) -> list[Mention]:
    """``mentions`` plus a mention of the holder for each role-only office phrase in ``text``
    (in text order): ``role`` is the phrase as written, ``resolved_by`` ``"office"``. A holder
    the gazetteer lacks (listed by name) is linked like a new person (``people``)."""
    names = [(m.start, m.end) for m in mentions if m.kind in (*PEOPLE, "PERSON")]
    ids = frozenset(m.entity_id for m in mentions)
    added = []
    for found in finder.find(text, lang, day, names, ids):
        holder = found.holder
        sentence = next((m.sentence for m in mentions
                         if m.start < found.end and found.start < m.end), None)
        if sentence is None:
            sentence = sentence_around(text, found.start, found.end)
        if holder.id is not None and holder.id in gazetteer.entries:
            entry = gazetteer.entries[holder.id]
            eid, name, kind, origin, wikidata = entry.id, entry.name, entry.kind, "gazetteer", \
                entry.wikidata
        elif holder.name is not None:
            person = people.resolve(holder.name, "OFFICIAL")
            eid, name, kind, origin, wikidata = person.id, person.name, "OFFICIAL", "model", None
        else:
            continue
        added.append(Mention(entity_id=eid, name=name, kind=kind, origin=origin,
                             surface=found.phrase, start=found.start, end=found.end,
                             sentence=sentence, role=found.phrase, wikidata=wikidata,
                             resolved_by=RESOLVED_BY_OFFICE))
    if not added:
        return list(mentions)
    return sorted([*mentions, *added], key=lambda m: m.start)
