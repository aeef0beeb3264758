"""Who said what: direct and reported speech attributed to a speaker, in English and Russian.

Plain data in, plain data out: the article's text, the mentions the NER stage found in it and
the article's language give a list of :class:`Quote` records. Entity resolution is not done
here: a speaker is always one of the given mentions (the one nearest the speech cue, in the
direction the construction puts it), or — for he/she/он/она and an organisation's "it" — the
one person (organisation) the sentences before leave as the only candidate.

Constructions (``X`` a mention, ``Q`` a quotation in “ ” ‘ ’ « » „ “ or straight quotes):

- direct, speaker after the quote: ``"Q," said X`` / ``"Q," X said`` / «Q», — заявил X;
  before it: ``X said: "Q"`` / Баканов заявил: «Q»; inside it: «Q1, — сказал X. — Q2»;
  a quote standing alone right after an attributed one continues it.
- reported: ``X said (that) …`` / ``X told reporters …`` / Баканов заявил, что … /
  ``according to X, …`` / по словам X, … / как сообщил X, … / ``…, X said.`` / …, сообщил X. /
  ``…, adding that …`` / добавив, что … (the speaker of the clause before).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .records import PEOPLE, Quote

__all__ = ["DIRECT", "REPORTED", "Quote", "SpeakerMention", "find_quotes"]

#: Kinds that can speak, best first: a person in the speaker's phrase beats the organisation
#: named in their title ("Roscosmos chief Dmitry Bakanov said").
_RANK = {**{k: 0 for k in (*PEOPLE, "PERSON")},
         **{k: 1 for k in ("AGENCY", "GOVERNMENT", "COMPANY", "ORGANIZATION")},
         "COUNTRY": 2}
_ORGS = frozenset(k for k, r in _RANK.items() if r == 1)
_HUMANS = frozenset(k for k, r in _RANK.items() if r == 0)

DIRECT = "direct"
REPORTED = "reported"


class SpeakerMention(Protocol):
    """What a speaker needs of a mention (:class:`pipeline.records.Mention` has it; read-only,
    so a frozen record fits)."""

    @property
    def entity_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


# -- lexicon -----------------------------------------------------------------------------

_EN_VERBS = (
    r"said|says|told|tells|added|adds|stated|states|noted|notes|explained|explains|announced|"
    r"announces|confirmed|confirms|warned|warns|insisted|insists|stressed|stresses|argued|"
    r"argues|wrote|writes|posted|claimed|claims|acknowledged|acknowledges|asserted|declared|"
    r"declares|replied|responded|remarked|emphasi[sz]ed|emphasi[sz]es|pointed out|commented|"
    r"tweeted|admitted|promised|reiterated|recalled|conceded|cautioned|assured|asked|continued|"
    r"predicted|observed|agreed")
_RU_VERBS = (
    r"(?:заяви|сказа|сообщи|отмети|подчеркну|добави|поясни|рассказа|призна|уточни|написа|"
    r"завери|объяви|указа|ответи|напомни|замети|предупреди|констатирова|подтверди|"
    r"пообеща|спроси|говори)л[аио]?|"
    r"(?:заявля|сообща|отмеча|подчеркива|подчёркива|рассказыва|поясня|пиш|утвержда)(?:ет|ют)|"
    r"(?:говор|счита)(?:ит|ят|ает|ают)")
_ADDING = r"adding|добавив"
_ACCORDING = (r"according to|по (?:его |её |ее |их )?словам|по (?:данным|информации|сообщению)|"
              r"как (?:" + _RU_VERBS + r")|as (?:" + _EN_VERBS + r")")
#: Speech verbs match in lower case only ("the United States" is no cue); the phrases that
#: open a sentence may be capitalised.
_CUE = re.compile(rf"\b(?:(?P<acc>{_ACCORDING})|(?P<add>{_ADDING})|(?P<verb>(?-i:{_EN_VERBS}|"
                  rf"{_RU_VERBS})))\b", re.IGNORECASE)
#: Verbs that take a bare clause ("Duffy said the talks …"); the rest need that/что.
_BARE = re.compile(r"said|says|told|tells|added|adds|wrote|writes", re.IGNORECASE)
_LISTENER_VERB = re.compile(r"told|tells", re.IGNORECASE)
_PRONOUN_PERSON = re.compile(r"\b(?:he|she|он|она)\s*$", re.IGNORECASE)
_PRONOUN_ORG = re.compile(r"\b(?:it|the (?:agency|ministry|company|corporation|kremlin)|"
                          r"в (?:ведомстве|агентстве|компании|госкорпорации))\s*$",
                          re.IGNORECASE)
_PRONOUN_AFTER = re.compile(r"\s*(?:(?P<p>he|she|он|она)|(?P<o>it|в (?:ведомстве|агентстве|"
                            r"компании|госкорпорации)))\b", re.IGNORECASE)
_HIS_WORDS = re.compile(r"по (?:его|её|ее) словам", re.IGNORECASE)
_DAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon|Tues?|Wed|Thu|Fri)"
_ADVERBIAL = re.compile(
    rf"\s*(?:(?:late |early |earlier |later )?on {_DAYS}|on (?:Telegram|X|Twitter|social media)"
    r"|in an? (?:\w+ )?(?:statement|interview|post|video|briefing|conference|address|letter)"
    r"(?: (?:on|to|with) [\w.]+)?|at an? (?:\w+ )?(?:briefing|conference|hearing|event|forum)"
    r"|from orbit|yesterday|today|this week|last week|also|earlier|later|then|again"
    r"|(?:in|from) [A-Z]\w+)\b,?", re.IGNORECASE)
_LISTENER = re.compile(r"\s*(?:reporters|journalists|lawmakers|senators|congress|students|"
                       r"the (?:[A-Z][\w.]*\s?)+|(?:[A-Z][\w.]*\s?)+|an? [\w\s]{0,30}?"
                       r"(?:conference|briefing|hearing|forum))\b")
_THAT = re.compile(r"\b(?:that|что)\b", re.IGNORECASE)

_OPEN_CLOSE = {"«": "»", "„": "“”", "“": "”", '"': '"'}
_QUOTE_CHARS = "\"“”«»„‘’'"
_TERMINATOR = re.compile(r"[.!?…]+[\"”»’']*(?=\s|$)")
_ABBREV = frozenset({"mr", "mrs", "ms", "dr", "gen", "col", "lt", "sgt", "st", "jan", "feb",
                     "aug", "sept", "sep", "oct", "nov", "dec", "inc", "ltd", "co", "corp", "vs",
                     "no", "г", "гг", "т", "д", "им", "ул", "см", "др", "пр", "e", "i"})


def find_quotes(text: str, mentions: Sequence[SpeakerMention], language: str) -> list[Quote]:
    """Every direct and reported quotation in ``text`` attributed to one of ``mentions``.

    ``language`` is the article's (``en``, ``ru``): both lexicons are tried on English and
    Russian text, so a Russian article quoting an English statement still attributes; other
    languages have no cues and give no quotes. A quotation whose speaker cannot be named
    (unnamed officials, an ambiguous "he") is left out rather than guessed.
    """
    if language not in ("en", "ru") or not text.strip():
        return []
    return _Finder(text, mentions).run()


# -- the finder --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    open: int  # index of the opening mark
    close: int  # index of the closing mark (len(text) or a newline when unclosed)


class _Finder:
    def __init__(self, text: str, mentions: Sequence[SpeakerMention]) -> None:
        self.text = text
        self.speakers = sorted((m for m in mentions if m.kind in _RANK),
                               key=lambda m: (m.start, m.end))
        self.spans = _quote_spans(text)
        self.sentences = _sentences(text, self.spans)
        self.found: list[tuple[Quote, int]] = []  # each with the position of its cue
        self.used_cues: set[int] = set()

    def run(self) -> list[Quote]:
        last_end: int | None = None  # where the last attributed direct quote's attribution ends
        last_quote: Quote | None = None
        for span in self.spans:
            got = self._direct(span)
            if got is None and last_quote is not None and last_end is not None:
                got = self._continuation(span, last_quote, last_end)
            if got:
                last_quote = got[-1][0]
                last_end = self._attribution_end(span)
            else:
                last_quote, last_end = None, None
        self._reported()
        quotes = sorted(self.found, key=lambda qc: (qc[0].start, qc[0].end))
        return [q for q, _ in quotes]

    # -- direct ---------------------------------------------------------------------------

    def _direct(self, span: _Span) -> list[tuple[Quote, int]] | None:
        inner = self._inner(span)
        if inner:
            return inner
        for attempt in (self._after, self._before):
            got = attempt(span)
            if got is not None:
                speaker, cue, cue_at = got
                quote = self._quote(speaker, span.open + 1, span.close, DIRECT, cue, cue_at)
                if quote is None:
                    return None
                self.used_cues.add(cue_at)
                self.found.append((quote, cue_at))
                return [(quote, cue_at)]
        return None

    def _inner(self, span: _Span) -> list[tuple[Quote, int]] | None:
        """«Q1, — сказал X. — Q2»: the attribution between dashes inside one pair of marks."""
        body = self.text[span.open + 1:span.close]
        m = re.search(r"[,.!?…]\s*[—–]\s*(?P<attr>[^—–«»\"“”]{3,90}?)[.,:]?\s*[—–]\s*", body)
        if not m:
            return None
        attr_at = span.open + 1 + m.start("attr")
        cue = _CUE.search(self.text, attr_at, span.open + 1 + m.end("attr"))
        if not cue or cue.group("acc") or cue.group("add"):
            return None
        speaker = self._speaker_near(cue, attr_at, span.open + 1 + m.end("attr"))
        if speaker is None:
            return None
        out = []
        for lo, hi in ((span.open + 1, span.open + 1 + m.start()),
                       (span.open + 1 + m.end(), span.close)):
            quote = self._quote(speaker, lo, hi, DIRECT, cue.group(0), cue.start())
            if quote:
                out.append((quote, cue.start()))
        self.used_cues.add(cue.start())
        self.found.extend(out)
        return out or None

    def _after(self, span: _Span) -> tuple[SpeakerMention, str, int] | None:
        """``"Q," said X`` / ``"Q," X said`` / «Q», — заявил X."""
        lo = span.close + 1
        hi = self._clause_limit(lo)
        prefix = re.match(r"[,.!?…]?\s*(?:[—–-]+\s*)?", self.text[lo:hi])
        assert prefix is not None
        start = lo + prefix.end()
        cue = _CUE.search(self.text, start, hi)
        if not cue or cue.group("add"):
            return None
        between = self.text[start:cue.start()]
        if "," in between or len(between.split()) > 8:
            return None
        speaker = self._speaker_near(cue, start, hi)
        return (speaker, cue.group(0), cue.start()) if speaker else None

    def _before(self, span: _Span) -> tuple[SpeakerMention, str, int] | None:
        """``X said: "Q"`` / ``According to X, "Q"`` / Баканов заявил, что «Q»."""
        lo = self._sentence_of(span.open)[0]
        prev = [s.close for s in self.spans if s.close < span.open]
        if prev and prev[-1] + 1 > lo:
            lo = prev[-1] + 1
        cue = None
        for c in _CUE.finditer(self.text, lo, span.open):
            cue = c
        if cue is None or cue.group("add"):
            return None
        mid = self.text[cue.end():span.open]
        if cue.group("acc"):
            if not mid.rstrip().endswith(","):
                return None
        elif not (mid.strip() == "" or re.search(r"[:,]\s*$|\b(?:that|что)\s*$", mid)):
            return None
        if len(mid.split()) > 8 or any(ch in mid for ch in ".!?;"):
            return None
        speaker = self._speaker_near(cue, lo, span.open)
        return (speaker, cue.group(0), cue.start()) if speaker else None

    def _continuation(self, span: _Span, last: Quote,
                      last_end: int) -> list[tuple[Quote, int]] | None:
        """A quote standing alone right after an attributed one is the same speaker's."""
        gap = self.text[last_end:span.open]
        if gap.strip(" .!?…\t") or "\n" in gap:
            return None
        after = self.text[span.close + 1:self._clause_limit(span.close + 1)]
        if after.strip(" .!?…\t\n"):
            return None
        cue_at = next(c for q, c in self.found if q is last)
        quote = self._quote_for(last.speaker_entity_id, last.speaker_name, span.open + 1,
                                span.close, DIRECT, last.cue, cue_at)
        if quote is None:
            return None
        self.found.append((quote, cue_at))
        return [(quote, cue_at)]

    def _attribution_end(self, span: _Span) -> int:
        return self._clause_limit(span.close + 1)

    # -- reported -------------------------------------------------------------------------

    def _reported(self) -> None:
        for s_lo, s_hi in self.sentences:
            for cue in list(_CUE.finditer(self.text, s_lo, s_hi)):
                if cue.start() in self.used_cues or self._in_quote(cue.start()):
                    continue
                got = self._reported_at(cue, s_lo, s_hi)
                if got is None:
                    continue
                speaker_id, speaker_name, lo, hi = got
                if any(sp.open <= lo + 1 and sp.close >= hi - 1 for sp in self.spans):
                    continue  # the clause is a direct quote, already attributed
                if any(q.start < hi and lo < q.end for q, _ in self.found):
                    continue  # it holds a quote attributed already
                quote = self._quote_for(speaker_id, speaker_name, lo, hi, REPORTED,
                                        cue.group(0), cue.start())
                if quote:
                    self.used_cues.add(cue.start())
                    self.found.append((quote, cue.start()))

    def _reported_at(self, cue: re.Match[str], s_lo: int,
                     s_hi: int) -> tuple[str, str, int, int] | None:
        text = self.text
        end = _strip_end(text, s_lo, s_hi)
        head = text[s_lo:cue.start()]
        if cue.group("add"):
            # "…, adding that …": the speaker of the quote before it in the sentence
            before = [q for q, at in self.found if s_lo <= at < cue.start()]
            m = re.match(r",?\s*(?:that|что)\b", text[cue.end():end])
            if not before or not m:
                return None
            return (before[-1].speaker_entity_id, before[-1].speaker_name,
                    cue.end() + m.end(), end)
        if cue.group("acc") and not head.strip(" \t\n\"“”«»—–-"):
            # "According to X, …" / «По словам X, …» opening the sentence
            comma = text.find(",", cue.end(), end)
            if comma == -1:
                return None
            speaker = self._speaker_near(cue, s_lo, comma)
            if speaker is None:
                return None
            return speaker.entity_id, speaker.name, comma + 1, end
        tail = text[cue.end():end]
        trailing = self._trailing(cue, s_lo, end)
        if trailing is not None:
            return trailing
        m = re.match(r"(?P<mid>[^.;:!?]{0,70}?)(?:,\s*)?\b(?:that|что)\b", tail)
        lo: int | None = None
        if m and len(m.group("mid").split()) <= 7 and not _CUE.search(m.group("mid")):
            lo = cue.end() + m.end()
        elif _BARE.fullmatch(cue.group(0)):
            lo = self._bare_clause(cue, end)
        if lo is None or cue.group("acc"):
            return None
        speaker = self._speaker_near(cue, s_lo, cue.start())
        if speaker is None:
            return None
        return speaker.entity_id, speaker.name, lo, end

    def _trailing(self, cue: re.Match[str], s_lo: int,
                  end: int) -> tuple[str, str, int, int] | None:
        """"…, X said." / «…, сообщил X.» / "…, according to NASA.": the clause before the
        last comma, when nothing but the speaker and time or place words follow the cue."""
        text = self.text
        comma = text.rfind(",", s_lo, cue.start())
        if comma == -1 or self._in_quote(comma) or _THAT.search(text, cue.end(), end):
            return None
        between = text[comma + 1:cue.start()]
        if len(between.split()) > 6 or _CUE.search(between):
            return None
        if between.strip(" \t—–-"):
            if _BARE.fullmatch(cue.group(0)) and self._bare_clause(cue, end) is not None:
                return None  # "Bakanov, head of Roscosmos, said the flights …"
            if len(text[cue.end():end].split()) > 6:
                return None
        elif len(text[cue.end():end].split()) > 10:
            return None
        speaker = self._speaker_near(cue, comma + 1, end)
        if speaker is None:
            return None
        return speaker.entity_id, speaker.name, s_lo, comma

    def _bare_clause(self, cue: re.Match[str], end: int) -> int | None:
        """Where the clause of "X said the talks …" starts, past listener and time words."""
        pos = cue.end()
        if _LISTENER_VERB.fullmatch(cue.group(0)):
            m = _LISTENER.match(self.text, pos, end)
            if not m:
                return None
            pos = m.end()
        for _ in range(3):
            m = _ADVERBIAL.match(self.text, pos, end)
            if not m or m.end() == pos:
                break
            pos = m.end()
        clause = self.text[pos:end].strip()
        if len(clause.split()) < 3 or clause[0] in ",;:—–-" or re.match(
                r"(?:in|on|at|of|to|for|with|by|when|about|after|before)\b", clause, re.I):
            return None
        return pos

    # -- speakers -------------------------------------------------------------------------

    def _speaker_near(self, cue: re.Match[str], lo: int, hi: int) -> SpeakerMention | None:
        """The speaker of ``cue``: after it for "according to" and inverted "said X", before
        it otherwise; a pronoun is resolved from the sentences before."""
        if cue.group("acc"):
            if _HIS_WORDS.fullmatch(cue.group(0)):
                return self._resolve(_HUMANS, cue.start())
            return self._after_cue(cue.end(), hi)
        before = self.text[lo:cue.start()]
        stripped = before.strip(" \t,—–-")
        if not stripped:
            pron = _PRONOUN_AFTER.match(self.text, cue.end(), hi)
            if pron:
                kinds = _HUMANS if pron.group("p") else _ORGS
                return self._resolve(kinds, cue.start())
            return self._after_cue(cue.end(), hi)
        if _PRONOUN_PERSON.search(before):
            return self._resolve(_HUMANS, cue.start())
        if _PRONOUN_ORG.search(before):
            return self._resolve(_ORGS, cue.start())
        return self._before_cue(lo, cue.start())

    def _before_cue(self, lo: int, hi: int) -> SpeakerMention | None:
        text = self.text
        end = lo + len(text[lo:hi].rstrip())
        appositive: tuple[int, int] | None = None
        if end > lo and text[end - 1] == ",":
            # "Bakanov, head of Roscosmos, said": skip the appositive between the commas
            prev = text.rfind(",", lo, end - 1)
            if prev != -1:
                appositive = (prev, end - 1)
                end = prev
        start = max(text.rfind(b, lo, end) for b in (",", ";", ":", "—", "–", "(", "\n"))
        start = lo if start == -1 else start + 1
        found = self._pick([m for m in self.speakers if m.start >= start and m.end <= end],
                           nearest_to=end)
        if found is None and appositive:
            inside = [m for m in self.speakers
                      if m.start >= appositive[0] and m.end <= appositive[1]]
            found = self._pick(inside, nearest_to=appositive[1])
        if found is None:
            return None
        if len(text[found.end:end].split()) > 6:
            return None
        return found

    def _after_cue(self, lo: int, hi: int) -> SpeakerMention | None:
        text = self.text
        m = re.search(r"[,;.:!?(]|\s[—–]\s|\b(?:who|which|adding|добавив|который|которая)\b",
                      text[lo:hi])
        end = lo + m.start() if m else hi
        window = [s for s in self.speakers if s.start >= lo and s.end <= end]
        found = self._pick(window, nearest_to=lo)
        if (found is None or found.kind not in _HUMANS) and m and text[end] == ",":
            # "said the head of Roscosmos, Dmitry Bakanov": the person in apposition
            nxt = [s for s in self.speakers if s.kind in _HUMANS and end < s.start <= end + 3]
            if nxt:
                return nxt[0]
        if found is not None and len(text[lo:found.start].split()) > 8:
            return None
        return found

    def _pick(self, candidates: list[SpeakerMention],
              nearest_to: int) -> SpeakerMention | None:
        if not candidates:
            return None
        return min(candidates, key=lambda m: (_RANK[m.kind], min(abs(m.start - nearest_to),
                                                                 abs(m.end - nearest_to))))

    def _resolve(self, kinds: frozenset[str], pos: int) -> SpeakerMention | None:
        """he/she/it: the one candidate the nearest earlier sentence with any leaves."""
        here = self._sentence_of(pos)
        earlier = [s for s in self.sentences if s[1] <= here[0]]
        for s_lo, s_hi in reversed(earlier[-3:]):
            spoke = {q.speaker_entity_id for q, at in self.found if s_lo <= at < s_hi}
            named = [m for m in self.speakers if s_lo <= m.start < s_hi and m.kind in kinds]
            spoke_named = [m for m in named if m.entity_id in spoke]
            if spoke_named and len({m.entity_id for m in spoke_named}) == 1:
                return spoke_named[-1]
            if named:
                return named[-1] if len({m.entity_id for m in named}) == 1 else None
        return None

    # -- text -----------------------------------------------------------------------------

    def _quote(self, speaker: SpeakerMention, lo: int, hi: int, kind: str, cue: str,
               cue_at: int) -> Quote | None:
        return self._quote_for(speaker.entity_id, speaker.name, lo, hi, kind, cue, cue_at)

    def _quote_for(self, speaker_id: str, speaker_name: str, lo: int, hi: int, kind: str,
                   cue: str, cue_at: int) -> Quote | None:
        text = self.text
        while lo < hi and text[lo] in " \t\n":
            lo += 1
        while hi > lo and text[hi - 1] in " \t\n,:;—–-":
            hi -= 1
        if kind == DIRECT:
            while hi > lo and text[hi - 1] in ".,":
                hi -= 1
        if hi - lo < 2:
            return None
        first = self._sentence_of(min(lo, cue_at))
        last = self._sentence_of(max(hi, cue_at + len(cue)) - 1)
        return Quote(speaker_entity_id=speaker_id, speaker_name=speaker_name, text=text[lo:hi],
                     kind=kind, start=lo, end=hi, sentence_start=first[0], sentence_end=last[1],
                     cue=cue)

    def _clause_limit(self, lo: int) -> int:
        """The end of the attribution that follows a quote: the next quote, sentence end or
        line break."""
        nxt = [s.open for s in self.spans if s.open >= lo]
        hi = min([len(self.text), *nxt[:1]])
        nl = self.text.find("\n", lo, hi)
        if nl != -1:
            hi = nl
        m = _TERMINATOR.search(self.text, lo, hi)
        return m.start() if m else hi

    def _in_quote(self, pos: int) -> bool:
        return any(s.open < pos < s.close for s in self.spans)

    def _sentence_of(self, pos: int) -> tuple[int, int]:
        for s in self.sentences:
            if s[0] <= pos < s[1]:
                return s
        return self.sentences[-1] if self.sentences else (0, len(self.text))


def _strip_end(text: str, lo: int, hi: int) -> int:
    """The end of a sentence's words: without trailing space and full stop."""
    while hi > lo and text[hi - 1] in " \t\n.!?…":
        hi -= 1
    return hi


def _quote_spans(text: str) -> list[_Span]:
    """Top-level pairs of quotation marks (nested pairs are part of their outer quote).

    Straight double quotes pair up in order; single quotes count only outside double ones and
    only when they cannot be apostrophes (opening after a space, closing before punctuation
    or a space). A pair left open at a line break ends there.
    """
    spans: list[_Span] = []
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(text):
        if ch == "\n":
            if stack:
                spans.append(_Span(stack[0][1], i))
                stack.clear()
            continue
        closer = stack[-1][0] if stack else ""
        if ch in closer and not (ch == '"' and not _closes_straight(text, i)):
            _, at = stack.pop()
            if not stack:
                spans.append(_Span(at, i))
        elif ch in _OPEN_CLOSE:
            stack.append((_OPEN_CLOSE[ch], i))
    if stack:
        spans.append(_Span(stack[0][1], len(text)))
    singles: list[_Span] = []
    for m in re.finditer(r"(?:(?<=^)|(?<=[\s(—–:]))[‘'](?=\S)(?P<body>[^‘’'\n]{2,400}?)"
                         r"(?<=\S)[’'](?=$|[\s,.;:!?)—–])", text):
        if not any(s.open <= m.start() <= s.close for s in spans):
            singles.append(_Span(m.start(), m.end() - 1))
    return sorted(spans + singles, key=lambda s: s.open)


def _closes_straight(text: str, i: int) -> bool:
    """A straight quote after a letter or punctuation closes; after a space it opens."""
    return i > 0 and not text[i - 1].isspace() and text[i - 1] not in "(—–"


def _sentences(text: str, spans: list[_Span]) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets: split after . ! ? … (and closing marks) followed by a
    space, never inside a quotation, after an abbreviation or an initial; a line break always
    ends a sentence."""
    cuts = [0]
    for m in _TERMINATOR.finditer(text):
        end = m.end()
        if any(s.open < m.start() < s.close and end <= s.close for s in spans):
            continue
        word = re.search(r"(\w+)[.]$", text[max(0, m.start() - 12):m.start() + 1])
        if m.group(0).startswith(".") and word and (
                word.group(1).lower() in _ABBREV
                or (len(word.group(1)) == 1 and word.group(1).isupper())):
            continue
        rest = text[end:end + 3].lstrip(" \t")
        if rest and (rest[0].islower()):
            continue
        cuts.append(end)
    cuts += [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    cuts = sorted(set(cuts)) + [len(text)]
    out = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        while lo < hi and text[lo].isspace():
            lo += 1
        end = hi
        while end > lo and text[end - 1].isspace():
            end -= 1
        if end > lo:
            out.append((lo, end))
    return out
