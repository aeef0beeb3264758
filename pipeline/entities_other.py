"""The NER stage for languages no model here reads (Chinese, Hindi, German, French,
Portuguese…): the gazetteer's aliases matched on characters (:mod:`pipeline.script_match`).

A weak alias counts only with a context word in its sentence or its entity named strongly in
the same text. An entity's ``blockers`` (gazetteer) veto its alias inside a longer phrase.
Sentences are cut at full stops, 。, the danda and line breaks.
"""

from __future__ import annotations

import re

from .gazetteer import Gazetteer
from .records import Mention
from .script_match import ScriptMatcher, context_ok

_SENTENCE_STOP = re.compile(r"[.!?\u3002\uff01\uff1f\u0964\n]")


class AliasLinker:
    """A text's gazetteer aliases as mentions. Build once per gazetteer, reuse."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        """Index every alias, strong and weak, in a character trie."""
        self.gazetteer = gazetteer
        self._script = ScriptMatcher({a: e.id for e in gazetteer.entries.values()
                                      for a in (*e.aliases, *e.weak_aliases)},
                                     blockers=[b for e in gazetteer.entries.values()
                                               for b in e.blockers])

    def link(self, text: str) -> list[Mention]:
        """Every alias of ``text`` that counts, in text order."""
        gaz = self.gazetteer
        spans = self._script.find(text)
        strong = {s.entity_id for s in spans
                  if self._script.alias_of(text, s) in gaz.entries[s.entity_id].aliases}
        mentions = []
        for span in spans:
            entry = gaz.entries[span.entity_id]
            if entry.id not in strong and not context_ok(text, span, entry.context):
                continue
            mentions.append(Mention(entity_id=entry.id, name=entry.name, kind=entry.kind,
                                    origin="gazetteer", surface=text[span.start:span.end],
                                    start=span.start, end=span.end,
                                    sentence=sentence_around(text, span.start, span.end),
                                    wikidata=entry.wikidata))
        return mentions


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence holding ``text[start:end]``: up to the nearest full stop, 。, danda or
    line break on each side."""
    left = max((m.end() for m in _SENTENCE_STOP.finditer(text, 0, start)), default=0)
    right = _SENTENCE_STOP.search(text, end)
    return text[left:right.end() if right else len(text)].strip()[:600]
