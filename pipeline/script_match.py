"""Alias matching by characters, for scripts the English tokenizer does not cut into words.

spaCy's English tokenizer splits on spaces and punctuation, so a run of Han characters — a
whole Chinese clause, "俄罗斯国家航天集团公司总裁巴卡诺夫访问了美国国家航空航天局" — comes out as
ONE token, and a token-based phrase matcher (the gazetteer's span ruler) cannot find the
aliases inside it. This module matches aliases on characters instead, with a boundary rule
per script:

- **Han** (and kana) has no spaces: an alias written in it matches anywhere. Where two aliases
  overlap, the longest wins ("白俄罗斯" Belarus over the "俄罗斯" Russia inside it), so a
  short alias inside a longer name needs that longer name listed too.
- **Latin, Cyrillic, Devanagari** and the other spaced scripts need a word boundary at each
  end of the alias: the neighbouring character must not be a letter, digit or combining mark
  of a spaced script. Devanagari vowel signs are marks, so "रूस" (Russia) is not found inside
  "रूसी" (Russian). A Han character next to a Latin alias is a boundary ("NASA表示").

Matching ignores case (except for one-word aliases with a capital letter, matched case and
all, as in the gazetteer), accents on Latin and Cyrillic letters, the Devanagari nukta
(ज़ = ज), chandrabindu/anusvara, hyphen versus space, runs of spaces, and the middle dot
written in Chinese names (·・•‧). Spans are offsets into the text as given.

Pure: no spaCy, no I/O. Context words for weak aliases are checked with :func:`context_ok`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

__all__ = ["ScriptMatcher", "ScriptSpan", "context_ok", "find_spans", "is_unspaced"]


class ScriptSpan(NamedTuple):
    """One alias found in a text: ``text[start:end]`` names ``entity_id``."""

    start: int
    end: int
    entity_id: str


# -- characters --------------------------------------------------------------------------

_UNSPACED_RANGES = (
    (0x3005, 0x3007),    # 々 〆 〇
    (0x3040, 0x30FF),    # hiragana, katakana
    (0x3400, 0x4DBF),    # CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B–G
)
_MIDDLE_DOTS = frozenset("\u00b7\u30fb\u2022\u2027\u2219\u22c5\uff65")
_HYPHENS = frozenset("-\u2010\u2011\u2012\u2043")
_APOSTROPHES = frozenset("\u2018\u2019\u02bc")
_NUKTA = "\u093c"
_CHANDRABINDU, _ANUSVARA = "\u0901", "\u0902"


def is_unspaced(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces between words (Han,
    kana): an alias in it matches anywhere."""
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _UNSPACED_RANGES)


def _wordish(char: str) -> bool:
    """A letter, digit or combining mark of a spaced script: it glues to its neighbours."""
    return unicodedata.category(char)[0] in "LMN" and not is_unspaced(char)


def _fold_char(char: str, casefold: bool) -> str:
    out = []
    for c in unicodedata.normalize("NFKD", char):
        if c in _MIDDLE_DOTS:
            c = "\u00b7"
        elif c in _HYPHENS or c.isspace():
            c = " "
        elif c in _APOSTROPHES:
            c = "'"
        elif c == _NUKTA or "\u0300" <= c <= "\u036f":
            continue
        elif c == _CHANDRABINDU:
            c = _ANUSVARA
        out.append(c.casefold() if casefold else c)
    return "".join(out)


def _fold(text: str, casefold: bool = True) -> tuple[str, list[int]]:
    """The matching form of ``text`` and, for each of its characters, the offset in ``text``
    of the character it came from (runs of spaces are collapsed to one)."""
    chars: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        for c in _fold_char(char, casefold):
            if c == " " and (not chars or chars[-1] == " "):
                continue
            chars.append(c)
            origin.append(i)
    return "".join(chars), origin


def _key(text: str, casefold: bool = True) -> str:
    return _fold(text, casefold)[0].strip()


def _case_sensitive(alias: str) -> bool:
    """One word with a capital letter matches case and all ("US" is not "us"): the
    gazetteer's rule (pipeline.gazetteer), kept the same here."""
    return " " not in alias.strip() and "-" not in alias and any(c.isupper() for c in alias)


# -- the matcher -------------------------------------------------------------------------

@dataclass
class _Node:
    """One node of the alias trie: the next characters, and the aliases ending here."""

    children: dict[str, _Node] = field(default_factory=dict)
    entries: list[_Alias] | None = None


#: The entity id of a blocker phrase in the trie (never returned).
_BLOCKER = ""


class _Alias(NamedTuple):
    alias: str
    entity_id: str
    exact: str | None  # case-kept key, for a case-sensitive alias


class ScriptMatcher:
    """A character trie over aliases (``alias -> entity id``). Build once, reuse."""

    def __init__(self, aliases: Mapping[str, str], blockers: Iterable[str] = ()) -> None:
        """Index ``aliases``; each of ``blockers`` is a longer phrase that vetoes any alias
        inside it (南美国家 "South American countries" holds 美国, the United States): it
        takes part in the longest-match rule and is then dropped from what :meth:`find`
        returns."""
        self._root = _Node()
        self._by_key: dict[str, list[_Alias]] = {}
        self._blocker_keys = {_key(b) for b in blockers if _key(b)}
        aliases = {**{b: _BLOCKER for b in blockers}, **aliases}
        for alias, entity_id in aliases.items():
            key = _key(alias)
            if not key:
                continue
            exact = _key(alias, casefold=False) if _case_sensitive(alias) else None
            entries = self._by_key.setdefault(key, [])
            if key in self._blocker_keys and entity_id != _BLOCKER:
                raise ValueError(f"blocker {alias!r} is also an alias of {entity_id!r}")
            for other in entries:
                if other.entity_id != entity_id and (
                        other.exact is None or exact is None or other.exact == exact):
                    raise ValueError(
                        f"alias {alias!r} of {entity_id!r} matches the alias {other.alias!r} "
                        f"of {other.entity_id!r}; an alias must name one entity")
            entries.append(_Alias(alias, entity_id, exact))
            node = self._root
            for c in key:
                node = node.children.setdefault(c, _Node())
            node.entries = entries

    def find(self, text: str) -> list[ScriptSpan]:
        """Every alias in ``text``, in text order; where matches overlap, the longest wins
        (ties go to the earlier one)."""
        norm, origin = _fold(text)
        n = len(norm)
        found: list[ScriptSpan] = []
        for i in range(n):
            if i and origin[i] == origin[i - 1]:
                continue  # inside one character's folded form ("ß" -> "ss")
            node: _Node | None = self._root.children.get(norm[i])
            if node is None or (_wordish(norm[i]) and i and _wordish(norm[i - 1])):
                continue
            j = i + 1
            while node is not None:
                entries = node.entries
                if entries and self._ends_well(norm, origin, j):
                    span = self._accept(text, origin[i], origin[j] if j < n else len(text),
                                        entries)
                    if span is not None:
                        found.append(span)
                node = node.children.get(norm[j]) if j < n else None
                j += 1
        return [s for s in _longest_first(found, len(text)) if s.entity_id != _BLOCKER]

    def alias_of(self, text: str, span: ScriptSpan) -> str | None:
        """The alias (as given to the matcher) that ``span`` of ``text`` matched."""
        surface = text[span.start:span.end]
        for entry in self._by_key.get(_key(surface), []):
            if entry.entity_id == span.entity_id and (
                    entry.exact is None or entry.exact == _key(surface, casefold=False)):
                return entry.alias
        return None

    @staticmethod
    def _ends_well(norm: str, origin: list[int], j: int) -> bool:
        if j < len(norm) and origin[j] == origin[j - 1]:
            return False  # would end inside one character's folded form
        return j == len(norm) or not (_wordish(norm[j - 1]) and _wordish(norm[j]))

    @staticmethod
    def _accept(text: str, start: int, end: int, entries: list[_Alias]) -> ScriptSpan | None:
        surface = text[start:end].rstrip()
        exact = None
        for entry in entries:
            if entry.exact is not None:
                exact = exact if exact is not None else _key(surface, casefold=False)
                if exact != entry.exact:
                    continue
            return ScriptSpan(start, start + len(surface), entry.entity_id)
        return None


def _longest_first(spans: list[ScriptSpan], size: int) -> list[ScriptSpan]:
    taken = bytearray(size)
    kept = []
    for span in sorted(spans, key=lambda s: (s.start - s.end, s.start)):
        if not any(taken[span.start:span.end]):
            kept.append(span)
            taken[span.start:span.end] = b"\x01" * (span.end - span.start)
    return sorted(kept)


def find_spans(text: str, aliases: Mapping[str, str]) -> list[ScriptSpan]:
    """:meth:`ScriptMatcher.find` with a matcher built for this call (build one and reuse it
    for many texts)."""
    return ScriptMatcher(aliases).find(text)


# -- context for weak aliases ------------------------------------------------------------

#: A sentence ends at 。！？!? or the Devanagari danda, or at a full stop before a space.
_SENTENCE_END = re.compile(r"[。！？!?\u0964\u0965\n]|\.(?=\s)")


@lru_cache(maxsize=512)
def _context_matcher(words: tuple[str, ...]) -> ScriptMatcher:
    return ScriptMatcher({w: "context" for w in words})


def context_ok(text: str, span: ScriptSpan, words: Iterable[str]) -> bool:
    """Whether one of ``words`` occurs in the sentence of ``span``, outside the span itself,
    by the same script rules as aliases (a Han word anywhere, others as whole words)."""
    starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, span.start)]
    lo = starts[-1] if starts else 0
    stop = _SENTENCE_END.search(text, span.end)
    hi = stop.end() if stop else len(text)
    matcher = _context_matcher(tuple(sorted({w.casefold() for w in words})))
    return any(not (span.start < lo + m.end and lo + m.start < span.end)
               for m in matcher.find(text[lo:hi]))
