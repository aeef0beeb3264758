"""Which language an article is written in, decided offline, so its text reaches the right analyzer.

The identifier is ``py3langid`` (a maintained fork of langid.py). Candidates measured on 70
short space-news titles in the beat's seven languages plus a 70-title held-out set
(``tests/test_language.py``):

===========================  ======  ===========  =============  ==========  ============
package                      wheel   tune/held    per title      load        deterministic
===========================  ======  ===========  =============  ==========  ============
py3langid 0.4.0              4.6 MB  70/70 70/70  0.08 ms        ~0.9 s      yes
lingua-language-detector 2.1 96 MB   70/70 70/70  0.1 ms (warm)  lazy        yes
langdetect 1.0.9 (sdist)     1 MB    66/70 70/70  2.5-3 ms       0.6 s       only if seeded
===========================  ======  ===========  =============  ==========  ============

py3langid is as accurate as lingua on this material at a twentieth of the size, needs only
numpy (already installed for spaCy), scores all of its 142 languages in one pass (so a
Ukrainian or Spanish text can be told apart from Russian or Portuguese instead of being forced
into the nearest supported language) and is deterministic. Its model is a file inside the wheel
(``py3langid/data/model.npz.xz``); the only network code in the package is its optional web
server, never imported here. The tests run it with the HTTP proxies pointed at a dead address.

The decision, for the languages the beat needs (:data:`LANGUAGES`):

- no letters at all: the feed's hint, else ``en`` (confidence 0);
- a script none of them is written in (kana, hangul, Arabic...): ``und``;
- otherwise the best of the supported languages, scored by the full model. A language outside
  the set that wins clearly (Ukrainian, Spanish, Italian) gives ``und``; close relatives that the
  model keeps apart but the beat does not (Wu Chinese, Marathi, Galician) count as the supported
  language they are confused with;
- a text shorter than :data:`SHORT_LETTERS` letters, or one whose best guess is weaker than
  :data:`CONFIDENT`, takes the feed's configured language instead, when that language is written
  in the text's script (a Cyrillic headline in an English feed is still Russian).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

#: ISO 639-1 codes of the languages the beat reads; "und" is returned when the text is in none.
LANGUAGES = ("en", "ru", "zh", "de", "fr", "pt", "hi")
UNDETERMINED = "und"
DEFAULT = "en"
#: Fewer letters than this and the feed's configured language decides (when compatible).
SHORT_LETTERS = 12
#: Below this share of the supported languages' probability, the text is ambiguous.
CONFIDENT = 0.75
#: An unsupported language this probable, and ahead of every supported one, makes the text "und".
FOREIGN = 0.5
#: Only the first characters are scored: a headline and lead decide a whole article.
MAX_CHARS = 3000
#: Languages py3langid distinguishes that the beat counts as a supported one.
SIBLINGS = {"wuu": "zh", "yue": "zh", "lzh": "zh", "mr": "hi", "ne": "hi", "gl": "pt",
            "pcm": "en", "sco": "en"}
#: The script each supported language is written in.
SCRIPT = {"en": "Latin", "de": "Latin", "fr": "Latin", "pt": "Latin", "ru": "Cyrillic",
          "zh": "Han", "hi": "Devanagari"}


@dataclass(frozen=True)
class LanguageGuess:
    """An article's language: an ISO 639-1 code from :data:`LANGUAGES` or ``und``.

    ``und`` means "a language the beat has no analyzer for" (Ukrainian, Spanish, Japanese...),
    not "unsure": an ambiguous text keeps its best guess, with a low ``confidence``.

    ``source`` says what decided it: ``text`` (the identifier), ``hint`` (the feed's configured
    language, because the text was too short or ambiguous) or ``default`` (no letters at all).
    """

    code: str
    confidence: float
    source: str


def detect_language(text: str, hint: str | None = None) -> LanguageGuess:
    """Identify the language of ``text``; ``hint`` is the feed's configured language, if any."""
    hint = hint.strip().lower() if hint else None
    if hint not in LANGUAGES:
        hint = None
    sample = text[:MAX_CHARS]
    scripts = _letters_by_script(sample)
    letters = sum(scripts.values())
    if not letters:
        return LanguageGuess(hint or DEFAULT, 0.0, "default")
    script = max(scripts, key=lambda s: scripts[s])
    if scripts.get("Kana") or script not in SCRIPT.values():
        return LanguageGuess(UNDETERMINED, scripts[script] / letters, "text")
    code, confidence, foreign = _score(sample, script)
    if foreign:
        return LanguageGuess(UNDETERMINED, confidence, "text")
    short_or_unsure = letters < SHORT_LETTERS or confidence < CONFIDENT
    if hint is not None and SCRIPT[hint] == script and short_or_unsure:
        return LanguageGuess(hint, confidence, "hint")
    return LanguageGuess(code, confidence, "text")


def _score(text: str, script: str) -> tuple[str, float, bool]:
    """Best supported language written in ``script``, its confidence, and whether a foreign one won.

    The confidence is the language's probability (siblings folded in) over the probability of
    all supported languages of that script, so a one-script language (Russian, Hindi, Chinese)
    is always 1.0 against its rivals; the foreign flag carries the doubt about it instead, and
    then the confidence is the foreign language's probability.
    """
    ranked = _identifier().rank(text)
    mass: dict[str, float] = {}
    best_foreign = 0.0
    for lang, prob in ranked:
        lang = SIBLINGS.get(lang, lang)
        if lang in SCRIPT:
            mass[lang] = mass.get(lang, 0.0) + prob
        else:
            best_foreign = max(best_foreign, prob)
    candidates = {lang: p for lang, p in mass.items() if SCRIPT[lang] == script}
    total = sum(candidates.values())
    code = max(candidates, key=lambda lang: candidates[lang])
    if total <= 0.0:  # the supported languages underflowed: something else entirely
        return code, best_foreign, True
    if best_foreign >= FOREIGN and best_foreign > candidates[code]:
        return code, best_foreign, True
    return code, candidates[code] / total, False


def _letters_by_script(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        script = _script(char)
        counts[script] = counts.get(script, 0) + 1
    return counts


def _script(char: str) -> str:
    point = ord(char)
    if point < 0x250 or 0x1E00 <= point < 0x1F00:
        return "Latin"
    if 0x400 <= point < 0x530:
        return "Cyrillic"
    if 0x900 <= point < 0x980 or 0xA8E0 <= point < 0xA900:
        return "Devanagari"
    if 0x3040 <= point < 0x3100 or 0x31F0 <= point < 0x3200 or 0xFF66 <= point < 0xFF9E:
        return "Kana"
    name = unicodedata.name(char, "")
    if name.startswith("CJK"):
        return "Han"
    return name.split(" ", 1)[0] or "Other"


@cache
def _identifier() -> LanguageIdentifier:
    """The py3langid model, loaded once per process (about a second: it is xz-compressed)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
