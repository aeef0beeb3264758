"""Russian text: names found by natasha's news NER, lemmas and nominative forms by pymorphy3.

The models ship inside wheels and are read from disk: slovnet's news NER and navec's news
embeddings come in the ``natasha`` wheel (``natasha/data/``), the OpenCorpora dictionary in
``pymorphy3-dicts-ru``. Nothing is downloaded at run time.

The ``natasha`` package itself is never imported: its ``__init__`` imports its morphology
vocabulary, which imports ``pymorphy2`` (unmaintained; it needs ``pkg_resources``, gone from
current setuptools). We only locate its data directory and drive the two libraries natasha
wraps, ``slovnet`` (NER) and ``navec`` (embeddings), with ``razdel`` for sentences and words.
Lemmas and nominative forms come from ``pymorphy3``.

Everything here gives plain data out: :class:`RuSpan` records and tuples, never library
objects. Transliteration (:func:`translit_ru_en`) and Latin folding (:func:`fold_latin`) are
pure functions and need none of the packages.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from pymorphy3 import MorphAnalyzer
    from pymorphy3.analyzer import Parse

LABELS = ("PER", "ORG", "LOC")
NER_MODEL = "data/model/slovnet_ner_news_v1.tar"
EMBEDDING = "data/emb/navec_news_v1_1B_250K_300d_100q.tar"
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
#: A word for :meth:`Lemmatizer.words`: letters and digits, inner hyphens and apostrophes.
_WORD = re.compile(r"[^\W_](?:[\w'\u2019-]*[^\W_])?")
_NAME_TAGS = frozenset({"Name", "Surn", "Patr"})
_CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")
#: Case endings of Russian surnames the dictionary does not know, by gender: (ending, nominative).
_SURNAME_ENDINGS = {
    "masc": (("ским", "ский"), ("ского", "ский"), ("скому", "ский"), ("ском", "ский"),
             ("цким", "цкий"), ("цкого", "цкий"), ("цкому", "цкий"), ("цком", "цкий"),
             ("овым", "ов"), ("евым", "ев"), ("ёвым", "ёв"), ("иным", "ин"), ("ыным", "ын"),
             ("ова", "ов"), ("ева", "ев"), ("ёва", "ёв"), ("ина", "ин"), ("ына", "ын"),
             ("ову", "ов"), ("еву", "ев"), ("ину", "ин"), ("ыну", "ын"),
             ("ове", "ов"), ("еве", "ев"), ("ине", "ин"), ("ыне", "ын")),
    "femn": (("ской", "ская"), ("скую", "ская"), ("цкой", "цкая"), ("цкую", "цкая"),
             ("овой", "ова"), ("евой", "ева"), ("иной", "ина"), ("ыной", "ына"),
             ("ову", "ова"), ("еву", "ева"), ("ину", "ина"), ("ыну", "ына")),
}

_ALL_ENDINGS = sorted({*_SURNAME_ENDINGS["masc"], *_SURNAME_ENDINGS["femn"]},
                      key=lambda pair: -len(pair[0]))


@dataclass(frozen=True)
class RuSpan:
    """One name found in Russian text (character offsets into the analyzed text).

    ``normal`` is the nominative: «Дмитрию Баканову» → «Дмитрий Баканов», «Европейского
    космического агентства» → «Европейское космическое агентство». ``lemma`` is the
    lower-cased lemma of every word («дмитрий баканов»), the key for gazetteer aliases.
    """

    start: int
    end: int
    label: str
    text: str
    normal: str
    lemma: str


class RussianNER:
    """natasha's news NER plus pymorphy3: build one per process and reuse it.

    Loading takes about 1-4 s of CPU and adds about 116 MB to the process (navec's embeddings
    are most of it); the pymorphy3 dictionary alone is about 15 MB.
    """

    def __init__(self, batch_size: int = 8) -> None:
        """Load the embeddings, the NER model and the Russian dictionary from installed wheels."""
        try:
            import pymorphy3  # noqa: F401  (checked here, so a missing one is one clear error)
            from navec import Navec
            from razdel import sentenize, tokenize
            from slovnet import NER
        except ImportError as exc:
            raise ConfigError(f"Russian analysis needs the {exc.name} package "
                              "(pip install natasha pymorphy3 pymorphy3-dicts-ru)") from exc
        data = _natasha_dir()
        navec = Navec.load(str(data / EMBEDDING))
        self._ner = NER.load(str(data / NER_MODEL), batch_size=batch_size).navec(navec)
        self._sentenize = sentenize
        self._tokenize = tokenize
        lemmatizer = get_lemmatizer()
        self.morph: MorphAnalyzer = lemmatizer.morph
        self._parse = lemmatizer.parse
        self._lemma = lemmatizer.lemma

    def sentences(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each sentence of ``text`` (razdel's sentence splitter)."""
        return [(s.start, s.stop) for s in self._sentenize(text) if s.text.strip()]

    def analyze(self, text: str) -> list[RuSpan]:
        """Persons, organizations and places in ``text``, each with its nominative form."""
        sentences = [s for s in self._sentenize(text) if s.text.strip()]
        spans: list[RuSpan] = []
        for sentence, markup in zip(sentences, self._ner.map([s.text for s in sentences]),
                                    strict=True):
            for found in markup.spans:
                start, end = _balance_quotes(text, sentence.start + found.start,
                                             sentence.start + found.stop)
                surface = text[start:end]
                words = [(t.start, t.stop, t.text) for t in self._tokenize(surface)]
                if not any(w[2][0].isalnum() for w in words):
                    continue
                normal = (self._person(words, surface) if found.type == "PER"
                          else self._phrase(words, surface))
                if "ё" not in surface.lower():  # the dictionary writes ё, most news does not
                    normal = normal.replace("ё", "е").replace("Ё", "Е")
                spans.append(RuSpan(start, end, found.type, surface, normal,
                                    self.lemma_key(surface)))
        return spans

    def lemmas(self, text: str) -> list[tuple[int, int, str, str]]:
        """Every word of ``text`` as (start, end, surface, lemma); punctuation is skipped.

        A capitalized word that the dictionary knows as a surname, first name, organization
        or place takes that reading («Бакановым» → «баканов», not the adjective «бакановый»);
        an unknown capitalized word with a surname's case ending loses it. Lemmas are lower
        case with ё written е.
        """
        out = []
        for token in self._tokenize(text):
            word = token.text
            if not any(ch.isalpha() for ch in word):
                continue
            out.append((token.start, token.stop, word, self._lemma(word)))
        return out

    def lemma_key(self, text: str) -> str:
        """The lemmas of ``text`` joined by spaces: the key aliases and mentions meet on."""
        return " ".join(lemma for _, _, _, lemma in self.lemmas(text))

    # -- internals ----------------------------------------------------------------------

    def _person(self, words: list[tuple[int, int, str]], surface: str) -> str:
        """Each name part put in the nominative, gender and case agreed across the parts.

        The first name decides gender and case («Анне» → feminine dative); the surname then
        declines by the rules for Russian surnames when the dictionary does not know it.
        """
        parts = [w for w in words if w[2][0].isalpha()]
        names = [[p for p in self._parse(word) if p.tag.grammemes & {"Name", "Patr"}]
                 for _, _, word in parts]
        gender, case = _agreement(names[:-1] if len(parts) > 1 else names)
        if gender is None:  # a bare surname: the dictionary's likeliest reading
            gender, case = _agreement([[p for p in self._parse(parts[-1][2])
                                        if "Surn" in p.tag.grammemes]])
        gender = gender or "masc"
        out = surface
        for (start, end, word), options in reversed(list(zip(parts, names, strict=True))):
            nominative = self._name_nominative(word, options, gender, case)
            out = out[:start] + _recase(nominative, word) + out[end:]
        return out

    def _name_nominative(self, word: str, names: list[Parse], gender: str,
                         case: str | None) -> str:
        fitting = sorted((p for p in names if _fits(p, gender, case)),
                         key=lambda p: ("Fixd" in p.tag.grammemes, -p.score))
        if fitting:
            if "Fixd" in fitting[0].tag.grammemes:
                return word
            inflected = fitting[0].inflect({"nomn", "sing"})
            if inflected is not None:
                return str(inflected.word)
        if case == "nomn":
            return word
        nominative = _strip_surname_ending(word.lower(), gender)
        if nominative:
            return nominative
        surnames = [p for p in self._parse(word)
                    if "Surn" in p.tag.grammemes and _fits(p, gender, case)]
        if surnames:
            inflected = surnames[0].inflect({"nomn", "sing"})
            if inflected is not None:
                return str(inflected.word)
        return word

    def _phrase(self, words: list[tuple[int, int, str]], surface: str) -> str:
        """An organization or place in the nominative: its head noun and the adjectives before it.

        Words after the head (genitive dependents: «академия наук») and anything in quotes
        («РКК Энергия») stay as written.
        """
        depth = 0
        adjectives: list[tuple[int, int, str, Parse]] = []
        for start, end, word in words:
            if word in "«„\"“":
                depth += 1
                continue
            if word in "»“\"":
                depth = max(0, depth - 1)
                continue
            if depth or not _CYRILLIC.search(word):
                continue
            parse = self._parse(word)[0]
            if parse.tag.POS in ("ADJF", "PRTF"):
                adjectives.append((start, end, word, parse))
                continue
            if parse.tag.POS != "NOUN" or parse.tag.grammemes & {"Fixd", "Abbr"}:
                return surface
            head = self._best_noun(word, adjectives)
            if head is None or head.tag.case == "nomn":
                return surface
            number = head.tag.number or "sing"
            inflected = head.inflect({"nomn", number})
            if inflected is None:
                return surface
            out = surface[:start] + _recase(str(inflected.word), word) + surface[end:]
            for a_start, a_end, a_word, a_parse in reversed(adjectives):
                grammemes = {"nomn", number}
                if number == "sing" and head.tag.gender:
                    grammemes.add(head.tag.gender)
                adjective = a_parse.inflect(grammemes)
                if adjective is not None:
                    out = out[:a_start] + _recase(str(adjective.word), a_word) + out[a_end:]
            return out
        return surface

    def _best_noun(self, word: str, adjectives: list[tuple[int, int, str, Parse]]
                   ) -> Parse | None:
        """The noun reading of the head, in the case of the adjectives before it if any."""
        nouns = [p for p in self._parse(word) if p.tag.POS == "NOUN"]
        if adjectives:
            cases = {p.tag.case for p in self._parse(adjectives[0][2])
                     if p.tag.POS in ("ADJF", "PRTF")}
            agreeing = [p for p in nouns if p.tag.case in cases]
            if agreeing:
                return agreeing[0]
        return nouns[0] if nouns else None


class Lemmatizer:
    """pymorphy3 alone (no NER models): the lemma of a word, as :meth:`RussianNER.lemmas`
    gives it. Loading takes a fraction of a second and about 25 MB; share one per process
    (:func:`get_lemmatizer`)."""

    def __init__(self) -> None:
        """Load the Russian dictionary from the installed ``pymorphy3-dicts-ru`` wheel."""
        try:
            from pymorphy3 import MorphAnalyzer
        except ImportError as exc:
            raise ConfigError(f"Russian lemmas need the {exc.name} package "
                              "(pip install pymorphy3 pymorphy3-dicts-ru)") from exc
        self.morph: MorphAnalyzer = MorphAnalyzer(lang="ru")
        #: Parses are immutable, and news repeats its names: cache them per process.
        self.parse = functools.lru_cache(maxsize=100_000)(self.morph.parse)
        self._lemmas = functools.lru_cache(maxsize=200_000)(self._lemma)

    def lemma(self, word: str) -> str:
        """The lemma of one word (lower case, ё written е); a non-Cyrillic word case-folded."""
        return self._lemmas(word)

    def words(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, surface, lemma) of the words of ``text`` (a regular expression
        splits them: no razdel needed), for search and matching."""
        return [(m.start(), m.end(), m.group(0), self.lemma(m.group(0)))
                for m in _WORD.finditer(text)]

    def lemma_text(self, text: str) -> str:
        """Every word of ``text`` replaced by its lemma, joined by spaces: what the full-text
        index stores for a Russian article, so one query finds every case form."""
        return " ".join(lemma for *_, lemma in self.words(text))

    def _lemma(self, word: str) -> str:
        if not _CYRILLIC.search(word):
            return word.casefold()
        parses = self.parse(word)
        if word[0].isupper():
            if not self.morph.word_is_known(word):
                # A surname the dictionary does not know: its own rules first («Зимогоров» is
                # not the plural of a name «Зимогор»).
                surname = _surname_lemma(word.lower())
                if surname:
                    return _plain(surname)
            for tags in ({"Surn"}, {"Name", "Patr"}, {"Orgn", "Geox", "Abbr"}):
                proper = [p for p in parses if p.tag.grammemes & tags]
                proper.sort(key=lambda p: "Fixd" in p.tag.grammemes)  # «Анне» is «Анна»
                if proper:
                    return _plain(proper[0].normal_form)
            if "-" in word or not self.morph.word_is_known(word):
                surname = _surname_lemma(word.lower())
                if surname:
                    return _plain(surname)
        return _plain(parses[0].normal_form)


@functools.cache
def get_lemmatizer() -> Lemmatizer:
    """The process's :class:`Lemmatizer`, loaded on first use."""
    return Lemmatizer()


def dictionary_version() -> str:
    """The installed Russian dictionary's version: lemma keys depend on it (it is part of the
    NLP version), "none" when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pymorphy3-dicts-ru")
    except PackageNotFoundError:
        return "none"


def is_cyrillic(text: str) -> bool:
    """Whether ``text`` has a Cyrillic letter."""
    return _CYRILLIC.search(text) is not None


def _agreement(options: list[list[Parse]]) -> tuple[str | None, str | None]:
    """The (gender, case) reading that the given parses support best, by parse score."""
    best: tuple[str | None, str | None] = (None, None)
    best_score = 0.0
    for gender in ("masc", "femn"):
        for case in _CASES:
            score = sum(max((p.score * (0.5 if "Fixd" in p.tag.grammemes else 1.0)
                             for p in parses if _fits(p, gender, case)), default=0.0)
                        for parses in options)
            if score > best_score + 1e-9:
                best, best_score = (gender, case), score
    return best


def _surname_lemma(word: str) -> str | None:
    """The masculine nominative of a surname-shaped word («кудь-сверчковым» → «кудь-сверчков»)."""
    for ending, nominative in _ALL_ENDINGS:
        if word.endswith(ending) and len(word) > len(ending) + 2:
            word = word[: -len(ending)] + nominative
            break
    for feminine, masculine in (("ская", "ский"), ("цкая", "цкий"), ("ова", "ов"),
                                ("ева", "ев"), ("ёва", "ёв"), ("ина", "ин"), ("ына", "ын")):
        if word.endswith(feminine):
            return word[: -len(feminine)] + masculine
    if re.search(r"(ов|ев|ёв|ин|ын|ский|цкий)$", word):
        return word
    return None


def _fits(parse: Parse, gender: str, case: str | None) -> bool:
    grammemes = parse.tag.grammemes
    if "plur" in grammemes:
        return False
    gender_ok = (gender in grammemes or "ms-f" in grammemes
                 or not grammemes & {"masc", "femn", "neut"})
    case_ok = case is None or case in grammemes or "Fixd" in grammemes
    return bool(gender_ok and case_ok)


def _strip_surname_ending(word: str, gender: str) -> str | None:
    for ending, nominative in _SURNAME_ENDINGS.get(gender, ()):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)] + nominative
    return None


def _recase(word: str, like: str) -> str:
    """``word`` written with the capitalization of ``like`` (per hyphenated part)."""
    if like.isupper() and len(like) > 1:
        return word.upper()
    if "-" in word and "-" in like and word.count("-") == like.count("-"):
        return "-".join(_recase(w, lk) for w, lk in zip(word.split("-"), like.split("-"),
                                                        strict=True))
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _plain(lemma: str) -> str:
    return lemma.casefold().replace("ё", "е")


def _balance_quotes(text: str, start: int, end: int) -> tuple[int, int]:
    """Close a «quote» the model left open («ПАО «РКК Энергия» loses its closing mark)."""
    if text.count("«", start, end) > text.count("»", start, end) and text[end:end + 1] == "»":
        end += 1
    return start, end


def _natasha_dir() -> Path:
    """The installed natasha package directory, found without importing natasha."""
    spec = importlib.util.find_spec("natasha")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("Russian analysis needs the natasha package (pip install natasha)")
    return Path(next(iter(spec.submodule_search_locations)))


# -- transliteration -------------------------------------------------------------------------

_BASE = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}
_VOWELS = set("аеёиоуыэюяъь")
_SIBILANTS = set("жчшщ")
#: The transliteration styles produced, primary first.
#: news: BGN/PCGN simplified as news agencies and NASA write it (Dmitry, Sergey, Aleksandr).
#: icao: the passport standard (Dmitrii, Sergei, Iurii). english: the conventional English
#: spellings (Dmitri, Sergei, Alexander, Alexei). j: German/scientific-style j (Dmitrij, Sergej).
STYLES = ("news", "icao", "english", "j")
_CONVENTIONAL = {"александр": "Alexander", "александра": "Alexandra"}


def translit_ru_en(name: str) -> tuple[str, ...]:
    """Latin spellings of a Russian name: the news style first, then common variants.

    «Дмитрий Баканов» → ("Dmitry Bakanov", "Dmitrii Bakanov", "Dmitri Bakanov",
    "Dmitrij Bakanov"). Text that is not Cyrillic is returned as it is.
    """
    out: list[str] = []
    for style in STYLES:
        spelled = re.sub(r"[А-Яа-яЁё]+", functools.partial(_spelled_match, style), name)
        if spelled not in out:
            out.append(spelled)
    return tuple(out)


def _spelled_match(style: str, match: re.Match[str]) -> str:
    return _word(match.group(0), style)


def _word(word: str, style: str) -> str:
    lower = word.lower()
    if style == "english" and lower in _CONVENTIONAL:
        return _recase(_CONVENTIONAL[lower].lower(), word)
    letters: list[str] = []
    for i, char in enumerate(lower):
        prev = lower[i - 1] if i else ""
        rest = lower[i + 1:]
        letters.append(_letter(char, prev, rest, i == 0, style))
    spelled = "".join(letters)
    if not spelled:
        return word
    if word.isupper() and len(word) > 1:
        return spelled.upper()
    return spelled[:1].upper() + spelled[1:] if word[:1].isupper() else spelled


def _letter(char: str, prev: str, rest: str, initial: bool, style: str) -> str:
    """One Cyrillic letter in ``style``, given its neighbours (lower case)."""
    y = {"icao": "i", "j": "j"}.get(style, "y")
    final = not rest
    if char == "й":
        if final and prev in "иы":  # the ending: Дмитрий, Юрий
            return "i" if style == "icao" else ("j" if style == "j" else "")
        if final and style == "english":
            return "i"  # Sergei, Alexei, Nikolai
        return y
    if char == "и":
        if rest == "й" and style == "news" and prev and prev not in _VOWELS:
            return "y"  # Dmitry, Yury
        if prev == "ь" and style != "icao":
            return y + "i"  # Ильин → Ilyin
        return "i"
    if char == "е":
        if style != "icao" and (initial or prev in _VOWELS):
            return y + "e"  # Yevgeny, Alekseyev
        return "e"
    if char == "ё":
        if style == "icao" or prev in _SIBILANTS:
            return "e"  # Gorbachev
        return y + "o"  # Fyodor, Semyonov
    if char in "юя":
        vowel = "u" if char == "ю" else "a"
        if style in ("news", "english") and char == "я" and prev == "и" and final:
            return "a"  # Мария → Maria
        return y + vowel
    if style == "english" and char == "к" and rest[:1] == "с":
        return "x"
    if style == "english" and char == "с" and prev == "к":
        return ""
    return _BASE.get(char, char)


# -- matching Latin spellings ---------------------------------------------------------------

_FOLD_WORDS = {"alexander": "aleksandr", "alexandra": "aleksandra", "peter": "petr",
               "pyotr": "petr", "piotr": "petr", "pjotr": "petr"}
_FOLD_RULES = (
    (re.compile(r"tsch"), "ch"), (re.compile(r"sch"), "sh"), (re.compile(r"x"), "ks"),
    (re.compile(r"kh"), "h"), (re.compile(r"ph"), "f"), (re.compile(r"w"), "v"),
    (re.compile(r"gu(?=[ei])"), "g"), (re.compile(r"ou"), "u"), (re.compile(r"j"), "y"),
    (re.compile(r"^ye"), "e"), (re.compile(r"(?<=[^aeiouy])yo"), "e"), (re.compile(r"y"), "i"),
    (re.compile(r"ii"), "i"), (re.compile(r"(.)\1"), r"\1"),
)


def fold_latin(name: str) -> str:
    """A spelling-blind key for a Latin-script name, equal for transliteration variants.

    "Aleksandr"/"Alexander", "Dmitri"/"Dmitry"/"Dmitrij"/"Dmitrii", "Sergei"/"Sergey"/"Sergej"/
    "Sergueï", "Yuri"/"Iurii", "Kud-Sverchkov"/"Kud Sverchkov" each fold to one key; different
    names stay different ("Dmitry Bakanov" and "Dmitry Rogozin").
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"['\u2019`]", "", text)
    words = []
    for word in re.split(r"[\s\-\u2010-\u2015.,]+", text):
        if not word:
            continue
        word = _FOLD_WORDS.get(word, word)
        for pattern, replacement in _FOLD_RULES:
            word = pattern.sub(replacement, word)
        words.append(word)
    return " ".join(words)


def name_key(name: str) -> str:
    """The key on which a Cyrillic and a Latin spelling of one person meet."""
    if _CYRILLIC.search(name):
        name = translit_ru_en(name)[0]
    return fold_latin(name)


def latin_slug(name: str) -> str:
    """A stable id part for a Russian name: its news-style transliteration, slugged.

    «Дмитрий Баканов» → "dmitry-bakanov", so a new person's id reads the same whichever
    script it was first seen in (a Latin name is slugged as written).
    """
    latin = translit_ru_en(name)[0] if _CYRILLIC.search(name) else name
    latin = unicodedata.normalize("NFKD", latin)
    latin = "".join(ch for ch in latin if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^a-z0-9]+", "-", latin).strip("-")
